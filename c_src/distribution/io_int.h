/*
 * Internals shared by the I/O thread's files (io.c: thread, listener, epmd, connects;
 * conn.c: one connection). Only the I/O thread touches these fields, except
 * `refs` (atomic) and the output group under out_lock.
 */
#ifndef OTPC_DIST_IO_INT_H
#define OTPC_DIST_IO_INT_H

#include <stdatomic.h>
#include <uv.h>

#include "proto/handshake.h"
#include "distribution/io.h"
#include "transport/tls.h"
#include "util/wake.h"

/* A peer's, epmd's or the listener's address, IPv4 or IPv6. */
typedef union {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
} otpc__addr_t;

typedef enum { C_RESOLVING, C_CONNECTING, C_HANDSHAKE, C_UP, C_CLOSING } conn_state_t;

struct otpc__conn {
    otpc__io_t *io;
    atomic_int refs;
    conn_state_t state;
    int initiator;
    int superseded; /* lost a simultaneous connect: no OTPC__EV_FAILED for it */
    int unproven;   /* incoming and not up yet: counted in io->unproven */
    int handles;    /* open uv handles; freed from the last close callback */
    uint32_t id;
    uv_tcp_t tcp;
    uv_timer_t timer; /* setup timeout, then the tick timer */
    otpc__hs_t hs;
    char peer[OTPC__NODE_NAME_MAX + 1];
    uint64_t peer_flags;
    otpc__buf_t rbuf;         /* reassembly, during the handshake */
    _Atomic uint64_t last_rx; /* written by the scheduler once it reads the socket */
    uint64_t last_tx;
    /* Once up, the scheduler reads the socket (handed_over); the I/O thread keeps the
     * fd open until the scheduler has let go of it (released), so a closed and reused
     * fd number can never reach the scheduler's poll. */
    int handed_over, released, tcp_deferred;
    /* output: whoever holds out_lock may write to fd while the I/O thread owns no
     * bytes (io_owns == 0); otherwise bytes go to shared and the I/O thread writes
     * them from wr */
    uv_mutex_t out_lock;
    otpc__buf_t out_shared;
    int out_dead;
    int fd;      /* the socket once up, else -1 */
    int io_owns; /* bytes queued for, or in flight on, the I/O thread */
    otpc__buf_t out_wr;
    /* Bytes the I/O thread holds for the peer (out_shared plus a write in flight):
     * written under out_lock, read by the scheduler without it. want_drain: the
     * scheduler has processes waiting for this to fall below cfg.busy_limit. */
    _Atomic size_t queued;
    atomic_int want_drain;
    _Atomic size_t drain_below; /* the level want_drain waits for (below busy_limit) */
    int writing;
    int close_after_write;
    char close_reason[400];
    uv_write_t wreq;
    /* TLS distribution: the engine. Until OTPC__EV_UP only the I/O thread uses it;
     * from then on only whoever holds out_lock: the scheduler reads through it (see
     * otpc__conn_xport) and both threads encrypt under the lock, so records reach the
     * socket in the order they were made. `sealed` is the ciphertext on its way. */
    otpc__tls_t *tls;
    otpc__buf_t sealed;
    int dist_started;     /* the distribution handshake began (TLS: once TLS was up) */
    const char *dead_why; /* why out_dead was set while the connection was open */
    struct otpc__conn *next;
};

struct otpc__io {
    otpc__io_cfg_t cfg;
    uv_loop_t loop;
    uv_thread_t thread;
    otpc__wake_t wake; /* commands from the scheduler */
    otpc__mq_t cmds;
    uv_tcp_t listener;
    uint16_t port;
    uint32_t creation;
    uint64_t flags; /* what we announce */
    int ready;
    int stopping;
    /* epmd registration */
    uv_tcp_t epmd;
    int epmd_open;
    int epmd_tries;
    int epmd_off; /* registration given up (tolerated) or never tried (no_epmd) */
    uv_timer_t epmd_timer;
    uv_timer_t stop_timer;
    uv_connect_t epmd_creq;
    otpc__buf_t epmd_buf;
    uv_write_t epmd_wreq;
    otpc__conn_t *conns;
    uint32_t next_id;
    unsigned unproven;      /* incoming connections still in their handshake */
    uint64_t cap_warned_at; /* when the handshake cap was last reported */
    /* TLS distribution (NULL: plain TCP); replaced when certificates are re-read,
     * which connections in progress do not notice (each SSL holds its context). */
    otpc__tls_ctx_t *tls_server, *tls_client;
    char tls_in[2048]; /* ciphertext of a connection in setup, fed to its engine at once */
};

/* Until a peer has proved the cookie: bytes read at a time (conn.c) */
#define OTPC__HS_READ 512

/* io.c: addresses in the distribution's family */
void otpc__addr_set_port(otpc__addr_t *a, uint16_t port);
/* This machine (127.0.0.1 or ::1). */
void otpc__addr_loopback(const otpc__io_t *io, uint16_t port, otpc__addr_t *a);

/* dial.c: connect to `node` (OTPC__CMD_CONNECT). */
void otpc__io_connect(otpc__io_t *io, const char *node);

/* conn.c, for conn_tls.c */
/* The TLS engine's records to the connection's output, under out_lock (or before
 * OTPC__EV_UP, on the I/O thread). 1 when the I/O thread must be told. */
int otpc__conn_append_records(otpc__conn_t *c);
/* Handshake messages in rbuf: bytes consumed, or -1 when closing or up. */
ssize_t otpc__conn_read_handshake(otpc__conn_t *c);
/* The distribution handshake begins (TLS: once TLS is up). 0, or -1 when closing. */
int otpc__conn_start_dist(otpc__conn_t *c);

/* conn_tls.c */
/* The engine for a connection that starts; a client's first flight goes out. 0, or -1
 * when the connection is closing. */
int otpc__conn_tls_setup(otpc__conn_t *c);
/* Ciphertext read during setup. */
void otpc__conn_tls_input(otpc__conn_t *c, const char *data, size_t len);

/* conn.c */
otpc__conn_t *otpc__conn_new(otpc__io_t *io, int initiator, const char *peer);
/* The socket is connected (either way): start reading and the handshake. */
void otpc__conn_start(otpc__conn_t *c);
void otpc__conn_flush(otpc__conn_t *c);
void otpc__conn_close(otpc__conn_t *c, const char *reason);
void otpc__conn_close_soon(otpc__conn_t *c, const char *reason);
otpc__conn_t *otpc__io_find(otpc__io_t *io, const char *peer, const otpc__conn_t *except);
uint64_t otpc__now_ms(otpc__io_t *io);
/* After a "nok": report OTPC__EV_FAILED for `peer` if it has not connected to us by the
 * setup timeout. */
void otpc__io_await_peer(otpc__io_t *io, const char *peer);

/* OTPC__EV_FAILED for node with reason (both NUL-terminated in the record). */
void otpc__io_failed(otpc__io_t *io, const char *node, const char *reason);

#endif
