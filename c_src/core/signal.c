/*
 * Signals between processes: links, monitors and exit signals, with Erlang's semantics,
 * whether the other side is a local C process or a process on another node.
 *
 * Invariants:
 *  - A link is recorded on both local ends, or on the local end only for a remote
 *    peer. Unlinking a remote peer keeps the entry in the "unlinking" state (with the
 *    UNLINK_ID id) until the ack; exit signals through such a link are ignored.
 *  - A monitor is recorded in the watcher's mons_out and, for a local target, in the
 *    target's mons_in; every monitor fires exactly once (DOWN) or is removed silently
 *    (demonitor), never both.
 *  - Exit signals to local processes are queued in the target's mailbox and applied when
 *    it runs, so no callback ever sees its own process die underneath it.
 *  - A lost or failed connection is `noconnection` for every link and monitor across it.
 */
#include <stdio.h>
#include <string.h>

#include "proto/term.h"
#include "core/node_int.h"
#include "util/log.h"

#define LINK_SZ sizeof(otpc__link_t)
#define MON_SZ sizeof(otpc__mon_t)

static const char NOPROC[] = {ERL_SMALL_ATOM_UTF8_EXT, 6, 'n', 'o', 'p', 'r', 'o', 'c'};
static const char NOCONNECTION[] = {
    ERL_SMALL_ATOM_UTF8_EXT, 12, 'n', 'o', 'c', 'o', 'n', 'n', 'e', 'c', 't', 'i', 'o', 'n'};
static const char KILLED[] = {ERL_SMALL_ATOM_UTF8_EXT, 6, 'k', 'i', 'l', 'l', 'e', 'd'};

/* Is the unversioned term data[0..len) exactly the atom `atom`? */
static int is_atom(const char *data, size_t len, const char *atom)
{
    int i = 0;
    return otpc_decode_atom_is(data, &i, atom) && (size_t)i == len;
}

/* ---- lookups --------------------------------------------------------------------- */

static otpc__link_t *link_find(otpc_proc_t *p, const otpc_pid_t *pid, uint32_t *idx)
{
    otpc__link_t *l = p->links.items;
    for (uint32_t i = 0; i < p->links.len; i++) {
        if (otpc_pid_eq(&l[i].pid, pid)) {
            if (idx)
                *idx = i;
            return &l[i];
        }
    }
    return NULL;
}

static void link_remove(otpc_proc_t *p, const otpc_pid_t *pid)
{
    uint32_t i;
    if (link_find(p, pid, &i))
        otpc__vec_del(&p->links, i, LINK_SZ);
}

static int mon_take(otpc__vec_t *v, const otpc_ref_t *ref, otpc__mon_t *out)
{
    otpc__mon_t *m = v->items;
    for (uint32_t i = 0; i < v->len; i++) {
        if (otpc_ref_eq(&m[i].ref, ref)) {
            if (out)
                *out = m[i];
            otpc__vec_del(v, i, MON_SZ);
            return 1;
        }
    }
    return 0;
}

/* ---- building what is delivered -------------------------------------------------- */

int otpc__monitor_down(otpc_node_t *n, otpc_proc_t *w, const otpc_ref_t *ref, const otpc_pid_t *obj,
                       uint32_t name, uint32_t name_node, const char *reason, size_t len)
{
    ei_x_buff *x = otpc__scratch(n);
    x->index = 0;
    if (ei_x_encode_version(x) || ei_x_encode_tuple_header(x, 5) || ei_x_encode_atom(x, "DOWN") ||
        otpc__x_ref(n, x, ref) || ei_x_encode_atom(x, "process") ||
        otpc__x_proc_obj(n, x, obj, name, name_node) || otpc__x_raw(x, reason, len))
        return OTPC_ENOMEM;
    otpc__msg_t *m = otpc__msg_new(n, OTPC__M_MSG, NULL, x->buff, (size_t)x->index);
    if (!m)
        return OTPC_ENOMEM;
    otpc__deliver(n, w, m);
    return 0;
}

static void queue_exit(otpc_node_t *n, otpc_proc_t *to, otpc__msg_kind_t kind,
                       const otpc_pid_t *from, const char *reason, size_t len)
{
    otpc__msg_t *m = otpc__msg_new(n, kind, from, reason, len);
    if (m)
        otpc__deliver(n, to, m);
    else
        OTPC__LOG_ERROR("proc", "out of memory delivering an exit signal");
}

/* Runs inside the target's turn (run_one): trap, ignore, or die. */
void otpc__apply_exit_signal(otpc_proc_t *p, otpc__msg_t *m)
{
    OTPC__ASSERT_ALL(p->node); /* links and monitors span domains */
    otpc_node_t *n = p->node;
    if (m->kind == OTPC__M_EXIT2 && is_atom(m->data, m->len, "kill")) {
        otpc__proc_exit_now(p, KILLED, sizeof KILLED); /* untrappable */
        return;
    }
    if (p->trap_exit) {
        /* Its own buffer: the handler may send, reply or monitor, which use the scratch buffer. */
        ei_x_buff *x = &otpc__sched_self(n)->trap_buf;
        x->index = 0;
        if (ei_x_encode_version(x) || ei_x_encode_tuple_header(x, 3) ||
            ei_x_encode_atom(x, "EXIT") || otpc__x_pid(n, x, &m->from) ||
            otpc__x_raw(x, m->data, m->len))
            return;
        otpc_term_t t = {x->buff, (size_t)x->index};
        if (p->system)
            p->ops->handle(p, t);
        else
            OTPC__USER(n, p->ops->handle(p, t));
        return;
    }
    if (is_atom(m->data, m->len, "normal") && !otpc_pid_eq(&m->from, &p->pid))
        return;
    otpc__proc_exit_now(p, m->data, m->len);
}

/* ---- signals to other nodes ---------------------------------------------------------- */

/* Through the table the distribution layer installed; a node without one (not started,
 * or a unit test's) drops them, as a node without distribution would. */

static void remote_monitor_exit(otpc_node_t *n, const otpc_pid_t *self, uint32_t name,
                                const otpc__mon_t *m, const char *reason, size_t len)
{
    otpc__mobj_t obj = {self, name, NULL, 0};
    REMOTE(n, monitor_exit, &obj, &m->pid, &m->ref, reason, len);
}

/* ---- exit of a process --------------------------------------------------------------- */

void otpc__signal_exit_all(otpc_proc_t *p)
{
    OTPC__ASSERT_ALL(p->node); /* links and monitors span domains */
    otpc_node_t *n = p->node;
    const char *r = p->reason.data;
    size_t rl = p->reason.len;
    otpc__link_t *links = p->links.items;
    for (uint32_t i = 0; i < p->links.len; i++) {
        if (links[i].unlinking)
            continue;
        if (otpc__pid_is_local(n, &links[i].pid)) {
            otpc_proc_t *q = otpc__proc_lookup(n, &links[i].pid);
            if (q) {
                link_remove(q, &p->pid);
                queue_exit(n, q, OTPC__M_EXIT_LINK, &p->pid, r, rl);
            }
        } else {
            REMOTE(n, exit, &p->pid, &links[i].pid, r, rl, 1);
        }
    }
    p->links.len = 0;
    otpc__mon_t *mi = p->mons_in.items;
    for (uint32_t i = 0; i < p->mons_in.len; i++) {
        if (otpc__pid_is_local(n, &mi[i].pid)) {
            otpc_proc_t *w = otpc__proc_lookup(n, &mi[i].pid);
            if (w && mon_take(&w->mons_out, &mi[i].ref, NULL))
                otpc__monitor_down(n, w, &mi[i].ref, &p->pid, mi[i].name, n->self_atom, r, rl);
        } else {
            remote_monitor_exit(n, &p->pid, mi[i].name, &mi[i], r, rl);
        }
    }
    p->mons_in.len = 0;
    otpc__mon_t *mo = p->mons_out.items;
    for (uint32_t i = 0; i < p->mons_out.len; i++) {
        uint32_t node = mo[i].name ? mo[i].name_node : mo[i].pid.node;
        if (node != n->self_atom) {
            REMOTE(n, monitor, &p->pid, &mo[i], 1);
            continue;
        }
        otpc_proc_t *t = otpc__proc_lookup(n, &mo[i].pid);
        if (t)
            mon_take(&t->mons_in, &mo[i].ref, NULL);
    }
    p->mons_out.len = 0;
}

/* ---- node watchers (net_kernel:monitor_nodes) ----------------------------------------- */

/* {Tag, Node} to every live watcher; dead ones are dropped from the list here. */
static void tell_watchers(otpc_node_t *n, const char *tag, uint32_t node)
{
    otpc_pid_t *w = n->node_watchers.items;
    if (!n->node_watchers.len)
        return;
    ei_x_buff x;
    if (ei_x_new_with_version(&x))
        return;
    if (ei_x_encode_tuple_header(&x, 2) || ei_x_encode_atom(&x, tag) ||
        otpc__x_atom_id(n, &x, node)) {
        ei_x_free(&x);
        return;
    }
    for (uint32_t i = n->node_watchers.len; i-- > 0;) {
        if (!otpc__proc_lookup(n, &w[i]))
            otpc__vec_del(&n->node_watchers, i, sizeof *w);
        else
            otpc__send_local(n, &w[i], &w[i], x.buff, (size_t)x.index);
    }
    ei_x_free(&x);
}

void otpc__node_up(otpc_node_t *n, uint32_t node)
{
    tell_watchers(n, "nodeup", node);
}

void otpc__node_down(otpc_node_t *n, uint32_t node)
{
    tell_watchers(n, "nodedown", node);
}

int otpc_monitor_nodes(otpc_proc_t *self, int on)
{
    otpc_node_t *n = self->node;
    OTPC__ENTER(n);
    otpc_pid_t *w = n->node_watchers.items;
    for (uint32_t i = 0; i < n->node_watchers.len; i++)
        if (otpc_pid_eq(&w[i], &self->pid)) {
            if (!on)
                otpc__vec_del(&n->node_watchers, i, sizeof *w);
            return 0;
        }
    return on ? otpc__vec_push(&n->node_watchers, &self->pid, sizeof self->pid) : 0;
}

/* Every link and monitor across a connection that is gone. */
void otpc__node_lost(otpc_node_t *n, uint32_t node)
{
    for (uint32_t s = 1; s < n->nprocs_cap; s++) {
        otpc_proc_t *p = n->procs[s];
        if (!p)
            continue;
        otpc__link_t *l = p->links.items;
        for (uint32_t i = p->links.len; i-- > 0;) {
            if (l[i].pid.node != node)
                continue;
            otpc_pid_t from = l[i].pid;
            int unlinking = l[i].unlinking != 0;
            otpc__vec_del(&p->links, i, LINK_SZ);
            if (!unlinking)
                queue_exit(n, p, OTPC__M_EXIT_LINK, &from, NOCONNECTION, sizeof NOCONNECTION);
        }
        otpc__mon_t *mo = p->mons_out.items;
        for (uint32_t i = p->mons_out.len; i-- > 0;) {
            if ((mo[i].name ? mo[i].name_node : mo[i].pid.node) != node)
                continue;
            otpc__mon_t m = mo[i];
            otpc__vec_del(&p->mons_out, i, MON_SZ);
            otpc__monitor_down(n, p, &m.ref, &m.pid, m.name, m.name_node, NOCONNECTION,
                               sizeof NOCONNECTION);
        }
        otpc__mon_t *mi = p->mons_in.items;
        for (uint32_t i = p->mons_in.len; i-- > 0;)
            if (mi[i].pid.node == node)
                otpc__vec_del(&p->mons_in, i, MON_SZ);
    }
}

/* ---- the public calls -------------------------------------------------------------- */

int otpc_link(otpc_proc_t *self, const otpc_pid_t *pid)
{
    otpc_node_t *n = self->node;
    OTPC__ENTER(n);
    otpc__link_t *l = link_find(self, pid, NULL);
    if (l && !l->unlinking)
        return 0;
    if (otpc__pid_is_local(n, pid)) {
        otpc_proc_t *q = otpc__proc_lookup(n, pid);
        if (!q) {
            queue_exit(n, self, OTPC__M_EXIT_LINK, pid, NOPROC, sizeof NOPROC);
            return 0;
        }
        otpc__link_t a = {self->pid, 0}, b = {*pid, 0};
        if (q == self)
            return 0;
        if (otpc__vec_push(&self->links, &b, LINK_SZ))
            return OTPC_ENOMEM;
        if (otpc__vec_push(&q->links, &a, LINK_SZ)) {
            link_remove(self, pid);
            return OTPC_ENOMEM;
        }
        return 0;
    }
    if (l) {
        l->unlinking = 0; /* linking again while an unlink is in flight */
    } else {
        otpc__link_t b = {*pid, 0};
        if (otpc__vec_push(&self->links, &b, LINK_SZ))
            return OTPC_ENOMEM;
    }
    REMOTE(n, link, &self->pid, pid);
    return 0;
}

int otpc_unlink(otpc_proc_t *self, const otpc_pid_t *pid)
{
    otpc_node_t *n = self->node;
    OTPC__ENTER(n);
    otpc__link_t *l = link_find(self, pid, NULL);
    if (!l || l->unlinking)
        return 0;
    if (otpc__pid_is_local(n, pid)) {
        otpc_proc_t *q = otpc__proc_lookup(n, pid);
        if (q)
            link_remove(q, &self->pid);
        link_remove(self, pid);
        return 0;
    }
    l->unlinking = ++n->unlink_counter;
    REMOTE(n, unlink_id, l->unlinking, &self->pid, pid, 0);
    return 0;
}

static int monitor(otpc_proc_t *self, otpc__mon_t *m, otpc_ref_t *out)
{
    otpc_node_t *n = self->node;
    otpc_make_ref(self, &m->ref);
    if (out)
        *out = m->ref;
    uint32_t node = m->name ? m->name_node : m->pid.node;
    if (node == n->self_atom) {
        otpc_proc_t *t = m->name ? otpc__proc_by_name(n, m->name) : otpc__proc_lookup(n, &m->pid);
        if (!t)
            return otpc__monitor_down(n, self, &m->ref, &m->pid, m->name, m->name_node, NOPROC,
                                      sizeof NOPROC);
        otpc__mon_t in = {m->ref, self->pid, m->name, 0};
        m->pid = t->pid;
        if (otpc__vec_push(&self->mons_out, m, MON_SZ))
            return OTPC_ENOMEM;
        return otpc__vec_push(&t->mons_in, &in, MON_SZ);
    }
    if (otpc__vec_push(&self->mons_out, m, MON_SZ))
        return OTPC_ENOMEM;
    REMOTE(n, monitor, &self->pid, m, 0);
    return 0;
}

int otpc_monitor(otpc_proc_t *self, const otpc_pid_t *pid, otpc_ref_t *out)
{
    OTPC__ENTER(self->node);
    otpc__mon_t m = {0};
    m.pid = *pid;
    return monitor(self, &m, out);
}

int otpc_monitor_name(otpc_proc_t *self, const char *name, const char *node, otpc_ref_t *out)
{
    otpc_node_t *n = self->node;
    OTPC__ENTER(n);
    otpc__mon_t m = {0};
    m.name = otpc__atom(&n->atoms, name, strlen(name));
    m.name_node = node ? otpc__atom(&n->atoms, node, strlen(node)) : n->self_atom;
    if (!m.name || !m.name_node)
        return OTPC_ENOMEM;
    return monitor(self, &m, out);
}

int otpc_demonitor(otpc_proc_t *self, const otpc_ref_t *ref)
{
    otpc_node_t *n = self->node;
    OTPC__ENTER(n);
    otpc__mon_t m;
    if (!mon_take(&self->mons_out, ref, &m))
        return 0;
    uint32_t node = m.name ? m.name_node : m.pid.node;
    if (node != n->self_atom) {
        REMOTE(n, monitor, &self->pid, &m, 1);
        return 0;
    }
    otpc_proc_t *t = otpc__proc_lookup(n, &m.pid);
    if (t)
        mon_take(&t->mons_in, ref, NULL);
    return 0;
}

int otpc_exit_signal(otpc_proc_t *self, const otpc_pid_t *pid, otpc_term_t reason)
{
    otpc_node_t *n = self->node;
    OTPC__ENTER(n);
    size_t used;
    if (otpc__term_skip_versioned(reason.data, reason.size, &used) || used != reason.size)
        return OTPC_EBADARG;
    if (otpc__pid_is_local(n, pid)) {
        otpc_proc_t *q = otpc__proc_lookup(n, pid);
        if (q)
            queue_exit(n, q, OTPC__M_EXIT2, &self->pid, reason.data + 1, reason.size - 1);
        return 0;
    }
    REMOTE(n, exit, &self->pid, pid, reason.data + 1, reason.size - 1, 0);
    return 0;
}

/* ---- incoming control messages ------------------------------------------------------ */

static otpc_proc_t *target(otpc_node_t *n, const otpc__ctrl_t *c, uint32_t *name)
{
    *name = 0;
    if (c->to_is_name) {
        /* Lookup only: a peer must not grow our atom table by naming random names. */
        *name = otpc__atom_find(&n->atoms, c->to_name, c->to_name_len);
        return *name ? otpc__proc_by_name(n, *name) : NULL;
    }
    otpc_pid_t to = otpc__pid_from_ei(n, &c->to);
    return otpc__proc_lookup(n, &to);
}

static void on_monitor_p(otpc_node_t *n, const otpc__ctrl_t *c, otpc_proc_t *t, uint32_t name)
{
    otpc__mon_t m = {0};
    m.pid = otpc__pid_from_ei(n, &c->from);
    if (otpc__ref_from_ei(n, &c->ref, &m.ref))
        return;
    if (t) {
        m.name = name;
        otpc__vec_push(&t->mons_in, &m, MON_SZ);
        return;
    }
    /* noproc at once; the object is the name (or pid) as the watcher gave it, never
     * interned */
    char raw[MAXATOMLEN_UTF8 + 16];
    int len = 0;
    if (c->to_is_name ? ei_encode_atom_len_as(raw, &len, c->to_name, (int)c->to_name_len,
                                              ERLANG_UTF8, ERLANG_UTF8)
                      : ei_encode_pid(raw, &len, &c->to))
        return;
    otpc__mobj_t obj = {NULL, 0, raw, (size_t)len};
    REMOTE(n, monitor_exit, &obj, &m.pid, &m.ref, NOPROC, sizeof NOPROC);
}

static void on_monitor_exit(otpc_node_t *n, const otpc__ctrl_t *c, otpc_proc_t *w)
{
    otpc_ref_t ref;
    otpc__mon_t m;
    if (!w || otpc__ref_from_ei(n, &c->ref, &ref) || !mon_take(&w->mons_out, &ref, &m))
        return;
    otpc__monitor_down(n, w, &ref, &m.pid, m.name, m.name_node, c->reason.data, c->reason.size);
}

static void on_link(otpc_node_t *n, const otpc__ctrl_t *c, otpc_proc_t *t)
{
    otpc_pid_t from = otpc__pid_from_ei(n, &c->from);
    if (!t) {
        otpc_pid_t to = otpc__pid_from_ei(n, &c->to);
        REMOTE(n, exit, &to, &from, NOPROC, sizeof NOPROC, 1);
        return;
    }
    otpc__link_t *l = link_find(t, &from, NULL);
    if (l) {
        l->unlinking = 0;
        return;
    }
    otpc__link_t nl = {from, 0};
    otpc__vec_push(&t->links, &nl, LINK_SZ);
}

static void on_unlink_id(otpc_node_t *n, const otpc__ctrl_t *c, otpc_proc_t *t, int ack)
{
    otpc_pid_t from = otpc__pid_from_ei(n, &c->from);
    otpc__link_t *l = t ? link_find(t, &from, NULL) : NULL;
    if (ack) {
        if (l && l->unlinking == c->unlink_id)
            link_remove(t, &from);
        return;
    }
    if (l && !l->unlinking)
        link_remove(t, &from);
    otpc_pid_t to = otpc__pid_from_ei(n, &c->to);
    REMOTE(n, unlink_id, c->unlink_id, &to, &from, 1);
}

static void on_exit(otpc_node_t *n, const otpc__ctrl_t *c, otpc_proc_t *t, int via_link)
{
    if (!t)
        return;
    otpc_pid_t from = otpc__pid_from_ei(n, &c->from);
    if (via_link) {
        otpc__link_t *l = link_find(t, &from, NULL);
        if (!l || l->unlinking)
            return;
        link_remove(t, &from);
    }
    queue_exit(n, t, via_link ? OTPC__M_EXIT_LINK : OTPC__M_EXIT2, &from, c->reason.data,
               c->reason.size);
}

int otpc__spawned_for(otpc_node_t *n, const otpc_pid_t *pid, const otpc_pid_t *parent,
                      const otpc_ref_t *ref, int link, int monitor)
{
    otpc_proc_t *p = otpc__proc_lookup(n, pid);
    int flags = 0;
    if (!p)
        return 0;
    otpc__link_t nl = {*parent, 0};
    if (link && otpc__vec_push(&p->links, &nl, LINK_SZ) == 0)
        flags |= 1;
    otpc__mon_t m = {0};
    m.pid = *parent;
    m.ref = *ref;
    if (monitor && otpc__vec_push(&p->mons_in, &m, MON_SZ) == 0)
        flags |= 2;
    return flags;
}

static void on_spawn_request(otpc_node_t *n, const otpc__ctrl_t *c)
{
    if (n->spawn) {
        n->spawn(n, c);
        return;
    }
    otpc_pid_t from = otpc__pid_from_ei(n, &c->from);
    otpc_ref_t req;
    if (otpc__ref_from_ei(n, &c->ref, &req) == 0)
        REMOTE(n, spawn_reply, &req, &from, 0, NULL, "notsup");
}

void otpc__monitor_in(otpc_node_t *n, const otpc_pid_t *to, const otpc__mon_t *m, int demonitor)
{
    otpc_proc_t *t = otpc__proc_lookup(n, to);
    if (demonitor) {
        if (t)
            mon_take(&t->mons_in, &m->ref, NULL);
        return;
    }
    if (t) {
        otpc__vec_push(&t->mons_in, m, MON_SZ);
        return;
    }
    /* gone before the signal was applied: noproc, the object as the watcher gave it */
    char raw[MAXATOMLEN_UTF8 + 32];
    int len = 0;
    const char *name = m->name ? otpc__atom_name(&n->atoms, m->name) : NULL;
    erlang_pid e = {.num = to->num, .serial = to->serial, .creation = to->creation};
    snprintf(e.node, sizeof e.node, "%s", otpc__atom_name(&n->atoms, to->node));
    if (name ? ei_encode_atom_len_as(raw, &len, name, (int)strlen(name), ERLANG_UTF8, ERLANG_UTF8)
             : ei_encode_pid(raw, &len, &e))
        return;
    otpc__mobj_t obj = {NULL, 0, raw, (size_t)len};
    otpc__enter(n); /* a signal out: every lock (a drain is between the loop's steps) */
    REMOTE(n, monitor_exit, &obj, &m->pid, &m->ref, NOPROC, sizeof NOPROC);
    otpc__leave(n);
}

int otpc__handle_ctrl_dom(otpc_node_t *n, const otpc__ctrl_t *c)
{
    int send = c->op == OTPC__DOP_SEND || c->op == OTPC__DOP_REG_SEND;
    if (!send && c->op != OTPC__DOP_MONITOR_P && c->op != OTPC__DOP_DEMONITOR_P)
        return 0;
    if (c->to_is_alias)
        return send; /* otpc makes no aliases: nobody to reach */
    otpc_proc_t *t;
    uint32_t name = 0;
    if (c->to_is_name) {
        name = otpc__atom_find(&n->atoms, c->to_name, c->to_name_len);
        t = name ? otpc__proc_by_name(n, name) : NULL;
    } else {
        otpc_pid_t to;
        t = otpc__pid_known(n, &c->to, &to) ? otpc__proc_lookup(n, &to) : NULL;
    }
    if (!t) /* a send to nobody is dropped; a monitor of nobody answers noproc */
        return c->op != OTPC__DOP_MONITOR_P;
    int here = otpc__dom_held(n, t->home); /* else: its domain's inbox */
    if (send) {
        otpc_pid_t from = {0, 0, 0, 0};
        if (c->has_from && !otpc__pid_known(n, &c->from, &from))
            return 0;
        if (!here)
            return otpc__inbox_send(n, t->home, &t->pid, &from, c->msg.data, c->msg.size) == 0;
        otpc__msg_t *m = otpc__msg_new(n, OTPC__M_MSG, &from, c->msg.data, c->msg.size);
        if (m)
            otpc__deliver(n, t, m);
        return 1;
    }
    otpc__mon_t m = {0};
    int demonitor = c->op == OTPC__DOP_DEMONITOR_P;
    if (!otpc__ref_known(n, &c->ref, &m.ref) ||
        (!demonitor && !otpc__pid_known(n, &c->from, &m.pid)))
        return 0;
    m.name = name;
    if (!here)
        return otpc__inbox_monitor(n, t->home, &t->pid, &m, demonitor) == 0;
    otpc__monitor_in(n, &t->pid, &m, demonitor);
    return 1;
}

void otpc__handle_ctrl(otpc_node_t *n, uint32_t peer_node, const otpc__ctrl_t *c)
{
    OTPC__ASSERT_ALL(n); /* links and monitors span domains */
    (void)peer_node;
    uint32_t name = 0;
    if (c->op == OTPC__DOP_SPAWN_REQUEST) {
        on_spawn_request(n, c);
        return;
    }
    /* otpc makes no aliases: a message or exit signal to one has no one to reach */
    otpc_proc_t *t = c->to_is_alias ? NULL : target(n, c, &name);
    switch (c->op) {
    case OTPC__DOP_SEND:
    case OTPC__DOP_REG_SEND:
        if (t) {
            otpc_pid_t from =
                c->has_from ? otpc__pid_from_ei(n, &c->from) : (otpc_pid_t){0, 0, 0, 0};
            otpc__msg_t *m = otpc__msg_new(n, OTPC__M_MSG, &from, c->msg.data, c->msg.size);
            if (m)
                otpc__deliver(n, t, m);
        }
        break;
    case OTPC__DOP_LINK:
        on_link(n, c, t);
        break;
    case OTPC__DOP_UNLINK:
        if (t) {
            otpc_pid_t from = otpc__pid_from_ei(n, &c->from);
            link_remove(t, &from);
        }
        break;
    case OTPC__DOP_UNLINK_ID:
    case OTPC__DOP_UNLINK_ID_ACK:
        on_unlink_id(n, c, t, c->op == OTPC__DOP_UNLINK_ID_ACK);
        break;
    case OTPC__DOP_EXIT:
    case OTPC__DOP_EXIT2:
        on_exit(n, c, t, c->op == OTPC__DOP_EXIT);
        break;
    case OTPC__DOP_MONITOR_P:
        on_monitor_p(n, c, t, name);
        break;
    case OTPC__DOP_DEMONITOR_P:
        if (t) {
            otpc_ref_t ref;
            if (otpc__ref_from_ei(n, &c->ref, &ref) == 0)
                mon_take(&t->mons_in, &ref, NULL);
        }
        break;
    case OTPC__DOP_MONITOR_P_EXIT:
        on_monitor_exit(n, c, t);
        break;
    default:
        /* ALIAS_SEND (to an alias we never made), GROUP_LEADER: nothing to do */
        break;
    }
}
