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

/* First byte of every encoded term (ei does not export the constant). */
#define ERL_VERSION_MAGIC 131

/* Validate one term (no version byte) at buf[0..len). On success returns 0 and sets
 * *used to its encoded size; OTPC_EBADARG when it is truncated, malformed, or uses an
 * encoding that cannot appear on an otpc connection (atom cache refs, compressed
 * terms, LOCAL_EXT, old FUN_EXT). */
int otpc__term_skip(const char *buf, size_t len, size_t *used);

/* The same for a term that starts with the version byte 131. */
int otpc__term_skip_versioned(const char *buf, size_t len, size_t *used);

/* Decode the atom at buf[*index] (a term already walked) as UTF-8 into out (at least
 * MAXATOMLEN_UTF8 bytes, NUL-terminated) and set *len to its length in bytes. An atom
 * may hold NUL characters ('a\0b' is legal), so *len can exceed strlen(out): compare
 * names by (out, *len), never as C strings, or 'stack\0x' would reach stack.
 * 0, or -1 if the term there is not an atom. */
int otpc__decode_atom(const char *buf, int *index, char *out, size_t *len);

/* UTF-8 encoding of cp (a valid code point) into out (4 bytes of room): its length. */
size_t otpc__utf8_put(uint32_t cp, char *out);

#endif
