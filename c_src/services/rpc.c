/* rpc, erpc and rex into C; see rpc.h. */
#include "services/rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "distribution/dist_int.h"
#include "otp/gen_server_int.h"
#include "proto/flags.h"
#include "proto/term.h"
#include "util/log.h"

typedef struct {
    char *mod, *fun;
    unsigned arity;
    otpc_rpc_fn fn;
    void *arg;
    int user; /* a program's or plug-in's: runs without the node lock */
} fn_t;

typedef struct {
    fn_t *fns;
    uint32_t n;
} rpc_t;

static otpc__ext_key_t rpc_key;

static rpc_t *rpc_of(otpc_node_t *n)
{
    return n->ext[atomic_load_explicit(&rpc_key.slot, memory_order_relaxed) - 1];
}

static const fn_t *lookup(otpc_node_t *n, const char *mod, const char *fun, unsigned arity)
{
    rpc_t *R = rpc_of(n);
    for (uint32_t i = 0; i < R->n; i++)
        if (R->fns[i].arity == arity && !strcmp(R->fns[i].fun, fun) && !strcmp(R->fns[i].mod, mod))
            return &R->fns[i];
    return NULL;
}

static int reg(otpc_node_t *node, const char *module, const char *function, unsigned arity,
               otpc_rpc_fn fn, void *arg, int user)
{
    if (!module || !function || !fn || !*module || !*function)
        return OTPC_EINVAL;
    rpc_t *R = rpc_of(node);
    if (lookup(node, module, function, arity))
        return OTPC_ENAMETAKEN;
    fn_t *v = realloc(R->fns, (R->n + 1) * sizeof *v);
    if (!v)
        return OTPC_ENOMEM;
    R->fns = v;
    fn_t *f = &v[R->n];
    f->mod = strdup(module);
    f->fun = strdup(function);
    if (!f->mod || !f->fun) {
        free(f->mod);
        free(f->fun);
        return OTPC_ENOMEM;
    }
    f->arity = arity;
    f->fn = fn;
    f->arg = arg;
    f->user = user;
    R->n++;
    return 0;
}

int otpc_rpc_register(otpc_node_t *node, const char *module, const char *function, unsigned arity,
                      otpc_rpc_fn fn, void *arg)
{
    OTPC__ENTER(node);
    return reg(node, module, function, arity, fn, arg, 1);
}

int otpc__rpc_register_sys(otpc_node_t *n, const char *module, const char *function, unsigned arity,
                           otpc_rpc_fn fn)
{
    return reg(n, module, function, arity, fn, NULL, 0);
}

/* ---- running a call ------------------------------------------------------------------ */

/* One call: the function's coordinates and its argument list (versioned, owned). */
typedef struct {
    char mod[MAXATOMLEN_UTF8], fun[MAXATOMLEN_UTF8];
    otpc__buf_t args; /* 131, then the list */
    unsigned arity;
} call_t;

/* What run() gives for an error erpc raises as it is ({erpc, notsup}), with no stack. */
#define RPC_ERPC_ERROR ((otpc_rpc_result_t)100)

static const char T_ENOMEM[] = OTPC__VATOM(6, 'e', 'n', 'o', 'm', 'e', 'm');

/* {M, F, Args, []}: the stack erpc and rpc show for an error raised in the call. */
static int x_frame(ei_x_buff *x, const call_t *c)
{
    return ei_x_encode_list_header(x, 1) || ei_x_encode_tuple_header(x, 4) ||
           ei_x_encode_atom(x, c->mod) || ei_x_encode_atom(x, c->fun) ||
           ei_x_append_buf(x, c->args.data + 1, (int)c->args.len - 1) ||
           ei_x_encode_empty_list(x) || ei_x_encode_empty_list(x);
}

/* Run it: the kind of result, the term in out (no version byte). A function the node
 * lacks is an error undef, as apply/3 raises. */
static otpc_rpc_result_t run(otpc_proc_t *self, const call_t *c, ei_x_buff *out)
{
    const fn_t *f = lookup(otpc_proc_node(self), c->mod, c->fun, c->arity);
    out->index = 0;
    if (!f && !strcmp(c->mod, "erlang") && !strcmp(c->fun, "apply") && c->arity == 2)
        /* erpc:call(N, Fun): a C node runs no Erlang code; {erpc, notsup} is what the
         * caller then sees (rpc: {badrpc, notsup}) */
        return ei_x_encode_tuple_header(out, 2) || ei_x_encode_atom(out, "erpc") ||
                       ei_x_encode_atom(out, "notsup")
                   ? OTPC_RPC_NOMEM
                   : RPC_ERPC_ERROR;
    if (!f)
        return ei_x_encode_atom(out, "undef") ? OTPC_RPC_NOMEM : OTPC_RPC_ERROR;
    otpc_term_t args = {c->args.data, c->args.len};
    otpc_rpc_result_t k;
    if (f->user)
        OTPC__USER(otpc_proc_node(self), k = f->fn(self, args, out, f->arg));
    else
        k = f->fn(self, args, out, f->arg); /* the built-ins read the node's tables */
    size_t used = 0;
    if (k != OTPC_RPC_NOMEM &&
        (out->index == 0 || otpc__term_skip(out->buff, (size_t)out->index, &used) ||
         used != (size_t)out->index)) {
        OTPC__LOG_WARN("rpc", "%s:%s/%u gave no well-formed term", c->mod, c->fun, c->arity);
        out->index = 0;
        return ei_x_encode_tuple_header(out, 2) || ei_x_encode_atom(out, "bad_return") ||
                       ei_x_encode_atom(out, c->fun)
                   ? OTPC_RPC_NOMEM
                   : OTPC_RPC_ERROR;
    }
    return k;
}

/* Module, Function and the argument list at *i (a term walked already), the list
 * copied into c->args; 0, or -1 (c holds nothing then). */
static int decode_mfa(const char *b, int *i, size_t end, call_t *c)
{
    memset(&c->args, 0, sizeof c->args);
    int type, size;
    size_t mlen, flen;
    if (otpc__decode_atom(b, i, c->mod, &mlen) || mlen != strlen(c->mod) ||
        otpc__decode_atom(b, i, c->fun, &flen) || flen != strlen(c->fun))
        return -1;
    int at = *i;
    size_t used;
    if (ei_get_type(b, i, &type, &size) || otpc__term_skip(b + at, end - (size_t)at, &used))
        return -1;
    if (type == ERL_NIL_EXT) {
        c->arity = 0;
    } else if (type == ERL_STRING_EXT) {
        c->arity = (unsigned)size;
    } else if (type == ERL_LIST_EXT) {
        /* proper lists only: the tail after the elements must be [] */
        int k = *i, n;
        if (ei_decode_list_header(b, &k, &n))
            return -1;
        for (int e = 0; e < n; e++) {
            size_t u;
            if (otpc__term_skip(b + k, end - (size_t)k, &u))
                return -1;
            k += (int)u;
        }
        if ((unsigned char)b[k] != ERL_NIL_EXT)
            return -1;
        c->arity = (unsigned)n;
    } else {
        return -1;
    }
    char magic = (char)ERL_VERSION_MAGIC;
    int err = otpc__buf_append(&c->args, &magic, 1);
    if (type == ERL_STRING_EXT) {
        /* ei sends [1, 2] as the string "\1\2"; a function gets a list whatever the
         * sender's encoding: LIST_EXT, one SMALL_INTEGER_EXT per element, NIL */
        char head[5] = {ERL_LIST_EXT}, tail = ERL_NIL_EXT;
        otpc__put_u32(head + 1, (uint32_t)size);
        err = err || otpc__buf_append(&c->args, head, sizeof head);
        for (int e = 0; !err && e < size; e++) {
            char item[2] = {ERL_SMALL_INTEGER_EXT, b[at + 3 + e]};
            err = otpc__buf_append(&c->args, item, sizeof item);
        }
        err = err || otpc__buf_append(&c->args, &tail, 1);
    } else {
        err = err || otpc__buf_append(&c->args, b + at, used);
    }
    if (err) {
        otpc__buf_free(&c->args);
        return -1;
    }
    *i = at + (int)used;
    return 0;
}

/* ---- erpc: the process a spawn request gets --------------------------------------------- */

typedef struct {
    call_t call;
    int cast;     /* execute_cast/3: no result for anybody */
    char res[64]; /* erpc's result reference, encoded (call only) */
    int res_len;
} job_t;

static const char GO[] = OTPC__VATOM(2, 'g', 'o');

static int job_init(otpc_proc_t *self, void *arg)
{
    otpc_proc_set_data(self, arg);
    otpc_pid_t me = otpc_self(self);
    return otpc_send(self, &me, OTPC__TERM(GO)); /* runs once the reply has gone */
}

/* {Res, return, V} | {Res, throw, V} | {Res, exit, R} | {Res, error, R, Stack}: the
 * exit reason erpc:execute_call/4 ends with. */
static int x_erpc_reason(ei_x_buff *x, const job_t *j, otpc_rpc_result_t k, const ei_x_buff *out)
{
    static const char *const kinds[] = {"return", "throw", "exit", "error"};
    int err = k == OTPC_RPC_ERROR; /* with a stack; RPC_ERPC_ERROR: without */
    return ei_x_encode_version(x) || ei_x_encode_tuple_header(x, 3 + err) ||
           ei_x_append_buf(x, j->res, j->res_len) ||
           ei_x_encode_atom(x, kinds[k == OTPC_RPC_RETURN  ? 0
                                     : k == OTPC_RPC_THROW ? 1
                                     : k == OTPC_RPC_EXIT  ? 2
                                                           : 3]) ||
           ei_x_append_buf(x, out->buff, out->index) || (err && x_frame(x, &j->call));
}

static void job_handle(otpc_proc_t *self, otpc_term_t msg)
{
    (void)msg;
    job_t *j = otpc_proc_data(self);
    ei_x_buff out, reason;
    if (ei_x_new(&out) || ei_x_new(&reason)) {
        ei_x_free(&out);
        otpc_exit(self, OTPC__TERM(T_ENOMEM));
        return;
    }
    otpc_rpc_result_t k = run(self, &j->call, &out);
    if (j->cast) {
        if (k != OTPC_RPC_RETURN)
            OTPC__LOG_WARN("rpc", "cast of %s:%s/%u did not return", j->call.mod, j->call.fun,
                           j->call.arity);
        otpc_exit(self, OTPC__TERM(otpc__t_normal));
    } else if (k == OTPC_RPC_NOMEM || x_erpc_reason(&reason, j, k, &out)) {
        otpc_exit(self, OTPC__TERM(T_ENOMEM));
    } else {
        otpc_exit(self, otpc_term_x(&reason));
    }
    ei_x_free(&out);
    ei_x_free(&reason);
}

static void job_release(otpc_proc_t *self, otpc_term_t reason)
{
    (void)reason;
    job_t *j = otpc_proc_data(self);
    if (!j)
        return;
    otpc__buf_free(&j->call.args);
    free(j);
    otpc_proc_set_data(self, NULL);
}

static const otpc_proc_ops_t job_ops = {
    .name = "erpc",
    .init = job_init,
    .handle = job_handle,
    .terminate = job_release,
};

/* link and monitor in a spawn request's option list (other options do not apply to a C
 * process and are ignored, as ERTS ignores what it does not need). */
static void spawn_opts(const otpc__span_t *opts, int *link, int *monitor)
{
    int i = 0, n, type, size;
    *link = *monitor = 0;
    if (ei_decode_list_header(opts->data, &i, &n))
        return;
    for (int k = 0; k < n; k++) {
        char a[MAXATOMLEN_UTF8];
        size_t len, used;
        int at = i;
        if (ei_get_type(opts->data, &i, &type, &size) == 0 && type == ERL_ATOM_EXT &&
            otpc__decode_atom(opts->data, &i, a, &len) == 0) {
            *link |= !strcmp(a, "link");
            *monitor |= !strcmp(a, "monitor");
            continue;
        }
        i = at;
        if (otpc__term_skip(opts->data + i, opts->size - (size_t)i, &used))
            return;
        i += (int)used;
    }
}

/* The job for erpc:execute_call(Res, M, F, A) or execute_cast(M, F, A); NULL if the
 * arguments are not those. */
static job_t *job_new(const otpc__ctrl_t *c, int cast)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    const char *b = c->msg.data;
    size_t end = c->msg.size, used;
    int i = 1, n;
    if (ei_decode_list_header(b, &i, &n) || n != (cast ? 3 : 4))
        goto fail;
    if (!cast) {
        int at = i;
        if (otpc__term_skip(b + i, end - (size_t)i, &used) || used > sizeof j->res)
            goto fail;
        memcpy(j->res, b + at, used);
        j->res_len = (int)used;
        i += (int)used;
    }
    if (decode_mfa(b, &i, end, &j->call))
        goto fail;
    if ((size_t)i >= end || (unsigned char)b[i] != ERL_NIL_EXT) {
        otpc__buf_free(&j->call.args);
        goto fail;
    }
    j->cast = cast;
    return j;
fail:
    free(j);
    return NULL;
}

/* A SPAWN_REQUEST: erpc's entry points get a process, anything else notsup. */
static void on_spawn(otpc_node_t *n, const otpc__ctrl_t *c)
{
    otpc_pid_t from = otpc__pid_from_ei(n, &c->from), pid;
    otpc_ref_t req;
    if (otpc__ref_from_ei(n, &c->ref, &req))
        return;
    int call = !strcmp(c->spawn_fun, "execute_call") && c->spawn_arity == 4;
    int cast = !strcmp(c->spawn_fun, "execute_cast") && c->spawn_arity == 3;
    job_t *j = !strcmp(c->spawn_mod, "erpc") && (call || cast) ? job_new(c, cast) : NULL;
    if (!j) {
        OTPC__LOG_INFO("rpc",
                       "spawn of %s:%s/%u refused (notsup): a C node runs registered "
                       "functions through erpc and rpc only",
                       c->spawn_mod, c->spawn_fun, c->spawn_arity);
        REMOTE(n, spawn_reply, &req, &from, 0, NULL, "notsup");
        return;
    }
    int link, monitor;
    spawn_opts(&c->opts, &link, &monitor);
    if (otpc__spawn_sys(n, &job_ops, j, &pid)) {
        otpc__buf_free(&j->call.args);
        free(j);
        REMOTE(n, spawn_reply, &req, &from, 0, NULL, "system_limit");
        return;
    }
    int flags = otpc__spawned_for(n, &pid, &from, &req, link, monitor);
    REMOTE(n, spawn_reply, &req, &from, flags, &pid, NULL);
}

/* ---- rex ------------------------------------------------------------------------------ */

/* What rpc's execute_call returns for the result: the value (or the thrown term), else
 * {badrpc, {'EXIT', Reason}} ({Reason, Stack} for an error). */
static int x_rex_reply(ei_x_buff *x, const call_t *c, otpc_rpc_result_t k, const ei_x_buff *out)
{
    if (k == OTPC_RPC_RETURN || k == OTPC_RPC_THROW)
        return ei_x_append_buf(x, out->buff, out->index);
    if (k == RPC_ERPC_ERROR) /* as rpc:call turns {erpc, notsup} */
        return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "badrpc") ||
               ei_x_encode_atom(x, "notsup");
    int err = k == OTPC_RPC_ERROR;
    return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "badrpc") ||
           ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "EXIT") ||
           (err && ei_x_encode_tuple_header(x, 2)) || ei_x_append_buf(x, out->buff, out->index) ||
           (err && x_frame(x, c));
}

/* {call, M, F, A, GroupLeader} at i: the reply appended to x. 0, 1 (not such a
 * request), or OTPC_ENOMEM. */
static int rex_call(otpc_proc_t *self, otpc_term_t req, int i, ei_x_buff *x)
{
    call_t c;
    if (decode_mfa(req.data, &i, req.size, &c))
        return 1;
    ei_x_buff out;
    if (ei_x_new(&out)) {
        otpc__buf_free(&c.args);
        return OTPC_ENOMEM;
    }
    otpc_rpc_result_t k = run(self, &c, &out);
    int rc = k == OTPC_RPC_NOMEM || x_rex_reply(x, &c, k, &out) ? OTPC_ENOMEM : 0;
    ei_x_free(&out);
    otpc__buf_free(&c.args);
    return rc;
}

static otpc_action_t rex_handle_call(otpc_proc_t *self, otpc_term_t req, otpc_from_t *from,
                                     otpc_ret_t *r)
{
    (void)from;
    int i;
    if (!otpc_term_is_tagged(req, "call", 5, &i))
        return OTPC_NOREPLY; /* as OTP's rex: ignored */
    int rc = rex_call(self, req, i, otpc_ret_reply(r));
    return rc == 1 ? OTPC_NOREPLY : rc ? otpc_stop_atom(r, "enomem") : OTPC_REPLY;
}

/* {From, {call, M, F, A, GL}} -> From ! {rex, Reply} (ei_rpc, erl_call);
 * {From, features_request} -> From ! {features_reply, node(), [erpc]} */
static otpc_action_t rex_handle_info(otpc_proc_t *self, otpc_term_t msg, otpc_ret_t *r)
{
    (void)r;
    int i = 1, arity, inner;
    otpc_pid_t to;
    if (ei_decode_tuple_header(msg.data, &i, &arity) || arity != 2 ||
        otpc_decode_pid(self, msg.data, &i, &to))
        return OTPC_NOREPLY;
    ei_x_buff x;
    if (ei_x_new_with_version(&x))
        return OTPC_NOREPLY;
    int k = i, err = 1;
    if (otpc_decode_atom_is(msg.data, &k, "features_request")) {
        err = ei_x_encode_tuple_header(&x, 3) || ei_x_encode_atom(&x, "features_reply") ||
              ei_x_encode_atom(&x, otpc_proc_node(self)->name) || ei_x_encode_list_header(&x, 1) ||
              ei_x_encode_atom(&x, "erpc") || ei_x_encode_empty_list(&x);
    } else if (ei_decode_tuple_header(msg.data, &k, &inner) == 0 && inner == 5 &&
               otpc_decode_atom_is(msg.data, &k, "call")) {
        err = ei_x_encode_tuple_header(&x, 2) || ei_x_encode_atom(&x, "rex") ||
              rex_call(self, msg, k, &x) != 0;
    }
    if (!err)
        (void)otpc_send(self, &to, otpc_term_x(&x));
    ei_x_free(&x);
    return OTPC_NOREPLY;
}

static const otpc_gen_server_t rex = {
    .name = "rex",
    .handle_call = rex_handle_call,
    .handle_info = rex_handle_info,
};

int otpc__rex_start(otpc_node_t *n, void *arg)
{
    (void)arg;
    otpc_pid_t pid;
    otpc_start_opts_t o = {"rex", NULL, NULL};
    return otpc__gen_server_start_sys(n, &rex, (otpc_term_t){NULL, 0}, &o, &pid);
}

/* ---- the layer's state ------------------------------------------------------------- */

static void rpc_free(otpc_node_t *n, void *state)
{
    (void)n;
    rpc_t *R = state;
    for (uint32_t i = 0; i < R->n; i++) {
        free(R->fns[i].mod);
        free(R->fns[i].fun);
    }
    free(R->fns);
    free(R);
}

int otpc__rpc_init(otpc_node_t *n)
{
    rpc_t *R = calloc(1, sizeof *R);
    if (!R)
        return OTPC_ENOMEM;
    int rc = otpc__ext_add(n, &rpc_key, R, rpc_free);
    if (rc) {
        free(R);
        return rc;
    }
    n->spawn = on_spawn;
    return otpc__rpc_builtins(n);
}
