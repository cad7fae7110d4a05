/*
 * The built-in service `pg`: the default pg scope (otp/pg.c) and pg's functions for
 * rpc and erpc, so that Erlang can ask a C node what BEAM's pg answers there:
 * pg:join/2,3 and leave/2,3 (for this node's processes), get_members/1,2,
 * get_local_members/1,2 and which_groups/0,1. They answer as pg does, except that
 * join/leave start a scope that is not running (as otpc_pg_join does), and
 * get_members of a scope that does not run is [] rather than badarg.
 */
#include <stdlib.h>
#include <string.h>

#include "otp/gen_server_int.h"
#include "otp/pg.h"
#include "services/services.h"

typedef enum { F_JOIN, F_LEAVE, F_MEMBERS, F_LOCAL, F_GROUPS, F_START } pg_fn_t;

typedef struct {
    const char *name;
    unsigned arity;
    pg_fn_t fn;
    int scoped; /* the first argument is the scope */
} pg_rpc_t;

static const pg_rpc_t fns[] = {
    {"join", 2, F_JOIN, 0},
    {"join", 3, F_JOIN, 1},
    {"leave", 2, F_LEAVE, 0},
    {"leave", 3, F_LEAVE, 1},
    {"get_members", 1, F_MEMBERS, 0},
    {"get_members", 2, F_MEMBERS, 1},
    {"get_local_members", 1, F_LOCAL, 0},
    {"get_local_members", 2, F_LOCAL, 1},
    {"which_groups", 0, F_GROUPS, 0},
    {"which_groups", 1, F_GROUPS, 1},
    {"start", 1, F_START, 1},
};

#define RET(e, kind) ((e) ? OTPC_RPC_NOMEM : (kind))

static otpc_rpc_result_t badarg(ei_x_buff *out)
{
    out->index = 0;
    return RET(ei_x_encode_atom(out, "badarg"), OTPC_RPC_ERROR);
}

static otpc_rpc_result_t members(otpc_proc_t *self, const char *scope, otpc_term_t group, int local,
                                 ei_x_buff *out)
{
    otpc_node_t *n = otpc_proc_node(self);
    long k = otpc_pg_members(n, scope, group, local, NULL, 0);
    if (k < 0)
        return badarg(out);
    otpc_pid_t *v = k ? calloc((size_t)k, sizeof *v) : NULL;
    if (k && !v)
        return OTPC_RPC_NOMEM;
    k = otpc_pg_members(n, scope, group, local, v, (size_t)k);
    int err = 0;
    for (long i = 0; !err && i < k; i++)
        err = ei_x_encode_list_header(out, 1) || otpc_x_encode_pid(self, out, &v[i]);
    free(v);
    return RET(err || ei_x_encode_empty_list(out), OTPC_RPC_RETURN);
}

/* join or leave of the pid, or of each pid of the list, at *i of args. */
static otpc_rpc_result_t join_leave(otpc_proc_t *self, const char *scope, otpc_term_t group,
                                    otpc_term_t args, int i, int join, ei_x_buff *out)
{
    otpc_node_t *n = otpc_proc_node(self);
    int type, size, count = 1;
    if (ei_get_type(args.data, &i, &type, &size))
        return badarg(out);
    if (type == ERL_LIST_EXT || type == ERL_NIL_EXT) {
        if (ei_decode_list_header(args.data, &i, &count))
            return badarg(out);
    }
    const char *answer = "ok";
    for (int k = 0; k < count; k++) {
        int at = i;
        otpc_pid_t pid;
        if (otpc_decode_pid(self, args.data, &i, &pid) || !otpc__pid_is_local(n, &pid)) {
            /* pg:join raises {nolocal, Bad} for anything but this node's pids */
            out->index = 0;
            return RET(ei_x_encode_tuple_header(out, 2) || ei_x_encode_atom(out, "nolocal") ||
                           otpc_x_append_subterm(out, args, &at),
                       OTPC_RPC_ERROR);
        }
        int rc = join ? otpc_pg_join(n, scope, group, &pid) : otpc_pg_leave(n, scope, group, &pid);
        if (rc == OTPC_ENOPROC && !join)
            answer = "not_joined";
        else if (rc == OTPC_ENOMEM)
            return OTPC_RPC_NOMEM;
        else if (rc)
            return badarg(out);
    }
    return RET(ei_x_encode_atom(out, answer), OTPC_RPC_RETURN);
}

static otpc_rpc_result_t pg_rpc(otpc_proc_t *self, otpc_term_t args, ei_x_buff *out, void *arg)
{
    const pg_rpc_t *f = arg;
    char scope[MAXATOMLEN_UTF8] = "pg";
    int i = 1, n;
    if (ei_decode_list_header(args.data, &i, &n) ||
        (f->scoped && ei_decode_atom(args.data, &i, scope)))
        return badarg(out);
    if (f->fn == F_GROUPS)
        return RET(otpc__pg_x_groups(otpc_proc_node(self), scope, out), OTPC_RPC_RETURN);
    if (f->fn == F_START) { /* pg:start(Scope): {ok, Pid}, the running one included */
        otpc_pid_t pid;
        int rc = otpc_pg_start(otpc_proc_node(self), scope, &pid);
        if (rc == OTPC_ENOMEM)
            return OTPC_RPC_NOMEM;
        if (rc)
            return badarg(out);
        return RET(ei_x_encode_tuple_header(out, 2) || ei_x_encode_atom(out, "ok") ||
                       otpc_x_encode_pid(self, out, &pid),
                   OTPC_RPC_RETURN);
    }
    ei_x_buff g;
    if (ei_x_new_with_version(&g))
        return OTPC_RPC_NOMEM;
    otpc_rpc_result_t k;
    if (otpc_x_append_subterm(&g, args, &i))
        k = badarg(out);
    else if (f->fn == F_MEMBERS || f->fn == F_LOCAL)
        k = members(self, scope, otpc_term_x(&g), f->fn == F_LOCAL, out);
    else
        k = join_leave(self, scope, otpc_term_x(&g), args, i, f->fn == F_JOIN, out);
    ei_x_free(&g);
    return k;
}

int otpc__pg_service_start(otpc_node_t *n, void *arg)
{
    (void)arg;
    int rc = 0;
    for (size_t k = 0; !rc && k < sizeof fns / sizeof *fns; k++) {
        rc = otpc_rpc_register(n, "pg", fns[k].name, fns[k].arity, pg_rpc, (void *)&fns[k]);
        if (rc == OTPC_ENAMETAKEN)
            rc = 0; /* a node started again in the same process registered them already */
    }
    return rc;
}
