/*
 * Control messages of a connected distribution channel, decoded (pure).
 *
 * A packet is 'p' (pass-through), the control tuple, then for some operations one
 * payload term. The decoder first walks the whole packet with the bounds-checked walker
 * (term.h), then lets ei decode the fields. _TT variants lose their trace token and
 * PAYLOAD_ variants are folded into their plain forms, so the rest of otpc sees one
 * shape per operation. Strings and spans in the result point into the packet.
 *
 * ALTACT_SIG_SEND (op 37, OTP 28+) is {37, Flags, From, To} or, with the TOKEN flag,
 * {37, Flags, From, To, Token}, always followed by a payload; its flags say what To is
 * and what the payload means, and it folds into the plain op that does the same:
 *
 *   To        message               EXIT flag: exit signal (payload = reason)
 *   pid       SEND (with a sender)  EXIT2
 *   NAME      REG_SEND              EXIT2 to_is_name
 *   ALIAS     ALIAS_SEND            EXIT2 to_is_alias (ref = the alias)
 *
 * As in ERTS (dist.c, erts_net_message), only the low byte of Flags means anything,
 * Flags may be any non-negative integer (a bignum too: later releases may use more
 * bits), unknown bits and elements after the ones the flags call for are ignored, and
 * ALIAS with NAME, a negative or non-integer Flags, TOKEN without a fifth element or a
 * To of the wrong type are malformed. PRIO is reported in `prio`: otpc keeps no
 * priority queue, so such a signal is handled in arrival order, as ERTS handles one to
 * a process that has not enabled priority reception.
 */
#ifndef OTPC_DIST_CTRL_H
#define OTPC_DIST_CTRL_H

#include <ei.h>
#include <stddef.h>
#include <stdint.h>

enum {
    OTPC__DOP_LINK = 1,
    OTPC__DOP_SEND = 2,
    OTPC__DOP_EXIT = 3,
    OTPC__DOP_UNLINK = 4,
    OTPC__DOP_REG_SEND = 6,
    OTPC__DOP_GROUP_LEADER = 7,
    OTPC__DOP_EXIT2 = 8,
    OTPC__DOP_SEND_TT = 12,
    OTPC__DOP_EXIT_TT = 13,
    OTPC__DOP_REG_SEND_TT = 16,
    OTPC__DOP_EXIT2_TT = 18,
    OTPC__DOP_MONITOR_P = 19,
    OTPC__DOP_DEMONITOR_P = 20,
    OTPC__DOP_MONITOR_P_EXIT = 21,
    OTPC__DOP_SEND_SENDER = 22,
    OTPC__DOP_SEND_SENDER_TT = 23,
    OTPC__DOP_PAYLOAD_EXIT = 24,
    OTPC__DOP_PAYLOAD_EXIT_TT = 25,
    OTPC__DOP_PAYLOAD_EXIT2 = 26,
    OTPC__DOP_PAYLOAD_EXIT2_TT = 27,
    OTPC__DOP_PAYLOAD_MONITOR_P_EXIT = 28,
    OTPC__DOP_SPAWN_REQUEST = 29,
    OTPC__DOP_SPAWN_REQUEST_TT = 30,
    OTPC__DOP_SPAWN_REPLY = 31,
    OTPC__DOP_SPAWN_REPLY_TT = 32,
    OTPC__DOP_ALIAS_SEND = 33,
    OTPC__DOP_ALIAS_SEND_TT = 34,
    OTPC__DOP_UNLINK_ID = 35,
    OTPC__DOP_UNLINK_ID_ACK = 36,
    OTPC__DOP_ALTACT_SIG_SEND = 37
};

/* The flag bits of ALTACT_SIG_SEND (the low byte of its second element). */
enum {
    OTPC__ALTACT_PRIO = 1 << 0,  /* a priority message or exit signal */
    OTPC__ALTACT_TOKEN = 1 << 1, /* a trace token is the fifth element */
    OTPC__ALTACT_ALIAS = 1 << 2, /* To is an alias (a reference) */
    OTPC__ALTACT_NAME = 1 << 3,  /* To is a registered name */
    OTPC__ALTACT_EXIT = 1 << 4   /* an exit signal, the payload its reason */
};

/* Raw bytes of one term inside a packet. */
typedef struct {
    const char *data;
    size_t size;
} otpc__span_t;

typedef struct {
    int op;       /* a plain op: LINK SEND EXIT REG_SEND GROUP_LEADER EXIT2 MONITOR_P
                           DEMONITOR_P MONITOR_P_EXIT ALIAS_SEND UNLINK_ID UNLINK_ID_ACK */
    int raw_op;   /* the op as it came on the wire (counted per peer: dstats.h) */
    int prio;     /* ALTACT_SIG_SEND with PRIO */
    int has_from; /* SEND has no sender; SEND_SENDER and the rest do */
    erlang_pid from;
    int from_is_name; /* MONITOR_P_EXIT from a monitor by name: from_name is set */
    char from_name[MAXATOMLEN_UTF8];
    size_t from_name_len;
    erlang_pid to;
    int to_is_name;  /* REG_SEND, MONITOR_P/DEMONITOR_P by name, ALTACT_SIG_SEND's exit */
    int to_is_alias; /* ALIAS_SEND and ALTACT_SIG_SEND's exit to an alias: `ref` is To */
    char to_name[MAXATOMLEN_UTF8];
    size_t to_name_len;  /* bytes: the name may hold NULs (proto/term.h) */
    erlang_ref ref;      /* MONITOR_P, DEMONITOR_P, MONITOR_P_EXIT; the alias (to_is_alias) */
    otpc__span_t reason; /* EXIT, EXIT2, MONITOR_P_EXIT: without version byte */
    otpc__span_t msg;    /* SEND, REG_SEND, ALIAS_SEND: with version byte */
    uint64_t unlink_id;
    /* SPAWN_REQUEST {29, ReqId (ref), From, GroupLeader, {M, F, Arity}, Opts} + ArgList
     * (msg): the module, function and arity asked for (names without NUL), the
     * option list (a proper list, unversioned) */
    char spawn_mod[MAXATOMLEN_UTF8], spawn_fun[MAXATOMLEN_UTF8];
    unsigned spawn_arity;
    otpc__span_t opts;
} otpc__ctrl_t;

/* Decode one packet (after the 4-byte length; len > 0). 0, or OTPC_EPROTO /
 * OTPC_EBADARG with a static reason in *why. */
int otpc__ctrl_decode(const char *pkt, size_t len, otpc__ctrl_t *c, const char **why);

#endif
