/*
 * TLS through OpenSSL memory BIOs (no sockets here): the transport (xport_tls.c)
 * feeds it the bytes it read and writes out the bytes it produces, so the
 * handshake is driven by the connection's own readiness events and never blocks the
 * loop, a stalled peer only holds its own connection, and the whole state machine can
 * be exercised in memory (c_src/test/test_tls.c).
 */
#ifndef OTPC_DAEMON_TLS_H
#define OTPC_DAEMON_TLS_H

#include <stddef.h>

#include "util/buf.h"

typedef struct ssl_ctx_st otpc__tls_ctx_t; /* OpenSSL's SSL_CTX */
typedef struct otpc__tls otpc__tls_t;

typedef struct {
    const char *certfile;     /* PEM certificate (chain); required for a server */
    const char *keyfile;      /* PEM private key; NULL: in certfile */
    const char *cacertfile;   /* CAs that the peer's certificate is verified against */
    int verify_peer;          /* server: ask for a client certificate and verify it if
                               * sent; client: verify the server's (chain and host) */
    int fail_if_no_peer_cert; /* server: refuse clients without one (mutual TLS) */
    int client;               /* a context for connections we dial */
    unsigned versions;        /* bit 0: TLS 1.2, bit 1: TLS 1.3; 0: both */
} otpc__tls_conf_t;

/* A server or client context (TLS 1.2 and 1.3). NULL with a one-line reason in err.
 * The caller owns it: otpc__tls_ctx_free(). Connections made from it hold their own
 * reference, so it may be freed (replaced: certificates rotated) while they live. */
otpc__tls_ctx_t *otpc__tls_ctx_new(const otpc__tls_conf_t *conf, char *err, size_t errcap);
void otpc__tls_ctx_free(otpc__tls_ctx_t *ctx);

/* One server-side connection; NULL on ENOMEM. Owned by the caller: otpc__tls_free(). */
otpc__tls_t *otpc__tls_new(otpc__tls_ctx_t *ctx);
/* One client-side connection to `host` (borrowed: sent as SNI unless it is an
 * address, and checked against the server's certificate when the context verifies);
 * its first flight waits in the output after otpc__tls_handshake. NULL on ENOMEM. */
otpc__tls_t *otpc__tls_new_client(otpc__tls_ctx_t *ctx, const char *host);
void otpc__tls_free(otpc__tls_t *t);

/* Bytes read from the socket (copied). Then otpc__tls_recv. */
int otpc__tls_feed(otpc__tls_t *t, const char *data, size_t len);

/* Advance the handshake and append all the plaintext now available to `plain`.
 * Returns 0, or OTPC_EPROTO when the handshake or the stream failed (the reason is
 * otpc__tls_error(); an alert for the peer may wait in the output). Also answers
 * what the protocol needs answered: take the output afterwards. */
int otpc__tls_recv(otpc__tls_t *t, otpc__buf_t *plain);

/* Advance the handshake with what was fed: 1 once complete, 0 while it waits for the
 * peer, OTPC_EPROTO when it failed. Take the output afterwards. */
int otpc__tls_handshake(otpc__tls_t *t);

/* Up to cap bytes of plaintext into buf: 1 with *got > 0, 0 when more input is needed
 * (the handshake is advanced first), OTPC_EPROTO when the stream ended or failed
 * (otpc__tls_peer_closed() tells a close_notify). Take the output afterwards. */
int otpc__tls_read(otpc__tls_t *t, char *buf, size_t cap, size_t *got);

/* Input fed and not read yet (plaintext or records): more to read without the socket. */
size_t otpc__tls_buffered(const otpc__tls_t *t);

/* 1 once the handshake has completed. */
int otpc__tls_established(const otpc__tls_t *t);

/* Encrypt plaintext (only once established). 0 or OTPC_EPROTO / OTPC_ENOMEM. */
int otpc__tls_send(otpc__tls_t *t, const char *data, size_t len);

/* Move every byte waiting for the socket (handshake records, alerts, ciphertext) to the
 * end of out. 0 or OTPC_ENOMEM. */
int otpc__tls_take_out(otpc__tls_t *t, otpc__buf_t *out);

/* Why the last failure happened (static or owned by t; never NULL). */
const char *otpc__tls_error(const otpc__tls_t *t);

/* The peer sent close_notify. */
int otpc__tls_peer_closed(const otpc__tls_t *t);

#endif
