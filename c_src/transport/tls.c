/*
 * TLS through memory BIOs; see tls.h. Invariants: `rbio` holds only bytes the socket
 * gave us and SSL has not consumed yet; `wbio` holds only bytes for the socket; nothing
 * is encrypted before the handshake completes (the daemon sends its hello only after).
 */
#include "transport/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otpc.h"

struct otpc__tls {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    int established;
    int peer_closed;
    char err[160];
};

static void last_error(char *out, size_t cap, const char *what)
{
    unsigned long e = ERR_get_error();
    /* OpenSSL 3 has no reason string for system errors (a missing file): errno's. */
    const char *reason = !e                    ? NULL
                         : ERR_SYSTEM_ERROR(e) ? strerror(ERR_GET_REASON(e))
                                               : ERR_reason_error_string(e);
    snprintf(out, cap, "%s%s%s", what, reason ? ": " : "", reason ? reason : "");
    ERR_clear_error();
}

/* The certificate and key: required of a server, optional for a client. */
static int load_identity(SSL_CTX *ctx, const otpc__tls_conf_t *c, char *err, size_t errcap)
{
    if (!c->certfile && c->client)
        return 0;
    const char *key = c->keyfile ? c->keyfile : c->certfile;
    if (!c->certfile || SSL_CTX_use_certificate_chain_file(ctx, c->certfile) != 1) {
        last_error(err, errcap, "certfile");
        return -1;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        last_error(err, errcap, "keyfile");
        return -1;
    }
    return 0;
}

static int load_cas(SSL_CTX *ctx, const otpc__tls_conf_t *c, char *err, size_t errcap)
{
    if (!c->cacertfile)
        return 0;
    if (SSL_CTX_load_verify_locations(ctx, c->cacertfile, NULL) != 1) {
        last_error(err, errcap, "cacertfile");
        return -1;
    }
    if (c->client)
        return 0;
    /* A server names the CAs it accepts in its certificate request. */
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(c->cacertfile);
    if (!names) {
        last_error(err, errcap, "cacertfile");
        return -1;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    return 0;
}

otpc__tls_ctx_t *otpc__tls_ctx_new(const otpc__tls_conf_t *c, char *err, size_t errcap)
{
    SSL_CTX *ctx = SSL_CTX_new(c->client ? TLS_client_method() : TLS_server_method());
    if (!ctx) {
        last_error(err, errcap, "SSL_CTX_new");
        return NULL;
    }
    /* TLS 1.2 and 1.3, or the one the configuration names (OTP's `versions`) */
    SSL_CTX_set_min_proto_version(ctx, c->versions == 2 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, c->versions == 1 ? TLS1_2_VERSION : TLS1_3_VERSION);
    /* Renegotiation (TLS 1.2) only ever served attacks on long-lived connections. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    /* An idle connection should not keep 2 x 16 KiB of record buffers. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    /* No session cache: a server's grows with every client up to 20,480 sessions
     * (resumption still works through stateless tickets), and a client's would keep
     * every peer's tickets though nothing here resumes a session. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (load_identity(ctx, c, err, errcap) || load_cas(ctx, c, err, errcap))
        goto fail;
    if (c->verify_peer || (c->fail_if_no_peer_cert && !c->client)) {
        int mode = SSL_VERIFY_PEER;
        if (c->fail_if_no_peer_cert && !c->client)
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(ctx, mode, NULL);
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

void otpc__tls_ctx_free(otpc__tls_ctx_t *ctx)
{
    SSL_CTX_free(ctx);
}

static otpc__tls_t *tls_new(otpc__tls_ctx_t *ctx)
{
    otpc__tls_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ssl = SSL_new(ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        free(t);
        return NULL;
    }
    /* An empty memory BIO means "would block", not EOF. */
    BIO_set_mem_eof_return(t->rbio, -1);
    BIO_set_mem_eof_return(t->wbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    return t;
}

otpc__tls_t *otpc__tls_new(otpc__tls_ctx_t *ctx)
{
    otpc__tls_t *t = tls_new(ctx);
    if (t)
        SSL_set_accept_state(t->ssl);
    return t;
}

static int is_address(const char *host)
{
    unsigned char a[16];
    return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* SNI for a name (never for an address: RFC 6066), and, when the context verifies,
 * the name or address the server's certificate must carry, as OTP's ssl checks it. */
static int set_host(otpc__tls_t *t, const char *host)
{
    if (!host || !*host)
        return 0;
    if (is_address(host))
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host) == 1 ? 0 : -1;
    if (SSL_set_tlsext_host_name(t->ssl, host) != 1)
        return -1;
    return SSL_set1_host(t->ssl, host) == 1 ? 0 : -1;
}

otpc__tls_t *otpc__tls_new_client(otpc__tls_ctx_t *ctx, const char *host)
{
    otpc__tls_t *t = tls_new(ctx);
    if (!t)
        return NULL;
    if (set_host(t, host)) {
        otpc__tls_free(t);
        return NULL;
    }
    SSL_set_connect_state(t->ssl);
    return t;
}

void otpc__tls_free(otpc__tls_t *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    free(t);
}

int otpc__tls_feed(otpc__tls_t *t, const char *data, size_t len)
{
    while (len) {
        int chunk = len > INT32_MAX ? INT32_MAX : (int)len;
        int w = BIO_write(t->rbio, data, chunk);
        if (w <= 0)
            return OTPC_ENOMEM;
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

/* SSL_get_error after a failed call: 0 to wait for more input, else OTPC_EPROTO. */
static int failure(otpc__tls_t *t, int ret, const char *what)
{
    int e = SSL_get_error(t->ssl, ret);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        return 0;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
        t->peer_closed = 1;
        snprintf(t->err, sizeof t->err, "closed");
        return OTPC_EPROTO;
    }
    long v = SSL_get_verify_result(t->ssl);
    if (v != X509_V_OK && ERR_peek_error()) {
        snprintf(t->err, sizeof t->err, "%s: %s", what, X509_verify_cert_error_string(v));
        ERR_clear_error();
        return OTPC_EPROTO;
    }
    last_error(t->err, sizeof t->err, what);
    return OTPC_EPROTO;
}

int otpc__tls_handshake(otpc__tls_t *t)
{
    if (t->established)
        return 1;
    ERR_clear_error(); /* SSL_get_error reads the queue: another user's leftovers */
    int r = SSL_do_handshake(t->ssl);
    if (r != 1)
        return failure(t, r, "handshake");
    t->established = 1;
    return 1;
}

int otpc__tls_read(otpc__tls_t *t, char *buf, size_t cap, size_t *got)
{
    *got = 0;
    int rc = otpc__tls_handshake(t);
    if (rc != 1)
        return rc;
    ERR_clear_error();
    size_t n = 0;
    if (SSL_read_ex(t->ssl, buf, cap, &n) == 1) {
        *got = n;
        return 1;
    }
    return failure(t, 0, "read");
}

size_t otpc__tls_buffered(const otpc__tls_t *t)
{
    return (size_t)SSL_pending(t->ssl) + BIO_ctrl_pending(t->rbio);
}

int otpc__tls_recv(otpc__tls_t *t, otpc__buf_t *plain)
{
    for (;;) {
        if (otpc__buf_reserve(plain, 16 * 1024))
            return OTPC_ENOMEM;
        size_t got;
        int rc = otpc__tls_read(t, plain->data + plain->len, plain->cap - plain->len, &got);
        if (rc != 1)
            return rc;
        plain->len += got;
    }
}

int otpc__tls_established(const otpc__tls_t *t)
{
    return t->established;
}

int otpc__tls_send(otpc__tls_t *t, const char *data, size_t len)
{
    if (!t->established)
        return OTPC_EPROTO;
    ERR_clear_error();
    while (len) {
        size_t w = 0;
        if (SSL_write_ex(t->ssl, data, len, &w) != 1) {
            last_error(t->err, sizeof t->err, "write");
            return OTPC_EPROTO;
        }
        data += w;
        len -= w;
    }
    return 0;
}

int otpc__tls_take_out(otpc__tls_t *t, otpc__buf_t *out)
{
    size_t pending;
    while ((pending = BIO_ctrl_pending(t->wbio)) != 0) {
        int chunk = pending > INT32_MAX ? INT32_MAX : (int)pending;
        if (otpc__buf_reserve(out, (size_t)chunk))
            return OTPC_ENOMEM;
        int r = BIO_read(t->wbio, out->data + out->len, chunk);
        if (r <= 0)
            break;
        out->len += (size_t)r;
    }
    return 0;
}

const char *otpc__tls_error(const otpc__tls_t *t)
{
    return t->err[0] ? t->err : "unknown TLS error";
}

int otpc__tls_peer_closed(const otpc__tls_t *t)
{
    return t->peer_closed;
}
