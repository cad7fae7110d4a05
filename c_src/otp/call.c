/*
 * C processes calling gen_servers (Erlang's or C's) without waiting: otpc_call_async.
 *
 * Each call is a small process of its own, the *caller*, as gen:call's monitor-and-tag
 * dance would be inside the asking process: it monitors the server, sends
 * {'$gen_call', {Caller, MRef}, Req}, and turns the first of {MRef, Reply}, the
 * monitor's DOWN and its timer into one message {otpc_reply, Ref, Result} for the
 * process that asked, then ends. So the asking process never sees a tag, a DOWN or a
 * late reply it did not ask for: a reply that comes after the timeout reaches a caller
 * that is gone, and is dropped as any message to a dead process is. The tag is a
 * plain reference, which every release's gen_server answers with Pid ! {Tag, Reply}.
 *
 * Invariants: once otpc_call_async returned 0, exactly one result per call, sent
 * before the caller ends (a failed start is otpc_call_async's error instead); the
 * caller owns its copy of the request until init and its state until terminate.
 */
#include <stdlib.h>
#include <string.h>

#include "core/node_int.h"
#include "otp/gen_server_int.h"

typedef struct {
    otpc_pid_t asker;
    otpc_ref_t ref; /* the asker's, in the result */
    int to_pid;
    otpc_pid_t pid;
    char *name, *node; /* to_pid == 0: {name, node} (node NULL: local) */
    otpc__buf_t req;   /* versioned */
    unsigned timeout_ms;
    otpc_ref_t mref; /* the monitor, and the call's tag */
    otpc_timer_t timer;
} call_t;

static const char T_TIMEOUT[] =
    OTPC__VATOM(13, '$', 'o', 't', 'p', 'c', '_', 't', 'i', 'm', 'e', 'o', 'u', 't');

static void call_free(call_t *c)
{
    if (!c)
        return;
    free(c->name);
    free(c->node);
    otpc__buf_free(&c->req);
    free(c);
}

/* {otpc_reply, Ref, Result} to the asker; `result` is the encoded Result (no version). */
static void report(otpc_proc_t *self, call_t *c, const char *result, size_t len)
{
    ei_x_buff x;
    if (!ei_x_new_with_version(&x) && !ei_x_encode_tuple_header(&x, 3) &&
        !ei_x_encode_atom(&x, "otpc_reply") && !otpc_x_encode_ref(self, &x, &c->ref) &&
        !ei_x_append_buf(&x, result, (int)len))
        otpc_send(self, &c->asker, otpc_term_x(&x));
    ei_x_free(&x);
}

/* {error, Why} (an atom) or {error, {exit, Reason}} (reason: bytes without version). */
static void report_error(otpc_proc_t *self, call_t *c, const char *why, const char *reason,
                         size_t rlen)
{
    ei_x_buff x;
    if (ei_x_new(&x))
        return;
    int bad = ei_x_encode_tuple_header(&x, 2) || ei_x_encode_atom(&x, "error");
    if (!bad && reason)
        bad = ei_x_encode_tuple_header(&x, 2) || ei_x_encode_atom(&x, "exit") ||
              ei_x_append_buf(&x, reason, (int)rlen);
    else if (!bad)
        bad = ei_x_encode_atom(&x, why);
    if (!bad)
        report(self, c, x.buff, (size_t)x.index);
    ei_x_free(&x);
}

static void finish(otpc_proc_t *self)
{
    call_t *c = otpc_proc_data(self);
    otpc_cancel_timer(self, c->timer);
    otpc_demonitor(self, &c->mref);
    otpc_exit(self, OTPC__TERM(otpc__t_normal));
}

static int send_request(otpc_proc_t *self, call_t *c)
{
    otpc_pid_t me = otpc_self(self);
    ei_x_buff x;
    if (ei_x_new_with_version(&x))
        return OTPC_ENOMEM;
    int rc = ei_x_encode_tuple_header(&x, 3) || ei_x_encode_atom(&x, "$gen_call") ||
                     ei_x_encode_tuple_header(&x, 2) || otpc_x_encode_pid(self, &x, &me) ||
                     otpc_x_encode_ref(self, &x, &c->mref) ||
                     ei_x_append_buf(&x, c->req.data + 1, (int)c->req.len - 1)
                 ? OTPC_ENOMEM
                 : 0;
    if (!rc)
        rc = c->to_pid ? otpc_send(self, &c->pid, otpc_term_x(&x))
                       : otpc_send_name(self, c->name, c->node, otpc_term_x(&x));
    ei_x_free(&x);
    /* a local name nobody holds: the monitor's DOWN noproc is already on its way */
    return rc == OTPC_ENOPROC ? 0 : rc;
}

static int call_init(otpc_proc_t *self, void *arg)
{
    call_t *c = arg;
    otpc_proc_set_data(self, c); /* from here terminate frees c */
    otpc_pid_t me = otpc_self(self);
    int rc = c->to_pid ? otpc_monitor(self, &c->pid, &c->mref)
                       : otpc_monitor_name(self, c->name, c->node, &c->mref);
    if (!rc)
        rc = send_request(self, c);
    if (!rc && c->timeout_ms != OTPC_INFINITY) {
        rc = otpc_send_after(self, c->timeout_ms, &me, OTPC__TERM(T_TIMEOUT), &c->timer);
    }
    otpc__buf_free(&c->req); /* sent: no longer needed */
    return rc;
}

/* The message is {MRef, Reply}: the reply. */
static int is_reply(otpc_proc_t *self, call_t *c, otpc_term_t m, int *i)
{
    int arity;
    otpc_ref_t r;
    *i = 1;
    return !ei_decode_tuple_header(m.data, i, &arity) && arity == 2 &&
           !otpc_decode_ref(self, m.data, i, &r) && otpc_ref_eq(&r, &c->mref);
}

/* {'DOWN', MRef, process, _, Reason}: noproc, noconnection, or the server's end. */
static int down_reason(otpc_proc_t *self, call_t *c, otpc_term_t m, int *i)
{
    otpc_ref_t r;
    if (!otpc_term_is_tagged(m, "DOWN", 5, i) || otpc_decode_ref(self, m.data, i, &r) ||
        !otpc_ref_eq(&r, &c->mref))
        return 0;
    return !otpc_skip_term((otpc_term_t){m.data, m.size}, i) &&
           !otpc_skip_term((otpc_term_t){m.data, m.size}, i);
}

static void call_handle(otpc_proc_t *self, otpc_term_t m)
{
    call_t *c = otpc_proc_data(self);
    int i;
    ei_x_buff x;
    if (is_reply(self, c, m, &i)) {
        if (ei_x_new(&x))
            return;
        if (!ei_x_encode_tuple_header(&x, 2) && !ei_x_encode_atom(&x, "ok") &&
            !ei_x_append_buf(&x, m.data + i, (int)(m.size - (size_t)i)))
            report(self, c, x.buff, (size_t)x.index);
        ei_x_free(&x);
        finish(self);
    } else if (down_reason(self, c, m, &i)) {
        int k = i;
        if (otpc_decode_atom_is(m.data, &k, "noproc"))
            report_error(self, c, "noproc", NULL, 0);
        else if (k = i, otpc_decode_atom_is(m.data, &k, "noconnection"))
            report_error(self, c, "noconnection", NULL, 0);
        else
            report_error(self, c, NULL, m.data + i, m.size - (size_t)i);
        c->mref = (otpc_ref_t){0}; /* fired: nothing to take down */
        finish(self);
    } else if (otpc_term_is_atom(m, "$otpc_timeout")) {
        c->timer = 0;
        report_error(self, c, "timeout", NULL, 0);
        finish(self);
    }
    /* anything else (a stray message to the caller's pid) is dropped */
}

static void call_terminate(otpc_proc_t *self, otpc_term_t reason)
{
    (void)reason;
    call_free(otpc_proc_data(self));
}

static const otpc_proc_ops_t call_ops = {
    .name = "otpc_call", .init = call_init, .handle = call_handle, .terminate = call_terminate};

static int dest_copy(call_t *c, const otpc_dest_t *to)
{
    if (to->pid) {
        c->to_pid = 1;
        c->pid = *to->pid;
        return 0;
    }
    if (!to->name || !*to->name)
        return OTPC_EINVAL;
    c->name = strdup(to->name);
    c->node = to->node ? strdup(to->node) : NULL;
    return !c->name || (to->node && !c->node) ? OTPC_ENOMEM : 0;
}

int otpc_call_async(otpc_proc_t *self, const otpc_dest_t *to, otpc_term_t req, unsigned timeout_ms,
                    otpc_ref_t *ref)
{
    OTPC__ENTER(self->node);
    if (!self || !to || !ref || otpc__check_term(req))
        return OTPC_EINVAL;
    call_t *c = calloc(1, sizeof *c);
    if (!c)
        return OTPC_ENOMEM;
    c->asker = otpc_self(self);
    c->timeout_ms = timeout_ms;
    int rc = dest_copy(c, to);
    if (!rc)
        rc = otpc__buf_append(&c->req, req.data, req.size);
    if (!rc)
        rc = otpc_make_ref(self, &c->ref);
    if (rc) {
        call_free(c);
        return rc;
    }
    *ref = c->ref;
    otpc_pid_t caller;
    /* a failed init frees the process without terminate: c is still ours then */
    rc = otpc__spawn_sys(otpc_proc_node(self), &call_ops, c, &caller);
    if (rc)
        call_free(c);
    return rc;
}
