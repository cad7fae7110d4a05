/*
 * Schedulers and the turn: the one way the node makes progress.
 *
 * A node runs `nscheds` scheduler threads (-schedulers; scheduler 0 is the thread in
 * otpc_node_run). They share one run queue and one libuv loop, under one node lock.
 * Each takes, in order of preference:
 *  - a slice: processes off the run queue (a bounded budget), then the flush hooks
 *    upper layers registered (each endpoint writes what its processes produced, so a
 *    burst of replies costs one write), then the loop's timer re-armed;
 *  - the poller's role, if nobody has it: uv_run without waiting (sockets, timers,
 *    wake-ups; their callbacks only deliver and mark, never run processes), then, with
 *    nothing runnable, a sleep in poll() on the loop's epoll fd without the lock;
 *  - an idle wait on the node's condition variable.
 * A user callback lets go of the lock (otpc__user_begin), so the other schedulers run
 * processes, poll and write meanwhile: one server computing for a second holds up only
 * its own callers. A process runs on one scheduler at a time (`running`: it is not
 * queued again until its slice ends), so its callbacks never overlap; any scheduler
 * may run it next (one queue: nothing to steal).
 *
 * Nobody owes a scheduler in a long callback a wake-up, so someone looks in on it: the
 * sleeping poller times its poll() to at most WATCH_MS while a slice is in progress,
 * and one idle scheduler (the watcher) waits at most as long while slices are recent;
 * either then takes the runnable processes or the vacant poller's role.
 *
 * Invariants: uv_run and every libuv call on the loop happen under the lock (so the
 * loop sees the same sequence a single thread would make); a poller asleep is woken
 * when a slice changed what its poll() waits for (new watchers, an earlier timer);
 * uv_run never blocks (a sleep comes only after the slice or the hooks that event
 * callbacks' work needs). With one scheduler the lock is never taken.
 */
#include <poll.h>
#include <stdlib.h>

#include "core/node_int.h"
#include "util/log.h"

#define TURN_BUDGET 4096
#define WATCH_MS 1
#define LINGER_NS (20 * 1000 * 1000ull) /* the watcher times its waits this long after a slice */
#define MAX_SCHEDULERS 1024
#define BUSY_MAX_HANDLED 4 /* messages handled since the last sleep past which no spin pays */

_Thread_local otpc_node_t *otpc__held;
_Thread_local unsigned otpc__held_depth;
_Thread_local otpc__sched_t *otpc__my_sched;

/* ---- the lock around user callbacks ------------------------------------------------ */

unsigned otpc__user_begin(otpc_node_t *n)
{
    /* once stopping, the rest of the stop runs alone: callbacks keep the lock */
    if (!n->multi || n->stopping || otpc__held != n)
        return 0;
    unsigned saved = otpc__held_depth;
    n->in_user++;
    otpc__held = NULL;
    otpc__held_depth = 0;
    uv_mutex_unlock(&n->lock);
    return saved;
}

void otpc__user_end(otpc_node_t *n, unsigned saved)
{
    if (!saved)
        return;
    uv_mutex_lock(&n->lock);
    n->in_user--;
    otpc__held = n;
    otpc__held_depth = saved;
}

/* Let go of the lock whatever the depth (a sleep); returns what to restore. */
static unsigned release_all(otpc_node_t *n)
{
    unsigned d = otpc__held_depth;
    otpc__held = NULL;
    otpc__held_depth = 0;
    if (n->multi)
        uv_mutex_unlock(&n->lock);
    return d;
}

static void retake(otpc_node_t *n, unsigned d)
{
    if (n->multi)
        uv_mutex_lock(&n->lock);
    otpc__held = n;
    otpc__held_depth = d;
}

/* ---- schedulers' state ------------------------------------------------------------- */

int otpc__scheds_new(otpc_node_t *n, unsigned want)
{
    if (!want)
        want = uv_available_parallelism();
    if (want > MAX_SCHEDULERS)
        want = MAX_SCHEDULERS;
    if (uv_mutex_init(&n->lock))
        return OTPC_EIO;
    if (uv_cond_init(&n->cv) || uv_cond_init(&n->quiet_cv)) {
        uv_mutex_destroy(&n->lock);
        return OTPC_EIO; /* (a cv that did init is a few bytes lost, once) */
    }
    n->scheds = calloc(want, sizeof *n->scheds);
    if (!n->scheds) {
        uv_mutex_destroy(&n->lock);
        return OTPC_ENOMEM;
    }
    n->nscheds = want;
    for (unsigned i = 0; i < want; i++) {
        otpc__sched_t *s = &n->scheds[i];
        s->node = n;
        s->id = i;
        if (ei_x_new(&s->scratch) || ei_x_new(&s->trap_buf))
            return OTPC_ENOMEM;
    }
    return 0;
}

void otpc__scheds_free(otpc_node_t *n)
{
    if (!n->scheds)
        return;
    for (unsigned i = 0; i < n->nscheds; i++) {
        otpc__sched_t *s = &n->scheds[i];
        for (int k = 0; k < OTPC__EXT_MAX; k++)
            if (s->ext[k] && n->sched_ext_free[k])
                n->sched_ext_free[k](n, s->ext[k]);
        if (s->scratch.buff)
            ei_x_free(&s->scratch);
        if (s->trap_buf.buff)
            ei_x_free(&s->trap_buf);
    }
    free(n->scheds);
    n->scheds = NULL;
    uv_mutex_destroy(&n->lock);
    uv_cond_destroy(&n->cv);
    uv_cond_destroy(&n->quiet_cv);
}

void **otpc__sched_local(otpc_node_t *n, otpc__ext_key_t *key, otpc__ext_free_fn free_fn)
{
    int slot = atomic_load(&key->slot);
    if (!slot) {
        /* the key's slot is claimed the way otpc__ext_add claims one */
        if (otpc__ext_add(n, key, NULL, NULL))
            return NULL;
        slot = atomic_load(&key->slot);
    }
    if (n->sched_ext_free[slot - 1] != free_fn)
        n->sched_ext_free[slot - 1] = free_fn;
    return &otpc__sched_self(n)->ext[slot - 1];
}

/* ---- the turn ------------------------------------------------------------------------ */

int otpc__turn_hook_add(otpc_node_t *n, otpc__turn_hook_fn fn)
{
    OTPC__ASSERT(!n->sched_set); /* hooks are fixed before the node runs */
    if (n->nhooks == OTPC__TURN_HOOKS_MAX)
        return OTPC_ENOMEM;
    n->hooks[n->nhooks++] = fn;
    return 0;
}

static void on_timer(uv_timer_t *t);

/* Keep the one libuv timer on the earliest deadline; re-armed only when it moved. */
static void arm_timer(otpc_node_t *n)
{
    if (n->stopping)
        return; /* the timer handle is closed once stopping */
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

/* Inside the scheduler loop a turn is the loop's business (after uv_run returns):
 * event callbacks only deliver. Outside it (start-up failures, the end of a stop) a
 * turn runs everything at once. */
void otpc__turn(otpc_node_t *n)
{
    OTPC__ASSERT_SCHED(n);
    if (n->in_uvrun)
        return;
    otpc__turn_final(n);
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
}

void otpc__free_handle(uv_handle_t *h)
{
    free(h);
}

void otpc__sched_init(otpc_node_t *n)
{
    uv_timer_init(&n->loop, &n->timer);
    n->timer.data = n;
}

/* ---- the scheduler loop ---------------------------------------------------------------- */

/* libuv queues a started watcher and adds it to epoll at its next poll: a poller asleep
 * on the old set would miss it. */
static int loop_has_new_watchers(uv_loop_t *l)
{
#if UV_VERSION_HEX >= 0x012e00 /* 1.46: struct uv__queue */
    return l->watcher_queue.next != &l->watcher_queue;
#else
    return l->watcher_queue[0] != (void *)&l->watcher_queue;
#endif
}

static int poller_must_wake(otpc_node_t *n)
{
    if (loop_has_new_watchers(&n->loop))
        return 1;
    int t = uv_backend_timeout(&n->loop);
    return t >= 0 && uv_now(&n->loop) + (uint64_t)t < n->poll_due;
}

static void slice(otpc_node_t *n, otpc__sched_t *s)
{
    s->in_slice = 1;
    n->in_slice++;
    /* someone must look in on us in case a callback runs long */
    if (n->multi && !n->watcher && !n->poll_sleeping && n->idle)
        uv_cond_signal(&n->cv);
    otpc__run_queue(n, TURN_BUDGET);
    flush_hooks(n);
    arm_timer(n);
    n->in_slice--;
    s->in_slice = 0;
    if (!n->multi)
        return;
    n->last_slice = uv_hrtime();
    if (n->quiesce)
        uv_cond_signal(&n->quiet_cv);
    if (n->poll_sleeping && poller_must_wake(n))
        otpc__wake_send(&n->wake);
}

/* Before sleeping, the poller may look at the loop for a little while (erl's +sbwt):
 * in a conversation the next message often comes within microseconds, and a sleeping
 * thread takes tens of them to wake. Only while processes ran one or a few at a time
 * since the last sleep: under load each wake-up brings many messages (and the peers'
 * nap gathers them), and spinning would only burn CPU between batches. Returns the ns
 * to look for, under the lock (-busy_wait_us 0: never). */
static uint64_t busy_wait_ns(otpc_node_t *n, int t)
{
    uint64_t ns = n->busy_wait_ns, handled = n->handled - n->handled_at_sleep;
    n->handled_at_sleep = n->handled;
    if (handled) /* else an event without a message (a write done, a tick): as before */
        n->spin_ok = handled <= BUSY_MAX_HANDLED;
    if (!ns || !t || !n->spin_ok)
        return 0;
    if (t > 0 && (uint64_t)t * 1000000u < ns)
        ns = (uint64_t)t * 1000000u;
    return ns;
}

/* Without the lock: whether the loop had events within ns. */
static int busy_wait(struct pollfd *pfd, uint64_t ns)
{
    if (!ns)
        return 0;
    uint64_t until = uv_hrtime() + ns;
    do {
        if (poll(pfd, 1, 0) > 0)
            return 1;
    } while (uv_hrtime() < until);
    return 0;
}

/* The poller's role: uv_run without waiting; then, if `wait` and nothing became
 * runnable, sleep until the loop has something. Never a blocking uv_run, even with
 * one scheduler: the callbacks of its timer and idle phases only mark work (a turn
 * is the loop's business), which the poll phase after them would then sleep on. */
static void poll_once(otpc_node_t *n, int wait)
{
    n->polling = 1;
    n->in_uvrun = 1;
    uv_run(&n->loop, UV_RUN_NOWAIT);
    n->in_uvrun = 0;
    if (n->stopping || n->rq_head || !wait)
        goto out;
    flush_hooks(n); /* what event callbacks produced without a process */
    arm_timer(n);
    if (n->rq_head)
        goto out;
    int t = uv_backend_timeout(&n->loop);
    n->poll_due = t < 0 ? UINT64_MAX : uv_now(&n->loop) + (uint64_t)t;
    if (n->in_slice && (t < 0 || t > WATCH_MS))
        t = WATCH_MS;
    uint64_t spin = busy_wait_ns(n, t);
    n->poll_sleeping = 1;
    unsigned d = release_all(n);
    struct pollfd pfd = {.fd = uv_backend_fd(&n->loop), .events = POLLIN};
    int hit = busy_wait(&pfd, spin);
    if (!hit)
        (void)poll(&pfd, 1, t);
    retake(n, d);
    if (spin && !hit)
        n->spin_ok = 0; /* the conversation paused: sleep at once until it resumes */
    n->poll_sleeping = 0;
out:
    n->polling = 0;
}

static void idle_wait(otpc_node_t *n, otpc__sched_t *s)
{
    n->idle++;
    if (!n->watcher && (n->in_slice || uv_hrtime() - n->last_slice < LINGER_NS)) {
        n->watcher = s;
        uv_cond_timedwait(&n->cv, &n->lock, WATCH_MS * 1000000ull);
        n->watcher = NULL;
    } else {
        uv_cond_wait(&n->cv, &n->lock);
    }
    n->idle--;
}

static void sched_loop(otpc_node_t *n, otpc__sched_t *s)
{
    while (!n->stopping) {
        if (n->rq_head && !n->quiesce) {
            slice(n, s);
            /* sockets and timers between slices, even while processes keep the run
             * queue full (one sending to itself forever) */
            if (!n->polling && !n->stopping)
                poll_once(n, 0);
        } else if (!n->polling) {
            poll_once(n, 1);
        } else {
            idle_wait(n, s);
        }
    }
}

static void sched_main(void *arg)
{
    otpc__sched_t *s = arg;
    otpc_node_t *n = s->node;
    otpc__my_sched = s;
    otpc__enter(n);
    sched_loop(n, s);
    otpc__leave(n);
}

int otpc__sched_run(otpc_node_t *n)
{
    OTPC__ASSERT(otpc__held == n);
    otpc__sched_t *s0 = &n->scheds[0];
    otpc__my_sched = s0;
    unsigned started = 0;
    if (n->multi) {
        n->threads = calloc(n->nscheds - 1, sizeof *n->threads);
        if (!n->threads)
            return OTPC_ENOMEM;
        for (; started + 1 < n->nscheds; started++)
            if (uv_thread_create(&n->threads[started], sched_main, &n->scheds[started + 1]))
                break;
        if (started + 1 < n->nscheds)
            OTPC__LOG_WARN("sched", "started %u of %u schedulers", started + 1, n->nscheds);
    }
    sched_loop(n, s0);
    if (!n->multi)
        return 0;
    uv_cond_broadcast(&n->cv);
    unsigned d = release_all(n);
    for (unsigned i = 0; i < started; i++)
        uv_thread_join(&n->threads[i]);
    free(n->threads);
    n->threads = NULL;
    n->multi = 0; /* alone from here: the rest of the stop takes no lock */
    retake(n, d);
    return 0;
}

void otpc__sched_quiesce(otpc_node_t *n)
{
    if (!n->multi)
        return;
    n->quiesce = 1;
    uv_cond_broadcast(&n->cv);
    while (n->in_slice > (unsigned)otpc__sched_self(n)->in_slice)
        uv_cond_wait(&n->quiet_cv, &n->lock);
    n->quiesce = 0;
}
