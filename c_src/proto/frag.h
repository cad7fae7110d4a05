/*
 * Distribution headers and fragmented messages (pure: no I/O).
 *
 * Once both nodes announced DFLAG_FRAGMENTS or DFLAG_DIST_HDR_ATOM_CACHE, every packet
 * of the connection begins with a distribution header instead of 'p' (ERTS:
 * erts_prepare_dist_ext), both ways:
 *
 *   131 68 N                        a whole message
 *   131 69 SequenceId FragmentId N  the first fragment of a message
 *   131 70 SequenceId FragmentId    a further fragment
 *
 * (ids are 64-bit big-endian). N is the number of atom cache references, followed by
 * them when it is not 0 (atomcache.h); only a peer that agreed DIST_HDR_ATOM_CACHE may
 * send any. The terms after a header carry no version byte. FragmentId counts down to 1,
 * the last fragment; the control message lies whole in the first fragment and the
 * payload is cut anywhere. Headers are used when FRAGMENTS or DIST_HDR_ATOM_CACHE is
 * agreed (ERTS: either); fragments only with FRAGMENTS.
 *
 * The control decoder (ctrl.h) reads the pass-through form, 'p' then each term with its
 * version byte, and no atom cache references. A whole message without references is
 * rewritten into that form in place (the header leaves room for both version bytes);
 * one with references is written out in it, each reference as its atom
 * (otpc__frag_whole: a copy, at most a packet's size); a fragmented one is rebuilt in it
 * by the reassembly table, its references written out once it is complete, where it
 * lies: the atoms grow into headroom kept before it, so a large binary after them does
 * not move (a copy instead when the growth exceeds the headroom, when there are more
 * than 256 references, or when a fun's Size would change); so every message reaches
 * the decoder the same way.
 *
 * The table (one per connection, for its incoming packets): the atom cache, and at most
 * OTPC__FRAG_SEQS sequences in progress, each growing with the bytes that arrived (never
 * with what a FragmentId announces) and never past `max` bytes of message (plus the
 * form's 3 bytes and, for one with references, OTPC__FRAG_HEADROOM), holding the atoms
 * of its first fragment's references; a message with its references written out is
 * bounded by `max` too. A fragment of an unknown sequence, out of order, a sequence
 * id already in progress, more fragments than `max` bytes could carry, a reference to
 * an atom the header does not have, or anything else inconsistent is an error with a
 * static reason, after which the connection must close.
 */
#ifndef OTPC_PROTO_FRAG_H
#define OTPC_PROTO_FRAG_H

#include <stddef.h>
#include <stdint.h>

#include "proto/atomcache.h"
#include "util/buf.h"

#define OTPC__DHDR_NORMAL 68    /* DIST_HEADER */
#define OTPC__DHDR_FIRST 69     /* DIST_FRAG_HEADER */
#define OTPC__DHDR_CONT 70      /* DIST_FRAG_CONT */
#define OTPC__DHDR_NORMAL_LEN 3 /* without references */
#define OTPC__DHDR_FIRST_LEN 19
#define OTPC__DHDR_CONT_LEN 18

/* What a connection agreed (otpc__dhdr_parse's `agreed`). */
#define OTPC__DH_FRAGMENTS 1 /* DFLAG_FRAGMENTS */
#define OTPC__DH_CACHE 2     /* DFLAG_DIST_HDR_ATOM_CACHE */

/* Headroom before a sequence whose first fragment has atom cache references: written
 * out, its atoms grow into it, so the bytes after its last reference do not move. */
#define OTPC__FRAG_HEADROOM 1024

/* Sequences a connection may have in progress at once (ERTS sets no bound: one per
 * sending process; 64 senders of large messages at once is far beyond what a node
 * does, and each costs at most max_message). */
#define OTPC__FRAG_SEQS 64

typedef struct {
    int kind;       /* OTPC__DHDR_NORMAL, _FIRST or _CONT */
    uint64_t seq;   /* _FIRST, _CONT */
    uint64_t frag;  /* _FIRST, _CONT: fragments left, this one included */
    unsigned nrefs; /* _NORMAL, _FIRST: atom cache references */
    size_t refs;    /* offset of the references section (nrefs > 0) */
    size_t body;    /* offset of what follows the header */
} otpc__dhdr_t;

/* Classify a packet of a connection with headers (len > 0), which `agreed` the
 * OTPC__DH_* bits: a fragment without FRAGMENTS, references without
 * DIST_HDR_ATOM_CACHE, a references section cut short are malformed. 0, or OTPC_EPROTO
 * with a static reason. */
int otpc__dhdr_parse(const char *pkt, size_t len, unsigned agreed, otpc__dhdr_t *h,
                     const char **why);

/* Write a header into out (OTPC__DHDR_*_LEN bytes); return its length. */
size_t otpc__dhdr_put_normal(char *out);
size_t otpc__dhdr_put_first(char *out, uint64_t seq, uint64_t frag);
size_t otpc__dhdr_put_cont(char *out, uint64_t seq, uint64_t frag);

/* A whole message without references (header 131 68 0, then Ctl and maybe Payload,
 * unversioned) rewritten in place into the pass-through form 'p' 131 Ctl [131 Payload],
 * which starts at pkt and is *plen bytes long. 0, or OTPC_EPROTO with a static reason
 * (references, or the control term is malformed; the packet is then left as it was). */
int otpc__dhdr_to_pass(char *pkt, size_t len, size_t *plen, const char **why);

/* The pass-through form of a whole message: 'p' 131 Ctl [131 Payload] (pkt is 'p'-form,
 * ctl and payload versioned) turned into 131 68 0 Ctl [Payload] (unversioned), written
 * to out (len + 1 bytes at most). Returns its length, or 0 when pkt is not such a
 * message. For frames queued before the flags were known. */
size_t otpc__dhdr_from_pass(const char *pkt, size_t len, char *out);

typedef struct {
    uint64_t seq;
    uint64_t next;         /* FragmentId the next fragment must carry */
    size_t bytes;          /* the message's bytes so far (its terms, unversioned) */
    size_t ctl;            /* its control term's */
    size_t base;           /* headroom before it in buf: 0, or OTPC__FRAG_HEADROOM */
    otpc__buf_t buf;       /* the message so far, in pass-through form, after the headroom */
    otpc__acrefs_t *atoms; /* its header's references (NULL: none) */
} otpc__fseq_t;

typedef struct otpc__frag_tab {
    otpc__fseq_t seqs[OTPC__FRAG_SEQS];
    unsigned n;           /* in progress: seqs[0..n) */
    size_t max;           /* largest message (its pass-through form's terms) */
    otpc__buf_t done;     /* the last message completed, until the next call */
    otpc__acin_t *cache;  /* the incoming atom cache, from the first reference on */
    otpc__acrefs_t atoms; /* a whole message's references */
} otpc__frag_tab_t;

/* A table for messages of at most `max` bytes. */
void otpc__frag_init(otpc__frag_tab_t *t, size_t max);

/* The caller took the completed message's buffer (t->done.data, malloc'd; a mailbox
 * item keeps it now): the table forgets it. */
void otpc__frag_done_taken(otpc__frag_tab_t *t);

/* A whole message with references (h: _NORMAL, nrefs > 0): the header applied to the
 * cache, the message written out in pass-through form with its references as atoms.
 * 1 with *msg, *mlen (valid until the next call on t), OTPC_EPROTO with a static reason
 * (a malformed header or term, a message past `max` with its atoms written out), or
 * OTPC_ENOMEM. */
int otpc__frag_whole(otpc__frag_tab_t *t, const otpc__dhdr_t *h, const char *pkt, size_t len,
                     const char **msg, size_t *mlen, const char **why);

/* Add the fragment pkt[0..len) whose header is h (_FIRST or _CONT). Returns 0 when the
 * message is not complete, 1 when it is (*msg, *mlen: its pass-through form, valid
 * until the next call on t), OTPC_EPROTO with a static reason, or OTPC_ENOMEM. */
int otpc__frag_add(otpc__frag_tab_t *t, const otpc__dhdr_t *h, const char *pkt, size_t len,
                   const char **msg, size_t *mlen, const char **why);

/* Bytes held by sequences in progress. */
size_t otpc__frag_pending(const otpc__frag_tab_t *t);

/* Forget every sequence in progress and the atom cache, and give back all memory. */
void otpc__frag_free(otpc__frag_tab_t *t);

#endif
