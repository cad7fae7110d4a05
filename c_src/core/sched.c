/*
 * The scheduler turn: the one way the node makes progress, used by every event
 * callback (a socket, a timer, a wake-up) and by shutdown alike.
 *
 * A turn runs the run queue (a bounded budget), then the flush hooks that upper layers
 * registered (distribution peers, daemon sessions: each writes what its processes
 * produced during the turn, so a burst of replies costs one write), then re-arms the
 * one libuv timer on the earliest deadline. While processes still have work an idle
 * handle keeps turns coming without sleeping. The core names no upper layer: hooks are
 * plain function pointers, run in the order registered.
 *
 * More than one scheduler thread later would mean one of these per thread (run queue,
 * hooks' dirty lists, timer heap), processes pinned to one scheduler at a time and
 * stolen only between turns; see docs/ARCHITECTURE.md.
 */
#include <stdlib.h>

#include "core/node_int.h"
#include "util/log.h"

#define TURN_BUDGET 4096

int otpc__on_sched(const otpc_node_t *n)
{
    uv_thread_t self = uv_thread_self();
    return uv_thread_equal(&self, &n->sched_thread);
}

int otpc__turn_hook_add(otpc_node_t *n, otpc__turn_hook_fn fn)
{
    OTPC__ASSERT(!n->sched_set); /* hooks are fixed before the node runs */
    if (n->nhooks == OTPC__TURN_HOOKS_MAX)
        return OTPC_ENOMEM;
    n->hooks[n->nhooks++] = fn;
    return 0;
}

static void on_idle(uv_idle_t *h);
static void on_timer(uv_timer_t *t);

/* Keep the one libuv timer on the earliest deadline; re-armed only when it moved. */
static void arm_timer(otpc_node_t *n)
{
    int64_t next = otpc__timers_next(n);
    if (next < 0) {
        if (n->timer_due)
            uv_timer_stop(&n->timer);
        n->timer_due = 0;
        return;
    }
    uint64_t due = uv_now(&n->loop) + (uint64_t)next;
    if (due == n->timer_due)
        return;
    n->timer_due = due;
    uv_timer_start(&n->timer, on_timer, (uint64_t)next, 0);
}

static void flush_hooks(otpc_node_t *n)
{
    for (unsigned i = 0; i < n->nhooks; i++)
        n->hooks[i](n);
}

void otpc__turn(otpc_node_t *n)
{
    OTPC__ASSERT_SCHED(n);
    otpc__run_queue(n, TURN_BUDGET);
    flush_hooks(n);
    if (n->stopping)
        return; /* the timer and idle handles are closed once stopping */
    arm_timer(n);
    if (n->rq_head)
        uv_idle_start(&n->idle, on_idle);
    else
        uv_idle_stop(&n->idle);
}

void otpc__turn_final(otpc_node_t *n)
{
    otpc__run_queue(n, 1 << 30);
    flush_hooks(n);
}

static void on_timer(uv_timer_t *t)
{
    otpc_node_t *n = t->data;
    n->timer_due = 0;
    otpc__timers_run(n);
    otpc__turn(n);
}

static void on_idle(uv_idle_t *h)
{
    otpc__turn(h->data);
}

void otpc__free_handle(uv_handle_t *h)
{
    free(h);
}

void otpc__sched_init(otpc_node_t *n)
{
    uv_idle_init(&n->loop, &n->idle);
    uv_timer_init(&n->loop, &n->timer);
    n->idle.data = n->timer.data = n;
}
