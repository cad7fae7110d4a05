/*
 * The I/O thread: everything that touches a socket. It listens, registers with epmd,
 * connects out on request, runs handshakes, frames packets, answers and sends ticks and
 * writes what the scheduler queued. It never runs user code and never decodes a
 * control message, so a slow callback cannot cost a connection its ticks.
 *
 * The scheduler talks to it only through commands (otpc__io_command) and the output
 * buffer of a connection (otpc__conn_append); it hears back through events on the
 * queue given at start:
 *
 *   OTPC__EV_READY   arg = creation          listening and registered with epmd (or, with
 *                                      erl_epmd_port or no_epmd, without it: a random
 *                                      creation, as net_kernel picks for creation -1)
 *   OTPC__EV_FATAL   data = reason           could not start (name taken, no port...)
 *   OTPC__EV_UP      ptr = conn, arg = flags a handshake finished; the record carries one
 *              data = "peer\0bytes"    reference to conn, the scheduler's until OTPC__EV_DOWN;
 *                                      from here the scheduler reads the socket itself,
 *                                      starting with `bytes` (read with the handshake)
 *   OTPC__EV_DOWN    ptr = conn, data=reason the connection is gone; no packet follows
 *   OTPC__EV_FAILED  data = "node\0reason"   an outgoing attempt failed before OTPC__EV_UP
 *   OTPC__EV_DRAINED ptr = conn               what the I/O thread held for conn fell below
 *                                      the level of otpc__conn_want_drain; always
 *                                      before that conn's OTPC__EV_DOWN
 */
#ifndef OTPC_DIST_IO_H
#define OTPC_DIST_IO_H

#include <stddef.h>
#include <stdint.h>

#include "transport/tls.h"
#include "transport/xport.h"
#include "util/buf.h"
#include "util/mq.h"

typedef struct otpc__io otpc__io_t;
typedef struct otpc__conn otpc__conn_t;

enum {
    OTPC__EV_READY = 1,
    OTPC__EV_FATAL,
    OTPC__EV_UP,
    OTPC__EV_DOWN,
    OTPC__EV_FAILED,
    OTPC__EV_DRAINED
};
enum {
    OTPC__CMD_CONNECT = 1,
    OTPC__CMD_WRITE,
    OTPC__CMD_CLOSE,
    OTPC__CMD_RELEASE,
    OTPC__CMD_STOP,
    OTPC__CMD_RELOAD_TLS
};

typedef struct {
    const char *node_name; /* "c1@host", borrowed for the thread's life */
    const char *alive;     /* "c1" */
    const char *cookie;
    int published;
    int no_atom_cache;    /* DIST_HDR_ATOM_CACHE not announced (otpc_node_opts_t) */
    unsigned ticktime_ms; /* net_ticktime */
    uint16_t port;
    unsigned max_handshakes; /* incoming handshakes in progress at once; more are closed */
    size_t busy_limit;       /* queued output past which OTPC__EV_DRAINED is owed (see below) */
    otpc__mq_t *events;      /* the scheduler's queue */
    /* Addressing and epmd (otpc_node_opts_t has the semantics): */
    int inet6;              /* AF_INET6 listener, epmd at ::1, peers resolved to IPv6 */
    uint16_t erl_epmd_port; /* nonzero: listen here, dial every peer here, no PORT_PLEASE2 */
    int start_epmd;         /* spawn epmd when none answers */
    int no_epmd;            /* never contact epmd */
    uint16_t epmd_port;     /* where epmd listens, here and on peers' hosts */
    const char *dist_ip;    /* the listener's address (borrowed), or NULL */
    /* TLS distribution (inet_tls_dist): both NULL for plain TCP, else both set; the
     * files are read at start and again at OTPC__CMD_RELOAD_TLS. Borrowed. */
    const otpc__tls_conf_t *tls_server;
    const otpc__tls_conf_t *tls_client;
} otpc__io_cfg_t;

int otpc__io_start(otpc__io_t **out, const otpc__io_cfg_t *cfg);
/* Thread-safe. OTPC__CMD_CONNECT: data = node name. OTPC__CMD_WRITE / OTPC__CMD_CLOSE / OTPC__CMD_RELEASE:
 * conn, and the command takes over one reference the caller added; OTPC__CMD_CLOSE data =
 * reason. OTPC__CMD_RELEASE: the scheduler no longer polls the socket (after OTPC__EV_DOWN). */
void otpc__io_command(otpc__io_t *io, uint32_t cmd, otpc__conn_t *conn, const char *data,
                      uint32_t len);
/* Read the TLS distribution files again (certificates rotated): connections made from
 * now on use them, those in progress or up keep theirs. 0, or OTPC_EINVAL with a
 * one-line reason in err (the current ones stay). Any thread, while the I/O thread runs. */
int otpc__io_reload_tls(otpc__io_t *io, char *err, size_t cap);
/* Wait for the thread after OTPC__CMD_STOP, then free everything. */
void otpc__io_join(otpc__io_t *io);

/* Connection accessors for the scheduler. The peer fields never change after OTPC__EV_UP. */
const char *otpc__conn_peer(const otpc__conn_t *c);
void otpc__conn_ref(otpc__conn_t *c);
void otpc__conn_unref(otpc__conn_t *c);
/* Move `data` (whole frames) into the connection's output; `data` is left empty.
 * Returns 1 when the I/O thread must be told (OTPC__CMD_WRITE), 0 when it already knows or
 * the connection is dead (then the data is dropped, as Erlang drops messages to a
 * node that went down). */
int otpc__conn_append(otpc__conn_t *c, otpc__buf_t *data);
/* Bytes of output the I/O thread holds for the connection (the socket pushed back). */
size_t otpc__conn_queued(otpc__conn_t *c);
/* Ask for one OTPC__EV_DRAINED once queued output falls below `below` (at most
 * busy_limit). Returns 1 when it already has (no event will come), 0 when the event is
 * owed. A later request replaces the level of an earlier one. */
int otpc__conn_want_drain(otpc__conn_t *c, size_t below);
/* The socket, for the scheduler's reads after OTPC__EV_UP (-1 if unknown). */
int otpc__conn_fd(otpc__conn_t *c);
/* The transport the scheduler reads the connection through after OTPC__EV_UP: TCP on
 * the socket, or the connection's TLS engine under its lock (its output, alerts and
 * key updates included, leaves through the connection's writer). Owned by the caller
 * (x->ops->free); it holds a reference to c. NULL on ENOMEM or without a socket. */
otpc__xport_t *otpc__conn_xport(otpc__conn_t *c);
/* Something arrived: the peer is alive (the I/O thread's net_ticktime check). */
void otpc__conn_touch(otpc__conn_t *c);
/* I/O thread, for OTPC__CMD_RELEASE. */
void otpc__conn_release(otpc__conn_t *c);

#endif
