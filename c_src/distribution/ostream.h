/*
 * Output streams: large messages to a peer that takes fragments, cut into fragments and
 * interleaved with everything else sent to that peer (scheduler thread only).
 *
 * A message whose frame is above OTPC__FRAG_SIZE, to a peer up with DFLAG_FRAGMENTS
 * agreed, does not go into the peer's endpoint output whole: it is cut into fragments of
 * OTPC__FRAG_SIZE bytes (131 69 / 131 70 headers, proto/frag.h) on its sender's stream,
 * and each turn moves whole frames from the streams to the endpoint output, one frame
 * per stream in turn, while the peer's backlog (endpoint output plus what the I/O
 * thread holds) is below half of busy_limit, and at most OTPC__EMIT_BUDGET bytes per
 * turn. So a small message of another process waits behind at most about half of
 * busy_limit, not behind 64 MiB, and the busy limit of the other senders keeps its
 * meaning (the fragments never fill it).
 *
 * Order: a stream belongs to one sender (the process the signal is from). While it
 * exists, every frame of that sender to that peer, small or large, message, EXIT or
 * MONITOR_P_EXIT, joins the stream behind the large message, so nothing of a process
 * overtakes its earlier signals; the stream goes when it is empty. Frames without a
 * sender go straight to the output.
 *
 * Busy: a sender whose stream holds busy_limit or more is parked (core's `parked`, the
 * peer's key, as a busy peer parks) after its callback, and woken when the stream falls
 * below busy_limit, or when the peer goes (its streams are then dropped with the rest of
 * its output, as Erlang drops messages to a node that went down).
 */
#ifndef OTPC_DISTRIBUTION_OSTREAM_H
#define OTPC_DISTRIBUTION_OSTREAM_H

#include "distribution/dist_int.h"

/* Bytes of message per fragment: ERTS's own fragment size (ERTS_DIST_FRAGMENT_SIZE).
 * A small message waits behind a few of them per stream at most; the 22 bytes of
 * header cost 0.03%. Messages whose frame is larger go as fragments. */
#define OTPC__FRAG_SIZE (64 * 1024)
/* Bytes moved from streams to a peer's output per turn at most (the backlog's half of
 * busy_limit bounds it first unless -zdbbl is large), so one peer's large messages
 * never hold the scheduler for long. Each refill costs a loop iteration: 256 KiB per
 * turn measured at half the throughput of 1 MiB (bench/frag_run). */
#define OTPC__EMIT_BUDGET (1024 * 1024)

/* A message after its header, in up to three pieces (control, payload, tail). */
typedef struct {
    const char *seg[3];
    size_t len[3];
} otpc__osrc_t;

/* The stream of `from` on p, if it has one (from may be NULL: none). */
otpc__ostream_t *otpc__os_find(otpc__peer_t *p, const otpc_pid_t *from);

/* Queue a message on from's stream (created if needed): as fragments when `frag` (its
 * control message, the first `ctl` bytes, fits in the first one), else whole with the
 * normal header. 0 or OTPC_ENOMEM (nothing queued). */
int otpc__os_queue(otpc_node_t *n, otpc__peer_t *p, const otpc_pid_t *from, const otpc__osrc_t *src,
                   size_t ctl, int frag);

/* Move frames from the streams to the output while the backlog allows (see above).
 * Returns 1 when streams remain and the backlog has room (call again next turn), 0
 * otherwise. */
int otpc__os_emit(otpc_node_t *n, otpc__peer_t *p);

/* Bytes the streams hold. */
size_t otpc__os_pending(const otpc__peer_t *p);

/* Drop every stream (the peer goes), waking their parked senders. */
void otpc__os_free(otpc_node_t *n, otpc__peer_t *p);

#endif
