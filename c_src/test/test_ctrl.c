/*
 * Unit tests of dist/ctrl.h, the decoder of connected-state distribution packets.
 *
 * Packets are built with ei as a peer would send them: 'p', the versioned control
 * tuple, then for some operations one versioned payload term. Each valid packet is
 * decoded and its normalized operation and fields checked, including that `msg` spans
 * exactly the payload (with its version byte) and `reason` exactly the reason term
 * (without one). Every valid packet is also decoded at every shorter length, and a set
 * of malformed packets is refused; refusals must be non-zero with a reason in `why`.
 * Packets live in exact-size heap blocks so that ASan catches any read past the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ei.h>
#include <stdlib.h>
#include <string.h>

#include "proto/ctrl.h"
#include "otpc.h"

static const erlang_pid FROM = {"from@host", 101, 1, 0xdeadbeef};
static const erlang_pid TO = {"to@host", 202, 2, 7};
static const erlang_ref REF = {"to@host", 3, {11, 22, 33, 0, 0}, 7};

/* ---- building packets ---------------------------------------------------------------- */

/* A control tuple {Op, ...}: the caller encodes the remaining arity-1 elements. */
static void ctl(ei_x_buff *x, int arity, long op)
{
    assert_int_equal(ei_x_new_with_version(x), 0);
    assert_int_equal(ei_x_encode_tuple_header(x, arity), 0);
    assert_int_equal(ei_x_encode_long(x, op), 0);
}

/* A versioned message payload: {hello, [1,2,3], <<"bin">>}. */
static void msg_payload(ei_x_buff *x)
{
    ei_x_new_with_version(x);
    ei_x_encode_tuple_header(x, 3);
    ei_x_encode_atom(x, "hello");
    ei_x_encode_string(x, "\x01\x02\x03");
    ei_x_encode_binary(x, "bin", 3);
}

/* A reason term {shutdown, closed}, versioned when it is a payload. */
static void reason_term(ei_x_buff *x, int versioned)
{
    if (versioned)
        ei_x_new_with_version(x);
    else
        ei_x_new(x);
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "shutdown");
    ei_x_encode_atom(x, "closed");
}

/* A trace token as SEND_TT and friends carry it (its content is never looked at). */
static void token(ei_x_buff *x)
{
    ei_x_encode_tuple_header(x, 5);
    ei_x_encode_long(x, 1);
    ei_x_encode_long(x, 2);
    ei_x_encode_long(x, 3);
    ei_x_encode_pid(x, &FROM);
    ei_x_encode_long(x, 0);
}

typedef struct {
    char *data;
    size_t len;
    size_t ctl_end; /* offset of the payload, if any */
} packet_t;

/* 'p' + control (+ payload, when not NULL), in an exact-size heap block. Frees the
 * ei buffer of the control tuple. */
static packet_t packet(ei_x_buff *c, const ei_x_buff *payload)
{
    packet_t p;
    p.ctl_end = 1 + (size_t)c->index;
    p.len = p.ctl_end + (payload ? (size_t)payload->index : 0);
    p.data = malloc(p.len);
    assert_non_null(p.data);
    p.data[0] = 'p';
    memcpy(p.data + 1, c->buff, (size_t)c->index);
    if (payload)
        memcpy(p.data + p.ctl_end, payload->buff, (size_t)payload->index);
    ei_x_free(c);
    return p;
}

/* Decode a copy of the first len bytes, in an exact-size block. */
static int decode_prefix(const packet_t *p, size_t len, const char **why)
{
    otpc__ctrl_t c;
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, p->data, len);
    *why = NULL;
    int rc = otpc__ctrl_decode(copy, len, &c, why);
    free(copy);
    return rc;
}

/* The packet decodes, and every shorter prefix (len >= 1) is refused with a reason. */
static void decode_ok(const packet_t *p, otpc__ctrl_t *c)
{
    const char *why = NULL;
    int rc = otpc__ctrl_decode(p->data, p->len, c, &why);
    if (rc != 0)
        fail_msg("decode failed: %s", why ? why : "(no reason)");
    for (size_t len = 1; len < p->len; len++) {
        assert_int_not_equal(decode_prefix(p, len, &why), 0);
        assert_non_null(why);
    }
}

/* The packet is refused with a reason. */
static void decode_bad(const packet_t *p)
{
    const char *why = NULL;
    assert_int_not_equal(decode_prefix(p, p->len, &why), 0);
    assert_non_null(why);
    assert_true(why[0] != 0);
}

static void free_packet(packet_t *p)
{
    free(p->data);
    p->data = NULL;
}

static void assert_pid(const erlang_pid *got, const erlang_pid *want)
{
    assert_string_equal(got->node, want->node);
    assert_int_equal(got->num, want->num);
    assert_int_equal(got->serial, want->serial);
    assert_int_equal(got->creation, want->creation);
}

static void assert_ref(const erlang_ref *got, const erlang_ref *want)
{
    assert_string_equal(got->node, want->node);
    assert_int_equal(got->len, want->len);
    assert_memory_equal(got->n, want->n, sizeof(unsigned) * (size_t)want->len);
    assert_int_equal(got->creation, want->creation);
}

/* msg is exactly the payload, version byte included; no reason. */
static void assert_msg_is_payload(const otpc__ctrl_t *c, const packet_t *p, const ei_x_buff *m)
{
    assert_ptr_equal(c->msg.data, p->data + p->ctl_end);
    assert_int_equal(c->msg.size, (size_t)m->index);
    assert_memory_equal(c->msg.data, m->buff, c->msg.size);
    assert_null(c->reason.data);
}

/* reason is exactly the given unversioned term; no msg. */
static void assert_reason(const otpc__ctrl_t *c, const ei_x_buff *unversioned)
{
    assert_non_null(c->reason.data);
    assert_int_equal(c->reason.size, (size_t)unversioned->index);
    assert_memory_equal(c->reason.data, unversioned->buff, c->reason.size);
    assert_null(c->msg.data);
}

/* ---- sends --------------------------------------------------------------------------- */

/* Build and decode a send-like packet: control elements by `fill`, then msg_payload. */
static void decode_send(int arity, long op, void (*fill)(ei_x_buff *), otpc__ctrl_t *c,
                        int expect_op)
{
    ei_x_buff x, m;
    ctl(&x, arity, op);
    fill(&x);
    msg_payload(&m);
    packet_t p = packet(&x, &m);
    decode_ok(&p, c);
    assert_int_equal(c->op, expect_op);
    assert_msg_is_payload(c, &p, &m);
    /* The same control without its payload is refused. */
    ctl(&x, arity, op);
    fill(&x);
    packet_t bare = packet(&x, NULL);
    decode_bad(&bare);
    free_packet(&bare);
    free_packet(&p);
    ei_x_free(&m);
}

static void fill_send(ei_x_buff *x)
{
    ei_x_encode_atom(x, "");
    ei_x_encode_pid(x, &TO);
}

static void fill_send_tt(ei_x_buff *x)
{
    fill_send(x);
    token(x);
}

static void fill_from_to(ei_x_buff *x)
{
    ei_x_encode_pid(x, &FROM);
    ei_x_encode_pid(x, &TO);
}

static void fill_from_to_tt(ei_x_buff *x)
{
    fill_from_to(x);
    token(x);
}

/* SEND {2, '', To} + Msg: no sender, the destination pid, the message span. */
static void send_plain(void **state)
{
    (void)state;
    otpc__ctrl_t c;
    decode_send(3, OTPC__DOP_SEND, fill_send, &c, OTPC__DOP_SEND);
    assert_false(c.has_from);
    assert_false(c.to_is_name);
    assert_pid(&c.to, &TO);
}

/* SEND_TT {12, '', To, Token} + Msg folds into SEND; the token is dropped. */
static void send_tt(void **state)
{
    (void)state;
    otpc__ctrl_t c;
    decode_send(4, OTPC__DOP_SEND_TT, fill_send_tt, &c, OTPC__DOP_SEND);
    assert_false(c.has_from);
    assert_pid(&c.to, &TO);
}

/* SEND_SENDER {22, From, To} + Msg, and its _TT form {23, ...}: SEND with a sender. */
static void send_sender(void **state)
{
    (void)state;
    otpc__ctrl_t c;
    decode_send(3, OTPC__DOP_SEND_SENDER, fill_from_to, &c, OTPC__DOP_SEND);
    assert_true(c.has_from);
    assert_pid(&c.from, &FROM);
    assert_pid(&c.to, &TO);
    decode_send(4, OTPC__DOP_SEND_SENDER_TT, fill_from_to_tt, &c, OTPC__DOP_SEND);
    assert_true(c.has_from);
    assert_pid(&c.from, &FROM);
}

static void fill_reg_send(ei_x_buff *x)
{
    ei_x_encode_pid(x, &FROM);
    ei_x_encode_atom(x, "");
    ei_x_encode_atom(x, "net_kernel");
}

static void fill_reg_send_tt(ei_x_buff *x)
{
    fill_reg_send(x);
    token(x);
}

/* REG_SEND {6, From, '', Name} + Msg, and REG_SEND_TT {16, ..., Token}. */
static void reg_send(void **state)
{
    (void)state;
    otpc__ctrl_t c;
    decode_send(4, OTPC__DOP_REG_SEND, fill_reg_send, &c, OTPC__DOP_REG_SEND);
    assert_true(c.has_from);
    assert_pid(&c.from, &FROM);
    assert_true(c.to_is_name);
    assert_string_equal(c.to_name, "net_kernel");
    assert_int_equal(c.to_name_len, 10);
    decode_send(5, OTPC__DOP_REG_SEND_TT, fill_reg_send_tt, &c, OTPC__DOP_REG_SEND);
    assert_string_equal(c.to_name, "net_kernel");
}

static void fill_reg_send_nul(ei_x_buff *x)
{
    ei_x_encode_pid(x, &FROM);
    ei_x_encode_atom(x, "");
    ei_x_encode_atom_len_as(x, "stack\0x", 7, ERLANG_UTF8, ERLANG_UTF8);
}

static void fill_reg_send_latin1(ei_x_buff *x)
{
    ei_x_encode_pid(x, &FROM);
    ei_x_encode_atom(x, "");
    ei_x_append_buf(x, "s\3\xe5ng", 5); /* SMALL_ATOM_EXT 'ång' in Latin-1 */
}

/* Names are (bytes, length): 'stack\0x' is 7 bytes, not the C string "stack" (it must
 * not reach stack); a Latin-1 atom arrives as UTF-8, one byte longer per character
 * above 127. */
static void reg_send_name_bytes(void **state)
{
    (void)state;
    otpc__ctrl_t c;
    decode_send(4, OTPC__DOP_REG_SEND, fill_reg_send_nul, &c, OTPC__DOP_REG_SEND);
    assert_int_equal(c.to_name_len, 7);
    assert_memory_equal(c.to_name, "stack\0x", 7);
    decode_send(4, OTPC__DOP_REG_SEND, fill_reg_send_latin1, &c, OTPC__DOP_REG_SEND);
    assert_int_equal(c.to_name_len, 4);
    assert_memory_equal(c.to_name, "\xc3\xa5ng", 4);
    int i = 0;
    char buf[16];
    ei_encode_atom_len_as(buf, &i, "cast\0x", 6, ERLANG_UTF8, ERLANG_UTF8);
    i = 0;
    assert_false(otpc_decode_atom_is(buf, &i, "cast"));
    assert_int_equal(i, 0);
}

static void fill_alias(ei_x_buff *x)
{
    ei_x_encode_pid(x, &FROM);
    ei_x_encode_ref(x, &REF);
}

static void fill_alias_tt(ei_x_buff *x)
{
    fill_alias(x);
    token(x);
}

/* ALIAS_SEND {33, From, Alias} + Msg: the alias lands in ref; ALIAS_SEND_TT too. */
static void alias_send(void **state)
{
    (void)state;
    otpc__ctrl_t c;
    decode_send(3, OTPC__DOP_ALIAS_SEND, fill_alias, &c, OTPC__DOP_ALIAS_SEND);
    assert_true(c.has_from);
    assert_pid(&c.from, &FROM);
    assert_ref(&c.ref, &REF);
    decode_send(4, OTPC__DOP_ALIAS_SEND_TT, fill_alias_tt, &c, OTPC__DOP_ALIAS_SEND);
    assert_ref(&c.ref, &REF);
}

/* ---- ALTACT_SIG_SEND (op 37) ---------------------------------------------------------- */

enum { TO_PID, TO_NAME, TO_ALIAS };

/* {37, Flags, From, To[, Token][, extra...]}: `flags` are encoded by the caller's
 * choice of bytes (NULL: as a small integer `f`); To follows the flags' kind
 * `to`, a token is added when `with_token`, then `extra` atoms. */
static void altact_ctl(ei_x_buff *x, long f, const char *flags, size_t flen, int to, int with_token,
                       int extra)
{
    ctl(x, 4 + with_token + extra, OTPC__DOP_ALTACT_SIG_SEND);
    if (flags)
        ei_x_append_buf(x, flags, (int)flen);
    else
        ei_x_encode_long(x, f);
    ei_x_encode_pid(x, &FROM);
    if (to == TO_PID)
        ei_x_encode_pid(x, &TO);
    else if (to == TO_NAME)
        ei_x_encode_atom(x, "registered");
    else
        ei_x_encode_ref(x, &REF);
    if (with_token)
        token(x);
    for (int k = 0; k < extra; k++)
        ei_x_encode_atom(x, "future_element");
}

/* The folded signal: a message to To (SEND, REG_SEND, ALIAS_SEND) or an exit signal
 * (EXIT2), From as the sender, To as the flags said. */
static void assert_altact(const otpc__ctrl_t *c, int to, int is_exit, int prio)
{
    static const int msg_op[] = {OTPC__DOP_SEND, OTPC__DOP_REG_SEND, OTPC__DOP_ALIAS_SEND};
    assert_int_equal(c->raw_op, OTPC__DOP_ALTACT_SIG_SEND);
    assert_int_equal(c->op, is_exit ? OTPC__DOP_EXIT2 : msg_op[to]);
    assert_int_equal(c->prio, prio);
    assert_true(c->has_from);
    assert_pid(&c->from, &FROM);
    assert_int_equal(c->to_is_name, to == TO_NAME);
    assert_int_equal(c->to_is_alias, to == TO_ALIAS);
    if (to == TO_PID)
        assert_pid(&c->to, &TO);
    else if (to == TO_NAME)
        assert_memory_equal(c->to_name, "registered", c->to_name_len);
    else
        assert_ref(&c->ref, &REF);
}

/* Decode {37, ...} + payload (a message, or the reason when is_exit) and check the
 * payload's span; the same control without a payload is refused. */
static void decode_altact(ei_x_buff *x, int is_exit, otpc__ctrl_t *c)
{
    ei_x_buff pl, r;
    if (is_exit)
        reason_term(&pl, 1);
    else
        msg_payload(&pl);
    ei_x_buff copy;
    ei_x_new(&copy);
    ei_x_append_buf(&copy, x->buff, x->index);
    packet_t p = packet(x, &pl);
    decode_ok(&p, c);
    if (is_exit) {
        reason_term(&r, 0);
        assert_reason(c, &r);
        assert_ptr_equal(c->reason.data, p.data + p.ctl_end + 1);
        ei_x_free(&r);
    } else {
        assert_msg_is_payload(c, &p, &pl);
    }
    packet_t bare = packet(&copy, NULL);
    decode_bad(&bare);
    free_packet(&bare);
    free_packet(&p);
    ei_x_free(&pl);
}

/* Every form the flags allow: To a pid, a name or an alias; a message or an exit
 * signal; with or without a token; priority or not. */
static void altact_forms(void **state)
{
    (void)state;
    static const long to_flag[] = {0, OTPC__ALTACT_NAME, OTPC__ALTACT_ALIAS};
    for (int to = TO_PID; to <= TO_ALIAS; to++)
        for (int is_exit = 0; is_exit <= 1; is_exit++)
            for (int tok = 0; tok <= 1; tok++)
                for (int prio = 0; prio <= 1; prio++) {
                    long f = to_flag[to] | (is_exit ? OTPC__ALTACT_EXIT : 0) |
                             (tok ? OTPC__ALTACT_TOKEN : 0) | (prio ? OTPC__ALTACT_PRIO : 0);
                    ei_x_buff x;
                    otpc__ctrl_t c;
                    altact_ctl(&x, f, NULL, 0, to, tok, 0);
                    decode_altact(&x, is_exit, &c);
                    assert_altact(&c, to, is_exit, prio);
                }
}

/* Flags as ERTS takes them: any non-negative integer, only its low byte read. Bits
 * unknown today (5..7, and above the byte) are ignored; larger values come as
 * INTEGER_EXT or bignums of any length. */
static void altact_bigger_flags(void **state)
{
    (void)state;
    ei_x_buff x;
    otpc__ctrl_t c;
    /* unknown low bits and bits above the byte, as a small and as INTEGER_EXT */
    altact_ctl(&x, 0xe0 | OTPC__ALTACT_ALIAS, NULL, 0, TO_ALIAS, 0, 0);
    decode_altact(&x, 0, &c);
    assert_altact(&c, TO_ALIAS, 0, 0);
    altact_ctl(&x, 0x7fff0000L | OTPC__ALTACT_NAME | OTPC__ALTACT_PRIO, NULL, 0, TO_NAME, 0, 0);
    decode_altact(&x, 0, &c);
    assert_altact(&c, TO_NAME, 0, 1);
    /* 2^64 + EXIT|PRIO as SMALL_BIG_EXT: 9 digits, least significant first */
    const char small_big[] = {
        ERL_SMALL_BIG_EXT, 9, 0, OTPC__ALTACT_EXIT | OTPC__ALTACT_PRIO, 0, 0, 0, 0, 0, 0, 0, 1};
    altact_ctl(&x, 0, small_big, sizeof small_big, TO_PID, 0, 0);
    decode_altact(&x, 1, &c);
    assert_altact(&c, TO_PID, 1, 1);
    /* a 300-digit LARGE_BIG_EXT whose low byte is ALIAS|TOKEN */
    char large_big[6 + 300] = {ERL_LARGE_BIG_EXT, 0, 0, 1, 44, 0};
    large_big[6] = OTPC__ALTACT_ALIAS | OTPC__ALTACT_TOKEN;
    large_big[6 + 299] = 0x55;
    altact_ctl(&x, 0, large_big, sizeof large_big, TO_ALIAS, 1, 0);
    decode_altact(&x, 0, &c);
    assert_altact(&c, TO_ALIAS, 0, 0);
    /* a bignum with no digits is 0: a message to a pid */
    const char zero_big[] = {ERL_SMALL_BIG_EXT, 0, 0};
    altact_ctl(&x, 0, zero_big, sizeof zero_big, TO_PID, 0, 0);
    decode_altact(&x, 0, &c);
    assert_altact(&c, TO_PID, 0, 0);
}

/* Elements beyond the ones the flags call for are ignored (ERTS only checks that the
 * tuple is large enough): after the token, and after To without TOKEN, where a fifth
 * element is not taken for a token. */
static void altact_extra_elements(void **state)
{
    (void)state;
    ei_x_buff x;
    otpc__ctrl_t c;
    altact_ctl(&x, OTPC__ALTACT_TOKEN, NULL, 0, TO_PID, 1, 2);
    decode_altact(&x, 0, &c);
    assert_altact(&c, TO_PID, 0, 0);
    altact_ctl(&x, OTPC__ALTACT_NAME | OTPC__ALTACT_EXIT, NULL, 0, TO_NAME, 0, 1);
    decode_altact(&x, 1, &c);
    assert_altact(&c, TO_NAME, 1, 0);
    altact_ctl(&x, OTPC__ALTACT_ALIAS, NULL, 0, TO_ALIAS, 0, 3);
    decode_altact(&x, 0, &c);
    assert_altact(&c, TO_ALIAS, 0, 0);
}

/* {37, ...} + msg_payload, refused. */
static void altact_bad(ei_x_buff *x)
{
    ei_x_buff m;
    msg_payload(&m);
    packet_t p = packet(x, &m);
    decode_bad(&p);
    free_packet(&p);
    ei_x_free(&m);
}

/* What ERTS refuses is refused: fewer than 4 elements, negative flags (small, INTEGER_EXT
 * and bignum), flags that are not integers, ALIAS with NAME, TOKEN without a fifth
 * element, To not of the kind the flags say, From not a pid; and a payload that is
 * missing or followed by stray bytes. */
static void altact_malformed(void **state)
{
    (void)state;
    ei_x_buff x, m;
    ctl(&x, 3, OTPC__DOP_ALTACT_SIG_SEND);
    ei_x_encode_long(&x, 0);
    ei_x_encode_pid(&x, &FROM);
    altact_bad(&x);
    altact_ctl(&x, -1, NULL, 0, TO_PID, 0, 0);
    altact_bad(&x);
    altact_ctl(&x, -100000, NULL, 0, TO_PID, 0, 0);
    altact_bad(&x);
    const char neg_big[] = {ERL_SMALL_BIG_EXT, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    altact_ctl(&x, 0, neg_big, sizeof neg_big, TO_PID, 0, 0);
    altact_bad(&x);
    const char atom_flags[] = {ERL_SMALL_ATOM_UTF8_EXT, 4, 'p', 'r', 'i', 'o'};
    altact_ctl(&x, 0, atom_flags, sizeof atom_flags, TO_PID, 0, 0);
    altact_bad(&x);
    const char float_flags[] = {NEW_FLOAT_EXT, 0x40, 0x10, 0, 0, 0, 0, 0, 0}; /* 4.0 */
    altact_ctl(&x, 0, float_flags, sizeof float_flags, TO_PID, 0, 0);
    altact_bad(&x);
    altact_ctl(&x, OTPC__ALTACT_ALIAS | OTPC__ALTACT_NAME, NULL, 0, TO_ALIAS, 0, 0);
    altact_bad(&x);
    altact_ctl(&x, OTPC__ALTACT_TOKEN, NULL, 0, TO_PID, 0, 0);
    altact_bad(&x);
    altact_ctl(&x, OTPC__ALTACT_ALIAS, NULL, 0, TO_PID, 0, 0);
    altact_bad(&x);
    altact_ctl(&x, OTPC__ALTACT_NAME, NULL, 0, TO_PID, 0, 0);
    altact_bad(&x);
    altact_ctl(&x, 0, NULL, 0, TO_ALIAS, 0, 0);
    altact_bad(&x);
    altact_ctl(&x, 0, NULL, 0, TO_NAME, 0, 0);
    altact_bad(&x);
    ctl(&x, 4, OTPC__DOP_ALTACT_SIG_SEND);
    ei_x_encode_long(&x, 0);
    ei_x_encode_atom(&x, "not_a_pid");
    ei_x_encode_pid(&x, &TO);
    altact_bad(&x);
    /* no payload; a payload and a stray byte */
    altact_ctl(&x, OTPC__ALTACT_EXIT, NULL, 0, TO_PID, 0, 0);
    packet_t p = packet(&x, NULL);
    decode_bad(&p);
    free_packet(&p);
    reason_term(&m, 1);
    ei_x_append_buf(&m, "j", 1);
    altact_ctl(&x, OTPC__ALTACT_EXIT, NULL, 0, TO_PID, 0, 0);
    p = packet(&x, &m);
    decode_bad(&p);
    free_packet(&p);
    ei_x_free(&m);
}

/* ---- links and exits ----------------------------------------------------------------- */

/* {Op, From, To} with nothing after it: LINK, UNLINK and GROUP_LEADER. */
static void link_unlink_group_leader(void **state)
{
    (void)state;
    const long ops[] = {OTPC__DOP_LINK, OTPC__DOP_UNLINK, OTPC__DOP_GROUP_LEADER};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        ei_x_buff x;
        otpc__ctrl_t c;
        ctl(&x, 3, ops[i]);
        fill_from_to(&x);
        packet_t p = packet(&x, NULL);
        decode_ok(&p, &c);
        assert_int_equal(c.op, ops[i]);
        assert_true(c.has_from);
        assert_pid(&c.from, &FROM);
        assert_pid(&c.to, &TO);
        assert_null(c.msg.data);
        assert_null(c.reason.data);
        free_packet(&p);
    }
}

/* EXIT {3, From, To, Reason}, EXIT2 {8, ...} and their _TT forms {13|18, From, To,
 * Token, Reason}: the reason is spanned inside the control tuple. */
static void exit_in_control(void **state)
{
    (void)state;
    const struct {
        long op;
        int tt;
        int want;
    } cases[] = {{OTPC__DOP_EXIT, 0, OTPC__DOP_EXIT},
                 {OTPC__DOP_EXIT2, 0, OTPC__DOP_EXIT2},
                 {OTPC__DOP_EXIT_TT, 1, OTPC__DOP_EXIT},
                 {OTPC__DOP_EXIT2_TT, 1, OTPC__DOP_EXIT2}};
    ei_x_buff r;
    reason_term(&r, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ei_x_buff x;
        otpc__ctrl_t c;
        ctl(&x, 4 + cases[i].tt, cases[i].op);
        fill_from_to(&x);
        if (cases[i].tt)
            token(&x);
        ei_x_append_buf(&x, r.buff, r.index);
        packet_t p = packet(&x, NULL);
        decode_ok(&p, &c);
        assert_int_equal(c.op, cases[i].want);
        assert_pid(&c.from, &FROM);
        assert_pid(&c.to, &TO);
        assert_reason(&c, &r);
        assert_true(c.reason.data + c.reason.size == p.data + p.len); /* last element */
        free_packet(&p);
    }
    ei_x_free(&r);
}

/* PAYLOAD_EXIT {24, From, To} + Reason, PAYLOAD_EXIT2 {26, ...} and their _TT forms
 * {25|27, From, To, Token}: folded into EXIT / EXIT2, the reason spanned after the
 * payload's version byte; without the payload they are refused. */
static void exit_as_payload(void **state)
{
    (void)state;
    const struct {
        long op;
        int tt;
        int want;
    } cases[] = {{OTPC__DOP_PAYLOAD_EXIT, 0, OTPC__DOP_EXIT},
                 {OTPC__DOP_PAYLOAD_EXIT2, 0, OTPC__DOP_EXIT2},
                 {OTPC__DOP_PAYLOAD_EXIT_TT, 1, OTPC__DOP_EXIT},
                 {OTPC__DOP_PAYLOAD_EXIT2_TT, 1, OTPC__DOP_EXIT2}};
    ei_x_buff r, rv;
    reason_term(&r, 0);
    reason_term(&rv, 1);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ei_x_buff x;
        otpc__ctrl_t c;
        ctl(&x, 3 + cases[i].tt, cases[i].op);
        fill_from_to(&x);
        if (cases[i].tt)
            token(&x);
        packet_t p = packet(&x, &rv);
        decode_ok(&p, &c);
        assert_int_equal(c.op, cases[i].want);
        assert_pid(&c.from, &FROM);
        assert_pid(&c.to, &TO);
        assert_reason(&c, &r);
        assert_ptr_equal(c.reason.data, p.data + p.ctl_end + 1);
        packet_t bare = p;
        bare.len = p.ctl_end;
        decode_bad(&bare);
        free_packet(&p);
    }
    ei_x_free(&r);
    ei_x_free(&rv);
}

/* ---- monitors ------------------------------------------------------------------------ */

/* MONITOR_P {19, From, To, Ref} by pid and {19, From, Name, Ref} by registered name;
 * DEMONITOR_P {20, ...} the same. */
static void monitor_and_demonitor(void **state)
{
    (void)state;
    const long ops[] = {OTPC__DOP_MONITOR_P, OTPC__DOP_DEMONITOR_P};
    for (size_t i = 0; i < 2; i++) {
        for (int by_name = 0; by_name <= 1; by_name++) {
            ei_x_buff x;
            otpc__ctrl_t c;
            ctl(&x, 4, ops[i]);
            ei_x_encode_pid(&x, &FROM);
            if (by_name)
                ei_x_encode_atom(&x, "registered");
            else
                ei_x_encode_pid(&x, &TO);
            ei_x_encode_ref(&x, &REF);
            packet_t p = packet(&x, NULL);
            decode_ok(&p, &c);
            assert_int_equal(c.op, ops[i]);
            assert_pid(&c.from, &FROM);
            assert_int_equal(c.to_is_name, by_name);
            if (by_name)
                assert_string_equal(c.to_name, "registered");
            else
                assert_pid(&c.to, &TO);
            assert_ref(&c.ref, &REF);
            free_packet(&p);
        }
    }
}

/* MONITOR_P_EXIT {21, From, To, Ref, Reason}, From a pid or (monitor by name) an atom. */
static void monitor_exit(void **state)
{
    (void)state;
    ei_x_buff r;
    reason_term(&r, 0);
    for (int by_name = 0; by_name <= 1; by_name++) {
        ei_x_buff x;
        otpc__ctrl_t c;
        ctl(&x, 5, OTPC__DOP_MONITOR_P_EXIT);
        if (by_name)
            ei_x_encode_atom(&x, "registered");
        else
            ei_x_encode_pid(&x, &FROM);
        ei_x_encode_pid(&x, &TO);
        ei_x_encode_ref(&x, &REF);
        ei_x_append_buf(&x, r.buff, r.index);
        packet_t p = packet(&x, NULL);
        decode_ok(&p, &c);
        assert_int_equal(c.op, OTPC__DOP_MONITOR_P_EXIT);
        assert_int_equal(c.from_is_name, by_name);
        if (by_name)
            assert_string_equal(c.from_name, "registered");
        else
            assert_pid(&c.from, &FROM);
        assert_pid(&c.to, &TO);
        assert_ref(&c.ref, &REF);
        assert_reason(&c, &r);
        free_packet(&p);
    }
    ei_x_free(&r);
}

/* PAYLOAD_MONITOR_P_EXIT {28, From, To, Ref} + Reason folds into MONITOR_P_EXIT. */
static void payload_monitor_exit(void **state)
{
    (void)state;
    ei_x_buff x, r, rv;
    otpc__ctrl_t c;
    reason_term(&r, 0);
    reason_term(&rv, 1);
    ctl(&x, 4, OTPC__DOP_PAYLOAD_MONITOR_P_EXIT);
    fill_from_to(&x);
    ei_x_encode_ref(&x, &REF);
    packet_t p = packet(&x, &rv);
    decode_ok(&p, &c);
    assert_int_equal(c.op, OTPC__DOP_MONITOR_P_EXIT);
    assert_false(c.from_is_name);
    assert_pid(&c.from, &FROM);
    assert_pid(&c.to, &TO);
    assert_ref(&c.ref, &REF);
    assert_reason(&c, &r);
    assert_ptr_equal(c.reason.data, p.data + p.ctl_end + 1);
    free_packet(&p);
    ei_x_free(&r);
    ei_x_free(&rv);
}

/* ---- unlink protocol ----------------------------------------------------------------- */

/* UNLINK_ID {35, Id, From, To} with Id = 2^40 (a bignum on the wire) and with a small
 * Id, and UNLINK_ID_ACK {36, ...}. */
static void unlink_id(void **state)
{
    (void)state;
    const long ops[] = {OTPC__DOP_UNLINK_ID, OTPC__DOP_UNLINK_ID_ACK};
    const unsigned long long ids[] = {1ULL << 40, 7, UINT64_MAX};
    for (size_t i = 0; i < 2; i++) {
        for (size_t j = 0; j < sizeof ids / sizeof ids[0]; j++) {
            ei_x_buff x;
            otpc__ctrl_t c;
            ctl(&x, 4, ops[i]);
            ei_x_encode_ulonglong(&x, ids[j]);
            fill_from_to(&x);
            packet_t p = packet(&x, NULL);
            decode_ok(&p, &c);
            assert_int_equal(c.op, ops[i]);
            assert_true(c.unlink_id == ids[j]);
            assert_pid(&c.from, &FROM);
            assert_pid(&c.to, &TO);
            free_packet(&p);
        }
    }
}

/* ---- refusals ------------------------------------------------------------------------ */

/* A packet without the pass-through byte: another first byte, or none at all. */
static void no_pass_through(void **state)
{
    (void)state;
    ei_x_buff x;
    ctl(&x, 3, OTPC__DOP_LINK);
    fill_from_to(&x);
    packet_t p = packet(&x, NULL);
    p.data[0] = 'D'; /* a distribution header (atom cache) */
    decode_bad(&p);
    p.data[0] = (char)131;
    decode_bad(&p);
    packet_t one = {p.data, 1, 1};
    p.data[0] = 'p';
    decode_bad(&one);
    free_packet(&p);
}

/* Unknown operations: 99, 0, negative, and ops defined but not accepted here
 * (SPAWN_REQUEST 29, SPAWN_REPLY 31). */
static void unknown_ops(void **state)
{
    (void)state;
    const long ops[] = {99, 0, -1, OTPC__DOP_SPAWN_REQUEST, OTPC__DOP_SPAWN_REPLY, 100000};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        ei_x_buff x;
        ctl(&x, 3, ops[i]);
        fill_from_to(&x);
        packet_t p = packet(&x, NULL);
        decode_bad(&p);
        free_packet(&p);
    }
}

/* A control message that is not {Integer, ...}: an atom, {}, {link, ...}, a big op. */
static void not_a_control_tuple(void **state)
{
    (void)state;
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_atom(&x, "link");
    packet_t p = packet(&x, NULL);
    decode_bad(&p);
    free_packet(&p);
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 0);
    p = packet(&x, NULL);
    decode_bad(&p);
    free_packet(&p);
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "link");
    fill_from_to(&x);
    p = packet(&x, NULL);
    decode_bad(&p);
    free_packet(&p);
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_ulonglong(&x, (1ULL << 40) | OTPC__DOP_LINK); /* bignum op */
    fill_from_to(&x);
    p = packet(&x, NULL);
    decode_bad(&p);
    free_packet(&p);
}

/* Arity that does not match the operation: LINK with 2 and 4 elements, SEND_TT
 * without its token, EXIT without its reason, UNLINK_ID with 3. */
static void wrong_arity(void **state)
{
    (void)state;
    ei_x_buff x, m;
    msg_payload(&m);
    ctl(&x, 2, OTPC__DOP_LINK);
    ei_x_encode_pid(&x, &FROM);
    packet_t p = packet(&x, NULL);
    decode_bad(&p);
    free_packet(&p);
    ctl(&x, 4, OTPC__DOP_LINK);
    fill_from_to(&x);
    ei_x_encode_atom(&x, "extra");
    p = packet(&x, NULL);
    decode_bad(&p);
    free_packet(&p);
    ctl(&x, 3, OTPC__DOP_SEND_TT);
    fill_send(&x);
    p = packet(&x, &m);
    decode_bad(&p);
    free_packet(&p);
    ctl(&x, 3, OTPC__DOP_EXIT);
    fill_from_to(&x);
    p = packet(&x, NULL);
    decode_bad(&p);
    free_packet(&p);
    ctl(&x, 3, OTPC__DOP_UNLINK_ID);
    ei_x_encode_long(&x, 1);
    ei_x_encode_pid(&x, &FROM);
    p = packet(&x, NULL);
    decode_bad(&p);
    free_packet(&p);
    ei_x_free(&m);
}

/* Fields of the wrong type: an atom for a pid, a pid for a registered name, a pid for
 * a reference, a negative unlink id, an unlink id beyond 64 bits. */
static void wrong_field_types(void **state)
{
    (void)state;
    ei_x_buff x, m;
    msg_payload(&m);
    ctl(&x, 3, OTPC__DOP_LINK);
    ei_x_encode_atom(&x, "not_a_pid");
    ei_x_encode_pid(&x, &TO);
    packet_t p = packet(&x, NULL);
    decode_bad(&p);
    free_packet(&p);
    ctl(&x, 4, OTPC__DOP_REG_SEND);
    ei_x_encode_pid(&x, &FROM);
    ei_x_encode_atom(&x, "");
    ei_x_encode_pid(&x, &TO);
    p = packet(&x, &m);
    decode_bad(&p);
    free_packet(&p);
    ctl(&x, 4, OTPC__DOP_MONITOR_P);
    fill_from_to(&x);
    ei_x_encode_pid(&x, &TO);
    p = packet(&x, NULL);
    decode_bad(&p);
    free_packet(&p);
    ctl(&x, 4, OTPC__DOP_UNLINK_ID);
    ei_x_encode_long(&x, -5);
    fill_from_to(&x);
    p = packet(&x, NULL);
    decode_bad(&p);
    free_packet(&p);
    /* 2^64 as SMALL_BIG: 10 digit bytes, little-endian */
    const char big[] = {ERL_SMALL_BIG_EXT, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
    ctl(&x, 4, OTPC__DOP_UNLINK_ID);
    ei_x_append_buf(&x, big, sizeof big);
    fill_from_to(&x);
    p = packet(&x, NULL);
    decode_bad(&p);
    free_packet(&p);
    ei_x_free(&m);
}

/* Bytes after a control message that has no payload: a whole term, or one stray byte. */
static void trailing_garbage(void **state)
{
    (void)state;
    ei_x_buff x, extra;
    ei_x_new_with_version(&extra);
    ei_x_encode_atom(&extra, "extra");
    ctl(&x, 3, OTPC__DOP_LINK);
    fill_from_to(&x);
    packet_t p = packet(&x, &extra);
    decode_bad(&p);
    free_packet(&p);
    ei_x_free(&extra);
    ei_x_new(&extra);
    ei_x_append_buf(&extra, "\0", 1);
    ctl(&x, 4, OTPC__DOP_MONITOR_P);
    fill_from_to(&x);
    ei_x_encode_ref(&x, &REF);
    p = packet(&x, &extra);
    decode_bad(&p);
    free_packet(&p);
    ei_x_free(&extra);
}

/* A payload that is malformed: missing, without version byte, followed by a second
 * term, or a stray byte after it. */
static void bad_payloads(void **state)
{
    (void)state;
    ei_x_buff x, m;
    packet_t p;
    ctl(&x, 3, OTPC__DOP_SEND);
    fill_send(&x);
    p = packet(&x, NULL);
    decode_bad(&p);
    free_packet(&p);

    ei_x_new(&m); /* no version byte */
    ei_x_encode_atom(&m, "hello");
    ctl(&x, 3, OTPC__DOP_SEND);
    fill_send(&x);
    p = packet(&x, &m);
    decode_bad(&p);
    free_packet(&p);
    ei_x_free(&m);

    msg_payload(&m); /* two payload terms */
    ei_x_encode_version(&m);
    ei_x_encode_atom(&m, "second");
    ctl(&x, 4, OTPC__DOP_REG_SEND);
    fill_reg_send(&x);
    p = packet(&x, &m);
    decode_bad(&p);
    free_packet(&p);
    ei_x_free(&m);

    reason_term(&m, 1); /* reason + one stray byte */
    ei_x_append_buf(&m, "j", 1);
    ctl(&x, 3, OTPC__DOP_PAYLOAD_EXIT);
    fill_from_to(&x);
    p = packet(&x, &m);
    decode_bad(&p);
    free_packet(&p);
    ei_x_free(&m);
}

/* A control tuple whose inner term is malformed (a binary length past the end) is
 * refused by the walker before ei reads it. */
static void malformed_control_term(void **state)
{
    (void)state;
    ei_x_buff x;
    const char bin[] = {ERL_BINARY_EXT, 0x7f, (char)0xff, (char)0xff, (char)0xff};
    ctl(&x, 4, OTPC__DOP_EXIT);
    fill_from_to(&x);
    ei_x_append_buf(&x, bin, sizeof bin);
    packet_t p = packet(&x, NULL);
    decode_bad(&p);
    free_packet(&p);
}

/* EXIT whose reason is a million nested 1-tuples (2 MB): decoded without recursion,
 * so a peer cannot overflow the stack (ei_skip_term would, at ~130k levels). */
static void deeply_nested_reason(void **state)
{
    (void)state;
    const size_t depth = 1000000;
    erlang_pid pid = {"a@h", 1, 2, 3};
    ei_x_buff c;
    ei_x_new_with_version(&c);
    ei_x_encode_tuple_header(&c, 4);
    ei_x_encode_long(&c, OTPC__DOP_EXIT);
    ei_x_encode_pid(&c, &pid);
    ei_x_encode_pid(&c, &pid);
    size_t len = 1 + (size_t)c.index + 2 * depth + 1;
    char *pkt = malloc(len);
    pkt[0] = 'p';
    memcpy(pkt + 1, c.buff, (size_t)c.index);
    char *r = pkt + 1 + c.index;
    for (size_t k = 0; k < depth; k++) {
        r[2 * k] = ERL_SMALL_TUPLE_EXT;
        r[2 * k + 1] = 1;
    }
    r[2 * depth] = ERL_NIL_EXT;
    otpc__ctrl_t d;
    const char *why = NULL;
    assert_int_equal(otpc__ctrl_decode(pkt, len, &d, &why), 0);
    assert_int_equal(d.op, OTPC__DOP_EXIT);
    assert_int_equal(d.reason.size, 2 * depth + 1);
    free(pkt);
    ei_x_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deeply_nested_reason),
        cmocka_unit_test(send_plain),
        cmocka_unit_test(send_tt),
        cmocka_unit_test(send_sender),
        cmocka_unit_test(reg_send),
        cmocka_unit_test(reg_send_name_bytes),
        cmocka_unit_test(alias_send),
        cmocka_unit_test(altact_forms),
        cmocka_unit_test(altact_bigger_flags),
        cmocka_unit_test(altact_extra_elements),
        cmocka_unit_test(altact_malformed),
        cmocka_unit_test(link_unlink_group_leader),
        cmocka_unit_test(exit_in_control),
        cmocka_unit_test(exit_as_payload),
        cmocka_unit_test(monitor_and_demonitor),
        cmocka_unit_test(monitor_exit),
        cmocka_unit_test(payload_monitor_exit),
        cmocka_unit_test(unlink_id),
        cmocka_unit_test(no_pass_through),
        cmocka_unit_test(unknown_ops),
        cmocka_unit_test(not_a_control_tuple),
        cmocka_unit_test(wrong_arity),
        cmocka_unit_test(wrong_field_types),
        cmocka_unit_test(trailing_garbage),
        cmocka_unit_test(bad_payloads),
        cmocka_unit_test(malformed_control_term),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
