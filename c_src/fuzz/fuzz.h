/*
 * What every libFuzzer target here shares: CHECK() for documented invariants, guarded
 * copies, and cut plans.
 *
 * libei, libc and OpenSSL are not instrumented, so ASan cannot see them read past a
 * buffer. A guarded copy places bytes flush against a PROT_NONE page: any read past
 * their end, instrumented or not, faults.
 *
 * Sockets hand out bytes in whatever pieces they like; a cut plan, read from the head
 * of the input, says where a stream is cut: one byte k (0..7), then k piece sizes
 * (0..255, an empty piece included), used in turn until the stream is used up. No
 * sizes, or only zeros, feed the stream whole.
 */
#ifndef OTPC_FUZZ_FUZZ_H
#define OTPC_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "invariant broken at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* ---- guarded copies ------------------------------------------------------------------ */

/* A region of `cap` usable bytes followed by one inaccessible page. */
typedef struct {
    char *base;
    size_t cap;
} guard_t;

#define GUARD_CAP (1u << 20) /* inputs larger than this are skipped */

static inline void guard_init(guard_t *g)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    g->cap = (GUARD_CAP + page - 1) / page * page;
    g->base = mmap(NULL, g->cap + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(g->base != MAP_FAILED);
    CHECK(mprotect(g->base + g->cap, page, PROT_NONE) == 0);
}

/* Copy n bytes (n <= g->cap) so that they end exactly at the guard page. */
static inline const char *guard_put(guard_t *g, const void *p, size_t n)
{
    char *dst = g->base + g->cap - n;
    if (n)
        memcpy(dst, p, n);
    return dst;
}

/* ---- cut plans ----------------------------------------------------------------------- */

typedef struct {
    const uint8_t *size; /* piece sizes, used in turn */
    size_t n, next;
    int whole; /* no usable sizes: one piece */
} cuts_t;

/* Read a cut plan from data[0..len); returns the bytes it took (the stream follows). */
static inline size_t cuts_read(cuts_t *c, const uint8_t *data, size_t len)
{
    memset(c, 0, sizeof *c);
    c->whole = 1;
    if (len == 0)
        return 0;
    size_t k = data[0] & 7u;
    if (k > len - 1)
        k = len - 1;
    c->size = data + 1;
    c->n = k;
    for (size_t i = 0; i < k; i++)
        if (c->size[i])
            c->whole = 0;
    return 1 + k;
}

/* The size of the next piece of a stream with `left` bytes to go (0 only for an empty
 * piece while bytes remain, or at the end). */
static inline size_t cuts_next(cuts_t *c, size_t left)
{
    if (c->whole)
        return left;
    size_t s = c->size[c->next];
    c->next = (c->next + 1) % c->n;
    return s < left ? s : left;
}

#endif
