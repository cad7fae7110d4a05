/*
 * Outgoing control messages; see dsig.h. The control tuple is built in the module's
 * own buffer (`ctl`, per thread), never in a buffer another layer also writes.
 */
#include <stdlib.h>

#include "distribution/dsig.h"

#include <stdlib.h>
#include <string.h>

#include "distribution/dist_int.h"
#include "distribution/dstats.h"
#include "distribution/ostream.h"

#include "proto/ctrl.h"
#include "proto/flags.h"

/* The control message under construction: each thread's own (a server replies
 * holding only its domain's lock). */
static otpc__ext_key_t ctl_key;

static void ctl_free(otpc_node_t *n, void *state)
{
    (void)n;
    ei_x_free(state);
    free(state);
}

static ei_x_buff *ctl_of(otpc_node_t *n)
{
    void **slot = otpc__sched_local(n, &ctl_key, ctl_free);
    if (slot && !*slot) {
        ei_x_buff *x = malloc(sizeof *x);
        if (x && ei_x_new(x)) {
            free(x);
            x = NULL;
        }
        *slot = x;
    }
    return slot ? *slot : NULL;
}

/* {Op, ...}: the version byte, the tuple header and the operation. */
static ei_x_buff *begin(otpc_node_t *n, int arity, long op)
{
    ei_x_buff *x = ctl_of(n);
    if (!x)
        return NULL;
    x->index = 0;
    if (ei_x_encode_version(x) || ei_x_encode_tuple_header(x, arity) || ei_x_encode_long(x, op))
        return NULL;
    return x;
}

/* Queue the control message `x` (operation `op`) from the local process `from` (NULL:
 * none) and its payload, in up to two pieces, for `node`, and count it (dstats.h). */
static int queue(otpc_node_t *n, uint32_t node, const otpc_pid_t *from, long op, const ei_x_buff *x,
                 const char *payload, size_t plen, const char *tail, size_t tlen)
{
    int rc = otpc__peer_send(n, node, from, x, payload, plen, tail, tlen);
    if (rc == 0)
        otpc__dstats_count(n, node, (int)op, 1);
    return rc;
}

int otpc__dsig_send(otpc_node_t *n, const otpc_pid_t *from, const otpc_pid_t *to, const char *msg,
                    size_t len)
{
    ei_x_buff *x = begin(n, 3, OTPC__DOP_SEND);
    if (!x || ei_x_encode_atom(x, "") || otpc__x_pid(n, x, to))
        return OTPC_ENOMEM;
    return queue(n, to->node, from, OTPC__DOP_SEND, x, msg, len, NULL, 0);
}

int otpc__dsig_reg_send(otpc_node_t *n, const otpc_pid_t *from, uint32_t node, const char *name,
                        const char *msg, size_t len)
{
    ei_x_buff *x = begin(n, 4, OTPC__DOP_REG_SEND);
    if (!x || otpc__x_pid(n, x, from) || ei_x_encode_atom(x, "") || ei_x_encode_atom(x, name))
        return OTPC_ENOMEM;
    return queue(n, node, from, OTPC__DOP_REG_SEND, x, msg, len, NULL, 0);
}

int otpc__dsig_link(otpc_node_t *n, const otpc_pid_t *from, const otpc_pid_t *to)
{
    ei_x_buff *x = begin(n, 3, OTPC__DOP_LINK);
    if (!x || otpc__x_pid(n, x, from) || otpc__x_pid(n, x, to))
        return OTPC_ENOMEM;
    return queue(n, to->node, from, OTPC__DOP_LINK, x, NULL, 0, NULL, 0);
}

int otpc__dsig_unlink_id(otpc_node_t *n, uint64_t id, const otpc_pid_t *from, const otpc_pid_t *to,
                         int ack)
{
    long op = ack ? OTPC__DOP_UNLINK_ID_ACK : OTPC__DOP_UNLINK_ID;
    ei_x_buff *x = begin(n, 4, op);
    if (!x || ei_x_encode_ulonglong(x, id) || otpc__x_pid(n, x, from) || otpc__x_pid(n, x, to))
        return OTPC_ENOMEM;
    return queue(n, to->node, from, op, x, NULL, 0, NULL, 0);
}

int otpc__dsig_exit(otpc_node_t *n, const otpc_pid_t *from, const otpc_pid_t *to,
                    const char *reason, size_t len, int via_link)
{
    long op = via_link ? OTPC__DOP_EXIT : OTPC__DOP_EXIT2;
    ei_x_buff *x = begin(n, 4, op);
    if (!x || otpc__x_pid(n, x, from) || otpc__x_pid(n, x, to) || otpc__x_raw(x, reason, len))
        return OTPC_ENOMEM;
    return queue(n, to->node, from, op, x, NULL, 0, NULL, 0);
}

/* ---- monitors, and peers without them ----------------------------------------------
 *
 * As ERTS does (erts_dsig_send_monitor, _demonitor, _m_exit), MONITOR_P, DEMONITOR_P
 * and MONITOR_P_EXIT go only to a peer that announced both DIST_MONITOR and
 * DIST_MONITOR_NAME. Foreign nodes mostly do not: jinterface announces neither (and
 * closes the connection on a MONITOR_P: "Remote is sending garbage"), erl_interface
 * only DIST_MONITOR. To such a peer none is sent: a monitor of one of its processes
 * stays a local record that fires `noconnection` when the connection goes (it watches
 * the connection only), its demonitor is local too, and a monitor the peer asked for
 * anyway never fires. Until the handshake the flags are unknown, so a monitor frame is
 * queued as if the peer had them, and otpc__dsig_peer_up drops it if it has not (ERTS
 * turns such a frame into a tick). */

/* Whether monitor control messages may go to `node`: yes for a peer not up yet. */
static int sends_monitors(otpc_node_t *n, uint32_t node)
{
    otpc__peer_t *p = otpc__peer_get(n, node, 0);
    return !p || !p->conn || (p->flags & OTPC__DF_MONITORS) == OTPC__DF_MONITORS;
}

int otpc__dsig_monitor(otpc_node_t *n, const otpc_pid_t *watcher, const otpc__mon_t *m,
                       int demonitor)
{
    uint32_t node = m->name ? m->name_node : m->pid.node;
    if (!sends_monitors(n, node))
        return 0;
    long op = demonitor ? OTPC__DOP_DEMONITOR_P : OTPC__DOP_MONITOR_P;
    ei_x_buff *x = begin(n, 4, op);
    if (!x || otpc__x_pid(n, x, watcher) ||
        (m->name ? otpc__x_atom_id(n, x, m->name) : otpc__x_pid(n, x, &m->pid)) ||
        otpc__x_ref(n, x, &m->ref))
        return OTPC_ENOMEM;
    return queue(n, node, watcher, op, x, NULL, 0, NULL, 0);
}

int otpc__dsig_monitor_exit(otpc_node_t *n, const otpc__mobj_t *obj, const otpc_pid_t *watcher,
                            const otpc_ref_t *ref, const char *reason, size_t len)
{
    if (!sends_monitors(n, watcher->node))
        return 0;
    ei_x_buff *x = begin(n, 5, OTPC__DOP_MONITOR_P_EXIT);
    int err = !x;
    if (!err && obj->raw)
        err = otpc__x_raw(x, obj->raw, obj->raw_len);
    else if (!err)
        err = obj->name ? otpc__x_atom_id(n, x, obj->name) : otpc__x_pid(n, x, obj->pid);
    if (err || otpc__x_pid(n, x, watcher) || otpc__x_ref(n, x, ref) || otpc__x_raw(x, reason, len))
        return OTPC_ENOMEM;
    return queue(n, watcher->node, obj->pid, OTPC__DOP_MONITOR_P_EXIT, x, NULL, 0, NULL, 0);
}

/* SPAWN_REPLY {31, ReqId, To, Flags, Result}: Result the new pid or an error atom. */
int otpc__dsig_spawn_reply(otpc_node_t *n, const otpc_ref_t *req, const otpc_pid_t *to, int flags,
                           const otpc_pid_t *pid, const char *error)
{
    ei_x_buff *x = begin(n, 5, OTPC__DOP_SPAWN_REPLY);
    if (!x || otpc__x_ref(n, x, req) || otpc__x_pid(n, x, to) || ei_x_encode_long(x, flags) ||
        (pid ? otpc__x_pid(n, x, pid) : ei_x_encode_atom(x, error)))
        return OTPC_ENOMEM;
    return otpc__peer_send(n, to->node, NULL, x, NULL, 0, NULL, 0);
}

/* A queued frame (distribution/peer.c's: 4-byte length, 'p', then the control message
 * as begin() wrote it) that carries a monitor control message. */
static int is_monitor_frame(const unsigned char *f, size_t len)
{
    return len >= 10 && f[4] == 'p' && f[5] == ERL_VERSION_MAGIC && f[6] == ERL_SMALL_TUPLE_EXT &&
           f[8] == ERL_SMALL_INTEGER_EXT &&
           (f[9] == OTPC__DOP_MONITOR_P || f[9] == OTPC__DOP_DEMONITOR_P ||
            f[9] == OTPC__DOP_MONITOR_P_EXIT);
}

void otpc__dsig_peer_up(uint64_t flags, otpc__buf_t *queued)
{
    if ((flags & OTPC__DF_MONITORS) == OTPC__DF_MONITORS)
        return;
    char *d = queued->data;
    size_t r = 0, w = 0;
    while (queued->len - r >= 4) {
        size_t flen = 4 + (size_t)otpc__get_u32(d + r);
        if (flen > queued->len - r)
            break; /* not a whole frame: cannot happen, kept as it is */
        if (!is_monitor_frame((const unsigned char *)d + r, flen)) {
            if (w != r)
                memmove(d + w, d + r, flen);
            w += flen;
        }
        r += flen;
    }
    if (w != r)
        memmove(d + w, d + r, queued->len - r);
    queued->len -= r - w;
}

/* The connection is up and a message of len bytes goes whole, behind no stream. */
static int goes_whole(const otpc__peer_t *p, size_t len)
{
    return p && p->conn && !p->nstreams && len < OTPC__FRAG_SIZE / 2;
}

int otpc__dsig_here(otpc_node_t *n, uint32_t node, size_t len)
{
    if (otpc__all_held(n))
        return 1;
    otpc__peer_t *p = otpc__peer_get(n, node, 0);
    return goes_whole(p, len) && (int)p->home == otpc__held_dom;
}

int otpc__dsig_reply(otpc_node_t *n, const otpc_pid_t *server, const otpc_pid_t *caller,
                     const otpc_ref_t *alias, const char *prefix, size_t plen, const char *body,
                     size_t blen)
{
    otpc__peer_t *peer = otpc__peer_get(n, caller->node, 0);
    uint64_t flags = peer ? peer->flags : 0; /* 0 until the connection is up */
    ei_x_buff *x;
    long op;
    if (alias && alias->node == caller->node && (flags & OTPC__DF_ALTACT_SIG)) {
        op = OTPC__DOP_ALTACT_SIG_SEND; /* {37, ALIAS, Server, Alias}, as OTP 28+ sends */
        x = begin(n, 4, op);
        if (!x || ei_x_encode_long(x, OTPC__ALTACT_ALIAS) || otpc__x_pid(n, x, server) ||
            otpc__x_ref(n, x, alias))
            return OTPC_ENOMEM;
    } else if (alias && alias->node == caller->node && (flags & OTPC__DF_ALIAS)) {
        op = OTPC__DOP_ALIAS_SEND;
        x = begin(n, 3, op);
        if (!x || otpc__x_pid(n, x, server) || otpc__x_ref(n, x, alias))
            return OTPC_ENOMEM;
    } else {
        op = OTPC__DOP_SEND;
        x = begin(n, 3, op);
        if (!x || ei_x_encode_atom(x, "") || otpc__x_pid(n, x, caller))
            return OTPC_ENOMEM;
    }
    return queue(n, caller->node, server, op, x, prefix, plen, body, blen);
}

/* A reply for a peer another domain reads, in that domain's inbox (core/inbox.c): this
 * header, then the prefix and the body. */
typedef struct {
    otpc_pid_t server, caller;
    otpc_ref_t alias;
    int has_alias;
    uint32_t plen;
} reply_rec_t;

int otpc__dsig_reply_any(otpc_node_t *n, const otpc_pid_t *server, const otpc_pid_t *caller,
                         const otpc_ref_t *alias, const char *prefix, size_t plen, const char *body,
                         size_t blen)
{
    otpc__peer_t *p = otpc__all_held(n) ? NULL : otpc__peer_get(n, caller->node, 0);
    int whole = goes_whole(p, plen + blen);
    if (otpc__all_held(n) || (whole && (int)p->home == otpc__held_dom))
        return otpc__dsig_reply(n, server, caller, alias, prefix, plen, body, blen);
    if (whole) {
        reply_rec_t h = {*server, *caller, {0}, alias != NULL, (uint32_t)plen};
        if (alias)
            h.alias = *alias;
        otpc__piece_t pc[3] = {{&h, sizeof h}, {prefix, plen}, {body, blen}};
        return otpc__inbox_upper(n, p->home, pc, 3);
    }
    OTPC__ENTER(n); /* no connection yet, a stream, a large reply: every lock */
    return otpc__dsig_reply(n, server, caller, alias, prefix, plen, body, blen);
}

/* n->inbox_upper: a reply another domain queued, in the domain of its peer. */
static void inbox_reply(otpc_node_t *n, const char *d, size_t len)
{
    reply_rec_t h;
    if (len < sizeof h)
        return;
    memcpy(&h, d, sizeof h);
    const char *prefix = d + sizeof h, *body = prefix + h.plen;
    size_t blen = len - sizeof h - h.plen;
    int here = otpc__dsig_here(n, h.caller.node, h.plen + blen);
    if (!here) /* the connection went (or streams): every lock, as any send */
        otpc__enter(n);
    otpc__dsig_reply(n, &h.server, &h.caller, h.has_alias ? &h.alias : NULL, prefix, h.plen, body,
                     blen);
    if (!here)
        otpc__leave(n);
}

void otpc__dsig_install(otpc_node_t *n)
{
    n->inbox_upper = inbox_reply;
}

/* ---- the table core uses ----------------------------------------------------------- */

static int r_unlink_id(otpc_node_t *n, uint64_t id, const otpc_pid_t *from, const otpc_pid_t *to,
                       int ack)
{
    return otpc__dsig_unlink_id(n, id, from, to, ack);
}

const otpc__remote_t otpc__dsig_remote = {
    .send = otpc__dsig_send,
    .reg_send = otpc__dsig_reg_send,
    .link = otpc__dsig_link,
    .unlink_id = r_unlink_id,
    .exit = otpc__dsig_exit,
    .monitor = otpc__dsig_monitor,
    .monitor_exit = otpc__dsig_monitor_exit,
    .spawn_reply = otpc__dsig_spawn_reply,
};
