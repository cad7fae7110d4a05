/*
 * Unit tests of dist/handshake.h, the version-6 handshake as a pure state machine.
 *
 * An initiator and an acceptor are driven against each other in memory: every frame
 * one side appends to its output (2-byte length prefix) is fed to the other. The
 * refusals (cookie, flags, status) are checked by what each side returns, the reason it
 * records and the status message it queues. A recorded transcript of a good handshake
 * is then replayed up to each state and followed by truncated, extended and garbage
 * messages, which must fail cleanly. Every message is fed from an exact-size heap copy
 * so that ASan catches any read past its end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/flags.h"
#include "proto/framing.h"
#include "proto/handshake.h"
#include "otpc.h"

#define COOKIE "monster"
#define A_CHALLENGE 1234567u
#define B_CHALLENGE 4000000001u
#define A_CREATION 11u
#define B_CREATION 0x80000022u

/* One handshake message, without its 2-byte length. */
typedef struct {
    char data[320];
    size_t len;
} msg_t;

#define MAX_MSGS 4

/* Split a buffer of 2-byte-length frames into messages; returns their number. The
 * buffer must hold whole frames only. */
static size_t split(const otpc__buf_t *b, msg_t *out, size_t max)
{
    size_t pos = 0, n = 0;
    otpc__frame_t f;
    while (pos < b->len) {
        assert_int_equal(otpc__frame_next(b->data + pos, b->len - pos, 2, 65535, &f), 1);
        assert_true(n < max);
        assert_true(f.len <= sizeof out[n].data);
        memcpy(out[n].data, b->data + pos + f.off, f.len);
        out[n].len = f.len;
        n++;
        pos += f.next;
    }
    return n;
}

/* b holds exactly one handshake message, and it is `text` (e.g. a status "snok"). */
static void assert_only_message(const otpc__buf_t *b, const char *text)
{
    msg_t m[MAX_MSGS];
    assert_int_equal(split(b, m, MAX_MSGS), 1);
    assert_int_equal(m[0].len, strlen(text));
    assert_memory_equal(m[0].data, text, strlen(text));
}

/* Feed one message from an exact-size heap copy. */
static int feed(otpc__hs_t *hs, const char *m, size_t len, otpc__buf_t *out)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, m, len);
    int rc = otpc__hs_feed(hs, copy, len, out);
    free(copy);
    return rc;
}

/* Feed every frame of `from` to `to` (its answers go to `reply`), then empty `from`.
 * Stops at the first non-zero return, which it returns. */
static int relay(otpc__buf_t *from, otpc__hs_t *to, otpc__buf_t *reply)
{
    msg_t m[MAX_MSGS];
    size_t n = split(from, m, MAX_MSGS);
    int rc = 0;
    from->len = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = feed(to, m[i].data, m[i].len, reply);
    return rc;
}

/* An initiator `a` and an acceptor `b`, and the bytes in flight each way. */
typedef struct {
    otpc__hs_t a, b;
    otpc__buf_t a_out, b_out;
    int ra, rb; /* the last return of each side's feed */
} pair_t;

static void pair_init(pair_t *p, uint64_t a_flags, const char *a_cookie, uint64_t b_flags)
{
    memset(p, 0, sizeof *p);
    otpc__hs_init(&p->a, 1, "a@h", a_cookie, a_flags, A_CREATION, A_CHALLENGE);
    otpc__hs_init(&p->b, 0, "b@h", COOKIE, b_flags, B_CREATION, B_CHALLENGE);
    snprintf(p->a.peer_name, sizeof p->a.peer_name, "%s", "b@h");
}

/* Start both sides and pass messages until nothing is in flight or a side stops. */
static void pair_run(pair_t *p)
{
    assert_int_equal(otpc__hs_start(&p->a, &p->a_out), 0);
    assert_int_equal(otpc__hs_start(&p->b, &p->b_out), 0);
    assert_int_equal(p->b_out.len, 0); /* the acceptor speaks second */
    /* A refusal stops the exchange at once, leaving what the refusing side queued
     * (its status message) in its output for the test to inspect. */
    for (int round = 0; round < 10 && (p->a_out.len || p->b_out.len); round++) {
        if (p->a_out.len && p->rb == 0 && (p->rb = relay(&p->a_out, &p->b, &p->b_out)) < 0)
            break;
        if (p->b_out.len && p->ra == 0 && (p->ra = relay(&p->b_out, &p->a, &p->a_out)) < 0)
            break;
    }
}

static void pair_free(pair_t *p)
{
    otpc__buf_free(&p->a_out);
    otpc__buf_free(&p->b_out);
}

/* MD5(cookie ++ decimal(challenge)), computed here independently of the library. */
static void md5_digest(const char *cookie, uint32_t challenge, unsigned char out[16])
{
    char text[600];
    unsigned int n = 16;
    int len = snprintf(text, sizeof text, "%s%lu", cookie, (unsigned long)challenge);
    assert_true(len > 0 && (size_t)len < sizeof text);
    assert_int_equal(EVP_Digest(text, (size_t)len, out, &n, EVP_md5(), NULL), 1);
    assert_int_equal(n, 16);
}

/* A good handshake: both sides reach DONE and learn each other's name, flags and
 * creation (a creation with the top bit set survives unsigned). */
static void both_sides_done(void **state)
{
    (void)state;
    pair_t p;
    uint64_t a_flags = OTPC__DF_OURS | OTPC__DF_SPAWN; /* an extra flag is simply learnt */
    pair_init(&p, a_flags, COOKIE, OTPC__DF_OURS);
    pair_run(&p);
    assert_int_equal(p.ra, 1);
    assert_int_equal(p.rb, 1);
    assert_int_equal(p.a.state, OTPC__HS_DONE);
    assert_int_equal(p.b.state, OTPC__HS_DONE);
    assert_string_equal(p.a.peer_name, "b@h");
    assert_string_equal(p.b.peer_name, "a@h");
    assert_true(p.a.peer_flags == OTPC__DF_OURS);
    assert_true(p.b.peer_flags == a_flags);
    assert_int_equal(p.a.peer_creation, B_CREATION);
    assert_int_equal(p.b.peer_creation, A_CREATION);
    assert_int_equal(p.a_out.len, 0);
    assert_int_equal(p.b_out.len, 0);
    pair_free(&p);
}

/* Every message of `from` (4-byte lengths) fed to `to`; `from` is emptied. */
static int relay4(otpc__buf_t *from, otpc__hs_t *to, otpc__buf_t *reply)
{
    size_t pos = 0;
    int rc = 0;
    otpc__frame_t f;
    while (rc == 0 && otpc__frame_next(from->data + pos, from->len - pos, 4, 1024, &f) == 1) {
        rc = feed(to, from->data + pos + f.off, f.len, reply);
        pos += f.next;
    }
    assert_true(rc != 0 || pos == from->len); /* whole messages only */
    from->len = 0;
    return rc;
}

/* Over TLS (inet_tls_dist) every handshake message has a 4-byte length: both sides
 * framed so reach DONE, and the first message's length is what follows it. */
static void four_byte_lengths(void **state)
{
    (void)state;
    pair_t p;
    pair_init(&p, OTPC__DF_OURS, COOKIE, OTPC__DF_OURS);
    p.a.len_bytes = p.b.len_bytes = 4;
    assert_int_equal(otpc__hs_start(&p.a, &p.a_out), 0);
    assert_int_equal(otpc__hs_start(&p.b, &p.b_out), 0);
    assert_true(p.a_out.len > 4);
    assert_int_equal(otpc__get_u32(p.a_out.data), p.a_out.len - 4);
    assert_int_equal(p.a_out.data[4], 'N');
    for (int round = 0; round < 10 && (p.a_out.len || p.b_out.len); round++) {
        if (p.a_out.len && p.rb == 0)
            p.rb = relay4(&p.a_out, &p.b, &p.b_out);
        if (p.b_out.len && p.ra == 0)
            p.ra = relay4(&p.b_out, &p.a, &p.a_out);
    }
    assert_int_equal(p.ra, 1);
    assert_int_equal(p.rb, 1);
    assert_string_equal(p.b.peer_name, "a@h");
    pair_free(&p);
}

/* The digest is MD5 over the cookie followed by the challenge in decimal: compare
 * with OpenSSL on a fixed text, then at the edges of the challenge range. */
static void digest_known_value(void **state)
{
    (void)state;
    unsigned char got[16], want[16];
    unsigned int n = 16;
    otpc__hs_digest("cookie", 12345, got);
    EVP_Digest("cookie12345", 11, want, &n, EVP_md5(), NULL);
    assert_memory_equal(got, want, 16);
    const uint32_t edges[] = {0, 1, 4294967295u};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        otpc__hs_digest("cookie", edges[i], got);
        md5_digest("cookie", edges[i], want);
        assert_memory_equal(got, want, 16);
    }
}

/* The initiator with another cookie: the acceptor rejects its reply with
 * OTPC_ECOOKIE, says "cookie", and sends no ack; the initiator never finishes. */
static void wrong_cookie(void **state)
{
    (void)state;
    pair_t p;
    pair_init(&p, OTPC__DF_OURS, "not-" COOKIE, OTPC__DF_OURS);
    pair_run(&p);
    assert_int_equal(p.rb, OTPC_ECOOKIE);
    assert_int_equal(p.b.state, OTPC__HS_FAILED);
    assert_non_null(strstr(p.b.error, "cookie"));
    assert_int_equal(p.b_out.len, 0);
    assert_int_equal(p.a.state, OTPC__HS_RECV_ACK);
    pair_free(&p);
}

/* A forged ack (right shape, wrong digest) makes the initiator fail with OTPC_ECOOKIE. */
static void wrong_ack_digest(void **state)
{
    (void)state;
    pair_t p;
    pair_init(&p, OTPC__DF_OURS, COOKIE, OTPC__DF_OURS);
    assert_int_equal(otpc__hs_start(&p.a, &p.a_out), 0);
    assert_int_equal(otpc__hs_start(&p.b, &p.b_out), 0);
    assert_int_equal(relay(&p.a_out, &p.b, &p.b_out), 0);
    assert_int_equal(relay(&p.b_out, &p.a, &p.a_out), 0);
    assert_int_equal(p.a.state, OTPC__HS_RECV_ACK);
    char ack[17] = {'a'};
    md5_digest("other", A_CHALLENGE, (unsigned char *)ack + 1);
    assert_int_equal(feed(&p.a, ack, sizeof ack, &p.a_out), OTPC_ECOOKIE);
    assert_non_null(strstr(p.a.error, "cookie"));
    pair_free(&p);
}

/* An initiator without OTPC__DF_UNLINK_ID: the acceptor refuses with OTPC_EPROTO, names the
 * missing flags, and queues exactly the status "not_allowed". */
static void initiator_lacks_flag(void **state)
{
    (void)state;
    pair_t p;
    pair_init(&p, OTPC__DF_REQUIRED & ~OTPC__DF_UNLINK_ID, COOKIE, OTPC__DF_OURS);
    pair_run(&p);
    assert_int_equal(p.rb, OTPC_EPROTO);
    assert_int_equal(p.b.state, OTPC__HS_FAILED);
    assert_non_null(strstr(p.b.error, "mandatory"));
    assert_only_message(&p.b_out, "snot_allowed");
    pair_free(&p);
}

/* What foreign nodes of OTP 25.2 announce, as their handshakes showed: jinterface 1.13.1
 * (neither DIST_MONITOR nor DIST_MONITOR_NAME) and erl_interface 5.3 (DIST_MONITOR
 * only). Both have the OTP 26 mandatory set, so ERTS 26 talks to them and so must we. */
#define JINTERFACE_FLAGS 0x407070f94ULL
#define EI_FLAGS 0x407074f9cULL

/* A peer without the monitor flags completes the handshake in either role, and its
 * flags are learnt as they are (distribution/dsig.c then sends it no monitors). */
static void foreign_peers_accepted(void **state)
{
    (void)state;
    const uint64_t foreign[] = {JINTERFACE_FLAGS, EI_FLAGS,
                                OTPC__DF_REQUIRED}; /* the least a peer may announce */
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++) {
        assert_true((foreign[i] & OTPC__DF_REQUIRED) == OTPC__DF_REQUIRED);
        assert_true((foreign[i] & OTPC__DF_MONITORS) != OTPC__DF_MONITORS);
        for (int we_initiate = 0; we_initiate < 2; we_initiate++) {
            pair_t p;
            if (we_initiate)
                pair_init(&p, OTPC__DF_OURS, COOKIE, foreign[i]);
            else
                pair_init(&p, foreign[i], COOKIE, OTPC__DF_OURS);
            pair_run(&p);
            assert_int_equal(p.ra, 1);
            assert_int_equal(p.rb, 1);
            assert_int_equal(p.a.state, OTPC__HS_DONE);
            assert_int_equal(p.b.state, OTPC__HS_DONE);
            assert_true((we_initiate ? p.a.peer_flags : p.b.peer_flags) == foreign[i]);
            pair_free(&p);
        }
    }
}

/* A refusal names exactly the mandatory flags missing, never the monitor ones: an OTP
 * 25 node without the OTP 26 additions lacks 0x402000000. */
static void refusal_names_only_mandatory(void **state)
{
    (void)state;
    pair_t p;
    pair_init(&p, OTPC__DF_MANDATORY_25, COOKIE, OTPC__DF_OURS);
    pair_run(&p);
    assert_int_equal(p.rb, OTPC_EPROTO);
    assert_non_null(strstr(p.b.error, "0x402000000 "));
    pair_free(&p);
}

/* An acceptor without OTPC__DF_V4_NC: the initiator refuses its challenge with OTPC_EPROTO
 * and sends no reply. */
static void acceptor_lacks_flag(void **state)
{
    (void)state;
    pair_t p;
    pair_init(&p, OTPC__DF_OURS, COOKIE, OTPC__DF_OURS & ~OTPC__DF_V4_NC);
    pair_run(&p);
    assert_int_equal(p.ra, OTPC_EPROTO);
    assert_int_equal(p.a.state, OTPC__HS_FAILED);
    assert_int_equal(p.a_out.len, 0);
    assert_int_equal(p.b.state, OTPC__HS_RECV_REPLY);
    pair_free(&p);
}

/* The acceptor's check callback: sees the peer's name, and its "nok" stops the
 * handshake with "snok" as the only message sent; the initiator then fails too and
 * records that it was told nok. */
typedef struct {
    const char *answer;
    char seen[OTPC__NODE_NAME_MAX + 1];
    int calls;
} check_t;

static const char *check_cb(void *ctx, const char *peer_name)
{
    check_t *c = ctx;
    c->calls++;
    snprintf(c->seen, sizeof c->seen, "%s", peer_name);
    return c->answer;
}

static void check_says_nok(void **state)
{
    (void)state;
    pair_t p;
    check_t c = {"nok", "", 0};
    pair_init(&p, OTPC__DF_OURS, COOKIE, OTPC__DF_OURS);
    p.b.check = check_cb;
    p.b.check_ctx = &c;
    assert_int_equal(otpc__hs_start(&p.a, &p.a_out), 0);
    assert_int_equal(otpc__hs_start(&p.b, &p.b_out), 0);
    assert_true(relay(&p.a_out, &p.b, &p.b_out) < 0);
    assert_int_equal(p.b.state, OTPC__HS_FAILED);
    assert_int_equal(c.calls, 1);
    assert_string_equal(c.seen, "a@h");
    assert_only_message(&p.b_out, "snok");
    assert_true(relay(&p.b_out, &p.a, &p.a_out) < 0);
    assert_int_equal(p.a.state, OTPC__HS_FAILED);
    assert_non_null(strstr(p.a.error, "nok"));
    assert_true(p.a.told_nok); /* it must wait for the peer's own connection */
    pair_free(&p);
}

/* "ok_simultaneous" from the check callback lets the handshake complete. */
static void check_says_ok_simultaneous(void **state)
{
    (void)state;
    pair_t p;
    check_t c = {"ok_simultaneous", "", 0};
    pair_init(&p, OTPC__DF_OURS, COOKIE, OTPC__DF_OURS);
    p.b.check = check_cb;
    p.b.check_ctx = &c;
    pair_run(&p);
    assert_int_equal(p.a.state, OTPC__HS_DONE);
    assert_int_equal(p.b.state, OTPC__HS_DONE);
    assert_int_equal(c.calls, 1);
    pair_free(&p);
}

/* Status "alive" to an initiator: it fails, and answers "false" so that the peer
 * keeps its existing connection. */
static void initiator_gets_alive(void **state)
{
    (void)state;
    otpc__hs_t hs;
    otpc__buf_t out = {0};
    otpc__hs_init(&hs, 1, "a@h", COOKIE, OTPC__DF_OURS, 1, 1);
    snprintf(hs.peer_name, sizeof hs.peer_name, "%s", "b@h");
    assert_int_equal(otpc__hs_start(&hs, &out), 0);
    out.len = 0;
    assert_true(feed(&hs, "salive", 6, &out) < 0);
    assert_int_equal(hs.state, OTPC__HS_FAILED);
    assert_non_null(strstr(hs.error, "alive"));
    assert_false(hs.told_nok);
    assert_only_message(&out, "sfalse");
    otpc__buf_free(&out);
}

/* "alive" answered "true": the acceptor's old connection may be replaced, but only by
 * a peer that proves the cookie. Anyone who knows a node's name can answer "true". */
static int alive_replaced; /* acceptor calls of the alive hook */

static int alive_cb(void *ctx, const char *peer, int initiator)
{
    (void)ctx;
    (void)peer;
    if (!initiator)
        alive_replaced++;
    return 1; /* initiator: we have no connection to it */
}

static void alive_run(pair_t *p, check_t *c, const char *a_cookie)
{
    pair_init(p, OTPC__DF_OURS, a_cookie, OTPC__DF_OURS);
    p->b.check = check_cb;
    p->b.check_ctx = c;
    p->a.alive = p->b.alive = alive_cb;
    alive_replaced = 0;
    pair_run(p);
}

static void alive_true_replaces_once_authenticated(void **state)
{
    (void)state;
    pair_t p;
    check_t c = {"alive", "", 0};
    alive_run(&p, &c, COOKIE);
    assert_int_equal(p.a.state, OTPC__HS_DONE);
    assert_int_equal(p.b.state, OTPC__HS_DONE);
    assert_int_equal(alive_replaced, 1);
    pair_free(&p);
}

static void alive_true_without_cookie_replaces_nothing(void **state)
{
    (void)state;
    pair_t p;
    check_t c = {"alive", "", 0};
    alive_run(&p, &c, "not the cookie");
    assert_int_equal(p.rb, OTPC_ECOOKIE);
    assert_int_equal(p.b.state, OTPC__HS_FAILED);
    assert_int_equal(alive_replaced, 0);
    pair_free(&p);
}

/* A challenge carrying another node's name than the one the initiator dialled. */
static void challenge_from_other_node(void **state)
{
    (void)state;
    pair_t p;
    pair_init(&p, OTPC__DF_OURS, COOKIE, OTPC__DF_OURS);
    snprintf(p.a.peer_name, sizeof p.a.peer_name, "%s", "c@h");
    pair_run(&p);
    assert_int_equal(p.ra, OTPC_EPROTO);
    assert_non_null(strstr(p.a.error, "name"));
    pair_free(&p);
}

/* An old-style 'n' send_name (version 5, 32 flag bits) from a peer with
 * OTPC__DF_HANDSHAKE_23, then its 'c' complement with the high flags and creation, then a
 * reply: the acceptor finishes and learns all 64 flag bits. */
static void old_name_then_complement(void **state)
{
    (void)state;
    otpc__hs_t hs;
    otpc__buf_t out = {0};
    msg_t m[MAX_MSGS];
    const uint64_t flags = OTPC__DF_OURS;
    otpc__hs_init(&hs, 0, "b@h", COOKIE, OTPC__DF_OURS, B_CREATION, B_CHALLENGE);
    assert_int_equal(otpc__hs_start(&hs, &out), 0);

    char name[7 + 5] = {'n', 0, 5};
    otpc__put_u32(name + 3, (uint32_t)flags);
    memcpy(name + 7, "old@h", 5);
    assert_int_equal(feed(&hs, name, sizeof name, &out), 0);
    assert_int_equal(hs.state, OTPC__HS_RECV_COMPLEMENT);
    assert_string_equal(hs.peer_name, "old@h");
    assert_int_equal(split(&out, m, MAX_MSGS), 2);
    assert_memory_equal(m[0].data, "sok", 3);
    assert_int_equal(m[1].data[0], 'N'); /* the challenge is new-style */
    assert_int_equal(otpc__get_u32(m[1].data + 9), B_CHALLENGE);
    out.len = 0;

    char comp[9] = {'c'};
    otpc__put_u32(comp + 1, (uint32_t)(flags >> 32));
    otpc__put_u32(comp + 5, 77);
    assert_int_equal(feed(&hs, comp, sizeof comp, &out), 0);
    assert_int_equal(hs.state, OTPC__HS_RECV_REPLY);
    assert_true(hs.peer_flags == flags);
    assert_int_equal(hs.peer_creation, 77);

    char reply[21] = {'r'};
    otpc__put_u32(reply + 1, 99);
    md5_digest(COOKIE, B_CHALLENGE, (unsigned char *)reply + 5);
    assert_int_equal(feed(&hs, reply, sizeof reply, &out), 1);
    assert_int_equal(hs.state, OTPC__HS_DONE);
    unsigned char ack_digest[16];
    md5_digest(COOKIE, 99, ack_digest);
    assert_int_equal(split(&out, m, MAX_MSGS), 1);
    assert_int_equal(m[0].len, 17);
    assert_int_equal(m[0].data[0], 'a');
    assert_memory_equal(m[0].data + 1, ack_digest, 16);
    otpc__buf_free(&out);
}

/* An old 'n' without OTPC__DF_HANDSHAKE_23 is refused; so is a complement whose high flags
 * lack OTPC__DF_V4_NC (a mandatory flag that only the complement can carry). */
static void old_name_refusals(void **state)
{
    (void)state;
    otpc__hs_t hs;
    otpc__buf_t out = {0};
    char name[7 + 3] = {'n', 0, 5};
    memcpy(name + 7, "o@h", 3);

    otpc__hs_init(&hs, 0, "b@h", COOKIE, OTPC__DF_OURS, 1, 1);
    otpc__hs_start(&hs, &out);
    otpc__put_u32(name + 3, (uint32_t)(OTPC__DF_OURS & ~OTPC__DF_HANDSHAKE_23));
    assert_int_equal(feed(&hs, name, sizeof name, &out), OTPC_EPROTO);
    assert_non_null(strstr(hs.error, "version 5"));

    out.len = 0;
    otpc__hs_init(&hs, 0, "b@h", COOKIE, OTPC__DF_OURS, 1, 1);
    otpc__hs_start(&hs, &out);
    otpc__put_u32(name + 3, (uint32_t)OTPC__DF_OURS);
    assert_int_equal(feed(&hs, name, sizeof name, &out), 0);
    char comp[9] = {'c'};
    otpc__put_u32(comp + 1, (uint32_t)((OTPC__DF_OURS & ~OTPC__DF_V4_NC) >> 32));
    otpc__put_u32(comp + 5, 5);
    assert_int_equal(feed(&hs, comp, sizeof comp, &out), OTPC_EPROTO);
    assert_int_equal(hs.state, OTPC__HS_FAILED);
    otpc__buf_free(&out);
}

/* ---- malformed input in every state -------------------------------------------------- */

/* The messages of one good handshake, in the order each side receives them. */
typedef struct {
    msg_t to_a[MAX_MSGS]; /* status, challenge, ack */
    size_t n_a;
    msg_t to_b[MAX_MSGS]; /* send_name, reply */
    size_t n_b;
} transcript_t;

static void record(transcript_t *t)
{
    pair_t p;
    memset(t, 0, sizeof *t);
    pair_init(&p, OTPC__DF_OURS, COOKIE, OTPC__DF_OURS);
    assert_int_equal(otpc__hs_start(&p.a, &p.a_out), 0);
    assert_int_equal(otpc__hs_start(&p.b, &p.b_out), 0);
    while (p.a_out.len || p.b_out.len) {
        if (p.a_out.len) {
            size_t n = split(&p.a_out, t->to_b + t->n_b, MAX_MSGS - t->n_b);
            for (size_t i = 0; i < n; i++)
                otpc__hs_feed(&p.b, t->to_b[t->n_b + i].data, t->to_b[t->n_b + i].len, &p.b_out);
            t->n_b += n;
            p.a_out.len = 0;
        }
        if (p.b_out.len) {
            size_t n = split(&p.b_out, t->to_a + t->n_a, MAX_MSGS - t->n_a);
            for (size_t i = 0; i < n; i++)
                otpc__hs_feed(&p.a, t->to_a[t->n_a + i].data, t->to_a[t->n_a + i].len, &p.a_out);
            t->n_a += n;
            p.b_out.len = 0;
        }
    }
    assert_int_equal(p.a.state, OTPC__HS_DONE);
    assert_int_equal(p.b.state, OTPC__HS_DONE);
    assert_int_equal(t->n_a, 3);
    assert_int_equal(t->n_b, 2);
    pair_free(&p);
}

/* A fresh side of the recorded handshake, fed its first k messages. */
static void replay(otpc__hs_t *hs, otpc__buf_t *out, int initiator, const msg_t *msgs, size_t k)
{
    if (initiator) {
        otpc__hs_init(hs, 1, "a@h", COOKIE, OTPC__DF_OURS, A_CREATION, A_CHALLENGE);
        snprintf(hs->peer_name, sizeof hs->peer_name, "%s", "b@h");
    } else {
        otpc__hs_init(hs, 0, "b@h", COOKIE, OTPC__DF_OURS, B_CREATION, B_CHALLENGE);
    }
    out->len = 0;
    assert_int_equal(otpc__hs_start(hs, out), 0);
    for (size_t i = 0; i < k; i++)
        assert_int_equal(feed(hs, msgs[i].data, msgs[i].len, out), 0);
}

/* Feed `bad` after the first k good messages: it must fail, leave a reason, and the
 * side must stay failed even when the good message follows. */
static void expect_refused(int initiator, const msg_t *msgs, size_t k, const char *bad, size_t len)
{
    otpc__hs_t hs;
    otpc__buf_t out = {0};
    replay(&hs, &out, initiator, msgs, k);
    assert_true(feed(&hs, bad, len, &out) < 0);
    assert_int_equal(hs.state, OTPC__HS_FAILED);
    assert_true(hs.error[0] != 0);
    assert_true(feed(&hs, msgs[k].data, msgs[k].len, &out) < 0);
    otpc__buf_free(&out);
}

/* Every proper prefix of the expected message, the message with one byte more, and
 * with its tag replaced, in every state of both sides. */
static void truncated_and_extended(void **state)
{
    (void)state;
    transcript_t t;
    record(&t);
    for (int initiator = 0; initiator <= 1; initiator++) {
        const msg_t *msgs = initiator ? t.to_a : t.to_b;
        size_t n = initiator ? t.n_a : t.n_b;
        for (size_t k = 0; k < n; k++) {
            msg_t m = msgs[k];
            for (size_t len = 0; len < m.len; len++)
                expect_refused(initiator, msgs, k, m.data, len);
            m.data[m.len] = 'x';
            expect_refused(initiator, msgs, k, m.data, m.len + 1);
            m.data[0] = '?';
            expect_refused(initiator, msgs, k, m.data, m.len);
        }
    }
}

/* A digest with one bit flipped: the acceptor's reply check and the initiator's ack
 * check both fail with OTPC_ECOOKIE. */
static void flipped_digest_bits(void **state)
{
    (void)state;
    transcript_t t;
    record(&t);
    otpc__hs_t hs;
    otpc__buf_t out = {0};
    msg_t reply = t.to_b[1], ack = t.to_a[2];
    reply.data[20] ^= 1;
    replay(&hs, &out, 0, t.to_b, 1);
    assert_int_equal(feed(&hs, reply.data, reply.len, &out), OTPC_ECOOKIE);
    ack.data[1] ^= 0x80;
    replay(&hs, &out, 1, t.to_a, 2);
    assert_int_equal(feed(&hs, ack.data, ack.len, &out), OTPC_ECOOKIE);
    otpc__buf_free(&out);
}

/* A tiny deterministic generator (xorshift32), so that failures reproduce. */
static uint32_t rnd(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Random bytes, and random bytes behind each expected tag, in every state of both
 * sides: whatever happens, no crash, and a negative return always means FAILED. */
static void random_garbage(void **state)
{
    (void)state;
    transcript_t t;
    record(&t);
    uint32_t seed = 0x9e3779b9u;
    for (int initiator = 0; initiator <= 1; initiator++) {
        const msg_t *msgs = initiator ? t.to_a : t.to_b;
        size_t n = initiator ? t.n_a : t.n_b;
        for (size_t k = 0; k <= n; k++) {
            for (int trial = 0; trial < 300; trial++) {
                otpc__hs_t hs;
                otpc__buf_t out = {0};
                char junk[300];
                size_t len = rnd(&seed) % sizeof junk;
                for (size_t i = 0; i < len; i++)
                    junk[i] = (char)rnd(&seed);
                if (len && k < n && trial % 2)
                    junk[0] = msgs[k].data[0];
                replay(&hs, &out, initiator, msgs, k < n ? k : 0);
                if (k == n) /* a side that already finished takes nothing more */
                    for (size_t i = 0; i < n; i++)
                        feed(&hs, msgs[i].data, msgs[i].len, &out);
                int rc = feed(&hs, junk, len, &out);
                assert_true(rc <= 1);
                if (rc < 0)
                    assert_int_equal(hs.state, OTPC__HS_FAILED);
                if (k == n)
                    assert_true(rc < 0);
                otpc__buf_free(&out);
            }
        }
    }
}

/* A name without '@', an empty one, and a send_name whose name length disagrees with
 * the message length are malformed. */
static void malformed_names(void **state)
{
    (void)state;
    const char *names[] = {"noat", "", "a@h"};
    const size_t claimed[] = {4, 0, 4};
    for (size_t i = 0; i < 3; i++) {
        otpc__hs_t hs;
        otpc__buf_t out = {0};
        char m[15 + 8] = {'N'};
        size_t n = strlen(names[i]);
        otpc__put_u64(m + 1, OTPC__DF_OURS);
        otpc__put_u32(m + 9, 1);
        otpc__put_u16(m + 13, (uint16_t)claimed[i]);
        memcpy(m + 15, names[i], n);
        otpc__hs_init(&hs, 0, "b@h", COOKIE, OTPC__DF_OURS, 1, 1);
        otpc__hs_start(&hs, &out);
        assert_int_equal(feed(&hs, m, 15 + n, &out), OTPC_EPROTO);
        assert_int_equal(out.len, 0);
        otpc__buf_free(&out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(both_sides_done),
        cmocka_unit_test(four_byte_lengths),
        cmocka_unit_test(digest_known_value),
        cmocka_unit_test(wrong_cookie),
        cmocka_unit_test(wrong_ack_digest),
        cmocka_unit_test(initiator_lacks_flag),
        cmocka_unit_test(acceptor_lacks_flag),
        cmocka_unit_test(foreign_peers_accepted),
        cmocka_unit_test(refusal_names_only_mandatory),
        cmocka_unit_test(check_says_nok),
        cmocka_unit_test(check_says_ok_simultaneous),
        cmocka_unit_test(initiator_gets_alive),
        cmocka_unit_test(alive_true_replaces_once_authenticated),
        cmocka_unit_test(alive_true_without_cookie_replaces_nothing),
        cmocka_unit_test(challenge_from_other_node),
        cmocka_unit_test(old_name_then_complement),
        cmocka_unit_test(old_name_refusals),
        cmocka_unit_test(truncated_and_extended),
        cmocka_unit_test(flipped_digest_bits),
        cmocka_unit_test(random_garbage),
        cmocka_unit_test(malformed_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
