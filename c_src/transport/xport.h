/*
 * The transport seam: one small table of operations on a connected, non-blocking
 * socket, with a TCP implementation (xport_tcp.c) and a TLS one (xport_tls.c, over the
 * memory-BIO engine of tls.c). Everything above it (transport/endpoint.c, and through
 * it distribution peers and daemon sessions) reads and writes plaintext and never
 * learns which one it has.
 *
 * Invariants: no operation blocks (each does what the socket allows now and says what
 * is left); none closes the fd, which belongs to whoever opened it; after an error the
 * stream is unusable and error() says why in one line.
 */
#ifndef OTPC_TRANSPORT_XPORT_H
#define OTPC_TRANSPORT_XPORT_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "transport/tls.h"

/* read()/handshake() results beside a byte count */
#define OTPC__XP_AGAIN (-1) /* nothing now: wait for the socket */
#define OTPC__XP_ERROR (-2) /* the stream failed: error() */

typedef struct otpc__xport otpc__xport_t;

typedef struct {
    const char *name; /* "tcp", "tls" */
    /* Advance the connection's setup with what the socket has (TLS: the handshake;
     * its records go out from here). 1 once established, 0 while it needs the peer,
     * OTPC__XP_ERROR when it failed (an alert may wait: see pending). */
    int (*handshake)(otpc__xport_t *x);
    /* Up to cap bytes of the peer's stream into buf: a count > 0, 0 at the peer's
     * orderly end, OTPC__XP_AGAIN or OTPC__XP_ERROR. */
    ssize_t (*read)(otpc__xport_t *x, char *buf, size_t cap);
    /* Offer the stream these bytes (borrowed): how many were taken (TCP: what the socket
     * took; TLS: all of them, encrypted, once established), or OTPC__XP_ERROR. Bytes
     * taken are the transport's: they go out with later calls (see pending). */
    ssize_t (*writev)(otpc__xport_t *x, const struct iovec *iov, int iovcnt);
    /* Write what the transport holds for the socket; the bytes still held after it
     * (0 for TCP), or OTPC__XP_ERROR. */
    ssize_t (*flush)(otpc__xport_t *x);
    /* Bytes of the peer's stream already read from the socket and not handed out by
     * read(): more input that no readiness event will announce. */
    size_t (*buffered)(const otpc__xport_t *x);
    const char *(*error)(const otpc__xport_t *x);
    void (*free)(otpc__xport_t *x); /* the fd stays open */
} otpc__xport_ops_t;

struct otpc__xport {
    const otpc__xport_ops_t *ops;
    int fd;
    int broken; /* the failure was the socket's: nothing more can be written */
};

/* Plain TCP on fd (borrowed). NULL on ENOMEM. Freed with x->ops->free. */
otpc__xport_t *otpc__xport_tcp(int fd);

/* Ciphertext from x's socket into tls, one read (a TLS record's worth): bytes > 0, 0 at
 * the peer's EOF, OTPC__XP_AGAIN, or OTPC__XP_ERROR with the reason in why (x->broken
 * set when the socket failed). For TLS transports over an engine shared elsewhere. */
ssize_t otpc__xport_tls_fill(otpc__xport_t *x, otpc__tls_t *tls, char *why, size_t cap);

/* TLS on fd (borrowed), server side, with ctx (borrowed: it must outlive the
 * transport). NULL on ENOMEM. */
otpc__xport_t *otpc__xport_tls(int fd, otpc__tls_ctx_t *ctx);

#endif
