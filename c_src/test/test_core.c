/*
 * Unit tests of the pure distribution modules: framing, the handshake state machine,
 * the bounds-checked term walker, the control-message decoder and the epmd codec.
 * Every test builds its input with ei (as a peer would) and checks what otpc makes of
 * it, including every truncation of valid input.
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

#include "dist/ctrl.h"
#include "dist/epmd.h"
#include "dist/flags.h"
#include "dist/framing.h"
#include "dist/handshake.h"
#include "dist/term.h"
#include "otpc.h"

/* ---- framing ---------------------------------------------------------------------- */

/* Partial header, partial body, a tick, coalesced frames, and the size limit. */
static void framing_cases(void **state)
{
    (void)state;
    otpc__frame_t f;
    const char two[] = {0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 0, 0, 0, 0, 1, 'z'};
    assert_int_equal(otpc__frame_next(two, 3, 4, 100, &f), 0);
    assert_int_equal(otpc__frame_next(two, 6, 4, 100, &f), 0);
    assert_int_equal(otpc__frame_next(two, sizeof two, 4, 100, &f), 1);
    assert_int_equal(f.off, 4);
    assert_int_equal(f.len, 3);
    assert_memory_equal(two + f.off, "abc", 3);
    size_t pos = f.next;
    assert_int_equal(otpc__frame_next(two + pos, sizeof two - pos, 4, 100, &f), 1);
    assert_int_equal(f.len, 0); /* tick */
    pos += f.next;
    assert_int_equal(otpc__frame_next(two + pos, sizeof two - pos, 4, 100, &f), 1);
    assert_int_equal(f.len, 1);
    assert_int_equal(pos + f.next, sizeof two);
    const char big[] = {0, 0, 1, 0};
    assert_int_equal(otpc__frame_next(big, 4, 4, 255, &f), OTPC_ETOOBIG);
    assert_int_equal(otpc__frame_next(big, 4, 4, 256, &f), 0);
    const char hs[] = {0, 2, 'o', 'k'};
    assert_int_equal(otpc__frame_next(hs, 4, 2, 65535, &f), 1);
    assert_int_equal(f.len, 2);
}

/* ---- handshake -------------------------------------------------------------------- */

/* Pass every whole frame in `out` (2-byte length) to `to`, then empty `out`. */
static int relay(otpc__buf_t *out, otpc__hs_t *to, otpc__buf_t *reply)
{
    size_t pos = 0;
    otpc__frame_t f;
    int rc = 0;
    while (rc == 0 && otpc__frame_next(out->data + pos, out->len - pos, 2, 65535, &f) == 1) {
        rc = otpc__hs_feed(to, out->data + pos + f.off, f.len, reply);
        pos += f.next;
    }
    out->len = 0;
    return rc;
}

typedef struct {
    otpc__hs_t a, b;
    otpc__buf_t ab, ba;
    int ra, rb;
} pair_t;

/* Run initiator `a` against acceptor `b` until both stop. */
static void run_pair(pair_t *p, const char *cookie_a, const char *cookie_b, uint64_t flags_a)
{
    memset(p, 0, sizeof *p);
    otpc__hs_init(&p->a, 1, "a@h", cookie_a, flags_a, 11, 1234567);
    otpc__hs_init(&p->b, 0, "b@h", cookie_b, OTPC__DF_OURS, 22, 7654321);
    snprintf(p->a.peer_name, sizeof p->a.peer_name, "b@h");
    assert_int_equal(otpc__hs_start(&p->a, &p->ab), 0);
    assert_int_equal(otpc__hs_start(&p->b, &p->ba), 0);
    for (int round = 0; round < 8 && (p->ab.len || p->ba.len); round++) {
        if (p->ab.len && p->rb == 0)
            p->rb = relay(&p->ab, &p->b, &p->ba);
        p->ab.len = 0;
        if (p->ba.len && p->ra == 0)
            p->ra = relay(&p->ba, &p->a, &p->ab);
        p->ba.len = 0;
    }
}

static void free_pair(pair_t *p)
{
    otpc__buf_free(&p->ab);
    otpc__buf_free(&p->ba);
}

/* Both roles in memory: each side learns the other's name, flags and creation. */
static void handshake_ok(void **state)
{
    (void)state;
    pair_t p;
    run_pair(&p, "secret", "secret", OTPC__DF_OURS);
    assert_int_equal(p.a.state, HS_DONE);
    assert_int_equal(p.b.state, HS_DONE);
    assert_string_equal(p.b.peer_name, "a@h");
    assert_int_equal(p.b.peer_creation, 11);
    assert_int_equal(p.a.peer_creation, 22);
    assert_true(p.a.peer_flags == OTPC__DF_OURS);
    free_pair(&p);
}

/* A different cookie: the acceptor refuses the reply and says why. */
static void handshake_wrong_cookie(void **state)
{
    (void)state;
    pair_t p;
    run_pair(&p, "secret", "other", OTPC__DF_OURS);
    assert_int_equal(p.rb, OTPC_ECOOKIE);
    assert_non_null(strstr(p.b.error, "cookie"));
    assert_int_not_equal(p.a.state, HS_DONE);
    free_pair(&p);
}

/* A peer without UNLINK_ID (mandatory from OTP 26) is refused with not_allowed. */
static void handshake_missing_flag(void **state)
{
    (void)state;
    pair_t p;
    memset(&p, 0, sizeof p);
    otpc__hs_init(&p.a, 1, "a@h", "c", OTPC__DF_OURS & ~DF_UNLINK_ID, 1, 1);
    otpc__hs_init(&p.b, 0, "b@h", "c", OTPC__DF_OURS, 2, 2);
    otpc__hs_start(&p.a, &p.ab);
    otpc__hs_start(&p.b, &p.ba);
    assert_int_equal(relay(&p.ab, &p.b, &p.ba), OTPC_EPROTO);
    assert_non_null(strstr(p.b.error, "mandatory"));
    assert_int_equal(p.ba.len, 2 + 12);
    assert_memory_equal(p.ba.data + 2, "snot_allowed", 12);
    free_pair(&p);
}

/* The digest is MD5 over the cookie and the challenge in decimal. */
static void handshake_digest(void **state)
{
    (void)state;
    unsigned char got[16], want[16];
    unsigned int n = 16;
    otpc__hs_digest("cookie", 4294967295u, got);
    EVP_Digest("cookie4294967295", 16, want, &n, EVP_md5(), NULL);
    assert_memory_equal(got, want, 16);
}

/* Garbage in every state fails cleanly. */
static void handshake_garbage(void **state)
{
    (void)state;
    const char *junk[] = {"", "N", "x123", "sok", "a0123456789abcdef", "r"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        otpc__hs_t hs;
        otpc__buf_t out = {0};
        otpc__hs_init(&hs, 0, "b@h", "c", OTPC__DF_OURS, 1, 1);
        otpc__hs_start(&hs, &out);
        assert_true(otpc__hs_feed(&hs, junk[i], strlen(junk[i]), &out) < 0);
        assert_int_equal(hs.state, HS_FAILED);
        assert_true(otpc__hs_feed(&hs, "sok", 3, &out) < 0); /* stays failed */
        otpc__buf_free(&out);
    }
}

/* ---- term walker -------------------------------------------------------------------- */

static void build_sample(ei_x_buff *x)
{
    erlang_pid pid = {"n@h", 1, 2, 3};
    erlang_ref ref = {"n@h", 3, {1, 2, 3, 0, 0}, 4};
    ei_x_new_with_version(x);
    ei_x_encode_tuple_header(x, 8);
    ei_x_encode_atom(x, "h\xc3\xa9llo");
    ei_x_encode_longlong(x, -123456789012345LL);
    ei_x_encode_double(x, 2.5);
    ei_x_encode_binary(x, "bin", 3);
    ei_x_encode_string(x, "a string");
    ei_x_encode_pid(x, &pid);
    ei_x_encode_ref(x, &ref);
    ei_x_encode_map_header(x, 1);
    ei_x_encode_atom(x, "k");
    ei_x_encode_list_header(x, 2);
    ei_x_encode_long(x, 1);
    ei_x_encode_bitstring(x, "\xff", 0, 3);
    ei_x_encode_atom(x, "improper_tail");
}

/* A valid term is walked exactly; every prefix of it is rejected. */
static void term_valid_and_truncated(void **state)
{
    (void)state;
    ei_x_buff x;
    size_t used;
    build_sample(&x);
    assert_int_equal(otpc__term_skip_versioned(x.buff, (size_t)x.index, &used), 0);
    assert_int_equal(used, (size_t)x.index);
    for (int len = 0; len < x.index; len++) {
        char *copy = malloc((size_t)len + 1); /* exact size: ASan sees any overread */
        memcpy(copy, x.buff, (size_t)len);
        assert_int_equal(otpc__term_skip_versioned(copy, (size_t)len, &used), OTPC_EBADARG);
        free(copy);
    }
    ei_x_free(&x);
}

/* Lengths that point past the end, and tags that never appear on our links. */
static void term_hostile(void **state)
{
    (void)state;
    size_t used;
    const char list[] = {'l', (char)0xff, (char)0xff, (char)0xff, (char)0xff, 'j'};
    const char tuple[] = {'h', (char)255, 'a', 1, 'j'};
    const char bin[] = {'m', 0, 0, 1, 0, 'x'};
    const char cache[] = {82, 0};
    const char zlib[] = {80, 0, 0, 0, 1, 0};
    assert_int_equal(otpc__term_skip(list, sizeof list, &used), OTPC_EBADARG);
    assert_int_equal(otpc__term_skip(tuple, sizeof tuple, &used), OTPC_EBADARG);
    assert_int_equal(otpc__term_skip(bin, sizeof bin, &used), OTPC_EBADARG);
    assert_int_equal(otpc__term_skip(cache, sizeof cache, &used), OTPC_EBADARG);
    assert_int_equal(otpc__term_skip(zlib, sizeof zlib, &used), OTPC_EBADARG);
}

/* 200000 nested one-element lists: no recursion, no stack overflow. */
static void term_deep(void **state)
{
    (void)state;
    const size_t depth = 200000;
    char *b = malloc(depth * 5 + 2);
    size_t n = 0, used;
    for (size_t i = 0; i < depth; i++) {
        const char hdr[] = {'l', 0, 0, 0, 1};
        memcpy(b + n, hdr, 5);
        n += 5;
    }
    b[n++] = 'j'; /* innermost element */
    /* every list still needs its tail: nil each */
    b = realloc(b, n + depth);
    memset(b + n, 'j', depth);
    n += depth;
    assert_int_equal(otpc__term_skip(b, n, &used), 0);
    assert_int_equal(used, n);
    free(b);
}

/* ---- control messages --------------------------------------------------------------- */

static erlang_pid P1 = {"a@h", 5, 6, 7};
static erlang_pid P2 = {"b@h", 8, 9, 10};

/* 'p' + control tuple (already in ctl, versioned) + optional payload. */
static char *packet(ei_x_buff *ctl, ei_x_buff *payload, size_t *len)
{
    *len = 1 + (size_t)ctl->index + (payload ? (size_t)payload->index : 0);
    char *p = malloc(*len);
    p[0] = 'p';
    memcpy(p + 1, ctl->buff, (size_t)ctl->index);
    if (payload)
        memcpy(p + 1 + ctl->index, payload->buff, (size_t)payload->index);
    return p;
}

static void ctl_begin(ei_x_buff *x, int arity, long op)
{
    ei_x_new_with_version(x);
    ei_x_encode_tuple_header(x, arity);
    ei_x_encode_long(x, op);
}

/* Decode, and check every truncation fails with a reason. */
static void decode_ok(char *pkt, size_t len, otpc__ctrl_t *c)
{
    const char *why = NULL;
    assert_int_equal(otpc__ctrl_decode(pkt, len, c, &why), 0);
    for (size_t l = 0; l < len; l++) {
        otpc__ctrl_t t;
        char *copy = malloc(l + 1);
        memcpy(copy, pkt, l);
        why = NULL;
        assert_int_not_equal(otpc__ctrl_decode(copy, l, &t, &why), 0);
        assert_non_null(why);
        free(copy);
    }
}

/* REG_SEND with a payload: name, sender and the exact message span. */
static void ctrl_reg_send(void **state)
{
    (void)state;
    ei_x_buff c, m;
    otpc__ctrl_t d;
    size_t len;
    ctl_begin(&c, 4, DOP_REG_SEND);
    ei_x_encode_pid(&c, &P1);
    ei_x_encode_atom(&c, "");
    ei_x_encode_atom(&c, "net_kernel");
    ei_x_new_with_version(&m);
    ei_x_encode_atom(&m, "hello");
    char *p = packet(&c, &m, &len);
    decode_ok(p, len, &d);
    assert_int_equal(d.op, DOP_REG_SEND);
    assert_true(d.to_is_name);
    assert_string_equal(d.to_name, "net_kernel");
    assert_string_equal(d.from.node, "a@h");
    assert_int_equal(d.msg.size, (size_t)m.index);
    assert_memory_equal(d.msg.data, m.buff, d.msg.size);
    free(p);
    ei_x_free(&c);
    ei_x_free(&m);
}

/* SEND_TT and SEND_SENDER fold into SEND. */
static void ctrl_send_variants(void **state)
{
    (void)state;
    ei_x_buff c, m;
    otpc__ctrl_t d;
    size_t len;
    ei_x_new_with_version(&m);
    ei_x_encode_long(&m, 42);
    ctl_begin(&c, 4, DOP_SEND_TT);
    ei_x_encode_atom(&c, "");
    ei_x_encode_pid(&c, &P2);
    ei_x_encode_atom(&c, "token");
    char *p = packet(&c, &m, &len);
    decode_ok(p, len, &d);
    assert_int_equal(d.op, DOP_SEND);
    assert_false(d.has_from);
    assert_int_equal(d.to.num, 8);
    free(p);
    ei_x_free(&c);
    ctl_begin(&c, 3, DOP_SEND_SENDER);
    ei_x_encode_pid(&c, &P1);
    ei_x_encode_pid(&c, &P2);
    p = packet(&c, &m, &len);
    decode_ok(p, len, &d);
    assert_int_equal(d.op, DOP_SEND);
    assert_true(d.has_from);
    free(p);
    ei_x_free(&c);
    ei_x_free(&m);
}

/* PAYLOAD_EXIT: the reason comes after the tuple, spanned without its version byte. */
static void ctrl_payload_exit(void **state)
{
    (void)state;
    ei_x_buff c, r;
    otpc__ctrl_t d;
    size_t len;
    ctl_begin(&c, 3, DOP_PAYLOAD_EXIT);
    ei_x_encode_pid(&c, &P1);
    ei_x_encode_pid(&c, &P2);
    ei_x_new_with_version(&r);
    ei_x_encode_tuple_header(&r, 2);
    ei_x_encode_atom(&r, "shutdown");
    ei_x_encode_atom(&r, "closed");
    char *p = packet(&c, &r, &len);
    decode_ok(p, len, &d);
    assert_int_equal(d.op, DOP_EXIT);
    assert_int_equal(d.reason.size, (size_t)r.index - 1);
    assert_memory_equal(d.reason.data, r.buff + 1, d.reason.size);
    free(p);
    ei_x_free(&c);
    ei_x_free(&r);
}

/* MONITOR_P by name, and UNLINK_ID with an id above 32 bits. */
static void ctrl_monitor_and_unlink(void **state)
{
    (void)state;
    ei_x_buff c;
    otpc__ctrl_t d;
    size_t len;
    erlang_ref ref = {"a@h", 3, {1, 2, 3, 0, 0}, 7};
    ctl_begin(&c, 4, DOP_MONITOR_P);
    ei_x_encode_pid(&c, &P1);
    ei_x_encode_atom(&c, "stack");
    ei_x_encode_ref(&c, &ref);
    char *p = packet(&c, NULL, &len);
    decode_ok(p, len, &d);
    assert_int_equal(d.op, DOP_MONITOR_P);
    assert_true(d.to_is_name);
    assert_string_equal(d.to_name, "stack");
    assert_int_equal(d.ref.n[2], 3);
    free(p);
    ei_x_free(&c);
    ctl_begin(&c, 4, DOP_UNLINK_ID);
    ei_x_encode_ulonglong(&c, 1ULL << 40);
    ei_x_encode_pid(&c, &P1);
    ei_x_encode_pid(&c, &P2);
    p = packet(&c, NULL, &len);
    decode_ok(p, len, &d);
    assert_int_equal(d.op, DOP_UNLINK_ID);
    assert_true(d.unlink_id == 1ULL << 40);
    free(p);
    ei_x_free(&c);
}

/* Unknown op, wrong arity, trailing bytes, missing payload, no pass-through byte. */
static void ctrl_errors(void **state)
{
    (void)state;
    ei_x_buff c;
    otpc__ctrl_t d;
    const char *why;
    size_t len;
    ctl_begin(&c, 3, 99);
    ei_x_encode_pid(&c, &P1);
    ei_x_encode_pid(&c, &P2);
    char *p = packet(&c, NULL, &len);
    assert_int_not_equal(otpc__ctrl_decode(p, len, &d, &why), 0);
    p[0] = 'x';
    assert_int_not_equal(otpc__ctrl_decode(p, len, &d, &why), 0);
    free(p);
    ei_x_free(&c);
    ctl_begin(&c, 2, DOP_LINK); /* LINK needs 3 elements */
    ei_x_encode_pid(&c, &P1);
    p = packet(&c, NULL, &len);
    assert_int_not_equal(otpc__ctrl_decode(p, len, &d, &why), 0);
    free(p);
    ei_x_free(&c);
    ctl_begin(&c, 3, DOP_LINK); /* LINK with trailing bytes */
    ei_x_encode_pid(&c, &P1);
    ei_x_encode_pid(&c, &P2);
    ei_x_encode_version(&c);
    ei_x_encode_atom(&c, "extra");
    p = packet(&c, NULL, &len);
    assert_int_not_equal(otpc__ctrl_decode(p, len, &d, &why), 0);
    assert_non_null(strstr(why, "unexpected"));
    free(p);
    ei_x_free(&c);
    ctl_begin(&c, 3, DOP_SEND); /* SEND without its message */
    ei_x_encode_atom(&c, "");
    ei_x_encode_pid(&c, &P2);
    p = packet(&c, NULL, &len);
    assert_int_not_equal(otpc__ctrl_decode(p, len, &d, &why), 0);
    free(p);
    ei_x_free(&c);
}

/* ---- epmd ------------------------------------------------------------------------- */

static void epmd_codec(void **state)
{
    (void)state;
    otpc__buf_t b = {0};
    assert_int_equal(otpc__epmd_alive2_req(&b, 4370, 0, "c1"), 0);
    const char want[] = {0, 15, 120, 0x11, 0x12, 72, 0, 0, 6, 0, 5, 0, 2, 'c', '1', 0, 0};
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    otpc__buf_free(&b);
    int ok;
    uint32_t creation;
    const char x_resp[] = {118, 0, 0x12, 0x34, 0x56, 0x78};
    assert_int_equal(otpc__epmd_alive2_resp(x_resp, 3, &ok, &creation), 0);
    assert_int_equal(otpc__epmd_alive2_resp(x_resp, 6, &ok, &creation), 1);
    assert_true(ok);
    assert_int_equal(creation, 0x12345678);
    const char taken[] = {118, 1, 0, 0, 0, 0};
    assert_int_equal(otpc__epmd_alive2_resp(taken, 6, &ok, &creation), 1);
    assert_false(ok);
    assert_true(otpc__epmd_alive2_resp("?", 1, &ok, &creation) < 0);
    uint16_t port, hi;
    const char port_ok[] = {119, 0, 0x11, 0x12, 77, 0, 0, 6, 0, 5, 0, 1, 'x', 0, 0};
    assert_int_equal(otpc__epmd_port_resp(port_ok, sizeof port_ok, &port, &hi), 1);
    assert_int_equal(port, 0x1112);
    assert_int_equal(hi, 6);
    const char port_none[] = {119, 1};
    assert_int_equal(otpc__epmd_port_resp(port_none, 2, &port, &hi), 1);
    assert_int_equal(port, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(framing_cases),
        cmocka_unit_test(handshake_ok),
        cmocka_unit_test(handshake_wrong_cookie),
        cmocka_unit_test(handshake_missing_flag),
        cmocka_unit_test(handshake_digest),
        cmocka_unit_test(handshake_garbage),
        cmocka_unit_test(term_valid_and_truncated),
        cmocka_unit_test(term_hostile),
        cmocka_unit_test(term_deep),
        cmocka_unit_test(ctrl_reg_send),
        cmocka_unit_test(ctrl_send_variants),
        cmocka_unit_test(ctrl_payload_exit),
        cmocka_unit_test(ctrl_monitor_and_unlink),
        cmocka_unit_test(ctrl_errors),
        cmocka_unit_test(epmd_codec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
