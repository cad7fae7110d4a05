/*
 * The TLS transport (see xport.h): the memory-BIO engine of tls.c between the socket
 * and the plaintext stream. Ciphertext the socket does not take at once stays in
 * `cout` and goes out with flush(); ciphertext read from the socket goes straight into
 * the engine, which is drained by read() before the socket is read again, so a read
 * never leaves decrypted bytes behind that no readiness event would announce (and
 * buffered() says when one did, because the caller's buffer was full).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "otpc.h"
#include "transport/xport.h"

#define CHUNK (16 * 1024) /* a TLS record's worth of ciphertext per recv() */

typedef struct {
    otpc__xport_t base;
    otpc__tls_t *tls;
    otpc__buf_t cout; /* ciphertext for the socket */
    char why[160];    /* a socket failure; the engine keeps its own */
} tls_x;

static ssize_t sock_failed(tls_x *t, const char *what, int err)
{
    snprintf(t->why, sizeof t->why, "%s: %s", what, strerror(err));
    t->base.broken = 1;
    return OTPC__XP_ERROR;
}

/* The engine's output to the socket, as much as it takes: bytes left, or an error. */
static ssize_t pump_out(tls_x *t)
{
    if (otpc__tls_take_out(t->tls, &t->cout)) {
        snprintf(t->why, sizeof t->why, "out of memory");
        return OTPC__XP_ERROR;
    }
    size_t done = 0;
    while (done < t->cout.len) {
        ssize_t w =
            send(t->base.fd, t->cout.data + done, t->cout.len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0)
            done += (size_t)w;
        else if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        else if (errno != EINTR)
            return sock_failed(t, "send", errno);
    }
    otpc__buf_consume(&t->cout, done);
    return (ssize_t)t->cout.len;
}

ssize_t otpc__xport_tls_fill(otpc__xport_t *x, otpc__tls_t *tls, char *why, size_t cap)
{
    char buf[CHUNK];
    for (;;) {
        ssize_t r = recv(x->fd, buf, sizeof buf, 0);
        if (r > 0) {
            if (otpc__tls_feed(tls, buf, (size_t)r) == 0)
                return r;
            snprintf(why, cap, "out of memory");
            return OTPC__XP_ERROR;
        }
        if (r == 0)
            return 0;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return OTPC__XP_AGAIN;
        if (errno != EINTR) {
            snprintf(why, cap, "recv: %s", strerror(errno));
            x->broken = 1;
            return OTPC__XP_ERROR;
        }
    }
}

static ssize_t fill(tls_x *t)
{
    return otpc__xport_tls_fill(&t->base, t->tls, t->why, sizeof t->why);
}

static int tls_handshake(otpc__xport_t *x)
{
    tls_x *t = (tls_x *)x;
    for (;;) {
        int rc = otpc__tls_handshake(t->tls);
        if (pump_out(t) == OTPC__XP_ERROR)
            return OTPC__XP_ERROR;
        if (rc == 1)
            return 1;
        if (rc < 0)
            return OTPC__XP_ERROR; /* the alert, if any, waits in cout */
        ssize_t f = fill(t);
        if (f == OTPC__XP_AGAIN)
            return 0;
        if (f == 0) {
            snprintf(t->why, sizeof t->why, "closed during the TLS handshake");
            return OTPC__XP_ERROR;
        }
        if (f < 0)
            return OTPC__XP_ERROR;
    }
}

static ssize_t tls_read(otpc__xport_t *x, char *buf, size_t cap)
{
    tls_x *t = (tls_x *)x;
    for (;;) {
        size_t got = 0;
        int rc = otpc__tls_read(t->tls, buf, cap, &got);
        /* reading may have produced records to answer (a key update, an alert) */
        if (pump_out(t) == OTPC__XP_ERROR)
            return OTPC__XP_ERROR;
        if (rc == 1)
            return (ssize_t)got;
        if (rc < 0)
            return otpc__tls_peer_closed(t->tls) ? 0 : OTPC__XP_ERROR;
        ssize_t f = fill(t);
        if (f <= 0)
            return f; /* EOF without close_notify is an end all the same */
    }
}

static ssize_t tls_writev(otpc__xport_t *x, const struct iovec *iov, int iovcnt)
{
    tls_x *t = (tls_x *)x;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (otpc__tls_send(t->tls, iov[i].iov_base, iov[i].iov_len))
            return OTPC__XP_ERROR;
        total += iov[i].iov_len;
    }
    return pump_out(t) == OTPC__XP_ERROR ? OTPC__XP_ERROR : (ssize_t)total;
}

static ssize_t tls_flush(otpc__xport_t *x)
{
    return pump_out((tls_x *)x);
}

static size_t tls_buffered(const otpc__xport_t *x)
{
    return otpc__tls_buffered(((const tls_x *)x)->tls);
}

static const char *tls_error(const otpc__xport_t *x)
{
    const tls_x *t = (const tls_x *)x;
    return t->why[0] ? t->why : otpc__tls_error(t->tls);
}

static void tls_free(otpc__xport_t *x)
{
    tls_x *t = (tls_x *)x;
    otpc__tls_free(t->tls);
    otpc__buf_free(&t->cout);
    free(t);
}

static const otpc__xport_ops_t tls_ops = {
    .name = "tls",
    .handshake = tls_handshake,
    .read = tls_read,
    .writev = tls_writev,
    .flush = tls_flush,
    .buffered = tls_buffered,
    .error = tls_error,
    .free = tls_free,
};

otpc__xport_t *otpc__xport_tls(int fd, otpc__tls_ctx_t *ctx)
{
    tls_x *t = calloc(1, sizeof *t);
    if (!t || !(t->tls = otpc__tls_new(ctx))) {
        free(t);
        return NULL;
    }
    t->base.ops = &tls_ops;
    t->base.fd = fd;
    return &t->base;
}
