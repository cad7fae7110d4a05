/*
 * Internals shared by the daemon (daemon.c: the listener process) and its connections
 * (session.c: one process per accepted socket, parent of one gen_server).
 */
#ifndef OTPC_DAEMON_DAEMON_INT_H
#define OTPC_DAEMON_DAEMON_INT_H

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "transport/transport.h"
#include "otp/gen_server_int.h"

/* Bytes that the connections of one daemon hold in partial frames, against its
 * max_input: what no single connection's max_frame bounds. Shared by the daemon and
 * its sessions, whose schedulers change it each holding only their own lock: atomic.
 * Whoever lets go last frees it. */
typedef struct {
    _Atomic size_t held;
    size_t limit;
    _Atomic unsigned refs;
} otpc__dbudget_t;

static inline void otpc__dbudget_release(otpc__dbudget_t *b)
{
    if (b && atomic_fetch_sub(&b->refs, 1) == 1)
        free(b);
}

/* What a connection needs from its daemon; borrowed for otpc__session_start only. */
typedef struct {
    int fd;            /* accepted, non-blocking; owned by the session now */
    otpc_pid_t daemon; /* linked: its exit shuts the connection down */
    const otpc_gen_server_t *mod;
    otpc_term_t arg;      /* versioned; copied by the server's start */
    otpc__tls_ctx_t *tls; /* NULL: plain TCP */
    size_t max_frame;
    unsigned handshake_timeout; /* ms, TLS only */
    unsigned idle_timeout;      /* ms; 0: none */
    otpc__dbudget_t *budget;    /* the session takes a reference */
} otpc__sess_conf_t;

/* Spawn the connection process for an accepted socket and start its server, linked to
 * it, with the module and argument of c. The socket belongs to the session from the
 * call on, whatever the outcome. 0 with *conn and *server set; otherwise the socket is
 * closed (after an {exit, Reason} frame when init stopped or ignored, on TCP) and the
 * start's error is returned (OTPC_IGNORED and OTPC_ESTOPPED included). */
int otpc__session_start(otpc_node_t *n, const otpc__sess_conf_t *c, otpc_pid_t *conn,
                        otpc_pid_t *server);

/* Why a daemon did not start: kind "listen" (detail: the errno's name, an atom),
 * "tls" (detail: OpenSSL's reason) or "badopt" (detail: the option). */
typedef struct {
    char kind[16];
    char detail[160];
    int detail_is_atom;
} otpc__derr_t;

/* Every TLS daemon of the node reads its certificate, key and CA files again;
 * connections accepted from now on use them. 0, or OTPC_EINVAL with the last failure
 * in err (a daemon that failed keeps what it had). */
int otpc__daemons_reload_tls(otpc_node_t *n, char *err, size_t cap);

int otpc__daemon_start(otpc_node_t *n, const otpc_gen_server_t *mod, otpc_term_t arg,
                       const otpc_daemon_opts_t *opts, const otpc_pid_t *owner, otpc_pid_t *out,
                       otpc__derr_t *e);

#endif
