/* The TCP transport (see xport.h): system calls and nothing held. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "transport/xport.h"

typedef struct {
    otpc__xport_t base;
    int err; /* errno of the failure */
} tcp_t;

static int tcp_handshake(otpc__xport_t *x)
{
    (void)x;
    return 1;
}

static ssize_t failed(tcp_t *t)
{
    t->err = errno;
    t->base.broken = 1;
    return OTPC__XP_ERROR;
}

static ssize_t tcp_read(otpc__xport_t *x, char *buf, size_t cap)
{
    for (;;) {
        ssize_t r = recv(x->fd, buf, cap, 0);
        if (r >= 0)
            return r;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return OTPC__XP_AGAIN;
        if (errno != EINTR)
            return failed((tcp_t *)x);
    }
}

static ssize_t tcp_writev(otpc__xport_t *x, const struct iovec *iov, int iovcnt)
{
    struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
    for (;;) {
        ssize_t w = sendmsg(x->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w >= 0)
            return w;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        if (errno != EINTR)
            return failed((tcp_t *)x);
    }
}

static ssize_t tcp_flush(otpc__xport_t *x)
{
    (void)x;
    return 0;
}

static size_t tcp_buffered(const otpc__xport_t *x)
{
    (void)x;
    return 0;
}

static const char *tcp_error(const otpc__xport_t *x)
{
    const tcp_t *t = (const tcp_t *)x;
    return t->err ? strerror(t->err) : "no error";
}

static void tcp_free(otpc__xport_t *x)
{
    free(x);
}

static const otpc__xport_ops_t tcp_ops = {
    .name = "tcp",
    .handshake = tcp_handshake,
    .read = tcp_read,
    .writev = tcp_writev,
    .flush = tcp_flush,
    .buffered = tcp_buffered,
    .error = tcp_error,
    .free = tcp_free,
};

otpc__xport_t *otpc__xport_tcp(int fd)
{
    tcp_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->base.ops = &tcp_ops;
    t->base.fd = fd;
    return &t->base;
}
