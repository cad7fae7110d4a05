/*
 * Bounds-checked walking of the external term format.
 *
 * ei's decoders trust their input: they take no length and read past the end of a
 * truncated term. Every term that arrives from a socket is therefore first walked here,
 * with explicit bounds and without recursion (so deep nesting cannot overflow the C
 * stack); only a term that passed is handed to ei or to user code.
 */
#ifndef OTPC_DIST_TERM_H
#define OTPC_DIST_TERM_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* First byte of every encoded term (ei does not export the constant). */
#define ERL_VERSION_MAGIC 131
/* ATOM_CACHE_REF: index of an atom in the distribution header of its message
 * (proto/atomcache.h); only ever in a message that has such a header. */
#define OTPC__ATOM_CACHE_REF 82

/* Validate one term (no version byte) at buf[0..len). On success returns 0 and sets
 * *used to its encoded size; OTPC_EBADARG when it is truncated, malformed, or uses an
 * encoding that cannot appear on an otpc connection (atom cache refs, compressed
 * terms, LOCAL_EXT, old FUN_EXT). */
int otpc__term_skip(const char *buf, size_t len, size_t *used);

/* The same for a term that starts with the version byte 131. */
int otpc__term_skip_versioned(const char *buf, size_t len, size_t *used);

/* otpc__term_skip for a term of a message whose distribution header has `refs` atom
 * cache references: ATOM_CACHE_REF with an index below `refs` is an atom. */
int otpc__term_skip_refs(const char *buf, size_t len, unsigned refs, size_t *used);

/* Walk one term as otpc__term_skip_refs does, calling `seen` with the place of each
 * ATOM_CACHE_REF in order. 0 with *used; OTPC_EBADARG (malformed); OTPC_ESTATE when the
 * term holds a fun (a rewrite in place could not follow its Size: otpc__term_copy can). */
int otpc__term_find_refs(const char *buf, size_t len, unsigned refs,
                         void (*seen)(void *ctx, const char *at), void *ctx, size_t *used);

/* What stands for the atom at[0..len) (any atom encoding, or ATOM_CACHE_REF) in a copy:
 * *rep, *rlen (which may be the atom itself), valid until the next call. 0, or an
 * OTPC_E* code that ends the copy. */
typedef int (*otpc__term_atom_fn)(void *ctx, const char *at, size_t len, const char **rep,
                                  size_t *rlen);

/* Walk one term (no version byte) at buf[0..len) as otpc__term_skip_refs does, and append
 * it to out with each atom (node names of pids, ports and references included) replaced
 * by what `fn` gives; a fun's Size follows the change. out never grows past `max` bytes
 * (its storage neither). 0 with *used (the input's size); OTPC_EBADARG (malformed),
 * OTPC_ETOOBIG (past max), OTPC_ENOMEM, or fn's code, with out as it was. */
int otpc__term_copy(const char *buf, size_t len, unsigned refs, otpc__term_atom_fn fn, void *ctx,
                    otpc__buf_t *out, size_t max, size_t *used);

/* Decode the atom at buf[*index] (a term already walked) as UTF-8 into out (at least
 * MAXATOMLEN_UTF8 bytes, NUL-terminated) and set *len to its length in bytes. An atom
 * may hold NUL characters ('a\0b' is legal), so *len can exceed strlen(out): compare
 * names by (out, *len), never as C strings, or 'stack\0x' would reach stack.
 * 0, or -1 if the term there is not an atom. */
int otpc__decode_atom(const char *buf, int *index, char *out, size_t *len);

/* UTF-8 encoding of cp (a valid code point) into out (4 bytes of room): its length. */
size_t otpc__utf8_put(uint32_t cp, char *out);

/* Length of the valid UTF-8 sequence at s[0..left) (left > 0), or 0 (overlong, a
 * surrogate, past U+10FFFF, cut short). */
size_t otpc__utf8_seq(const unsigned char *s, size_t left);

#endif
