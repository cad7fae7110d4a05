/*
 * Schedulers and the turn: the one way the node makes progress.
 *
 * A node runs `nscheds` scheduler threads (-schedulers; scheduler 0 is the thread in
 * otpc_node_run). Each owns a domain: a lock, a libuv loop with the sockets homed
 * there, a run queue with the processes homed there, and their timers (core/timer.c).
 * Scheduler 0's domain is the node's (signals, listeners, services): it runs holding
 * every lock ("all"). Schedulers 1.. take connections and the servers they bring
 * (round robin, otpc__sched_pick) and run holding their own lock only ("home"), so
 * what comes and goes on those sockets takes no lock another domain needs. Anything
 * that reaches further (a spawn, an exit, a link, a distribution send) takes all, in
 * order; from home that lets go of the home lock first (otpc__escalate, core/locks.c),
 * which only a process's callback or the loop between its steps may do: an event
 * inside uv_run leaves such work for later instead (otpc__defer).
 * Each scheduler takes, in order of preference:
 *  - a slice: its domain's processes off its run queue (a bounded budget), then the
 *    flush hooks upper layers registered (each endpoint writes what its processes
 *    produced, so a burst of replies costs one write); then its loop once without
 *    waiting, so its sockets are read between slices;
 *  - its loop: uv_run without waiting (sockets, timers, wake-ups; their callbacks only
 *    deliver and mark, never run processes), what those events deferred (holding all),
 *    then, with nothing runnable, a sleep in poll() on the loop's epoll fd without a
 *    lock.
 * A user callback lets go of the locks (otpc__user_begin), so the other schedulers run
 * processes, poll and write meanwhile: one server computing for a second holds up only
 * its own callers. A process runs on one thread at a time (`running`: it is not queued
 * again until its slice ends), so its callbacks never overlap.
 *
 * A scheduler in a long callback polls nothing and runs nothing else, so someone looks
 * in on it: while slices are recent, one sleeper (the watcher) times its poll() to at
 * most WATCH_MS and adds the epoll fds of schedulers whose slice has lasted that long;
 * it runs their loops and their other runnable processes for them, holding their lock
 * (or all, for scheduler 0). A slice that finds no watcher wakes a sleeper (at most
 * once per burst: the watcher lingers).
 *
 * Invariants: uv_run and every libuv call on a loop happen holding its domain's lock
 * (or all), never two threads inside one loop's uv_run; a thread holding one lock never
 * waits for another (no deadlock); whoever lets go of all wakes each sleeper it gave
 * work, output or a changed loop (all_end); uv_run never blocks (a sleep comes only
 * after the slice or the hooks that event callbacks' work needs). With one scheduler no
 * lock is ever taken.
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
#define BUSY_MAX_HANDLED 4 /* messages handled since the last sleep past which no spin pays */

/* Let go of what the scheduler loop holds (its home, or all), to sleep. */
static void release_all(otpc_node_t *n)
{
    if (otpc__held_dom == OTPC__ALL) {
        OTPC__ASSERT(otpc__held_depth == 1);
        otpc__leave(n);
    } else {
        otpc__home_leave(n);
    }
}

static void retake(otpc_node_t *n, otpc__sched_t *s)
{
    otpc__home_enter(n, (int)s->id);
}

/* Holding all: what o's events left. They run where the loop's events do, so a turn
 * they ask for is the loop's business too (in_uvrun). */
static void run_deferred(otpc__sched_t *s, otpc__sched_t *o)
{
    int was = s->in_uvrun;
    s->in_uvrun = 1;
    while (o->defer_head) {
        otpc__defer_t *d = o->defer_head;
        o->defer_head = d->next;
        d->queued = 0;
        d->fn(d);
    }
    s->in_uvrun = was;
}

/* ---- schedulers' state ------------------------------------------------------------- */

int otpc__scheds_new(otpc_node_t *n, unsigned want)
{
    if (!want)
        want = uv_available_parallelism();
    if (want > OTPC__SCHEDULERS_MAX)
        want = OTPC__SCHEDULERS_MAX;
    n->scheds = calloc(want, sizeof *n->scheds);
    if (!n->scheds)
        return OTPC_ENOMEM;
    if (uv_mutex_init(&n->quiet_lock))
        return OTPC_EIO;
    if (uv_cond_init(&n->quiet_cv))
        return OTPC_EIO; /* (a lock that did init is a few bytes lost, once) */
    n->nscheds = n->nhomes = want;
    for (unsigned i = 0; i < want; i++) {
        otpc__sched_t *s = &n->scheds[i];
        if (uv_mutex_init(&s->lock))
            return OTPC_EIO;
        s->node = n;
        s->id = i;
        n->nlocks = i + 1;
        s->loop = i ? &s->own_loop : &n->loop;
        s->wake = i ? &s->own_wake : &n->wake;
        if (ei_x_new(&s->scratch) || ei_x_new(&s->trap_buf))
            return OTPC_ENOMEM;
    }
    return otpc__inbox_init(n);
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
        otpc__buf_free(&s->outbox);
        while (s->msg_pool) {
            otpc__msg_t *m = s->msg_pool;
            s->msg_pool = m->next;
            free(m);
        }
    }
    otpc__inbox_free(n);
    for (unsigned i = 0; i < n->nlocks; i++)
        uv_mutex_destroy(&n->scheds[i].lock);
    if (n->nlocks) {
        uv_mutex_destroy(&n->quiet_lock);
        uv_cond_destroy(&n->quiet_cv);
    }
    free(n->scheds);
    n->scheds = NULL;
}

void **otpc__sched_local(otpc_node_t *n, otpc__ext_key_t *key, otpc__ext_free_fn free_fn)
{
    int slot = atomic_load(&key->slot);
    if (slot && n->sched_ext_free[slot - 1] == free_fn)
        return &otpc__sched_self(n)->ext[slot - 1];
    OTPC__ENTER(n); /* the first use on this node claims the slot: node state */
    slot = atomic_load(&key->slot);
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
    OTPC__ASSERT_ALL(n);
    otpc__turn_final(n);
}

void otpc__turn_final(otpc_node_t *n)
{
    otpc__run_queue(n, 1 << 30);
    flush_hooks(n);
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
    return otpc__timers_init(n);
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
    OTPC__ASSERT_ALL(n);
    if (n->nhomes < 2)
        return &n->scheds[0];
    /* scheduler 0's loop is the node's: sockets go to the others */
    return &n->scheds[1 + n->next_home++ % (n->nhomes - 1)];
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

/* Holding o's lock: o, asleep, must look again (its loop changed, its domain has work). */
static int must_wake(otpc_node_t *n, otpc__sched_t *o)
{
    if (o->rq_head || o->defer_head || loop_has_new_watchers(o->loop))
        return 1;
    if (n->dom_pending && n->dom_pending(n, o->id))
        return 1;
    int t = uv_backend_timeout(o->loop);
    return t >= 0 && uv_now(o->loop) + (uint64_t)t < o->poll_due;
}

/* Not scheduler 0 when another can come: its wake-ups take every lock (it looks in
 * anyway when it sleeps as the watcher). */
static void wake_one(otpc_node_t *n, otpc__sched_t *self)
{
    unsigned last = n->nscheds > 2 ? n->nscheds - 1 : n->nscheds;
    for (unsigned k = 1; k <= last; k++) {
        otpc__sched_t *o = &n->scheds[k % n->nscheds];
        if (o != self && atomic_load(&o->sleeping)) {
            otpc__wake_send(o->wake);
            return;
        }
    }
}

/* Before every lock is let go: each domain's timer on its earliest deadline, and each
 * sleeper whose domain the holder gave work, a timer or a changed loop is woken. */
void otpc__all_end(otpc_node_t *n)
{
    if (!n->sched_set)
        return;
    otpc__sched_t *me = otpc__my_sched;
    int sleepers = atomic_load(&n->sleepers) != 0; /* (changed only holding a lock: ours) */
    for (unsigned i = 0; i < n->nscheds; i++) {
        otpc__sched_t *o = &n->scheds[i];
        otpc__timers_arm(n, o); /* first: must_wake reads the loop's timeout */
        if (sleepers && o != me && atomic_load(&o->sleeping) && must_wake(n, o))
            otpc__wake_send(o->wake);
    }
}

/* uv_run without waiting on loop (this thread's, or a busy scheduler's for it). */
static void run_loop(otpc__sched_t *s, uv_loop_t *loop)
{
    s->in_uvrun = 1;
    uv_run(loop, UV_RUN_NOWAIT);
    s->in_uvrun = 0;
}

/* Run domain o's processes, holding its lock (or all), on thread s. */
static void slice(otpc_node_t *n, otpc__sched_t *s, otpc__sched_t *o)
{
    s->in_slice = 1;
    atomic_fetch_add(&n->in_slice, 1);
    if (n->multi) {
        atomic_store(&s->slice_since, uv_hrtime());
        /* someone must look in on us in case a callback runs long */
        if (!atomic_load(&n->watcher) && atomic_load(&n->sleepers))
            wake_one(n, s);
    }
    otpc__run_dom(n, o, TURN_BUDGET);
    flush_hooks(n);
    otpc__timers_arm(n, o); /* the timeouts its processes asked for */
    atomic_store(&s->slice_since, 0);
    atomic_fetch_sub(&n->in_slice, 1);
    s->in_slice = 0;
    if (!n->multi)
        return;
    atomic_store(&n->last_slice, uv_hrtime());
    if (atomic_load(&n->quiesce)) {
        uv_mutex_lock(&n->quiet_lock);
        uv_cond_signal(&n->quiet_cv);
        uv_mutex_unlock(&n->quiet_lock);
    }
}

/* Holding all (escalated from home, or scheduler 0): what the events of domain o left,
 * then the node's processes if scheduler 0 is not at them (a message delivered here
 * runs at once, not after a wake-up of scheduler 0). */
static void all_work(otpc_node_t *n, otpc__sched_t *s, otpc__sched_t *o)
{
    run_deferred(s, o);
    otpc__sched_t *s0 = &n->scheds[0];
    if (s != s0 && s0->rq_head && !atomic_load(&s0->slice_since) && !n->stopping &&
        !atomic_load(&n->quiesce))
        slice(n, s, s0);
}

/* Domain o's loop and what it leaves, on thread s, holding o's lock (or all). */
static void serve_loop(otpc_node_t *n, otpc__sched_t *s, otpc__sched_t *o)
{
    otpc__inbox_drain(n, o); /* what other domains sent, before what the loop brings */
    run_loop(s, o->loop);
    otpc__inbox_flush(n); /* what its events queued for other domains */
    if (n->stopping)
        return;
    if (o->defer_head) {
        otpc__enter(n);
        all_work(n, s, o);
        otpc__leave(n);
    }
}

/* The flush hooks for domain o, then what they deferred (a peer's flushed callback
 * moving streams on): nothing deferred may wait for a sleep to end. */
static void flush_dom(otpc_node_t *n, otpc__sched_t *s, otpc__sched_t *o)
{
    flush_hooks(n);
    if (o->defer_head && !n->stopping) {
        otpc__enter(n);
        run_deferred(s, o);
        otpc__leave(n);
    }
}

/* Before sleeping, a scheduler may look at its loop for a little while (erl's +sbwt):
 * in a conversation the next message often comes within microseconds, and a sleeping
 * thread takes tens of them to wake. Only while processes ran one or a few at a time
 * since the last sleep: under load each wake-up brings many messages (and the peers'
 * nap gathers them), and spinning would only burn CPU between batches. Returns the ns
 * to look for (-busy_wait_us 0: never). */
static uint64_t busy_wait_ns(otpc_node_t *n, otpc__sched_t *s, int t)
{
    uint64_t ns = n->busy_wait_ns, handled = s->handled - s->handled_at_sleep;
    s->handled_at_sleep = s->handled;
    if (handled) /* else an event without a message (a write done, a tick): as before */
        s->spin_ok = handled <= BUSY_MAX_HANDLED;
    if (!ns || !t || !s->spin_ok)
        return 0;
    if (t > 0 && (uint64_t)t * 1000000u < ns)
        ns = (uint64_t)t * 1000000u;
    return ns;
}

/* Without a lock: whether the loop had events within ns. */
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

/* The schedulers whose slice has lasted WATCH_MS: their loops and processes are the
 * watcher's to look after (at most max of them). */
static unsigned long_slices(otpc_node_t *n, otpc__sched_t *self, otpc__sched_t **out, unsigned max)
{
    unsigned k = 0;
    uint64_t now = uv_hrtime();
    for (unsigned i = 0; i < n->nscheds && k < max; i++) {
        otpc__sched_t *o = &n->scheds[i];
        uint64_t since = atomic_load(&o->slice_since);
        if (o != self && since && now - since >= WATCH_NS)
            out[k++] = o;
    }
    return k;
}

/* As the watcher, on thread s: the domain of o, in a long slice, gets its loop run and
 * its other processes taken (they would wait behind the long one). Domain 0 needs all;
 * another domain its lock, if nobody holds it (o's callback let go of it). */
/* Holding o's lock (or all): its loop, its runnable processes, its output. */
static void serve_busy(otpc_node_t *n, otpc__sched_t *s, otpc__sched_t *o)
{
    /* a timer its busy callback set: its owner arms it only once the slice ends */
    otpc__timers_arm(n, o);
    serve_loop(n, s, o);
    if (o->rq_head && !n->stopping && !atomic_load(&n->quiesce))
        slice(n, s, o);
    flush_dom(n, s, o); /* what its events produced (a timer's send to a peer) */
}

static void look_in(otpc_node_t *n, otpc__sched_t *s, otpc__sched_t *o)
{
    if (!atomic_load(&o->slice_since) || n->stopping)
        return;
    if (o->id == 0 || otpc__held_dom == OTPC__ALL) {
        otpc__enter(n);
        serve_busy(n, s, o);
        otpc__leave(n);
        return;
    }
    otpc__home_leave(n);
    if (uv_mutex_trylock(&o->lock) == 0) {
        otpc__held = n;
        otpc__held_dom = (int)o->id;
        otpc__held_depth = 1;
        if (!o->escalating)
            serve_busy(n, s, o);
        otpc__home_leave(n);
    }
    retake(n, s);
}

/* Sleep until this scheduler's loop (or, as the watcher, a busy one's) has something
 * or t ms passed, without a lock. */
static void sleep_on_loop(otpc_node_t *n, otpc__sched_t *s, int t)
{
    struct pollfd pfd[1 + WATCH_MAX];
    otpc__sched_t *busy[WATCH_MAX];
    unsigned nbusy = 0;
    pfd[0] = (struct pollfd){.fd = uv_backend_fd(s->loop), .events = POLLIN};
    s->poll_due = t < 0 ? UINT64_MAX : uv_now(s->loop) + (uint64_t)t;
    /* scheduler 0 takes every lock each time it wakes: it watches only when no other
     * scheduler sleeps that could (with two schedulers, it is the only one that can
     * look in on scheduler 1) */
    int may_watch = s->id != 0 || n->nscheds == 2 || !atomic_load(&n->sleepers);
    otpc__sched_t *none = NULL;
    int watch =
        n->multi && may_watch &&
        (atomic_load(&n->in_slice) || uv_hrtime() - atomic_load(&n->last_slice) < LINGER_NS) &&
        atomic_compare_exchange_strong(&n->watcher, &none, s);
    if (watch) {
        if (t < 0 || t > WATCH_MS)
            t = WATCH_MS;
        nbusy = long_slices(n, s, busy, WATCH_MAX);
        for (unsigned i = 0; i < nbusy; i++)
            pfd[1 + i] = (struct pollfd){.fd = uv_backend_fd(busy[i]->loop), .events = POLLIN};
    }
    uint64_t spin = busy_wait_ns(n, s, t);
    /* ms until its own loop's next timer (or never) */
    uint64_t own_ms = s->poll_due == UINT64_MAX ? UINT64_MAX : s->poll_due - uv_now(s->loop);
    uint64_t slept_at = uv_hrtime();
    atomic_store(&s->sleeping, 1);
    atomic_fetch_add(&n->sleepers, 1);
    release_all(n);
    int hit = busy_wait(pfd, spin);
    while (!hit) {
        if (poll(pfd, 1 + nbusy, t) != 0 || !watch || n->stopping)
            break;
        /* A watcher's timeout with nothing to see: look again without taking a lock
         * (anyone who gives this scheduler work wakes it), until a slice runs long,
         * slices stop, or its own timer is due. */
        uint64_t now = uv_hrtime();
        if (own_ms != UINT64_MAX && (now - slept_at) / 1000000u >= own_ms)
            break;
        if (!atomic_load(&n->in_slice) && now - atomic_load(&n->last_slice) >= LINGER_NS)
            break;
        otpc__sched_t *one;
        if (long_slices(n, s, &one, 1))
            break;
    }
    retake(n, s);
    atomic_fetch_sub(&n->sleepers, 1);
    atomic_store(&s->sleeping, 0);
    if (spin && !hit)
        s->spin_ok = 0; /* the conversation paused: sleep at once until it resumes */
    if (!watch)
        return;
    atomic_store(&n->watcher, NULL);
    nbusy = long_slices(n, s, busy, WATCH_MAX); /* who is still busy */
    for (unsigned i = 0; i < nbusy; i++)
        look_in(n, s, busy[i]);
}

/* This scheduler's loop, once without waiting; then, if `wait` and nothing became
 * runnable, sleep until the loop has something. Never a blocking uv_run, even with
 * one scheduler: the callbacks of its timer and idle phases only mark work (a turn
 * is the loop's business), which the poll phase after them would then sleep on. */
static void poll_once(otpc_node_t *n, otpc__sched_t *s, int wait)
{
    serve_loop(n, s, s);
    if (n->stopping || s->rq_head || !wait)
        return;
    flush_dom(n, s, s); /* what event callbacks produced without a process */
    /* a record that came after the drain may have had its wake-up eaten by uv_run (the
     * inbox wakes only when it was empty): look again rather than sleep on it */
    otpc__inbox_flush(n);
    if (s->rq_head || s->defer_head || atomic_load(&s->inbox_pending))
        return;
    otpc__timers_arm(n, s); /* before the timeout is read */
    int t = uv_backend_timeout(s->loop);
    sleep_on_loop(n, s, t);
}

static void sched_loop(otpc_node_t *n, otpc__sched_t *s)
{
    while (!n->stopping) {
        if (s->rq_head && !atomic_load(&n->quiesce)) {
            slice(n, s, s);
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
    otpc__home_enter(n, (int)s->id);
    sched_loop(n, s);
    otpc__home_leave(n);
}

int otpc__sched_run(otpc_node_t *n)
{
    OTPC__ASSERT(otpc__held == n && otpc__held_dom == OTPC__ALL && otpc__held_depth == 1);
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
    otpc__leave(n);
    for (unsigned i = 0; i < started; i++)
        uv_thread_join(&n->threads[i]);
    free(n->threads);
    n->threads = NULL;
    n->multi = 0; /* alone from here: the rest of the stop takes no lock */
    otpc__enter(n);
    return 0;
}

void otpc__sched_quiesce(otpc_node_t *n)
{
    OTPC__ASSERT_ALL(n);
    if (!n->multi)
        return;
    atomic_store(&n->quiesce, 1);
    unsigned mine = (unsigned)otpc__sched_self(n)->in_slice;
    while (atomic_load(&n->in_slice) > mine) {
        /* every lock goes while we wait, so that the slices can end */
        for (unsigned i = n->nscheds; i-- > 0;)
            uv_mutex_unlock(&n->scheds[i].lock);
        uv_mutex_lock(&n->quiet_lock);
        if (atomic_load(&n->in_slice) > mine)
            (void)uv_cond_timedwait(&n->quiet_cv, &n->quiet_lock, WATCH_NS);
        uv_mutex_unlock(&n->quiet_lock);
        otpc__lock_all(n);
    }
    atomic_store(&n->quiesce, 0);
}
