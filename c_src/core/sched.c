/*
 * Schedulers and the turn: the one way the node makes progress.
 *
 * A node runs `nscheds` scheduler threads (-schedulers; scheduler 0 is the thread in
 * otpc_node_run). Each has a libuv loop of its own: the sockets homed there (an
 * endpoint goes to a scheduler when it is made, otpc__sched_pick, round robin) are
 * polled by that thread, so no socket is watched by two epoll sets and readiness wakes
 * only the thread that owns it. They share one run queue, under one node lock.
 * Each takes, in order of preference:
 *  - a slice: processes off the run queue (a bounded budget), then the flush hooks
 *    upper layers registered (each endpoint writes what its processes produced, so a
 *    burst of replies costs one write), then the node's timer re-armed; then its loop
 *    once without waiting, so its sockets are read between slices;
 *  - its loop: uv_run without waiting (sockets, timers, wake-ups; their callbacks only
 *    deliver and mark, never run processes), then, with nothing runnable, a sleep in
 *    poll() on the loop's epoll fd without the lock.
 * A user callback lets go of the lock (otpc__user_begin), so the other schedulers run
 * processes, poll and write meanwhile: one server computing for a second holds up only
 * its own callers. A process runs on one scheduler at a time (`running`: it is not
 * queued again until its slice ends), so its callbacks never overlap; any scheduler
 * may run it next (one queue: nothing to steal).
 *
 * A scheduler in a long callback polls nothing, so someone looks in on it: while slices
 * are recent, one sleeper (the watcher) times its poll() to at most WATCH_MS and adds
 * the epoll fds of schedulers whose slice has lasted that long; it runs their loops for
 * them and takes the runnable processes. A slice that finds no watcher wakes a sleeper
 * (at most once per burst: the watcher lingers).
 *
 * Invariants: uv_run and every libuv call on any loop happen under the lock (so a loop
 * sees the sequence a single thread would make, whichever thread makes it); a sleeper
 * is woken when a slice or an event changed what its poll() waits for (new watchers on
 * its loop, an earlier timer); uv_run never blocks (a sleep comes only after the slice
 * or the hooks that event callbacks' work needs). With one scheduler the lock is never
 * taken.
 */
#include <poll.h>
#include <stdlib.h>

#include "core/node_int.h"
#include "util/log.h"

#define TURN_BUDGET 4096
#define WATCH_MS 1
#define WATCH_NS (WATCH_MS * 1000000ull)
#define WATCH_MAX 16                    /* busy schedulers' loops one watcher polls at once */
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
    if (uv_cond_init(&n->quiet_cv)) {
        uv_mutex_destroy(&n->lock);
        return OTPC_EIO; /* (a cv that did init is a few bytes lost, once) */
    }
    n->scheds = calloc(want, sizeof *n->scheds);
    if (!n->scheds) {
        uv_mutex_destroy(&n->lock);
        return OTPC_ENOMEM;
    }
    n->nscheds = n->nhomes = want;
    for (unsigned i = 0; i < want; i++) {
        otpc__sched_t *s = &n->scheds[i];
        s->node = n;
        s->id = i;
        s->loop = i ? &s->own_loop : &n->loop;
        s->wake = i ? &s->own_wake : &n->wake;
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
    /* Any scheduler arms it, and scheduler 0's loop may have slept a while: its cached
     * time would make the timer fire early by that much. */
    uv_update_time(&n->loop);
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
    if (otpc__sched_self(n)->in_uvrun)
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

static void on_own_wake(otpc__wake_t *w)
{
    (void)w; /* only to end a poll(): what woke it is looked at by the scheduler loop */
}

int otpc__sched_init(otpc_node_t *n)
{
    uv_timer_init(&n->loop, &n->timer);
    n->timer.data = n;
    for (unsigned i = 1; i < n->nscheds; i++) {
        otpc__sched_t *s = &n->scheds[i];
        if (uv_loop_init(&s->own_loop))
            return OTPC_EIO;
        s->own_wake.data = s;
        if (otpc__wake_init(&s->own_wake, &s->own_loop, on_own_wake)) {
            uv_loop_close(&s->own_loop);
            return OTPC_EIO;
        }
        s->loop_ready = 1;
    }
    return 0;
}

static void close_left(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void otpc__sched_loops_close(otpc_node_t *n)
{
    for (unsigned i = 1; i < n->nscheds; i++) {
        otpc__sched_t *s = &n->scheds[i];
        if (!s->loop_ready)
            continue;
        otpc__wake_close(&s->own_wake);
        uv_run(&s->own_loop, UV_RUN_NOWAIT); /* the closes the stop began end here */
        uv_walk(&s->own_loop, close_left, NULL);
        uv_run(&s->own_loop, UV_RUN_DEFAULT);
        uv_loop_close(&s->own_loop);
        s->loop_ready = 0;
    }
}

otpc__sched_t *otpc__sched_pick(otpc_node_t *n)
{
    return &n->scheds[n->next_home++ % n->nhomes];
}

/* ---- the scheduler loop ---------------------------------------------------------------- */

/* libuv queues a started watcher and adds it to epoll at its next poll: a sleeper on
 * the old set would miss it. */
static int loop_has_new_watchers(uv_loop_t *l)
{
#if UV_VERSION_HEX >= 0x012e00 /* 1.46: struct uv__queue */
    return l->watcher_queue.next != &l->watcher_queue;
#else
    return l->watcher_queue[0] != (void *)&l->watcher_queue;
#endif
}

static int must_wake(otpc__sched_t *o)
{
    if (loop_has_new_watchers(o->loop))
        return 1;
    int t = uv_backend_timeout(o->loop);
    return t >= 0 && uv_now(o->loop) + (uint64_t)t < o->poll_due;
}

/* Whatever this thread did may have given a sleeper's loop a new watcher (an endpoint
 * homed there) or an earlier timer: it must poll again. */
static void wake_changed(otpc_node_t *n, otpc__sched_t *self)
{
    if (!n->sleepers)
        return;
    for (unsigned i = 0; i < n->nscheds; i++) {
        otpc__sched_t *o = &n->scheds[i];
        if (o != self && o->sleeping && must_wake(o))
            otpc__wake_send(o->wake);
    }
}

static void wake_one(otpc_node_t *n, otpc__sched_t *self)
{
    for (unsigned i = 0; i < n->nscheds; i++) {
        otpc__sched_t *o = &n->scheds[i];
        if (o != self && o->sleeping) {
            otpc__wake_send(o->wake);
            return;
        }
    }
}

/* uv_run without waiting on loop (this thread's, or a busy scheduler's for it). */
static void run_loop(otpc__sched_t *s, uv_loop_t *loop)
{
    s->in_uvrun = 1;
    uv_run(loop, UV_RUN_NOWAIT);
    s->in_uvrun = 0;
}

static void slice(otpc_node_t *n, otpc__sched_t *s)
{
    s->in_slice = 1;
    n->in_slice++;
    if (n->multi) {
        s->slice_since = uv_hrtime();
        /* someone must look in on us in case a callback runs long */
        if (!n->watcher && n->sleepers)
            wake_one(n, s);
    }
    otpc__run_queue(n, TURN_BUDGET);
    flush_hooks(n);
    arm_timer(n);
    n->in_slice--;
    s->in_slice = 0;
    s->slice_since = 0;
    if (!n->multi)
        return;
    n->last_slice = uv_hrtime();
    if (n->quiesce)
        uv_cond_signal(&n->quiet_cv);
    wake_changed(n, s);
}

/* Before sleeping, a scheduler may look at its loop for a little while (erl's +sbwt):
 * in a conversation the next message often comes within microseconds, and a sleeping
 * thread takes tens of them to wake. Only while processes ran one or a few at a time
 * since the last sleep: under load each wake-up brings many messages (and the peers'
 * nap gathers them), and spinning would only burn CPU between batches. Returns the ns
 * to look for, under the lock (-busy_wait_us 0: never). */
static uint64_t busy_wait_ns(otpc_node_t *n, otpc__sched_t *s, int t)
{
    uint64_t ns = n->busy_wait_ns, handled = n->handled - s->handled_at_sleep;
    s->handled_at_sleep = n->handled;
    if (handled) /* else an event without a message (a write done, a tick): as before */
        s->spin_ok = handled <= BUSY_MAX_HANDLED;
    if (!ns || !t || !s->spin_ok)
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

/* The schedulers whose slice has lasted WATCH_MS: their loops are the watcher's to
 * poll (at most max of them). */
static unsigned long_slices(otpc_node_t *n, otpc__sched_t *self, otpc__sched_t **out, unsigned max)
{
    unsigned k = 0;
    uint64_t now = uv_hrtime();
    for (unsigned i = 0; i < n->nscheds && k < max; i++) {
        otpc__sched_t *o = &n->scheds[i];
        if (o != self && o->slice_since && now - o->slice_since >= WATCH_NS)
            out[k++] = o;
    }
    return k;
}

/* Sleep until this scheduler's loop (or, as the watcher, a busy one's) has something
 * or t ms passed, without the lock. */
static void sleep_on_loop(otpc_node_t *n, otpc__sched_t *s, int t)
{
    struct pollfd pfd[1 + WATCH_MAX];
    otpc__sched_t *busy[WATCH_MAX];
    unsigned nbusy = 0;
    pfd[0] = (struct pollfd){.fd = uv_backend_fd(s->loop), .events = POLLIN};
    s->poll_due = t < 0 ? UINT64_MAX : uv_now(s->loop) + (uint64_t)t;
    int watch = n->multi && !n->watcher && (n->in_slice || uv_hrtime() - n->last_slice < LINGER_NS);
    if (watch) {
        n->watcher = s;
        if (t < 0 || t > WATCH_MS)
            t = WATCH_MS;
        nbusy = long_slices(n, s, busy, WATCH_MAX);
        for (unsigned i = 0; i < nbusy; i++)
            pfd[1 + i] = (struct pollfd){.fd = uv_backend_fd(busy[i]->loop), .events = POLLIN};
    }
    uint64_t spin = busy_wait_ns(n, s, t);
    s->sleeping = 1;
    n->sleepers++;
    unsigned d = release_all(n);
    int hit = busy_wait(pfd, spin);
    if (!hit)
        (void)poll(pfd, 1 + nbusy, t);
    retake(n, d);
    n->sleepers--;
    s->sleeping = 0;
    if (spin && !hit)
        s->spin_ok = 0; /* the conversation paused: sleep at once until it resumes */
    if (!watch)
        return;
    n->watcher = NULL;
    /* their sockets and timers, for them: each loop is run under the lock only, and
     * they are inside slices, not inside uv_run */
    for (unsigned i = 0; i < nbusy && !n->stopping; i++)
        if (busy[i]->slice_since)
            run_loop(s, busy[i]->loop);
}

/* This scheduler's loop, once without waiting; then, if `wait` and nothing became
 * runnable, sleep until the loop has something. Never a blocking uv_run, even with
 * one scheduler: the callbacks of its timer and idle phases only mark work (a turn
 * is the loop's business), which the poll phase after them would then sleep on. */
static void poll_once(otpc_node_t *n, otpc__sched_t *s, int wait)
{
    run_loop(s, s->loop);
    if (n->stopping)
        return;
    if (n->rq_head || !wait) {
        if (n->multi)
            wake_changed(n, s);
        return;
    }
    flush_hooks(n); /* what event callbacks produced without a process */
    arm_timer(n);
    if (n->multi)
        wake_changed(n, s);
    if (n->rq_head)
        return;
    int t = uv_backend_timeout(s->loop);
    sleep_on_loop(n, s, t);
}

static void sched_loop(otpc_node_t *n, otpc__sched_t *s)
{
    while (!n->stopping) {
        if (n->rq_head && !n->quiesce) {
            slice(n, s);
            /* its sockets between slices, even while processes keep the run queue full
             * (one sending to itself forever) */
            if (!n->stopping)
                poll_once(n, s, 0);
        } else {
            poll_once(n, s, 1);
        }
    }
    /* the others may sleep without a timeout: they must see the stop */
    for (unsigned i = 0; i < n->nscheds; i++)
        if (&n->scheds[i] != s)
            otpc__wake_send(n->scheds[i].wake);
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
        if (started + 1 < n->nscheds) {
            OTPC__LOG_WARN("sched", "started %u of %u schedulers", started + 1, n->nscheds);
            n->nhomes = started + 1; /* new endpoints only on loops someone polls */
        }
    }
    sched_loop(n, s0);
    if (!n->multi)
        return 0;
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
    while (n->in_slice > (unsigned)otpc__sched_self(n)->in_slice)
        uv_cond_wait(&n->quiet_cv, &n->lock);
    n->quiesce = 0;
}
