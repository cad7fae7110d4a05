/*
 * Iterative, bounds-checked term walker; see term.h.
 *
 * Instead of a stack of open containers it keeps one counter: the number of terms still
 * to read. A tuple of arity N adds N, a list N+1 (its tail), a map 2N. Every term takes
 * at least one byte, so a counter larger than the bytes left is rejected at once, which
 * also bounds the work on hostile arities.
 */
#include "proto/term.h"

#include <ei.h>
#include <stdint.h>

#include "otpc.h"
#include "util/buf.h"

typedef struct {
    const char *p;
    size_t left;
    uint64_t todo;
    unsigned depth; /* nesting of funs, the one construct walked recursively */
} walk_t;

/* Closures inside closures' environments: legal but rare; bounded so that a hostile
 * packet cannot exhaust the C stack. */
#define MAX_FUN_DEPTH 64

static int walk(const char *buf, size_t len, unsigned depth, size_t *used);

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

/* An atom in any of its four encodings; node names of pids, ports and refs use it. */
static int skip_atom(walk_t *w)
{
    if (need(w, 1))
        return -1;
    unsigned char tag = (unsigned char)w->p[0];
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
    } else {
        return -1;
    }
    if (need(w, len))
        return -1;
    adv(w, len);
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
    walk_t inner = {w->p + 29, size - 29, 0, w->depth + 1};
    if (inner.depth > MAX_FUN_DEPTH)
        return -1;
    /* module, old index, old uniq, pid, then the free variables. */
    if (add_todo(&inner, 4ULL + numfree))
        return -1;
    while (inner.todo) {
        size_t used;
        inner.todo--;
        if (walk(inner.p, inner.left, inner.depth, &used))
            return -1;
        adv(&inner, used);
        if (inner.todo > inner.left)
            return -1;
    }
    if (inner.left != 0)
        return -1;
    adv(w, size);
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
        /* ATOM_CACHE_REF, compressed, LOCAL_EXT, old FUN_EXT: never on our links. */
        return -1;
    }
}

static int walk(const char *buf, size_t len, unsigned depth, size_t *used)
{
    walk_t w = {buf, len, 1, depth};
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
    return walk(buf, len, 0, used);
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
