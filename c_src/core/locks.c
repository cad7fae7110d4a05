/*
 * The domain locks: what a thread holds, and how it moves between holding nothing, one
 * domain's lock ("home") and every lock ("all").
 *
 * Every scheduler's domain has a lock (core/sched.c); holding all of them guards
 * everything, as one node lock would. A thread records what it holds in thread-locals
 * (otpc__held, otpc__held_dom, otpc__held_depth), so the public API, which enters on
 * every call, never takes a lock twice. Taking all from home (otpc__escalate) first
 * lets go of the home lock: a thread holding one lock never waits for another, and all
 * are always taken in order, so no two threads wait for each other. A user callback
 * lets go of whatever its thread holds (otpc__user_begin/_end). Work that needs all but
 * comes up where escalating is not allowed (inside uv_run) is queued (otpc__defer).
 *
 * Invariants: whoever takes all applies this thread's outbox and every domain's inbox
 * first (otpc__lock_all_drained), so nothing that takes all overtakes what was queued
 * before it; whoever lets go of all first tells the sleepers what it gave them
 * (otpc__all_end); while a thread moves from home to all, its domain is marked
 * `escalating` and nobody writes its output or runs its processes; with one scheduler
 * (`multi` 0) no lock is taken at all.
 */
#include "core/node_int.h"

_Thread_local otpc_node_t *otpc__held;
_Thread_local unsigned otpc__held_depth;
_Thread_local int otpc__held_dom;
_Thread_local unsigned otpc__esc_depth;
_Thread_local int otpc__esc_home;
_Thread_local otpc__sched_t *otpc__my_sched;
void (*otpc__escalate_hook)(void);

/* ---- the locks ----------------------------------------------------------------------- */

void otpc__lock_all_drained(otpc_node_t *n)
{
    otpc__lock_all(n);
    otpc__inbox_flush(n); /* what this thread queued comes before what it does now */
    otpc__inbox_drain_all(n);
}

void otpc__lock_all(otpc_node_t *n)
{
    atomic_fetch_add_explicit(&n->all_locks, 1, memory_order_relaxed);
    for (unsigned i = 0; i < n->nscheds; i++)
        uv_mutex_lock(&n->scheds[i].lock);
}

/* Let go of every lock but `keep`'s (-1: all), after telling sleepers what they must
 * look at now. */
static void unlock_all_but(otpc_node_t *n, int keep)
{
    otpc__all_end(n);
    for (unsigned i = n->nscheds; i-- > 0;)
        if ((int)i != keep)
            uv_mutex_unlock(&n->scheds[i].lock);
}

void otpc__unlock_all(otpc_node_t *n)
{
    unlock_all_but(n, -1);
}

/* Home to all: the home lock goes first, then all are taken in order (a thread holding
 * one lock never waits for another: no two threads can wait for each other). What the
 * domain holds may have changed meanwhile; callers are processes' callbacks (their own
 * process is `running`: nobody else touches it) or the scheduler loop between steps. */
void otpc__escalate(otpc_node_t *n)
{
    OTPC__ASSERT(!otpc__esc_depth);
    /* never inside uv_run: the loop must not change hands in the middle of its own
     * callbacks (events defer instead: otpc__defer) */
    OTPC__ASSERT(!otpc__sched_self(n)->in_uvrun);
    int d = otpc__held_dom;
    otpc__esc_home = d;
    otpc__esc_depth = otpc__held_depth + 1;
    otpc__held_dom = OTPC__ALL;
    if (n->multi) {
        n->scheds[d].escalating = 1;
        uv_mutex_unlock(&n->scheds[d].lock);
        if (otpc__escalate_hook)
            otpc__escalate_hook();
        otpc__lock_all_drained(n);
        n->scheds[d].escalating = 0;
    }
}

void otpc__deescalate(otpc_node_t *n)
{
    int d = otpc__esc_home;
    otpc__esc_depth = 0;
    otpc__held_dom = d;
    if (n->multi)
        unlock_all_but(n, d);
}

void otpc__home_enter(otpc_node_t *n, int d)
{
    if (d == 0) { /* the node's domain runs holding all */
        otpc__enter(n);
        return;
    }
    if (n->multi)
        uv_mutex_lock(&n->scheds[d].lock);
    otpc__held = n;
    otpc__held_dom = d;
    otpc__held_depth = 1;
}

void otpc__home_leave(otpc_node_t *n)
{
    if (otpc__held_dom == OTPC__ALL) {
        otpc__leave(n);
        return;
    }
    int d = otpc__held_dom;
    otpc__held = NULL;
    otpc__held_depth = 0;
    if (n->multi)
        uv_mutex_unlock(&n->scheds[d].lock);
}

/* ---- the locks around user callbacks ------------------------------------------------- */

/* What a thread held when its user callback began (callbacks never nest). */
static _Thread_local struct {
    unsigned depth, esc_depth;
    int dom, esc_home;
} user_saved;

unsigned otpc__user_begin(otpc_node_t *n)
{
    /* once stopping, the rest of the stop runs alone: callbacks keep the locks */
    if (!n->multi || n->stopping || otpc__held != n)
        return 0;
    user_saved.depth = otpc__held_depth;
    user_saved.dom = otpc__held_dom;
    user_saved.esc_depth = otpc__esc_depth;
    user_saved.esc_home = otpc__esc_home;
    atomic_fetch_add(&n->in_user, 1);
    otpc__held = NULL;
    otpc__held_depth = 0;
    otpc__esc_depth = 0;
    if (user_saved.dom == OTPC__ALL)
        otpc__unlock_all(n);
    else
        uv_mutex_unlock(&n->scheds[user_saved.dom].lock);
    return 1;
}

void otpc__user_end(otpc_node_t *n, unsigned saved)
{
    if (!saved)
        return;
    otpc__held = n;
    otpc__held_depth = user_saved.depth;
    otpc__held_dom = user_saved.dom;
    otpc__esc_depth = user_saved.esc_depth;
    otpc__esc_home = user_saved.esc_home;
    if (user_saved.dom == OTPC__ALL) /* what the callback sent comes before what follows */
        otpc__lock_all_drained(n);
    else
        uv_mutex_lock(&n->scheds[user_saved.dom].lock);
    atomic_fetch_sub(&n->in_user, 1);
}

/* ---- work a domain's events leave for all ---------------------------------------------- */

void otpc__defer(otpc_node_t *n, otpc__defer_t *d)
{
    if (otpc__all_held(n)) {
        d->fn(d);
        return;
    }
    if (d->queued)
        return;
    otpc__sched_t *o = &n->scheds[otpc__held_dom];
    d->queued = 1;
    d->next = o->defer_head;
    o->defer_head = d;
}

void otpc__defer_cancel(otpc_node_t *n, otpc__defer_t *d)
{
    if (!d->queued)
        return;
    for (unsigned i = 0; i < n->nscheds; i++)
        for (otpc__defer_t **pp = &n->scheds[i].defer_head; *pp; pp = &(*pp)->next)
            if (*pp == d) {
                *pp = d->next;
                d->queued = 0;
                return;
            }
}
