/*
 * Unit tests of transport/tls.h, the memory-BIO TLS engine that the TLS transports use, without
 * sockets: an OpenSSL client with its own memory BIOs talks to an otpc__tls_t, the test
 * shuttling bytes both ways (take_out -> client, client -> feed + recv). This exercises
 * the whole state machine: handshakes in TLS 1.3 and 1.2, data both ways (1 MiB too),
 * server certificate verification by the client, mutual TLS (good certificate, none,
 * one from another CA), garbage, a stalled handshake, close_notify, and bad context
 * configurations. Then the engine's client role (TLS distribution dials out with it)
 * against its server role: mutual verification, the host check, untrusted servers and
 * refused clients.
 *
 * The group setup makes the PKI (EC P-256 keys): a CA with a server certificate for
 * "localhost" and a client certificate, an unrelated CA with its own client certificate,
 * a key matching nothing, and a cert+key file; all PEM files in a mkdtemp() directory
 * that the teardown removes. Client and server share this thread's OpenSSL error queue,
 * so the client's side clears it after each call, as a separate peer would have its own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "transport/tls.h"
#include "otpc.h"

/* ---- PKI fixture --------------------------------------------------------------- */

enum {
    F_CA,
    F_CA2,
    F_SRV_CERT,
    F_SRV_KEY,
    F_CLI_CERT,
    F_CLI_KEY,
    F_CLI2_CERT,
    F_CLI2_KEY,
    F_OTHER_KEY,
    F_COMBO,
    F_N
};
static const char *const f_names[F_N] = {"ca.pem",    "ca2.pem",  "srv.pem",  "srv.key",
                                         "cli.pem",   "cli.key",  "cli2.pem", "cli2.key",
                                         "other.key", "combo.pem"};
static char dir[64];
static char path[F_N][256];

enum { CA, SERVER, CLIENT };

static int add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, v3, nid, value);
    int ok = e && X509_add_ext(x, e, -1); /* copies e */
    X509_EXTENSION_free(e);
    return ok;
}

/* A certificate for key named cn, signed by issuer/ikey (NULL: self-signed). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, int kind, X509 *issuer, EVP_PKEY *ikey,
                       long serial)
{
    X509 *x = X509_new();
    if (!x)
        return NULL;
    X509_NAME *name = X509_get_subject_name(x);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    int ok = X509_set_version(x, 2) && ASN1_INTEGER_set(X509_get_serialNumber(x), serial) &&
             X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
             X509_gmtime_adj(X509_getm_notAfter(x), 86400) && X509_set_pubkey(x, key) &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                        0) &&
             X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    if (ok && kind == CA)
        ok = add_ext(x, &v3, NID_basic_constraints, "critical,CA:TRUE") &&
             add_ext(x, &v3, NID_key_usage, "critical,keyCertSign,cRLSign");
    else if (ok)
        ok = add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE") &&
             add_ext(x, &v3, NID_key_usage, "critical,digitalSignature") &&
             add_ext(x, &v3, NID_ext_key_usage, kind == SERVER ? "serverAuth" : "clientAuth");
    if (ok && kind == SERVER)
        ok = add_ext(x, &v3, NID_subject_alt_name, "DNS:localhost");
    if (!ok || !X509_sign(x, ikey ? ikey : key, EVP_sha256())) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* Write a certificate and/or a key as PEM to path[f]. */
static int write_pem(int f, X509 *x, EVP_PKEY *k)
{
    FILE *fp = fopen(path[f], "w");
    if (!fp)
        return 0;
    int ok = (!x || PEM_write_X509(fp, x)) &&
             (!k || PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL));
    return fclose(fp) == 0 && ok;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < F_N; i++)
        unlink(path[i]);
    return rmdir(dir) == 0 ? 0 : -1;
}

static int group_setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/otpc_test_tls_XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    for (int i = 0; i < F_N; i++)
        snprintf(path[i], sizeof path[i], "%s/%s", dir, f_names[i]);
    EVP_PKEY *k[6];
    for (int i = 0; i < 6; i++)
        k[i] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x[5] = {make_cert(k[0], "otpc test CA", CA, NULL, NULL, 1),
                  make_cert(k[1], "otpc unrelated CA", CA, NULL, NULL, 1)};
    x[2] = make_cert(k[2], "localhost", SERVER, x[0], k[0], 2);
    x[3] = make_cert(k[3], "client", CLIENT, x[0], k[0], 3);
    x[4] = make_cert(k[4], "client", CLIENT, x[1], k[1], 2);
    int ok = k[5] && x[0] && x[1] && x[2] && x[3] && x[4] && write_pem(F_CA, x[0], NULL) &&
             write_pem(F_CA2, x[1], NULL) && write_pem(F_SRV_CERT, x[2], NULL) &&
             write_pem(F_SRV_KEY, NULL, k[2]) && write_pem(F_CLI_CERT, x[3], NULL) &&
             write_pem(F_CLI_KEY, NULL, k[3]) && write_pem(F_CLI2_CERT, x[4], NULL) &&
             write_pem(F_CLI2_KEY, NULL, k[4]) && write_pem(F_OTHER_KEY, NULL, k[5]) &&
             write_pem(F_COMBO, x[2], k[2]);
    for (int i = 0; i < 6; i++) {
        EVP_PKEY_free(k[i]);
        if (i < 5)
            X509_free(x[i]);
    }
    ERR_clear_error();
    if (!ok)
        group_teardown(state);
    return ok ? 0 : -1;
}

/* ---- a client against an otpc__tls_t --------------------------------------------- */

typedef struct {
    const char *cert, *key; /* client certificate; NULL: none */
    const char *trust;      /* CA the client verifies the server against; NULL: no check */
    int max_version;        /* 0: default (TLS 1.3) */
} client_conf_t;

typedef struct {
    SSL_CTX *cctx;
    SSL *c;
    otpc__tls_ctx_t *sctx;
    otpc__tls_t *s;
    otpc__buf_t plain; /* plaintext the server received */
    int srv_rc;        /* the last otpc__tls_recv */
    size_t last_out;   /* bytes the server put out in the last step */
    int cli_done, cli_failed;
} pair_t;

static otpc__tls_ctx_t *server_ctx(int verify_peer, int fail_if_no_peer_cert)
{
    otpc__tls_conf_t conf = {.certfile = path[F_SRV_CERT],
                             .keyfile = path[F_SRV_KEY],
                             .cacertfile = verify_peer ? path[F_CA] : NULL,
                             .verify_peer = verify_peer,
                             .fail_if_no_peer_cert = fail_if_no_peer_cert};
    char err[256] = "";
    otpc__tls_ctx_t *ctx = otpc__tls_ctx_new(&conf, err, sizeof err);
    if (!ctx)
        fail_msg("otpc__tls_ctx_new: %s", err);
    assert_int_equal(ERR_peek_error(), 0); /* success leaves the queue clean */
    return ctx;
}

/* Takes ownership of sctx. */
static void pair_open(pair_t *p, otpc__tls_ctx_t *sctx, const client_conf_t *cc)
{
    memset(p, 0, sizeof *p);
    p->sctx = sctx;
    p->s = otpc__tls_new(sctx);
    assert_non_null(p->s);
    p->cctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(p->cctx);
    if (cc->max_version)
        assert_int_equal(SSL_CTX_set_max_proto_version(p->cctx, cc->max_version), 1);
    if (cc->cert) {
        assert_int_equal(SSL_CTX_use_certificate_file(p->cctx, cc->cert, SSL_FILETYPE_PEM), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey_file(p->cctx, cc->key, SSL_FILETYPE_PEM), 1);
    }
    if (cc->trust) {
        assert_int_equal(SSL_CTX_load_verify_locations(p->cctx, cc->trust, NULL), 1);
        SSL_CTX_set_verify(p->cctx, SSL_VERIFY_PEER, NULL);
    }
    p->c = SSL_new(p->cctx);
    assert_non_null(p->c);
    if (cc->trust)
        assert_int_equal(SSL_set1_host(p->c, "localhost"), 1);
    BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
    assert_true(rb && wb);
    BIO_set_mem_eof_return(rb, -1);
    BIO_set_mem_eof_return(wb, -1);
    SSL_set_bio(p->c, rb, wb);
    SSL_set_connect_state(p->c);
}

static void pair_close(pair_t *p)
{
    SSL_free(p->c);
    SSL_CTX_free(p->cctx);
    otpc__tls_free(p->s);
    otpc__tls_ctx_free(p->sctx);
    otpc__buf_free(&p->plain);
    ERR_clear_error();
}

/* Client -> server: everything in the client's write BIO, fed to the server. */
static void c2s(pair_t *p)
{
    BIO *w = SSL_get_wbio(p->c);
    size_t n = BIO_ctrl_pending(w);
    if (!n)
        return;
    char *tmp = malloc(n);
    assert_true(tmp && BIO_read(w, tmp, (int)n) == (int)n);
    assert_int_equal(otpc__tls_feed(p->s, tmp, n), 0);
    free(tmp);
}

/* Server -> client: everything otpc__tls_take_out gives; returns how many bytes. */
static size_t s2c(pair_t *p)
{
    otpc__buf_t out = {0};
    assert_int_equal(otpc__tls_take_out(p->s, &out), 0);
    size_t n = out.len;
    if (n)
        assert_int_equal(BIO_write(SSL_get_rbio(p->c), out.data, (int)n), (int)n);
    otpc__buf_free(&out);
    return n;
}

/* The server reads what it was fed and its output goes to the client. */
static void server_step(pair_t *p)
{
    p->srv_rc = otpc__tls_recv(p->s, &p->plain);
    p->last_out = s2c(p);
}

/* Run the handshake: 0 when both sides are done, the server's error, 1 when only the
 * client failed, 2 when neither progresses. */
static int handshake(pair_t *p)
{
    for (int i = 0; i < 20; i++) {
        if (!p->cli_done && !p->cli_failed) {
            int r = SSL_do_handshake(p->c);
            if (r == 1)
                p->cli_done = 1;
            else if (SSL_get_error(p->c, r) != SSL_ERROR_WANT_READ)
                p->cli_failed = 1;
            ERR_clear_error();
        }
        c2s(p);
        server_step(p);
        if (p->srv_rc)
            return p->srv_rc;
        if (p->cli_failed)
            return 1;
        if (p->cli_done && otpc__tls_established(p->s))
            return 0;
    }
    return 2;
}

/* Client reads all it can into `into`; returns the SSL_get_error of the last read. */
static int client_read(pair_t *p, otpc__buf_t *into)
{
    for (;;) {
        assert_int_equal(otpc__buf_reserve(into, 16384), 0);
        int r = SSL_read(p->c, into->data + into->len, 16384);
        if (r <= 0) {
            int e = SSL_get_error(p->c, r);
            ERR_clear_error();
            return e;
        }
        into->len += (size_t)r;
    }
}

static char *pattern(size_t n, unsigned seed)
{
    char *d = malloc(n);
    assert_non_null(d);
    for (size_t i = 0; i < n; i++)
        d[i] = (char)((i * 2654435761u + seed) >> 11);
    return d;
}

/* Client -> server, then server -> client, n bytes each way. */
static void exchange(pair_t *p, size_t n)
{
    char *up = pattern(n, 1), *down = pattern(n, 2);
    size_t before = p->plain.len;
    assert_int_equal(SSL_write(p->c, up, (int)n), (int)n);
    ERR_clear_error();
    c2s(p);
    server_step(p);
    assert_int_equal(p->srv_rc, 0);
    assert_int_equal(p->plain.len - before, n);
    assert_memory_equal(p->plain.data + before, up, n);

    assert_int_equal(otpc__tls_send(p->s, down, n), 0);
    assert_true(s2c(p) > n);
    otpc__buf_t got = {0};
    assert_int_equal(client_read(p, &got), SSL_ERROR_WANT_READ);
    assert_int_equal(got.len, n);
    assert_memory_equal(got.data, down, n);
    otpc__buf_free(&got);
    free(up);
    free(down);
}

static const client_conf_t plain_client = {0};
/* Client max versions tried: the default (TLS 1.3), and TLS 1.2. */
static const int versions[2] = {0, TLS1_2_VERSION};

/* ---- tests ----------------------------------------------------------------------- */

/* Handshake completes in TLS 1.3 (the default) and TLS 1.2 (client capped). */
static void handshake_tls13_and_tls12(void **state)
{
    (void)state;
    const int expect[] = {TLS1_3_VERSION, TLS1_2_VERSION};
    for (int i = 0; i < 2; i++) {
        client_conf_t cc = {.max_version = versions[i]};
        pair_t p;
        pair_open(&p, server_ctx(0, 0), &cc);
        assert_int_equal(otpc__tls_established(p.s), 0);
        assert_int_equal(handshake(&p), 0);
        assert_int_equal(otpc__tls_established(p.s), 1);
        assert_int_equal(SSL_version(p.c), expect[i]);
        assert_int_equal(p.plain.len, 0);
        assert_int_equal(otpc__tls_peer_closed(p.s), 0);
        pair_close(&p);
    }
}

/* After the handshake, data flows both ways, small and 1 MiB, in both versions. */
static void data_both_ways(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        client_conf_t cc = {.max_version = versions[i]};
        pair_t p;
        pair_open(&p, server_ctx(0, 0), &cc);
        assert_int_equal(handshake(&p), 0);
        exchange(&p, 5);
        exchange(&p, 1u << 20);
        exchange(&p, 1);
        pair_close(&p);
    }
}

/* Client data sent in the same flight as its Finished is not lost: the server's recv
 * both completes the handshake and returns the plaintext. */
static void data_with_finished(void **state)
{
    (void)state;
    pair_t p;
    pair_open(&p, server_ctx(0, 0), &plain_client);
    for (int i = 0; i < 10 && !p.cli_done; i++) {
        int r = SSL_do_handshake(p.c);
        p.cli_done = r == 1;
        ERR_clear_error();
        if (p.cli_done)
            assert_int_equal(SSL_write(p.c, "early", 5), 5);
        c2s(&p);
        server_step(&p);
        assert_int_equal(p.srv_rc, 0);
    }
    assert_int_equal(otpc__tls_established(p.s), 1);
    assert_int_equal(p.plain.len, 5);
    assert_memory_equal(p.plain.data, "early", 5);
    pair_close(&p);
}

/* A client verifying the server's certificate (chain to the CA, name localhost)
 * accepts it; one trusting only the unrelated CA refuses it and the server gets an
 * alert (OTPC_EPROTO). */
static void client_verifies_server(void **state)
{
    (void)state;
    client_conf_t good = {.trust = path[F_CA]};
    pair_t p;
    pair_open(&p, server_ctx(0, 0), &good);
    assert_int_equal(handshake(&p), 0);
    assert_int_equal(SSL_get_verify_result(p.c), X509_V_OK);
    exchange(&p, 100);
    pair_close(&p);

    client_conf_t bad = {.trust = path[F_CA2]};
    pair_open(&p, server_ctx(0, 0), &bad);
    assert_int_equal(handshake(&p), OTPC_EPROTO);
    assert_int_equal(p.cli_failed, 1);
    assert_int_not_equal(SSL_get_verify_result(p.c), X509_V_OK);
    assert_int_equal(otpc__tls_established(p.s), 0);
    assert_true(strlen(otpc__tls_error(p.s)) > 0);
    pair_close(&p);
}

/* Mutual TLS, client with a certificate from the CA: accepted, in both versions. */
static void mtls_good_cert(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        client_conf_t cc = {.cert = path[F_CLI_CERT],
                            .key = path[F_CLI_KEY],
                            .trust = path[F_CA],
                            .max_version = versions[i]};
        pair_t p;
        pair_open(&p, server_ctx(1, 1), &cc);
        assert_int_equal(handshake(&p), 0);
        assert_int_equal(otpc__tls_established(p.s), 1);
        exchange(&p, 64);
        pair_close(&p);
    }
}

/* A refused client: the server's recv fails with a reason and an alert to send, and
 * the client, once it reads that alert, fails too. */
static void assert_refused(pair_t *p)
{
    assert_int_equal(handshake(p), OTPC_EPROTO);
    assert_int_equal(otpc__tls_established(p->s), 0);
    const char *why = otpc__tls_error(p->s);
    assert_non_null(why);
    assert_true(strlen(why) > 0);
    assert_string_not_equal(why, "unknown TLS error");
    assert_true(p->last_out > 0); /* the alert */
    otpc__buf_t got = {0};
    if (p->cli_done)
        assert_int_equal(client_read(p, &got), SSL_ERROR_SSL);
    else
        assert_int_not_equal(SSL_do_handshake(p->c), 1);
    ERR_clear_error();
    assert_int_equal(got.len, 0);
    otpc__buf_free(&got);
}

/* Mutual TLS, client without a certificate: refused (both versions). The same client
 * is accepted when the server only asks (verify_peer without fail_if_no_peer_cert). */
static void mtls_no_cert(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        client_conf_t cc = {.trust = path[F_CA], .max_version = versions[i]};
        pair_t p;
        pair_open(&p, server_ctx(1, 1), &cc);
        assert_refused(&p);
        pair_close(&p);

        pair_open(&p, server_ctx(1, 0), &cc);
        assert_int_equal(handshake(&p), 0);
        exchange(&p, 10);
        pair_close(&p);
    }
}

/* Mutual TLS, client certificate from the unrelated CA: refused (both versions), also
 * when the server only asks for a certificate (one sent is verified). */
static void mtls_unrelated_ca(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        for (int fail_if_no = 1; fail_if_no >= 0; fail_if_no--) {
            client_conf_t cc = {.cert = path[F_CLI2_CERT],
                                .key = path[F_CLI2_KEY],
                                .trust = path[F_CA],
                                .max_version = versions[i]};
            pair_t p;
            pair_open(&p, server_ctx(1, fail_if_no), &cc);
            assert_refused(&p);
            pair_close(&p);
        }
    }
}

/* Bytes that are not TLS: OTPC_EPROTO with a reason. */
static void garbage(void **state)
{
    (void)state;
    static const char *const junk[] = {
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "\x16\x03\x01\x00\x08garbage!", /* a handshake record holding no ClientHello */
        "\x15\x03\x03\x00\x02\x02\x28", /* a fatal alert before anything */
    };
    const size_t lens[] = {strlen(junk[0]), 13, 7};
    for (int i = 0; i < 3; i++) {
        pair_t p;
        pair_open(&p, server_ctx(0, 0), &plain_client);
        assert_int_equal(otpc__tls_feed(p.s, junk[i], lens[i]), 0);
        assert_int_equal(otpc__tls_recv(p.s, &p.plain), OTPC_EPROTO);
        assert_int_equal(otpc__tls_established(p.s), 0);
        assert_int_equal(p.plain.len, 0);
        assert_string_not_equal(otpc__tls_error(p.s), "unknown TLS error");
        pair_close(&p);
    }
}

/* Half a ClientHello: recv returns 0 (wait), nothing is sent, no error is recorded,
 * otpc__tls_send is refused; the rest later completes the handshake. */
static void stalled_handshake(void **state)
{
    (void)state;
    pair_t p;
    pair_open(&p, server_ctx(0, 0), &plain_client);
    assert_int_not_equal(SSL_do_handshake(p.c), 1);
    ERR_clear_error();
    BIO *w = SSL_get_wbio(p.c);
    size_t n = BIO_ctrl_pending(w);
    assert_true(n > 10);
    char *hello = malloc(n);
    assert_non_null(hello);
    assert_int_equal(BIO_read(w, hello, (int)n), (int)n);
    assert_int_equal(otpc__tls_feed(p.s, hello, n / 2), 0);
    for (int i = 0; i < 2; i++) { /* asking again changes nothing */
        assert_int_equal(otpc__tls_send(p.s, "x", 1), OTPC_EPROTO); /* not yet */
        server_step(&p);
        assert_int_equal(p.srv_rc, 0);
        assert_int_equal(p.last_out, 0);
        assert_int_equal(otpc__tls_established(p.s), 0);
        assert_string_equal(otpc__tls_error(p.s), "unknown TLS error"); /* none set */
        assert_int_equal(otpc__tls_peer_closed(p.s), 0);
    }
    assert_int_equal(otpc__tls_feed(p.s, hello + n / 2, n - n / 2), 0);
    free(hello);
    assert_int_equal(handshake(&p), 0);
    exchange(&p, 32);
    pair_close(&p);
}

/* close_notify from the client after the handshake: recv returns OTPC_EPROTO with
 * peer_closed set, after handing out the data that came before it. */
static void peer_close_notify(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        client_conf_t cc = {.max_version = versions[i]};
        pair_t p;
        pair_open(&p, server_ctx(0, 0), &cc);
        assert_int_equal(handshake(&p), 0);
        assert_int_equal(SSL_write(p.c, "bye", 3), 3);
        assert_true(SSL_shutdown(p.c) >= 0);
        ERR_clear_error();
        c2s(&p);
        assert_int_equal(otpc__tls_recv(p.s, &p.plain), OTPC_EPROTO);
        assert_int_equal(otpc__tls_peer_closed(p.s), 1);
        assert_int_equal(p.plain.len, 3);
        assert_memory_equal(p.plain.data, "bye", 3);
        pair_close(&p);
    }
}

/* Bad configurations: NULL with a reason naming what is wrong. A cert+key file with
 * no keyfile works. */
/* ---- the engine's client role against its server role ------------------------------- */

typedef struct {
    otpc__tls_ctx_t *cctx, *sctx;
    otpc__tls_t *c, *s;
} engines_t;

static otpc__tls_ctx_t *client_ctx(const char *cert, const char *key, const char *trust)
{
    otpc__tls_conf_t conf = {.certfile = cert,
                             .keyfile = key,
                             .cacertfile = trust,
                             .verify_peer = trust != NULL,
                             .client = 1};
    char err[256] = "";
    otpc__tls_ctx_t *ctx = otpc__tls_ctx_new(&conf, err, sizeof err);
    if (!ctx)
        fail_msg("otpc__tls_ctx_new (client): %s", err);
    return ctx;
}

static void engines_open(engines_t *e, otpc__tls_ctx_t *cctx, otpc__tls_ctx_t *sctx,
                         const char *host)
{
    e->cctx = cctx;
    e->sctx = sctx;
    e->c = otpc__tls_new_client(cctx, host);
    e->s = otpc__tls_new(sctx);
    assert_true(e->c && e->s);
}

static void engines_close(engines_t *e)
{
    otpc__tls_free(e->c);
    otpc__tls_free(e->s);
    otpc__tls_ctx_free(e->cctx);
    otpc__tls_ctx_free(e->sctx);
    ERR_clear_error();
}

/* Everything one engine has for the other; returns the bytes moved. */
static size_t move(otpc__tls_t *from, otpc__tls_t *to)
{
    otpc__buf_t out = {0};
    assert_int_equal(otpc__tls_take_out(from, &out), 0);
    size_t n = out.len;
    if (n)
        assert_int_equal(otpc__tls_feed(to, out.data, n), 0);
    otpc__buf_free(&out);
    return n;
}

/* Both handshakes to the end: 0, or -1 (client failed) / -2 (server failed). */
static int engines_handshake(engines_t *e)
{
    for (int i = 0; i < 20; i++) {
        int rc = otpc__tls_handshake(e->c);
        move(e->c, e->s);
        if (rc < 0)
            return -1;
        int rs = otpc__tls_handshake(e->s);
        move(e->s, e->c);
        if (rs < 0)
            return -2;
        if (rc == 1 && rs == 1)
            return 0;
    }
    fail_msg("handshake makes no progress");
    return 0;
}

static void engines_exchange(engines_t *e, size_t n)
{
    char *up = pattern(n, 3), *down = pattern(n, 4);
    otpc__buf_t got = {0};
    assert_int_equal(otpc__tls_send(e->c, up, n), 0);
    move(e->c, e->s);
    assert_int_equal(otpc__tls_recv(e->s, &got), 0);
    assert_int_equal(got.len, n);
    assert_memory_equal(got.data, up, n);
    got.len = 0;
    assert_int_equal(otpc__tls_send(e->s, down, n), 0);
    move(e->s, e->c);
    assert_int_equal(otpc__tls_recv(e->c, &got), 0);
    assert_int_equal(got.len, n);
    assert_memory_equal(got.data, down, n);
    otpc__buf_free(&got);
    free(up);
    free(down);
}

/* TLS distribution's shape: mutual verification, the client checking the host. */
static void client_engine_mutual(void **state)
{
    (void)state;
    engines_t e;
    engines_open(&e, client_ctx(path[F_CLI_CERT], path[F_CLI_KEY], path[F_CA]), server_ctx(1, 1),
                 "localhost");
    assert_int_equal(engines_handshake(&e), 0);
    assert_true(otpc__tls_established(e.c) && otpc__tls_established(e.s));
    engines_exchange(&e, 100);
    engines_exchange(&e, 1 << 20);
    engines_close(&e);
}

/* The server's certificate is for localhost: any other name, or an address it does
 * not carry, fails the client with the reason. */
static void client_engine_checks_host(void **state)
{
    (void)state;
    const char *hosts[] = {"example.org", "127.0.0.2"};
    for (int i = 0; i < 2; i++) {
        engines_t e;
        engines_open(&e, client_ctx(NULL, NULL, path[F_CA]), server_ctx(0, 0), hosts[i]);
        assert_int_equal(engines_handshake(&e), -1);
        assert_non_null(strstr(otpc__tls_error(e.c), "mismatch"));
        engines_close(&e);
    }
}

/* A server certificate from a CA the client does not trust fails the client; with
 * verification off (verify_none) the same handshake completes. */
static void client_engine_untrusted_server(void **state)
{
    (void)state;
    engines_t e;
    engines_open(&e, client_ctx(NULL, NULL, path[F_CA2]), server_ctx(0, 0), "localhost");
    assert_int_equal(engines_handshake(&e), -1);
    assert_non_null(strstr(otpc__tls_error(e.c), "certificate"));
    engines_close(&e);
    engines_open(&e, client_ctx(NULL, NULL, NULL), server_ctx(0, 0), "localhost");
    assert_int_equal(engines_handshake(&e), 0);
    engines_close(&e);
}

/* A client without a certificate, or with one from another CA, is refused by a server
 * that requires one (fail_if_no_peer_cert). */
static void client_engine_refused_by_server(void **state)
{
    (void)state;
    const char *certs[][2] = {{NULL, NULL}, {path[F_CLI2_CERT], path[F_CLI2_KEY]}};
    for (int i = 0; i < 2; i++) {
        engines_t e;
        engines_open(&e, client_ctx(certs[i][0], certs[i][1], path[F_CA]), server_ctx(1, 1),
                     "localhost");
        int rc = engines_handshake(&e);
        if (rc == 0) { /* TLS 1.3: the client is done before the server checked it */
            rc = otpc__tls_recv(e.s, &(otpc__buf_t){0}) < 0 ? -2 : 0;
        }
        assert_int_equal(rc, -2);
        engines_close(&e);
    }
}

static void ctx_new_errors(void **state)
{
    (void)state;
    char missing[300];
    snprintf(missing, sizeof missing, "%s/nonexistent.pem", dir);
    char err[256];
    const struct {
        otpc__tls_conf_t conf;
        const char *prefix;
    } bad[] = {
        {{.certfile = missing, .keyfile = path[F_SRV_KEY]}, "certfile"},
        {{.certfile = NULL, .keyfile = path[F_SRV_KEY]}, "certfile"},
        {{.certfile = path[F_SRV_CERT], .keyfile = path[F_OTHER_KEY]}, "keyfile"},
        {{.certfile = path[F_SRV_CERT], .keyfile = missing}, "keyfile"},
        {{.certfile = path[F_SRV_CERT]}, "keyfile"}, /* no key in certfile */
        {{.certfile = path[F_SRV_CERT],
          .keyfile = path[F_SRV_KEY],
          .cacertfile = missing,
          .verify_peer = 1},
         "cacertfile"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(err, 0, sizeof err);
        assert_null(otpc__tls_ctx_new(&bad[i].conf, err, sizeof err));
        assert_true(strlen(err) > 0);
        assert_int_equal(strncmp(err, bad[i].prefix, strlen(bad[i].prefix)), 0);
        assert_null(strchr(err, '\n'));
    }
    assert_int_equal(ERR_peek_error(), 0); /* nothing left in the queue */

    otpc__tls_conf_t combo = {.certfile = path[F_COMBO]};
    otpc__tls_ctx_t *ctx = otpc__tls_ctx_new(&combo, err, sizeof err);
    assert_non_null(ctx);
    pair_t p;
    pair_open(&p, ctx, &(client_conf_t){.trust = path[F_CA]});
    assert_int_equal(handshake(&p), 0);
    pair_close(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(handshake_tls13_and_tls12),
        cmocka_unit_test(data_both_ways),
        cmocka_unit_test(data_with_finished),
        cmocka_unit_test(client_verifies_server),
        cmocka_unit_test(mtls_good_cert),
        cmocka_unit_test(mtls_no_cert),
        cmocka_unit_test(mtls_unrelated_ca),
        cmocka_unit_test(garbage),
        cmocka_unit_test(stalled_handshake),
        cmocka_unit_test(peer_close_notify),
        cmocka_unit_test(ctx_new_errors),
        cmocka_unit_test(client_engine_mutual),
        cmocka_unit_test(client_engine_checks_host),
        cmocka_unit_test(client_engine_untrusted_server),
        cmocka_unit_test(client_engine_refused_by_server),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
