/*
 * Distribution headers and fragmented messages (pure: no I/O).
 *
 * Once both nodes announced DFLAG_FRAGMENTS, every packet of the connection begins
 * with a distribution header instead of 'p' (ERTS: erts_prepare_dist_ext), both ways:
 *
 *   131 68 N                        a whole message
 *   131 69 SequenceId FragmentId N  the first fragment of a message
 *   131 70 SequenceId FragmentId    a further fragment
 *
 * (ids are 64-bit big-endian). N is the number of atom cache references, always 0: otpc
 * does not announce DIST_HDR_ATOM_CACHE, so a peer may not use the cache, and a header
 * that does is malformed. The terms after a header carry no version byte. FragmentId
 * counts down to 1, the last fragment; the control message lies whole in the first
 * fragment and the payload is cut anywhere.
 *
 * The control decoder (ctrl.h) reads the pass-through form, 'p' then each term with its
 * version byte. A whole message is rewritten into that form in place (the header leaves
 * room for both version bytes); a fragmented one is rebuilt in it by the reassembly
 * table; so every message reaches the decoder the same way.
 *
 * The reassembly table: at most OTPC__FRAG_SEQS sequences in progress, each growing
 * with the bytes that arrived (never with what a FragmentId announces) and never past
 * `max` bytes of message; a fragment of an unknown sequence, out of order, a sequence id
 * already in progress, more fragments than `max` bytes could carry or anything else
 * inconsistent is an error with a static reason, after which the connection must close.
 */
#ifndef OTPC_PROTO_FRAG_H
#define OTPC_PROTO_FRAG_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define OTPC__DHDR_NORMAL 68 /* DIST_HEADER */
#define OTPC__DHDR_FIRST 69  /* DIST_FRAG_HEADER */
#define OTPC__DHDR_CONT 70   /* DIST_FRAG_CONT */
#define OTPC__DHDR_NORMAL_LEN 3
#define OTPC__DHDR_FIRST_LEN 19
#define OTPC__DHDR_CONT_LEN 18

/* Sequences a connection may have in progress at once (ERTS sets no bound: one per
 * sending process; 64 senders of large messages at once is far beyond what a node
 * does, and each costs at most max_message). */
#define OTPC__FRAG_SEQS 64

typedef struct {
    int kind;      /* OTPC__DHDR_NORMAL, _FIRST or _CONT */
    uint64_t seq;  /* _FIRST, _CONT */
    uint64_t frag; /* _FIRST, _CONT: fragments left, this one included */
    size_t body;   /* offset of what follows the header */
} otpc__dhdr_t;

/* Classify a packet of a connection with fragments agreed (len > 0). 0, or OTPC_EPROTO
 * with a static reason. */
int otpc__dhdr_parse(const char *pkt, size_t len, otpc__dhdr_t *h, const char **why);

/* Write a header into out (OTPC__DHDR_*_LEN bytes); return its length. */
size_t otpc__dhdr_put_normal(char *out);
size_t otpc__dhdr_put_first(char *out, uint64_t seq, uint64_t frag);
size_t otpc__dhdr_put_cont(char *out, uint64_t seq, uint64_t frag);

/* A whole message (header 131 68 0, then Ctl and maybe Payload, unversioned) rewritten
 * in place into the pass-through form 'p' 131 Ctl [131 Payload], which starts at pkt and
 * is *plen bytes long. 0, or OTPC_EPROTO with a static reason (the control term is
 * malformed; the packet is then left as it was). */
int otpc__dhdr_to_pass(char *pkt, size_t len, size_t *plen, const char **why);

/* The pass-through form of a whole message: 'p' 131 Ctl [131 Payload] (pkt is 'p'-form,
 * ctl and payload versioned) turned into 131 68 0 Ctl [Payload] (unversioned), written
 * to out (len + 1 bytes at most). Returns its length, or 0 when pkt is not such a
 * message. For frames queued before the flags were known. */
size_t otpc__dhdr_from_pass(const char *pkt, size_t len, char *out);

typedef struct {
    uint64_t seq;
    uint64_t next;   /* FragmentId the next fragment must carry */
    size_t bytes;    /* the message's bytes so far (its terms, unversioned) */
    otpc__buf_t buf; /* the message so far, in pass-through form */
} otpc__fseq_t;

typedef struct otpc__frag_tab {
    otpc__fseq_t seqs[OTPC__FRAG_SEQS];
    unsigned n;       /* in progress: seqs[0..n) */
    size_t max;       /* largest message (its pass-through form's terms) */
    otpc__buf_t done; /* the last message completed, until the next call */
} otpc__frag_tab_t;

/* A table for messages of at most `max` bytes. */
void otpc__frag_init(otpc__frag_tab_t *t, size_t max);

/* Add the fragment pkt[0..len) whose header is h (_FIRST or _CONT). Returns 0 when the
 * message is not complete, 1 when it is (*msg, *mlen: its pass-through form, valid
 * until the next call on t), OTPC_EPROTO with a static reason, or OTPC_ENOMEM. */
int otpc__frag_add(otpc__frag_tab_t *t, const otpc__dhdr_t *h, const char *pkt, size_t len,
                   const char **msg, size_t *mlen, const char **why);

/* Bytes held by sequences in progress. */
size_t otpc__frag_pending(const otpc__frag_tab_t *t);

/* Forget every sequence in progress and give back all memory. */
void otpc__frag_free(otpc__frag_tab_t *t);

#endif
