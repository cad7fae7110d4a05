/*
 * A distribution connection over TLS (-proto_dist inet_tls): the TLS half of conn.c.
 * On the I/O thread, until OTPC__EV_UP: the engine's handshake, then the distribution
 * handshake read as plaintext from it. On the scheduler thread, once up: the transport
 * its endpoint reads through (otpc__conn_xport), over the same engine.
 *
 * Invariants: until OTPC__EV_UP only the I/O thread touches the engine; from then on
 * only whoever holds out_lock, and every record it makes (answers to key updates,
 * alerts, ciphertext) joins the connection's output under that same lock, so records
 * reach the socket in the order they were made. What follows the handshake stays in
 * the engine for the scheduler: nothing is read past it here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "distribution/io_int.h"
#include "otpc.h"
#include "util/log.h"

/* ---- on the I/O thread, until up ------------------------------------------------- */

/* The TLS engine's records to the socket (I/O thread, before OTPC__EV_UP). */
static void emit_records(otpc__conn_t *c)
{
    uv_mutex_lock(&c->out_lock);
    otpc__conn_append_records(c);
    uv_mutex_unlock(&c->out_lock);
    otpc__conn_flush(c);
}

static void peer_address(otpc__conn_t *c, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    snprintf(out, cap, "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)&ss, out, cap);
    else
        uv_ip4_name((struct sockaddr_in *)&ss, out, cap);
}

/* TLS refused the peer (a certificate, a protocol error, a plain-TCP peer): say so at
 * warning level whoever the peer is, since no node name may be known yet. */
static void tls_failed(otpc__conn_t *c, const char *why)
{
    char addr[64], reason[256];
    snprintf(reason, sizeof reason, "TLS: %s", why);
    if (!c->peer[0]) { /* else the close reports it, with the name */
        peer_address(c, addr, sizeof addr);
        OTPC__LOG_WARN("dist", "TLS connection from %s refused: %s", addr, why);
    }
    otpc__conn_close_soon(c, reason); /* the alert, if any, goes first */
}

/* Ciphertext read during setup: advance TLS, then decrypt the distribution handshake
 * into rbuf (at most OTPC__HS_READ at a time, so a flooding peer holds no more than an
 * honest one). Whatever follows the handshake stays in the engine for the scheduler. */
void otpc__conn_tls_input(otpc__conn_t *c, const char *data, size_t len)
{
    if (otpc__tls_feed(c->tls, data, len)) {
        otpc__conn_close(c, "out of memory");
        return;
    }
    int rc = otpc__tls_handshake(c->tls);
    emit_records(c);
    if (rc < 0) {
        tls_failed(c, otpc__tls_error(c->tls));
        return;
    }
    if (rc == 0 || c->state != C_HANDSHAKE)
        return;
    if (!c->dist_started && otpc__conn_start_dist(c))
        return;
    while (c->state == C_HANDSHAKE) {
        if (otpc__buf_reserve(&c->rbuf, OTPC__HS_READ)) {
            otpc__conn_close(c, "out of memory");
            return;
        }
        size_t got = 0;
        rc = otpc__tls_read(c->tls, c->rbuf.data + c->rbuf.len, c->rbuf.cap - c->rbuf.len, &got);
        emit_records(c);
        if (rc < 0) {
            otpc__conn_close(c, otpc__tls_peer_closed(c->tls) ? "closed by peer"
                                                              : otpc__tls_error(c->tls));
            return;
        }
        if (rc == 0 || c->state != C_HANDSHAKE)
            return;
        c->rbuf.len += got;
        ssize_t used = otpc__conn_read_handshake(c);
        if (used < 0)
            return; /* closing, or up: the rest went with OTPC__EV_UP */
        otpc__buf_consume(&c->rbuf, (size_t)used);
    }
}

static const char *peer_host(const otpc__conn_t *c)
{
    const char *at = strchr(c->peer, '@');
    return at ? at + 1 : NULL;
}

int otpc__conn_tls_setup(otpc__conn_t *c)
{
    otpc__io_t *io = c->io;
    c->tls = c->initiator ? otpc__tls_new_client(io->tls_client, peer_host(c))
                          : otpc__tls_new(io->tls_server);
    if (!c->tls) {
        otpc__conn_close(c, "out of memory");
        return -1;
    }
    c->hs.len_bytes = 4;
    if (!c->initiator)
        return 0;
    int rc = otpc__tls_handshake(c->tls); /* the client speaks first */
    emit_records(c);
    if (rc < 0) {
        tls_failed(c, otpc__tls_error(c->tls));
        return -1;
    }
    return 0;
}

/* ---- the scheduler's transport once up -------------------------------------------- */

/* TLS through the connection's engine, under out_lock (the I/O thread encrypts ticks
 * with it). What reading produces for the peer (key update answers, alerts) joins the
 * connection's output like any other record. */
typedef struct {
    otpc__xport_t base;
    otpc__conn_t *c;
    char why[160]; /* a socket failure; the engine keeps its own */
} conn_x;

static void tell_io(otpc__conn_t *c)
{
    otpc__conn_ref(c);
    otpc__io_command(c->io, OTPC__CMD_WRITE, c, NULL, 0);
}

static ssize_t cx_read(otpc__xport_t *x, char *buf, size_t cap)
{
    conn_x *t = (conn_x *)x;
    otpc__conn_t *c = t->c;
    ssize_t res;
    int poke = 0;
    uv_mutex_lock(&c->out_lock);
    for (;;) {
        size_t got = 0;
        int rc = otpc__tls_read(c->tls, buf, cap, &got);
        poke |= otpc__conn_append_records(c);
        if (rc == 1) {
            res = (ssize_t)got;
            break;
        }
        if (rc < 0) {
            res = otpc__tls_peer_closed(c->tls) ? 0 : OTPC__XP_ERROR;
            break;
        }
        if ((res = otpc__xport_tls_fill(&t->base, c->tls, t->why, sizeof t->why)) <= 0)
            break;
    }
    uv_mutex_unlock(&c->out_lock);
    if (poke)
        tell_io(c);
    return res;
}

static int cx_handshake(otpc__xport_t *x)
{
    (void)x;
    return 1; /* done on the I/O thread before OTPC__EV_UP */
}

/* Peers hand their output to the connection's writer (otpc__conn_append); this is for
 * completeness of the table. */
static ssize_t cx_writev(otpc__xport_t *x, const struct iovec *iov, int iovcnt)
{
    conn_x *t = (conn_x *)x;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        otpc__buf_t b = {0};
        if (otpc__buf_append(&b, iov[i].iov_base, iov[i].iov_len))
            return OTPC__XP_ERROR;
        if (otpc__conn_append(t->c, &b))
            tell_io(t->c);
        otpc__buf_free(&b);
        total += iov[i].iov_len;
    }
    return (ssize_t)total;
}

static ssize_t cx_flush(otpc__xport_t *x)
{
    (void)x;
    return 0; /* the connection's writer holds the ciphertext */
}

static size_t cx_buffered(const otpc__xport_t *x)
{
    otpc__conn_t *c = ((const conn_x *)x)->c;
    uv_mutex_lock(&c->out_lock);
    size_t n = otpc__tls_buffered(c->tls);
    uv_mutex_unlock(&c->out_lock);
    return n;
}

static const char *cx_error(const otpc__xport_t *x)
{
    const conn_x *t = (const conn_x *)x;
    return t->why[0] ? t->why : otpc__tls_error(t->c->tls);
}

static void cx_free(otpc__xport_t *x)
{
    conn_x *t = (conn_x *)x;
    otpc__conn_unref(t->c);
    free(t);
}

static const otpc__xport_ops_t conn_tls_ops = {
    .name = "tls-dist",
    .handshake = cx_handshake,
    .read = cx_read,
    .writev = cx_writev,
    .flush = cx_flush,
    .buffered = cx_buffered,
    .error = cx_error,
    .free = cx_free,
};

otpc__xport_t *otpc__conn_xport(otpc__conn_t *c)
{
    int fd = otpc__conn_fd(c);
    if (fd < 0)
        return NULL;
    if (!c->tls)
        return otpc__xport_tcp(fd);
    conn_x *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->base.ops = &conn_tls_ops;
    t->base.fd = fd;
    t->c = c;
    otpc__conn_ref(c);
    return &t->base;
}
