/*
 * Peers: the scheduler's view of other nodes, and every packet it sends them.
 *
 * A peer exists from the first send to (or OTPC__EV_UP from) a node until its connection is
 * gone. While the connection is being set up, frames wait in the peer's buffer. Frames
 * are encoded so that they are valid whatever the peer announces (SEND, not SEND_SENDER;
 * EXIT, not PAYLOAD_EXIT), which is what lets them be queued before the handshake.
 *
 * A peer is a transport endpoint (transport/endpoint.h) whose output goes to its
 * connection's writer (the sink: otpc__conn_append, shared with the I/O thread) instead
 * of straight to the socket. Frames accumulate in the endpoint's buffer during a
 * scheduler turn and are handed over once per turn (the transport's turn hook): one
 * write() carries every reply produced in that turn.
 *
 * Once a connection is up, the endpoint polls its socket on the scheduler's own loop:
 * packets go from read() to the control decoder and the mailboxes with no thread hop
 * (distribution/peer_read.c, the reader). The I/O thread keeps the handshake, ticks, write pushback and closing; a peer stops
 * polling before it tells the I/O thread (OTPC__CMD_RELEASE) that the fd may be closed,
 * so a closed and reused fd number never reaches this loop.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "distribution/dist_int.h"
#include "distribution/dsig.h"
#include "distribution/dstats.h"
#include "distribution/ostream.h"
#include "proto/atomcache.h"
#include "proto/flags.h"
#include "proto/frag.h"
#include "proto/term.h"
#include "util/log.h"

#define PASS_THROUGH 'p'
#define READ_BUDGET (4 * 1024 * 1024) /* per wake-up and peer, then others get a turn */
/* A peer keeps its read buffer up to this size between reads: a few connections, and
 * traffic of large messages would otherwise allocate it afresh for every read. */
#define PEER_KEEP (1024 * 1024)
static int grow_peers(otpc_node_t *n, uint32_t atom)
{
    otpc__dist_t *D = otpc__dist(n);
    if (atom < D->peers_cap)
        return 0;
    uint32_t cap = D->peers_cap ? D->peers_cap : 64;
    while (cap <= atom)
        cap *= 2;
    otpc__peer_t **p = realloc(D->peers, cap * sizeof *p);
    if (!p)
        return OTPC_ENOMEM;
    memset(p + D->peers_cap, 0, (cap - D->peers_cap) * sizeof *p);
    D->peers = p;
    D->peers_cap = cap;
    return 0;
}

static const otpc__ep_ops_t peer_ops;

/* Frames wait in the endpoint until the connection is up. */
static void mark_dirty(otpc__peer_t *p)
{
    if (p->conn)
        otpc__ep_dirty(p->ep);
}

static otpc__peer_t *peer_new(otpc_node_t *n, uint32_t atom)
{
    otpc__peer_t *p = grow_peers(n, atom) ? NULL : calloc(1, sizeof *p);
    if (!p)
        return NULL;
    otpc__ep_conf_t conf = {
        .max_frame = n->opts.max_message,
        .frame_keep = PEER_KEEP,
        .read_into = 1,
        .read_budget = READ_BUDGET,
    };
    /* on one of the schedulers 1.. (with one scheduler, 0): read holding its lock */
    unsigned home = otpc__sched_pick(n)->id;
    if (!(p->ep = otpc__ep_new(otpc__eps_at(n, home), &peer_ops, p, &conf))) {
        free(p);
        return NULL;
    }
    p->n = n;
    p->node = atom;
    p->home = home;
    p->later.fn = otpc__peer_on_later;
    otpc__dstats_prepare(n, atom); /* counted holding the domain's lock from here */
    otpc__dist(n)->peers[atom] = p;
    return p;
}

otpc__peer_t *otpc__peer_get(otpc_node_t *n, uint32_t atom, int connect)
{
    otpc__dist_t *D = otpc__dist(n);
    if (atom < D->peers_cap && D->peers[atom])
        return D->peers[atom];
    otpc__peer_t *p = connect && !n->stopping ? peer_new(n, atom) : NULL;
    if (!p)
        return NULL;
    const char *name = otpc__atom_name(&n->atoms, atom);
    otpc__io_command(D->io, OTPC__CMD_CONNECT, NULL, name, (uint32_t)strlen(name));
    return p;
}

/* ---- busy peers (erl's dist_buf_busy_limit) ------------------------------------------
 *
 * A process that sends to a peer whose unwritten output (this turn's frames, frames
 * waiting for the connection to come up, and what the I/O thread holds because the
 * socket pushed back) has reached busy_limit finishes its callback, then is parked: it
 * is not run again until that output falls below the limit, or the peer goes away (its
 * frames are then dropped, as Erlang drops messages to a node that went down). So a
 * peer that stops reading costs at most about busy_limit plus one callback's burst. */

size_t otpc__peer_backlog(const otpc__peer_t *p)
{
    return otpc__ep_backlog(p->ep) + (p->conn ? otpc__conn_queued(p->conn) : 0);
}

static size_t backlog(const otpc__peer_t *p)
{
    return otpc__peer_backlog(p);
}

static void park(otpc_node_t *n, otpc__peer_t *p)
{
    otpc_proc_t *cur = otpc__current(n);
    if (!cur || cur->parked || cur->exiting)
        return;
    if (otpc__vec_push(&p->waiters, &cur->pid, sizeof cur->pid))
        return; /* out of memory: it keeps running rather than wait for nothing */
    OTPC__ASSERT(p->node != 0);
    cur->parked = p->node;
}

static void wake_waiters(otpc_node_t *n, otpc__peer_t *p)
{
    const otpc_pid_t *w = p->waiters.items;
    uint32_t len = p->waiters.len;
    p->waiters.len = 0;
    for (uint32_t i = 0; i < len; i++)
        otpc__proc_unpark(n, &w[i], p->node);
}

/* After output moved on: move the streams on (ostream.h), wake the waiters if p is no
 * longer busy, and make sure that what still waits for the connection is looked at
 * again: when the I/O thread reports the level reached (OTPC__EV_DRAINED: busy_limit for
 * waiters, half of it for streams), after the next turn if it already is or when
 * streams put frames in the output, or at OTPC__EV_UP when there is no connection yet.
 * Returns 1 when p must be flushed and looked at again after the next turn (a turn is
 * then on its way: the idle handle). */
static int pump(otpc_node_t *n, otpc__peer_t *p)
{
    size_t busy = n->opts.busy_limit;
    int again = 0;
    if ((p->nstreams || p->waiters.len) && !otpc__all_held(n)) {
        /* waiters of any domain, the idle handle on scheduler 0's loop: every lock */
        p->later_pump = 1;
        otpc__defer(n, &p->later);
        return 0;
    }
    if (p->nstreams && p->conn) {
        otpc__os_emit(n, p);
        again = otpc__ep_out(p->ep)->len > 0;
    }
    if (p->waiters.len && backlog(p) < busy)
        wake_waiters(n, p);
    int streams_wait = p->nstreams && !again;
    if (p->conn && (p->waiters.len || streams_wait) &&
        otpc__conn_want_drain(p->conn, streams_wait ? busy / 2 : busy)) {
        /* already below: waiters run, streams move on after the next turn */
        if (p->waiters.len)
            wake_waiters(n, p);
        again |= streams_wait;
    }
    if (again)
        otpc__peer_emit_soon(n);
    return again;
}

void otpc__peer_check_waiters(otpc_node_t *n, otpc__peer_t *p)
{
    if (pump(n, p))
        mark_dirty(p);
}

void otpc__peer_drained(otpc_node_t *n, otpc__conn_t *conn)
{
    otpc__peer_t *p = otpc__peer_of_conn(n, conn);
    if (p)
        otpc__peer_check_waiters(n, p);
}

static void on_emit_idle(uv_idle_t *h)
{
    otpc_node_t *n = h->data;
    uv_idle_stop(h);
    otpc__turn(n); /* the flush moves the streams on (flushed) */
}

void otpc__peer_emit_soon(otpc_node_t *n)
{
    otpc__dist_t *D = otpc__dist(n);
    if (n->stopping)
        return;
    if (!D->emit_idle_init) {
        if (uv_idle_init(&n->loop, &D->emit_idle))
            return;
        D->emit_idle.data = n;
        D->emit_idle_init = 1;
    }
    uv_idle_start(&D->emit_idle, on_emit_idle);
}

static void peer_remove(otpc_node_t *n, otpc__peer_t *p)
{
    otpc__dist_t *D = otpc__dist(n);
    wake_waiters(n, p);
    free(p->waiters.items);
    otpc__os_free(n, p);
    if (p->frags_in) {
        otpc__frag_free(p->frags_in); /* partial messages go with the connection */
        free(p->frags_in);
    }
    free(p->acout);
    otpc__defer_cancel(n, &p->later);
    otpc__buf_free(&p->held);
    otpc__buf_free(&p->acterms);
    otpc__buf_free(&p->acpay);
    otpc__peer_stop_reading(p);
    otpc__ep_free(p->ep); /* the fd is the I/O thread's: it stays open */
    D->peers[p->node] = NULL;
    if (p->conn)
        otpc__conn_unref(p->conn);
    free(p);
}

/* The message's pieces as they follow the header: with headers agreed the terms lose
 * their version bytes (proto/frag.h), else they keep them after 'p'. */
static size_t pieces(const otpc__peer_t *p, const ei_x_buff *ctl, const char *payload, size_t plen,
                     const char *tail, size_t tlen, otpc__osrc_t *src)
{
    int strip = p->headers;
    src->seg[0] = ctl->buff + strip;
    src->len[0] = (size_t)ctl->index - (size_t)strip;
    src->seg[1] = payload + (plen ? strip : 0);
    src->len[1] = plen ? plen - (size_t)strip : 0;
    src->seg[2] = tail;
    src->len[2] = tlen;
    return src->len[0] + src->len[1] + src->len[2];
}

/* One term of a frame copied into t with the atoms the cache takes as references. */
static int cache_term(otpc__acout_t *c, const char *term, size_t len, otpc__buf_t *t)
{
    size_t used;
    if (otpc__term_copy(term, len, 0, otpc__acout_compress, c, t, SIZE_MAX, &used) || used != len)
        return -1;
    return 0;
}

/* With the atom cache agreed, a frame going straight to the output (so the peer reads
 * its header in the order the cache was updated in): its terms with references to the
 * cache, behind a header that carries them (proto/atomcache.h). 0 when it is in `out`;
 * -1 when not (out of memory, or a term the walker refuses), the cache as it was. */
static int put_cached(otpc__peer_t *p, const otpc__osrc_t *src, otpc__buf_t *out)
{
    otpc__acout_t *c = p->acout;
    otpc__buf_t *t = &p->acterms;
    const char *pay = src->seg[1];
    size_t plen = src->len[1] + src->len[2];
    if (src->len[2]) { /* the payload in two pieces: joined first */
        p->acpay.len = 0;
        if (otpc__buf_append(&p->acpay, src->seg[1], src->len[1]) ||
            otpc__buf_append(&p->acpay, src->seg[2], src->len[2]))
            return -1;
        pay = p->acpay.data;
    }
    t->len = 0;
    otpc__acout_begin(c);
    if (cache_term(c, src->seg[0], src->len[0], t) || (plen && cache_term(c, pay, plen, t)))
        goto fail;
    size_t hl = 2 + otpc__acout_hdr_len(c), len = hl + t->len;
    if (otpc__buf_reserve(out, 4 + len))
        goto fail;
    char *w = out->data + out->len;
    otpc__put_u32(w, (uint32_t)len);
    w[4] = (char)ERL_VERSION_MAGIC;
    w[5] = OTPC__DHDR_NORMAL;
    otpc__acout_hdr_put(c, w + 6);
    memcpy(w + 4 + hl, t->data, t->len);
    out->len += 4 + len;
    return 0;
fail:
    otpc__acout_abort(c);
    return -1;
}

int otpc__peer_send(otpc_node_t *n, uint32_t node, const otpc_pid_t *from, const ei_x_buff *ctl,
                    const char *payload, size_t plen, const char *tail, size_t tlen)
{
    OTPC__ASSERT_SCHED(n);
    if (node == n->self_atom)
        return OTPC_EINVAL;
    otpc__peer_t *p = otpc__peer_get(n, node, 1);
    if (!p)
        return n->stopping ? 0 : OTPC_ENOMEM;
    otpc__osrc_t src;
    size_t body = pieces(p, ctl, payload, plen, tail, tlen, &src);
    char hdr[OTPC__DHDR_NORMAL_LEN] = {PASS_THROUGH};
    size_t hlen = p->headers ? otpc__dhdr_put_normal(hdr) : 1;
    size_t len = hlen + body;
    if (len > UINT32_MAX)
        return OTPC_ETOOBIG;
    /* behind the sender's large message, or a large message itself (ostream.h) */
    if (p->fragments && (len > OTPC__FRAG_SIZE || otpc__os_find(p, from))) {
        int rc = otpc__os_queue(n, p, from, &src, src.len[0], len > OTPC__FRAG_SIZE);
        if (rc == 0)
            otpc__peer_check_waiters(n, p);
        return rc;
    }
    otpc__buf_t *out = otpc__ep_out(p->ep);
    if (!p->acout || len > OTPC__FRAG_SIZE || put_cached(p, &src, out)) {
        if (otpc__buf_reserve(out, 4 + len))
            return OTPC_ENOMEM;
        char len4[4];
        otpc__put_u32(len4, (uint32_t)len);
        otpc__buf_append(out, len4, 4);
        otpc__buf_append(out, hdr, hlen);
        for (int i = 0; i < 3; i++)
            otpc__buf_append(out, src.seg[i], src.len[i]);
    }
    mark_dirty(p);
    if (backlog(p) >= n->opts.busy_limit)
        park(n, p);
    return 0;
}

/* The endpoint's sink: this turn's frames to the connection's writer. */
static void sink(void *ctx, otpc__buf_t *out)
{
    otpc__peer_t *p = ctx;
    if (!p->conn)
        return; /* not up yet: they wait */
    if (otpc__conn_append(p->conn, out)) {
        otpc__conn_ref(p->conn); /* the command's reference */
        otpc__io_command(otpc__dist(p->n)->io, OTPC__CMD_WRITE, p->conn, NULL, 0);
    }
}

static int flushed(void *ctx)
{
    otpc__peer_t *p = ctx;
    return pump(p->n, p); /* nonzero: flushed again after the next turn */
}

static const otpc__ep_ops_t peer_ops = {
    .frame = otpc__peer_on_packet,
    .ended = otpc__peer_on_ended,
    .after_io = otpc__peer_after_io,
    .flushed = flushed,
    .sink = sink,
};

static void release(otpc_node_t *n, otpc__conn_t *conn);

/* Frames queued before the handshake are in the pass-through form (valid whatever the
 * peer announces); with headers agreed each gets the normal distribution header
 * (without atom cache references) instead. They stay whole: the senders they came from are not known any more, and
 * cutting them now could let a later frame of one of them overtake. */
static int to_header_form(otpc__buf_t *out)
{
    otpc__buf_t conv = {0};
    size_t r = 0;
    while (out->len - r >= 4) {
        size_t flen = otpc__get_u32(out->data + r);
        if (otpc__buf_reserve(&conv, 4 + flen + 1)) {
            otpc__buf_free(&conv);
            return OTPC_ENOMEM;
        }
        char *w = conv.data + conv.len;
        size_t wlen = otpc__dhdr_from_pass(out->data + r + 4, flen, w + 4);
        if (!wlen) { /* not ours to convert (cannot happen): kept as it is */
            memcpy(w + 4, out->data + r + 4, flen);
            wlen = flen;
        }
        otpc__put_u32(w, (uint32_t)wlen);
        conv.len += 4 + wlen;
        r += 4 + flen;
    }
    otpc__buf_swap(out, &conv);
    otpc__buf_free(&conv);
    return 0;
}

/* What the connection's flags agreed: distribution headers, fragments, the atom cache
 * (a fresh one each way: the peer's starts empty too). Without memory for the cache out
 * the node sends headers without references, which is always valid. */
static void agree(otpc__peer_t *p, uint64_t flags)
{
    uint64_t both = flags & OTPC__DF_OURS;
    if (p->n->opts.no_atom_cache)
        both &= ~OTPC__DF_DIST_HDR_ATOM_CACHE;
    p->fragments = (both & OTPC__DF_FRAGMENTS) != 0;
    p->dh = (p->fragments ? OTPC__DH_FRAGMENTS : 0) |
            (both & OTPC__DF_DIST_HDR_ATOM_CACHE ? OTPC__DH_CACHE : 0);
    p->headers = p->dh != 0;
    free(p->acout);
    p->acout = p->dh & OTPC__DH_CACHE ? calloc(1, sizeof *p->acout) : NULL;
}

void otpc__peer_up(otpc_node_t *n, otpc__conn_t *conn, uint64_t flags, const char *data, size_t len)
{
    const char *name = otpc__conn_peer(conn);
    uint32_t atom = otpc__atom(&n->atoms, name, strlen(name));
    otpc__peer_t *p = atom ? otpc__peer_get(n, atom, 0) : NULL;
    if (!p && atom)
        p = peer_new(n, atom);
    if (!p) {
        otpc__io_command(otpc__dist(n)->io, OTPC__CMD_CLOSE, conn, "out of memory", 13);
        return; /* the command took the OTPC__EV_UP reference */
    }
    if (p->conn) { /* cannot happen: the I/O thread reports the old one down first */
        otpc__peer_stop_reading(p);
        release(n, p->conn);
        otpc__conn_unref(p->conn);
        if (p->frags_in) { /* its atom cache was the old connection's */
            otpc__frag_free(p->frags_in);
            free(p->frags_in);
            p->frags_in = NULL;
        }
    }
    p->conn = conn;
    p->flags = flags;
    agree(p, flags);
    otpc__dsig_peer_up(flags, otpc__ep_out(p->ep));
    if (p->headers && to_header_form(otpc__ep_out(p->ep)))
        otpc__peer_close(n, p, "out of memory");
    mark_dirty(p);
    size_t name_len = strnlen(data, len);
    if (!n->stopping && name_len < len)
        otpc__peer_start_reading(n, p, data + name_len + 1, len - name_len - 1);
    otpc__node_up(n, atom);
}

otpc__peer_t *otpc__peer_of_conn(otpc_node_t *n, otpc__conn_t *conn)
{
    otpc__dist_t *D = otpc__dist(n);
    const char *name = otpc__conn_peer(conn);
    uint32_t atom = otpc__atom_find(&n->atoms, name, strlen(name));
    otpc__peer_t *p = atom && atom < D->peers_cap ? D->peers[atom] : NULL;
    return p && p->conn == conn ? p : NULL;
}

/* The I/O thread may close the fd now: nothing here polls it any more. */
static void release(otpc_node_t *n, otpc__conn_t *conn)
{
    if (n->stopping)
        return; /* the I/O thread closes everything at OTPC__CMD_STOP */
    otpc__conn_ref(conn);
    otpc__io_command(otpc__dist(n)->io, OTPC__CMD_RELEASE, conn, NULL, 0);
}

void otpc__peer_down(otpc_node_t *n, otpc__conn_t *conn, const char *reason)
{
    (void)reason;
    otpc__peer_t *p = otpc__peer_of_conn(n, conn);
    if (!p) {
        release(n, conn);
        otpc__conn_unref(conn);
        return;
    }
    otpc__peer_stop_reading(p);
    release(n, conn);
    uint32_t atom = p->node;
    peer_remove(n, p); /* drops the scheduler's reference */
    otpc__node_down(n, atom);
    otpc__node_lost(n, atom);
}

void otpc__peer_failed(otpc_node_t *n, const char *node, const char *reason)
{
    otpc__dist_t *D = otpc__dist(n);
    uint32_t atom = otpc__atom_find(&n->atoms, node, strlen(node));
    otpc__peer_t *p = atom && atom < D->peers_cap ? D->peers[atom] : NULL;
    if (!p || p->conn)
        return;
    OTPC__LOG_INFO("dist", "cannot reach %s: %s", node, reason);
    peer_remove(n, p);
    otpc__node_lost(n, atom);
}

void otpc__peer_close(otpc_node_t *n, otpc__peer_t *p, const char *reason)
{
    (void)n;
    if (!p->conn)
        return;
    otpc__conn_ref(p->conn);
    otpc__io_command(otpc__dist(n)->io, OTPC__CMD_CLOSE, p->conn, reason, (uint32_t)strlen(reason));
}

void otpc__peers_free(otpc_node_t *n)
{
    otpc__dist_t *D = otpc__dist(n);
    for (uint32_t i = 0; i < D->peers_cap; i++)
        if (D->peers[i])
            peer_remove(n, D->peers[i]);
    free(D->peers);
    D->peers = NULL;
    D->peers_cap = 0;
}
