/*
 * System messages for C gen_servers: what sys.erl sends as {system, From, Request},
 * answered the way gen_server and sys answer them, so sys:get_state/get_status,
 * sys:suspend/resume, sys:change_code and gen_server:stop/1,3 work on a C server.
 * get_state's answer depends on the caller's OTP release (sys_release.c); every other
 * answer is the same for all releases (replace_state is refused with {error, _}, which
 * sys raises as the error on OTP 25 and on 26+ alike).
 *
 * Invariants:
 *  - While suspended, only system messages and the parent's exit are handled; other
 *    messages are held back in arrival order and go back in front of the mailbox on
 *    resume.
 *  - {terminate, Reason} answers ok first and then stops with exactly Reason, which
 *    proc_lib:stop/3 compares against the DOWN reason.
 */
#include <string.h>

#include "proto/term.h"
#include "otp/gen_server_int.h"
#include "util/log.h"

/* The state as one term: the module's format_status, else {Module, self()}. */
int otpc__gs_encode_state(otpc_proc_t *p, ei_x_buff *x)
{
    const otpc_gen_server_t *m = otpc__gs(p)->mod;
    if (m->format_status) {
        int start = x->index;
        if (m->format_status(p, x) == 0)
            return 0;
        x->index = start;
    }
    return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, m->name) ||
           otpc_x_encode_pid(p, x, &p->pid);
}

static int encode_status(otpc_proc_t *p, ei_x_buff *x)
{
    otpc__gs_t *g = otpc__gs(p);
    const char *sys_state = g->suspended ? "suspended" : "running";
    const char *name = p->name ? otpc__atom_name(&p->node->atoms, p->name) : g->mod->name;
    char header[300];
    snprintf(header, sizeof header, "Status for generic server %s", name);
    return ei_x_encode_tuple_header(x, 4) || ei_x_encode_atom(x, "status") ||
           otpc_x_encode_pid(p, x, &p->pid) || ei_x_encode_tuple_header(x, 2) ||
           ei_x_encode_atom(x, "module") || ei_x_encode_atom(x, "gen_server") ||
           ei_x_encode_list_header(x, 5) ||
           /* the process dictionary proc_lib would have */
           ei_x_encode_list_header(x, 2) || ei_x_encode_tuple_header(x, 2) ||
           ei_x_encode_atom(x, "$initial_call") || ei_x_encode_tuple_header(x, 3) ||
           ei_x_encode_atom(x, g->mod->name) || ei_x_encode_atom(x, "init") ||
           ei_x_encode_long(x, 1) || ei_x_encode_tuple_header(x, 2) ||
           ei_x_encode_atom(x, "$ancestors") || ei_x_encode_list_header(x, 1) ||
           otpc_x_encode_pid(p, x, &g->parent) || ei_x_encode_empty_list(x) ||
           ei_x_encode_empty_list(x) || ei_x_encode_atom(x, sys_state) ||
           otpc_x_encode_pid(p, x, &g->parent) ||
           otpc__gs_debug_options(p, x) || /* sys debug options */
           /* what gen_server:format_status/2 returns */
           ei_x_encode_list_header(x, 3) || ei_x_encode_tuple_header(x, 2) ||
           ei_x_encode_atom(x, "header") || ei_x_encode_string(x, header) ||
           ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "data") ||
           ei_x_encode_list_header(x, 3) || ei_x_encode_tuple_header(x, 2) ||
           ei_x_encode_string(x, "Status") || ei_x_encode_atom(x, sys_state) ||
           ei_x_encode_tuple_header(x, 2) || ei_x_encode_string(x, "Parent") ||
           otpc_x_encode_pid(p, x, &g->parent) || ei_x_encode_tuple_header(x, 2) ||
           ei_x_encode_string(x, "Logged events") || ei_x_encode_empty_list(x) ||
           ei_x_encode_empty_list(x) || ei_x_encode_tuple_header(x, 2) ||
           ei_x_encode_atom(x, "data") || ei_x_encode_list_header(x, 1) ||
           ei_x_encode_tuple_header(x, 2) || ei_x_encode_string(x, "State") ||
           otpc__gs_encode_state(p, x) || ei_x_encode_empty_list(x) || ei_x_encode_empty_list(x) ||
           ei_x_encode_empty_list(x);
}

static void resume(otpc_proc_t *p)
{
    otpc__gs_t *g = otpc__gs(p);
    g->suspended = 0;
    if (g->saved) {
        otpc__deliver_front(p->node, p, g->saved, g->saved_tail);
        g->saved = g->saved_tail = NULL;
    }
}

static int error_pair(ei_x_buff *x, const char *what, otpc_term_t req)
{
    return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "error") ||
           ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, what) ||
           otpc_x_append_term(x, req);
}

/* {change_code, Module, OldVsn, Extra}: only while suspended, as sys requires. A server
 * on the old version of a module moves to the current one, whose code_change converts
 * the state; an error keeps the old code (gen_server's rule). Module is not looked at:
 * gen_server calls its own callback module's code_change too. */
static int change_code(otpc_proc_t *p, otpc_term_t req, int i, ei_x_buff *x)
{
    otpc__gs_t *g = otpc__gs(p);
    if (!g->suspended)
        return error_pair(x, "unknown_system_msg", req);
    otpc__modver_t *newer = otpc__modver_newer(p->node, g->ver);
    const otpc_gen_server_t *mod = newer ? otpc__modver_mod(newer) : g->mod;
    int rc = 0;
    if (mod->code_change) {
        char s1, s2;
        otpc_skip_term(req, &i); /* Module */
        int vsn = i;
        otpc_skip_term(req, &i);
        int extra = i;
        otpc_term_t old = otpc__view_begin(req, vsn, &s1);
        otpc__buf_t ob = {0};
        otpc__buf_append(&ob, old.data, (size_t)(extra - vsn) + 1);
        otpc__view_end(req, vsn, s1);
        otpc_term_t e = otpc__view_begin(req, extra, &s2);
        rc = mod->code_change(p, (otpc_term_t){ob.data, ob.len}, e);
        otpc__view_end(req, extra, s2);
        otpc__buf_free(&ob);
    }
    if (rc == 0 && newer) {
        OTPC__LOG_INFO("gen_server", "%s: code changed from version %s to %s", mod->name,
                       g->mod->vsn ? g->mod->vsn : "undefined", mod->vsn ? mod->vsn : "undefined");
        otpc__modver_hold(newer);
        otpc__modver_drop(p->node, g->ver); /* the old code may go now */
        g->mod = mod;
        g->ver = newer;
    }
    if (rc == 0)
        return ei_x_encode_atom(x, "ok");
    return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "error") ||
           ei_x_encode_string(x, otpc_strerror(rc));
}

void otpc__gs_system(otpc_proc_t *p, otpc_term_t msg, int i)
{
    otpc__gs_t *g = otpc__gs(p);
    otpc__from_t f;
    int j;
    if (!otpc__decode_from(p, msg, i, &f, &i)) {
        OTPC__LOG_WARN("gen_server", "%s: malformed system message ignored", g->mod->name);
        return;
    }
    otpc_ret_t *r = otpc__ret_begin(p->node);
    if (!r)
        return;
    ei_x_buff *x = otpc_ret_reply(r);
    char saved;
    otpc_term_t req = otpc__view_begin(msg, i, &saved);
    otpc__buf_t stop = {0}; /* {terminate, Reason}: Reason, stopped with after the reply */
    int rc, state_off = 0;  /* get_state: where State starts in {ok, State} */
    if (otpc_term_is_atom(req, "get_state")) {
        /* {ok, State}; sys_release.c answers a caller on OTP 25 or older with State */
        rc = ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "ok");
        state_off = x->index;
        rc = rc || otpc__gs_encode_state(p, x);
    } else if (otpc_term_is_atom(req, "get_status")) {
        rc = encode_status(p, x);
    } else if (otpc_term_is_atom(req, "suspend")) {
        g->suspended = 1;
        rc = ei_x_encode_atom(x, "ok");
    } else if (otpc_term_is_atom(req, "resume")) {
        resume(p);
        rc = ei_x_encode_atom(x, "ok");
    } else if (otpc_term_is_tagged(req, "terminate", 2, &j)) {
        char magic = (char)ERL_VERSION_MAGIC;
        otpc__buf_append(&stop, &magic, 1);
        otpc__buf_append(&stop, req.data + j, req.size - (size_t)j);
        rc = ei_x_encode_atom(x, "ok");
    } else if (otpc_term_is_tagged(req, "replace_state", 2, &j)) {
        /* The fun would have to run inside the server; a C state has no Erlang form. */
        rc = ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "error") ||
             ei_x_encode_tuple_header(x, 3) || ei_x_encode_atom(x, "callback_failed") ||
             ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, g->mod->name) ||
             ei_x_encode_atom(x, "system_replace_state") || ei_x_encode_tuple_header(x, 2) ||
             ei_x_encode_atom(x, "error") || ei_x_encode_atom(x, "c_state_has_no_erlang_form");
    } else if (otpc_term_is_tagged(req, "debug", 2, &j)) {
        rc = otpc__gs_debug_cmd(p, req, j, x);
    } else if (otpc_term_is_tagged(req, "change_code", 4, &j)) {
        rc = change_code(p, req, j, x);
    } else {
        rc = error_pair(x, "unknown_system_msg", req);
    }
    otpc__view_end(msg, i, saved);
    otpc_term_t reply = {x->buff, (size_t)x->index};
    if (rc == 0 && !r->enomem && state_off)
        otpc__sys_state_reply(p, &f, reply, (size_t)state_off);
    else if (rc == 0 && !r->enomem)
        otpc__gen_reply(p, &f, reply);
    else
        OTPC__LOG_ERROR("gen_server", "%s: could not encode a system reply", g->mod->name);
    otpc__ret_end(p->node);
    if (stop.len) {
        otpc__gs_stop(p, (otpc_term_t){stop.data, stop.len}, msg);
        otpc__buf_free(&stop);
    }
}
