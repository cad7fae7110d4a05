/*
 * Timers: erlang:send_after/cancel_timer for C processes, and the timeouts gen_server
 * callbacks ask for. One binary min-heap of deadlines per node sits behind a single
 * uv_timer_t on the scheduler loop (node.c arms it after every turn), so a thousand
 * pending timers cost one libuv handle.
 *
 * Invariants:
 *  - A slot is either free (on the free list, gen bumped) or pending (in the heap at
 *    slots[s].pos). A reference is (gen << 32 | slot), so a stale reference never
 *    cancels a newer timer that reuses the slot.
 *  - Equal deadlines fire in the order they were set (seq breaks ties), so two
 *    send_after calls with the same delay deliver in program order, as in ERTS.
 *  - A send timer owns its message from set to fire or cancel; firing to a local
 *    process hands the mailbox item over without copying it.
 *  - A timer never fires early, as ERTS's never do: deadlines are the precise clock
 *    rounded up to the millisecond and compared with it rounded down (libuv's loop
 *    time is truncated, and may be the coarse clock, up to a tick behind).
 */
#include <stdlib.h>
#include <string.h>

#include "core/node_int.h"
#include "util/log.h"

#define NOT_QUEUED UINT32_MAX

static otpc_timer_t ref_of(const otpc__timers_t *t, uint32_t slot)
{
    return ((uint64_t)t->slots[slot].gen << 32) | slot;
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
    if (--t->len == pos)
        return;
    heap_set(t, pos, t->heap[t->len]);
    sift_down(t, pos);
    sift_up(t, pos); /* a no-op unless the moved item belongs above pos */
}

static int grow(otpc__timers_t *t)
{
    uint32_t cap = t->cap ? t->cap * 2 : 64;
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
    s->gen++;
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

int otpc__timer_add(otpc_node_t *n, unsigned ms, int kind, const otpc_pid_t *to, otpc__msg_t *msg,
                    otpc_timer_t *out)
{
    OTPC__ASSERT_ALL(n); /* one heap for the node */
    otpc__timers_t *t = &n->timers;
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
    if (out)
        *out = ref_of(t, slot);
    return 0;
}

int otpc__timer_cancel(otpc_node_t *n, otpc_timer_t ref)
{
    OTPC__ASSERT_ALL(n); /* one heap for the node */
    otpc__timers_t *t = &n->timers;
    uint32_t slot = (uint32_t)ref, gen = (uint32_t)(ref >> 32);
    if (!ref || slot >= t->cap || t->slots[slot].gen != gen || t->slots[slot].pos == NOT_QUEUED)
        return 0;
    heap_remove(t, t->slots[slot].pos);
    if (t->slots[slot].msg)
        otpc__msg_free(n, t->slots[slot].msg);
    slot_free(t, slot);
    return 1;
}

/* A send timer's message reaches its destination; a dead local one drops it. */
static void fire_send(otpc_node_t *n, const otpc_pid_t *to, otpc__msg_t *m)
{
    if (otpc__pid_is_local(n, to)) {
        otpc_proc_t *p = otpc__proc_lookup(n, to);
        if (p) {
            otpc__deliver(n, p, m);
            return;
        }
    } else if (n->remote) {
        n->remote->send(n, &m->from, to, m->data, m->len);
    }
    otpc__msg_free(n, m);
}

void otpc__timers_run(otpc_node_t *n)
{
    OTPC__ASSERT_ALL(n); /* one heap for the node */
    otpc__timers_t *t = &n->timers;
    uint64_t now = now_ms(t);
    while (t->len && t->slots[t->heap[0]].due <= now) {
        uint32_t slot = t->heap[0];
        otpc__timer_slot_t s = t->slots[slot];
        otpc_timer_t ref = ref_of(t, slot);
        heap_remove(t, 0);
        slot_free(t, slot);
        otpc_proc_t *p;
        if (s.kind == OTPC__TIMER_SEND)
            fire_send(n, &s.to, s.msg);
        else if ((p = otpc__proc_lookup(n, &s.to)) != NULL && p->beh && p->beh->timeout)
            p->beh->timeout(p, ref);
    }
}

/* Milliseconds until the next deadline, or -1 when nothing is pending. */
int64_t otpc__timers_next(otpc_node_t *n)
{
    otpc__timers_t *t = &n->timers;
    if (!t->len)
        return -1;
    uint64_t due = t->slots[t->heap[0]].due, now = now_ms(t);
    return due <= now ? 0 : (int64_t)(due - now);
}

void otpc__timers_free(otpc_node_t *n)
{
    otpc__timers_t *t = &n->timers;
    for (uint32_t i = 0; i < t->len; i++)
        if (t->slots[t->heap[i]].msg)
            otpc__msg_free(n, t->slots[t->heap[i]].msg);
    free(t->slots);
    free(t->heap);
    memset(t, 0, sizeof *t);
}

/* ---- public ---------------------------------------------------------------------- */

int otpc_send_after(otpc_proc_t *self, unsigned ms, const otpc_pid_t *to, otpc_term_t msg,
                    otpc_timer_t *out)
{
    otpc_node_t *n = self->node;
    OTPC__ENTER(n);
    int rc = otpc__check_term(msg);
    if (rc)
        return rc;
    otpc__msg_t *m = otpc__msg_new(n, OTPC__M_MSG, &self->pid, msg.data, msg.size);
    if (!m)
        return OTPC_ENOMEM;
    if ((rc = otpc__timer_add(n, ms, OTPC__TIMER_SEND, to, m, out)) != 0)
        otpc__msg_free(n, m);
    return rc;
}

int otpc_cancel_timer(otpc_proc_t *self, otpc_timer_t t)
{
    OTPC__ENTER(self->node);
    return otpc__timer_cancel(self->node, t);
}
