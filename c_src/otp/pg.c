/*
 * pg scopes: process groups shared with BEAM nodes (kernel's pg, OTP 23+).
 *
 * A scope is a process registered under the scope's name (`pg` for the default one)
 * that holds, per group, the pids joined on this node and those its peers (the same
 * scope's process on other nodes) told it about. It speaks the pg exchange every OTP
 * release since 23 understands (OTP 29's pg calls it version 0):
 *
 *   {discover, Peer} | {discover, Peer, Version}   answered with the cast
 *        {'$gen_cast', {sync, Me, [{Group, [LocalPid]}]}}, and when Peer is new: a
 *        monitor on it and {discover, Me} back (we always say version 0)
 *   {'$gen_cast', {sync, Peer, Groups}}             Peer's members, replacing what we had
 *   {join, Peer, Group, PidOrPids}                  from a known peer only
 *   {leave, Peer, PidOrPids, [Group]}               one occurrence per group
 *   {'DOWN', Ref, process, Peer, _}                 the peer's members go
 *   {nodeup, Node}                                  {discover, Me} to {Scope, Node}
 *
 * BEAM scopes discover nodes through net_kernel:monitor_nodes/1, which is blind to
 * hidden nodes; this side sends {discover, Me} whenever a connection comes up, to
 * every connected node at the scope's start, and every 5 s to connected nodes whose
 * scope it has not met (one started there later), so a hidden C node takes part too;
 * only to nodes that announce DFLAG_SPAWN (BEAM and otpc nodes, not erl_interface or
 * jinterface ones). Like BEAM, a node runs no scope until asked: the first
 * otpc_pg_start or otpc_pg_join of a scope (pg:start/join over rpc, a daemon's
 * pg_group) starts it, so a node that never uses pg sends nothing.
 * Joined local pids are monitored; one that dies leaves all its groups, and the peers
 * get {leave, Me, Pid, Groups}. Erlang may also join this node's processes through the
 * scope's own calls, {join_local, Group, PidOrPids} and {leave_local, Group,
 * PidOrPids}, as pg:join/leave ask a BEAM scope.
 *
 * Groups compare by their external encoding (without the version byte): terms BEAM or
 * ei encode are canonical, so the same group from either side matches. Each group is a
 * vector of pids (a pid joined twice is there twice, as in pg). Lookups are linear: a
 * join scans the scope's local members, a leave or a member's death also scans the
 * groups' members. That is cheap for groups of thousands to tens of thousands; a
 * million-member group would want an index by pid (not done).
 */
#include <stdlib.h>
#include <string.h>

#include "distribution/dist_int.h"
#include "otp/gen_server_int.h"
#include "otp/pg.h"
#include "proto/flags.h"
#include "util/log.h"

typedef struct {
    char *key; /* the group's encoding, no version byte */
    size_t klen;
    otpc__vec_t pids; /* of otpc_pid_t: local and remote members */
} group_t;

typedef struct {
    otpc_pid_t pid;
    otpc_ref_t ref; /* the scope's monitor on it */
    uint32_t joins; /* memberships, duplicates counted */
} local_t;

typedef struct {
    otpc_pid_t pid; /* the peer node's scope process */
    otpc_ref_t ref;
} peer_t;

typedef struct {
    otpc_node_t *n;
    char name[MAXATOMLEN_UTF8];
    otpc_pid_t pid;
    otpc__vec_t groups; /* of group_t */
    otpc__vec_t locals; /* of local_t */
    otpc__vec_t peers;  /* of peer_t */
} scope_t;

typedef struct {
    otpc__vec_t scopes; /* of scope_t *, the live scope processes */
} pg_t;

static otpc__ext_key_t pg_key;

static void pg_free(otpc_node_t *n, void *state)
{
    (void)n;
    pg_t *P = state;
    free(P->scopes.items); /* the scopes went with their processes */
    free(P);
}

static pg_t *pg_of(otpc_node_t *n, int create)
{
    int slot = atomic_load_explicit(&pg_key.slot, memory_order_relaxed);
    pg_t *P = slot ? n->ext[slot - 1] : NULL;
    if (P || !create)
        return P;
    P = calloc(1, sizeof *P);
    if (P && otpc__ext_add(n, &pg_key, P, pg_free)) {
        free(P);
        P = NULL;
    }
    return P;
}

static scope_t *scope_find(otpc_node_t *n, const char *name)
{
    pg_t *P = pg_of(n, 0);
    scope_t **s = P ? P->scopes.items : NULL;
    for (uint32_t i = 0; P && i < P->scopes.len; i++)
        if (!strcmp(s[i]->name, name ? name : "pg"))
            return s[i];
    return NULL;
}

/* ---- groups ------------------------------------------------------------------------ */

static group_t *group_find(scope_t *s, const char *key, size_t klen)
{
    group_t *g = s->groups.items;
    for (uint32_t i = 0; i < s->groups.len; i++)
        if (g[i].klen == klen && !memcmp(g[i].key, key, klen))
            return &g[i];
    return NULL;
}

static group_t *group_get(scope_t *s, const char *key, size_t klen)
{
    group_t *g = group_find(s, key, klen);
    if (g)
        return g;
    group_t ng = {malloc(klen ? klen : 1), klen, {0}};
    if (!ng.key || otpc__vec_push(&s->groups, &ng, sizeof ng)) {
        free(ng.key);
        return NULL;
    }
    memcpy(ng.key, key, klen);
    return (group_t *)s->groups.items + s->groups.len - 1;
}

/* Drop the groups left without members (pg has no empty groups). */
static void groups_prune(scope_t *s)
{
    group_t *g = s->groups.items;
    for (uint32_t i = s->groups.len; i-- > 0;)
        if (!g[i].pids.len) {
            free(g[i].key);
            free(g[i].pids.items);
            otpc__vec_del(&s->groups, i, sizeof *g);
        }
}

/* Remove one occurrence of pid from g; 1 if there was one. */
static int group_drop_one(group_t *g, const otpc_pid_t *pid)
{
    otpc_pid_t *p = g->pids.items;
    for (uint32_t i = 0; i < g->pids.len; i++)
        if (otpc_pid_eq(&p[i], pid)) {
            otpc__vec_del(&g->pids, i, sizeof *p);
            return 1;
        }
    return 0;
}

/* Every member on `node`, from every group. */
static void drop_node(scope_t *s, uint32_t node)
{
    group_t *g = s->groups.items;
    for (uint32_t k = 0; k < s->groups.len; k++) {
        otpc_pid_t *p = g[k].pids.items;
        for (uint32_t i = g[k].pids.len; i-- > 0;)
            if (p[i].node == node)
                otpc__vec_del(&g[k].pids, i, sizeof *p);
    }
    groups_prune(s);
}

/* ---- messages to peers ------------------------------------------------------------- */

static otpc_proc_t *scope_proc(scope_t *s)
{
    return otpc__proc_lookup(s->n, &s->pid);
}

/* x: {Tag, Me, ... (the caller adds `more` elements)} */
static int x_head(scope_t *s, ei_x_buff *x, const char *tag, int more)
{
    x->index = 0;
    return ei_x_encode_version(x) || ei_x_encode_tuple_header(x, 2 + more) ||
           ei_x_encode_atom(x, tag) || otpc__x_pid(s->n, x, &s->pid);
}

static void broadcast(scope_t *s, const ei_x_buff *x)
{
    otpc_proc_t *self = scope_proc(s);
    peer_t *p = s->peers.items;
    for (uint32_t i = 0; self && i < s->peers.len; i++)
        otpc_send(self, &p[i].pid, otpc_term_x(x));
}

static void tell_join(scope_t *s, const char *key, size_t klen, const otpc_pid_t *pid)
{
    ei_x_buff x;
    if (!s->peers.len || ei_x_new(&x))
        return;
    if (!x_head(s, &x, "join", 2) && !ei_x_append_buf(&x, key, (int)klen) &&
        !otpc__x_pid(s->n, &x, pid))
        broadcast(s, &x);
    ei_x_free(&x);
}

/* {leave, Me, Pid, Groups}; keys: nkeys group encodings */
static void tell_leave(scope_t *s, const otpc_pid_t *pid, const group_t *const *keys,
                       uint32_t nkeys)
{
    ei_x_buff x;
    if (!s->peers.len || !nkeys || ei_x_new(&x))
        return;
    int err = x_head(s, &x, "leave", 2) || otpc__x_pid(s->n, &x, pid) ||
              ei_x_encode_list_header(&x, nkeys);
    for (uint32_t i = 0; !err && i < nkeys; i++)
        err = ei_x_append_buf(&x, keys[i]->key, (int)keys[i]->klen);
    if (!err && !ei_x_encode_empty_list(&x))
        broadcast(s, &x);
    ei_x_free(&x);
}

static int x_discover(scope_t *s, ei_x_buff *x)
{
    return x_head(s, x, "discover", 0);
}

/* {'$gen_cast', {sync, Me, [{Group, [LocalPid]}]}} to `to` */
static void send_sync(scope_t *s, otpc_proc_t *self, const otpc_pid_t *to)
{
    ei_x_buff x;
    if (ei_x_new_with_version(&x))
        return;
    int err = ei_x_encode_tuple_header(&x, 2) || ei_x_encode_atom(&x, "$gen_cast") ||
              ei_x_encode_tuple_header(&x, 3) || ei_x_encode_atom(&x, "sync") ||
              otpc__x_pid(s->n, &x, &s->pid);
    group_t *g = s->groups.items;
    for (uint32_t k = 0; !err && k < s->groups.len; k++) {
        const otpc_pid_t *p = g[k].pids.items;
        uint32_t local = 0;
        for (uint32_t i = 0; i < g[k].pids.len; i++)
            local += p[i].node == s->n->self_atom;
        if (!local)
            continue;
        err = ei_x_encode_list_header(&x, 1) || ei_x_encode_tuple_header(&x, 2) ||
              ei_x_append_buf(&x, g[k].key, (int)g[k].klen) || ei_x_encode_list_header(&x, local);
        for (uint32_t i = 0; !err && i < g[k].pids.len; i++)
            if (p[i].node == s->n->self_atom)
                err = otpc__x_pid(s->n, &x, &p[i]);
        err = err || ei_x_encode_empty_list(&x);
    }
    if (!err && !ei_x_encode_empty_list(&x))
        otpc_send(self, to, otpc_term_x(&x));
    ei_x_free(&x);
}

/* Only BEAM nodes (and other otpc nodes) run pg scopes: a peer that cannot take spawn
 * requests (erl_interface, jinterface) gets no discover it would not understand. */
static int may_run_pg(otpc_node_t *n, uint32_t node)
{
    otpc__dist_t *D = otpc__dist(n);
    const otpc__peer_t *p = D && node < D->peers_cap ? D->peers[node] : NULL;
    return p && p->conn && (p->flags & OTPC__DF_SPAWN);
}

static void discover_node(scope_t *s, otpc_proc_t *self, uint32_t node)
{
    ei_x_buff x;
    if (!may_run_pg(s->n, node) || ei_x_new(&x))
        return;
    if (!x_discover(s, &x))
        otpc_send_name(self, s->name, otpc__atom_name(&s->n->atoms, node), otpc_term_x(&x));
    ei_x_free(&x);
}

/* ---- local members ------------------------------------------------------------------- */

static local_t *local_find(scope_t *s, const otpc_pid_t *pid, uint32_t *at)
{
    local_t *l = s->locals.items;
    for (uint32_t i = 0; i < s->locals.len; i++)
        if (otpc_pid_eq(&l[i].pid, pid)) {
            if (at)
                *at = i;
            return &l[i];
        }
    return NULL;
}

static int join_one(scope_t *s, const char *key, size_t klen, const otpc_pid_t *pid)
{
    otpc_proc_t *self = scope_proc(s);
    if (!self)
        return OTPC_ENOPROC;
    local_t *l = local_find(s, pid, NULL);
    if (!l) {
        local_t nl = {*pid, {0}, 0};
        int rc = otpc__vec_push(&s->locals, &nl, sizeof nl);
        if (rc)
            return rc;
        l = (local_t *)s->locals.items + s->locals.len - 1;
        rc = otpc_monitor(self, pid, &l->ref);
        if (rc) {
            s->locals.len--;
            return rc;
        }
    }
    group_t *g = group_get(s, key, klen);
    if (!g || otpc__vec_push(&g->pids, pid, sizeof *pid)) {
        groups_prune(s);
        if (!l->joins) {
            otpc_demonitor(self, &l->ref);
            s->locals.len--; /* it was the last one pushed */
        }
        return OTPC_ENOMEM;
    }
    l->joins++;
    tell_join(s, key, klen, pid);
    return 0;
}

static int leave_one(scope_t *s, const char *key, size_t klen, const otpc_pid_t *pid)
{
    uint32_t at;
    group_t *g = group_find(s, key, klen);
    local_t *l = local_find(s, pid, &at);
    if (!g || !l || !group_drop_one(g, pid))
        return OTPC_ENOPROC;
    if (--l->joins == 0) {
        otpc_proc_t *self = scope_proc(s);
        if (self)
            otpc_demonitor(self, &l->ref);
        otpc__vec_del(&s->locals, at, sizeof *l);
    }
    const group_t *keys[1] = {g};
    tell_leave(s, pid, keys, 1);
    groups_prune(s);
    return 0;
}

/* A joined local process ended: out of every group, and the peers are told. */
static void local_down(scope_t *s, uint32_t at)
{
    local_t l = ((local_t *)s->locals.items)[at];
    otpc__vec_del(&s->locals, at, sizeof l);
    const group_t **keys = calloc(l.joins ? l.joins : 1, sizeof *keys);
    uint32_t nkeys = 0;
    group_t *g = s->groups.items;
    for (uint32_t k = 0; k < s->groups.len; k++)
        while (group_drop_one(&g[k], &l.pid))
            if (keys && nkeys < l.joins)
                keys[nkeys++] = &g[k];
    if (keys)
        tell_leave(s, &l.pid, keys, nkeys);
    free(keys);
    groups_prune(s);
}

/* ---- the scope process ----------------------------------------------------------------- */

/* The pid, or each pid of the list, at *i into out (cleared first). -1 if neither. */
static int decode_pids(otpc_proc_t *self, otpc_term_t t, int *i, otpc__vec_t *out)
{
    int type, size, n;
    otpc_pid_t pid;
    out->len = 0;
    if (ei_get_type(t.data, i, &type, &size))
        return -1;
    if (type == ERL_PID_EXT || type == ERL_NEW_PID_EXT)
        return otpc_decode_pid(self, t.data, i, &pid) || otpc__vec_push(out, &pid, sizeof pid);
    if (type == ERL_NIL_EXT)
        return ei_decode_list_header(t.data, i, &n);
    if (type != ERL_LIST_EXT || ei_decode_list_header(t.data, i, &n))
        return -1;
    for (int k = 0; k < n; k++)
        if (otpc_decode_pid(self, t.data, i, &pid) || otpc__vec_push(out, &pid, sizeof pid))
            return -1;
    return ei_decode_list_header(t.data, i, &n) || n ? -1 : 0;
}

static peer_t *peer_find(scope_t *s, const otpc_pid_t *pid)
{
    peer_t *p = s->peers.items;
    for (uint32_t i = 0; i < s->peers.len; i++)
        if (otpc_pid_eq(&p[i].pid, pid))
            return &p[i];
    return NULL;
}

/* A peer we did not know: monitored from now on. */
static peer_t *peer_add(scope_t *s, otpc_proc_t *self, const otpc_pid_t *pid)
{
    peer_t np = {*pid, {0}};
    if (otpc_monitor(self, pid, &np.ref) || otpc__vec_push(&s->peers, &np, sizeof np))
        return NULL;
    return (peer_t *)s->peers.items + s->peers.len - 1;
}

static void on_discover(scope_t *s, otpc_proc_t *self, otpc_term_t msg, int i)
{
    otpc_pid_t peer;
    if (otpc_decode_pid(self, msg.data, &i, &peer) || otpc_pid_eq(&peer, &s->pid))
        return;
    send_sync(s, self, &peer);
    if (peer_find(s, &peer) || !peer_add(s, self, &peer))
        return;
    ei_x_buff x;
    if (ei_x_new(&x))
        return;
    if (!x_discover(s, &x))
        otpc_send(self, &peer, otpc_term_x(&x));
    ei_x_free(&x);
}

/* {sync, Peer, [{Group, [Pid]}]} at i: Peer's members replace the ones we had. */
static void on_sync(scope_t *s, otpc_proc_t *self, otpc_term_t msg, int i, otpc__vec_t *tmp)
{
    otpc_pid_t peer;
    int n, arity;
    if (otpc_decode_pid(self, msg.data, &i, &peer) ||
        (!peer_find(s, &peer) && !peer_add(s, self, &peer)))
        return;
    drop_node(s, peer.node);
    if (ei_decode_list_header(msg.data, &i, &n))
        return;
    for (int k = 0; k < n; k++) {
        int at;
        if (ei_decode_tuple_header(msg.data, &i, &arity) || arity != 2)
            break;
        at = i;
        if (otpc_skip_term(msg, &i))
            break;
        size_t klen = (size_t)(i - at);
        if (decode_pids(self, msg, &i, tmp))
            break;
        group_t *g = NULL;
        otpc_pid_t *p = tmp->items;
        for (uint32_t j = 0; j < tmp->len; j++)
            if (p[j].node == peer.node && ((!g && !(g = group_get(s, msg.data + at, klen))) ||
                                           otpc__vec_push(&g->pids, &p[j], sizeof p[j])))
                break;
    }
    groups_prune(s);
}

/* {join, Peer, Group, PidOrPids} / {leave, Peer, PidOrPids, Groups}, i at Peer */
static void on_remote(scope_t *s, otpc_proc_t *self, otpc_term_t msg, int i, int join,
                      otpc__vec_t *tmp)
{
    otpc_pid_t peer;
    int at, n;
    if (otpc_decode_pid(self, msg.data, &i, &peer) || !peer_find(s, &peer))
        return; /* not (or no longer) in the overlay: ignored, as pg does */
    if (join) {
        at = i;
        if (otpc_skip_term(msg, &i))
            return;
        size_t klen = (size_t)(i - at);
        if (decode_pids(self, msg, &i, tmp))
            return;
        group_t *g = group_get(s, msg.data + at, klen);
        otpc_pid_t *p = tmp->items;
        for (uint32_t j = 0; g && j < tmp->len; j++)
            if (p[j].node == peer.node && otpc__vec_push(&g->pids, &p[j], sizeof p[j]))
                break;
        groups_prune(s);
        return;
    }
    if (decode_pids(self, msg, &i, tmp) || ei_decode_list_header(msg.data, &i, &n))
        return;
    for (int k = 0; k < n; k++) {
        at = i;
        if (otpc_skip_term(msg, &i))
            break;
        group_t *g = group_find(s, msg.data + at, (size_t)(i - at));
        otpc_pid_t *p = tmp->items;
        for (uint32_t j = 0; g && j < tmp->len; j++)
            group_drop_one(g, &p[j]);
    }
    groups_prune(s);
}

static void on_down(scope_t *s, otpc_proc_t *self, otpc_term_t msg, int i)
{
    otpc_ref_t ref;
    if (otpc_decode_ref(self, msg.data, &i, &ref))
        return;
    local_t *l = s->locals.items;
    for (uint32_t k = 0; k < s->locals.len; k++)
        if (otpc_ref_eq(&l[k].ref, &ref)) {
            local_down(s, k);
            return;
        }
    peer_t *p = s->peers.items;
    for (uint32_t k = 0; k < s->peers.len; k++)
        if (otpc_ref_eq(&p[k].ref, &ref)) {
            uint32_t node = p[k].pid.node;
            otpc__vec_del(&s->peers, k, sizeof *p);
            drop_node(s, node);
            return;
        }
}

/* {join_local, Group, PidOrPids} / {leave_local, ...}: ok, not_joined (leave), or
 * {error, {nolocal, Pid}} for a pid of another node (pg:join raises that before it
 * calls). */
static void on_call(scope_t *s, otpc_proc_t *self, otpc_term_t msg, otpc__vec_t *tmp)
{
    otpc__from_t from;
    int i, arity, join = 0;
    if (!otpc__decode_call(self, msg, &from, &i) || ei_decode_tuple_header(msg.data, &i, &arity) ||
        arity != 3 ||
        (!(join = otpc_decode_atom_is(msg.data, &i, "join_local")) &&
         !otpc_decode_atom_is(msg.data, &i, "leave_local")))
        return; /* other calls (pg:monitor...) are a BEAM scope's own business */
    int at = i;
    if (otpc_skip_term(msg, &i))
        return;
    size_t klen = (size_t)(i - at);
    if (decode_pids(self, msg, &i, tmp))
        return;
    const char *reply = "ok";
    otpc_pid_t *p = tmp->items;
    for (uint32_t j = 0; j < tmp->len; j++)
        if (p[j].node != s->n->self_atom)
            reply = NULL;
    for (uint32_t j = 0; reply && j < tmp->len; j++) {
        int rc = join ? join_one(s, msg.data + at, klen, &p[j])
                      : leave_one(s, msg.data + at, klen, &p[j]);
        if (rc == OTPC_ENOPROC)
            reply = "not_joined";
    }
    ei_x_buff x;
    if (ei_x_new_with_version(&x))
        return;
    if (!(reply ? ei_x_encode_atom(&x, reply)
                : ei_x_encode_tuple_header(&x, 2) || ei_x_encode_atom(&x, "error") ||
                      ei_x_encode_atom(&x, "nolocal")))
        otpc__gen_reply(self, &from, otpc_term_x(&x));
    ei_x_free(&x);
}

#define REDISCOVER_MS 5000
static const char T_REDISCOVER[] =
    OTPC__VATOM(16, '$', 'o', 't', 'p', 'c', '_', 'r', 'e', 'd', 'i', 's', 'c', 'o', 'v', 'e', 'r');

/* {discover, Me} to every connected node whose scope is not a peer yet, and again
 * in REDISCOVER_MS: a BEAM scope started after the connection came up announces
 * itself only to visible nodes. */
static void rediscover(scope_t *s, otpc_proc_t *self)
{
    otpc__dist_t *D = otpc__dist(s->n);
    for (uint32_t a = 0; D && a < D->peers_cap; a++) {
        if (!D->peers[a] || !D->peers[a]->conn)
            continue;
        const peer_t *p = s->peers.items;
        uint32_t k = 0;
        while (k < s->peers.len && p[k].pid.node != D->peers[a]->node)
            k++;
        if (k == s->peers.len)
            discover_node(s, self, D->peers[a]->node);
    }
    otpc_pid_t me = otpc_self(self);
    otpc_send_after(self, REDISCOVER_MS, &me, OTPC__TERM(T_REDISCOVER), NULL);
}

static void scope_handle(otpc_proc_t *self, otpc_term_t msg)
{
    scope_t *s = otpc_proc_data(self);
    otpc__vec_t tmp = {0};
    int i, arity;
    char node[MAXATOMLEN_UTF8];
    if (otpc_term_is_tagged(msg, "discover", 2, &i) || otpc_term_is_tagged(msg, "discover", 3, &i))
        on_discover(s, self, msg, i);
    else if (otpc_term_is_tagged(msg, "$gen_cast", 2, &i)) {
        if (!ei_decode_tuple_header(msg.data, &i, &arity) && arity == 3 &&
            otpc_decode_atom_is(msg.data, &i, "sync"))
            on_sync(s, self, msg, i, &tmp);
    } else if (otpc_term_is_tagged(msg, "join", 4, &i))
        on_remote(s, self, msg, i, 1, &tmp);
    else if (otpc_term_is_tagged(msg, "leave", 4, &i))
        on_remote(s, self, msg, i, 0, &tmp);
    else if (otpc_term_is_tagged(msg, "DOWN", 5, &i))
        on_down(s, self, msg, i);
    else if (otpc_term_is_tagged(msg, "nodeup", 2, &i)) {
        if (!ei_decode_atom(msg.data, &i, node))
            discover_node(s, self, otpc__atom(&s->n->atoms, node, strlen(node)));
    } else if (otpc_term_is_tagged(msg, "$gen_call", 3, &i))
        on_call(s, self, msg, &tmp);
    else if (OTPC__MSG_IS(msg, T_REDISCOVER))
        rediscover(s, self);
    free(tmp.items);
}

static int scope_init(otpc_proc_t *self, void *arg)
{
    scope_t *s = arg;
    otpc_proc_set_data(self, s);
    s->pid = otpc_self(self);
    int rc = otpc_register(self, s->name);
    if (!rc)
        rc = otpc_monitor_nodes(self, 1);
    if (rc)
        return rc;
    rediscover(s, self);
    return 0;
}

static void scope_free(scope_t *s)
{
    group_t *g = s->groups.items;
    for (uint32_t i = 0; i < s->groups.len; i++) {
        free(g[i].key);
        free(g[i].pids.items);
    }
    free(s->groups.items);
    free(s->locals.items);
    free(s->peers.items);
    free(s);
}

static void scope_terminate(otpc_proc_t *self, otpc_term_t reason)
{
    (void)reason;
    scope_t *s = otpc_proc_data(self);
    if (!s)
        return;
    pg_t *P = pg_of(s->n, 0);
    scope_t **v = P ? P->scopes.items : NULL;
    for (uint32_t i = 0; P && i < P->scopes.len; i++)
        if (v[i] == s)
            otpc__vec_del(&P->scopes, i, sizeof *v);
    scope_free(s);
}

static const otpc_proc_ops_t scope_ops = {
    .name = "pg", .init = scope_init, .handle = scope_handle, .terminate = scope_terminate};

/* ---- the API ----------------------------------------------------------------------------- */

int otpc_pg_start(otpc_node_t *n, const char *scope, otpc_pid_t *out)
{
    OTPC__ENTER(n);
    OTPC__ASSERT_SCHED(n);
    if (!scope)
        scope = "pg";
    if (!*scope || strlen(scope) >= MAXATOMLEN_UTF8)
        return OTPC_EINVAL;
    scope_t *s = scope_find(n, scope);
    if (s) {
        if (out)
            *out = s->pid;
        return 0;
    }
    pg_t *P = pg_of(n, 1);
    s = calloc(1, sizeof *s);
    if (!P || !s || otpc__vec_push(&P->scopes, &s, sizeof s)) {
        free(s);
        return OTPC_ENOMEM;
    }
    s->n = n;
    strcpy(s->name, scope);
    otpc_pid_t pid;
    int rc = otpc__spawn_sys(n, &scope_ops, s, &pid);
    if (rc) {
        P->scopes.len--; /* it was the last one pushed */
        scope_free(s);
        return rc;
    }
    if (out)
        *out = pid;
    return 0;
}

/* The group's encoding without its version byte; -1 if group is no single term. */
static int group_key(otpc_term_t group, const char **key, size_t *klen)
{
    if (otpc__check_term(group))
        return -1;
    *key = group.data + 1;
    *klen = group.size - 1;
    return 0;
}

int otpc_pg_join(otpc_node_t *n, const char *scope, otpc_term_t group, const otpc_pid_t *pid)
{
    OTPC__ENTER(n);
    const char *key;
    size_t klen;
    if (!pid || group_key(group, &key, &klen) || !otpc__pid_is_local(n, pid))
        return OTPC_EINVAL;
    int rc = otpc_pg_start(n, scope, NULL);
    return rc ? rc : join_one(scope_find(n, scope), key, klen, pid);
}

int otpc_pg_leave(otpc_node_t *n, const char *scope, otpc_term_t group, const otpc_pid_t *pid)
{
    OTPC__ENTER(n);
    const char *key;
    size_t klen;
    if (!pid || group_key(group, &key, &klen) || !otpc__pid_is_local(n, pid))
        return OTPC_EINVAL;
    scope_t *s = scope_find(n, scope);
    return s ? leave_one(s, key, klen, pid) : OTPC_ENOPROC;
}

long otpc_pg_members(otpc_node_t *n, const char *scope, otpc_term_t group, int local_only,
                     otpc_pid_t *out, size_t cap)
{
    OTPC__ENTER(n);
    const char *key;
    size_t klen;
    if (group_key(group, &key, &klen))
        return OTPC_EINVAL;
    scope_t *s = scope_find(n, scope);
    group_t *g = s ? group_find(s, key, klen) : NULL;
    long count = 0;
    const otpc_pid_t *p = g ? g->pids.items : NULL;
    for (uint32_t i = 0; g && i < g->pids.len; i++) {
        if (local_only && p[i].node != n->self_atom)
            continue;
        if ((size_t)count < cap)
            out[count] = p[i];
        count++;
    }
    return count;
}

int otpc__pg_x_groups(otpc_node_t *n, const char *scope, ei_x_buff *x)
{
    scope_t *s = scope_find(n, scope);
    group_t *g = s ? s->groups.items : NULL;
    for (uint32_t i = 0; g && i < s->groups.len; i++)
        if (ei_x_encode_list_header(x, 1) || ei_x_append_buf(x, g[i].key, (int)g[i].klen))
            return OTPC_ENOMEM;
    return ei_x_encode_empty_list(x) ? OTPC_ENOMEM : 0;
}
