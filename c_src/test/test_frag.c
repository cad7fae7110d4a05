/*
 * Unit tests of proto/frag.h: the distribution headers (131 68 / 69 / 70) written and
 * read back, every malformed header refused, a whole message rewritten into the
 * pass-through form the control decoder reads (and back), and the reassembly table:
 * messages cut at every point into two or three fragments, sequences interleaved with
 * each other and with whole messages, every inconsistency refused, and the bound on
 * memory (a message never takes more than max_message plus the form's three bytes).
 * Packets are exact-size heap copies so that ASan catches a read past their end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ei.h>
#include <stdlib.h>
#include <string.h>

#include "otpc.h"
#include "proto/ctrl.h"
#include "proto/frag.h"

/* Headers with fragments agreed, not the atom cache (test_atomcache.c has it). */
#define AGREED OTPC__DH_FRAGMENTS

static char *exact(const char *src, size_t n)
{
    char *p = malloc(n ? n : 1);
    assert_non_null(p);
    memcpy(p, src, n);
    return p;
}

/* A SEND {2, '', Pid} control message (versioned) and a binary payload of `size`
 * bytes (versioned) whose bytes count up. */
static void message(ei_x_buff *ctl, ei_x_buff *msg, size_t size)
{
    erlang_pid to = {.node = "a@h", .num = 7, .serial = 0, .creation = 1};
    assert_int_equal(ei_x_new_with_version(ctl), 0);
    assert_int_equal(ei_x_encode_tuple_header(ctl, 3), 0);
    assert_int_equal(ei_x_encode_long(ctl, 2), 0);
    assert_int_equal(ei_x_encode_atom(ctl, ""), 0);
    assert_int_equal(ei_x_encode_pid(ctl, &to), 0);
    char *bin = malloc(size ? size : 1);
    assert_non_null(bin);
    for (size_t i = 0; i < size; i++)
        bin[i] = (char)(i * 7 + 1);
    assert_int_equal(ei_x_new_with_version(msg), 0);
    assert_int_equal(ei_x_encode_binary(msg, bin, (long)size), 0);
    free(bin);
}

/* 'p' 131 Ctl 131 Payload, as the decoder reads it. */
static size_t pass_form(const ei_x_buff *ctl, const ei_x_buff *msg, char *out)
{
    out[0] = 'p';
    memcpy(out + 1, ctl->buff, (size_t)ctl->index);
    memcpy(out + 1 + ctl->index, msg->buff, (size_t)msg->index);
    return 1 + (size_t)ctl->index + (size_t)msg->index;
}

/* The body after a header: Ctl and Payload without their version bytes. */
static size_t body(const ei_x_buff *ctl, const ei_x_buff *msg, char *out)
{
    memcpy(out, ctl->buff + 1, (size_t)ctl->index - 1);
    memcpy(out + ctl->index - 1, msg->buff + 1, (size_t)msg->index - 1);
    return (size_t)ctl->index - 1 + (size_t)msg->index - 1;
}

static void headers_round_trip(void **state)
{
    (void)state;
    char b[OTPC__DHDR_FIRST_LEN];
    otpc__dhdr_t h;
    const char *why;
    assert_int_equal(otpc__dhdr_put_normal(b), OTPC__DHDR_NORMAL_LEN);
    assert_int_equal(otpc__dhdr_parse(b, 3, AGREED, &h, &why), 0);
    assert_int_equal(h.kind, OTPC__DHDR_NORMAL);
    assert_int_equal(h.body, 3);
    assert_int_equal(otpc__dhdr_put_first(b, 0x0102030405060708ull, 3), OTPC__DHDR_FIRST_LEN);
    assert_int_equal((unsigned char)b[0], 131);
    assert_int_equal(b[1], 69);
    assert_int_equal(b[2], 1);
    assert_int_equal(b[17], 3);
    assert_int_equal(otpc__dhdr_parse(b, sizeof b, AGREED, &h, &why), 0);
    assert_int_equal(h.kind, OTPC__DHDR_FIRST);
    assert_true(h.seq == 0x0102030405060708ull && h.frag == 3 && h.body == 19);
    assert_int_equal(otpc__dhdr_put_cont(b, UINT64_MAX, 1), OTPC__DHDR_CONT_LEN);
    assert_int_equal(otpc__dhdr_parse(b, 18, AGREED, &h, &why), 0);
    assert_true(h.kind == OTPC__DHDR_CONT && h.seq == UINT64_MAX && h.frag == 1 && h.body == 18);
}

static int parse_copy(const char *d, size_t n)
{
    char *c = exact(d, n);
    otpc__dhdr_t h;
    const char *why = NULL;
    int rc = otpc__dhdr_parse(c, n, AGREED, &h, &why);
    free(c);
    if (rc)
        assert_non_null(why);
    return rc;
}

static void headers_malformed(void **state)
{
    (void)state;
    char b[OTPC__DHDR_FIRST_LEN];
    assert_int_equal(parse_copy("p\x83", 2), OTPC_EPROTO);                /* pass-through */
    assert_int_equal(parse_copy("\x83", 1), OTPC_EPROTO);                 /* too short */
    assert_int_equal(parse_copy("\x83\x44\x01\x00\x00", 5), OTPC_EPROTO); /* atom cache */
    assert_int_equal(parse_copy("\x83\x47\x00", 3), OTPC_EPROTO);         /* unknown */
    otpc__dhdr_put_first(b, 1, 2);
    for (size_t n = 2; n < sizeof b; n++) /* cut anywhere */
        assert_int_equal(parse_copy(b, n), OTPC_EPROTO);
    b[18] = 1; /* atom cache references */
    assert_int_equal(parse_copy(b, sizeof b), OTPC_EPROTO);
    otpc__dhdr_put_cont(b, 1, 0); /* fragment id 0 */
    assert_int_equal(parse_copy(b, 18), OTPC_EPROTO);
    otpc__dhdr_put_first(b, 1, 0);
    assert_int_equal(parse_copy(b, sizeof b), OTPC_EPROTO);
}

/* A whole message: 131 68 0 Ctl Payload becomes the pass-through form in place, which
 * the control decoder takes; and the pass-through form converts back. */
static void whole_message_forms(void **state)
{
    (void)state;
    ei_x_buff ctl, msg;
    message(&ctl, &msg, 100);
    char pass[512], hdr[512];
    size_t plen = pass_form(&ctl, &msg, pass);
    size_t hlen = otpc__dhdr_from_pass(pass, plen, hdr);
    assert_int_equal(hlen, plen); /* with a payload: the same length */
    char *pkt = exact(hdr, hlen);
    size_t out;
    const char *why;
    assert_int_equal(otpc__dhdr_to_pass(pkt, hlen, &out, &why), 0);
    assert_int_equal(out, plen);
    assert_memory_equal(pkt, pass, plen);
    otpc__ctrl_t c;
    assert_int_equal(otpc__ctrl_decode(pkt, out, &c, &why), 0);
    assert_int_equal(c.op, OTPC__DOP_SEND);
    assert_int_equal(c.msg.size, (size_t)msg.index);
    assert_memory_equal(c.msg.data, msg.buff, (size_t)msg.index);
    free(pkt);
    /* without a payload: one byte longer as a header form */
    size_t clen = 1 + (size_t)ctl.index;
    hlen = otpc__dhdr_from_pass(pass, clen, hdr);
    assert_int_equal(hlen, clen + 1);
    pkt = exact(hdr, hlen);
    assert_int_equal(otpc__dhdr_to_pass(pkt, hlen, &out, &why), 0);
    assert_int_equal(out, clen);
    assert_memory_equal(pkt, pass, clen);
    free(pkt);
    /* a control term cut short is refused, the packet left as it was */
    pkt = exact(hdr, 6);
    assert_int_equal(otpc__dhdr_to_pass(pkt, 6, &out, &why), OTPC_EPROTO);
    assert_memory_equal(pkt, hdr, 6);
    free(pkt);
    assert_int_equal(otpc__dhdr_from_pass("x", 1, hdr), 0);
    ei_x_free(&ctl);
    ei_x_free(&msg);
}

/* Fragment `b[0..n)` (a body) of sequence seq with id frag into tab. */
static int add(otpc__frag_tab_t *t, int first, uint64_t seq, uint64_t frag, const char *b, size_t n,
               const char **m, size_t *mlen)
{
    char *pkt = malloc(OTPC__DHDR_FIRST_LEN + n + 1);
    assert_non_null(pkt);
    size_t h = first ? otpc__dhdr_put_first(pkt, seq, frag) : otpc__dhdr_put_cont(pkt, seq, frag);
    memcpy(pkt + h, b, n);
    char *c = exact(pkt, h + n);
    free(pkt);
    otpc__dhdr_t hd;
    const char *why = NULL;
    assert_int_equal(otpc__dhdr_parse(c, h + n, AGREED, &hd, &why), 0);
    int rc = otpc__frag_add(t, &hd, c, h + n, m, mlen, &why);
    free(c);
    if (rc < 0)
        assert_non_null(why);
    return rc;
}

/* A message cut at every point (the first cut after the whole control message) into two
 * and three fragments comes out as its pass-through form. */
static void reassembled_at_every_cut(void **state)
{
    (void)state;
    ei_x_buff ctl, msg;
    message(&ctl, &msg, 40);
    char b[256], pass[256];
    size_t n = body(&ctl, &msg, b), plen = pass_form(&ctl, &msg, pass);
    size_t c0 = (size_t)ctl.index - 1;
    otpc__frag_tab_t t;
    otpc__frag_init(&t, 1 << 20);
    const char *m;
    size_t mlen;
    for (size_t i = c0; i <= n; i++) {
        assert_int_equal(add(&t, 1, 9, 2, b, i, &m, &mlen), 0);
        assert_int_equal(add(&t, 0, 9, 1, b + i, n - i, &m, &mlen), 1);
        assert_int_equal(mlen, plen);
        assert_memory_equal(m, pass, plen);
        for (size_t j = i; j <= n; j++) {
            assert_int_equal(add(&t, 1, 10, 3, b, i, &m, &mlen), 0);
            assert_int_equal(add(&t, 0, 10, 2, b + i, j - i, &m, &mlen), 0);
            assert_int_equal(add(&t, 0, 10, 1, b + j, n - j, &m, &mlen), 1);
            assert_memory_equal(m, pass, plen);
        }
    }
    /* one fragment only */
    assert_int_equal(add(&t, 1, 11, 1, b, n, &m, &mlen), 1);
    assert_memory_equal(m, pass, plen);
    assert_int_equal(t.n, 0);
    otpc__frag_free(&t);
    ei_x_free(&ctl);
    ei_x_free(&msg);
}

/* Two sequences interleaved fragment by fragment, each completes with its own bytes. */
static void sequences_interleave(void **state)
{
    (void)state;
    ei_x_buff c1, m1, c2, m2;
    message(&c1, &m1, 3000);
    message(&c2, &m2, 5000);
    char *b1 = malloc(8192), *b2 = malloc(8192), *p1 = malloc(8192), *p2 = malloc(8192);
    size_t n1 = body(&c1, &m1, b1), n2 = body(&c2, &m2, b2);
    size_t l1 = pass_form(&c1, &m1, p1), l2 = pass_form(&c2, &m2, p2);
    otpc__frag_tab_t t;
    otpc__frag_init(&t, 1 << 20);
    const char *m;
    size_t mlen;
    /* 3 fragments of 1000 (and the rest) each, alternating */
    assert_int_equal(add(&t, 1, 1, 3, b1, 1000, &m, &mlen), 0);
    assert_int_equal(add(&t, 1, 2, 3, b2, 1000, &m, &mlen), 0);
    assert_int_equal(add(&t, 0, 1, 2, b1 + 1000, 1000, &m, &mlen), 0);
    assert_int_equal(add(&t, 0, 2, 2, b2 + 1000, 1000, &m, &mlen), 0);
    assert_int_equal(otpc__frag_pending(&t), 2 * (3 + 2000) - 2 + 2);
    assert_int_equal(add(&t, 0, 2, 1, b2 + 2000, n2 - 2000, &m, &mlen), 1);
    assert_int_equal(mlen, l2);
    assert_memory_equal(m, p2, l2);
    assert_int_equal(add(&t, 0, 1, 1, b1 + 2000, n1 - 2000, &m, &mlen), 1);
    assert_int_equal(mlen, l1);
    assert_memory_equal(m, p1, l1);
    otpc__frag_free(&t);
    free(b1), free(b2), free(p1), free(p2);
    ei_x_free(&c1), ei_x_free(&m1), ei_x_free(&c2), ei_x_free(&m2);
}

/* Everything inconsistent is refused. */
static void inconsistent_refused(void **state)
{
    (void)state;
    ei_x_buff ctl, msg;
    message(&ctl, &msg, 100);
    char b[512];
    size_t n = body(&ctl, &msg, b);
    otpc__frag_tab_t t;
    otpc__frag_init(&t, 1 << 20);
    const char *m;
    size_t mlen;
    assert_int_equal(add(&t, 0, 5, 1, b, 10, &m, &mlen), OTPC_EPROTO); /* unknown sequence */
    assert_int_equal(add(&t, 1, 5, 3, b, 40, &m, &mlen), 0);
    assert_int_equal(add(&t, 1, 5, 3, b, 40, &m, &mlen), OTPC_EPROTO);      /* id in progress */
    assert_int_equal(add(&t, 0, 5, 1, b + 40, 10, &m, &mlen), OTPC_EPROTO); /* skips 2 */
    assert_int_equal(add(&t, 0, 5, 3, b + 40, 10, &m, &mlen), OTPC_EPROTO); /* repeats 3 */
    assert_int_equal(add(&t, 1, 6, 2, b, 3, &m, &mlen), OTPC_EPROTO);       /* control cut */
    assert_int_equal(add(&t, 1, 7, (1 << 20) + 1, b, n, &m, &mlen), OTPC_EPROTO); /* too many */
    otpc__frag_free(&t);
    /* at most OTPC__FRAG_SEQS in progress */
    otpc__frag_init(&t, 1 << 20);
    for (uint64_t s = 0; s < OTPC__FRAG_SEQS; s++)
        assert_int_equal(add(&t, 1, s, 2, b, 40, &m, &mlen), 0);
    assert_int_equal(add(&t, 1, 999, 2, b, 40, &m, &mlen), OTPC_EPROTO);
    otpc__frag_free(&t); /* frees every partial sequence (ASan: no leak) */
    ei_x_free(&ctl);
    ei_x_free(&msg);
}

/* The bound: a message is at most max bytes (control and payload), checked at the first
 * fragment and at each further one before anything is allocated for it, and a
 * sequence's buffer never grows past max plus the three bytes of the form. */
static void bounded_by_max(void **state)
{
    (void)state;
    ei_x_buff ctl, msg;
    message(&ctl, &msg, 10000);
    char *b = malloc(16384), *pass = malloc(16384);
    size_t n = body(&ctl, &msg, b), plen = pass_form(&ctl, &msg, pass);
    const char *m;
    size_t mlen;
    otpc__frag_tab_t t;
    otpc__frag_init(&t, n); /* exactly the message */
    size_t at = 100;
    assert_int_equal(add(&t, 1, 1, 100, b, at, &m, &mlen), 0);
    for (uint64_t f = 99; f > 1; f--, at += 100) {
        assert_int_equal(add(&t, 0, 1, f, b + at, 100, &m, &mlen), 0);
        assert_true(t.seqs[0].buf.cap <= n + 3);
    }
    assert_int_equal(add(&t, 0, 1, 1, b + at, n - at, &m, &mlen), 1);
    assert_int_equal(mlen, plen);
    assert_memory_equal(m, pass, plen);
    otpc__frag_free(&t);
    otpc__frag_init(&t, n - 1); /* one byte short */
    assert_int_equal(add(&t, 1, 1, 2, b, n - 1, &m, &mlen), 0);
    assert_int_equal(add(&t, 0, 1, 1, b + n - 1, 1, &m, &mlen), OTPC_EPROTO);
    otpc__frag_free(&t);
    otpc__frag_init(&t, 10); /* the first fragment alone is above */
    assert_int_equal(add(&t, 1, 1, 2, b, 100, &m, &mlen), OTPC_EPROTO);
    otpc__frag_free(&t);
    free(b);
    free(pass);
    ei_x_free(&ctl);
    ei_x_free(&msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(headers_round_trip),   cmocka_unit_test(headers_malformed),
        cmocka_unit_test(whole_message_forms),  cmocka_unit_test(reassembled_at_every_cut),
        cmocka_unit_test(sequences_interleave), cmocka_unit_test(inconsistent_refused),
        cmocka_unit_test(bounded_by_max),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
