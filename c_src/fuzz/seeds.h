/*
 * What the seed writers share: fuzz/seeds.c (main; the daemon, epmd, TLS and format
 * seeds) and fuzz/seeds_dist.c (fuzz_framing's distribution packets).
 */
#ifndef OTPC_FUZZ_SEEDS_H
#define OTPC_FUZZ_SEEDS_H

#include <ei.h>
#include <stddef.h>

#include "util/buf.h"

/* Print what failed and exit 1. */
void seed_die(const char *what);
/* Write b as the seed DIR/target/name. */
void seed_put(const char *target, const char *name, const otpc__buf_t *b);
void seed_add(otpc__buf_t *b, const void *p, size_t n);
void seed_add_bytes(otpc__buf_t *b, size_t n, const unsigned char *p);
#define SEED_ADD(b, ...)                                            \
    seed_add_bytes(b, sizeof((const unsigned char[]){__VA_ARGS__}), \
                   (const unsigned char[]){__VA_ARGS__})
/* A {packet, 4} frame holding x's bytes (with `prefix` before them, e.g. 'p'). */
void seed_frame(otpc__buf_t *b, const char *prefix, const ei_x_buff *x);
/* A buffer with the version byte. */
void seed_x_new(ei_x_buff *x);

/* seeds_dist.c: a stream of a peer's distribution packets in the pass-through form (4-byte
 * frames, ticks among them), and fuzz_framing's seeds. */
void seed_dist_stream(otpc__buf_t *s);
void seed_framing(void);

#endif
