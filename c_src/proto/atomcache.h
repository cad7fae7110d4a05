/*
 * The atom cache of distribution headers (DFLAG_DIST_HDR_ATOM_CACHE), both ways (pure).
 *
 * With the flag agreed, a distribution header (frag.h: 131 68 N, or a first fragment's
 * 131 69 SeqId FragId N) may carry N (at most 255) atom cache references after N:
 *
 *   Flags       N/2+1 bytes, a half byte per reference (an even one's in the low half):
 *               bit 3 NewCacheEntry, bits 0-2 SegmentIndex; in the half byte after the
 *               last reference's, bit 0 LongAtoms
 *   references  per reference its InternalSegmentIndex (1 byte) and, for a new entry,
 *               the length of its text (2 bytes with LongAtoms, else 1) and the text
 *               (UTF-8, at most 255 characters)
 *
 * A reference names entry SegmentIndex * 256 + InternalSegmentIndex of the connection's
 * cache of 2048 (one each way). A new entry sets it; it keeps that atom until another
 * new entry sets it again. In the terms of the message, ATOM_CACHE_REF (82, I) stands
 * for the atom of the header's I-th reference. The receiver applies headers in the
 * order packets arrive (a fragmented message's with its first fragment), so the sender
 * must choose its references in the order it writes the packets (ERTS: when a buffer
 * is finalised for the socket, erts_encode_ext_dist_header_finalize).
 *
 * In (otpc__acin_*): a header's new entries go into the connection's cache and its
 * references are resolved into atoms, each an encoding ready to copy
 * (SMALL_ATOM_UTF8_EXT, or ATOM_UTF8_EXT above 255 bytes). An atom is shared between
 * its cache entry and the messages that hold it (a count of users), so a message
 * reassembled over later packets keeps its atoms whatever those packets do to the
 * cache, and memory only grows with text that arrived. otpc__acin_expand is the
 * otpc__term_copy hook that writes each reference out as its atom, so nothing past
 * proto/frag ever sees tag 82. A reference to an entry never set, a truncated section,
 * a text of more than 255 characters or not UTF-8 is malformed.
 *
 * Out (otpc__acout_*): the references of one outgoing message, chosen while its terms
 * are copied (otpc__acout_compress, the copy's hook), then its header. The cache on the
 * way out is small: 256 entries (segment 0 only) of atoms of 2 to 63 bytes encoded as
 * SMALL_ATOM_UTF8_EXT (node names, '$gen_call', alias, ok, ...), valid UTF-8 as a
 * peer's cache takes it: each atom may sit in
 * one of two entries (two hashes of its text), and a new one evicts the one of the two
 * used least recently. An atom that is shorter, longer, encoded otherwise, or one past
 * the 255 references of a message stays as it is, so what the peer decodes is the same
 * bytes. A message that is not sent after all must be forgotten (otpc__acout_abort):
 * its new entries never reached the peer.
 */
#ifndef OTPC_PROTO_ATOMCACHE_H
#define OTPC_PROTO_ATOMCACHE_H

#include <stddef.h>
#include <stdint.h>

#define OTPC__AC_SIZE 2048     /* entries of a connection's cache, each way */
#define OTPC__AC_REFS 255      /* references of one header, at most */
#define OTPC__AC_MAX_TEXT 1020 /* an atom's text: 255 characters of up to 4 bytes */

/* An atom of the incoming cache, encoded as in a term. */
typedef struct {
    uint32_t users; /* its cache entry, and every reference holding it */
    uint16_t len;   /* of ext */
    char ext[];
} otpc__acatom_t;

typedef struct {
    otpc__acatom_t *e[OTPC__AC_SIZE]; /* NULL: never set */
} otpc__acin_t;

/* The atoms of one header's references, in order; each held. */
typedef struct {
    unsigned n;
    otpc__acatom_t *a[OTPC__AC_REFS];
} otpc__acrefs_t;

/* The size of the references section of a header with n > 0 references, which starts
 * at p[0..len) (just after N), its structure checked: every index, length and text
 * present. 0, or OTPC_EPROTO with a static reason. */
int otpc__achdr_size(const char *p, size_t len, unsigned n, size_t *size, const char **why);

/* Apply the section at p (checked by otpc__achdr_size) to c and resolve its n references
 * into r. 0; OTPC_EPROTO with a static reason (a reference to an entry never set, an
 * atom's text above 255 characters or not UTF-8) or OTPC_ENOMEM, with r holding nothing.
 * Entries set before the failure stay set: the connection closes anyway. */
int otpc__acin_read(otpc__acin_t *c, const char *p, unsigned n, otpc__acrefs_t *r,
                    const char **why);

/* Let go of r's atoms (r->n becomes 0). */
void otpc__acrefs_release(otpc__acrefs_t *r);

/* Let go of every entry. */
void otpc__acin_free(otpc__acin_t *c);

/* otpc__term_copy's hook, ctx an otpc__acrefs_t: a reference becomes its atom, any other
 * atom stays as it is. */
int otpc__acin_expand(void *ctx, const char *at, size_t len, const char **rep, size_t *rlen);

#define OTPC__ACO_SLOTS 256
#define OTPC__ACO_TEXT 63

typedef struct otpc__acout {
    struct {
        uint8_t len; /* 0: empty */
        char text[OTPC__ACO_TEXT];
    } slot[OTPC__ACO_SLOTS];
    uint32_t last[OTPC__ACO_SLOTS]; /* the message that referenced the entry last */
    uint8_t iref[OTPC__ACO_SLOTS];  /* its reference in the message being built */
    uint32_t msg;                   /* messages begun */
    unsigned n;                     /* references of the message being built */
    uint8_t ref_slot[OTPC__AC_REFS];
    uint8_t ref_new[OTPC__AC_REFS];
    char rep[2];
} otpc__acout_t;

/* A new message: no references yet. */
void otpc__acout_begin(otpc__acout_t *c);

/* otpc__term_copy's hook, ctx an otpc__acout_t: an atom the cache takes becomes a
 * reference (a new entry if it is not cached yet), any other stays as it is. */
int otpc__acout_compress(void *ctx, const char *at, size_t len, const char **rep, size_t *rlen);

/* The message's header from N on (N, then the references section when N > 0): its
 * length, and the bytes written to out (that many bytes of room). */
size_t otpc__acout_hdr_len(const otpc__acout_t *c);
size_t otpc__acout_hdr_put(const otpc__acout_t *c, char *out);

/* The message will not be sent: its new entries are forgotten (empty), so that no later
 * message refers to what the peer never got. */
void otpc__acout_abort(otpc__acout_t *c);

#endif
