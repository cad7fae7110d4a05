/*
 * libFuzzer target over what a TLS daemon connection reads: TLS records into the
 * memory-BIO server engine (transport/tls.c), in pieces, as the TLS transport
 * (transport/xport_tls.c) drives it: feed what was read, read the plaintext, take what
 * must be written.
 *
 * Input: one byte whose low bit asks for mutual TLS (client certificates required and
 * verified), a cut plan (fuzz.h), then the bytes a client sent. The server is the
 * deterministic one of tls_fixture.h (both contexts made once), so a recorded client
 * session in the corpus completes its handshake and mutations of it reach the
 * established state, or a TLS 1.2 client's certificate in the clear. Checked: no plaintext and nothing encrypted (otpc__tls_send
 * refuses) before the handshake completes, and established never goes back; a failure
 * is OTPC_EPROTO with a reason recorded (otpc__tls_error, not its fallback; "closed"
 * for close_notify); what the engine gives to write is whole TLS records; once
 * established, a reply encrypts. After a failure the feeding stops, as a session
 * stops reading, but the output (an alert) is still taken.
 *
 *   make -C c_src fuzz
 *   c_src/build-fuzz/fuzz_tls -max_total_time=60 SCRATCH_DIR c_src/fuzz/corpus/tls
 */
#include "fuzz/fuzz.h"

#include "transport/tls.h"
#include "fuzz/tls_fixture.h"
#include "otpc.h"
#include "util/buf.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

#define RECORD_MAX (16384 + 2048) /* TLS 1.2's ciphertext bound, above TLS 1.3's */

static guard_t g_piece;
static otpc__tls_ctx_t *ctx[2]; /* plain, mutual TLS */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    guard_init(&g_piece);
    ctx[0] = fx_server_ctx(0);
    ctx[1] = fx_server_ctx(1);
    CHECK(ctx[0] != NULL && ctx[1] != NULL);
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > g_piece.cap)
        return 0;
    cuts_t cuts;
    size_t skip = 1 + cuts_read(&cuts, data + 1, size - 1);
    const char *s = (const char *)data + skip;
    size_t len = size - skip, fed = 0;

    otpc__tls_t *t = fx_server_conn(ctx[data[0] & 1]);
    otpc__buf_t plain = {0}, out = {0};
    CHECK(t != NULL);
    CHECK(otpc__tls_send(t, "early", 5) == OTPC_EPROTO);
    int established = 0, replied = 0;
    while (fed < len) {
        size_t n = cuts_next(&cuts, len - fed);
        CHECK(otpc__tls_feed(t, guard_put(&g_piece, s + fed, n), n) == 0);
        fed += n;
        int rc = otpc__tls_recv(t, &plain);
        CHECK(otpc__tls_established(t) >= established);
        established = otpc__tls_established(t);
        if (!established)
            CHECK(plain.len == 0 && otpc__tls_send(t, "early", 5) == OTPC_EPROTO);
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
    otpc__tls_free(t);
    return 0;
}
