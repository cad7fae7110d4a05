/* Control message decoding; see ctrl.h. */
#include "proto/ctrl.h"

#include <string.h>

#include "proto/term.h"
#include "otpc.h"

#define PASS_THROUGH 'p'

static int bad(const char **why, const char *text)
{
    *why = text;
    return OTPC_EPROTO;
}

/* A pid or (for monitors by name) an atom. */
static int decode_proc(const char *b, int *i, erlang_pid *pid, int *is_name, char *name,
                       size_t *name_len)
{
    int type, size;
    if (ei_get_type(b, i, &type, &size))
        return -1;
    if (type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_EXT || type == ERL_ATOM_UTF8_EXT ||
        type == ERL_SMALL_ATOM_UTF8_EXT) {
        *is_name = 1;
        return otpc__decode_atom(b, i, name, name_len);
    }
    *is_name = 0;
    return ei_decode_pid(b, i, pid);
}

/* Skips use the bounded walker, never ei_skip_term: ei recurses once per nesting
 * level, and a peer can nest a million tuples in a 2 MB packet. `end` is the size of
 * the (already validated) control term. */
static int skip(const char *b, int *i, size_t end)
{
    size_t used;
    if ((size_t)*i > end || otpc__term_skip(b + *i, end - (size_t)*i, &used))
        return -1;
    *i += (int)used;
    return 0;
}

static int span_here(const char *b, int *i, size_t end, otpc__span_t *s)
{
    int start = *i;
    if (skip(b, i, end))
        return -1;
    s->data = b + start;
    s->size = (size_t)(*i - start);
    return 0;
}

/* {Module, Function, Arity} of a spawn request: atoms without NUL, arity 0..255. */
static int spawn_mfa(const char *b, int *i, otpc__ctrl_t *c)
{
    int arity;
    size_t mlen, flen;
    unsigned long a;
    if (ei_decode_tuple_header(b, i, &arity) || arity != 3 ||
        otpc__decode_atom(b, i, c->spawn_mod, &mlen) || mlen != strlen(c->spawn_mod) ||
        otpc__decode_atom(b, i, c->spawn_fun, &flen) || flen != strlen(c->spawn_fun) ||
        ei_decode_ulong(b, i, &a) || a > 255)
        return -1;
    c->spawn_arity = (unsigned)a;
    return 0;
}

/* A proper list or [] (the walker has bounded it already). */
static int is_list(otpc__span_t s)
{
    int i = 0, type, size;
    return s.size > 0 && ei_get_type(s.data, &i, &type, &size) == 0 &&
           (type == ERL_NIL_EXT || type == ERL_LIST_EXT);
}

/* ALTACT_SIG_SEND's Flags: any non-negative integer, of which only the low byte
 * means anything (later releases may send more bits, even a bignum). */
static int decode_altact_flags(const char *b, int *i, size_t end, unsigned *low)
{
    int type, size;
    if (ei_get_type(b, i, &type, &size))
        return -1;
    if (type == ERL_SMALL_INTEGER_EXT || type == ERL_INTEGER_EXT) {
        long v;
        if (ei_decode_long(b, i, &v) || v < 0)
            return -1;
        *low = (unsigned)v & 0xffu;
        return 0;
    }
    if (type != ERL_SMALL_BIG_EXT && type != ERL_LARGE_BIG_EXT)
        return -1;
    /* tag, digit count (1 or 4 bytes), sign, then the digits, least significant first;
     * the walker has checked that they are all there */
    int start = *i;
    size_t hdr = type == ERL_SMALL_BIG_EXT ? 3 : 6;
    if (skip(b, i, end))
        return -1;
    const unsigned char *big = (const unsigned char *)b + start;
    if (big[hdr - 1] != 0)
        return -1; /* negative */
    *low = (size_t)(*i - start) > hdr ? big[hdr] : 0;
    return 0;
}

/* {37, Flags, From, To} or {37, Flags, From, To, Token}, and any elements after them:
 * sets the plain op the flags make of it (ctrl.h). */
static int altact(const char *b, int *i, size_t end, otpc__ctrl_t *c, int arity)
{
    unsigned flags;
    if (arity < 4 || decode_altact_flags(b, i, end, &flags) || ei_decode_pid(b, i, &c->from))
        return -1;
    int is_exit = (flags & OTPC__ALTACT_EXIT) != 0;
    c->prio = (flags & OTPC__ALTACT_PRIO) != 0;
    if (flags & OTPC__ALTACT_ALIAS) {
        if ((flags & OTPC__ALTACT_NAME) || ei_decode_ref(b, i, &c->ref))
            return -1;
        c->to_is_alias = 1;
        c->op = is_exit ? OTPC__DOP_EXIT2 : OTPC__DOP_ALIAS_SEND;
    } else if (flags & OTPC__ALTACT_NAME) {
        if (otpc__decode_atom(b, i, c->to_name, &c->to_name_len))
            return -1;
        c->to_is_name = 1;
        c->op = is_exit ? OTPC__DOP_EXIT2 : OTPC__DOP_REG_SEND;
    } else {
        if (ei_decode_pid(b, i, &c->to))
            return -1;
        c->op = is_exit ? OTPC__DOP_EXIT2 : OTPC__DOP_SEND;
    }
    int used = 4;
    if (flags & OTPC__ALTACT_TOKEN) {
        if (arity < 5 || skip(b, i, end))
            return -1;
        used = 5;
    }
    for (; used < arity; used++)
        if (skip(b, i, end))
            return -1;
    return 0;
}

/* Fields of the control tuple, by (normalized) operation. `tt` says a trace token sits
 * before the reason / at the end. Returns 0 or -1. */
static int fields(const char *b, int *i, size_t end, int raw_op, otpc__ctrl_t *c, int arity)
{
    switch (raw_op) {
    case OTPC__DOP_LINK:
    case OTPC__DOP_UNLINK:
    case OTPC__DOP_GROUP_LEADER:
        return arity == 3 && !ei_decode_pid(b, i, &c->from) && !ei_decode_pid(b, i, &c->to) ? 0
                                                                                            : -1;
    case OTPC__DOP_SEND:
    case OTPC__DOP_SEND_TT:
        c->has_from = 0;
        return arity == (raw_op == OTPC__DOP_SEND ? 3 : 4) && !skip(b, i, end) &&
                       !ei_decode_pid(b, i, &c->to) &&
                       (raw_op == OTPC__DOP_SEND || !skip(b, i, end))
                   ? 0
                   : -1;
    case OTPC__DOP_SEND_SENDER:
    case OTPC__DOP_SEND_SENDER_TT:
        return arity == (raw_op == OTPC__DOP_SEND_SENDER ? 3 : 4) &&
                       !ei_decode_pid(b, i, &c->from) && !ei_decode_pid(b, i, &c->to) &&
                       (raw_op == OTPC__DOP_SEND_SENDER || !skip(b, i, end))
                   ? 0
                   : -1;
    case OTPC__DOP_REG_SEND:
    case OTPC__DOP_REG_SEND_TT:
        c->to_is_name = 1;
        return arity == (raw_op == OTPC__DOP_REG_SEND ? 4 : 5) && !ei_decode_pid(b, i, &c->from) &&
                       !skip(b, i, end) && !otpc__decode_atom(b, i, c->to_name, &c->to_name_len) &&
                       (raw_op == OTPC__DOP_REG_SEND || !skip(b, i, end))
                   ? 0
                   : -1;
    case OTPC__DOP_EXIT:
    case OTPC__DOP_EXIT2:
    case OTPC__DOP_EXIT_TT:
    case OTPC__DOP_EXIT2_TT: {
        int tt = raw_op == OTPC__DOP_EXIT_TT || raw_op == OTPC__DOP_EXIT2_TT;
        return arity == 4 + tt && !ei_decode_pid(b, i, &c->from) && !ei_decode_pid(b, i, &c->to) &&
                       (!tt || !skip(b, i, end)) && !span_here(b, i, end, &c->reason)
                   ? 0
                   : -1;
    }
    case OTPC__DOP_PAYLOAD_EXIT:
    case OTPC__DOP_PAYLOAD_EXIT2:
    case OTPC__DOP_PAYLOAD_EXIT_TT:
    case OTPC__DOP_PAYLOAD_EXIT2_TT: {
        int tt = raw_op == OTPC__DOP_PAYLOAD_EXIT_TT || raw_op == OTPC__DOP_PAYLOAD_EXIT2_TT;
        return arity == 3 + tt && !ei_decode_pid(b, i, &c->from) && !ei_decode_pid(b, i, &c->to) &&
                       (!tt || !skip(b, i, end))
                   ? 0
                   : -1;
    }
    case OTPC__DOP_MONITOR_P:
    case OTPC__DOP_DEMONITOR_P:
        return arity == 4 && !ei_decode_pid(b, i, &c->from) &&
                       !decode_proc(b, i, &c->to, &c->to_is_name, c->to_name, &c->to_name_len) &&
                       !ei_decode_ref(b, i, &c->ref)
                   ? 0
                   : -1;
    case OTPC__DOP_MONITOR_P_EXIT:
    case OTPC__DOP_PAYLOAD_MONITOR_P_EXIT: {
        int payload = raw_op == OTPC__DOP_PAYLOAD_MONITOR_P_EXIT;
        return arity == 5 - payload &&
                       !decode_proc(b, i, &c->from, &c->from_is_name, c->from_name,
                                    &c->from_name_len) &&
                       !ei_decode_pid(b, i, &c->to) && !ei_decode_ref(b, i, &c->ref) &&
                       (payload || !span_here(b, i, end, &c->reason))
                   ? 0
                   : -1;
    }
    case OTPC__DOP_ALIAS_SEND:
    case OTPC__DOP_ALIAS_SEND_TT:
        c->to_is_alias = 1;
        return arity == (raw_op == OTPC__DOP_ALIAS_SEND ? 3 : 4) &&
                       !ei_decode_pid(b, i, &c->from) && !ei_decode_ref(b, i, &c->ref) &&
                       (raw_op == OTPC__DOP_ALIAS_SEND || !skip(b, i, end))
                   ? 0
                   : -1;
    case OTPC__DOP_SPAWN_REQUEST:
    case OTPC__DOP_SPAWN_REQUEST_TT:
        return arity == (raw_op == OTPC__DOP_SPAWN_REQUEST ? 6 : 7) &&
                       !ei_decode_ref(b, i, &c->ref) && !ei_decode_pid(b, i, &c->from) &&
                       !skip(b, i, end) /* group leader */ && !spawn_mfa(b, i, c) &&
                       !span_here(b, i, end, &c->opts) && is_list(c->opts) &&
                       (raw_op == OTPC__DOP_SPAWN_REQUEST || !skip(b, i, end))
                   ? 0
                   : -1;
    case OTPC__DOP_ALTACT_SIG_SEND:
        return altact(b, i, end, c, arity);
    case OTPC__DOP_UNLINK_ID:
    case OTPC__DOP_UNLINK_ID_ACK: {
        unsigned long long id;
        if (arity != 4 || ei_decode_ulonglong(b, i, &id))
            return -1;
        c->unlink_id = id;
        return !ei_decode_pid(b, i, &c->from) && !ei_decode_pid(b, i, &c->to) ? 0 : -1;
    }
    default:
        return -1;
    }
}

/* Plain op, and what follows the control tuple: 0 nothing, 1 a message, 2 a reason.
 * ALTACT_SIG_SEND's op and payload are the flags' to say (altact). */
static int normalize(int raw, int *op)
{
    switch (raw) {
    case OTPC__DOP_SEND:
    case OTPC__DOP_SEND_TT:
    case OTPC__DOP_SEND_SENDER:
    case OTPC__DOP_SEND_SENDER_TT:
        *op = OTPC__DOP_SEND;
        return 1;
    case OTPC__DOP_REG_SEND:
    case OTPC__DOP_REG_SEND_TT:
        *op = OTPC__DOP_REG_SEND;
        return 1;
    case OTPC__DOP_ALIAS_SEND:
    case OTPC__DOP_ALIAS_SEND_TT:
        *op = OTPC__DOP_ALIAS_SEND;
        return 1;
    case OTPC__DOP_EXIT:
    case OTPC__DOP_EXIT_TT:
        *op = OTPC__DOP_EXIT;
        return 0;
    case OTPC__DOP_EXIT2:
    case OTPC__DOP_EXIT2_TT:
        *op = OTPC__DOP_EXIT2;
        return 0;
    case OTPC__DOP_PAYLOAD_EXIT:
    case OTPC__DOP_PAYLOAD_EXIT_TT:
        *op = OTPC__DOP_EXIT;
        return 2;
    case OTPC__DOP_PAYLOAD_EXIT2:
    case OTPC__DOP_PAYLOAD_EXIT2_TT:
        *op = OTPC__DOP_EXIT2;
        return 2;
    case OTPC__DOP_PAYLOAD_MONITOR_P_EXIT:
        *op = OTPC__DOP_MONITOR_P_EXIT;
        return 2;
    case OTPC__DOP_SPAWN_REQUEST:
    case OTPC__DOP_SPAWN_REQUEST_TT:
        *op = OTPC__DOP_SPAWN_REQUEST;
        return 1; /* the argument list */
    default:
        *op = raw;
        return 0;
    }
}

int otpc__ctrl_decode(const char *pkt, size_t len, otpc__ctrl_t *c, const char **why)
{
    size_t used;
    if (len < 2 || pkt[0] != PASS_THROUGH)
        return bad(why, "packet is not a pass-through control message (atom cache not agreed)");
    const char *ctl = pkt + 1;
    size_t left = len - 1;
    if (otpc__term_skip_versioned(ctl, left, &used))
        return bad(why, "malformed control message term");
    int i = 0, arity, type, size;
    long raw;
    if (ei_decode_version(ctl, &i, NULL) || ei_decode_tuple_header(ctl, &i, &arity) || arity < 1 ||
        ei_get_type(ctl, &i, &type, &size) ||
        (type != ERL_SMALL_INTEGER_EXT && type != ERL_INTEGER_EXT) || ei_decode_long(ctl, &i, &raw))
        return bad(why, "control message is not a tuple with an operation");
    c->has_from = 1;
    c->raw_op = (int)raw;
    c->prio = c->from_is_name = c->to_is_name = c->to_is_alias = 0;
    c->reason.data = c->msg.data = NULL;
    c->reason.size = c->msg.size = 0;
    int follows = normalize((int)raw, &c->op);
    if (fields(ctl, &i, used, (int)raw, c, arity) || (size_t)i != used)
        return bad(why, "control message with unknown operation or wrong fields");
    if (raw == OTPC__DOP_ALTACT_SIG_SEND)
        follows = c->op == OTPC__DOP_EXIT2 ? 2 : 1;
    const char *rest = ctl + used;
    left -= used;
    if (follows == 0)
        return left == 0 ? 0 : bad(why, "unexpected bytes after the control message");
    size_t plen;
    if (otpc__term_skip_versioned(rest, left, &plen) || plen != left)
        return bad(why, "malformed payload term");
    if (follows == 1) {
        c->msg.data = rest;
        c->msg.size = left;
    } else {
        c->reason.data = rest + 1;
        c->reason.size = left - 1;
    }
    return 0;
}
