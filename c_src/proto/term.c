/*
 * Iterative, bounds-checked term walker; see term.h.
 *
 * Instead of a stack of open containers it keeps one counter: the number of terms still
 * to read. A tuple of arity N adds N, a list N+1 (its tail), a map 2N. Every term takes
 * at least one byte, so a counter larger than the bytes left is rejected at once, which
 * also bounds the work on hostile arities.
 *
 * A copying walk (otpc__term_copy) is the same walk with an output: the bytes between
 * atoms are copied in runs (from `mark` up to the next atom), each atom is replaced by
 * what the caller's hook says, and a fun's Size, which counts its encoded bytes, is
 * patched once its inside has been copied.
 */
#include "proto/term.h"

#include <ei.h>
#include <stdint.h>
#include <stdlib.h>

#include "otpc.h"
#include "util/buf.h"

/* A copying walk's state, shared by the walks of funs' insides. */
typedef struct {
    otpc__buf_t *out; /* NULL: a walk that only checks (with `refs` allowed) */
    size_t max;       /* out->len never goes past it */
    const char *mark; /* the first input byte not copied yet */
    otpc__term_atom_fn fn;
    void *ctx;
    unsigned refs; /* ATOM_CACHE_REF indices allowed: [0, refs) */
    int rc;        /* why the walk failed, when it is not malformed input */
    void (*seen)(void *ctx, const char *at); /* otpc__term_find_refs: each reference */
} copy_t;

typedef struct {
    const char *p;
    size_t left;
    uint64_t todo;
    unsigned depth; /* nesting of funs, the one construct walked recursively */
    copy_t *x;      /* NULL: a plain walk (no cache references) */
} walk_t;

/* Closures inside closures' environments: legal but rare; bounded so that a hostile
 * packet cannot exhaust the C stack. */
#define MAX_FUN_DEPTH 64

static int walk(const char *buf, size_t len, unsigned depth, copy_t *x, size_t *used);

static int need(walk_t *w, size_t n)
{
    if (w->left < n)
        return -1;
    return 0;
}

static void adv(walk_t *w, size_t n)
{
    w->p += n;
    w->left -= n;
}

static int add_todo(walk_t *w, uint64_t n)
{
    w->todo += n;
    return w->todo > w->left ? -1 : 0;
}

/* Append n bytes to the copy's output, within its bound; the output grows
 * geometrically but never past max. 0, or -1 with x->rc. */
static int put(copy_t *x, const char *p, size_t n)
{
    otpc__buf_t *b = x->out;
    if (n > x->max - b->len) {
        x->rc = OTPC_ETOOBIG;
        return -1;
    }
    if (b->cap - b->len < n) {
        size_t need = b->len + n, cap = b->cap ? b->cap : 256 < x->max ? 256 : x->max;
        while (cap < need)
            cap = cap > x->max / 2 ? x->max : cap * 2;
        if (otpc__buf_set_cap(b, cap)) { /* b may be a mapped buffer: its kind kept */
            x->rc = OTPC_ENOMEM;
            return -1;
        }
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

/* Copy the input up to `to`. */
static int flush(copy_t *x, const char *to)
{
    const char *from = x->mark;
    x->mark = to;
    return put(x, from, (size_t)(to - from));
}

/* The atom at[0..n) replaced by what the hook says. */
static int map_atom(copy_t *x, const char *at, size_t n)
{
    const char *rep;
    size_t rlen;
    if (flush(x, at))
        return -1;
    int rc = x->fn(x->ctx, at, n, &rep, &rlen);
    if (rc) {
        x->rc = rc;
        return -1;
    }
    x->mark = at + n;
    return put(x, rep, rlen);
}

/* An atom in any of its four encodings, or a reference to the distribution header's
 * atom cache where the walk allows them; node names of pids, ports and refs use it. */
static int skip_atom(walk_t *w)
{
    if (need(w, 1))
        return -1;
    const char *at = w->p;
    unsigned char tag = (unsigned char)at[0];
    size_t len;
    if (tag == ERL_ATOM_EXT || tag == ERL_ATOM_UTF8_EXT) {
        if (need(w, 3))
            return -1;
        len = otpc__get_u16(w->p + 1);
        adv(w, 3);
    } else if (tag == ERL_SMALL_ATOM_EXT || tag == ERL_SMALL_ATOM_UTF8_EXT) {
        if (need(w, 2))
            return -1;
        len = (unsigned char)w->p[1];
        adv(w, 2);
    } else if (tag == OTPC__ATOM_CACHE_REF && w->x) {
        if (need(w, 2) || (unsigned char)w->p[1] >= w->x->refs)
            return -1;
        len = 0;
        adv(w, 2);
    } else {
        return -1;
    }
    if (need(w, len))
        return -1;
    adv(w, len);
    if (w->x && w->x->out)
        return map_atom(w->x, at, (size_t)(w->p - at));
    if (w->x && w->x->seen && tag == OTPC__ATOM_CACHE_REF)
        w->x->seen(w->x->ctx, at);
    return 0;
}

/* Skip `n` fixed bytes after `hdr` header bytes already checked. */
static int fixed(walk_t *w, size_t n)
{
    if (need(w, n))
        return -1;
    adv(w, n);
    return 0;
}

/* NEW_FUN_EXT: Size covers the whole encoding; walk its inside so ei never strays. */
static int skip_new_fun(walk_t *w)
{
    if (need(w, 4))
        return -1;
    size_t size = otpc__get_u32(w->p);
    if (size < 4 + 1 + 16 + 4 + 4 || need(w, size))
        return -1;
    uint32_t numfree = otpc__get_u32(w->p + 4 + 1 + 16 + 4);
    walk_t inner = {w->p + 29, size - 29, 0, w->depth + 1, w->x};
    if (inner.depth > MAX_FUN_DEPTH)
        return -1;
    if (w->x && w->x->seen) {
        w->x->rc = OTPC_ESTATE;
        return -1;
    }
    copy_t *x = w->x && w->x->out ? w->x : NULL;
    size_t at = 0; /* where the output's Size is */
    if (x) {
        if (flush(x, w->p))
            return -1;
        at = x->out->len;
    }
    /* module, old index, old uniq, pid, then the free variables. */
    if (add_todo(&inner, 4ULL + numfree))
        return -1;
    while (inner.todo) {
        size_t used;
        inner.todo--;
        if (walk(inner.p, inner.left, inner.depth, inner.x, &used))
            return -1;
        adv(&inner, used);
        if (inner.todo > inner.left)
            return -1;
    }
    if (inner.left != 0)
        return -1;
    adv(w, size);
    if (x) { /* its atoms may have changed size */
        if (flush(x, w->p) || x->out->len - at > UINT32_MAX)
            return -1;
        otpc__put_u32(x->out->data + at, (uint32_t)(x->out->len - at));
    }
    return 0;
}

/* One term's own bytes; pushes its elements onto todo. 0 or -1. */
static int step(walk_t *w)
{
    if (need(w, 1))
        return -1;
    unsigned char tag = (unsigned char)w->p[0];
    switch (tag) {
    case ERL_ATOM_EXT:
    case ERL_ATOM_UTF8_EXT:
    case ERL_SMALL_ATOM_EXT:
    case ERL_SMALL_ATOM_UTF8_EXT:
    case OTPC__ATOM_CACHE_REF:
        return skip_atom(w);
    default:
        break;
    }
    adv(w, 1);
    switch (tag) {
    case ERL_SMALL_INTEGER_EXT:
        return fixed(w, 1);
    case ERL_INTEGER_EXT:
        return fixed(w, 4);
    case NEW_FLOAT_EXT:
        return fixed(w, 8);
    case ERL_FLOAT_EXT: /* ei reads the text with sscanf: it must hold its own NUL */
        return need(w, 31) || !memchr(w->p, 0, 31) ? -1 : fixed(w, 31);
    case ERL_NIL_EXT:
        return 0;
    case ERL_SMALL_TUPLE_EXT:
        if (need(w, 1))
            return -1;
        adv(w, 1);
        return add_todo(w, (unsigned char)w->p[-1]);
    case ERL_LARGE_TUPLE_EXT:
        if (need(w, 4))
            return -1;
        adv(w, 4);
        return add_todo(w, otpc__get_u32(w->p - 4));
    case ERL_MAP_EXT:
        if (need(w, 4))
            return -1;
        adv(w, 4);
        return add_todo(w, 2ULL * otpc__get_u32(w->p - 4));
    case ERL_LIST_EXT:
        if (need(w, 4))
            return -1;
        adv(w, 4);
        return add_todo(w, 1ULL + otpc__get_u32(w->p - 4));
    case ERL_STRING_EXT:
        if (need(w, 2))
            return -1;
        adv(w, 2);
        return fixed(w, otpc__get_u16(w->p - 2));
    case ERL_BINARY_EXT:
        if (need(w, 4))
            return -1;
        adv(w, 4);
        return fixed(w, otpc__get_u32(w->p - 4));
    case ERL_BIT_BINARY_EXT: {
        if (need(w, 5))
            return -1;
        uint32_t n = otpc__get_u32(w->p);
        unsigned bits = (unsigned char)w->p[4];
        if (bits < 1 || bits > 8 || n == 0)
            return -1;
        adv(w, 5);
        return fixed(w, n);
    }
    case ERL_SMALL_BIG_EXT:
        if (need(w, 2))
            return -1;
        adv(w, 2);
        return fixed(w, (unsigned char)w->p[-2]);
    case ERL_LARGE_BIG_EXT:
        if (need(w, 5))
            return -1;
        adv(w, 5);
        return fixed(w, otpc__get_u32(w->p - 5));
    case ERL_NEW_PID_EXT:
        return skip_atom(w) ? -1 : fixed(w, 12);
    case ERL_PID_EXT:
        return skip_atom(w) ? -1 : fixed(w, 9);
    case ERL_NEW_PORT_EXT:
        return skip_atom(w) ? -1 : fixed(w, 8);
    case ERL_V4_PORT_EXT:
        return skip_atom(w) ? -1 : fixed(w, 12);
    case ERL_PORT_EXT:
        return skip_atom(w) ? -1 : fixed(w, 5);
    case ERL_REFERENCE_EXT:
        return skip_atom(w) ? -1 : fixed(w, 5);
    case ERL_NEW_REFERENCE_EXT:
    case ERL_NEWER_REFERENCE_EXT: {
        if (need(w, 2))
            return -1;
        size_t n = otpc__get_u16(w->p);
        if (n < 1 || n > 5)
            return -1;
        adv(w, 2);
        if (skip_atom(w))
            return -1;
        return fixed(w, (tag == ERL_NEW_REFERENCE_EXT ? 1 : 4) + 4 * n);
    }
    case ERL_EXPORT_EXT:
        return add_todo(w, 3);
    case ERL_NEW_FUN_EXT:
        return skip_new_fun(w);
    default:
        /* compressed, LOCAL_EXT, old FUN_EXT: never on our links. */
        return -1;
    }
}

static int walk(const char *buf, size_t len, unsigned depth, copy_t *x, size_t *used)
{
    walk_t w = {buf, len, 1, depth, x};
    while (w.todo) {
        w.todo--;
        if (step(&w))
            return OTPC_EBADARG;
    }
    *used = len - w.left;
    return 0;
}

int otpc__term_skip(const char *buf, size_t len, size_t *used)
{
    return walk(buf, len, 0, NULL, used);
}

int otpc__term_skip_refs(const char *buf, size_t len, unsigned refs, size_t *used)
{
    copy_t x = {.refs = refs};
    return walk(buf, len, 0, &x, used);
}

int otpc__term_find_refs(const char *buf, size_t len, unsigned refs,
                         void (*seen)(void *ctx, const char *at), void *ctx, size_t *used)
{
    copy_t x = {.ctx = ctx, .refs = refs, .seen = seen};
    if (walk(buf, len, 0, &x, used))
        return x.rc ? x.rc : OTPC_EBADARG;
    return 0;
}

int otpc__term_copy(const char *buf, size_t len, unsigned refs, otpc__term_atom_fn fn, void *ctx,
                    otpc__buf_t *out, size_t max, size_t *used)
{
    copy_t x = {out, max, buf, fn, ctx, refs, 0, NULL};
    size_t start = out->len;
    if (start > max || walk(buf, len, 0, &x, used) || flush(&x, buf + *used)) {
        out->len = start;
        return x.rc ? x.rc : OTPC_EBADARG;
    }
    return 0;
}

int otpc__term_skip_versioned(const char *buf, size_t len, size_t *used)
{
    if (len < 1 || (unsigned char)buf[0] != ERL_VERSION_MAGIC)
        return OTPC_EBADARG;
    int rc = otpc__term_skip(buf + 1, len - 1, used);
    if (rc == 0)
        *used += 1;
    return rc;
}

int otpc__decode_atom(const char *buf, int *index, char *out, size_t *len)
{
    int type, size, at = *index;
    if (ei_get_type(buf, &at, &type, &size) || type != ERL_ATOM_EXT ||
        ei_decode_atom_as(buf, &at, out, MAXATOMLEN_UTF8, ERLANG_UTF8, NULL, NULL))
        return -1;
    /* ei writes no length. size counts the bytes of the text as sent (ei_get_type
     * reports every atom as ERL_ATOM_EXT): UTF-8 text is copied as it is, Latin-1 text
     * grows one byte per character above 127. */
    size_t n = (size_t)size;
    char tag = buf[*index];
    if (tag == ERL_ATOM_EXT || tag == ERL_SMALL_ATOM_EXT) {
        const unsigned char *text = (const unsigned char *)buf + at - size;
        for (int k = 0; k < size; k++)
            n += text[k] >= 0x80;
    }
    *len = n;
    *index = at;
    return 0;
}

size_t otpc__utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Length of the valid UTF-8 sequence at s[0..left), or 0 (overlong, a surrogate, past
 * U+10FFFF, cut short). */
size_t otpc__utf8_seq(const unsigned char *s, size_t left)
{
    unsigned char b = s[0];
    size_t n = b < 0x80                 ? 1
               : b >= 0xC2 && b <= 0xDF ? 2
               : b >= 0xE0 && b <= 0xEF ? 3
               : b >= 0xF0 && b <= 0xF4 ? 4
                                        : 0;
    if (n == 0 || n > left)
        return 0;
    for (size_t k = 1; k < n; k++)
        if ((s[k] & 0xC0) != 0x80)
            return 0;
    if ((b == 0xE0 && s[1] < 0xA0) || (b == 0xED && s[1] >= 0xA0) || (b == 0xF0 && s[1] < 0x90) ||
        (b == 0xF4 && s[1] >= 0x90))
        return 0;
    return n;
}
