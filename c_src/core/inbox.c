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
#include "util/log.h"

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

/* A record waiting in this thread's outbox: then `len` bytes, padded to 8. */
typedef struct {
    uint32_t dom, type, len, pad;
} out_hdr_t;

#define PAD8(x) (((x) + 7u) & ~(size_t)7u)

/* Records are gathered in the thread's outbox and go to the inboxes when the process
 * (or the event, or the step of the loop) that made them is done, or before the
 * thread takes every lock: a reply is not read by its peer's domain before the server
 * that sent it has, say, exited (the caller would then see the server alive after its
 * reply), and the inboxes get one lock per batch. */
static int queue(otpc_node_t *n, unsigned dom, uint32_t type, const otpc__piece_t *p, int np)
{
    OTPC__ASSERT(n->scheds[dom].inbox_ready && !otpc__dom_held(n, dom));
    otpc__buf_t *ob = &otpc__sched_self(n)->outbox;
    size_t len = 0;
    for (int i = 0; i < np; i++)
        len += p[i].size;
    if (len > UINT32_MAX || otpc__buf_reserve(ob, sizeof(out_hdr_t) + PAD8(len)))
        return OTPC_ENOMEM;
    out_hdr_t h = {dom, type, (uint32_t)len, 0};
    char *w = ob->data + ob->len;
    memcpy(w, &h, sizeof h);
    w += sizeof h;
    for (int i = 0; i < np; i++) {
        if (p[i].size)
            memcpy(w, p[i].data, p[i].size);
        w += p[i].size;
    }
    ob->len += sizeof h + PAD8(len);
    return 0;
}

static void apply(otpc_node_t *n, uint32_t type, const char *d, uint32_t len)
{
    if (type == IN_UPPER) {
        if (n->inbox_upper)
            n->inbox_upper(n, d, len);
        return;
    }
    if (type == IN_MSG) {
        in_msg_t h;
        memcpy(&h, d, sizeof h);
        otpc__send_local(n, &h.from, &h.to, d + sizeof h, len - sizeof h);
        return;
    }
    in_mon_t h;
    memcpy(&h, d, sizeof h);
    otpc__monitor_in(n, &h.to, &h.m, type == IN_DEMON);
}

void otpc__inbox_flush(otpc_node_t *n)
{
    if (!n->scheds)
        return;
    otpc__buf_t *ob = &otpc__sched_self(n)->outbox;
    size_t at = 0;
    if (ob->len && otpc__all_held(n)) {
        /* holding every lock: applied here, before what the holder does next (pushed
         * first, another domain could act on them before the locks are had) */
        while (at < ob->len) {
            out_hdr_t h;
            memcpy(&h, ob->data + at, sizeof h);
            apply(n, h.type, ob->data + at + sizeof h, h.len);
            at += sizeof h + PAD8(h.len);
        }
        ob->len = 0;
        return;
    }
    while (at < ob->len) {
        out_hdr_t h;
        memcpy(&h, ob->data + at, sizeof h);
        otpc__sched_t *o = &n->scheds[h.dom];
        otpc__mq_lock(&o->inbox);
        /* this record and the ones after it for the same domain, under one lock */
        do {
            otpc__piece_t pc = {ob->data + at + sizeof h, h.len};
            if (otpc__mq_addv_locked(&o->inbox, h.type, NULL, 0, &pc, 1))
                OTPC__LOG_ERROR("core", "out of memory queueing for scheduler %u", h.dom);
            at += sizeof h + PAD8(h.len);
            if (at < ob->len)
                memcpy(&h, ob->data + at, sizeof h);
        } while (at < ob->len && &n->scheds[h.dom] == o);
        atomic_store(&o->inbox_pending, 1);
        otpc__mq_unlock(&o->inbox); /* wakes the domain's scheduler if it was empty */
    }
    ob->len = 0;
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
        apply(n, r->type, d, r->len);
    o->draining = 0;
}

void otpc__inbox_drain_all(otpc_node_t *n)
{
    for (unsigned i = 0; i < n->nscheds; i++)
        if (atomic_load_explicit(&n->scheds[i].inbox_pending, memory_order_relaxed))
            otpc__inbox_drain(n, &n->scheds[i]);
}
