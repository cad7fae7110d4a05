/*
 * The functions every C node answers through rpc/erpc/rex (see rpc.h): what a shell
 * next to a node asks first. Each reads the node's own state; none blocks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "distribution/dist_int.h"
#include "otp/gen_server_int.h"
#include "proto/flags.h"
#include "services/rpc.h"

#define X(expr) ((expr) ? OTPC_RPC_NOMEM : OTPC_RPC_RETURN)

static otpc_rpc_result_t badarg(ei_x_buff *out)
{
    out->index = 0;
    return ei_x_encode_atom(out, "badarg") ? OTPC_RPC_NOMEM : OTPC_RPC_ERROR;
}

/* The single argument of a one-argument call, at *i. */
static int first_arg(otpc_term_t args, int *i)
{
    int n;
    *i = 1;
    return ei_decode_list_header(args.data, i, &n) == 0 && n == 1 ? 0 : -1;
}

static otpc_rpc_result_t f_node(otpc_proc_t *self, otpc_term_t args, ei_x_buff *out, void *arg)
{
    (void)args;
    (void)arg;
    otpc_node_t *n = otpc_proc_node(self);
    return X(ei_x_encode_atom(out, n->name));
}

/* Connected nodes that are not hidden, as nodes() lists them. */
static otpc_rpc_result_t f_nodes(otpc_proc_t *self, otpc_term_t args, ei_x_buff *out, void *arg)
{
    (void)args;
    (void)arg;
    otpc_node_t *n = otpc_proc_node(self);
    otpc__dist_t *D = otpc__dist(n);
    for (uint32_t i = 0; i < D->peers_cap; i++) {
        const otpc__peer_t *p = D->peers[i];
        if (p && p->conn && (p->flags & OTPC__DF_PUBLISHED) &&
            (ei_x_encode_list_header(out, 1) ||
             ei_x_encode_atom(out, otpc__atom_name(&n->atoms, p->node))))
            return OTPC_RPC_NOMEM;
    }
    return X(ei_x_encode_empty_list(out));
}

static otpc_rpc_result_t f_registered(otpc_proc_t *self, otpc_term_t args, ei_x_buff *out,
                                      void *arg)
{
    (void)args;
    (void)arg;
    otpc_node_t *n = otpc_proc_node(self);
    for (uint32_t a = 0; a < n->names_cap; a++)
        if (n->names[a] && (ei_x_encode_list_header(out, 1) ||
                            ei_x_encode_atom(out, otpc__atom_name(&n->atoms, a))))
            return OTPC_RPC_NOMEM;
    return X(ei_x_encode_empty_list(out));
}

static otpc_rpc_result_t f_whereis(otpc_proc_t *self, otpc_term_t args, ei_x_buff *out, void *arg)
{
    (void)arg;
    otpc_node_t *n = otpc_proc_node(self);
    char name[MAXATOMLEN_UTF8];
    size_t len;
    int i;
    if (first_arg(args, &i) || otpc__decode_atom(args.data, &i, name, &len))
        return badarg(out);
    uint32_t a = otpc__atom_find(&n->atoms, name, len);
    otpc_proc_t *p = a ? otpc__proc_by_name(n, a) : NULL;
    return X(p ? otpc__x_pid(n, out, &p->pid) : ei_x_encode_atom(out, "undefined"));
}

static otpc_rpc_result_t f_processes(otpc_proc_t *self, otpc_term_t args, ei_x_buff *out, void *arg)
{
    (void)args;
    (void)arg;
    otpc_node_t *n = otpc_proc_node(self);
    for (uint32_t s = 0; s < n->nprocs_cap; s++) {
        otpc_proc_t *p = n->procs[s];
        if (p && !p->exiting && (ei_x_encode_list_header(out, 1) || otpc__x_pid(n, out, &p->pid)))
            return OTPC_RPC_NOMEM;
    }
    return X(ei_x_encode_empty_list(out));
}

/* A local pid argument: the process (NULL if dead), or -1 for anything else. */
static int pid_arg(otpc_proc_t *self, otpc_term_t args, int *i, otpc_proc_t **p)
{
    otpc_pid_t pid;
    if (otpc_decode_pid(self, args.data, i, &pid) ||
        !otpc__pid_is_local(otpc_proc_node(self), &pid))
        return -1;
    *p = otpc__proc_lookup(otpc_proc_node(self), &pid);
    if (*p && (*p)->exiting)
        *p = NULL;
    return 0;
}

static otpc_rpc_result_t f_is_process_alive(otpc_proc_t *self, otpc_term_t args, ei_x_buff *out,
                                            void *arg)
{
    (void)arg;
    otpc_proc_t *p;
    int i;
    if (first_arg(args, &i) || pid_arg(self, args, &i, &p))
        return badarg(out);
    return X(ei_x_encode_boolean(out, p != NULL));
}

/* ---- process_info --------------------------------------------------------------------- */

static const char *const ITEMS[] = {"registered_name", "status",      "message_queue_len",
                                    "links",           "monitors",    "monitored_by",
                                    "dictionary",      "trap_exit",   "current_function",
                                    "initial_call",    "group_leader"};

static unsigned queue_len(const otpc_proc_t *p)
{
    unsigned k = 0;
    for (const otpc__msg_t *m = p->mhead; m; m = m->next)
        k++;
    return k;
}

#define UNKNOWN_ITEM 1

/* {Item, Value}; for registered_name of an unregistered process, [] as BEAM gives.
 * 0, UNKNOWN_ITEM, or OTPC_ENOMEM. */
static int x_item(otpc_node_t *n, otpc_proc_t *p, const char *item, ei_x_buff *x)
{
    unsigned k;
    if (!strcmp(item, "registered_name") && !p->name)
        return ei_x_encode_empty_list(x) ? OTPC_ENOMEM : 0;
    for (k = 0; k < sizeof ITEMS / sizeof *ITEMS && strcmp(ITEMS[k], item); k++)
        ;
    if (k == sizeof ITEMS / sizeof *ITEMS)
        return UNKNOWN_ITEM;
    if (ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, item))
        return OTPC_ENOMEM;
    int err = 0;
    switch (k) {
    case 0:
        err = ei_x_encode_atom(x, otpc__atom_name(&n->atoms, p->name));
        break;
    case 1:
        err = ei_x_encode_atom(x, p->running ? "running" : p->in_runq ? "runnable" : "waiting");
        break;
    case 2:
        err = ei_x_encode_ulong(x, queue_len(p));
        break;
    case 3: {
        const otpc__link_t *l = p->links.items;
        for (uint32_t j = 0; !err && j < p->links.len; j++)
            err = ei_x_encode_list_header(x, 1) || otpc__x_pid(n, x, &l[j].pid);
        err = err || ei_x_encode_empty_list(x);
        break;
    }
    case 4:
    case 5: {
        const otpc__vec_t *v = k == 4 ? &p->mons_out : &p->mons_in;
        const otpc__mon_t *m = v->items;
        for (uint32_t j = 0; !err && j < v->len; j++) {
            err = ei_x_encode_list_header(x, 1);
            if (!err && k == 4)
                err = ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "process");
            err = err || otpc__x_pid(n, x, &m[j].pid);
        }
        err = err || ei_x_encode_empty_list(x);
        break;
    }
    case 6:
        err = ei_x_encode_empty_list(x);
        break;
    case 7:
        err = ei_x_encode_boolean(x, p->trap_exit);
        break;
    case 8:
    case 9: {
        const char *mod = otpc__gs(p)    ? otpc__gs(p)->mod->name
                          : p->ops->name ? p->ops->name
                                         : "otpc_proc";
        err = ei_x_encode_tuple_header(x, 3) || ei_x_encode_atom(x, mod) ||
              ei_x_encode_atom(x, k == 8 ? "loop" : "init") || ei_x_encode_long(x, 1);
        break;
    }
    default: /* a C process has no group leader of its own: itself, as init has */
        err = otpc__x_pid(n, x, &p->pid);
        break;
    }
    return err ? OTPC_ENOMEM : 0;
}

static otpc_rpc_result_t f_process_info1(otpc_proc_t *self, otpc_term_t args, ei_x_buff *out,
                                         void *arg)
{
    (void)arg;
    otpc_node_t *n = otpc_proc_node(self);
    otpc_proc_t *p;
    int i;
    if (first_arg(args, &i) || pid_arg(self, args, &i, &p))
        return badarg(out);
    if (!p)
        return X(ei_x_encode_atom(out, "undefined"));
    for (size_t k = 0; k < sizeof ITEMS / sizeof *ITEMS; k++) {
        if (k == 0 && !p->name)
            continue; /* absent, as BEAM leaves it out */
        if (ei_x_encode_list_header(out, 1) || x_item(n, p, ITEMS[k], out))
            return OTPC_RPC_NOMEM;
    }
    return X(ei_x_encode_empty_list(out));
}

static otpc_rpc_result_t f_process_info2(otpc_proc_t *self, otpc_term_t args, ei_x_buff *out,
                                         void *arg)
{
    (void)arg;
    otpc_node_t *n = otpc_proc_node(self);
    otpc_proc_t *p;
    char item[MAXATOMLEN_UTF8];
    size_t len;
    int i = 1, cnt, type, size;
    if (ei_decode_list_header(args.data, &i, &cnt) || cnt != 2 || pid_arg(self, args, &i, &p) ||
        ei_get_type(args.data, &i, &type, &size))
        return badarg(out);
    if (type == ERL_ATOM_EXT) {
        if (otpc__decode_atom(args.data, &i, item, &len))
            return badarg(out);
        if (!p)
            return X(ei_x_encode_atom(out, "undefined"));
        int rc = x_item(n, p, item, out);
        return rc == UNKNOWN_ITEM ? badarg(out) : rc ? OTPC_RPC_NOMEM : OTPC_RPC_RETURN;
    }
    /* a list of items */
    int items;
    if (type == ERL_NIL_EXT)
        items = 0;
    else if (type != ERL_LIST_EXT || ei_decode_list_header(args.data, &i, &items))
        return badarg(out);
    if (!p)
        return X(ei_x_encode_atom(out, "undefined"));
    for (int k = 0; k < items; k++) {
        if (otpc__decode_atom(args.data, &i, item, &len) || ei_x_encode_list_header(out, 1))
            return badarg(out);
        int rc = x_item(n, p, item, out);
        if (rc == UNKNOWN_ITEM)
            return badarg(out);
        if (rc)
            return OTPC_RPC_NOMEM;
    }
    return X(ei_x_encode_empty_list(out));
}

/* ---- memory, system_info, init:stop ---------------------------------------------------- */

/* Resident bytes of the OS process, from /proc/self/statm. */
static unsigned long resident(void)
{
    unsigned long size = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * (unsigned long)sysconf(_SC_PAGESIZE);
}

static otpc_rpc_result_t f_memory(otpc_proc_t *self, otpc_term_t args, ei_x_buff *out, void *arg)
{
    (void)args;
    (void)arg;
    otpc_node_t *n = otpc_proc_node(self);
    unsigned long total = resident(), procs = 0, atoms = 0;
    for (uint32_t s = 0; s < n->nprocs_cap; s++) {
        const otpc_proc_t *p = n->procs[s];
        if (!p)
            continue;
        procs += sizeof *p + p->links.cap * sizeof(otpc__link_t) +
                 (p->mons_in.cap + p->mons_out.cap) * sizeof(otpc__mon_t);
        for (const otpc__msg_t *m = p->mhead; m; m = m->next)
            procs += sizeof *m + m->len;
    }
    for (uint32_t a = 1; a < n->atoms.count; a++)
        atoms += strlen(otpc__atom_name(&n->atoms, a)) + 1;
    const char *keys[] = {"total",     "processes", "processes_used", "system", "atom",
                          "atom_used", "binary",    "code",           "ets"};
    unsigned long vals[] = {total, procs, procs, total > procs ? total - procs : 0, atoms, atoms,
                            0,     0,     0};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
        if (ei_x_encode_list_header(out, 1) || ei_x_encode_tuple_header(out, 2) ||
            ei_x_encode_atom(out, keys[k]) || ei_x_encode_ulong(out, vals[k]))
            return OTPC_RPC_NOMEM;
    return X(ei_x_encode_empty_list(out));
}

static otpc_rpc_result_t f_system_info(otpc_proc_t *self, otpc_term_t args, ei_x_buff *out,
                                       void *arg)
{
    (void)arg;
    otpc_node_t *n = otpc_proc_node(self);
    char item[MAXATOMLEN_UTF8];
    size_t len;
    int i;
    if (first_arg(args, &i) || otpc__decode_atom(args.data, &i, item, &len))
        return badarg(out);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (!strcmp(item, "process_count"))
        return X(ei_x_encode_ulong(out, n->live));
    if (!strcmp(item, "process_limit"))
        return X(ei_x_encode_ulong(out, 1UL << 27));
    if (!strcmp(item, "schedulers") || !strcmp(item, "schedulers_online"))
        return X(ei_x_encode_long(out, (long)n->nscheds));
    if (!strcmp(item, "logical_processors") || !strcmp(item, "logical_processors_online"))
        return X(ei_x_encode_long(out, cpus > 0 ? cpus : 1));
    if (!strcmp(item, "wordsize"))
        return X(ei_x_encode_long(out, (long)sizeof(void *)));
    if (!strcmp(item, "creation"))
        return X(ei_x_encode_ulong(out, n->creation));
    if (!strcmp(item, "machine"))
        return X(ei_x_encode_string(out, "otpc"));
    if (!strcmp(item, "system_version"))
        return X(ei_x_encode_string(out, "otpc: a C node (erl_interface term codec)\n"));
    return badarg(out);
}

static otpc_rpc_result_t f_init_stop(otpc_proc_t *self, otpc_term_t args, ei_x_buff *out, void *arg)
{
    (void)args;
    (void)arg;
    /* the result is sent in this turn; the stop flushes every connection first */
    otpc_node_t *n = otpc_proc_node(self);
    if (n->stop)
        n->stop(n);
    return X(ei_x_encode_atom(out, "ok"));
}

/* otpc_node:lock_stats(): [{schedulers, N}, {all_locks, Times}], Times being how often
 * a thread took every scheduler's lock since the node started (a domain's own events
 * and processes take only its lock: bench/ and the daemon suite count the difference). */
static otpc_rpc_result_t f_lock_stats(otpc_proc_t *self, otpc_term_t args, ei_x_buff *out,
                                      void *arg)
{
    (void)args;
    (void)arg;
    otpc_node_t *n = otpc_proc_node(self);
    return X(ei_x_encode_list_header(out, 2) || ei_x_encode_tuple_header(out, 2) ||
             ei_x_encode_atom(out, "schedulers") || ei_x_encode_ulong(out, n->nscheds) ||
             ei_x_encode_tuple_header(out, 2) || ei_x_encode_atom(out, "all_locks") ||
             ei_x_encode_ulonglong(out, atomic_load(&n->all_locks)) || ei_x_encode_empty_list(out));
}

int otpc__rpc_builtins(otpc_node_t *n)
{
    static const struct {
        const char *mod, *fun;
        unsigned arity;
        otpc_rpc_fn fn;
    } table[] = {
        {"erlang", "node", 0, f_node},
        {"erlang", "nodes", 0, f_nodes},
        {"erlang", "registered", 0, f_registered},
        {"erlang", "whereis", 1, f_whereis},
        {"erlang", "processes", 0, f_processes},
        {"erlang", "process_info", 1, f_process_info1},
        {"erlang", "process_info", 2, f_process_info2},
        {"erlang", "is_process_alive", 1, f_is_process_alive},
        {"erlang", "memory", 0, f_memory},
        {"erlang", "system_info", 1, f_system_info},
        {"init", "stop", 0, f_init_stop},
        {"otpc_node", "lock_stats", 0, f_lock_stats},
    };
    for (size_t k = 0; k < sizeof table / sizeof *table; k++) {
        int rc = otpc__rpc_register_sys(n, table[k].mod, table[k].fun, table[k].arity, table[k].fn);
        if (rc)
            return rc;
    }
    return 0;
}
