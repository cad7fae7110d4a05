/*
 * Terms built from a format: otpc_x_format (otpc.h), and the lexer of the format
 * language that core/match.c shares (format.h).
 *
 * The builder appends to the caller's ei_x_buff as it reads the format. A container's
 * size is known only at its end, so its header is reserved (5 bytes) and patched
 * there, shrunk to SMALL_TUPLE_EXT or NIL_EXT when that is the encoding. Any failure
 * puts x->index back where it was: a caller never finds half a term in its buffer.
 */
#include "core/format.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#include "core/node_int.h"

/* ---- lexer ------------------------------------------------------------------------ */

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_name(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '@';
}

static const char *skip_space(const char *p)
{
    while (is_space(*p))
        p++;
    return p;
}

/* The closing quote q of a literal whose text starts at p; NULL (with *why) if it has
 * none or holds an unknown escape. */
static const char *scan_quoted(const char *p, char q, const char **why)
{
    for (;; p++) {
        if (*p == 0) {
            *why = q == '\'' ? "unterminated quoted atom" : "unterminated string";
            return NULL;
        }
        if (*p == q)
            return p;
        if (*p == '\\') {
            p++;
            if (!*p || !strchr("\\'\"nrt", *p)) {
                *why = "unknown escape (\\\\ \\' \\\" \\n \\r \\t)";
                return NULL;
            }
        }
    }
}

static const char *lex_number(const char *p, otpc__tk_t *tk)
{
    int neg = *p == '-';
    const char *q = p + neg;
    unsigned long v = 0, lim = neg ? (unsigned long)LONG_MAX + 1 : (unsigned long)LONG_MAX;
    if (!is_digit(*q)) {
        tk->why = "- not followed by a digit";
        return NULL;
    }
    for (; is_digit(*q); q++) {
        unsigned d = (unsigned)(*q - '0');
        if (v > (lim - d) / 10) {
            tk->why = "integer out of range of long";
            return NULL;
        }
        v = v * 10 + d;
    }
    if (*q == '.' || is_name(*q)) {
        tk->why = *q == '.' ? "no float literals (use ~d)" : "bad integer";
        return NULL;
    }
    tk->kind = OTPC__TK_INT;
    tk->num = neg ? (v ? -(long)(v - 1) - 1 : 0) : (long)v;
    return q;
}

/* A quoted atom or string: text checked (UTF-8, an atom's length). */
static const char *lex_quoted(const char *p, otpc__tk_t *tk)
{
    char q = *p;
    const char *end = scan_quoted(p + 1, q, &tk->why);
    if (!end)
        return NULL;
    tk->txt = (otpc__text_t){p + 1, end, 1};
    size_t bytes, cps;
    uint32_t max;
    if (otpc__text_measure(tk->txt, &bytes, &cps, &max)) {
        tk->why = "invalid UTF-8";
        return NULL;
    }
    if (q == '\'' && cps > OTPC__FMT_MAX_ATOM) {
        tk->why = "atom longer than 255 characters";
        return NULL;
    }
    tk->kind = q == '\'' ? OTPC__TK_ATOM : OTPC__TK_STRING;
    return end + 1;
}

/* << >> or << "bytes" >> */
static const char *lex_binary(const char *p, otpc__tk_t *tk)
{
    p = skip_space(p + 2);
    if (*p == '"') {
        const char *end = scan_quoted(p + 1, '"', &tk->why);
        if (!end)
            return NULL;
        tk->txt = (otpc__text_t){p + 1, end, 1};
        p = skip_space(end + 1);
    } else {
        tk->txt = (otpc__text_t){p, p, 0};
    }
    if (p[0] != '>' || p[1] != '>') {
        tk->why = "a binary is <<\"bytes\">> or <<>>";
        return NULL;
    }
    tk->kind = OTPC__TK_BINARY;
    return p + 2;
}

static const char *lex_punct(const char *p, otpc__tk_t *tk)
{
    static const struct {
        char s[3];
        otpc__tk_kind_t kind;
    } punct[] = {
        {"#{", OTPC__TK_MAP},   {"=>", OTPC__TK_ARROW}, {":=", OTPC__TK_ASSOC},
        {"{", OTPC__TK_LBRACE}, {"}", OTPC__TK_RBRACE}, {"[", OTPC__TK_LBRACK},
        {"]", OTPC__TK_RBRACK}, {",", OTPC__TK_COMMA},  {"|", OTPC__TK_BAR},
    };
    for (size_t i = 0; i < sizeof punct / sizeof *punct; i++) {
        size_t n = strlen(punct[i].s);
        if (strncmp(p, punct[i].s, n) == 0) {
            tk->kind = punct[i].kind;
            return p + n;
        }
    }
    tk->why = "unexpected character";
    return NULL;
}

static const char *lex_one(const char *p, otpc__tk_t *tk)
{
    char c = *p;
    if (c == 0) {
        tk->kind = OTPC__TK_END;
        return p;
    }
    if (c == '~') {
        if (!p[1] || !strchr("asbluidprt", p[1])) {
            tk->why = "unknown conversion (~a ~s ~b ~l ~u ~i ~d ~p ~r ~t)";
            return NULL;
        }
        tk->kind = OTPC__TK_CONV;
        tk->conv = p[1];
        return p + 2;
    }
    if (c == '\'' || c == '"')
        return lex_quoted(p, tk);
    if (c == '<' && p[1] == '<')
        return lex_binary(p, tk);
    if (c == '-' || is_digit(c))
        return lex_number(p, tk);
    if ((c >= 'a' && c <= 'z') || c == '_') {
        const char *q = p + 1;
        while (is_name(*q))
            q++;
        if (c != '_' && q - p > OTPC__FMT_MAX_ATOM) {
            tk->why = "atom longer than 255 characters";
            return NULL;
        }
        tk->kind = c == '_' ? OTPC__TK_WILD : OTPC__TK_ATOM;
        tk->txt = (otpc__text_t){p, q, 0};
        return q;
    }
    if (c >= 'A' && c <= 'Z') {
        tk->why = "no variables (use a conversion, or _ in a match)";
        return NULL;
    }
    return lex_punct(p, tk);
}

void otpc__lex_next(otpc__lex_t *lx, otpc__tk_t *tk)
{
    const char *p = skip_space(lx->p);
    memset(tk, 0, sizeof *tk);
    tk->at = (size_t)(p - lx->fmt);
    const char *next = lex_one(p, tk);
    if (!next) {
        tk->kind = OTPC__TK_BAD;
        lx->p = p;
        return;
    }
    lx->p = next;
}

otpc__tk_kind_t otpc__lex_peek(const otpc__lex_t *lx)
{
    otpc__lex_t copy = *lx;
    otpc__tk_t tk;
    otpc__lex_next(&copy, &tk);
    return tk.kind;
}

/* ---- literal text ------------------------------------------------------------------ */

int otpc__text_byte(otpc__text_t *t)
{
    if (t->p >= t->end)
        return -1;
    char c = *t->p++;
    if (t->esc && c == '\\') {
        c = *t->p++; /* the lexer saw a known escape */
        c = c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
    }
    return (unsigned char)c;
}

int otpc__text_cp(otpc__text_t *t, uint32_t *cp)
{
    int b = otpc__text_byte(t);
    if (b < 0)
        return 0;
    uint32_t v, min;
    int more;
    if (b < 0x80) {
        *cp = (uint32_t)b;
        return 1;
    } else if ((b & 0xe0) == 0xc0) {
        v = (uint32_t)b & 0x1f, more = 1, min = 0x80;
    } else if ((b & 0xf0) == 0xe0) {
        v = (uint32_t)b & 0x0f, more = 2, min = 0x800;
    } else if ((b & 0xf8) == 0xf0) {
        v = (uint32_t)b & 0x07, more = 3, min = 0x10000;
    } else {
        return -1;
    }
    while (more--) {
        b = otpc__text_byte(t);
        if (b < 0 || (b & 0xc0) != 0x80)
            return -1;
        v = v << 6 | ((uint32_t)b & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return -1;
    *cp = v;
    return 1;
}

int otpc__text_measure(otpc__text_t t, size_t *bytes, size_t *cps, uint32_t *max)
{
    otpc__text_t b = t;
    size_t n = 0;
    while (otpc__text_byte(&b) >= 0)
        n++;
    *bytes = n;
    if (!cps)
        return 0;
    size_t k = 0;
    uint32_t cp, hi = 0;
    int r;
    while ((r = otpc__text_cp(&t, &cp)) == 1) {
        k++;
        hi = cp > hi ? cp : hi;
    }
    *cps = k;
    *max = hi;
    return r;
}

size_t otpc__text_copy(otpc__text_t t, char *out)
{
    size_t n = 0;
    int b;
    while ((b = otpc__text_byte(&t)) >= 0)
        out[n++] = (char)b;
    return n;
}

/* ---- building ------------------------------------------------------------------------ */

typedef struct {
    otpc__lex_t lx;
    ei_x_buff *x;
    va_list ap;
    const char *why; /* EINVAL: what was wrong, and where */
    size_t at;
} build_t;

static int bad(build_t *b, size_t at, const char *why)
{
    b->why = why;
    b->at = at;
    return OTPC_EINVAL;
}

static int raw(build_t *b, const void *p, size_t n)
{
    return otpc__x_raw(b->x, p, n);
}

/* An atom from UTF-8 text (a literal or a C string). */
static int put_atom(build_t *b, otpc__text_t t, size_t at)
{
    size_t bytes, cps;
    uint32_t max;
    if (otpc__text_measure(t, &bytes, &cps, &max))
        return bad(b, at, "atom: invalid UTF-8");
    if (cps > OTPC__FMT_MAX_ATOM)
        return bad(b, at, "atom longer than 255 characters");
    char hdr[3], text[MAXATOMLEN_UTF8];
    size_t h = 2;
    hdr[0] = ERL_SMALL_ATOM_UTF8_EXT;
    hdr[1] = (char)bytes;
    if (bytes > 255) {
        hdr[0] = ERL_ATOM_UTF8_EXT;
        otpc__put_u16(hdr + 1, (uint16_t)bytes);
        h = 3;
    }
    otpc__text_copy(t, text);
    return raw(b, hdr, h) ? OTPC_ENOMEM : raw(b, text, bytes);
}

/* A string (a list of characters) from UTF-8 text: STRING_EXT when every character
 * fits in a byte, as erlang:term_to_binary does, else a list of integers. */
static int put_string(build_t *b, otpc__text_t t, size_t at)
{
    size_t bytes, cps;
    uint32_t max, cp;
    if (otpc__text_measure(t, &bytes, &cps, &max))
        return bad(b, at, "string: invalid UTF-8");
    if (cps == 0)
        return ei_x_encode_empty_list(b->x) ? OTPC_ENOMEM : 0;
    char hdr[5];
    if (max < 256 && cps <= 0xffff) {
        char chunk[256];
        size_t k = 0;
        hdr[0] = ERL_STRING_EXT;
        otpc__put_u16(hdr + 1, (uint16_t)cps);
        if (raw(b, hdr, 3))
            return OTPC_ENOMEM;
        while (otpc__text_cp(&t, &cp) == 1) {
            chunk[k++] = (char)cp;
            if (k == sizeof chunk) {
                if (raw(b, chunk, k))
                    return OTPC_ENOMEM;
                k = 0;
            }
        }
        return raw(b, chunk, k);
    }
    if (cps > UINT32_MAX)
        return bad(b, at, "string too long");
    hdr[0] = ERL_LIST_EXT;
    otpc__put_u32(hdr + 1, (uint32_t)cps);
    if (raw(b, hdr, 5))
        return OTPC_ENOMEM;
    while (otpc__text_cp(&t, &cp) == 1)
        if (ei_x_encode_long(b->x, (long)cp))
            return OTPC_ENOMEM;
    return ei_x_encode_empty_list(b->x) ? OTPC_ENOMEM : 0;
}

static int put_binary(build_t *b, const char *p, size_t n, size_t at)
{
    if (n > INT32_MAX || (!p && n))
        return bad(b, at, "~b: no data, or 2 GiB and more");
    char hdr[5] = {ERL_BINARY_EXT};
    otpc__put_u32(hdr + 1, (uint32_t)n);
    return raw(b, hdr, 5) ? OTPC_ENOMEM : raw(b, p, n);
}

static int put_binary_lit(build_t *b, otpc__text_t t, size_t at)
{
    size_t n, text = (size_t)(t.end - t.p);
    (void)otpc__text_measure(t, &n, NULL, NULL);
    /* room for the text, then its bytes (no more than the text: escapes shrink) */
    int start = b->x->index, rc = put_binary(b, t.p, text, at);
    if (rc)
        return rc;
    char *h = b->x->buff + start;
    otpc__put_u32(h + 1, (uint32_t)n);
    otpc__text_copy(t, h + 5);
    b->x->index = start + 5 + (int)n;
    return 0;
}

/* A whole term handed in, with or without its version byte. */
static int put_term(build_t *b, otpc_term_t t, size_t at)
{
    size_t used;
    const char *p = t.data;
    size_t n = t.size;
    if (p && n && (unsigned char)p[0] == ERL_VERSION_MAGIC)
        p++, n--;
    if (!p || !n || otpc__term_skip(p, n, &used) || used != n)
        return bad(b, at, "~t: not one well-formed term");
    return raw(b, p, n);
}

static int conv(build_t *b, char c, size_t at)
{
    switch (c) {
    case 'a':
    case 's': {
        const char *s = va_arg(b->ap, const char *);
        if (!s)
            return bad(b, at, "~a or ~s: NULL");
        otpc__text_t t = {s, s + strlen(s), 0};
        return c == 'a' ? put_atom(b, t, at) : put_string(b, t, at);
    }
    case 'b': {
        const char *p = va_arg(b->ap, const void *);
        size_t n = va_arg(b->ap, size_t);
        return put_binary(b, p, n, at);
    }
    case 'l':
        return ei_x_encode_long(b->x, va_arg(b->ap, long)) ? OTPC_ENOMEM : 0;
    case 'u':
        return ei_x_encode_ulong(b->x, va_arg(b->ap, unsigned long)) ? OTPC_ENOMEM : 0;
    case 'i':
        return ei_x_encode_long(b->x, va_arg(b->ap, int)) ? OTPC_ENOMEM : 0;
    case 'd': {
        double d = va_arg(b->ap, double);
        if (!isfinite(d))
            return bad(b, at, "~d: not a finite number");
        return ei_x_encode_double(b->x, d) ? OTPC_ENOMEM : 0;
    }
    case 'p':
    case 'r': {
        otpc_proc_t *self = va_arg(b->ap, otpc_proc_t *);
        const otpc_pid_t *pid = c == 'p' ? va_arg(b->ap, const otpc_pid_t *) : NULL;
        const otpc_ref_t *ref = c == 'r' ? va_arg(b->ap, const otpc_ref_t *) : NULL;
        if (!self || (!pid && !ref))
            return bad(b, at, "~p or ~r: NULL self or value");
        OTPC__ENTER(self->node); /* node names come from its atom table */
        if (pid)
            return otpc__x_pid(self->node, b->x, pid);
        if (ref->len < 1 || ref->len > 5)
            return bad(b, at, "~r: not a reference");
        return otpc__x_ref(self->node, b->x, ref);
    }
    default: /* 't', the last the lexer lets through */
        return put_term(b, va_arg(b->ap, otpc_term_t), at);
    }
}

static int term(build_t *b, int depth);

/* The elements of a tuple, list or map (pairs) up to `close`; *n counts them. A list
 * may end | Tail: *tail says so. */
static int elements(build_t *b, otpc__tk_kind_t open, int depth, uint32_t *n, int *tail)
{
    otpc__tk_kind_t close = open == OTPC__TK_LBRACK ? OTPC__TK_RBRACK : OTPC__TK_RBRACE;
    otpc__tk_t tk;
    *n = 0;
    if (otpc__lex_peek(&b->lx) == close) {
        otpc__lex_next(&b->lx, &tk);
        return 0;
    }
    for (;;) {
        int rc = term(b, depth);
        if (rc)
            return rc;
        if (open == OTPC__TK_MAP) {
            otpc__lex_next(&b->lx, &tk);
            if (tk.kind != OTPC__TK_ARROW)
                return bad(b, tk.at, "expected => (:= is for matching)");
            if ((rc = term(b, depth)))
                return rc;
        }
        ++*n;
        otpc__lex_next(&b->lx, &tk);
        if (tk.kind == OTPC__TK_COMMA)
            continue;
        if (tk.kind == OTPC__TK_BAR && open == OTPC__TK_LBRACK) {
            if ((rc = term(b, depth)))
                return rc;
            *tail = 1;
            otpc__lex_next(&b->lx, &tk);
        }
        if (tk.kind == close)
            return 0;
        return bad(b, tk.at,
                   tk.kind == OTPC__TK_BAD ? tk.why : "expected , or the end of the container");
    }
}

/* {...}, [...] or #{...}: the header reserved, the elements, the header patched. */
static int container(build_t *b, otpc__tk_kind_t open, int depth)
{
    static const char zero[5];
    ei_x_buff *x = b->x;
    int hdr = x->index, tail = 0;
    uint32_t n;
    if (raw(b, zero, 5))
        return OTPC_ENOMEM;
    int rc = elements(b, open, depth + 1, &n, &tail);
    if (rc)
        return rc;
    char *h = x->buff + hdr;
    if (open == OTPC__TK_LBRACE && n < 256) {
        h[0] = ERL_SMALL_TUPLE_EXT;
        h[1] = (char)n;
        memmove(h + 2, h + 5, (size_t)(x->index - hdr - 5));
        x->index -= 3;
        return 0;
    }
    if (open == OTPC__TK_LBRACK && n == 0) { /* [] */
        h[0] = ERL_NIL_EXT;
        x->index = hdr + 1;
        return 0;
    }
    h[0] = open == OTPC__TK_LBRACE ? ERL_LARGE_TUPLE_EXT
           : open == OTPC__TK_MAP  ? ERL_MAP_EXT
                                   : ERL_LIST_EXT;
    otpc__put_u32(h + 1, n);
    if (open == OTPC__TK_LBRACK && !tail)
        return ei_x_encode_empty_list(x) ? OTPC_ENOMEM : 0;
    return 0;
}

static int term(build_t *b, int depth)
{
    otpc__tk_t tk;
    otpc__lex_next(&b->lx, &tk);
    switch (tk.kind) {
    case OTPC__TK_ATOM:
        return put_atom(b, tk.txt, tk.at);
    case OTPC__TK_INT:
        return ei_x_encode_long(b->x, tk.num) ? OTPC_ENOMEM : 0;
    case OTPC__TK_STRING:
        return put_string(b, tk.txt, tk.at);
    case OTPC__TK_BINARY:
        return put_binary_lit(b, tk.txt, tk.at);
    case OTPC__TK_CONV:
        return conv(b, tk.conv, tk.at);
    case OTPC__TK_LBRACE:
    case OTPC__TK_LBRACK:
    case OTPC__TK_MAP:
        if (depth >= OTPC__FMT_MAX_DEPTH)
            return bad(b, tk.at, "nested too deep");
        return container(b, tk.kind, depth);
    case OTPC__TK_WILD:
        return bad(b, tk.at, "_ is for matching");
    case OTPC__TK_BAD:
        return bad(b, tk.at, tk.why);
    case OTPC__TK_END:
        return bad(b, tk.at, "expected a term");
    default:
        return bad(b, tk.at, "unexpected token");
    }
}

int otpc__x_vformat(ei_x_buff *x, const char *fmt, va_list ap, const char **why, size_t *at)
{
    build_t b = {.lx = {fmt, fmt}, .x = x, .why = "", .at = 0};
    if (!x || !fmt)
        return bad(&b, 0, "NULL buffer or format");
    int start = x->index, rc;
    va_copy(b.ap, ap);
    rc = term(&b, 0);
    if (rc == 0) {
        otpc__tk_t tk;
        otpc__lex_next(&b.lx, &tk);
        if (tk.kind != OTPC__TK_END)
            rc = bad(&b, tk.at, "more after the term");
    }
    va_end(b.ap);
    if (rc)
        x->index = start;
    if (why) {
        *why = rc == OTPC_EINVAL ? b.why : NULL;
        *at = b.at;
    }
    return rc;
}

int otpc_x_vformat(ei_x_buff *x, const char *fmt, va_list ap)
{
    return otpc__x_vformat(x, fmt, ap, NULL, NULL);
}

int otpc_x_format(ei_x_buff *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = otpc__x_vformat(x, fmt, ap, NULL, NULL);
    va_end(ap);
    return rc;
}
