/*
 * Writes the seed corpora of fuzz_reasm, fuzz_epmd, fuzz_framing, fuzz_tls and fuzz_format under
 * DIR/<target>/ (fuzz_dist's and fuzz_term_text's seeds are kept by hand). Not a fuzzer:
 * a program run by `make -C c_src fuzz-seeds` when a target's input format or OpenSSL changes; the
 * output is committed.
 *
 * Each seed is the target's header (limits and a cut plan, see each fuzz_*.c) and a
 * stream a peer could send: daemon frames and distribution packets encoded with ei
 * (with the atom cache agreed, their atoms as references the cache out chose),
 * epmd's answers as the protocol documents them, TLS sessions recorded from an OpenSSL
 * client talking to the fuzzers' deterministic server (tls_fixture.h), and what an
 * OpenSSL server sent to the fuzzers' deterministic client (fuzz_tls's client mode),
 * each replayed once here to make sure it still ends as it should. The distribution
 * packets (fuzz_framing's seeds, and what a TLS peer sends once up) are seeds_dist.c's.
 *
 *   build/fuzz_seeds DIR
 */
#include <ei.h>
#include <errno.h>
#include <stdarg.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz/seeds.h"
#include "transport/tls.h"
#include "fuzz/tls_fixture.h"
#include "otpc.h"
#include "util/buf.h"

static const char *root;

void seed_die(const char *what)
{
    fprintf(stderr, "fuzz_seeds: %s\n", what);
    exit(1);
}

void seed_put(const char *target, const char *name, const otpc__buf_t *b)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        seed_die(path);
    snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b->data, 1, b->len, f) != b->len || fclose(f) != 0)
        seed_die(path);
}

void seed_add(otpc__buf_t *b, const void *p, size_t n)
{
    if (otpc__buf_append(b, p, n))
        seed_die("out of memory");
}

void seed_add_bytes(otpc__buf_t *b, size_t n, const unsigned char *p)
{
    seed_add(b, p, n);
}

/* A {packet, 4} frame holding x's bytes (with `prefix` before them, e.g. 'p'). */
void seed_frame(otpc__buf_t *b, const char *prefix, const ei_x_buff *x)
{
    char hdr[4];
    size_t plen = prefix ? strlen(prefix) : 0;
    otpc__put_u32(hdr, (uint32_t)(plen + (size_t)x->index));
    seed_add(b, hdr, 4);
    if (plen)
        seed_add(b, prefix, plen);
    seed_add(b, x->buff, (size_t)x->index);
}

void seed_x_new(ei_x_buff *x)
{
    if (ei_x_new_with_version(x))
        seed_die("ei_x_new");
}

/* ---- daemon frames (fuzz_reasm: max, stop_at, cut plan, stream) ------------------ */

static void daemon_stream(otpc__buf_t *s)
{
    ei_x_buff x;
    seed_x_new(&x); /* {call, 1, pop} */
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "call");
    ei_x_encode_long(&x, 1);
    ei_x_encode_atom(&x, "pop");
    seed_frame(s, NULL, &x);
    seed_add(s, "\0\0\0\0", 4); /* keepalive */
    x.index = 0;                /* {cast, {push, [1, 2]}} */
    ei_x_encode_version(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "cast");
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "push");
    ei_x_encode_list_header(&x, 2);
    ei_x_encode_long(&x, 1);
    ei_x_encode_long(&x, 2);
    ei_x_encode_empty_list(&x);
    seed_frame(s, NULL, &x);
    x.index = 0; /* {call, <<"tag">>, {put, "abc"}} */
    ei_x_encode_version(&x);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "call");
    ei_x_encode_binary(&x, "tag", 3);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "put");
    ei_x_encode_string(&x, "abc");
    seed_frame(s, NULL, &x);
    ei_x_free(&x);
}

static void reasm_seeds(void)
{
    otpc__buf_t b = {0}, s = {0};
    daemon_stream(&s);
    SEED_ADD(&b, 200, 0, 0); /* limit 200, never stop, whole */
    seed_add(&b, s.data, s.len);
    seed_put("reasm", "calls_whole", &b);
    b.len = 0;
    SEED_ADD(&b, 200, 0, 1, 1); /* byte by byte */
    seed_add(&b, s.data, s.len);
    seed_put("reasm", "calls_bytewise", &b);
    b.len = 0;
    SEED_ADD(&b, 200, 3, 3, 6, 0, 17); /* pieces of 6, 0, 17; stop at the third frame */
    seed_add(&b, s.data, s.len);
    seed_put("reasm", "calls_cut_stop", &b);
    b.len = 0;
    SEED_ADD(&b, 16, 0, 2, 2, 3, 0, 1, 0, 0); /* a 64 KiB header over a limit of 16 */
    seed_put("reasm", "too_big", &b);
    b.len = 0;
    SEED_ADD(&b, 64, 0, 0, 0, 0, 0, 3, 131, 104, 0, 0, 0, 0, 2, 131, 106, 0, 0, 0, 3, 97, 98, 99, 0,
             0, 0, 10, 131, 104, 2, 119, 3, 'f', 'o', 'o', 97, 1); /* {}, [], junk, {foo, 1} */
    seed_put("reasm", "bad_frames", &b);
    otpc__buf_free(&b);
    otpc__buf_free(&s);
}

/* ---- epmd answers (fuzz_epmd: the bytes as read) --------------------------------- */

static void epmd_seeds(void)
{
    otpc__buf_t b = {0};
    SEED_ADD(&b, 118, 0, 0x64, 0x2f, 0x1a, 0x05); /* ALIVE2_X_RESP, ok, creation */
    seed_put("epmd", "alive2_x_ok", &b);
    b.len = 0;
    SEED_ADD(&b, 118, 1, 0, 0, 0, 0);
    seed_put("epmd", "alive2_x_refused", &b);
    b.len = 0;
    SEED_ADD(&b, 121, 0, 0, 3); /* ALIVE2_RESP, ok, 16-bit creation */
    seed_put("epmd", "alive2_ok", &b);
    b.len = 0;
    SEED_ADD(&b, 119, 0, 0x9c, 0x40, 77, 0, 0, 6, 0, 5, 0, 4, 'p', 'e', 'e', 'r', 0, 0);
    seed_put("epmd", "port2_found", &b);
    b.len = 0;
    SEED_ADD(&b, 119, 1);
    seed_put("epmd", "port2_unknown", &b);
    otpc__buf_free(&b);
}

/* ---- TLS sessions (fuzz_tls: cut plan, what the client sent) --------------------- */

/* Move everything in BIO `from` to the end of `to`. */
static void drain(BIO *from, otpc__buf_t *to)
{
    char chunk[4096];
    int n;
    while ((n = BIO_read(from, chunk, sizeof chunk)) > 0)
        seed_add(to, chunk, (size_t)n);
}

/* Give the client's new bytes to the server (and to the record), its answer back. */
static int shuttle(otpc__tls_t *t, BIO *c_out, BIO *c_in, otpc__buf_t *rec, otpc__buf_t *plain)
{
    otpc__buf_t bytes = {0}, answer = {0};
    fx_rand_select(FX_CLIENT);
    drain(c_out, &bytes);
    seed_add(rec, bytes.data, bytes.len);
    fx_rand_select(FX_SERVER);
    if (otpc__tls_feed(t, bytes.data, bytes.len))
        seed_die("feed");
    int rc = otpc__tls_recv(t, plain);
    otpc__tls_take_out(t, &answer);
    fx_rand_select(FX_CLIENT);
    if (answer.len)
        BIO_write(c_in, answer.data, (int)answer.len);
    otpc__buf_free(&bytes);
    otpc__buf_free(&answer);
    return rc;
}

typedef struct {
    const char *name;
    int version;
    int mtls;      /* the server requires a client certificate */
    int cert;      /* the client's: 0 none, 1 signed by the server's key, 2 self-signed */
    int completes; /* else the server refuses the client (its certificate) */
} session_t;

static const session_t sessions[] = {
    {"tls13_session", TLS1_3_VERSION, 0, 0, 1},    {"tls12_session", TLS1_2_VERSION, 0, 0, 1},
    {"mtls13_session", TLS1_3_VERSION, 1, 1, 1},   {"mtls12_session", TLS1_2_VERSION, 1, 1, 1},
    {"mtls12_untrusted", TLS1_2_VERSION, 1, 2, 0}, {"mtls12_no_cert", TLS1_2_VERSION, 1, 0, 0},
};

static SSL *client(const session_t *ss, SSL_CTX **cctx, BIO **c_in, BIO **c_out)
{
    fx_rand_restart(FX_CLIENT);
    fx_rand_select(FX_CLIENT);
    *cctx = SSL_CTX_new(TLS_client_method());
    SSL *c = *cctx ? SSL_new(*cctx) : NULL;
    *c_in = BIO_new(BIO_s_mem());
    *c_out = BIO_new(BIO_s_mem());
    if (!c || !*c_in || !*c_out)
        seed_die("TLS client");
    SSL_set_min_proto_version(c, ss->version);
    SSL_set_max_proto_version(c, ss->version);
    if (ss->cert) {
        X509 *x;
        EVP_PKEY *k;
        if (fx_client_cert(ss->cert == 1, &x, &k) || SSL_use_certificate(c, x) != 1 ||
            SSL_use_PrivateKey(c, k) != 1)
            seed_die("client certificate");
        X509_free(x);
        EVP_PKEY_free(k);
    }
    SSL_set_bio(c, *c_in, *c_out);
    SSL_set_connect_state(c);
    return c;
}

/* A client session against the fixture's server: the handshake, then `app` as data and
 * close_notify, or the server's refusal. Everything the client sent goes to rec. */
static void record_session(const session_t *ss, otpc__tls_ctx_t *sctx, const otpc__buf_t *app,
                           otpc__buf_t *rec)
{
    otpc__buf_t plain = {0};
    otpc__tls_t *t = fx_server_conn(sctx);
    SSL_CTX *cctx;
    BIO *c_in, *c_out;
    SSL *c = client(ss, &cctx, &c_in, &c_out);
    int rc = 0;
    for (int round = 0; round < 8 && rc == 0 && !otpc__tls_established(t); round++) {
        fx_rand_select(FX_CLIENT);
        SSL_do_handshake(c);
        rc = shuttle(t, c_out, c_in, rec, &plain);
    }
    if (!ss->completes && (rc != OTPC_EPROTO || otpc__tls_established(t)))
        seed_die("the server did not refuse the client");
    if (ss->completes) {
        fx_rand_select(FX_CLIENT);
        if (rc || SSL_do_handshake(c) != 1 ||
            SSL_write(c, app->data, (int)app->len) != (int)app->len)
            seed_die(rc ? otpc__tls_error(t) : "TLS handshake");
        shuttle(t, c_out, c_in, rec, &plain);
        fx_rand_select(FX_CLIENT);
        SSL_shutdown(c);
        if (shuttle(t, c_out, c_in, rec, &plain) != OTPC_EPROTO || !otpc__tls_peer_closed(t) ||
            plain.len != app->len || memcmp(plain.data, app->data, app->len) != 0)
            seed_die("TLS application data or close_notify");
    }
    SSL_free(c);
    SSL_CTX_free(cctx);
    otpc__tls_free(t);
    otpc__buf_free(&plain);
    ERR_clear_error();
}

/* The recorded bytes, replayed whole to a new server, end the same way again. */
static void replay(const session_t *ss, otpc__tls_ctx_t *sctx, const otpc__buf_t *rec,
                   const otpc__buf_t *app)
{
    otpc__buf_t plain = {0};
    otpc__tls_t *t = fx_server_conn(sctx);
    if (!t || otpc__tls_feed(t, rec->data, rec->len))
        seed_die("replay");
    int rc = otpc__tls_recv(t, &plain);
    int same = ss->completes
                   ? otpc__tls_established(t) && otpc__tls_peer_closed(t) && plain.len == app->len
                   : rc == OTPC_EPROTO && !otpc__tls_established(t);
    if (!same)
        seed_die("a recorded session does not replay: is the server deterministic?");
    printf("tls/%s: %zu bytes, %s\n", ss->name, rec->len,
           ss->completes ? "established" : otpc__tls_error(t));
    otpc__tls_free(t);
    otpc__buf_free(&plain);
    ERR_clear_error();
}

static void tls_seeds(void)
{
    otpc__tls_ctx_t *sctx[2] = {fx_server_ctx(0), fx_server_ctx(1)};
    otpc__buf_t app = {0}, rec = {0}, b = {0};
    char name[64];
    if (!sctx[0] || !sctx[1])
        seed_die("server context");
    daemon_stream(&app);
    for (size_t i = 0; i < sizeof sessions / sizeof sessions[0]; i++) {
        const session_t *ss = &sessions[i];
        rec.len = 0;
        record_session(ss, sctx[ss->mtls], &app, &rec);
        replay(ss, sctx[ss->mtls], &rec, &app);
        b.len = 0;
        SEED_ADD(&b, (unsigned char)ss->mtls, 0); /* whole: handshake, data and close at once */
        seed_add(&b, rec.data, rec.len);
        seed_put("tls", ss->name, &b);
        if (!ss->completes)
            continue;
        b.len = 0;
        SEED_ADD(&b, (unsigned char)ss->mtls, 2, 5, 200); /* pieces of 5 and 200: established
                                                         before the data comes */
        seed_add(&b, rec.data, rec.len);
        snprintf(name, sizeof name, "%s_cut", ss->name);
        seed_put("tls", name, &b);
    }
    b.len = 0;
    SEED_ADD(&b, 0, 0);
    seed_add(&b, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", 35);
    seed_put("tls", "plain_http", &b);
    otpc__buf_free(&app);
    otpc__buf_free(&rec);
    otpc__buf_free(&b);
    otpc__tls_ctx_free(sctx[0]);
    otpc__tls_ctx_free(sctx[1]);
}

/* ---- server flights (fuzz_tls's client mode: mode, cut plan, what the server sent) -- */

/* The recording servers' tickets carry the session's start time: pinned, so that the
 * seeds come out byte for byte the same on every run. */
static int fixed_ticket_time(SSL *s, void *arg)
{
    (void)arg;
    SSL_SESSION_set_time(SSL_get_session(s), 1735689600); /* 2025-01-01 */
    return 1;
}

typedef struct {
    const char *name;
    int version;
    int server;    /* 0 the fixture's, 1 its mutual TLS one, 2 untrusted, 3 wrong host */
    unsigned mode; /* fuzz_tls's mode byte: 2 | verify | cert << 2 */
    int cut;       /* also write NAME_cut, fed in pieces of 5 and 200 */
} flight_t;

/* The rogue servers' flights are recorded by a client that does not verify (so that
 * they hold a whole session) and replayed to one that does: refused. */
static const flight_t flights[] = {
    {"client13_session", TLS1_3_VERSION, 0, 3, 1},
    {"client12_session", TLS1_2_VERSION, 0, 3, 0},
    {"client13_mtls", TLS1_3_VERSION, 1, 7, 0},
    {"client12_mtls", TLS1_2_VERSION, 1, 7, 0},
    {"client13_untrusted", TLS1_3_VERSION, 2, 3, 0},
    {"client12_wrong_host", TLS1_2_VERSION, 3, 3, 0},
};

static SSL *server(const flight_t *f, otpc__tls_ctx_t *sctx, BIO **s_in, BIO **s_out)
{
    fx_rand_restart(FX_SERVER);
    fx_rand_select(FX_SERVER);
    SSL *s = SSL_new(sctx);
    *s_in = BIO_new(BIO_s_mem());
    *s_out = BIO_new(BIO_s_mem());
    if (!s || !*s_in || !*s_out)
        seed_die("TLS server");
    SSL_set_min_proto_version(s, f->version);
    SSL_set_max_proto_version(s, f->version);
    SSL_set_bio(s, *s_in, *s_out);
    SSL_set_accept_state(s);
    return s;
}

/* What the client engine wrote goes to the server; what the server wrote in answer
 * (after `act`) to the record and to the client, which reads it all. */
static int to_server_and_back(otpc__tls_t *c, SSL *s, BIO *s_in, BIO *s_out,
                              void (*act)(SSL *, const otpc__buf_t *), const otpc__buf_t *app,
                              otpc__buf_t *rec, otpc__buf_t *plain)
{
    otpc__buf_t bytes = {0};
    size_t from = rec->len;
    if (otpc__tls_take_out(c, &bytes))
        seed_die("out of memory");
    fx_rand_select(FX_SERVER);
    if (bytes.len)
        BIO_write(s_in, bytes.data, (int)bytes.len);
    act(s, app);
    drain(s_out, rec);
    fx_rand_select(FX_CLIENT);
    if (otpc__tls_feed(c, rec->data + from, rec->len - from))
        seed_die("feed");
    otpc__buf_free(&bytes);
    return otpc__tls_recv(c, plain);
}

static void server_handshake(SSL *s, const otpc__buf_t *app)
{
    (void)app;
    SSL_do_handshake(s);
}

/* The data in two halves around a message the client must answer, then close_notify:
 * a key update asking for the client's (TLS 1.3), or a HelloRequest (TLS 1.2) that it
 * refuses with a warning, renegotiation being off (the server's own refusal is lifted
 * to send it). */
static void server_data(SSL *s, const otpc__buf_t *app)
{
    size_t half = app->len / 2;
    if (SSL_write(s, app->data, (int)half) != (int)half)
        seed_die("server's data");
    int tls13 = SSL_version(s) == TLS1_3_VERSION;
    if (!tls13)
        SSL_clear_options(s, SSL_OP_NO_RENEGOTIATION);
    if ((tls13 ? SSL_key_update(s, SSL_KEY_UPDATE_REQUESTED) : SSL_renegotiate(s)) != 1 ||
        SSL_do_handshake(s) != 1)
        seed_die(tls13 ? "server's key update" : "server's HelloRequest");
    if (SSL_write(s, app->data + half, (int)(app->len - half)) != (int)(app->len - half))
        seed_die("server's data");
    SSL_shutdown(s);
}

/* A session of the fixture's client engine against an OpenSSL server: the handshake,
 * then `app` from the server and its close_notify. Everything the server sent goes to
 * rec. */
static void record_flight(const flight_t *f, otpc__tls_ctx_t *sctx, otpc__tls_ctx_t *cctx,
                          const otpc__buf_t *app, otpc__buf_t *rec)
{
    otpc__buf_t plain = {0}, answer = {0};
    BIO *s_in, *s_out;
    SSL *s = server(f, sctx, &s_in, &s_out);
    otpc__tls_t *c = fx_client_conn(cctx);
    int rc = c ? otpc__tls_handshake(c) : -1;
    for (int round = 0; round < 8 && rc == 0 && !SSL_is_init_finished(s); round++)
        rc = to_server_and_back(c, s, s_in, s_out, server_handshake, app, rec, &plain);
    if (rc || !otpc__tls_established(c) || !SSL_is_init_finished(s))
        seed_die(rc ? otpc__tls_error(c) : "TLS handshake");
    rc = to_server_and_back(c, s, s_in, s_out, server_data, app, rec, &plain);
    if (rc != OTPC_EPROTO || !otpc__tls_peer_closed(c) || plain.len != app->len ||
        memcmp(plain.data, app->data, app->len) != 0)
        seed_die("TLS application data or close_notify");
    /* The HelloRequest is refused at once (a key update is answered with the next write,
     * as OpenSSL does). */
    if (otpc__tls_take_out(c, &answer) ||
        (f->version == TLS1_2_VERSION && (answer.len == 0 || answer.data[0] != 21)))
        seed_die("no alert refusing the HelloRequest");
    SSL_free(s);
    otpc__tls_free(c);
    otpc__buf_free(&answer);
    otpc__buf_free(&plain);
    ERR_clear_error();
}

/* The recorded flight, replayed whole to a new client of cctx after its ClientHello:
 * 1 if it reached established, read `app` and the close_notify; 0 if it failed
 * unestablished (its reason in why); dies otherwise. */
static int replay_flight(otpc__tls_ctx_t *cctx, const otpc__buf_t *rec, const otpc__buf_t *app,
                         char *why, size_t cap)
{
    otpc__buf_t plain = {0}, out = {0};
    otpc__tls_t *c = fx_client_conn(cctx);
    if (!c || otpc__tls_handshake(c) != 0 || otpc__tls_take_out(c, &out) ||
        otpc__tls_feed(c, rec->data, rec->len))
        seed_die("replay");
    int rc = otpc__tls_recv(c, &plain);
    int up = otpc__tls_established(c) && otpc__tls_peer_closed(c) && plain.len == app->len &&
             memcmp(plain.data, app->data, app->len) == 0;
    if (!up && (rc != OTPC_EPROTO || otpc__tls_established(c)))
        seed_die("a recorded flight does not replay: is the client deterministic?");
    snprintf(why, cap, "%s", up ? "established" : otpc__tls_error(c));
    otpc__tls_free(c);
    otpc__buf_free(&plain);
    otpc__buf_free(&out);
    ERR_clear_error();
    return up;
}

/* Record each flight, check that its mode's client ends as it should (and that the
 * rogue servers' flights do reach established when the server goes unverified), and
 * write it. */
static void flight_seeds(void)
{
    otpc__tls_ctx_t *sctx[4] = {fx_server_ctx(0), fx_server_ctx(1), fx_rogue_server_ctx(0),
                                fx_rogue_server_ctx(1)};
    otpc__tls_ctx_t *cctx[8] = {0}; /* by mode & 7, modes 2, 3, 6, 7 */
    otpc__buf_t app = {0}, rec = {0}, b = {0};
    char name[64], why[200], plain_why[200];
    seed_dist_stream(&app); /* what a distribution peer sends once up */
    for (unsigned m = 2; m < 8; m++)
        if ((m & 2) && !(cctx[m] = fx_client_ctx(m & 1, m >> 2 & 1)))
            seed_die("client context");
    for (size_t i = 0; i < 4; i++) {
        if (!sctx[i])
            seed_die("server context");
        SSL_CTX_set_session_ticket_cb(sctx[i], fixed_ticket_time, NULL, NULL);
    }
    for (size_t i = 0; i < sizeof flights / sizeof flights[0]; i++) {
        const flight_t *f = &flights[i];
        int rogue = f->server >= 2;
        rec.len = 0;
        record_flight(f, sctx[f->server], cctx[f->mode & ~(rogue ? 1u : 0u)], &app, &rec);
        if (replay_flight(cctx[f->mode], &rec, &app, why, sizeof why) == rogue)
            seed_die(rogue ? "a rogue server's flight reached established" : why);
        if (rogue && !replay_flight(cctx[f->mode & ~1u], &rec, &app, plain_why, sizeof plain_why))
            seed_die(plain_why);
        printf("tls/%s: %zu bytes, %s\n", f->name, rec.len, why);
        b.len = 0;
        SEED_ADD(&b, (unsigned char)f->mode, 0); /* whole: the server's flights, data and close */
        seed_add(&b, rec.data, rec.len);
        seed_put("tls", f->name, &b);
        if (!f->cut)
            continue;
        b.len = 0;
        SEED_ADD(&b, (unsigned char)f->mode, 2, 5, 200); /* pieces of 5 and 200 */
        seed_add(&b, rec.data, rec.len);
        snprintf(name, sizeof name, "%s_cut", f->name);
        seed_put("tls", name, &b);
    }
    for (size_t i = 0; i < 4; i++)
        otpc__tls_ctx_free(sctx[i]);
    for (unsigned m = 0; m < 8; m++)
        otpc__tls_ctx_free(cctx[m]);
    otpc__buf_free(&app);
    otpc__buf_free(&rec);
    otpc__buf_free(&b);
}

/* ---- terms with a format (fuzz_format: format number or free form, then bytes) ----- */

/* Seed `name`: the byte k, then the term fmt builds (versioned if ver). */
static void format_seed(const char *name, unsigned char k, int ver, const char *fmt, ...)
{
    otpc__buf_t b = {0};
    ei_x_buff x;
    va_list ap;
    if ((ver ? ei_x_new_with_version(&x) : ei_x_new(&x)))
        seed_die("ei_x_new");
    va_start(ap, fmt);
    if (otpc_x_vformat(&x, fmt, ap))
        seed_die(fmt);
    va_end(ap);
    seed_add(&b, &k, 1);
    seed_add(&b, x.buff, (size_t)x.index);
    seed_put("format", name, &b);
    ei_x_free(&x);
    otpc__buf_free(&b);
}

static void format_seeds(void)
{
    otpc_term_t sub = {"\x83h\x01w\x01z", 6}; /* {z} */
    format_seed("atom_long", 0, 1, "{~a, ~l}", "caf\xc3\xa9", -1234567890123L);
    format_seed("string_bin_term", 1, 1, "{~s, ~b, ~t}", "\u20ac1", "b", (size_t)1, sub);
    format_seed("string_bin_term_raw", 1, 0, "{\"abc\", <<>>, [1 | 2]}");
    format_seed("ints", 2, 1, "[-7, 300, x | y]");
    format_seed("map", 3, 1, "#{a => 1, k => ~d, \"s\" => [{}]}", 0.5);
    format_seed("map_bytes", 3, 1, "#{k => ~d, \"s\" => \"t\"}", -1e-300);
    format_seed("gen_call", 4, 1, "{'$gen_call', {p, t}, {go, <<\"x\">>, [a, \"b\", 7, -1]}}");
    /* free form: the format, a NUL, the term */
    static const char *const forms[] = {
        "{ok, [a, \"s\" | b], #{k => <<\"x\">>}, 'q x'}",
        "#{cfg := #{port := 80}}",
        "[1, 2 | _]",
        "{'EXIT', _Pid, {shutdown, \"why\"}}",
    };
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        otpc__buf_t b = {0};
        ei_x_buff x;
        char name[32];
        unsigned char k = 0xff;
        if (ei_x_new_with_version(&x) ||
            otpc_x_format(&x, "{ok, [a, \"s\" | b], #{k => <<\"x\">>}, 'q x'}"))
            seed_die("free form");
        seed_add(&b, &k, 1);
        seed_add(&b, forms[i], strlen(forms[i]) + 1);
        seed_add(&b, x.buff, (size_t)x.index);
        snprintf(name, sizeof name, "free_%zu", i);
        seed_put("format", name, &b);
        ei_x_free(&x);
        otpc__buf_free(&b);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2)
        seed_die("usage: fuzz_seeds DIR");
    root = argv[1];
    reasm_seeds();
    epmd_seeds();
    seed_framing();
    tls_seeds();
    flight_seeds();
    format_seeds();
    return 0;
}
