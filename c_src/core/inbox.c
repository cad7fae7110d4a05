/*
 * A domain's inbox: messages and monitor signals for its processes, and records an upper
 * layer applies there (a reply for a peer the domain reads), from threads that hold
 * another domain's lock (core/sched.c). Such a thread touches nothing of this domain's;
 * what it has for it goes here, and the domain applies it holding its own lock, in the
 * order it came. A producer holds its own lock while it queues, and whoever takes every
 * lock applies every inbox before anything else (otpc__inbox_drain_all): so a signal
 * that takes all never overtakes the messages queued before it, and a pair of processes
 * keeps its order as one mailbox would.
 */
#include <string.h>

#include "core/node_int.h"

enum { IN_MSG = 1, IN_MON, IN_DEMON, IN_UPPER };

typedef struct {
    otpc_pid_t to, from;
} in_msg_t;

typedef struct {
    otpc_pid_t to;
    otpc__mon_t m; /* the watcher (m.pid), the reference, the name it was asked by */
} in_mon_t;

int otpc__inbox_init(otpc_node_t *n)
{
    for (unsigned i = 0; i < n->nscheds; i++) {
        otpc__sched_t *o = &n->scheds[i];
        if (otpc__mq_init(&o->inbox, o->wake))
            return OTPC_ENOMEM;
        o->inbox_ready = 1;
    }
    return 0;
}

void otpc__inbox_free(otpc_node_t *n)
{
    for (unsigned i = 0; n->scheds && i < n->nscheds; i++)
        if (n->scheds[i].inbox_ready) {
            otpc__mq_destroy(&n->scheds[i].inbox);
            n->scheds[i].inbox_ready = 0;
        }
}

static int queue(otpc_node_t *n, unsigned dom, uint32_t type, const otpc__piece_t *p, int np)
{
    otpc__sched_t *o = &n->scheds[dom];
    OTPC__ASSERT(o->inbox_ready && !otpc__dom_held(n, dom));
    otpc__mq_lock(&o->inbox);
    int rc = otpc__mq_addv_locked(&o->inbox, type, NULL, 0, p, np);
    if (rc == 0)
        atomic_store(&o->inbox_pending, 1);
    otpc__mq_unlock(&o->inbox); /* wakes the domain's scheduler if it was empty */
    return rc;
}

int otpc__inbox_send(otpc_node_t *n, unsigned dom, const otpc_pid_t *to, const otpc_pid_t *from,
                     const char *msg, size_t len)
{
    in_msg_t h = {*to, {0, 0, 0, 0}};
    if (from)
        h.from = *from;
    otpc__piece_t p[2] = {{&h, sizeof h}, {msg, len}};
    return queue(n, dom, IN_MSG, p, 2);
}

int otpc__inbox_monitor(otpc_node_t *n, unsigned dom, const otpc_pid_t *to, const otpc__mon_t *m,
                        int demonitor)
{
    in_mon_t h = {*to, *m};
    otpc__piece_t p[1] = {{&h, sizeof h}};
    return queue(n, dom, demonitor ? IN_DEMON : IN_MON, p, 1);
}

int otpc__inbox_upper(otpc_node_t *n, unsigned dom, const otpc__piece_t *pieces, int npieces)
{
    return queue(n, dom, IN_UPPER, pieces, npieces);
}

static void apply(otpc_node_t *n, const otpc__rec_t *r, const char *d)
{
    if (r->type == IN_UPPER) {
        if (n->inbox_upper)
            n->inbox_upper(n, d, r->len);
        return;
    }
    if (r->type == IN_MSG) {
        in_msg_t h;
        memcpy(&h, d, sizeof h);
        otpc__send_local(n, &h.from, &h.to, d + sizeof h, r->len - sizeof h);
        return;
    }
    in_mon_t h;
    memcpy(&h, d, sizeof h);
    otpc__monitor_in(n, &h.to, &h.m, r->type == IN_DEMON);
}

void otpc__inbox_drain(otpc_node_t *n, otpc__sched_t *o)
{
    OTPC__ASSERT_DOM(n, o->id);
    /* a record that takes all drains again: what came meanwhile waits for the next */
    if (!o->inbox_ready || o->draining || !atomic_exchange(&o->inbox_pending, 0))
        return;
    const otpc__rec_t *r;
    const char *d;
    o->draining = 1;
    otpc__mq_take(&o->inbox);
    while ((r = otpc__mq_next(&o->inbox, &d)) != NULL)
        apply(n, r, d);
    o->draining = 0;
}

void otpc__inbox_drain_all(otpc_node_t *n)
{
    for (unsigned i = 0; i < n->nscheds; i++)
        if (atomic_load_explicit(&n->scheds[i].inbox_pending, memory_order_relaxed))
            otpc__inbox_drain(n, &n->scheds[i]);
}
