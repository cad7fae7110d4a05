/*
 * A peer's reader: packets from the socket to the control decoder and the mailboxes,
 * on the loop of the scheduler the peer is homed on.
 *
 * Each packet is unwrapped (distribution header, atom cache, fragments: proto/frag.h),
 * decoded (proto/ctrl.h) and applied holding the peer's domain's lock when that is
 * enough (a message, a monitor: otpc__handle_ctrl_dom); any other packet (a link, an
 * exit, a spawn request) is held: reading stops, the packets after it stay in the
 * endpoint's framer in order, and a thread holding every lock applies it and replays
 * the rest (otpc__peer_on_later). After a read, replies go out and the peer either
 * waits for the socket again or, when reads lately brought many messages, naps on a
 * timerfd for 100-400 us and takes what gathered in one read.
 *
 * Invariants: packets of one peer are applied in the order they came, held or not; a
 * malformed packet ends that connection only, with a reason the other node sees
 * (`why`); closing is done holding every lock; the nap's timerfd is watched for good
 * (an unarmed timerfd is never readable) and closed with the peer's reading.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "distribution/dist_int.h"
#include "distribution/dstats.h"
#include "proto/ctrl.h"
#include "proto/frag.h"
#include "util/log.h"

#define COALESCE_US 100     /* the nap between reads while messages come in bunches */
#define COALESCE_MAX_US 400 /* ... at most, with many callers */
#define NAP_US_PER_MSG 6    /* per message a read brings lately */
#define NAP_MIN_MSGS 8

static void free_nap(uv_handle_t *h)
{
    otpc__nap_t *nap = (otpc__nap_t *)h;
    close(nap->tfd);
    free(nap);
}

/* Stop reading; closing the poll takes the fd out of this loop's epoll at once. */
void otpc__peer_stop_reading(otpc__peer_t *p)
{
    if (p->nap) {
        uv_close((uv_handle_t *)&p->nap->poll, free_nap);
        p->nap = NULL;
    }
    p->reading = 0;
    otpc__ep_stop(p->ep);
}

/* The stream can no longer be trusted (or is gone): stop reading it at once, and have
 * the I/O thread close the connection with `why`. */
static void give_up(otpc_node_t *n, otpc__peer_t *p, const char *why)
{
    otpc__peer_stop_reading(p);
    otpc__peer_close(n, p, why);
}

void otpc__peers_stop_reading(otpc_node_t *n)
{
    otpc__dist_t *D = otpc__dist(n);
    for (uint32_t i = 0; i < D->peers_cap; i++)
        if (D->peers[i])
            otpc__peer_stop_reading(D->peers[i]);
}

/* With headers agreed: the packet's distribution header (proto/frag.h). A whole message
 * without atom cache references is rewritten in place into the pass-through form (the
 * packet lies in the endpoint's framer buffer, ours to write during the call: peers
 * read into it); one with references is written out by the table; a fragment joins its
 * sequence. 1 with *msg, *mlen set when a whole message is there, 0 when the fragment
 * was kept, -1 with *why when the packet is malformed. */
static int unwrap(otpc__peer_t *p, char *data, size_t len, const char **msg, size_t *mlen,
                  const char **why)
{
    otpc__dhdr_t h;
    if (otpc__dhdr_parse(data, len, p->dh, &h, why))
        return -1;
    if (h.kind == OTPC__DHDR_NORMAL && !h.nrefs) {
        *msg = data;
        return otpc__dhdr_to_pass(data, len, mlen, why) ? -1 : 1;
    }
    if (!p->frags_in) {
        if (!(p->frags_in = malloc(sizeof *p->frags_in))) {
            *why = "out of memory reassembling a message";
            return -1;
        }
        otpc__frag_init(p->frags_in, p->n->opts.max_message);
    }
    int rc = h.kind == OTPC__DHDR_NORMAL
                 ? otpc__frag_whole(p->frags_in, &h, data, len, msg, mlen, why)
                 : otpc__frag_add(p->frags_in, &h, data, len, msg, mlen, why);
    if (rc == OTPC_ENOMEM)
        *why = "out of memory reassembling a message";
    return rc < 0 ? -1 : rc;
}

static int hold(otpc__peer_t *p, const char *data, size_t len);
static void after_read(otpc__peer_t *p);

static void count_message(otpc__peer_t *p, const otpc__ctrl_t *c)
{
    /* ctrl.c folds SEND_SENDER and the _TT forms into these */
    if (c->op == OTPC__DOP_SEND || c->op == OTPC__DOP_REG_SEND || c->op == OTPC__DOP_ALIAS_SEND)
        p->msgs++; /* a message: what a call or a cast is */
}

/* One packet (the endpoint's frame callback): decoded and applied (holding the peer's
 * domain's lock when it can, see hold), or 1 to stop, the stream being untrustworthy.
 * Ticks (empty packets) only prove the peer alive. */
int otpc__peer_on_packet(void *ctx, const char *data, size_t len)
{
    otpc__peer_t *p = ctx;
    otpc_node_t *n = p->n;
    otpc__ctrl_t c;
    const char *why = NULL;
    if (!len)
        return 0;
    if (p->headers) {
        int rc = unwrap(p, (char *)data, len, &data, &len, &why);
        if (rc == 0)
            return 0;
        if (rc < 0) {
            snprintf(p->why, sizeof p->why, "malformed packet from %s: %s",
                     otpc__atom_name(&n->atoms, p->node), why);
            OTPC__LOG_WARN("dist", "%s", p->why);
            return 1;
        }
    }
    if (otpc__ctrl_decode(data, len, &c, &why) != 0) {
        snprintf(p->why, sizeof p->why, "malformed packet from %s: %s",
                 otpc__atom_name(&n->atoms, p->node), why);
        OTPC__LOG_WARN("dist", "%s", p->why);
        return 1;
    }
    otpc__dstats_count(n, p->node, c.raw_op, 0);
    /* a message reassembled from fragments: its buffer may become the mailbox item */
    otpc__buf_t *done = p->frags_in ? &p->frags_in->done : NULL;
    int offered = done && done->data && data >= done->data && data < done->data + done->len;
    if (offered)
        otpc__msg_offer(n, done->data, done->mapped, done->data, done->len);
    int applied = 1;
    if (otpc__all_held(n))
        otpc__handle_ctrl(n, p->node, &c);
    else
        applied = otpc__handle_ctrl_dom(n, &c);
    if (offered && otpc__msg_offer_end(n))
        otpc__frag_done_taken(p->frags_in);
    if (!applied)
        return hold(p, data, len);
    count_message(p, &c);
    return 0;
}

/* A packet its domain's lock cannot apply or queue (a link, an exit, a spawn request):
 * kept, reading stopped (the packets read after it stay in the framer, in order), and
 * all of it applied holding every lock (on_later). */
static int hold(otpc__peer_t *p, const char *data, size_t len)
{
    p->held.len = 0;
    if (otpc__buf_append(&p->held, data, len)) {
        snprintf(p->why, sizeof p->why, "out of memory holding a packet");
        return 1;
    }
    p->holding = 1;
    otpc__ep_set_reading(p->ep, 0);
    otpc__defer(p->n, &p->later);
    return 1;
}

/* Holding every lock: the held packet, then those read after it, then what a read
 * ends with (a close, a nap); the waiters and streams pump left. */
void otpc__peer_on_later(otpc__defer_t *d)
{
    otpc__peer_t *p = (otpc__peer_t *)((char *)d - offsetof(otpc__peer_t, later));
    otpc_node_t *n = p->n;
    if (p->holding) {
        p->holding = 0;
        otpc__ctrl_t c;
        const char *why = NULL;
        if (otpc__ctrl_decode(p->held.data, p->held.len, &c, &why) == 0) { /* it did before */
            otpc__handle_ctrl(n, p->node, &c);
            count_message(p, &c);
        }
        if (p->reading && !p->why[0]) {
            otpc__ep_set_reading(p->ep, 1);
            otpc__ep_replay(p->ep);
        }
    }
    if (p->later_pump) {
        p->later_pump = 0;
        otpc__peer_check_waiters(n, p);
    }
    after_read(p);
}

/* Reading ended by itself: the connection must close, for this reason. */
void otpc__peer_on_ended(void *ctx, otpc__ep_end_t kind, const char *why, uint64_t size)
{
    otpc__peer_t *p = ctx;
    otpc_node_t *n = p->n;
    if (kind == OTPC__EP_TOOBIG) {
        snprintf(p->why, sizeof p->why, "packet of %llu bytes exceeds max_message (%zu)",
                 (unsigned long long)size, n->opts.max_message);
        OTPC__LOG_WARN("dist", "%s from %s", p->why, otpc__atom_name(&n->atoms, p->node));
    } else {
        snprintf(p->why, sizeof p->why, "%s", why);
    }
}

/* How long to nap, from the messages a read brought lately (a moving average): with
 * callers in a closed loop that is about how many are waiting, and each takes long to
 * come back, so a longer nap gathers more without making any of them wait for nothing.
 * Below NAP_MIN_MSGS no nap (0): a handful of callers loses more to the nap's wait
 * than it saves in wake-ups (and the scheduler's busy wait catches them instead). */
static long nap_ns(const otpc__peer_t *p)
{
    long avg = p->got_avg16 / 16;
    if (avg < NAP_MIN_MSGS)
        return 0;
    long us = avg * NAP_US_PER_MSG;
    us = us < COALESCE_US ? COALESCE_US : us > COALESCE_MAX_US ? COALESCE_MAX_US : us;
    return us * 1000;
}

static void on_nap_end(uv_poll_t *h, int status, int events);

/* Watch the timer instead of the socket for a while (nap_ns). */
static int nap(otpc__peer_t *p)
{
    long ns = nap_ns(p);
    if (!ns)
        return -1;
    if (!p->nap) {
        otpc__nap_t *z = malloc(sizeof *z);
        if (!z)
            return -1;
        z->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (z->tfd < 0 || uv_poll_init(otpc__ep_loop(p->ep), &z->poll, z->tfd)) {
            if (z->tfd >= 0)
                close(z->tfd);
            free(z);
            return -1;
        }
        z->poll.data = p;
        p->nap = z;
        /* Watched for good: an unarmed timerfd is never readable. */
        uv_poll_start(&z->poll, UV_READABLE, on_nap_end);
    }
    struct itimerspec its = {{0, 0}, {0, ns}};
    if (timerfd_settime(p->nap->tfd, 0, &its, NULL))
        return -1;
    if (!p->napping)
        otpc__ep_pause(p->ep, 1);
    p->napping = 1;
    return 0;
}

/* After a read: replies out, then either close, nap, or wait for the socket again.
 *
 * Many messages per read lately (NAP_MIN_MSGS) mean many callers at once. Then,
 * instead of sleeping in epoll and waking for every packet (on a VM a wake-up costs
 * more than a call), the peer naps 100-400 us and takes what gathered in one read, for
 * as long as the naps keep finding more than one message; the loop serves everything
 * else meanwhile. A handful of callers never naps: their next requests come sooner
 * than any nap ends, and the scheduler's busy wait catches them. */
static void after_read(otpc__peer_t *p)
{
    otpc_node_t *n = p->n;
    int got = p->msgs;
    p->msgs = 0;
    if (got)
        p->got_avg16 += (got * 16 - p->got_avg16) / 8;
    otpc__turn(n);
    if (p->conn)
        otpc__conn_touch(p->conn);
    if (p->why[0]) {
        if (p->reading) {
            if (!otpc__all_held(n)) { /* closing is every lock's business */
                otpc__defer(n, &p->later);
                return;
            }
            give_up(n, p, p->why);
            otpc__turn(n);
        }
        return;
    }
    if (!p->reading)
        return;
    if (got >= 2 && !n->stopping && nap(p) == 0)
        return;
    if (p->napping) {
        p->napping = 0;
        otpc__ep_pause(p->ep, 0);
    }
}

static void on_nap_end(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    otpc__peer_t *p = h->data;
    uint64_t expirations;
    if (read(p->nap->tfd, &expirations, sizeof expirations) < 0)
        return; /* not armed: nothing to do */
    otpc__ep_read(p->ep);
    after_read(p);
}

void otpc__peer_after_io(void *ctx)
{
    after_read(ctx);
}

void otpc__peer_start_reading(otpc_node_t *n, otpc__peer_t *p, const char *rest, size_t rlen)
{
    otpc__xport_t *x = otpc__conn_xport(p->conn);
    if (!x || otpc__ep_attach(p->ep, x, 0)) {
        otpc__peer_close(n, p, "cannot read the socket");
        return;
    }
    p->reading = 1;
    otpc__ep_inject(p->ep, rest, rlen); /* what came with the last handshake message */
    if (p->why[0])
        give_up(n, p, p->why);
}
