/*
 * `otpc_starter`, the registered gen_server
 * (written against the public API) that otpc:start/4 and otpc:start_link/4 call:
 *
 *   {start, Module, Arg, Name | undefined, Link :: boolean()}
 *     -> {ok, Pid} | ignore | {error, {already_started, Pid}} | {error, Reason}
 *
 * With Link the new server is linked to the caller before its init runs, as
 * gen_server:start_link links before init, so the caller sees the exit of a server
 * whose init stops.
 *
 *   {start_daemon, Module, Arg, Opts}      (otpc:start_daemon/4; the caller owns it)
 *     -> {ok, Pid} | {error, {badopt, Key} | {listen, Posix} | {tls, Why} | ...}
 *
 * Opts is the list otpc.erl normalises: {Key, Integer | Boolean | Atom | Binary}.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon_int.h"
#include "distribution/dist_int.h"
#include "proto/term.h"
#include "otp/gen_server_int.h"
#include "services/services.h"
#include "util/log.h"

/* A module, server or option name: UTF-8, and no NUL inside (it is used as a C string,
 * where 'stack\0x' would mean stack). 0 or -1. */
static int decode_name(const char *b, int *i, char *out)
{
    char name[MAXATOMLEN_UTF8];
    size_t len;
    if (otpc__decode_atom(b, i, name, &len) || len != strlen(name))
        return -1; /* out keeps what it had: the caller may report it */
    memcpy(out, name, len + 1);
    return 0;
}

/* {Tag, Pid}: 0 or OTPC_ENOMEM */
static int reply_pid(otpc_proc_t *self, ei_x_buff *x, const char *tag, const otpc_pid_t *pid)
{
    if (ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, tag) ||
        otpc_x_encode_pid(self, x, pid))
        return OTPC_ENOMEM;
    return 0;
}

/* {error, {What, Atom}}: 0 or OTPC_ENOMEM */
static int reply_error2(ei_x_buff *x, const char *what, const char *atom)
{
    if (ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "error") ||
        otpc__x_tag_atom(x, what, atom))
        return OTPC_ENOMEM;
    return 0;
}

/* {start, Module, Arg, Name | undefined, Link}; i is at Module. 0, or OTPC_ENOMEM
 * when the reply could not be built. */
static int start_server(otpc_proc_t *self, otpc_term_t req, int i, otpc_from_t *from, otpc_ret_t *r)
{
    char mod_name[MAXATOMLEN_UTF8], name[MAXATOMLEN_UTF8];
    int arg_at, link = 0;
    ei_x_buff *x = otpc_ret_reply(r);
    if (decode_name(req.data, &i, mod_name) || (arg_at = i, otpc_skip_term(req, &i)) ||
        decode_name(req.data, &i, name) || ei_decode_boolean(req.data, &i, &link))
        return otpc__x_tag_atom(x, "error", "badarg");
    const otpc_gen_server_t *mod = otpc__module_find(otpc_proc_node(self), mod_name);
    if (!mod)
        return reply_error2(x, "unknown_module", mod_name);
    ei_x_buff arg = {0}, reason = {0};
    otpc_pid_t caller = otpc_from_pid(from), pid;
    otpc_start_opts_t o = {strcmp(name, "undefined") ? name : NULL, link ? &caller : NULL, &reason};
    int rc = OTPC_ENOMEM; /* answered {error, {otpc, 'out of memory'}} */
    if (!ei_x_new_with_version(&arg) && !ei_x_new(&reason) &&
        !otpc_x_append_subterm(&arg, req, &arg_at))
        rc = otpc_gen_server_start(otpc_proc_node(self), mod, otpc_term_x(&arg), &o, &pid);
    x = otpc_ret_reply(r); /* starting a server may have run callbacks: start afresh */
    int err;
    if (rc == 0)
        err = reply_pid(self, x, "ok", &pid);
    else if (rc == OTPC_IGNORED)
        err = ei_x_encode_atom(x, "ignore");
    else if (rc == OTPC_ENAMETAKEN)
        err = ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "error") ||
              reply_pid(self, x, "already_started", &pid);
    else if (rc == OTPC_ESTOPPED)
        err = ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "error") ||
              ei_x_append_buf(x, reason.buff + 1, reason.index - 1);
    else
        err = reply_error2(x, "otpc", otpc_strerror(rc));
    ei_x_free(&arg);
    ei_x_free(&reason);
    return err ? OTPC_ENOMEM : 0;
}

/* ---- daemons ---------------------------------------------------------------------- */

#define NSTR 4
typedef struct {
    otpc_daemon_opts_t o;
    char str[NSTR][1024]; /* ip, certfile, keyfile, cacertfile */
    char pg_group[1024];  /* term_to_binary(Group) */
    char pg_scope[MAXATOMLEN_UTF8];
} dopts_t;

static int opt_str(const char *b, int *i, char *out)
{
    int type, size;
    long len;
    if (ei_get_type(b, i, &type, &size) || type != ERL_BINARY_EXT || size >= 1024 ||
        ei_decode_binary(b, i, out, &len))
        return -1;
    out[len] = 0;
    return 0;
}

static int opt_uint(const char *b, int *i, unsigned long max, unsigned long *out)
{
    return ei_decode_ulong(b, i, out) || *out > max ? -1 : 0;
}

/* One {Key, Value}; -1 when the value does not fit the key. */
static int opt_one(dopts_t *d, const char *key, const char *b, int *i)
{
    otpc_daemon_opts_t *o = &d->o;
    unsigned long u;
    long l;
    int flag;
    static const char *const strs[NSTR] = {"ip", "certfile", "keyfile", "cacertfile"};
    for (int k = 0; k < NSTR; k++)
        if (strcmp(key, strs[k]) == 0) {
            if (opt_str(b, i, d->str[k]))
                return -1;
            const char **slot[NSTR] = {&o->ip, &o->certfile, &o->keyfile, &o->cacertfile};
            *slot[k] = d->str[k];
            return 0;
        }
    if (strcmp(key, "port") == 0)
        return opt_uint(b, i, 65535, &u) ? -1 : (o->port = (uint16_t)u, 0);
    if (strcmp(key, "pg_scope") == 0)
        return ei_decode_atom(b, i, d->pg_scope) ? -1 : (o->pg_scope = d->pg_scope, 0);
    if (strcmp(key, "pg_group") == 0) { /* the group as term_to_binary/1 made it */
        int type, size;
        if (ei_get_type(b, i, &type, &size) || type != ERL_BINARY_EXT ||
            (size_t)size > sizeof d->pg_group || ei_decode_binary(b, i, d->pg_group, &l))
            return -1;
        o->pg_group = (otpc_term_t){d->pg_group, (size_t)l};
        return 0;
    }
    if (strcmp(key, "max_connections") == 0)
        return opt_uint(b, i, UINT32_MAX, &u) ? -1 : (o->max_connections = (unsigned)u, 0);
    if (strcmp(key, "max_frame") == 0)
        return opt_uint(b, i, UINT32_MAX, &u) ? -1 : (o->max_frame = u, 0);
    if (strcmp(key, "max_input") == 0)
        return opt_uint(b, i, ULONG_MAX, &u) ? -1 : (o->max_input = u, 0);
    if (strcmp(key, "handshake_timeout") == 0)
        return opt_uint(b, i, UINT32_MAX, &u) ? -1 : (o->handshake_timeout = (unsigned)u, 0);
    if (strcmp(key, "idle_timeout") == 0)
        return opt_uint(b, i, UINT32_MAX, &u) ? -1 : (o->idle_timeout = (unsigned)u, 0);
    if (strcmp(key, "grace") == 0)
        return ei_decode_long(b, i, &l) || l > INT32_MAX || l < -1 ? -1 : (o->grace = (int)l, 0);
    if (strcmp(key, "tls") == 0)
        return ei_decode_boolean(b, i, &flag) ? -1 : (o->tls = flag, 0);
    if (strcmp(key, "verify_peer") == 0)
        return ei_decode_boolean(b, i, &flag) ? -1 : (o->verify_peer = flag, 0);
    if (strcmp(key, "fail_if_no_peer_cert") == 0)
        return ei_decode_boolean(b, i, &flag) ? -1 : (o->fail_if_no_peer_cert = flag, 0);
    return -1;
}

/* The options list at *i; on a bad one, its key in bad. */
static int decode_dopts(const char *b, int *i, dopts_t *d, char *bad)
{
    int n, arity;
    memset(d, 0, sizeof *d);
    if (ei_decode_list_header(b, i, &n))
        return -1;
    for (int k = 0; k < n; k++) {
        if (ei_decode_tuple_header(b, i, &arity) || arity != 2 || decode_name(b, i, bad) ||
            opt_one(d, bad, b, i))
            return -1;
    }
    bad[0] = 0;
    return 0;
}

/* {start_daemon, Module, Arg, Opts}; i is at Module. 0, or OTPC_ENOMEM when the
 * reply could not be built. */
static int start_daemon(otpc_proc_t *self, otpc_term_t req, int i, otpc_from_t *from, otpc_ret_t *r)
{
    ei_x_buff *x = otpc_ret_reply(r);
    char mod_name[MAXATOMLEN_UTF8], bad[MAXATOMLEN_UTF8] = "opts";
    int arg_at, err;
    dopts_t *d = calloc(1, sizeof *d); /* 4 KiB of paths: not on the stack */
    if (!d)
        return reply_error2(x, "otpc", otpc_strerror(OTPC_ENOMEM));
    if (decode_name(req.data, &i, mod_name) || (arg_at = i, otpc_skip_term(req, &i)) ||
        decode_dopts(req.data, &i, d, bad)) {
        err = reply_error2(x, "badopt", bad);
        goto out;
    }
    const otpc_gen_server_t *mod = otpc__module_find(otpc_proc_node(self), mod_name);
    if (!mod) {
        err = reply_error2(x, "unknown_module", mod_name);
        goto out;
    }
    ei_x_buff arg;
    otpc_pid_t owner = otpc_from_pid(from), pid;
    otpc__derr_t e = {0};
    int rc = OTPC_ENOMEM;
    if (!ei_x_new_with_version(&arg) && !otpc_x_append_subterm(&arg, req, &arg_at))
        rc = otpc__daemon_start(otpc_proc_node(self), mod, otpc_term_x(&arg), &d->o, &owner, &pid,
                                &e);
    ei_x_free(&arg);
    if (rc == 0) {
        err = reply_pid(self, x, "ok", &pid);
        goto out;
    }
    err = ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "error") ||
          ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, e.kind[0] ? e.kind : "otpc");
    if (!e.kind[0])
        err = err || ei_x_encode_atom(x, otpc_strerror(rc));
    else if (e.detail_is_atom || strcmp(e.kind, "badopt") == 0)
        err = err || ei_x_encode_atom(x, e.detail);
    else
        err = err || ei_x_encode_binary(x, e.detail, (long)strlen(e.detail));
out:
    free(d);
    return err ? OTPC_ENOMEM : 0;
}

/* ---- modules ------------------------------------------------------------------------- */

/* {load_module, Path}: {ok, [Module]} or {error, Reason} (modules.h). */
static int load_module(otpc_proc_t *self, otpc_term_t req, int i, otpc_from_t *from, otpc_ret_t *r)
{
    (void)from;
    char path[1024];
    int type, size;
    ei_x_buff *x = otpc_ret_reply(r);
    if (ei_get_type(req.data, &i, &type, &size) || size <= 0 || (size_t)size >= sizeof path ||
        (type == ERL_BINARY_EXT ? ei_decode_binary(req.data, &i, path, NULL)
                                : ei_decode_string(req.data, &i, path)) ||
        memchr(path, 0, (size_t)size))
        return otpc__x_tag_atom(x, "error", "badarg");
    path[size] = 0;
    otpc__load_err_t e = {0};
    ei_x_buff list;
    if (ei_x_new(&list))
        return OTPC_ENOMEM;
    int rc = otpc__modules_load(otpc_proc_node(self), path, &e, &list), err;
    if (rc == 0)
        err = ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "ok") ||
              ei_x_append_buf(x, list.buff, list.index);
    else if (rc != OTPC_EINVAL)
        err = reply_error2(x, "otpc", otpc_strerror(rc));
    else if (e.as == OTPC__LD_NONE)
        err = otpc__x_tag_atom(x, "error", e.kind);
    else
        err = ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "error") ||
              ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, e.kind) ||
              (e.as == OTPC__LD_ATOM     ? ei_x_encode_atom(x, e.detail)
               : e.as == OTPC__LD_STRING ? ei_x_encode_binary(x, e.detail, (long)strlen(e.detail))
                                         : ei_x_encode_ulong(x, strtoul(e.detail, NULL, 10)));
    ei_x_free(&list);
    return err ? OTPC_ENOMEM : 0;
}

/* {purge_module, Module} / {soft_purge_module, Module}: true or false, as code:purge/1
 * and code:soft_purge/1. */
static int purge(otpc_proc_t *self, otpc_term_t req, int i, otpc_ret_t *r, int soft)
{
    char name[MAXATOMLEN_UTF8];
    ei_x_buff *x = otpc_ret_reply(r);
    if (decode_name(req.data, &i, name))
        return otpc__x_tag_atom(x, "error", "badarg");
    int done = otpc__modules_purge(otpc_proc_node(self), name, soft);
    return ei_x_encode_boolean(x, done) ? OTPC_ENOMEM : 0;
}

static int purge_module(otpc_proc_t *self, otpc_term_t req, int i, otpc_from_t *from, otpc_ret_t *r)
{
    (void)from;
    return purge(self, req, i, r, 0);
}

static int soft_purge_module(otpc_proc_t *self, otpc_term_t req, int i, otpc_from_t *from,
                             otpc_ret_t *r)
{
    (void)from;
    return purge(self, req, i, r, 1);
}

/* {which_modules}: [#{module, vsn, file, old}] */
static int which_modules(otpc_proc_t *self, otpc_term_t req, int i, otpc_from_t *from,
                         otpc_ret_t *r)
{
    (void)req;
    (void)i;
    (void)from;
    return otpc__modules_encode(otpc_proc_node(self), otpc_ret_reply(r));
}

int otpc__reload_tls(otpc_node_t *n, char *err, size_t cap)
{
    int rc = otpc__dist_uses_tls(n) ? otpc__dist_reload_tls(n, err, cap) : 0;
    char derr[300];
    if (otpc__daemons_reload_tls(n, derr, sizeof derr) && !rc) {
        snprintf(err, cap, "%s", derr);
        rc = OTPC_EINVAL;
    }
    return rc;
}

/* {reload_tls}: ok, or {error, Reason} (a string: what failed; the rest reloaded). */
static int reload_tls(otpc_proc_t *self, otpc_term_t req, int i, otpc_from_t *from, otpc_ret_t *r)
{
    (void)req;
    (void)i;
    (void)from;
    char err[400];
    ei_x_buff *x = otpc_ret_reply(r);
    if (otpc__reload_tls(otpc_proc_node(self), err, sizeof err) == 0)
        return ei_x_encode_atom(x, "ok") ? OTPC_ENOMEM : 0;
    return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "error") ||
                   ei_x_encode_string(x, err)
               ? OTPC_ENOMEM
               : 0;
}

/* ---- the commands ------------------------------------------------------------------ */

typedef struct {
    const char *tag;
    int arity;
    /* Fill the reply; i is at the request's second element. 0, or OTPC_ENOMEM when
     * the reply could not be built (the starter then stops with enomem). */
    int (*run)(otpc_proc_t *self, otpc_term_t req, int i, otpc_from_t *from, otpc_ret_t *r);
} command_t;

static const command_t commands[] = {
    {"start", 5, start_server},
    {"start_daemon", 4, start_daemon},
    {"load_module", 2, load_module},
    {"purge_module", 2, purge_module},
    {"soft_purge_module", 2, soft_purge_module},
    {"which_modules", 1, which_modules},
    {"reload_tls", 1, reload_tls},
};

static otpc_action_t starter_dispatch(otpc_proc_t *self, otpc_term_t req, otpc_from_t *from,
                                      otpc_ret_t *r)
{
    int i;
    for (size_t k = 0; k < sizeof commands / sizeof *commands; k++) {
        if (otpc_term_is_tagged(req, commands[k].tag, commands[k].arity, &i))
            return commands[k].run(self, req, i, from, r) ? otpc_stop_atom(r, "enomem")
                                                          : OTPC_REPLY;
    }
    if (otpc__x_tag_atom(otpc_ret_reply(r), "error", "badarg"))
        return otpc_stop_atom(r, "enomem");
    return OTPC_REPLY;
}

static const otpc_gen_server_t starter = {.name = "otpc_starter", .handle_call = starter_dispatch};

int otpc__starter_start(otpc_node_t *n, void *arg)
{
    (void)arg;
    otpc_pid_t pid;
    otpc_start_opts_t o = {"otpc_starter", NULL, NULL};
    return otpc__gen_server_start_sys(n, &starter, (otpc_term_t){NULL, 0}, &o, &pid);
}
