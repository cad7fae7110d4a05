/*
 * `global_name_server`: enough of kernel's global protocol (version 8, spoken by OTP
 * 25 to 29) for a -visible C node to be a quiet member of a cluster: every BEAM
 * node's global:sync/0 returns with it present, global:register_name/2,3 and
 * unregister_name/1 made anywhere in the cluster complete (they lock and register on
 * every known node, this one included), and C processes can hold global names.
 *
 * This node never takes a lock of its own and runs no resolver: the peer's side
 * drives each connection's synchronisation, and this side answers so that it
 * completes. Per peer node (all casts are gen_server casts to {global_name_server, N}):
 *
 *   in  {init_connect, {Vsn, HisTag}, Node, {locker, _, _, _}}
 *   out {init_connect, {8, MyTag}, node(), {locker, no_longer_a_pid, [], self()}}
 *       and the plain message {init_connect_ack, node(), HisTag, MyTag}
 *   in  {lock_set, HisLocker, true, _, MyTag}      (his locker has locked both sides;
 *   out {lock_set, self(), true, [], HisTag}        we "are" our locker and agree)
 *   in  {exchange, Node, Names, _, MyTag}          his names, kept here
 *   out {exchange, node(), OurNames, [], HisTag} and at once
 *       {resolved, node(), [], [], unused, [], HisTag}: his resolver settles clashes
 *   in  {resolved, Node, Ops, _, _, _, MyTag}      ops for us; Node is synced now
 *   in  {in_sync, Node, true}                       from a node that learnt of us
 *                                                  through new_nodes: synced too
 *
 * plus the calls his lockers and registrars make on every known node: {set_lock, Id}
 * and {del_lock, Id} (true), {register, Name, Pid, Method} and {register_ext, ...}
 * (yes), {unregister, Name} (ok), and {new_nodes, ...} ops. Names are kept in a table
 * (for otpc_global_whereis and for what this node tells newcomers) and dropped when
 * their process or its node goes. Not supported: locks taken by this node
 * (global:set_lock/1 cannot be called here), global groups, and the
 * prevent_overlapping_partitions bookkeeping (lost_connection messages are ignored;
 * the BEAM nodes still run it among themselves).
 *
 * Registering from C goes through a BEAM node's global: the server asks `rex` on a
 * connected visible node to run global:register_name(Name, Pid), and that node locks
 * and registers on every node, this one included.
 */
#include <stdlib.h>
#include <string.h>

#include "distribution/dist_int.h"
#include "otp/gen_server_int.h"
#include "proto/flags.h"
#include "services/services.h"
#include "util/log.h"

#define GLOBAL_VSN 8

typedef struct {
    uint32_t node;
    char *his_tag; /* encoded, no version byte; NULL until init_connect */
    size_t his_len;
    long my_tag;
    int synced;
} gpeer_t;

typedef struct {
    char *name; /* encoded, no version byte */
    size_t nlen;
    char *method;
    size_t mlen;
    otpc_pid_t pid;
    otpc_ref_t ref; /* our monitor on pid */
} gname_t;

typedef struct {
    otpc__vec_t peers; /* of gpeer_t */
    otpc__vec_t names; /* of gname_t */
    long next_tag;
} gns_t;

static const char GNS[] = "global_name_server";

/* ---- tables ------------------------------------------------------------------------ */

static gpeer_t *peer_get(gns_t *g, uint32_t node, int create)
{
    gpeer_t *p = g->peers.items;
    for (uint32_t i = 0; i < g->peers.len; i++)
        if (p[i].node == node)
            return &p[i];
    gpeer_t np = {node, NULL, 0, 0, 0};
    if (!create || otpc__vec_push(&g->peers, &np, sizeof np))
        return NULL;
    return (gpeer_t *)g->peers.items + g->peers.len - 1;
}

static gname_t *name_find(gns_t *g, const char *name, size_t nlen, uint32_t *at)
{
    gname_t *v = g->names.items;
    for (uint32_t i = 0; i < g->names.len; i++)
        if (v[i].nlen == nlen && !memcmp(v[i].name, name, nlen)) {
            if (at)
                *at = i;
            return &v[i];
        }
    return NULL;
}

static void name_del_at(otpc_proc_t *self, gns_t *g, uint32_t at)
{
    gname_t *v = g->names.items;
    otpc_demonitor(self, &v[at].ref);
    free(v[at].name);
    free(v[at].method);
    otpc__vec_del(&g->names, at, sizeof *v);
}

static void name_del(otpc_proc_t *self, gns_t *g, const char *name, size_t nlen)
{
    uint32_t at;
    if (name_find(g, name, nlen, &at))
        name_del_at(self, g, at);
}

static void name_put(otpc_proc_t *self, gns_t *g, const char *name, size_t nlen,
                     const otpc_pid_t *pid, const char *method, size_t mlen)
{
    name_del(self, g, name, nlen);
    gname_t e = {malloc(nlen), nlen, malloc(mlen ? mlen : 1), mlen, *pid, {0}};
    if (!e.name || !e.method || otpc_monitor(self, pid, &e.ref)) {
        free(e.name);
        free(e.method);
        return;
    }
    if (otpc__vec_push(&g->names, &e, sizeof e)) {
        otpc_demonitor(self, &e.ref);
        free(e.name);
        free(e.method);
        return;
    }
    memcpy(e.name, name, nlen);
    memcpy(e.method, method, mlen);
}

/* ---- what we send ---------------------------------------------------------------------- */

static void cast_to(otpc_proc_t *self, uint32_t node, ei_x_buff *x)
{
    otpc_send_name(self, GNS, otpc__atom_name(&otpc_proc_node(self)->atoms, node), otpc_term_x(x));
}

/* x := {'$gen_cast', {Tag, ... (arity elements in all, the caller adds the rest)}} */
static int x_cast(ei_x_buff *x, const char *tag, int arity)
{
    x->index = 0;
    return ei_x_encode_version(x) || ei_x_encode_tuple_header(x, 2) ||
           ei_x_encode_atom(x, "$gen_cast") || ei_x_encode_tuple_header(x, arity) ||
           ei_x_encode_atom(x, tag);
}

static int x_self_node(otpc_proc_t *self, ei_x_buff *x)
{
    return ei_x_encode_atom(x, otpc_proc_node(self)->name);
}

static void send_init_connect(otpc_proc_t *self, gpeer_t *p, ei_x_buff *x)
{
    otpc_pid_t me = otpc_self(self);
    if (!x_cast(x, "init_connect", 4) && !ei_x_encode_tuple_header(x, 2) &&
        !ei_x_encode_long(x, GLOBAL_VSN) && !ei_x_encode_long(x, p->my_tag) &&
        !x_self_node(self, x) && !ei_x_encode_tuple_header(x, 4) &&
        !ei_x_encode_atom(x, "locker") && !ei_x_encode_atom(x, "no_longer_a_pid") &&
        !ei_x_encode_empty_list(x) && !otpc_x_encode_pid(self, x, &me))
        cast_to(self, p->node, x);
    /* a plain message: {init_connect_ack, node(), HisTag, MyTag} */
    x->index = 0;
    if (!ei_x_encode_version(x) && !ei_x_encode_tuple_header(x, 4) &&
        !ei_x_encode_atom(x, "init_connect_ack") && !x_self_node(self, x) &&
        !ei_x_append_buf(x, p->his_tag, (int)p->his_len) && !ei_x_encode_long(x, p->my_tag))
        cast_to(self, p->node, x);
}

/* {exchange, node(), OurNames, [], HisTag} and {resolved, node(), [], [], unused, [],
 * HisTag}: the names of this node's processes only (the peer has the rest already). */
static void send_exchange(otpc_proc_t *self, gns_t *g, gpeer_t *p, ei_x_buff *x)
{
    otpc_node_t *n = otpc_proc_node(self);
    int err = x_cast(x, "exchange", 5) || x_self_node(self, x);
    gname_t *v = g->names.items;
    for (uint32_t i = 0; !err && i < g->names.len; i++)
        if (v[i].pid.node == n->self_atom)
            err = ei_x_encode_list_header(x, 1) || ei_x_encode_tuple_header(x, 3) ||
                  ei_x_append_buf(x, v[i].name, (int)v[i].nlen) ||
                  otpc_x_encode_pid(self, x, &v[i].pid) ||
                  ei_x_append_buf(x, v[i].method, (int)v[i].mlen);
    if (!err && !ei_x_encode_empty_list(x) && !ei_x_encode_empty_list(x) &&
        !ei_x_append_buf(x, p->his_tag, (int)p->his_len))
        cast_to(self, p->node, x);
    if (!x_cast(x, "resolved", 7) && !x_self_node(self, x) && !ei_x_encode_empty_list(x) &&
        !ei_x_encode_empty_list(x) && !ei_x_encode_atom(x, "unused") &&
        !ei_x_encode_empty_list(x) && !ei_x_append_buf(x, p->his_tag, (int)p->his_len))
        cast_to(self, p->node, x);
}

/* ---- what we receive ------------------------------------------------------------------- */

/* The atom at *i as a node atom (interned: it names a connected node). */
static int decode_node(otpc_proc_t *self, const char *b, int *i, uint32_t *out)
{
    char a[MAXATOMLEN_UTF8];
    if (ei_decode_atom(b, i, a))
        return -1;
    *out = otpc__atom(&otpc_proc_node(self)->atoms, a, strlen(a));
    return *out ? 0 : -1;
}

/* Is the term at *i the tag we gave p (MyTag)? *i moves past it either way. */
static int my_tag_is(const char *b, int *i, const gpeer_t *p)
{
    long t;
    return !ei_decode_long(b, i, &t) && p && t == p->my_tag;
}

/* {Name, Pid, Method} at *i, inserted. */
static int insert_triple(otpc_proc_t *self, gns_t *g, otpc_term_t m, int *i)
{
    int arity, at, mat;
    otpc_pid_t pid;
    if (ei_decode_tuple_header(m.data, i, &arity) || arity != 3)
        return -1;
    at = *i;
    if (otpc_skip_term(m, i))
        return -1;
    size_t nlen = (size_t)(*i - at);
    if (otpc_decode_pid(self, m.data, i, &pid))
        return -1;
    mat = *i;
    if (otpc_skip_term(m, i))
        return -1;
    name_put(self, g, m.data + at, nlen, &pid, m.data + mat, (size_t)(*i - mat));
    return 0;
}

/* [{insert, {Name, Pid, Method}} | {delete, Name}] at *i (do_ops' list). */
static void apply_ops(otpc_proc_t *self, gns_t *g, otpc_term_t m, int *i)
{
    int n, arity;
    if (ei_decode_list_header(m.data, i, &n))
        return;
    for (int k = 0; k < n; k++) {
        if (ei_decode_tuple_header(m.data, i, &arity) || arity != 2)
            return;
        if (otpc_decode_atom_is(m.data, i, "insert")) {
            if (insert_triple(self, g, m, i))
                return;
        } else if (otpc_decode_atom_is(m.data, i, "delete")) {
            int at = *i;
            if (otpc_skip_term(m, i))
                return;
            name_del(self, g, m.data + at, (size_t)(*i - at));
        } else if (otpc_skip_term(m, i) || otpc_skip_term(m, i)) {
            return;
        }
    }
}

static void on_init_connect(otpc_proc_t *self, gns_t *g, otpc_term_t m, int i, ei_x_buff *x)
{
    int arity, at;
    uint32_t node;
    /* {Vsn, HisTag} (or a longer tuple from a future version) */
    if (ei_decode_tuple_header(m.data, &i, &arity) || arity < 2 || otpc_skip_term(m, &i))
        return;
    at = i;
    if (otpc_skip_term(m, &i))
        return;
    size_t tlen = (size_t)(i - at);
    for (int k = 2; k < arity; k++)
        if (otpc_skip_term(m, &i))
            return;
    if (decode_node(self, m.data, &i, &node))
        return;
    gpeer_t *p = peer_get(g, node, 1);
    char *tag = malloc(tlen);
    if (!p || !tag) {
        free(tag);
        return;
    }
    memcpy(tag, m.data + at, tlen);
    free(p->his_tag);
    p->his_tag = tag;
    p->his_len = tlen;
    p->my_tag = ++g->next_tag;
    p->synced = 0;
    send_init_connect(self, p, x);
}

/* {'$gen_cast', Msg}, i at Msg */
static void on_cast(otpc_proc_t *self, gns_t *g, otpc_term_t m, int i, ei_x_buff *x)
{
    int arity, set;
    uint32_t node;
    otpc_pid_t pid;
    if (ei_decode_tuple_header(m.data, &i, &arity))
        return;
    if (arity == 4 && otpc_decode_atom_is(m.data, &i, "init_connect")) {
        on_init_connect(self, g, m, i, x);
    } else if (arity == 5 && otpc_decode_atom_is(m.data, &i, "lock_set")) {
        if (otpc_decode_pid(self, m.data, &i, &pid) || ei_decode_boolean(m.data, &i, &set) ||
            otpc_skip_term(m, &i))
            return;
        gpeer_t *p = peer_get(g, pid.node, 0);
        if (!set || !my_tag_is(m.data, &i, p) || !p->his_tag)
            return;
        otpc_pid_t me = otpc_self(self);
        if (!x_cast(x, "lock_set", 5) && !otpc_x_encode_pid(self, x, &me) &&
            !ei_x_encode_boolean(x, 1) && !ei_x_encode_empty_list(x) &&
            !ei_x_append_buf(x, p->his_tag, (int)p->his_len))
            cast_to(self, p->node, x);
    } else if (arity == 5 && otpc_decode_atom_is(m.data, &i, "exchange")) {
        int n;
        if (decode_node(self, m.data, &i, &node))
            return;
        gpeer_t *p = peer_get(g, node, 0);
        int names = i;
        if (otpc_skip_term(m, &i) || otpc_skip_term(m, &i) || !my_tag_is(m.data, &i, p) ||
            ei_decode_list_header(m.data, &names, &n))
            return;
        for (int k = 0; k < n; k++)
            if (insert_triple(self, g, m, &names))
                break;
        send_exchange(self, g, p, x);
    } else if (arity == 7 && otpc_decode_atom_is(m.data, &i, "resolved")) {
        if (decode_node(self, m.data, &i, &node))
            return;
        gpeer_t *p = peer_get(g, node, 0);
        int ops = i;
        for (int k = 0; k < 4; k++)
            if (otpc_skip_term(m, &i))
                return;
        if (!my_tag_is(m.data, &i, p))
            return;
        apply_ops(self, g, m, &ops);
        p->synced = 1;
        OTPC__LOG_INFO("global", "in sync with %s",
                       otpc__atom_name(&otpc_proc_node(self)->atoms, node));
    } else if (arity == 6 && otpc_decode_atom_is(m.data, &i, "new_nodes")) {
        if (!otpc_skip_term(m, &i))
            apply_ops(self, g, m, &i);
    } else if (arity == 3 && otpc_decode_atom_is(m.data, &i, "in_sync")) {
        /* a node that learnt of us from a node in sync with us (new_nodes): it counts
         * us as known without a session of its own, and so do we */
        gpeer_t *p = decode_node(self, m.data, &i, &node) ? NULL : peer_get(g, node, 1);
        if (p)
            p->synced = 1;
    }
    /* async_del_name, async_del_lock: nothing to do here */
}

/* The calls every node's global_name_server answers for the cluster's lockers and
 * registrars; others get no answer, as from OTP's (it logs them). */
static void on_call(otpc_proc_t *self, gns_t *g, otpc_term_t m, ei_x_buff *x)
{
    otpc__from_t from;
    int i, arity, at;
    otpc_pid_t pid;
    if (!otpc__decode_call(self, m, &from, &i))
        return;
    x->index = 0;
    int err = ei_x_encode_version(x);
    int k = i, synced = 0;
    if ((synced = otpc_decode_atom_is(m.data, &k, "get_synced")) ||
        otpc_decode_atom_is(m.data, &k, "get_known")) {
        gpeer_t *p = g->peers.items;
        for (uint32_t j = 0; !err && j < g->peers.len; j++)
            if ((p[j].his_tag || p[j].synced) && (!synced || p[j].synced))
                err = ei_x_encode_list_header(x, 1) ||
                      ei_x_encode_atom(x, otpc__atom_name(&otpc_proc_node(self)->atoms, p[j].node));
        err = err || ei_x_encode_empty_list(x);
    } else if (otpc_decode_atom_is(m.data, &k, "get_protocol_version")) {
        err = err || ei_x_encode_long(x, GLOBAL_VSN);
    } else if (ei_decode_tuple_header(m.data, &i, &arity)) {
        return;
    } else if (arity == 2 && (otpc_decode_atom_is(m.data, &i, "set_lock") ||
                              otpc_decode_atom_is(m.data, &i, "del_lock"))) {
        /* another node's lock on this one: granted, there is nothing here to protect */
        err = err || ei_x_encode_boolean(x, 1);
    } else if ((arity == 4 && otpc_decode_atom_is(m.data, &i, "register")) ||
               (arity == 5 && otpc_decode_atom_is(m.data, &i, "register_ext"))) {
        at = i;
        if (otpc_skip_term(m, &i))
            return;
        size_t nlen = (size_t)(i - at);
        if (otpc_decode_pid(self, m.data, &i, &pid))
            return;
        int mat = i;
        if (otpc_skip_term(m, &i))
            return;
        name_put(self, g, m.data + at, nlen, &pid, m.data + mat, (size_t)(i - mat));
        err = err || ei_x_encode_atom(x, "yes");
    } else if (arity == 2 && otpc_decode_atom_is(m.data, &i, "unregister")) {
        at = i;
        if (otpc_skip_term(m, &i))
            return;
        name_del(self, g, m.data + at, (size_t)(i - at));
        err = err || ei_x_encode_atom(x, "ok");
    } else {
        OTPC__LOG_DEBUG("global", "no answer to an unknown call, as OTP's global");
        return;
    }
    if (!err)
        otpc__gen_reply(self, &from, otpc_term_x(x));
}

/* {whereis, Name, From}: gen_server:reply(From, Pid | undefined). */
static void on_whereis(otpc_proc_t *self, gns_t *g, otpc_term_t m, int i, ei_x_buff *x)
{
    otpc__from_t from;
    int at = i, req;
    if (otpc_skip_term(m, &i))
        return;
    gname_t *e = name_find(g, m.data + at, (size_t)(i - at), NULL);
    if (!otpc__decode_from(self, m, i, &from, &req))
        return;
    x->index = 0;
    if (!ei_x_encode_version(x) &&
        !(e ? otpc_x_encode_pid(self, x, &e->pid) : ei_x_encode_atom(x, "undefined")))
        otpc__gen_reply(self, &from, otpc_term_x(x));
}

static void on_down(otpc_proc_t *self, gns_t *g, otpc_term_t m, int i)
{
    otpc_ref_t ref;
    if (otpc_decode_ref(self, m.data, &i, &ref))
        return;
    gname_t *v = g->names.items;
    for (uint32_t k = 0; k < g->names.len; k++)
        if (otpc_ref_eq(&v[k].ref, &ref)) {
            name_del_at(self, g, k);
            return;
        }
}

static void gns_handle(otpc_proc_t *self, otpc_term_t m)
{
    gns_t *g = otpc_proc_data(self);
    ei_x_buff x;
    int i;
    if (ei_x_new(&x))
        return;
    if (otpc_term_is_tagged(m, "$gen_cast", 2, &i)) {
        on_cast(self, g, m, i, &x);
    } else if (otpc_term_is_tagged(m, "$gen_call", 3, &i)) {
        on_call(self, g, m, &x);
    } else if (otpc_term_is_tagged(m, "whereis", 3, &i)) {
        on_whereis(self, g, m, i, &x);
    } else if (otpc_term_is_tagged(m, "DOWN", 5, &i)) {
        on_down(self, g, m, i);
    } else if (otpc_term_is_tagged(m, "nodedown", 2, &i)) {
        uint32_t node;
        gpeer_t *p = decode_node(self, m.data, &i, &node) ? NULL : peer_get(g, node, 0);
        if (p) {
            free(p->his_tag);
            otpc__vec_del(&g->peers, (uint32_t)(p - (gpeer_t *)g->peers.items), sizeof *p);
        }
    }
    /* init_connect_ack, cancel_connect (a new init_connect follows), lost_connection,
     * remove_connection: nothing to do for a node that holds no locks */
    ei_x_free(&x);
}

static int gns_init(otpc_proc_t *self, void *arg)
{
    gns_t *g = calloc(1, sizeof *g);
    (void)arg;
    if (!g)
        return OTPC_ENOMEM;
    otpc_proc_set_data(self, g);
    int rc = otpc_register(self, GNS);
    if (!rc)
        rc = otpc_monitor_nodes(self, 1);
    if (rc)
        free(g);
    return rc;
}

static void gns_terminate(otpc_proc_t *self, otpc_term_t reason)
{
    (void)reason;
    gns_t *g = otpc_proc_data(self);
    gpeer_t *p = g->peers.items;
    for (uint32_t k = 0; k < g->peers.len; k++)
        free(p[k].his_tag);
    gname_t *v = g->names.items;
    for (uint32_t k = 0; k < g->names.len; k++) {
        free(v[k].name);
        free(v[k].method);
    }
    free(g->peers.items);
    free(g->names.items);
    free(g);
}

static const otpc_proc_ops_t gns_ops = {.name = "global_name_server",
                                        .init = gns_init,
                                        .handle = gns_handle,
                                        .terminate = gns_terminate};

/* ---- the C API ----------------------------------------------------------------------- */

static gns_t *gns_of(otpc_node_t *n)
{
    uint32_t a = otpc__atom_find(&n->atoms, GNS, strlen(GNS));
    otpc_proc_t *p = a ? otpc__proc_by_name(n, a) : NULL;
    return p && p->ops == &gns_ops ? otpc_proc_data(p) : NULL;
}

int otpc_global_whereis(otpc_node_t *n, otpc_term_t name, otpc_pid_t *out)
{
    OTPC__ENTER(n);
    gns_t *g = gns_of(n);
    if (otpc__check_term(name))
        return OTPC_EINVAL;
    gname_t *e = g ? name_find(g, name.data + 1, name.size - 1, NULL) : NULL;
    if (!e)
        return OTPC_ENOPROC;
    *out = e->pid;
    return 0;
}

/* A registration asked of a BEAM node's rex: {Me, {call, global, register_name,
 * [Name, Pid], Me}} (rex's plain form, in every release), its {rex, Reply} (or the
 * DOWN of rex) forwarded as {otpc_global, Name, Reply} to whoever asked. */
typedef struct {
    otpc_pid_t reply_to, pid;
    char *name; /* encoded, no version byte */
    size_t nlen;
    uint32_t node;
} gregister_t;

static void greg_done(otpc_proc_t *self, gregister_t *r, const char *reply, size_t rlen)
{
    ei_x_buff x;
    if (!ei_x_new_with_version(&x) && !ei_x_encode_tuple_header(&x, 3) &&
        !ei_x_encode_atom(&x, "otpc_global") && !ei_x_append_buf(&x, r->name, (int)r->nlen) &&
        !ei_x_append_buf(&x, reply, (int)rlen))
        otpc_send(self, &r->reply_to, otpc_term_x(&x));
    ei_x_free(&x);
    otpc_exit(self, OTPC__TERM(otpc__t_normal));
}

static int greg_init(otpc_proc_t *self, void *arg)
{
    gregister_t *r = arg;
    otpc_ref_t mref;
    otpc_pid_t me = otpc_self(self);
    const char *node = otpc__atom_name(&otpc_proc_node(self)->atoms, r->node);
    ei_x_buff x;
    if (ei_x_new_with_version(&x))
        return OTPC_ENOMEM;
    int rc = ei_x_encode_tuple_header(&x, 2) || otpc_x_encode_pid(self, &x, &me) ||
                     ei_x_encode_tuple_header(&x, 5) || ei_x_encode_atom(&x, "call") ||
                     ei_x_encode_atom(&x, "global") || ei_x_encode_atom(&x, "register_name") ||
                     ei_x_encode_list_header(&x, 2) || ei_x_append_buf(&x, r->name, (int)r->nlen) ||
                     otpc_x_encode_pid(self, &x, &r->pid) || ei_x_encode_empty_list(&x) ||
                     otpc_x_encode_pid(self, &x, &me)
                 ? OTPC_ENOMEM
                 : otpc_monitor_name(self, "rex", node, &mref);
    if (!rc)
        rc = otpc_send_name(self, "rex", node, otpc_term_x(&x));
    ei_x_free(&x);
    if (!rc)
        otpc_proc_set_data(self, r); /* from here terminate frees r */
    return rc;
}

static void greg_handle(otpc_proc_t *self, otpc_term_t m)
{
    gregister_t *r = otpc_proc_data(self);
    int i;
    static const char nodedown[] = {ERL_SMALL_TUPLE_EXT,
                                    2,
                                    ERL_SMALL_ATOM_UTF8_EXT,
                                    5,
                                    'b',
                                    'a',
                                    'd',
                                    'r',
                                    'p',
                                    'c',
                                    ERL_SMALL_ATOM_UTF8_EXT,
                                    8,
                                    'n',
                                    'o',
                                    'd',
                                    'e',
                                    'd',
                                    'o',
                                    'w',
                                    'n'};
    if (otpc_term_is_tagged(m, "rex", 2, &i))
        greg_done(self, r, m.data + i, m.size - (size_t)i);
    else if (otpc_term_is_tagged(m, "DOWN", 5, &i))
        greg_done(self, r, nodedown, sizeof nodedown);
}

static void greg_terminate(otpc_proc_t *self, otpc_term_t reason)
{
    (void)reason;
    gregister_t *r = otpc_proc_data(self);
    if (!r)
        return;
    free(r->name);
    free(r);
}

static const otpc_proc_ops_t greg_ops = {.name = "global_register",
                                         .init = greg_init,
                                         .handle = greg_handle,
                                         .terminate = greg_terminate};

int otpc_global_register(otpc_proc_t *self, otpc_term_t name, const otpc_pid_t *pid,
                         const otpc_pid_t *reply_to)
{
    OTPC__ENTER(self->node);
    otpc_node_t *n = otpc_proc_node(self);
    gns_t *g = gns_of(n);
    if (!pid || otpc__check_term(name) || !otpc__pid_is_local(n, pid))
        return OTPC_EINVAL;
    gpeer_t *p = g ? g->peers.items : NULL;
    uint32_t k = 0;
    while (p && k < g->peers.len && !p[k].synced)
        k++;
    if (!p || k == g->peers.len)
        return OTPC_ENOPROC; /* no node of the cluster to ask */
    gregister_t *r = calloc(1, sizeof *r);
    if (!r || !(r->name = malloc(name.size - 1))) {
        free(r);
        return OTPC_ENOMEM;
    }
    memcpy(r->name, name.data + 1, name.size - 1);
    r->nlen = name.size - 1;
    r->reply_to = reply_to ? *reply_to : otpc_self(self);
    r->node = p[k].node;
    r->pid = *pid;
    otpc_pid_t helper;
    int rc = otpc__spawn_sys(n, &greg_ops, r, &helper);
    if (rc) {
        free(r->name);
        free(r);
    }
    return rc;
}

/* ---- for rpc: global:whereis_name/1 from this node's table, and
 * otpc_global:register_name(Name, Pid, ReplyTo), which asks and answers ok (ReplyTo
 * gets {otpc_global, Name, yes | no | {badrpc, _}}), or error noproc with no BEAM
 * node to ask ---------------------------------------------------------------------- */

static otpc_rpc_result_t rpc_whereis(otpc_proc_t *self, otpc_term_t args, ei_x_buff *out, void *arg)
{
    int i = 1, n;
    otpc_pid_t pid;
    ei_x_buff name;
    (void)arg;
    if (ei_decode_list_header(args.data, &i, &n) || ei_x_new_with_version(&name))
        return OTPC_RPC_NOMEM;
    int rc = otpc_x_append_subterm(&name, args, &i)
                 ? OTPC_EINVAL
                 : otpc_global_whereis(otpc_proc_node(self), otpc_term_x(&name), &pid);
    ei_x_free(&name);
    if (rc == 0)
        return otpc_x_encode_pid(self, out, &pid) ? OTPC_RPC_NOMEM : OTPC_RPC_RETURN;
    return ei_x_encode_atom(out, "undefined") ? OTPC_RPC_NOMEM : OTPC_RPC_RETURN;
}

static otpc_rpc_result_t rpc_register(otpc_proc_t *self, otpc_term_t args, ei_x_buff *out,
                                      void *arg)
{
    int i = 1, n;
    otpc_pid_t pid, to;
    ei_x_buff name;
    (void)arg;
    if (ei_decode_list_header(args.data, &i, &n) || ei_x_new_with_version(&name))
        return OTPC_RPC_NOMEM;
    int rc = otpc_x_append_subterm(&name, args, &i) || otpc_decode_pid(self, args.data, &i, &pid) ||
                     otpc_decode_pid(self, args.data, &i, &to)
                 ? OTPC_EINVAL
                 : otpc_global_register(self, otpc_term_x(&name), &pid, &to);
    ei_x_free(&name);
    const char *a = rc == 0 ? "ok" : rc == OTPC_ENOPROC ? "noproc" : "badarg";
    return ei_x_encode_atom(out, a) ? OTPC_RPC_NOMEM : rc ? OTPC_RPC_ERROR : OTPC_RPC_RETURN;
}

int otpc__global_start(otpc_node_t *n, void *arg)
{
    (void)arg;
    otpc_pid_t pid;
    int rc = otpc__spawn_sys(n, &gns_ops, NULL, &pid);
    if (!rc)
        rc = otpc_rpc_register(n, "global", "whereis_name", 1, rpc_whereis, NULL);
    if (!rc)
        rc = otpc_rpc_register(n, "otpc_global", "register_name", 3, rpc_register, NULL);
    return rc;
}
