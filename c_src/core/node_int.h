/*
 * The core of a node: processes, mailboxes, names, links and monitors, timers and the
 * scheduler turn. It names nothing of the layers above it: they reach it through
 * function pointer tables (remote signals, behaviours, turn hooks) and keep their own
 * state in ext slots.
 * Everything here is touched only by a scheduler thread holding the lock of the domain
 * it belongs to, or every lock (see "the locks" below), except the event queue, which
 * the I/O thread fills.
 */
#ifndef OTPC_PROC_NODE_INT_H
#define OTPC_PROC_NODE_INT_H

#include <ei.h>
#include <stdatomic.h>
#include <uv.h>

#include "proto/ctrl.h"
#include "proto/handshake.h"
#include "proto/term.h"
#include "otpc.h"
#include "util/assert.h"
#include "util/buf.h"
#include "util/mq.h"
#include "util/wake.h"

/* ---- constant terms ------------------------------------------------------------ */

/* A versioned small atom as a byte array, and a term view of such an array. */
#define OTPC__VATOM(len, ...)                                              \
    {                                                                      \
        (char)ERL_VERSION_MAGIC, ERL_SMALL_ATOM_UTF8_EXT, len, __VA_ARGS__ \
    }
#define OTPC__TERM(a) ((otpc_term_t){(a), sizeof(a)})
/* msg is exactly the versioned term in a (an array as above). */
#define OTPC__MSG_IS(msg, a) ((msg).size == sizeof(a) && memcmp((msg).data, (a), sizeof(a)) == 0)
/* The reasons every layer ends processes with (core/encode.c). */
extern const char otpc__t_normal[9], otpc__t_shutdown[11];

/* A flush hook of the scheduler turn (core/sched.c). */
typedef void (*otpc__turn_hook_fn)(otpc_node_t *n);
#define OTPC__TURN_HOOKS_MAX 8

/* ---- atoms: interned names (node names, registered names) --------------------- */

typedef struct {
    char **names;   /* id -> NUL-terminated name; id 0 unused */
    uint32_t count; /* ids in use, including 0 */
    uint32_t cap;
    uint32_t *slots; /* open addressing: id or 0 */
    uint32_t nslots;
} otpc__atoms_t;

uint32_t otpc__atom(otpc__atoms_t *t, const char *name, size_t len); /* 0 on ENOMEM */
/* Lookup only: 0 when the name was never interned. */
uint32_t otpc__atom_find(const otpc__atoms_t *t, const char *name, size_t len);
const char *otpc__atom_name(const otpc__atoms_t *t, uint32_t id);
void otpc__atoms_free(otpc__atoms_t *t);

/* ---- mailbox items --------------------------------------------------------------- */

typedef enum {
    OTPC__M_MSG,       /* data: a message, with version byte */
    OTPC__M_EXIT_LINK, /* exit signal through a link; data: reason without version byte */
    OTPC__M_EXIT2,     /* exit/2 signal; data: reason without version byte */
    OTPC__M_BEH        /* for the process's behaviour (beh->item): gen_server's {continue, C};
                  * data: a versioned term */
} otpc__msg_kind_t;

typedef struct otpc__msg {
    struct otpc__msg *next;
    otpc__msg_kind_t kind;
    uint32_t len;
    otpc_pid_t from;
    char *data;  /* the term: `inline_data`, or inside `block` */
    void *block; /* a buffer this item took over instead of a copy (otpc__msg_offer), or
                  * NULL; released with the item (otpc__mem_release) */
    int block_mapped;
    char inline_data[];
} otpc__msg_t;

/* ---- links and monitors ----------------------------------------------------------- */

typedef struct {
    otpc_pid_t pid;
    uint64_t unlinking; /* nonzero: UNLINK_ID sent with this id, waiting for the ack */
} otpc__link_t;

typedef struct otpc__mon {
    otpc_ref_t ref;
    otpc_pid_t pid;     /* watcher (on monitors of me) or target (on monitors I hold) */
    uint32_t name;      /* by-name monitor: the registered name, else 0 */
    uint32_t name_node; /* monitors I hold by name: the target's node */
} otpc__mon_t;

typedef struct {
    void *items;
    uint32_t len, cap;
} otpc__vec_t;

/* The monitored object a MONITOR_P_EXIT names, as the watcher gave it: a pid, a
 * registered name (atom id), or a term the peer sent that was never interned (raw,
 * unversioned). The first set of raw, name, pid wins. */
typedef struct {
    const otpc_pid_t *pid;
    uint32_t name;
    const char *raw;
    size_t raw_len;
} otpc__mobj_t;

/* Signals to processes on other nodes. Core sends every signal that leaves the node
 * through this table, which the distribution layer installs at start-up
 * (distribution/dsig.c); core itself encodes no control message. `msg` of a send is
 * versioned, reasons are unversioned; each returns 0 or an OTPC_E* code. */
typedef struct {
    /* from: the local process sending (NULL: none); SEND does not carry it, but a
     * process's signals to one node keep their order by it */
    int (*send)(otpc_node_t *n, const otpc_pid_t *from, const otpc_pid_t *to, const char *msg,
                size_t len);
    int (*reg_send)(otpc_node_t *n, const otpc_pid_t *from, uint32_t node, const char *name,
                    const char *msg, size_t len);
    int (*link)(otpc_node_t *n, const otpc_pid_t *from, const otpc_pid_t *to);
    int (*unlink_id)(otpc_node_t *n, uint64_t id, const otpc_pid_t *from, const otpc_pid_t *to,
                     int ack);
    int (*exit)(otpc_node_t *n, const otpc_pid_t *from, const otpc_pid_t *to, const char *reason,
                size_t len, int via_link);
    int (*monitor)(otpc_node_t *n, const otpc_pid_t *watcher, const struct otpc__mon *m,
                   int demonitor);
    int (*monitor_exit)(otpc_node_t *n, const otpc__mobj_t *obj, const otpc_pid_t *watcher,
                        const otpc_ref_t *ref, const char *reason, size_t len);
    /* SPAWN_REPLY to a spawn request: the new process (flags: 1 linked, 2 monitored),
     * or error (an atom: notsup, system_limit, ...) when pid is NULL */
    int (*spawn_reply)(otpc_node_t *n, const otpc_ref_t *req, const otpc_pid_t *to, int flags,
                       const otpc_pid_t *pid, const char *error);
} otpc__remote_t;

#define REMOTE(n, op, ...) \
    (OTPC__ASSERT_ALL(n), (n)->remote ? (n)->remote->op((n), __VA_ARGS__) : 0)

/* A SPAWN_REQUEST from another node, for the layer that runs spawns (services/rpc.c);
 * without one, core answers notsup. */
typedef void (*otpc__spawn_fn)(otpc_node_t *n, const otpc__ctrl_t *c);

/* A spawn request's new process p gets the requester as link and/or monitor (the
 * request id is the monitor's reference), before the reply says so: the flags for
 * SPAWN_REPLY (1 linked, 2 monitored). */
int otpc__spawned_for(otpc_node_t *n, const otpc_pid_t *p, const otpc_pid_t *parent,
                      const otpc_ref_t *ref, int link, int monitor);

/* ---- processes ------------------------------------------------------------------ */

/* A process that stands for a socket (a daemon connection, daemon/session.c): gen
 * replies addressed to it and pushes from its server are written to the socket by
 * this hook instead of going through its mailbox. tag: the caller's tag bytes, or NULL
 * for a push; body: one term without version byte, borrowed. 0 or an OTPC_E* code. */
typedef int (*otpc__wire_fn)(otpc_proc_t *conn, const otpc__span_t *tag, const char *body,
                             size_t len);

/* What a behaviour adds to a plain process: gen_server (otp/gen_server.c) or a daemon
 * connection (daemon/session.c). Core calls these for what it queued on the
 * behaviour's behalf, so it names nothing above it. Any may be NULL. */
typedef struct {
    void (*item)(otpc_proc_t *p, otpc_term_t item);    /* an OTPC__M_BEH mailbox item */
    void (*timeout)(otpc_proc_t *p, otpc_timer_t ref); /* its OTPC__TIMER_BEH fired */
    otpc__wire_fn wire; /* gen replies to this process (and pushes) skip its mailbox */
} otpc__beh_t;

struct otpc_proc {
    otpc_node_t *node;
    otpc_pid_t pid;
    uint32_t name;
    const otpc_proc_ops_t *ops;
    void *data;
    otpc__msg_t *mhead, *mtail;
    int trap_exit;
    int in_runq;
    int running;        /* inside run_one (on one scheduler): an exit must not free it,
                         * nor another scheduler run it */
    int system;         /* otpc's own process: its callbacks keep their lock(s) */
    int exiting;        /* otpc_exit() was called: exit after the current callback */
    otpc__buf_t reason; /* the exit reason, without version byte, once exiting */
    struct otpc_proc *rq_next;
    otpc__vec_t links;      /* of otpc__link_t */
    otpc__vec_t mons_in;    /* of otpc__mon_t: monitors others hold on me */
    otpc__vec_t mons_out;   /* of otpc__mon_t: monitors I hold */
    uint32_t parked;        /* nonzero: not run until otpc__proc_unpark(.., parked); set by
                           * the layer that holds it back (distribution: a busy peer) */
    unsigned home;          /* the scheduler whose domain it belongs to (core/sched.c) */
    const otpc__beh_t *beh; /* its behaviour, or NULL for a plain process */
    void *beh_data;         /* the behaviour's state */
};

/* ---- timers ------------------------------------------------------------------------ */

enum { OTPC__TIMER_SEND = 1, OTPC__TIMER_BEH /* calls beh->timeout */ };

typedef struct {
    uint64_t due; /* uv_now() milliseconds */
    uint64_t seq;
    uint32_t gen;
    uint32_t pos; /* heap index, or UINT32_MAX when free */
    uint32_t next_free;
    int kind;
    otpc_pid_t to;
    struct otpc__msg *msg; /* send timers: the message, owned */
} otpc__timer_slot_t;

typedef struct {
    otpc__timer_slot_t *slots;
    uint32_t *heap; /* slot numbers */
    uint32_t len, cap;
    uint32_t free_head; /* slot + 1; 0: none */
    uint64_t seq;
    uint64_t (*clock_ns)(void); /* NULL: uv_hrtime (a test sets its own) */
    int dirty;                  /* the earliest deadline may have moved: arm again */
    uint64_t armed_due;         /* what its uv_timer_t is armed for (loop ms); 0: not armed */
} otpc__timers_t;

/* ---- per-layer state --------------------------------------------------------------- */

/* State an upper layer keeps per node, found by a key that layer owns, so core names
 * none of its fields. A key gets its slot the first time a node adds it; every node of
 * the process uses the same slot for it. */
#define OTPC__EXT_MAX 16
typedef struct {
    _Atomic int slot; /* slot + 1; 0 until first added */
} otpc__ext_key_t;
typedef void (*otpc__ext_free_fn)(otpc_node_t *n, void *state);

/* Attach state (owned by the node from here; free_fn, may be NULL, runs at
 * otpc_node_free). 0 or OTPC_ENOMEM when all slots are taken. */
int otpc__ext_add(otpc_node_t *n, otpc__ext_key_t *key, void *state, otpc__ext_free_fn free_fn);
void otpc__ext_free_all(otpc_node_t *n);

/* ---- schedulers ------------------------------------------------------------------- */

/* What each scheduler thread keeps for itself: the process it runs, the buffers a
 * process's turn builds in (another scheduler may run while this one's callback holds a
 * view into them), and its loop: the sockets it owns and polls. Upper layers keep theirs
 * in `ext` (otpc__sched_local). Scheduler 0 is the thread in otpc_node_run (and, before
 * it runs, the thread setting the node up); its loop is the node's (`n->loop`: signals,
 * the timer, the wake-up the I/O thread and the blocking-work pool use). */
#define OTPC__SCHEDULERS_MAX 1024 /* -schedulers beyond this get this many */

typedef struct otpc__sched {
    otpc_node_t *node;
    unsigned id;
    uv_thread_t thread;
    otpc_proc_t *current;         /* the process whose callback runs on this thread, else NULL */
    int in_slice;                 /* running processes (counted in node's in_slice) */
    _Atomic uint64_t slice_since; /* uv_hrtime() its slice began (multi only), 0 outside one */
    uint64_t handled;             /* messages and signals this thread's processes handled */
    otpc__buf_t outbox;           /* this thread's records for inboxes (core/inbox.c) */
    struct otpc__msg *msg_pool;   /* this thread's free mailbox items */
    uint32_t msg_pool_len;
    struct {
        void *block; /* otpc__msg_offer's, until otpc__msg_offer_end; NULL: none */
        int mapped;
        const char *lo;
        size_t len;
        int taken;
    } offer;            /* a peer's reader on this thread offers a reassembled message (proc.c) */
    ei_x_buff scratch;  /* messages built by otpc itself (DOWN, EXIT, reply heads) */
    ei_x_buff trap_buf; /* {'EXIT', From, Reason} handed to a trapping process */
    void *ext[OTPC__EXT_MAX];

    /* Its domain (core/sched.c): the processes homed here, their run queue, and its
     * loop with the endpoints homed here. Under `lock` (or every lock). */
    uv_mutex_t lock;
    otpc_proc_t *rq_head, *rq_tail;
    struct otpc__defer *defer_head; /* work its events left for every lock (otpc__defer) */
    otpc__mq_t inbox;               /* from other domains (core/inbox.c) */
    int inbox_ready;
    _Atomic int inbox_pending; /* set with each record, cleared by the drain */
    int draining;              /* its inbox is being applied (no re-entry) */
    /* The thread running it let go of its lock to take all (otpc__escalate) and has not
     * got them yet: nobody writes its endpoints' output or runs its processes until it
     * has, so what that thread queued before (a reply) goes out only with what it does
     * holding all (the server's exit): a caller that has the reply sees the exit's
     * effects too. */
    int escalating;
    uv_loop_t *loop;    /* scheds[0]: &n->loop, else &own_loop */
    otpc__wake_t *wake; /* wakes its poller: scheds[0]: &n->wake, else &own_wake */
    uv_loop_t own_loop;
    otpc__wake_t own_wake;
    int loop_ready;            /* own_loop and own_wake are initialized */
    otpc__timers_t timers;     /* its processes' timers (core/timer.c) */
    uv_timer_t timer;          /* on `loop`: the earliest of `timers` */
    int timer_ready;           /* `timer` is initialized */
    int in_uvrun;              /* this thread is inside uv_run: turns only mark */
    _Atomic int sleeping;      /* asleep in poll() without the lock */
    uint64_t poll_due;         /* when that poll() times out (its loop's ms; UINT64_MAX: never) */
    uint64_t handled_at_sleep; /* `handled` when it last went to sleep */
    int spin_ok;               /* busy_wait_ns: conversations lately, not batches */
} otpc__sched_t;

/* ---- the node --------------------------------------------------------------------- */

struct otpc_node {
    otpc_node_opts_t opts;
    char name[OTPC__NODE_NAME_MAX + 1];
    char alive[OTPC__NODE_NAME_MAX + 1];
    char cookie[256];
    uint32_t self_atom;
    uint32_t creation;
    _Atomic int stopping;
    int sched_set; /* otpc_node_run has started: core state needs its lock(s) */

    /* Schedulers (core/sched.c). Each scheduler's domain has a lock; holding every one
     * of them (in order: "all") guards everything, as one node lock would. A scheduler
     * of its own domain (1..) holds only its lock while it polls its loop and runs its
     * processes ("home"), touching nothing of another domain's; anything else takes
     * all (otpc__enter). Scheduler 0's domain is the node's: its loop carries the
     * node's handles, its processes run holding all. Locks are let go around user
     * callbacks and while sleeping. With one scheduler (`multi` 0) none is taken. */
    otpc__sched_t *scheds;
    unsigned nscheds;
    unsigned nlocks; /* scheds' locks initialized (otpc__scheds_free) */
    int multi;
    uv_mutex_t quiet_lock; /* with quiet_cv: stop waits for the slices in progress */
    uv_cond_t quiet_cv;
    uint64_t busy_wait_ns;          /* a poller looks this long before it sleeps (opts) */
    _Atomic unsigned in_slice;      /* schedulers running processes */
    _Atomic unsigned in_user;       /* schedulers inside user callbacks (lock let go) */
    _Atomic unsigned sleepers;      /* schedulers asleep in poll() */
    _Atomic uint64_t all_locks;     /* times a thread took every lock (otpc_node:lock_stats) */
    _Atomic int quiesce;            /* stop wants every slice ended */
    otpc__sched_t *_Atomic watcher; /* the sleeper that looks in on busy ones, or NULL */
    _Atomic uint64_t last_slice;    /* uv_hrtime() of the last slice's end */
    unsigned next_home;             /* round robin of otpc__sched_pick (under all) */
    unsigned nhomes;                /* schedulers whose loops take endpoints (those running) */
    unsigned spawn_home;            /* under all: the home of the next spawns + 1 (0: the
                                     * spawner's, or the node's) */
    int (*dom_pending)(otpc_node_t *n, unsigned dom); /* its output waits (transport) */
    /* applies an upper layer's inbox record (distribution: a reply for a peer) */
    void (*inbox_upper)(otpc_node_t *n, const char *data, size_t len);
    uv_thread_t *threads; /* schedulers 1..nscheds-1 */
    otpc__ext_free_fn sched_ext_free[OTPC__EXT_MAX];

    uv_loop_t loop;    /* scheduler 0's loop */
    otpc__wake_t wake; /* wakes it from other threads (I/O events, async replies) */

    otpc__atoms_t atoms;
    otpc_proc_t **procs; /* by pid number */
    uint32_t nprocs_cap;
    uint32_t next_num;
    uint32_t serial;
    uint32_t live;
    otpc_proc_t **names; /* by atom id */
    uint32_t names_cap;
    otpc__turn_hook_fn hooks[OTPC__TURN_HOOKS_MAX]; /* core/sched.c */
    unsigned nhooks;
    _Atomic uint64_t ref_counter;
    uint32_t ref_salt;
    uint64_t unlink_counter;
    const otpc__remote_t *remote; /* signals to other nodes (distribution/dsig.c) */
    otpc__spawn_fn spawn;         /* spawn requests from other nodes (services/rpc.c) */
    void (*stop)(otpc_node_t *n); /* ask the node to stop (node/node.c: otpc_node_stop) */
    otpc__vec_t node_watchers;    /* of otpc_pid_t: otpc_monitor_nodes (signal.c) */

    void *ext[OTPC__EXT_MAX]; /* upper layers' state: otpc__ext_add */
    otpc__ext_free_fn ext_free[OTPC__EXT_MAX];
};

/* ---- the locks --------------------------------------------------------------------- */

/* What this thread holds: nothing, one domain's lock (home: otpc__held_dom is its
 * scheduler id) or every lock (OTPC__ALL), nested by depth so that otpc code calling
 * the public API does not take them twice. Asking for all while home (a process's
 * callback calling otpc_link, say) lets go of the home lock and takes all in order,
 * and goes back home when that level is left (otpc__esc_depth). */
#define OTPC__ALL (-1)
extern _Thread_local otpc_node_t *otpc__held;
extern _Thread_local unsigned otpc__held_depth;
extern _Thread_local int otpc__held_dom;
extern _Thread_local unsigned otpc__esc_depth; /* depth of an escalation's level; 0: none */
extern _Thread_local int otpc__esc_home;       /* the domain it goes back to */
extern _Thread_local otpc__sched_t *otpc__my_sched;

void otpc__lock_all(otpc_node_t *n);
void otpc__inbox_flush(otpc_node_t *n); /* inbox.c */
/* Every lock, then every domain's inbox applied (core/inbox.c): what other domains
 * queued comes before what the holder does. The thread-locals say "all" already. */
void otpc__lock_all_drained(otpc_node_t *n);
void otpc__unlock_all(otpc_node_t *n);
void otpc__escalate(otpc_node_t *n);
void otpc__deescalate(otpc_node_t *n);
/* A scheduler loop's own hold on its domain d (all, for domain 0), and its release
 * (core/locks.c). */
void otpc__home_enter(otpc_node_t *n, int d);
void otpc__home_leave(otpc_node_t *n);
/* Before every lock is let go: timers armed, sleepers given work woken (core/sched.c). */
void otpc__all_end(otpc_node_t *n);
/* Tests only (NULL otherwise): runs in otpc__escalate after the home lock went and
 * before all are taken, to widen that window (the test node's -escalate_pause). */
extern void (*otpc__escalate_hook)(void);

static inline otpc_node_t *otpc__enter(otpc_node_t *n)
{
    if (otpc__held == n) {
        if (otpc__held_dom != OTPC__ALL)
            otpc__escalate(n);
        otpc__held_depth++;
        return n;
    }
    otpc__held = n;
    otpc__held_dom = OTPC__ALL;
    otpc__held_depth = 1;
    if (n->multi)
        otpc__lock_all_drained(n);
    return n;
}

/* Hold what belongs to domain `home` (a process's own state, and reading what only a
 * thread holding all writes): its lock, unless this thread holds it or all already.
 * Domain 0 is the node's: all. */
static inline otpc_node_t *otpc__enter_dom(otpc_node_t *n, unsigned home)
{
    if (otpc__held == n && (otpc__held_dom == OTPC__ALL || otpc__held_dom == (int)home)) {
        otpc__held_depth++;
        return n;
    }
    if (otpc__held == n || home == 0)
        return otpc__enter(n);
    if (n->multi)
        uv_mutex_lock(&n->scheds[home].lock);
    otpc__held = n;
    otpc__held_dom = (int)home;
    otpc__held_depth = 1;
    return n;
}

static inline void otpc__leave(otpc_node_t *n)
{
    if (otpc__esc_depth == otpc__held_depth)
        otpc__deescalate(n);
    if (--otpc__held_depth)
        return;
    otpc__held = NULL;
    if (!n->multi)
        return;
    if (otpc__held_dom == OTPC__ALL)
        otpc__unlock_all(n);
    else
        uv_mutex_unlock(&n->scheds[otpc__held_dom].lock);
    /* a user callback's sends to other domains go now, not when it returns */
    if (otpc__my_sched && otpc__my_sched->outbox.len)
        otpc__inbox_flush(n);
}

static inline void otpc__leave_at(otpc_node_t **n)
{
    otpc__leave(*n);
}

/* First statement of a public function that touches node state: holds every lock
 * until the function returns, whichever way (a cleanup, so early returns stay). */
#define OTPC__ENTER(n) \
    otpc_node_t *otpc__entered __attribute__((cleanup(otpc__leave_at), unused)) = otpc__enter(n)
/* The same for what belongs to one domain (otpc__enter_dom). */
#define OTPC__ENTER_DOM(n, home)                                                      \
    otpc_node_t *otpc__entered_dom __attribute__((cleanup(otpc__leave_at), unused)) = \
        otpc__enter_dom((n), (home))

/* This thread holds every lock (or the node does not run yet / runs one scheduler). */
static inline int otpc__all_held(const otpc_node_t *n)
{
    return !n->sched_set || (otpc__held == n && otpc__held_dom == OTPC__ALL);
}
/* This thread may touch what belongs to domain `home`. */
static inline int otpc__dom_held(const otpc_node_t *n, unsigned home)
{
    return !n->sched_set ||
           (otpc__held == n && (otpc__held_dom == OTPC__ALL || otpc__held_dom == (int)home));
}
#define OTPC__ASSERT_ALL(n) OTPC__ASSERT(otpc__all_held(n))
#define OTPC__ASSERT_DOM(n, home) OTPC__ASSERT(otpc__dom_held((n), (home)))

/* Work a domain's event left for every lock: run by that domain's scheduler once its
 * loop has run, holding all (the event itself held only the domain's lock). The owner
 * embeds it and cancels it before it is freed. */
typedef struct otpc__defer {
    struct otpc__defer *next;
    void (*fn)(struct otpc__defer *d);
    int queued;
} otpc__defer_t;
/* Queue d on the domain this thread holds (at once when it holds all). */
void otpc__defer(otpc_node_t *n, otpc__defer_t *d);
/* Take d off its queue if it is on one (under all, or its domain's lock). */
void otpc__defer_cancel(otpc_node_t *n, otpc__defer_t *d);

/* Around a user callback: the lock is let go (other schedulers run meanwhile) and taken
 * back. The callback's process is `running`, so nothing else runs it meanwhile. */
unsigned otpc__user_begin(otpc_node_t *n);
void otpc__user_end(otpc_node_t *n, unsigned saved);
#define OTPC__USER(n, call)                         \
    do {                                            \
        unsigned otpc__saved = otpc__user_begin(n); \
        call;                                       \
        otpc__user_end(n, otpc__saved);             \
    } while (0)

/* This thread's scheduler (scheduler 0 for a thread that is none). */
static inline otpc__sched_t *otpc__sched_self(otpc_node_t *n)
{
    otpc__sched_t *s = otpc__my_sched;
    return s && s->node == n ? s : &n->scheds[0];
}
static inline otpc_proc_t *otpc__current(otpc_node_t *n)
{
    return otpc__sched_self(n)->current;
}
static inline ei_x_buff *otpc__scratch(otpc_node_t *n)
{
    return &otpc__sched_self(n)->scratch;
}
/* This scheduler's slot for key (an upper layer's per-scheduler state); free_fn runs
 * on it at otpc_node_free. NULL only on ENOMEM of the first slot. */
void **otpc__sched_local(otpc_node_t *n, otpc__ext_key_t *key, otpc__ext_free_fn free_fn);

/* Node state may only be touched holding a lock once the node runs (before
 * otpc_node_run, the creating thread sets the node up). */
#define OTPC__ASSERT_SCHED(n) OTPC__ASSERT(!(n)->sched_set || otpc__held == (n))

/* sched.c: the turn (run queue, flush hooks, timer) */
/* Run after the run queue in every turn, in the order added. From start-up only. */
int otpc__turn_hook_add(otpc_node_t *n, otpc__turn_hook_fn fn);
/* Schedulers' state for opts.schedulers (0: the CPUs this process may use). */
int otpc__scheds_new(otpc_node_t *n, unsigned want);
void otpc__scheds_free(otpc_node_t *n);
/* otpc_node_run: the timer, and the loops of schedulers 1.. (0 or OTPC_EIO); closed
 * (every handle left on them, then the loops) by otpc__sched_loops_close. */
int otpc__sched_init(otpc_node_t *n);
void otpc__sched_loops_close(otpc_node_t *n);
/* The scheduler whose loop a new endpoint goes to (round robin), so sockets spread
 * over the schedulers that poll them. */
otpc__sched_t *otpc__sched_pick(otpc_node_t *n);
/* otpc_node_run: start the other schedulers, run this one until the node stops, end
 * and join the others. Called holding the lock. */
int otpc__sched_run(otpc_node_t *n);
/* Stop from inside the loop (the poller): every slice in progress ends first; from
 * here on callbacks keep the lock, so the rest of the stop runs alone. */
void otpc__sched_quiesce(otpc_node_t *n);
/* uv_close callback for a handle that is its own malloc'd block. */
void otpc__free_handle(uv_handle_t *h);
void otpc__turn(otpc_node_t *n);
/* Shutdown: everything runnable, then the hooks once more (no timers). */
void otpc__turn_final(otpc_node_t *n);

/* proc.c */
/* otpc_spawn for otpc's own processes (services, gen_server's runtime, sessions): their
 * callbacks run holding every lock, as they use otpc's internals (and live in the
 * node's domain). */
int otpc__spawn_sys(otpc_node_t *n, const otpc_proc_ops_t *ops, void *arg, otpc_pid_t *out);
/* The same for a kind of process whose callbacks may run holding only its domain's
 * lock (gen_server's runtime, a daemon session): it goes to its spawner's domain (or
 * n->spawn_home's), not always to the node's. */
int otpc__spawn_sys_homed(otpc_node_t *n, const otpc_proc_ops_t *ops, void *arg, otpc_pid_t *out);
otpc_proc_t *otpc__proc_lookup(otpc_node_t *n, const otpc_pid_t *pid);
otpc_proc_t *otpc__proc_by_name(otpc_node_t *n, uint32_t name);
int otpc__pid_is_local(const otpc_node_t *n, const otpc_pid_t *pid);
otpc__msg_t *otpc__msg_new(otpc_node_t *n, otpc__msg_kind_t kind, const otpc_pid_t *from,
                           const char *data, size_t len);
void otpc__deliver(otpc_node_t *n, otpc_proc_t *p, otpc__msg_t *m);
/* Copy data (one versioned, well-formed term) into the mailbox of the local pid `to`;
 * a dead one drops it. */
int otpc__send_local(otpc_node_t *n, const otpc_pid_t *from, const otpc_pid_t *to, const char *data,
                     size_t len);
/* Put the chain head..tail in front of the mailbox (continue, resumed messages). */
void otpc__deliver_front(otpc_node_t *n, otpc_proc_t *p, otpc__msg_t *head, otpc__msg_t *tail);
void otpc__msg_free(otpc_node_t *n, otpc__msg_t *m);
/* Messages at least this large may take an offered buffer instead of a copy. */
#define OTPC__MSG_ADOPT_MIN (256 * 1024)
/* Offer `block` (a buffer's data, `mapped` its kind, holding [lo, lo + len)) to the next
 * otpc__msg_new whose data lies inside that range and is at least OTPC__MSG_ADOPT_MIN
 * bytes: that item takes the block instead of copying (peer.c hands a message
 * reassembled from fragments to the mailbox so: no 64 MiB copy on the scheduler's path;
 * released, the block becomes the spare the next large message is rebuilt in). */
void otpc__msg_offer(otpc_node_t *n, void *block, int mapped, const char *lo, size_t len);
/* End the offer: 1 when an item took the block (the caller no longer owns it), else 0. */
int otpc__msg_offer_end(otpc_node_t *n);
/* 0 if msg is exactly one well-formed versioned term, else OTPC_EBADARG. */
int otpc__check_term(otpc_term_t msg);
/* Run domain o's processes (holding its lock or all) on this thread. */
void otpc__run_dom(otpc_node_t *n, otpc__sched_t *o, int budget);
/* Every domain's, holding all (a stop's end, tests). */
void otpc__run_queue(otpc_node_t *n, int budget);
/* The process `pid`, if it is still parked with `key`, may run again. */
void otpc__proc_unpark(otpc_node_t *n, const otpc_pid_t *pid, uint32_t key);
void otpc__proc_exit_now(otpc_proc_t *p, const char *reason, size_t len);
void otpc__vec_del(otpc__vec_t *v, uint32_t i, size_t size);
int otpc__vec_push(otpc__vec_t *v, const void *item, size_t size);
otpc_pid_t otpc__pid_from_ei(otpc_node_t *n, const erlang_pid *e);
/* The same for a node whose name is known, looked up and never interned (a domain's
 * lock may read the atoms, not add to them): 1, or 0 when the name is new. */
int otpc__pid_known(otpc_node_t *n, const erlang_pid *e, otpc_pid_t *out);
int otpc__ref_known(otpc_node_t *n, const erlang_ref *e, otpc_ref_t *out);
int otpc__ref_from_ei(otpc_node_t *n, const erlang_ref *e, otpc_ref_t *out);

/* term.c (proc): encoding pieces, all into an ei_x_buff */
int otpc__x_pid(otpc_node_t *n, ei_x_buff *x, const otpc_pid_t *pid);
int otpc__x_ref(otpc_node_t *n, ei_x_buff *x, const otpc_ref_t *ref);
int otpc__x_atom_id(otpc_node_t *n, ei_x_buff *x, uint32_t atom);
int otpc__x_raw(ei_x_buff *x, const char *data, size_t len);
/* {Name, Node}, or the pid when name is 0 */
int otpc__x_proc_obj(otpc_node_t *n, ei_x_buff *x, const otpc_pid_t *pid, uint32_t name,
                     uint32_t name_node);

/* signal.c: links, monitors, exits, local and remote */
void otpc__signal_exit_all(otpc_proc_t *p);
void otpc__node_lost(otpc_node_t *n, uint32_t node_atom);
/* A connection to node_atom came up / went down: {nodeup, Node} / {nodedown, Node} to
 * every otpc_monitor_nodes watcher (down only for a connection that was up). */
void otpc__node_up(otpc_node_t *n, uint32_t node_atom);
void otpc__node_down(otpc_node_t *n, uint32_t node_atom);
/* A decoded control message from the node `peer_node`, applied to local processes. */
void otpc__handle_ctrl(otpc_node_t *n, uint32_t peer_node, const otpc__ctrl_t *c);
/* The same holding one domain's lock (a peer's reader): a send, a monitor or a
 * demonitor (what a call from Erlang is made of), applied to a process of that domain
 * or queued in its own domain's inbox. 1 when done; 0 when it needs every lock (any
 * other signal, a monitor of nobody, a node or name never seen): the caller leaves it
 * for otpc__handle_ctrl. */
int otpc__handle_ctrl_dom(otpc_node_t *n, const otpc__ctrl_t *c);
int otpc__monitor_down(otpc_node_t *n, otpc_proc_t *watcher, const otpc_ref_t *ref,
                       const otpc_pid_t *obj, uint32_t name, uint32_t name_node, const char *reason,
                       size_t len);
void otpc__apply_exit_signal(otpc_proc_t *p, otpc__msg_t *m);

/* inbox.c: what a thread holding another domain's lock has for domain `dom` (never
 * the one it holds): a message, a remote watcher's monitor or demonitor of `to`, or an
 * upper layer's record (n->inbox_upper applies it). 0 or OTPC_ENOMEM. */
int otpc__inbox_init(otpc_node_t *n);
void otpc__inbox_free(otpc_node_t *n);
int otpc__inbox_send(otpc_node_t *n, unsigned dom, const otpc_pid_t *to, const otpc_pid_t *from,
                     const char *msg, size_t len);
int otpc__inbox_monitor(otpc_node_t *n, unsigned dom, const otpc_pid_t *to, const otpc__mon_t *m,
                        int demonitor);
int otpc__inbox_upper(otpc_node_t *n, unsigned dom, const otpc__piece_t *pieces, int npieces);
/* This thread's records, gathered since, into their inboxes (in order). */
void otpc__inbox_flush(otpc_node_t *n);
/* Apply o's inbox, holding o's lock or all (not inside uv_run: a record may take all). */
void otpc__inbox_drain(otpc_node_t *n, otpc__sched_t *o);
void otpc__inbox_drain_all(otpc_node_t *n);
/* signal.c: a remote watcher's monitor (or demonitor) of the local `to`, holding its
 * domain's lock (a gone `to` answers noproc, taking all for it). */
void otpc__monitor_in(otpc_node_t *n, const otpc_pid_t *to, const otpc__mon_t *m, int demonitor);

/* timer.c: each domain's heap of deadlines. Add, cancel and run hold the domain's lock
 * (or all); cancel finds the domain in the reference. */
int otpc__timer_add(otpc_node_t *n, unsigned dom, unsigned ms, int kind, const otpc_pid_t *to,
                    otpc__msg_t *msg, otpc_timer_t *out);
int otpc__timer_cancel(otpc_node_t *n, otpc_timer_t ref);
unsigned otpc__timer_dom(otpc_timer_t ref);
void otpc__timers_run(otpc_node_t *n, unsigned dom);
/* Milliseconds until domain dom's next deadline, or -1 when nothing is pending. */
int64_t otpc__timers_next(otpc_node_t *n, unsigned dom);
/* otpc_node_run: each domain's uv_timer_t on its loop (0 or OTPC_EIO). */
int otpc__timers_init(otpc_node_t *n);
/* Holding o's lock (or all): its uv_timer_t on its earliest deadline, if that moved. */
void otpc__timers_arm(otpc_node_t *n, otpc__sched_t *o);
void otpc__timers_free(otpc_node_t *n);

#endif
