/*
 * Processes: the table of live processes, registered names, mailboxes and the run queue.
 *
 * Invariants:
 *  - A process is on the run queue at most once (in_runq), never while it runs (so no
 *    two schedulers run it at once), and its callbacks run only from otpc__run_queue,
 *    one at a time: nothing a callback does (send, link, exit of another process) runs
 *    another callback; it only enqueues.
 *  - A process belongs to one domain (`home`, core/sched.c): its mailbox and its place
 *    on that domain's run queue are touched only holding that domain's lock or all
 *    (asserted); spawn, names and exits hold all.
 *  - A user process's callback runs without a lock (OTPC__USER); otpc's own
 *    (`system`) keep what they hold: all in the node's domain, the domain's lock in
 *    another (gen_server's runtime and daemon sessions, otpc__spawn_sys_homed).
 *  - A pid is {self node, slot number, serial}; a slot's serial changes when it is
 *    reused, so a stale pid never finds a new process.
 *  - Small mailbox items come from the thread's free list: delivering a message
 *    allocates only when the list is empty or the message is large.
 */
#include <stdlib.h>
#include <string.h>

#include "proto/term.h"
#include "core/node_int.h"
#include "util/log.h"

#define SMALL_MSG 240     /* payload bytes of a pooled mailbox item */
#define MSG_POOL_MAX 4096 /* pooled items kept */

/* ---- vectors ----------------------------------------------------------------------- */

int otpc__vec_push(otpc__vec_t *v, const void *item, size_t size)
{
    if (v->len == v->cap) {
        uint32_t cap = v->cap ? v->cap * 2 : 4;
        void *p = realloc(v->items, cap * size);
        if (!p)
            return OTPC_ENOMEM;
        v->items = p;
        v->cap = cap;
    }
    memcpy((char *)v->items + v->len * size, item, size);
    v->len++;
    return 0;
}

void otpc__vec_del(otpc__vec_t *v, uint32_t i, size_t size)
{
    char *base = v->items;
    v->len--;
    if (i != v->len)
        memcpy(base + i * size, base + v->len * size, size);
}

/* ---- lookup ------------------------------------------------------------------------ */

int otpc__pid_is_local(const otpc_node_t *n, const otpc_pid_t *pid)
{
    return pid->node == n->self_atom;
}

otpc_proc_t *otpc__proc_lookup(otpc_node_t *n, const otpc_pid_t *pid)
{
    if (!otpc__pid_is_local(n, pid) || pid->creation != n->creation || pid->num >= n->nprocs_cap)
        return NULL;
    otpc_proc_t *p = n->procs[pid->num];
    return p && p->pid.serial == pid->serial && !p->exiting ? p : NULL;
}

otpc_proc_t *otpc__proc_by_name(otpc_node_t *n, uint32_t name)
{
    otpc_proc_t *p = name < n->names_cap ? n->names[name] : NULL;
    return p && !p->exiting ? p : NULL;
}

/* ---- mailbox ----------------------------------------------------------------------- */

void otpc__msg_offer(otpc_node_t *n, void *block, int mapped, const char *lo, size_t len)
{
    otpc__sched_t *s = otpc__sched_self(n);
    s->offer.block = block;
    s->offer.mapped = mapped;
    s->offer.lo = lo;
    s->offer.len = len;
    s->offer.taken = 0;
}

int otpc__msg_offer_end(otpc_node_t *n)
{
    otpc__sched_t *s = otpc__sched_self(n);
    int taken = s->offer.taken;
    s->offer.block = NULL;
    s->offer.taken = 0;
    return taken;
}

/* An item that takes the offered block, if data lies inside it; else NULL. */
static otpc__msg_t *adopt(otpc_node_t *n, const char *data, size_t len)
{
    if (!n->scheds)
        return NULL;
    otpc__sched_t *s = otpc__sched_self(n);
    const char *lo = s->offer.lo;
    if (!s->offer.block || s->offer.taken || len < OTPC__MSG_ADOPT_MIN || data < lo ||
        len > s->offer.len || (size_t)(data - lo) > s->offer.len - len)
        return NULL;
    otpc__msg_t *m = malloc(sizeof *m);
    if (!m)
        return NULL; /* then a copy, which will likely fail too */
    m->block = s->offer.block;
    m->block_mapped = s->offer.mapped;
    m->data = (char *)data;
    s->offer.taken = 1;
    return m;
}

otpc__msg_t *otpc__msg_new(otpc_node_t *n, otpc__msg_kind_t kind, const otpc_pid_t *from,
                           const char *data, size_t len)
{
    otpc__msg_t *m = adopt(n, data, len);
    if (!m) {
        otpc__sched_t *s = n->scheds ? otpc__sched_self(n) : NULL; /* this thread's pool */
        if (len <= SMALL_MSG && s && s->msg_pool) {
            m = s->msg_pool;
            s->msg_pool = m->next;
            s->msg_pool_len--;
        } else if (!(m = malloc(sizeof *m + (len <= SMALL_MSG ? SMALL_MSG : len)))) {
            return NULL;
        }
        m->block = NULL;
        m->data = m->inline_data;
        memcpy(m->data, data, len);
    }
    m->next = NULL;
    m->kind = kind;
    m->len = (uint32_t)len;
    if (from)
        m->from = *from;
    else
        memset(&m->from, 0, sizeof m->from);
    return m;
}

void otpc__msg_free(otpc_node_t *n, otpc__msg_t *m)
{
    if (m->block) {
        otpc__mem_release(m->block, m->block_mapped);
        free(m);
        return;
    }
    otpc__sched_t *s = n->scheds ? otpc__sched_self(n) : NULL;
    if (s && m->len <= SMALL_MSG && s->msg_pool_len < MSG_POOL_MAX) {
        m->next = s->msg_pool;
        s->msg_pool = m;
        s->msg_pool_len++;
        return;
    }
    free(m);
}

/* Onto its domain's run queue (holding that domain's lock, or all: a thread serving
 * another domain never touches this one's). */
static void runq_add(otpc_node_t *n, otpc_proc_t *p)
{
    OTPC__ASSERT_DOM(n, p->home);
    if (p->in_runq || p->parked || p->running)
        return; /* a parked process is queued again by otpc__proc_unpark, a running one
                 * when its slice ends */
    otpc__sched_t *o = &n->scheds[p->home];
    p->in_runq = 1;
    p->rq_next = NULL;
    if (o->rq_tail)
        o->rq_tail->rq_next = p;
    else
        o->rq_head = p;
    o->rq_tail = p;
}

void otpc__deliver(otpc_node_t *n, otpc_proc_t *p, otpc__msg_t *m)
{
    OTPC__ASSERT_DOM(n, p->home);
    if (p->mtail)
        p->mtail->next = m;
    else
        p->mhead = m;
    p->mtail = m;
    runq_add(n, p);
}

void otpc__deliver_front(otpc_node_t *n, otpc_proc_t *p, otpc__msg_t *head, otpc__msg_t *tail)
{
    tail->next = p->mhead;
    p->mhead = head;
    if (!p->mtail)
        p->mtail = tail;
    runq_add(n, p);
}

static void free_proc(otpc_node_t *n, otpc_proc_t *p);

/* ---- spawn and names ------------------------------------------------------------- */

static int n_names_owner(otpc_node_t *n, otpc_proc_t *p)
{
    return p->name < n->names_cap && n->names[p->name] == p;
}

static int grow_procs(otpc_node_t *n)
{
    uint32_t cap = n->nprocs_cap ? n->nprocs_cap * 2 : 256;
    if (cap > (1u << 27))
        return OTPC_ENOMEM;
    otpc_proc_t **p = realloc(n->procs, cap * sizeof *p);
    if (!p)
        return OTPC_ENOMEM;
    memset(p + n->nprocs_cap, 0, (cap - n->nprocs_cap) * sizeof *p);
    n->procs = p;
    n->nprocs_cap = cap;
    return 0;
}

/* A free slot, scanning from the last one handed out (as ERTS does). */
static int free_slot(otpc_node_t *n, uint32_t *out)
{
    if (n->live + 1 >= n->nprocs_cap / 2 && grow_procs(n))
        return OTPC_ENOMEM;
    for (;;) {
        uint32_t i = n->next_num++ % n->nprocs_cap;
        if (i == 0)
            continue; /* slot 0 unused: a zero pid number is never valid */
        if (!n->procs[i]) {
            *out = i;
            return 0;
        }
    }
}

/* A new process's domain: the one a caller asked for (a daemon session and its server
 * go with their socket); else its spawner's, when that is not the node's; else, for a
 * kind that may live outside the node's domain (gen_server's runtime), the next of
 * schedulers 1.. (round robin, as connections are: a server started by the program or
 * from Erlang and its callers' connection often share one); else the node's. */
static unsigned home_of_new(otpc_node_t *n, int system)
{
    if (n->spawn_home)
        return n->spawn_home - 1;
    if (system == 1)
        return 0;
    otpc_proc_t *cur = n->scheds ? otpc__current(n) : NULL;
    if (cur && cur->home)
        return cur->home;
    return system == 2 && n->scheds ? otpc__sched_pick(n)->id : 0;
}

static int spawn(otpc_node_t *node, const otpc_proc_ops_t *ops, void *arg, otpc_pid_t *out,
                 int system)
{
    OTPC__ASSERT_ALL(node);
    uint32_t slot;
    if (!ops || !ops->handle)
        return OTPC_EINVAL;
    if (!node->creation)
        return OTPC_ESTATE; /* before the node has registered: no pids yet */
    int rc = free_slot(node, &slot);
    if (rc)
        return rc;
    otpc_proc_t *p = calloc(1, sizeof *p);
    if (!p)
        return OTPC_ENOMEM;
    p->node = node;
    p->ops = ops;
    p->home = home_of_new(node, system);
    p->system = system != 0;
    p->pid.node = node->self_atom;
    p->pid.num = slot;
    p->pid.serial = ++node->serial;
    p->pid.creation = node->creation;
    node->procs[slot] = p;
    node->live++;
    if (ops->init && (rc = ops->init(p, arg)) < 0) {
        /* init failed: like a failed spawn_link, nothing was started. Links and
         * monitors init made are unwound as an exit would, then the slot is free. */
        static const char init_failed[] =
            OTPC__VATOM(11, 'i', 'n', 'i', 't', '_', 'f', 'a', 'i', 'l', 'e', 'd');
        otpc_exit(p, OTPC__TERM(init_failed));
        otpc__signal_exit_all(p);
        if (p->name && n_names_owner(node, p))
            node->names[p->name] = NULL;
        node->procs[slot] = NULL;
        node->live--;
        free_proc(node, p);
        return rc;
    }
    if (out)
        *out = p->pid;
    return 0;
}

int otpc_spawn(otpc_node_t *node, const otpc_proc_ops_t *ops, void *arg, otpc_pid_t *out)
{
    OTPC__ENTER(node);
    return spawn(node, ops, arg, out, 0);
}

int otpc__spawn_sys(otpc_node_t *n, const otpc_proc_ops_t *ops, void *arg, otpc_pid_t *out)
{
    return spawn(n, ops, arg, out, 1);
}

int otpc__spawn_sys_homed(otpc_node_t *n, const otpc_proc_ops_t *ops, void *arg, otpc_pid_t *out)
{
    return spawn(n, ops, arg, out, 2);
}

static int set_name(otpc_node_t *n, otpc_proc_t *p, const char *name)
{
    uint32_t a = otpc__atom(&n->atoms, name, strlen(name));
    if (!a)
        return OTPC_ENOMEM;
    if (p->name || otpc__proc_by_name(n, a))
        return OTPC_ENAMETAKEN;
    if (a >= n->names_cap) {
        uint32_t cap = n->names_cap ? n->names_cap : 64;
        while (cap <= a)
            cap *= 2;
        otpc_proc_t **names = realloc(n->names, cap * sizeof *names);
        if (!names)
            return OTPC_ENOMEM;
        memset(names + n->names_cap, 0, (cap - n->names_cap) * sizeof *names);
        n->names = names;
        n->names_cap = cap;
    }
    n->names[a] = p;
    p->name = a;
    return 0;
}

int otpc_register_pid(otpc_node_t *node, const char *name, const otpc_pid_t *pid)
{
    OTPC__ENTER(node);
    otpc_proc_t *p = otpc__proc_lookup(node, pid);
    return p ? set_name(node, p, name) : OTPC_ENOPROC;
}

int otpc_register(otpc_proc_t *self, const char *name)
{
    OTPC__ENTER(self->node);
    return set_name(self->node, self, name);
}

/* ---- accessors ------------------------------------------------------------------ */

otpc_node_t *otpc_proc_node(otpc_proc_t *self)
{
    return self->node;
}

otpc_pid_t otpc_self(const otpc_proc_t *self)
{
    return self->pid;
}

void *otpc_proc_data(const otpc_proc_t *self)
{
    return self->data;
}

void otpc_proc_set_data(otpc_proc_t *self, void *data)
{
    self->data = data;
}

void otpc_trap_exit(otpc_proc_t *self, int on)
{
    OTPC__ENTER(self->node);
    self->trap_exit = on != 0;
}

int otpc_make_ref(otpc_proc_t *self, otpc_ref_t *out)
{
    otpc_node_t *n = self->node;
    uint64_t c = atomic_fetch_add(&n->ref_counter, 1) + 1;
    memset(out, 0, sizeof *out);
    out->node = n->self_atom;
    out->creation = n->creation;
    out->len = 3;
    out->n[0] = (uint32_t)(c & 0x3ffff); /* ERTS keeps 18 bits in the first word */
    out->n[1] = (uint32_t)(c >> 18);
    out->n[2] = n->ref_salt;
    return 0;
}

/* ---- sending -------------------------------------------------------------------- */

int otpc__check_term(otpc_term_t msg)
{
    size_t used;
    if (otpc__term_skip_versioned(msg.data, msg.size, &used) || used != msg.size)
        return OTPC_EBADARG;
    return 0;
}

int otpc__send_local(otpc_node_t *n, const otpc_pid_t *from, const otpc_pid_t *to, const char *data,
                     size_t len)
{
    otpc_proc_t *p = otpc__proc_lookup(n, to);
    if (!p)
        return 0; /* a dead process: dropped, as in Erlang */
    otpc__msg_t *m = otpc__msg_new(n, OTPC__M_MSG, from, data, len);
    if (!m)
        return OTPC_ENOMEM;
    otpc__deliver(n, p, m);
    return 0;
}

int otpc_send(otpc_proc_t *self, const otpc_pid_t *to, otpc_term_t msg)
{
    otpc_node_t *n = self->node;
    int rc = otpc__check_term(msg);
    if (rc)
        return rc;
    if (otpc__pid_is_local(n, to)) {
        /* to a process of the sender's own domain: that domain's lock is enough; to
         * another's, its inbox */
        OTPC__ENTER_DOM(n, self->home);
        otpc_proc_t *p = otpc__proc_lookup(n, to);
        if (!p)
            return 0;                    /* a dead process: dropped, as in Erlang */
        if (!otpc__dom_held(n, p->home)) /* another domain's: its inbox */
            return otpc__inbox_send(n, p->home, to, &self->pid, msg.data, msg.size);
        otpc__msg_t *m = otpc__msg_new(n, OTPC__M_MSG, &self->pid, msg.data, msg.size);
        if (!m)
            return OTPC_ENOMEM;
        otpc__deliver(n, p, m);
        return 0;
    }
    OTPC__ENTER(n);
    return n->remote ? n->remote->send(n, &self->pid, to, msg.data, msg.size) : 0;
}

int otpc_send_name(otpc_proc_t *self, const char *name, const char *node, otpc_term_t msg)
{
    otpc_node_t *n = self->node;
    OTPC__ENTER(n);
    int rc = otpc__check_term(msg);
    if (rc)
        return rc;
    if (!node || strcmp(node, n->name) == 0) {
        /* Looked up, never interned: a name nobody registered (say one a daemon client
         * chose) must not grow the atom table. */
        uint32_t a = otpc__atom_find(&n->atoms, name, strlen(name));
        otpc_proc_t *p = a ? otpc__proc_by_name(n, a) : NULL;
        if (!p)
            return OTPC_ENOPROC; /* as `Name ! Msg` raises badarg for an unknown name */
        return otpc_send(self, &p->pid, msg);
    }
    uint32_t na = otpc__atom(&n->atoms, node, strlen(node));
    if (!na)
        return OTPC_ENOMEM;
    return n->remote ? n->remote->reg_send(n, &self->pid, na, name, msg.data, msg.size) : 0;
}

/* ---- running and exiting --------------------------------------------------------- */

void otpc_exit(otpc_proc_t *self, otpc_term_t reason)
{
    OTPC__ENTER(self->node);
    if (self->exiting)
        return;
    self->exiting = 1;
    otpc__buf_reset(&self->reason);
    /* Stored without the version byte: it is spliced into EXIT / DOWN terms. */
    if (reason.size > 1)
        otpc__buf_append(&self->reason, reason.data + 1, reason.size - 1);
}

static void free_proc(otpc_node_t *n, otpc_proc_t *p)
{
    for (otpc__msg_t *m = p->mhead, *next; m; m = next) {
        next = m->next;
        otpc__msg_free(n, m);
    }
    free(p->links.items);
    free(p->mons_in.items);
    free(p->mons_out.items);
    otpc__buf_free(&p->reason);
    free(p);
}

/* The exit itself: terminate hook, signals to links and monitors, then the slot is free.
 * `reason` is unversioned; the process must not be running a callback. */
void otpc__proc_exit_now(otpc_proc_t *p, const char *reason, size_t len)
{
    otpc_node_t *n = p->node;
    OTPC__ASSERT_ALL(n);
    int elsewhere = p->running && otpc__current(n) != p;
    if (elsewhere && p->exiting)
        return; /* it is already on its way out */
    p->exiting = 1;
    if (reason != p->reason.data) {
        otpc__buf_reset(&p->reason);
        otpc__buf_append(&p->reason, reason, len);
    }
    if (elsewhere)
        return; /* in a callback on another scheduler: its slice ends it after that */
    if (p->ops->terminate) {
        /* terminate gets the reason as a versioned term, like every term in the API */
        otpc__buf_t v = {0};
        char magic = (char)ERL_VERSION_MAGIC;
        otpc__buf_append(&v, &magic, 1);
        otpc__buf_append(&v, p->reason.data, p->reason.len);
        otpc_term_t t = {v.data, v.len};
        p->ops->terminate(p, t);
        otpc__buf_free(&v);
    }
    otpc__signal_exit_all(p);
    if (p->name && p->name < n->names_cap && n->names[p->name] == p)
        n->names[p->name] = NULL;
    n->procs[p->pid.num] = NULL;
    n->live--;
    if (!p->in_runq && !p->running)
        free_proc(n, p);
    /* else: otpc__run_queue frees it when it is done with it */
}

static void run_one(otpc_node_t *n, otpc__sched_t *s, otpc_proc_t *p, int budget)
{
    OTPC__ASSERT(p->running && s->current == p); /* callbacks never nest */
    while (p->mhead && budget-- > 0 && !p->exiting && !p->parked && !n->quiesce) {
        otpc__msg_t *m = p->mhead;
        p->mhead = m->next;
        if (!p->mhead)
            p->mtail = NULL;
        otpc_term_t t = {m->data, m->len};
        s->handled++;
        if (m->kind == OTPC__M_MSG) {
            if (p->system)
                p->ops->handle(p, t);
            else
                OTPC__USER(n, p->ops->handle(p, t));
        } else if (m->kind == OTPC__M_BEH) {
            if (p->beh && p->beh->item)
                p->beh->item(p, t);
        } else {
            /* an exit signal may end it (links and monitors everywhere hear of it) */
            otpc__enter(n);
            otpc__apply_exit_signal(p, m);
            otpc__leave(n);
        }
        otpc__msg_free(n, m);
        if (p->exiting && n->procs[p->pid.num] == p) {
            otpc__enter(n);
            if (n->procs[p->pid.num] == p)
                otpc__proc_exit_now(p, p->reason.data, p->reason.len);
            otpc__leave(n);
        }
        if (n->procs[p->pid.num] != p)
            return;
    }
}

void otpc__proc_unpark(otpc_node_t *n, const otpc_pid_t *pid, uint32_t key)
{
    otpc_proc_t *p = otpc__proc_lookup(n, pid);
    if (!p || p->parked != key)
        return;
    p->parked = 0;
    if (p->mhead)
        runq_add(n, p);
}

void otpc__run_dom(otpc_node_t *n, otpc__sched_t *o, int budget)
{
    OTPC__ASSERT_DOM(n, o->id);
    otpc__sched_t *s = otpc__sched_self(n);
    OTPC__ASSERT(!s->current); /* not from inside a callback */
    /* Only the processes queued when we start: a process that keeps sending to itself
     * cannot starve the event queue. */
    otpc_proc_t *end = o->rq_tail;
    while (o->rq_head && budget > 0 && !n->quiesce) {
        otpc_proc_t *p = o->rq_head;
        o->rq_head = p->rq_next;
        if (!o->rq_head)
            o->rq_tail = NULL;
        p->in_runq = 0;
        int last = p == end; /* p may be freed below: compare while it is valid */
        int dead = n->procs[p->pid.num] != p;
        if (dead) {
            free_proc(n, p);
        } else {
            p->running = 1;
            s->current = p;
            run_one(n, s, p, 64);
            otpc__inbox_flush(n); /* what it sent other domains, now that it is done */
            s->current = NULL;
            p->running = 0;
            budget -= 64;
            if (n->procs[p->pid.num] == p && p->mhead)
                runq_add(n, p);
            else if (n->procs[p->pid.num] != p && !p->in_runq)
                free_proc(n, p); /* if it queued itself again, the dead branch frees it */
        }
        if (last)
            break;
    }
}

void otpc__run_queue(otpc_node_t *n, int budget)
{
    OTPC__ASSERT_ALL(n);
    for (unsigned i = 0; i < n->nscheds; i++)
        otpc__run_dom(n, &n->scheds[i], budget);
}
