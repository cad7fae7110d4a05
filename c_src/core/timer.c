/*
 * Timers: erlang:send_after/cancel_timer for C processes, and the timeouts gen_server
 * callbacks ask for. Each scheduler's domain keeps a binary min-heap of deadlines behind
 * one uv_timer_t on its own loop, so a thousand pending timers cost one libuv handle per
 * domain, and setting, cancelling and firing a timer takes that domain's lock only:
 * a gen_server returning a timeout with every reply stays off the shared path.
 *
 * Which heap a timer goes into: a process's own (a gen_server timeout, a send_after to
 * a local pid) is its home's; a send_after to another node's pid goes into domain 0's,
 * since sending there takes every lock anyway (core/sched.c). Firing from a domain:
 * a message for a process of the same domain is delivered in place, one for another
 * domain goes through that domain's inbox (core/inbox.c).
 *
 * Invariants:
 *  - A heap is touched holding its domain's lock (or all), as is its uv_timer_t.
 *  - A slot is either free (on the free list, gen bumped) or pending (in the heap at
 *    slots[s].pos). A reference is (gen << 40 | domain << 30 | slot): it names its heap,
 *    and a stale one never cancels a newer timer that reuses the slot.
 *  - Equal deadlines of one heap fire in the order they were set (seq breaks ties), so
 *    two send_after calls of one process with the same delay deliver in program order,
 *    as in ERTS.
 *  - A send timer owns its message from set to fire or cancel; firing to a process of
 *    the same domain hands the mailbox item over without copying it.
 *  - A timer never fires early, as ERTS's never do: deadlines are the precise clock
 *    rounded up to the millisecond and compared with it rounded down (libuv's loop
 *    time is truncated, and may be the coarse clock, up to a tick behind).
 *  - A heap whose earliest deadline may have changed is `dirty`; it is armed on its
 *    loop (otpc__timers_arm) before anyone lets go of it for long: at the end of a
 *    slice of that domain, when the watcher looks in on it, after it fires, before its
 *    owner sleeps, and by whoever lets go of every lock.
 */
#include <stdlib.h>
#include <string.h>

#include "core/node_int.h"
#include "util/log.h"

#define NOT_QUEUED UINT32_MAX
#define SLOT_BITS 30
#define DOM_BITS 10
#define GEN_MASK ((1u << 24) - 1)

_Static_assert((1u << DOM_BITS) >= OTPC__SCHEDULERS_MAX, "a reference names any domain");

static otpc__timers_t *heap_of(otpc_node_t *n, unsigned dom)
{
    return &n->scheds[dom].timers;
}

static otpc_timer_t ref_of(const otpc__timers_t *t, unsigned dom, uint32_t slot)
{
    return ((uint64_t)t->slots[slot].gen << (SLOT_BITS + DOM_BITS)) | ((uint64_t)dom << SLOT_BITS) |
           slot;
}

unsigned otpc__timer_dom(otpc_timer_t ref)
{
    return (unsigned)(ref >> SLOT_BITS) & ((1u << DOM_BITS) - 1);
}

static int before(const otpc__timers_t *t, uint32_t a, uint32_t b)
{
    const otpc__timer_slot_t *x = &t->slots[a], *y = &t->slots[b];
    return x->due < y->due || (x->due == y->due && x->seq < y->seq);
}

static void heap_set(otpc__timers_t *t, uint32_t pos, uint32_t slot)
{
    t->heap[pos] = slot;
    t->slots[slot].pos = pos;
}

static void sift_up(otpc__timers_t *t, uint32_t pos)
{
    uint32_t slot = t->heap[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (!before(t, slot, t->heap[parent]))
            break;
        heap_set(t, pos, t->heap[parent]);
        pos = parent;
    }
    heap_set(t, pos, slot);
}

static void sift_down(otpc__timers_t *t, uint32_t pos)
{
    uint32_t slot = t->heap[pos];
    for (;;) {
        uint32_t c = 2 * pos + 1;
        if (c >= t->len)
            break;
        if (c + 1 < t->len && before(t, t->heap[c + 1], t->heap[c]))
            c++;
        if (!before(t, t->heap[c], slot))
            break;
        heap_set(t, pos, t->heap[c]);
        pos = c;
    }
    heap_set(t, pos, slot);
}

static void heap_remove(otpc__timers_t *t, uint32_t pos)
{
    uint32_t gone = t->heap[pos];
    t->slots[gone].pos = NOT_QUEUED;
    if (pos == 0)
        t->dirty = 1;
    if (--t->len == pos)
        return;
    heap_set(t, pos, t->heap[t->len]);
    sift_down(t, pos);
    sift_up(t, pos); /* a no-op unless the moved item belongs above pos */
}

static int grow(otpc__timers_t *t)
{
    uint32_t cap = t->cap ? t->cap * 2 : 64;
    if (cap > (1u << SLOT_BITS))
        return OTPC_ENOMEM; /* a reference has SLOT_BITS for the slot */
    otpc__timer_slot_t *s = realloc(t->slots, cap * sizeof *s);
    if (!s)
        return OTPC_ENOMEM;
    t->slots = s;
    uint32_t *h = realloc(t->heap, cap * sizeof *h);
    if (!h)
        return OTPC_ENOMEM;
    t->heap = h;
    for (uint32_t i = t->cap; i < cap; i++) {
        s[i].gen = 1;
        s[i].pos = NOT_QUEUED;
        s[i].msg = NULL;
        s[i].next_free = i + 1 < cap ? i + 2 : t->free_head;
    }
    t->free_head = t->cap + 1;
    t->cap = cap;
    return 0;
}

static void slot_free(otpc__timers_t *t, uint32_t slot)
{
    otpc__timer_slot_t *s = &t->slots[slot];
    s->gen = (s->gen + 1) & GEN_MASK;
    if (s->gen == 0)
        s->gen = 1;
    s->msg = NULL;
    s->next_free = t->free_head;
    t->free_head = slot + 1;
}

static uint64_t now_ns(const otpc__timers_t *t)
{
    return t->clock_ns ? t->clock_ns() : uv_hrtime();
}

/* Milliseconds of uv_hrtime's clock (the one uv_now truncates), rounded down. */
static uint64_t now_ms(const otpc__timers_t *t)
{
    return now_ns(t) / 1000000u;
}

int otpc__timer_add(otpc_node_t *n, unsigned dom, unsigned ms, int kind, const otpc_pid_t *to,
                    otpc__msg_t *msg, otpc_timer_t *out)
{
    OTPC__ASSERT(dom < n->nscheds);
    OTPC__ASSERT_DOM(n, dom);
    otpc__timers_t *t = heap_of(n, dom);
    if (!t->free_head && grow(t))
        return OTPC_ENOMEM;
    uint32_t slot = t->free_head - 1;
    otpc__timer_slot_t *s = &t->slots[slot];
    t->free_head = s->next_free;
    s->due = (now_ns(t) + 999999u) / 1000000u + ms;
    s->seq = ++t->seq;
    s->kind = kind;
    s->to = *to;
    s->msg = msg;
    t->len++;
    heap_set(t, t->len - 1, slot);
    sift_up(t, t->len - 1);
    if (s->pos == 0) {
        t->dirty = 1;
        /* Its own scheduler arms it before sleeping. Anyone else (a watcher running the
         * domain's processes, a thread holding all) arms it now and wakes that
         * scheduler, which may sleep on the old deadline. */
        otpc__sched_t *o = &n->scheds[dom];
        if (n->sched_set && otpc__my_sched != o) {
            otpc__timers_arm(n, o);
            if (atomic_load(&o->sleeping))
                otpc__wake_send(o->wake);
        }
    }
    if (out)
        *out = ref_of(t, dom, slot);
    return 0;
}

int otpc__timer_cancel(otpc_node_t *n, otpc_timer_t ref)
{
    unsigned dom = otpc__timer_dom(ref);
    if (!ref || dom >= n->nscheds)
        return 0;
    OTPC__ASSERT_DOM(n, dom);
    otpc__timers_t *t = heap_of(n, dom);
    uint32_t slot = (uint32_t)ref & ((1u << SLOT_BITS) - 1);
    uint32_t gen = (uint32_t)(ref >> (SLOT_BITS + DOM_BITS));
    if (slot >= t->cap || t->slots[slot].gen != gen || t->slots[slot].pos == NOT_QUEUED)
        return 0;
    heap_remove(t, t->slots[slot].pos);
    if (t->slots[slot].msg)
        otpc__msg_free(n, t->slots[slot].msg);
    slot_free(t, slot);
    return 1;
}

/* A send timer's message reaches its destination: in place within this domain,
 * through the inbox of another, over distribution from domain 0 (the only heap with
 * remote destinations). A dead local process drops it. */
static void fire_send(otpc_node_t *n, const otpc_pid_t *to, otpc__msg_t *m)
{
    if (otpc__pid_is_local(n, to)) {
        otpc_proc_t *p = otpc__proc_lookup(n, to);
        if (p && otpc__dom_held(n, p->home)) {
            otpc__deliver(n, p, m);
            return;
        }
        if (p)
            otpc__inbox_send(n, p->home, to, &m->from, m->data, m->len);
    } else if (n->remote) {
        OTPC__ASSERT_ALL(n);
        n->remote->send(n, &m->from, to, m->data, m->len);
    }
    otpc__msg_free(n, m);
}

void otpc__timers_run(otpc_node_t *n, unsigned dom)
{
    OTPC__ASSERT_DOM(n, dom);
    otpc__timers_t *t = heap_of(n, dom);
    uint64_t now = now_ms(t);
    while (t->len && t->slots[t->heap[0]].due <= now) {
        uint32_t slot = t->heap[0];
        otpc__timer_slot_t s = t->slots[slot];
        otpc_timer_t ref = ref_of(t, dom, slot);
        heap_remove(t, 0);
        slot_free(t, slot);
        otpc_proc_t *p;
        if (s.kind == OTPC__TIMER_SEND)
            fire_send(n, &s.to, s.msg);
        else if ((p = otpc__proc_lookup(n, &s.to)) != NULL && p->beh && p->beh->timeout)
            p->beh->timeout(p, ref); /* a process's own timer: its home's heap */
    }
}

int64_t otpc__timers_next(otpc_node_t *n, unsigned dom)
{
    otpc__timers_t *t = heap_of(n, dom);
    if (!t->len)
        return -1;
    uint64_t due = t->slots[t->heap[0]].due, now = now_ms(t);
    return due <= now ? 0 : (int64_t)(due - now);
}

void otpc__timers_free(otpc_node_t *n)
{
    for (unsigned d = 0; n->scheds && d < n->nscheds; d++) {
        otpc__timers_t *t = heap_of(n, d);
        for (uint32_t i = 0; i < t->len; i++)
            if (t->slots[t->heap[i]].msg)
                otpc__msg_free(n, t->slots[t->heap[i]].msg);
        free(t->slots);
        free(t->heap);
        memset(t, 0, sizeof *t);
    }
}

/* ---- each domain's libuv timer ------------------------------------------------------ */

static void on_timer(uv_timer_t *h)
{
    otpc__sched_t *o = h->data;
    otpc_node_t *n = o->node;
    if (n->stopping)
        return;                 /* the loops are being closed */
    OTPC__ASSERT_DOM(n, o->id); /* run by its loop, whoever runs it */
    o->timers.armed_due = 0;
    o->timers.dirty = 1;
    otpc__timers_run(n, o->id);
    /* now, not when its owner next sleeps: that owner may be in a long callback while
     * a watcher runs this loop for it */
    otpc__timers_arm(n, o);
}

int otpc__timers_init(otpc_node_t *n)
{
    for (unsigned i = 0; i < n->nscheds; i++) {
        otpc__sched_t *o = &n->scheds[i];
        if (uv_timer_init(o->loop, &o->timer))
            return OTPC_EIO;
        o->timer.data = o;
        o->timer_ready = 1;
        o->timers.dirty = 1; /* timers set before the node ran */
    }
    return 0;
}

/* Keep domain o's libuv timer on its earliest deadline; re-armed only when it moved. */
void otpc__timers_arm(otpc_node_t *n, otpc__sched_t *o)
{
    otpc__timers_t *t = &o->timers;
    if (!t->dirty || !o->timer_ready || n->stopping)
        return; /* (the timer handles are closed once stopping) */
    /* (no OTPC__ASSERT_DOM: all_end calls this letting go of all, when this thread's
     * record of what it holds already says nothing) */
    t->dirty = 0;
    int64_t next = otpc__timers_next(n, o->id);
    if (next < 0) {
        if (t->armed_due)
            uv_timer_stop(&o->timer);
        t->armed_due = 0;
        return;
    }
    /* Any thread holding the domain arms it, and its loop may have slept a while: its
     * cached time would make the timer fire early by that much. */
    uv_update_time(o->loop);
    uint64_t due = uv_now(o->loop) + (uint64_t)next;
    if (due == t->armed_due)
        return;
    t->armed_due = due;
    uv_timer_start(&o->timer, on_timer, (uint64_t)next, 0);
}

/* ---- public ---------------------------------------------------------------------- */

int otpc_send_after(otpc_proc_t *self, unsigned ms, const otpc_pid_t *to, otpc_term_t msg,
                    otpc_timer_t *out)
{
    otpc_node_t *n = self->node;
    /* its own domain's heap, unless the message leaves the node (see the top) */
    unsigned dom = otpc__pid_is_local(n, to) ? self->home : 0;
    OTPC__ENTER_DOM(n, dom);
    int rc = otpc__check_term(msg);
    if (rc)
        return rc;
    otpc__msg_t *m = otpc__msg_new(n, OTPC__M_MSG, &self->pid, msg.data, msg.size);
    if (!m)
        return OTPC_ENOMEM;
    if ((rc = otpc__timer_add(n, dom, ms, OTPC__TIMER_SEND, to, m, out)) != 0)
        otpc__msg_free(n, m);
    return rc;
}

int otpc_cancel_timer(otpc_proc_t *self, otpc_timer_t t)
{
    otpc_node_t *n = self->node;
    unsigned dom = otpc__timer_dom(t);
    if (dom >= n->nscheds)
        return 0;            /* not a reference of this node's */
    OTPC__ENTER_DOM(n, dom); /* another domain's timer: every lock, once */
    return otpc__timer_cancel(n, t);
}
