/*
 * Control messages counted per peer node and operation, each way, since the node
 * started (reconnections included). They show which form of a signal went on the wire:
 * the suites read them (through the test node's probe) to check that an OTP 28+ peer
 * gets replies as ALTACT_SIG_SEND and an older one as ALIAS_SEND, and that op 37 from
 * OTP 29 reaches the node. Scheduler thread only.
 *
 * Counting costs an array index and an increment; a node's table is allocated on its
 * first count (608 bytes per peer node). A count that cannot be allocated is lost
 * rather than failing the signal: the numbers are diagnostics, never a decision.
 */
#ifndef OTPC_DISTRIBUTION_DSTATS_H
#define OTPC_DISTRIBUTION_DSTATS_H

#include "core/node_int.h"

/* Ops 0..37 each have a slot; an op above (unknown when written) counts in slot 0,
 * which no real op uses. */
#define OTPC__DSTATS_OPS (OTPC__DOP_ALTACT_SIG_SEND + 1)

/* Counted by the schedulers of several domains at once (a peer's reader, the servers
 * that answer over it): atomic. */
typedef struct otpc__dstats {
    _Atomic uint64_t in[OTPC__DSTATS_OPS];  /* decoded from the peer, by the op on the wire */
    _Atomic uint64_t out[OTPC__DSTATS_OPS]; /* queued for the peer */
} otpc__dstats_t;

/* One control message with `node` (an atom), `out` = sent by us. Holding a domain's
 * lock only, a node without its record yet is not counted (otpc__dstats_prepare makes
 * it when its peer is made). */
void otpc__dstats_count(otpc_node_t *n, uint32_t node, int op, int out);
/* Make node's record (holding all). */
void otpc__dstats_prepare(otpc_node_t *n, uint32_t node);
/* The counts with `node`, or NULL when nothing was counted yet. */
const otpc__dstats_t *otpc__dstats_get(const otpc_node_t *n, uint32_t node);
/* At otpc_node_free (distribution/dist.c). */
void otpc__dstats_free(otpc_node_t *n);

#endif
