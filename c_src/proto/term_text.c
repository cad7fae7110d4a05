/*
 * Erlang text to the external term format: the parser; see term_text.h. Its tokens come
 * from proto/term_text_lex.c, which has checked each literal whole, so encoding one
 * cannot fail but for memory.
 *
 * The term is written into a private buffer as it is read, with one frame per open
 * container on an explicit stack (no recursion). A container's header is written as a
 * 5-byte placeholder and settled when it closes, when its count is known; that is also
 * where a list tail that is a list is spliced in and a list of small integers becomes a
 * string, so that the bytes are term_to_binary's. Settling moves the container's bytes
 * by a few bytes (a string tail: by its length) once per enclosing container, O(size x
 * depth) at worst: configuration files are small. Only a whole term reaches the
 * caller's ei_x_buff.
 */
#include "proto/term_text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "otpc.h"
#include "proto/term.h"
#include "proto/term_text_lex.h"
#include "util/buf.h"

#define HDR 5 /* placeholder of a container's header: tag + 32-bit count */

typedef struct {
    size_t hdr;     /* offset of the header placeholder in out */
    size_t n;       /* elements so far (a map: keys and values) */
    size_t tail_at; /* a list's tail, after '|' */
    unsigned line;
    char kind; /* '[', '{' or '#' */
    char tail; /* a list's '|' was read */
} frame_t;

typedef struct {
    otpc__tt_lex_t lx;
    otpc__buf_t out;
    unsigned depth;
    frame_t stack[OTPC__TERM_TEXT_MAX_DEPTH];
} ctx_t;

/* ---- encoding ------------------------------------------------------------------------ */

static int put(ctx_t *c, const void *p, size_t n)
{
    return otpc__buf_append(&c->out, p, n);
}

static int put_u8(ctx_t *c, unsigned v)
{
    unsigned char b = (unsigned char)v;
    return put(c, &b, 1);
}

static int put_atom(ctx_t *c, const char *s, size_t n)
{
    char h[3];
    if (n <= 255) {
        h[0] = (char)ERL_SMALL_ATOM_UTF8_EXT;
        h[1] = (char)n;
        return put(c, h, 2) || put(c, s, n) ? OTPC_ENOMEM : 0;
    }
    h[0] = (char)ERL_ATOM_UTF8_EXT;
    otpc__put_u16(h + 1, (uint16_t)n);
    return put(c, h, 3) || put(c, s, n) ? OTPC_ENOMEM : 0;
}

static int put_small(ctx_t *c, int64_t v)
{
    char h[5];
    if (v >= 0 && v <= 255) {
        h[0] = (char)ERL_SMALL_INTEGER_EXT;
        h[1] = (char)v;
        return put(c, h, 2);
    }
    h[0] = (char)ERL_INTEGER_EXT;
    otpc__put_u32(h + 1, (uint32_t)(int32_t)v);
    return put(c, h, 5);
}

/* An integer as ei and term_to_binary write it: small, 32-bit, else SMALL_BIG_EXT. */
static int put_int(ctx_t *c, const unsigned char *mag, size_t mlen, int neg)
{
    uint64_t v = 0;
    for (size_t k = mlen; k-- > 0 && mlen <= 8;)
        v = v << 8 | mag[k];
    if (mlen <= 4 && v <= (neg ? 0x80000000u : 0x7FFFFFFFu))
        return put_small(c, neg ? -(int64_t)v : (int64_t)v);
    char h[3] = {(char)ERL_SMALL_BIG_EXT, (char)mlen, (char)(neg ? 1 : 0)};
    return put(c, h, 3) || put(c, mag, mlen) ? OTPC_ENOMEM : 0;
}

static int put_float(ctx_t *c, double f)
{
    char h[9];
    uint64_t bits;
    memcpy(&bits, &f, sizeof bits);
    h[0] = (char)NEW_FLOAT_EXT;
    otpc__put_u64(h + 1, bits);
    return put(c, h, 9);
}

/* A string: STRING_EXT when every character fits a byte and there are at most 65535,
 * else a list of integers (as term_to_binary); [] when empty. */
static int put_string(ctx_t *c, const otpc__tt_tok_t *t)
{
    otpc__tt_str_t it;
    uint32_t cp, max = 0;
    size_t n = 0;
    otpc__tt_str_begin(&it, &c->lx.r, t);
    while (otpc__tt_str_next(&it, &cp)) {
        n++;
        max = cp > max ? cp : max;
    }
    if (n == 0)
        return put_u8(c, ERL_NIL_EXT);
    char h[5];
    int short_form = max <= 255 && n <= 65535;
    h[0] = (char)(short_form ? ERL_STRING_EXT : ERL_LIST_EXT);
    if (short_form)
        otpc__put_u16(h + 1, (uint16_t)n);
    else
        otpc__put_u32(h + 1, (uint32_t)n);
    if (put(c, h, short_form ? 3 : 5))
        return OTPC_ENOMEM;
    otpc__tt_str_begin(&it, &c->lx.r, t);
    while (otpc__tt_str_next(&it, &cp))
        if (short_form ? put_u8(c, cp) : put_small(c, cp))
            return OTPC_ENOMEM;
    return short_form ? 0 : put_u8(c, ERL_NIL_EXT);
}

/* ---- binaries ------------------------------------------------------------------------ */

static int binary_string(ctx_t *c, const otpc__tt_tok_t *t)
{
    otpc__tt_str_t it;
    uint32_t cp;
    otpc__tt_str_begin(&it, &c->lx.r, t);
    while (otpc__tt_str_next(&it, &cp)) {
        if (cp > 255)
            return otpc__tt_fail(&c->lx, t->line, "a character above 255 in a binary's string");
        if (put_u8(c, cp))
            return OTPC_ENOMEM;
    }
    return 0;
}

static int binary_element(ctx_t *c, const otpc__tt_tok_t *t)
{
    switch (t->kind) {
    case TK_STRING:
        return binary_string(c, t);
    case TK_CHAR:
        if (t->ch > 255)
            return otpc__tt_fail(&c->lx, t->line, "a binary's bytes are 0..255");
        return put_u8(c, t->ch) ? OTPC_ENOMEM : 0;
    case TK_INT:
        if (t->mlen > 1)
            return otpc__tt_fail(&c->lx, t->line, "a binary's bytes are 0..255");
        return put_u8(c, t->mlen ? t->mag[0] : 0) ? OTPC_ENOMEM : 0;
    case '-':
        return otpc__tt_fail(&c->lx, t->line, "a binary's bytes are 0..255");
    default:
        return otpc__tt_fail(&c->lx, t->line, "expected a byte or a string in the binary, found %s",
                             otpc__tt_describe(t));
    }
}

/* After a ',' in a binary, an element, not its end. */
static int binary_element_follows(ctx_t *c, const otpc__tt_tok_t *t)
{
    return t->kind == TK_BINEND ? binary_element(c, t) : 0;
}

/* << Elements >>: bytes and strings only, so a binary holds no container and is read
 * here whole. */
static int binary(ctx_t *c, otpc__tt_tok_t *t)
{
    size_t hdr = c->out.len;
    int rc;
    char h[HDR] = {(char)ERL_BINARY_EXT};
    if (put(c, h, HDR))
        return OTPC_ENOMEM;
    c->lx.in_binary = 1;
    if ((rc = otpc__tt_lex(&c->lx, t)))
        return rc;
    while (t->kind != TK_BINEND) { /* an element, then ',' and the next, or '>>' */
        if ((rc = binary_element(c, t)) || (rc = otpc__tt_lex(&c->lx, t)))
            return rc;
        if (t->kind != ',' && t->kind != TK_BINEND)
            return otpc__tt_fail(&c->lx, t->line, "expected ',' or '>>' in the binary, found %s",
                                 otpc__tt_describe(t));
        if (t->kind == ',' &&
            ((rc = otpc__tt_lex(&c->lx, t)) || (rc = binary_element_follows(c, t))))
            return rc;
    }
    c->lx.in_binary = 0;
    otpc__put_u32(c->out.data + hdr + 1, (uint32_t)(c->out.len - hdr - HDR));
    return 0;
}

/* ---- containers ---------------------------------------------------------------------- */

static int push(ctx_t *c, const otpc__tt_tok_t *t, char kind)
{
    if (c->depth == OTPC__TERM_TEXT_MAX_DEPTH)
        return otpc__tt_fail(&c->lx, t->line, "nested deeper than %d", OTPC__TERM_TEXT_MAX_DEPTH);
    frame_t *f = &c->stack[c->depth++];
    memset(f, 0, sizeof *f);
    f->hdr = c->out.len;
    f->line = t->line;
    f->kind = kind;
    char h[HDR] = {0};
    return put(c, h, HDR) ? OTPC_ENOMEM : 0;
}

/* A STRING_EXT tail at t becomes m small integers and []. */
static int expand_string(ctx_t *c, size_t t, size_t *n)
{
    size_t m = otpc__get_u16(c->out.data + t + 1);
    if (otpc__buf_reserve(&c->out, m + 1))
        return OTPC_ENOMEM;
    char *d = c->out.data;
    /* the bytes first go where the last of them will be read, then are spread left to
     * right: each is read before anything is written over it */
    memmove(d + t + m, d + t + 3, m);
    for (size_t k = 0; k < m; k++) {
        char b = d[t + m + k];
        d[t + 2 * k] = (char)ERL_SMALL_INTEGER_EXT;
        d[t + 2 * k + 1] = b;
    }
    d[t + 2 * m] = (char)ERL_NIL_EXT;
    c->out.len = t + 2 * m + 1;
    *n += m;
    return 0;
}

/* [Elements | Tail] with a list Tail is one list: its elements join ours (its header
 * goes) and its tail is ours. Leaves a proper list's [] at the end. */
static int splice_tail(ctx_t *c, frame_t *f, size_t *n)
{
    char *d = c->out.data;
    size_t t = f->tail_at;
    unsigned char tag = (unsigned char)d[t];
    if (tag == ERL_STRING_EXT)
        return expand_string(c, t, n);
    if (tag != ERL_LIST_EXT)
        return 0; /* [] or an improper tail */
    size_t m = otpc__get_u32(d + t + 1);
    memmove(d + t, d + t + HDR, c->out.len - t - HDR);
    c->out.len -= HDR;
    *n += m;
    return 0;
}

/* A proper list of at most 65535 integers 0..255 is a string, as term_to_binary
 * writes it. */
static void to_string(ctx_t *c, size_t hdr, size_t n)
{
    char *d = c->out.data;
    if (n > 65535 || c->out.len != hdr + HDR + 2 * n + 1 ||
        (unsigned char)d[c->out.len - 1] != ERL_NIL_EXT)
        return;
    for (size_t k = 0; k < n; k++)
        if ((unsigned char)d[hdr + HDR + 2 * k] != ERL_SMALL_INTEGER_EXT)
            return;
    d[hdr] = (char)ERL_STRING_EXT;
    otpc__put_u16(d + hdr + 1, (uint16_t)n);
    for (size_t k = 0; k < n; k++)
        d[hdr + 3 + k] = d[hdr + HDR + 2 * k + 1];
    c->out.len = hdr + 3 + n;
}

static int close_list(ctx_t *c, frame_t *f)
{
    size_t n = f->n;
    if (n == 0) { /* [] */
        c->out.len = f->hdr;
        return put_u8(c, ERL_NIL_EXT);
    }
    if (!f->tail && put_u8(c, ERL_NIL_EXT))
        return OTPC_ENOMEM;
    if (f->tail && splice_tail(c, f, &n))
        return OTPC_ENOMEM;
    char *d = c->out.data;
    d[f->hdr] = (char)ERL_LIST_EXT;
    otpc__put_u32(d + f->hdr + 1, (uint32_t)n);
    to_string(c, f->hdr, n);
    return 0;
}

static int close_tuple(ctx_t *c, frame_t *f)
{
    char *d = c->out.data;
    if (f->n > 255) {
        d[f->hdr] = (char)ERL_LARGE_TUPLE_EXT;
        otpc__put_u32(d + f->hdr + 1, (uint32_t)f->n);
        return 0;
    }
    d[f->hdr] = (char)ERL_SMALL_TUPLE_EXT;
    d[f->hdr + 1] = (char)f->n;
    memmove(d + f->hdr + 2, d + f->hdr + HDR, c->out.len - f->hdr - HDR);
    c->out.len -= HDR - 2;
    return 0;
}

typedef struct {
    const char *p;
    size_t n;
} mkey_t;

static int key_cmp(const void *a, const void *b)
{
    const mkey_t *x = a, *y = b;
    int r = memcmp(x->p, y->p, x->n < y->n ? x->n : y->n);
    return r ? r : (x->n > y->n) - (x->n < y->n);
}

/* A key given twice would make a map ERTS refuses. Keys are compared by their bytes,
 * which are the same for equal terms (the encoding is term_to_binary's). */
static int check_keys(ctx_t *c, frame_t *f, size_t pairs)
{
    mkey_t *keys = malloc(pairs * sizeof *keys);
    if (!keys)
        return OTPC_ENOMEM;
    const char *p = c->out.data + f->hdr + HDR, *end = c->out.data + c->out.len;
    size_t used;
    for (size_t k = 0; k < pairs; k++) {
        keys[k].p = p;
        /* our own output: it walks */
        if (otpc__term_skip(p, (size_t)(end - p), &used))
            used = 0;
        keys[k].n = used;
        p += used;
        if (otpc__term_skip(p, (size_t)(end - p), &used))
            used = 0;
        p += used;
    }
    qsort(keys, pairs, sizeof *keys, key_cmp);
    int dup = 0;
    for (size_t k = 1; k < pairs && !dup; k++)
        dup = key_cmp(&keys[k - 1], &keys[k]) == 0;
    free(keys);
    return dup ? otpc__tt_fail(&c->lx, f->line, "a key appears twice in the map") : 0;
}

static int close_map(ctx_t *c, frame_t *f)
{
    size_t pairs = f->n / 2;
    c->out.data[f->hdr] = (char)ERL_MAP_EXT;
    otpc__put_u32(c->out.data + f->hdr + 1, (uint32_t)pairs);
    return pairs > 1 ? check_keys(c, f, pairs) : 0;
}

/* Settle the innermost container's header and pop it. */
static int close_top(ctx_t *c)
{
    frame_t *f = &c->stack[c->depth - 1];
    int rc = f->kind == '['   ? close_list(c, f)
             : f->kind == '{' ? close_tuple(c, f)
                              : close_map(c, f);
    c->depth--;
    return rc;
}

/* ---- the parser ---------------------------------------------------------------------- */

enum { DONE, OPENED, WANT, CLOSED };

static int negative(ctx_t *c, otpc__tt_tok_t *t)
{
    int rc = otpc__tt_lex(&c->lx, t);
    if (rc)
        return rc;
    if (t->kind == TK_INT)
        return put_int(c, t->mag, t->mlen, 1);
    if (t->kind == TK_FLOAT)
        return put_float(c, -t->f);
    if (t->kind == TK_CHAR)
        return put_small(c, -(int64_t)t->ch);
    return otpc__tt_fail(&c->lx, t->line, "'-' is followed by %s: only a number may be negated",
                         otpc__tt_describe(t));
}

/* A term starting with token t: written whole (DONE) or a container opened (OPENED). */
static int value(ctx_t *c, otpc__tt_tok_t *t)
{
    int rc;
    switch (t->kind) {
    case TK_ATOM:
        rc = put_atom(c, t->atom, t->alen);
        break;
    case TK_STRING:
        rc = put_string(c, t);
        break;
    case TK_CHAR:
        rc = put_small(c, t->ch);
        break;
    case TK_INT:
        rc = put_int(c, t->mag, t->mlen, 0);
        break;
    case TK_FLOAT:
        rc = put_float(c, t->f);
        break;
    case '-':
        rc = negative(c, t);
        break;
    case TK_BIN:
        rc = binary(c, t);
        break;
    case '[':
    case '{':
        return (rc = push(c, t, (char)t->kind)) ? rc : OPENED;
    case TK_MAP:
        return (rc = push(c, t, '#')) ? rc : OPENED;
    case TK_EOF:
        if (c->depth == 0)
            return otpc__tt_fail(&c->lx, t->line, "no term in the text");
        return otpc__tt_fail(&c->lx, t->line,
                             "the text ends inside the term ('%c' of line %u not closed)",
                             c->stack[c->depth - 1].kind, c->stack[c->depth - 1].line);
    default:
        return otpc__tt_fail(&c->lx, t->line, "expected a term, found %s", otpc__tt_describe(t));
    }
    return rc == OTPC_EINVAL ? rc : rc ? OTPC_ENOMEM : DONE;
}

static int is_closer(const frame_t *f, int kind)
{
    return kind == (f->kind == '[' ? ']' : '}');
}

/* What follows a term inside the innermost container: WANT (a term next) or CLOSED. */
static int after(ctx_t *c, otpc__tt_tok_t *t)
{
    frame_t *f = &c->stack[c->depth - 1];
    int rc = otpc__tt_lex(&c->lx, t);
    if (rc)
        return rc;
    if (f->kind == '#' && f->n % 2)
        return t->kind == TK_ARROW
                   ? WANT
                   : otpc__tt_fail(&c->lx, t->line, "expected '=>' after a map key, found %s",
                                   otpc__tt_describe(t));
    if (f->kind == '[' && f->tail)
        return t->kind == ']'
                   ? ((rc = close_top(c)) ? rc : CLOSED)
                   : otpc__tt_fail(&c->lx, t->line, "expected ']' after the list's tail, found %s",
                                   otpc__tt_describe(t));
    if (t->kind == ',')
        return WANT;
    if (f->kind == '[' && t->kind == '|') {
        f->tail = 1;
        f->tail_at = c->out.len;
        return WANT;
    }
    if (is_closer(f, t->kind))
        return (rc = close_top(c)) ? rc : CLOSED;
    return otpc__tt_fail(&c->lx, t->line, "expected ',' or '%c' (opened on line %u), found %s",
                         f->kind == '[' ? ']' : '}', f->line, otpc__tt_describe(t));
}

/* After the whole term: the end dot, then only whitespace and comments. */
static int end_dot(ctx_t *c, otpc__tt_tok_t *t)
{
    int rc = otpc__tt_lex(&c->lx, t);
    if (rc)
        return rc;
    if (t->kind != TK_DOT)
        return otpc__tt_fail(&c->lx, t->line, "expected the end '.' after the term, found %s",
                             otpc__tt_describe(t));
    otpc__tt_skip_blank(&c->lx.r);
    if (c->lx.r.i < c->lx.r.len)
        return otpc__tt_fail(&c->lx, c->lx.r.line, "text after the end '.'");
    return 0;
}

/* A term is complete: count it in its container, then read what follows, closing
 * containers as their closers come, until a term is wanted or the whole term ended. */
static int completed(ctx_t *c, otpc__tt_tok_t *t)
{
    for (;;) {
        if (c->depth == 0)
            return end_dot(c, t);
        frame_t *f = &c->stack[c->depth - 1];
        if (!f->tail)
            f->n++;
        int rc = after(c, t);
        if (rc < 0)
            return rc;
        if (rc == WANT)
            return WANT;
    }
}

static int parse(ctx_t *c, otpc__tt_tok_t *t)
{
    for (;;) {
        int rc = otpc__tt_lex(&c->lx, t);
        if (rc)
            return rc;
        frame_t *f = c->depth ? &c->stack[c->depth - 1] : NULL;
        if (f && f->n == 0 && is_closer(f, t->kind))
            rc = close_top(c); /* [], {}, #{} */
        else
            rc = value(c, t);
        if (rc < 0)
            return rc;
        if (rc == OPENED)
            continue;
        if ((rc = completed(c, t)) != WANT)
            return rc;
    }
}

int otpc__term_text_parse(const char *text, size_t len, ei_x_buff *x, char *err, size_t errcap)
{
    ctx_t *c = calloc(1, sizeof *c);
    otpc__tt_tok_t *t = malloc(sizeof *t);
    int rc = OTPC_ENOMEM;
    if (err && errcap)
        err[0] = 0;
    if (!c || !t)
        goto out;
    c->lx.r.s = (const unsigned char *)text;
    c->lx.r.len = len;
    c->lx.r.line = 1;
    c->lx.r.utf8 = otpc__tt_says_utf8(c->lx.r.s, len);
    c->lx.err = err;
    c->lx.errcap = errcap;
    if ((c->lx.r.utf8 && (rc = otpc__tt_check_utf8(&c->lx))) || (rc = parse(c, t)))
        goto out;
    rc = c->out.len > INT32_MAX || ei_x_append_buf(x, c->out.data, (int)c->out.len) ? OTPC_ENOMEM
                                                                                    : 0;
out:
    if (rc == OTPC_ENOMEM && err && errcap)
        snprintf(err, errcap, "out of memory");
    if (c)
        otpc__buf_free(&c->out);
    free(c);
    free(t);
    return rc;
}
