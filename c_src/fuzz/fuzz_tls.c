/*
 * libFuzzer target over the TLS engine (transport/tls.c, memory BIOs) in both roles,
 * fed what a peer sent, in pieces, as its users drive it: feed what was read, read the
 * plaintext, take what must be written.
 *  - server mode: what a TLS daemon connection or an accepted TLS distribution
 *    connection reads, a client's records into the server engine (transport/xport_tls.c);
 *  - client mode: what a dialled TLS distribution connection reads, a server's records
 *    (ServerHello, certificates, tickets, key updates, data) into the client engine,
 *    whose ClientHello is taken first, as distribution/conn.c sends it at once.
 *
 * Input: one mode byte, a cut plan (fuzz.h), then the bytes the peer sent. The mode
 * byte: bit 1 clear, server mode, bit 0 asks for mutual TLS (client certificates
 * required and verified); bit 1 set, client mode naming "localhost", bit 0 verifies
 * the server (chain to the fixture's CA and host) and bit 2 gives the client a
 * certificate. Both engines are the deterministic ones of tls_fixture.h (every context
 * made once), so a recorded session in the corpus (a client's bytes for the server, a
 * server's for the client) completes its handshake and mutations of it reach the
 * established state, or a TLS 1.2 peer's certificate in the clear.
 *
 * Checked in both modes: no plaintext and nothing encrypted (otpc__tls_send refuses)
 * before the handshake completes, and established never goes back; a failure is
 * OTPC_EPROTO with a reason recorded (otpc__tls_error, not its fallback; "closed" for
 * close_notify); what the engine gives to write is whole TLS records; once
 * established, a reply encrypts. A verifying client is established only with a
 * server certificate signed by the fixture's CA key and naming localhost, checked
 * apart from OpenSSL's chain building, at the handshake's end (an info callback on
 * the context, which only observes). After a failure the feeding stops, as a session
 * stops reading, but the output (an alert) is still taken.
 *
 *   make -C c_src fuzz
 *   c_src/build-fuzz/fuzz_tls -max_total_time=60 SCRATCH_DIR c_src/fuzz/corpus/tls
 */
#include "fuzz/fuzz.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "transport/tls.h"
#include "fuzz/tls_fixture.h"
#include "otpc.h"
#include "util/buf.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

#define RECORD_MAX (16384 + 2048) /* TLS 1.2's ciphertext bound, above TLS 1.3's */

static guard_t g_piece;
static otpc__tls_ctx_t *ctx[2];  /* servers: plain, mutual TLS */
static otpc__tls_ctx_t *cctx[4]; /* clients: [verify | cert << 1] */
static int g_peer_ours;          /* the last finished handshake's server certificate was
                                  * the CA's (signed by its key) and named localhost */

/* At a verifying client's handshake end (and post-handshake messages), judge the
 * server's certificate without OpenSSL's chain building: its signature against the
 * CA's key, its name against the host the client asked for. */
static void on_info(const SSL *s, int where, int ret)
{
    (void)ret;
    if (!(where & SSL_CB_HANDSHAKE_DONE))
        return;
    X509 *leaf = SSL_get0_peer_certificate(s);
    g_peer_ours = leaf && X509_verify(leaf, X509_get0_pubkey(fx_ca())) == 1 &&
                  X509_check_host(leaf, "localhost", 0, 0, NULL) == 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    guard_init(&g_piece);
    ctx[0] = fx_server_ctx(0);
    ctx[1] = fx_server_ctx(1);
    CHECK(ctx[0] != NULL && ctx[1] != NULL);
    for (int i = 0; i < 4; i++) {
        cctx[i] = fx_client_ctx(i & 1, i >> 1);
        CHECK(cctx[i] != NULL);
        if (i & 1)
            SSL_CTX_set_info_callback(cctx[i], on_info);
    }
    return 0;
}

/* Take the engine's output: whole records (5-byte header, type 20..23: change cipher
 * spec, alert, handshake, application data), nothing cut. Not the version: an alert
 * about a bad version carries the peer's. */
static size_t take_out(otpc__tls_t *t, otpc__buf_t *out)
{
    out->len = 0;
    CHECK(otpc__tls_take_out(t, out) == 0);
    const unsigned char *d = (const unsigned char *)out->data;
    size_t o = 0;
    while (o < out->len) {
        CHECK(out->len - o >= 5);
        CHECK(d[o] >= 20 && d[o] <= 23);
        size_t len = (size_t)d[o + 3] << 8 | d[o + 4];
        CHECK(len <= RECORD_MAX && out->len - o - 5 >= len);
        o += 5 + len;
    }
    return out->len;
}

static void check_failure(const otpc__tls_t *t, int rc)
{
    const char *why = otpc__tls_error(t);
    CHECK(rc == OTPC_EPROTO);
    CHECK(why != NULL && why[0] != 0 && strcmp(why, "unknown TLS error") != 0);
    if (otpc__tls_peer_closed(t))
        CHECK(strcmp(why, "closed") == 0);
}

/* Feed the peer's bytes in the cut plan's pieces and check the engine after each. */
static void drive(otpc__tls_t *t, cuts_t *cuts, const char *s, size_t len, int verifies)
{
    otpc__buf_t plain = {0}, out = {0};
    CHECK(otpc__tls_send(t, "early", 5) == OTPC_EPROTO);
    int established = 0, replied = 0;
    size_t fed = 0;
    while (fed < len) {
        size_t n = cuts_next(cuts, len - fed);
        CHECK(otpc__tls_feed(t, guard_put(&g_piece, s + fed, n), n) == 0);
        fed += n;
        int rc = otpc__tls_recv(t, &plain);
        CHECK(otpc__tls_established(t) >= established);
        established = otpc__tls_established(t);
        if (!established)
            CHECK(plain.len == 0 && otpc__tls_send(t, "early", 5) == OTPC_EPROTO);
        else if (verifies)
            CHECK(g_peer_ours); /* never up with a server that is not ours */
        if (rc) {
            check_failure(t, rc);
            take_out(t, &out); /* the alert, if any */
            break;
        }
        CHECK(!otpc__tls_peer_closed(t));
        take_out(t, &out);
        if (established && !replied) {
            /* a session's first reply: encrypted into at least one record */
            CHECK(otpc__tls_send(t, "\0\0\0\2\203j", 6) == 0);
            CHECK(take_out(t, &out) > 0);
            replied = 1;
        }
    }
    otpc__buf_free(&out);
    otpc__buf_free(&plain);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > g_piece.cap)
        return 0;
    cuts_t cuts;
    size_t skip = 1 + cuts_read(&cuts, data + 1, size - 1);
    int client = data[0] & 2, verifies = client && (data[0] & 1);
    otpc__tls_t *t;
    if (client) {
        t = fx_client_conn(cctx[(data[0] & 1) | (data[0] >> 1 & 2)]);
        CHECK(t != NULL);
        /* The ClientHello goes out before anything is read: whole handshake records. */
        otpc__buf_t hello = {0};
        CHECK(otpc__tls_handshake(t) == 0);
        CHECK(take_out(t, &hello) > 0 && hello.data[0] == 22);
        otpc__buf_free(&hello);
    } else {
        t = fx_server_conn(ctx[data[0] & 1]);
        CHECK(t != NULL);
    }
    g_peer_ours = 0;
    drive(t, &cuts, (const char *)data + skip, size - skip, verifies);
    otpc__tls_free(t);
    return 0;
}
