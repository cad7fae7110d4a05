/*
 * The modules a node can start by name, and `otpc_starter`, the registered gen_server
 * (written against the public API) that otpc:start/4 and otpc:start_link/4 call:
 *
 *   {start, Module, Arg, Name | undefined, Link :: boolean()}
 *     -> {ok, Pid} | ignore | {error, {already_started, Pid}} | {error, Reason}
 *
 * With Link the new server is linked to the caller before its init runs, as
 * gen_server:start_link links before init, so the caller sees the exit of a server
 * whose init stops.
 */
#include <stdlib.h>
#include <string.h>

#include "dist/term.h"
#include "proc/gen_server_int.h"
#include "util/log.h"

int otpc_gen_server_register(otpc_node_t *node, const otpc_gen_server_t *mod)
{
    if (!mod || !mod->name)
        return OTPC_EINVAL;
    if (otpc__module_find(node, mod->name))
        return OTPC_ENAMETAKEN;
    const otpc_gen_server_t **v = realloc(node->modules, (node->nmodules + 1) * sizeof *v);
    if (!v)
        return OTPC_ENOMEM;
    v[node->nmodules++] = mod;
    node->modules = v;
    return 0;
}

const otpc_gen_server_t *otpc__module_find(otpc_node_t *n, const char *name)
{
    for (uint32_t i = 0; i < n->nmodules; i++)
        if (strcmp(n->modules[i]->name, name) == 0)
            return n->modules[i];
    return NULL;
}

static int reply_pid(otpc_proc_t *self, ei_x_buff *x, const char *tag, const otpc_pid_t *pid)
{
    return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, tag) ||
           otpc_x_encode_pid(self, x, pid);
}

static int reply_error2(ei_x_buff *x, const char *what, const char *atom)
{
    return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "error") ||
           ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, what) ||
           ei_x_encode_atom(x, atom);
}

static otpc_action_t starter_call(otpc_proc_t *self, otpc_term_t req, otpc_from_t *from,
                                  otpc_ret_t *r)
{
    char mod_name[MAXATOMLEN_UTF8], name[MAXATOMLEN_UTF8];
    int i, arg_at, link = 0;
    ei_x_buff *x = otpc_ret_reply(r);
    if (!otpc_term_is_tagged(req, "start", 5, &i) ||
        ei_decode_atom(req.data, &i, mod_name) || (arg_at = i, otpc_skip_term(req, &i)) ||
        ei_decode_atom(req.data, &i, name) || ei_decode_boolean(req.data, &i, &link)) {
        ei_x_encode_tuple_header(x, 2);
        ei_x_encode_atom(x, "error");
        ei_x_encode_atom(x, "badarg");
        return OTPC_REPLY;
    }
    const otpc_gen_server_t *mod = otpc__module_find(otpc_proc_node(self), mod_name);
    if (!mod) {
        reply_error2(x, "unknown_module", mod_name);
        return OTPC_REPLY;
    }
    ei_x_buff arg, reason;
    ei_x_new_with_version(&arg);
    ei_x_new(&reason);
    otpc_x_append_subterm(&arg, req, &arg_at);
    otpc_pid_t caller = otpc_from_pid(from), pid;
    otpc_start_opts_t o = {strcmp(name, "undefined") ? name : NULL, link ? &caller : NULL,
                           &reason};
    int rc = otpc_gen_server_start(otpc_proc_node(self), mod, otpc_term_x(&arg), &o, &pid);
    x = otpc_ret_reply(r); /* starting a server may have run callbacks: start afresh */
    if (rc == 0) {
        reply_pid(self, x, "ok", &pid);
    } else if (rc == OTPC_IGNORED) {
        ei_x_encode_atom(x, "ignore");
    } else if (rc == OTPC_ENAMETAKEN) {
        ei_x_encode_tuple_header(x, 2);
        ei_x_encode_atom(x, "error");
        reply_pid(self, x, "already_started", &pid);
    } else if (rc == OTPC_ESTOPPED) {
        ei_x_encode_tuple_header(x, 2);
        ei_x_encode_atom(x, "error");
        ei_x_append_buf(x, reason.buff + 1, reason.index - 1);
    } else {
        reply_error2(x, "otpc", otpc_strerror(rc));
    }
    ei_x_free(&arg);
    ei_x_free(&reason);
    return OTPC_REPLY;
}

static const otpc_gen_server_t starter = {.name = "otpc_starter", .handle_call = starter_call};

int otpc__starter_start(otpc_node_t *n)
{
    otpc_pid_t pid;
    otpc_start_opts_t o = {"otpc_starter", NULL, NULL};
    return otpc_gen_server_start(n, &starter, (otpc_term_t){NULL, 0}, &o, &pid);
}
