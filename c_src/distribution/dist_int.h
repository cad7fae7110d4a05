/*
 * The distribution layer's state and its scheduler-side functions: peers (other nodes
 * as the scheduler sees them), the I/O thread handle and its event queue. Only the
 * scheduler thread touches these; the I/O thread has its own (io_int.h).
 */
#ifndef OTPC_DISTRIBUTION_DIST_INT_H
#define OTPC_DISTRIBUTION_DIST_INT_H

#include "core/node_int.h"
#include "distribution/io.h"
#include "transport/transport.h"

/* ---- peers (the scheduler's view of other nodes) ---------------------------------- */

typedef struct {
    uv_poll_t poll; /* first: the close callback gets it as the whole */
    int tfd;        /* timerfd */
} otpc__nap_t;

/* A sender's large messages and what it sent after them (distribution/ostream.h). */
typedef struct otpc__ostream {
    otpc_pid_t sender;
    otpc__buf_t q; /* whole wire frames (fragments and frames behind them), in order */
    size_t head;   /* bytes of q already moved to the output */
    int parked;    /* its sender waits for the stream to fall below busy_limit */
} otpc__ostream_t;

struct otpc__frag_tab;
struct otpc__acout;

typedef struct otpc__peer {
    otpc_node_t *n;
    uint32_t node;      /* atom */
    unsigned home;      /* the scheduler whose domain it is (its loop reads the socket) */
    otpc__conn_t *conn; /* NULL while the connection is being set up */
    otpc__ep_t *ep;     /* frames out (to conn's writer), and the socket's input once up */
    int reading;        /* the endpoint polls the socket: from OTPC__EV_UP until down */
    otpc__nap_t *nap;   /* the coalescing timer, once used */
    int napping;        /* the endpoint does not watch the socket while the timer runs */
    int msgs;           /* messages in the packets read since the last look */
    char why[200];      /* set when the connection must close */
    int got_avg16;      /* messages per read lately, x16 (peer_read.c's nap) */
    uint64_t flags;
    otpc__vec_t waiters; /* of otpc_pid_t: processes parked until this peer drains */
    /* What the handshake agreed (known at OTPC__EV_UP): with FRAGMENTS or
     * DIST_HDR_ATOM_CACHE (`dh`: OTPC__DH_* bits) every packet both ways has a
     * distribution header (proto/frag.h); `fragments`: large messages go as fragments */
    int headers, fragments;
    unsigned dh;
    struct otpc__frag_tab *frags_in; /* headers in: reassembly, atom cache; NULL until used */
    struct otpc__acout *acout;       /* the atom cache out, with DIST_HDR_ATOM_CACHE */
    otpc__ostream_t **streams;       /* ostream.h: senders with large messages out */
    uint32_t nstreams, streams_cap;
    uint32_t rr;                /* the stream whose turn it is */
    uint64_t next_seq;          /* the sequence id of the next fragmented message */
    otpc__buf_t acterms, acpay; /* put_cached: a frame's terms with cache references */
    /* Read holding only its domain's lock: a packet that needs every lock waits in
     * `held` (reading stopped) until `later` runs it holding all (peer_read.c). */
    otpc__defer_t later;
    otpc__buf_t held;
    int holding;     /* `held` has a message */
    int later_close; /* give up (p->why) holding all */
    int later_pump;  /* waiters or streams to move on, holding all */
} otpc__peer_t;

/* What the node does when epmd gave it a creation, or when it cannot start. */
typedef void (*otpc__dist_ready_fn)(otpc_node_t *n, uint32_t creation);
typedef void (*otpc__dist_fatal_fn)(otpc_node_t *n, const char *reason, size_t len);

typedef struct {
    otpc__io_t *io; /* the I/O thread, while the node runs */
    otpc__dist_ready_fn ready;
    otpc__dist_fatal_fn fatal;
    otpc__mq_t events;    /* from the I/O thread (EV_*), woken through the node's wake */
    otpc__peer_t **peers; /* by atom id */
    uint32_t peers_cap;
    otpc__tls_conf_t tls_server, tls_client; /* TLS distribution: the I/O thread's */
    uv_idle_t emit_idle;                     /* a turn soon while streams can move on (ostream.h) */
    int emit_idle_init;

    /* dstats.c: counts by node atom id, NULL until something was counted */
    struct otpc__dstats **stats;
    uint32_t stats_cap;
} otpc__dist_t;

extern otpc__ext_key_t otpc__dist_key;

static inline otpc__dist_t *otpc__dist(const otpc_node_t *n)
{
    return (otpc__dist_t *)
        n->ext[atomic_load_explicit(&otpc__dist_key.slot, memory_order_relaxed) - 1];
}

/* Attach the layer's state to a new node and install its remote-signal table. */
int otpc__dist_init(otpc_node_t *n);
/* Start the I/O thread (listen, register with epmd) once the loop and its wake are
 * set up; events arrive through the wake, for otpc__dist_events. */
int otpc__dist_start(otpc_node_t *n, otpc__dist_ready_fn ready, otpc__dist_fatal_fn fatal);
void otpc__dist_events(otpc_node_t *n);
/* Read the TLS distribution files again (otpc_node_reload_tls). */
int otpc__dist_reload_tls(otpc_node_t *n, char *err, size_t cap);
/* Distribution runs over TLS. */
int otpc__dist_uses_tls(const otpc_node_t *n);
/* Stop reading every socket and tell the I/O thread to flush and close all. */
void otpc__dist_stop(otpc_node_t *n);
/* After the loop ended: join the I/O thread and let go of every connection. */
void otpc__dist_join(otpc_node_t *n);

/* peer.c: the scheduler's side of connections, and outgoing control messages */
otpc__peer_t *otpc__peer_get(otpc_node_t *n, uint32_t node_atom, int connect);
/* OTPC__EV_UP: data is "peer\0bytes read past the handshake". */
void otpc__peer_up(otpc_node_t *n, otpc__conn_t *conn, uint64_t flags, const char *data,
                   size_t len);
void otpc__peer_down(otpc_node_t *n, otpc__conn_t *conn, const char *reason);
void otpc__peer_failed(otpc_node_t *n, const char *node, const char *reason);
/* OTPC__EV_DRAINED: the connection's queued output fell below the busy limit. */
void otpc__peer_drained(otpc_node_t *n, otpc__conn_t *conn);
void otpc__peer_close(otpc_node_t *n, otpc__peer_t *p, const char *reason);
void otpc__peers_free(otpc_node_t *n);
otpc__peer_t *otpc__peer_of_conn(otpc_node_t *n, otpc__conn_t *conn);
/* Queue a control message (versioned, built by distribution/dsig.c) plus an optional
 * payload term (versioned), in two pieces (a prefix built here, a body that lives
 * elsewhere, so a large reply is copied once), to the node `node_atom`. `from` is the
 * local process the signal is from (NULL: none): its signals to one peer keep their
 * order (ostream.h). */
int otpc__peer_send(otpc_node_t *n, uint32_t node_atom, const otpc_pid_t *from,
                    const ei_x_buff *ctl, const char *payload, size_t plen, const char *tail,
                    size_t tlen);
/* The peer's backlog: its output not taken by the socket yet, and what the I/O thread
 * holds for it. */
size_t otpc__peer_backlog(const otpc__peer_t *p);
/* A turn soon (the idle handle): streams of p can move on. */
void otpc__peer_emit_soon(otpc_node_t *n);
/* Holding all: processes parked on p's backlog woken, its streams moved on, once the
 * backlog allows. */
void otpc__peer_check_waiters(otpc_node_t *n, otpc__peer_t *p);

/* peer_read.c: a peer's reader, on its domain's loop */
/* Poll the connection's socket (up), after the bytes that came with the handshake. */
void otpc__peer_start_reading(otpc_node_t *n, otpc__peer_t *p, const char *rest, size_t rlen);
/* Stop polling (p's socket goes out of its loop's epoll at once; the nap ends). */
void otpc__peer_stop_reading(otpc__peer_t *p);
/* Stop polling every socket (the node is stopping). */
void otpc__peers_stop_reading(otpc_node_t *n);
/* The endpoint ops of reading (transport/endpoint.h): a packet, the end, after a read. */
int otpc__peer_on_packet(void *ctx, const char *data, size_t len);
void otpc__peer_on_ended(void *ctx, otpc__ep_end_t kind, const char *why, uint64_t size);
void otpc__peer_after_io(void *ctx);
/* p->later (otpc__defer): a held packet, the packets after it, what a read ends with. */
void otpc__peer_on_later(otpc__defer_t *d);

#endif
