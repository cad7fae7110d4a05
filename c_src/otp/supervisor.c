/*
 * A one_for_one supervisor for C gen_servers, itself a gen_server written against the
 * public API. It traps exits, links to each child (children are started with it as
 * their parent, so a trapping child runs terminate on its shutdown), and restarts a
 * child per its restart type within the restart intensity. It answers the calls
 * supervisor:which_children/1 and count_children/1 make, so Erlang tools can look in.
 *
 * Invariants:
 *  - children[i].pid is valid only while children[i].alive.
 *  - restarts[] holds the times (ms) of the restarts inside the current period; one
 *    more than `intensity` shuts everything down, as OTP's supervisor does.
 *  - A callback cannot block, so shutdown does not wait: exit(Child, shutdown) goes to
 *    every child in reverse start order; C children handle it in that order.
 */
#include <stdlib.h>
#include <string.h>

#include "proto/term.h"
#include "otp/gen_server_int.h"
#include "util/log.h"

typedef struct {
    char *id;
    const otpc_gen_server_t *mod;
    otpc__buf_t arg; /* versioned */
    char *name;
    otpc_restart_t restart;
    otpc_pid_t pid;
    int alive;
} child_t;

typedef struct {
    child_t *children;
    size_t n;
    unsigned intensity, period_ms;
    uint64_t *restarts;
    size_t nrestarts;
} sup_t;

typedef struct {
    const otpc_sup_flags_t *flags;
    const otpc_child_spec_t *specs;
    size_t n;
} sup_args_t;

static void sup_free(sup_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->children[i].id);
        free(s->children[i].name);
        otpc__buf_free(&s->children[i].arg);
    }
    free(s->children);
    free(s->restarts);
    free(s);
}

static int copy_specs(sup_t *s, const sup_args_t *a)
{
    s->children = calloc(a->n ? a->n : 1, sizeof *s->children);
    if (!s->children)
        return OTPC_ENOMEM;
    for (size_t i = 0; i < a->n; i++, s->n++) {
        const otpc_child_spec_t *sp = &a->specs[i];
        child_t *c = &s->children[i];
        c->mod = sp->module;
        c->restart = sp->restart;
        c->id = strdup(sp->id ? sp->id : sp->module->name);
        c->name = sp->name ? strdup(sp->name) : NULL;
        if (!c->id || (sp->name && !c->name) ||
            otpc__buf_append(&c->arg, sp->arg.data, sp->arg.size))
            return OTPC_ENOMEM;
    }
    return 0;
}

static int start_child(otpc_proc_t *self, child_t *c, ei_x_buff *reason)
{
    otpc_pid_t me = otpc_self(self);
    otpc_start_opts_t o = {c->name, &me, reason};
    otpc_term_t arg = {c->arg.data, c->arg.len};
    int rc = otpc_gen_server_start(otpc_proc_node(self), c->mod, arg, &o, &c->pid);
    c->alive = rc == 0;
    return rc == OTPC_IGNORED ? 0 : rc;
}

/* Children in reverse start order get exit(Pid, shutdown). */
static void shutdown_children(otpc_proc_t *self, sup_t *s)
{
    for (size_t i = s->n; i-- > 0;) {
        child_t *c = &s->children[i];
        if (c->alive)
            otpc_exit_signal(self, &c->pid, OTPC__TERM(otpc__t_shutdown));
        c->alive = 0;
    }
}

static otpc_action_t sup_init(otpc_proc_t *self, otpc_term_t arg, otpc_ret_t *r)
{
    int i = 1;
    unsigned long long addr;
    if (ei_decode_ulonglong(arg.data, &i, &addr))
        return otpc_stop_atom(r, "badarg");
    const sup_args_t *a = (const sup_args_t *)(uintptr_t)addr;
    sup_t *s = calloc(1, sizeof *s);
    if (!s)
        return otpc_stop_atom(r, "enomem");
    otpc_proc_set_data(self, s);
    otpc_trap_exit(self, 1);
    s->intensity = a->flags ? a->flags->intensity : 1;
    s->period_ms = 1000u * (a->flags && a->flags->period ? a->flags->period : 5);
    s->restarts = calloc((size_t)s->intensity + 1, sizeof *s->restarts);
    if (!s->restarts || copy_specs(s, a))
        return otpc_stop_atom(r, "enomem");
    ei_x_buff reason;
    if (ei_x_new(&reason))
        return otpc_stop_atom(r, "enomem");
    for (size_t k = 0; k < s->n; k++) {
        int rc = start_child(self, &s->children[k], &reason);
        if (rc == 0)
            continue;
        /* {shutdown, {failed_to_start_child, Id, Reason}}, as supervisor reports it */
        OTPC__LOG_ERROR("supervisor", "failed to start child %s: %s", s->children[k].id,
                        otpc_strerror(rc));
        shutdown_children(self, s);
        ei_x_buff *x = otpc_ret_reason(r);
        int err = ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "shutdown") ||
                  ei_x_encode_tuple_header(x, 3) || ei_x_encode_atom(x, "failed_to_start_child") ||
                  ei_x_encode_atom(x, s->children[k].id) ||
                  (rc == OTPC_ESTOPPED && reason.index > 1
                       ? ei_x_append_buf(x, reason.buff + 1, reason.index - 1)
                       : ei_x_encode_atom(x, otpc_strerror(rc)));
        ei_x_free(&reason);
        return err ? otpc_stop_atom(r, "enomem") : OTPC_STOP;
    }
    ei_x_free(&reason);
    return OTPC_OK;
}

static child_t *child_of(sup_t *s, const otpc_pid_t *pid)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->children[i].alive && otpc_pid_eq(&s->children[i].pid, pid))
            return &s->children[i];
    return NULL;
}

/* One more restart now: 0 if within intensity, else the supervisor must give up. */
static int note_restart(sup_t *s, uint64_t now)
{
    size_t k = 0;
    for (size_t i = 0; i < s->nrestarts; i++)
        if (now - s->restarts[i] < s->period_ms)
            s->restarts[k++] = s->restarts[i];
    s->nrestarts = k;
    if (k >= s->intensity)
        return -1;
    s->restarts[s->nrestarts++] = now;
    return 0;
}

static otpc_action_t restart(otpc_proc_t *self, sup_t *s, child_t *c, otpc_ret_t *r)
{
    for (;;) {
        if (note_restart(s, uv_now(&otpc_proc_node(self)->loop))) {
            OTPC__LOG_ERROR("supervisor",
                            "reached_max_restart_intensity restarting %s; shutting down", c->id);
            shutdown_children(self, s);
            return otpc_stop_atom(r, "shutdown");
        }
        int rc = start_child(self, c, NULL);
        if (rc == 0)
            return OTPC_NOREPLY;
        OTPC__LOG_ERROR("supervisor", "restarting %s failed: %s", c->id, otpc_strerror(rc));
    }
}

static otpc_action_t sup_info(otpc_proc_t *self, otpc_term_t msg, otpc_ret_t *r)
{
    sup_t *s = otpc_proc_data(self);
    otpc_pid_t pid;
    int i;
    if (!otpc_term_is_tagged(msg, "EXIT", 3, &i) || otpc_decode_pid(self, msg.data, &i, &pid))
        return OTPC_NOREPLY;
    child_t *c = child_of(s, &pid);
    if (!c)
        return OTPC_NOREPLY;
    c->alive = 0;
    char saved;
    otpc_term_t reason = otpc__view_begin(msg, i, &saved);
    int q = otpc__quiet_reason(reason);
    otpc__view_end(msg, i, saved);
    if (!q)
        OTPC__LOG_ERROR("supervisor", "child %s terminated abnormally", c->id);
    if (c->restart == OTPC_PERMANENT || (c->restart == OTPC_TRANSIENT && !q))
        return restart(self, s, c, r);
    return OTPC_NOREPLY;
}

static int encode_children(otpc_proc_t *self, sup_t *s, ei_x_buff *x)
{
    for (size_t i = 0; i < s->n; i++) {
        child_t *c = &s->children[i];
        if (ei_x_encode_list_header(x, 1) || ei_x_encode_tuple_header(x, 4) ||
            ei_x_encode_atom(x, c->id) ||
            (c->alive ? otpc_x_encode_pid(self, x, &c->pid) : ei_x_encode_atom(x, "undefined")) ||
            ei_x_encode_atom(x, "worker") || ei_x_encode_list_header(x, 1) ||
            ei_x_encode_atom(x, c->mod->name) || ei_x_encode_empty_list(x))
            return -1;
    }
    return ei_x_encode_empty_list(x);
}

static otpc_action_t sup_call(otpc_proc_t *self, otpc_term_t req, otpc_from_t *from, otpc_ret_t *r)
{
    (void)from;
    sup_t *s = otpc_proc_data(self);
    ei_x_buff *x = otpc_ret_reply(r);
    int err = 0;
    if (otpc_term_is_atom(req, "which_children")) {
        err = encode_children(self, s, x);
    } else if (otpc_term_is_atom(req, "count_children")) {
        long active = 0;
        for (size_t i = 0; i < s->n; i++)
            active += s->children[i].alive;
        const char *keys[] = {"specs", "active", "supervisors", "workers"};
        long vals[] = {(long)s->n, active, 0, (long)s->n};
        for (int k = 0; k < 4 && !err; k++)
            err = ei_x_encode_list_header(x, 1) || ei_x_encode_tuple_header(x, 2) ||
                  ei_x_encode_atom(x, keys[k]) || ei_x_encode_long(x, vals[k]);
        err = err || ei_x_encode_empty_list(x);
    } else {
        err = otpc__x_tag_atom(x, "error", "not_supported");
    }
    return err ? otpc_stop_atom(r, "enomem") : OTPC_REPLY;
}

static void sup_terminate(otpc_proc_t *self, otpc_term_t reason)
{
    (void)reason;
    shutdown_children(self, otpc_proc_data(self));
}

static void sup_release(otpc_proc_t *self)
{
    sup_free(otpc_proc_data(self));
}

static const otpc_gen_server_t sup_mod = {
    .name = "supervisor",
    .init = sup_init,
    .handle_call = sup_call,
    .handle_info = sup_info,
    .terminate = sup_terminate,
    .release = sup_release,
};

int otpc_supervisor_start(otpc_node_t *node, const char *name, const otpc_sup_flags_t *flags,
                          const otpc_child_spec_t *children, size_t nchildren, otpc_pid_t *out)
{
    for (size_t i = 0; i < nchildren; i++)
        if (!children[i].module || !children[i].module->name ||
            (children[i].arg.size && otpc__check_term(children[i].arg)))
            return OTPC_EINVAL;
    sup_args_t a = {flags, children, nchildren};
    /* The specs reach init as their address: they live on this stack until it returns. */
    ei_x_buff arg;
    if (ei_x_new_with_version(&arg) || ei_x_encode_ulonglong(&arg, (uintptr_t)&a))
        return OTPC_ENOMEM;
    otpc_start_opts_t o = {name, NULL, NULL};
    int rc = otpc_gen_server_start(node, &sup_mod, otpc_term_x(&arg), &o, out);
    ei_x_free(&arg);
    return rc;
}
