/*
 * The scheduler-side endpoint of a connection: the socket's poll on the scheduler's
 * loop, a transport (xport.h), the {packet, 4} framer for what comes in, the output
 * buffer with its busy limit, and a place on the turn's dirty list. Distribution peers
 * (distribution/peer.c) and daemon sessions (daemon/session.c) are both endpoints; what
 * they do with a frame, and what happens when output has gone out, are their callbacks.
 *
 * A frame's way in: readiness -> the transport's read (TLS: decrypted) -> the framer ->
 * ops->frame. A frame's way out: the owner appends to otpc__ep_out() and marks the
 * endpoint dirty; at the end of the turn (otpc__eps_flush, a turn hook) every dirty
 * endpoint writes its buffer in one call, or hands it to ops->sink when the owner has
 * its own writer (distribution: the connection's output shared with the I/O thread).
 *
 * Invariants: reading stops while the output not yet taken by the socket reaches
 * busy_limit, while the owner holds it back (otpc__ep_set_reading, may_read), and for
 * good after an end (EOF, an error, a frame above max_frame: ops->ended, once); output
 * is written only once the transport's handshake is done; the endpoint is freed only
 * when its poll handle is closed, never inside one of its own callbacks, and
 * ops->freed tells the owner; an fd is closed only when the endpoint owns it, and only
 * after unread input was drained (closing over unread bytes sends a reset that can
 * destroy the last frame before the peer reads it). Scheduler thread only.
 */
#ifndef OTPC_TRANSPORT_ENDPOINT_H
#define OTPC_TRANSPORT_ENDPOINT_H

#include <stdint.h>
#include <uv.h>

#include "transport/framer.h"
#include "transport/xport.h"

typedef struct otpc__ep otpc__ep_t;

/* The endpoints of one scheduler: its loop and the turn's dirty list. */
typedef struct {
    uv_loop_t *loop;
    otpc__ep_t *dirty;
    /* Run after a readiness event was handled (the node's turn); NULL: nothing. */
    void (*turn)(void *ctx);
    void *turn_ctx;
} otpc__eps_t;

/* Why reading ended by itself. */
typedef enum {
    OTPC__EP_EOF,    /* the peer closed its side (TLS: close_notify or EOF) */
    OTPC__EP_BROKEN, /* a socket error: nothing more can be written either */
    OTPC__EP_PROTO,  /* the transport failed (TLS); its alert may still go out */
    OTPC__EP_TOOBIG, /* a frame header above max_frame; size is what it announced */
    OTPC__EP_NOMEM,
} otpc__ep_end_t;

typedef struct {
    /* A whole frame, borrowed for the call (len 0: a tick or keepalive). Nonzero stops
     * this read; the owner has decided (it may have called otpc__ep_set_reading). */
    int (*frame)(void *ctx, const char *data, size_t len);
    /* Reading ended by itself (once). why: one line. */
    void (*ended)(void *ctx, otpc__ep_end_t kind, const char *why, uint64_t size);
    /* optional: the transport's handshake completed (at attach for TCP) */
    void (*established)(void *ctx);
    /* optional: asked before each read; 0 holds reading back until the owner calls
     * otpc__ep_set_reading(e, 1) again */
    int (*may_read)(void *ctx);
    /* optional: after a readiness event was handled, instead of the set's turn */
    void (*after_io)(void *ctx);
    /* optional: after output was written (or handed to sink); nonzero keeps the
     * endpoint on the dirty list, to be looked at again after the next turn */
    int (*flushed)(void *ctx);
    /* optional: take the output instead of the transport (swap or copy it out, leave
     * the buffer empty) */
    void (*sink)(void *ctx, otpc__buf_t *out);
    /* optional: the endpoint's memory is gone (after otpc__ep_free) */
    void (*freed)(void *ctx);
} otpc__ep_ops_t;

typedef struct {
    size_t max_frame;   /* largest frame accepted */
    size_t frame_keep;  /* framer: an emptied buffer up to this size is kept */
    int read_into;      /* 1: read straight into the framer (a large frame lands in one
                         * buffer); 0: read into a per-thread buffer and feed the
                         * framer, so an idle endpoint holds no input buffer */
    size_t read_budget; /* bytes read per readiness event before others get a turn */
    size_t busy_limit;  /* output at which reading stops (0: never) */
    size_t out_keep;    /* an emptied output buffer above this is given back (0: keep) */
} otpc__ep_conf_t;

/* A new endpoint, not attached to a socket yet (output may be queued: it is written
 * once attached). NULL on ENOMEM. ops is borrowed (static), conf copied. */
otpc__ep_t *otpc__ep_new(otpc__eps_t *set, const otpc__ep_ops_t *ops, void *ctx,
                         const otpc__ep_conf_t *conf);

/* Start on a socket through x (owned by the endpoint from now on, whatever the
 * result). own_fd: close the fd when freed. Runs the handshake as far as it goes and
 * polls. 0, or OTPC_ENOMEM / OTPC_EIO (the endpoint stays unattached). */
int otpc__ep_attach(otpc__ep_t *e, otpc__xport_t *x, int own_fd);

/* Bytes that belong to the stream but were read elsewhere (after the distribution
 * handshake): framed as if just read. */
void otpc__ep_inject(otpc__ep_t *e, const char *data, size_t len);

/* The output buffer: append whole frames, then otpc__ep_dirty (which waits for an
 * attached socket, or a sink). */
otpc__buf_t *otpc__ep_out(otpc__ep_t *e);
void otpc__ep_dirty(otpc__ep_t *e);
/* Output not taken by the socket yet: the buffer and what the transport holds. */
size_t otpc__ep_backlog(const otpc__ep_t *e);
/* Write (or sink) the output now, outside the turn's flush. */
void otpc__ep_flush(otpc__ep_t *e);
/* Forget the output (the peer cannot take it any more). */
void otpc__ep_drop_output(otpc__ep_t *e);

/* Read or not (0 stops until 1; after an end, reading stays off). */
void otpc__ep_set_reading(otpc__ep_t *e, int on);
/* Stop watching the socket for input for a while, without ending reading. */
void otpc__ep_pause(otpc__ep_t *e, int on);
/* Read what the socket has, up to the read budget, handing out frames. For an owner
 * that pauses (a nap) and reads when it chooses. 0, or 1 once reading has ended. */
int otpc__ep_read(otpc__ep_t *e);
/* Hand out the whole frames already read and kept in the framer (the owner stopped a
 * read in their middle, by its frame callback's nonzero, and reads again). Endpoints
 * that read straight into the framer (read_into) only. */
void otpc__ep_replay(otpc__ep_t *e);
/* Bytes the framer holds (a partial frame). */
size_t otpc__ep_pending_input(const otpc__ep_t *e);
/* Give back the input buffer (reading has stopped for good). Not from ops->frame. */
void otpc__ep_drop_input(otpc__ep_t *e);
/* uv_now() of the last bytes read, on the endpoint's loop. */
uint64_t otpc__ep_last_rx(const otpc__ep_t *e);
/* Its loop's time, brought up to date (the loop's scheduler may have slept). */
uint64_t otpc__ep_now(otpc__ep_t *e);
/* The loop it is polled on: its scheduler's. Handles of the owner that go with the
 * socket (a timerfd it watches instead) belong there too. */
uv_loop_t *otpc__ep_loop(const otpc__ep_t *e);
/* The transport's handshake is done: frames can go out. */
int otpc__ep_established(const otpc__ep_t *e);

/* No more polling (the fd stays open and is not read again); the input buffer goes. */
void otpc__ep_stop(otpc__ep_t *e);
/* Stop, drop the dirty mark, close the fd if owned, free the transport and buffers;
 * the memory goes once the poll handle is closed (ops->freed then). */
void otpc__ep_free(otpc__ep_t *e);

/* The turn hook: every dirty endpoint writes (or sinks) its output. */
void otpc__eps_flush(otpc__eps_t *set);

#endif
