/*
 * gs_probe: a gen_server whose every return is chosen by the test that drives it, so
 * the common_test suites can exercise each callback and return form from Erlang.
 * Every callback reports {gs_probe, Self, Callback, Arg} to the observer given at init.
 *
 *   init({Observer, InitAction, TrapExit})   Observer may be `none` until a call
 *                                            {observe, Pid} names one
 *       InitAction: ok | ignore | {stop, R} | hibernate | {timeout, Ms} | {continue, C}
 *                   | bad_return
 *   handle_call:  {reply, R} | {reply, R, Post} | {noreply, Post} | {stop, Reason}
 *                 | {stop, Reason, R} | {defer, Ms, R} | {stop_reply_in_terminate, Reason}
 *                 | {thread_reply, Ms, R} (answered by another OS thread after Ms)
 *                 | {block, Ms} (holds the scheduler thread Ms, then answers ok)
 *                 | {cancel_timer, Ms} (arms a send_after of cancelled_timer, cancels it
 *                   twice, arms after_cancel at 2 Ms; answers {First, Second})
 *                 | {send_after, Ms, To, Msg} (To, a pid, gets Msg Ms from now; answers ok)
 *                 | {send_after, Ms, To, Msg, BlockMs} (the same, then holds the scheduler
 *                   thread BlockMs before it answers)
 *                 | {linger, Ms | infinity} (forgets its parent, so that a trapped exit
 *                   from it is a plain message: Ms after the first 'EXIT' it gets it
 *                   stops with that exit's reason, or never; answers ok)
 *                 | bad_return; anything else answers {unknown, Req}
 *   handle_cast / handle_info: {noreply, Post} | {stop, Reason} | bad_return
 *   handle_continue(C): C itself is {noreply, Post} | {stop, Reason} | anything (noreply)
 *   Post: none | hibernate | {timeout, Ms} | {continue, C}
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "otp/gen_server_int.h"
#include "test/node/probe.h"

typedef struct {
    int observed;
    otpc_pid_t observer;
    long events;
    otpc_from_t *deferred[16];
    otpc_from_t *answer_in_terminate;
    long linger_ms; /* {linger, Ms}: -1 for infinity */
    int lingering, exiting;
} gsp_t;

static void report(otpc_proc_t *self, const char *callback, otpc_term_t arg)
{
    gsp_t *g = otpc_proc_data(self);
    if (!g || !g->observed)
        return;
    g->events++;
    ei_x_buff x;
    otpc_pid_t me = otpc_self(self);
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 4);
    ei_x_encode_atom(&x, "gs_probe");
    otpc_x_encode_pid(self, &x, &me);
    ei_x_encode_atom(&x, callback);
    otpc_x_append_term(&x, arg);
    otpc_send(self, &g->observer, otpc_term_x(&x));
    ei_x_free(&x);
}

/* Post at *i (none | hibernate | {timeout, Ms} | {continue, C}) into r. */
static void post(otpc_term_t t, int *i, otpc_ret_t *r)
{
    int j = *i, arity;
    unsigned long ms;
    if (otpc_decode_atom_is(t.data, &j, "hibernate")) {
        otpc_ret_hibernate(r);
    } else if (ei_decode_tuple_header(t.data, &j, &arity) == 0 && arity == 2) {
        if (otpc_decode_atom_is(t.data, &j, "timeout") && ei_decode_ulong(t.data, &j, &ms) == 0)
            otpc_ret_timeout(r, (unsigned)ms);
        else if (otpc_decode_atom_is(t.data, &j, "continue"))
            otpc_x_append_subterm(otpc_ret_continue(r), t, &j);
    }
    otpc_skip_term(t, i);
}

/* {noreply, Post} | {stop, Reason} | bad_return | anything: noreply */
static otpc_action_t async_action(otpc_term_t t, otpc_ret_t *r)
{
    int i;
    if (otpc_term_is_tagged(t, "noreply", 2, &i)) {
        post(t, &i, r);
        return OTPC_NOREPLY;
    }
    if (otpc_term_is_tagged(t, "stop", 2, &i)) {
        ei_x_buff reason;
        ei_x_new_with_version(&reason);
        otpc_x_append_subterm(&reason, t, &i);
        otpc_action_t a = otpc_stop_term(r, otpc_term_x(&reason));
        ei_x_free(&reason);
        return a;
    }
    if (otpc_term_is_atom(t, "bad_return"))
        return OTPC_REPLY;
    return OTPC_NOREPLY;
}

/* The init action at *i: ok | ignore | bad_return | {stop, R} | a Post. */
static otpc_action_t init_action(otpc_term_t arg, int i, otpc_ret_t *r)
{
    int arity, j = i;
    if (otpc_decode_atom_is(arg.data, &i, "ignore"))
        return OTPC_IGNORE;
    if (otpc_decode_atom_is(arg.data, &i, "bad_return"))
        return OTPC_NOREPLY; /* not an init return */
    if (ei_decode_tuple_header(arg.data, &j, &arity) == 0 && arity == 2 &&
        otpc_decode_atom_is(arg.data, &j, "stop")) {
        otpc_x_append_subterm(otpc_ret_reason(r), arg, &j);
        return OTPC_STOP;
    }
    if (!otpc_decode_atom_is(arg.data, &i, "ok"))
        post(arg, &i, r);
    return OTPC_OK;
}

static otpc_action_t gsp_init(otpc_proc_t *self, otpc_term_t arg, otpc_ret_t *r)
{
    int i = 1, arity, trap = 0;
    gsp_t *g = calloc(1, sizeof *g);
    if (!g)
        return otpc_stop_atom(r, "enomem");
    otpc_proc_set_data(self, g);
    if (ei_decode_tuple_header(arg.data, &i, &arity) || arity != 3)
        return otpc_stop_atom(r, "badarg");
    if (otpc_decode_atom_is(arg.data, &i, "none"))
        g->observed = 0;
    else if (otpc_decode_pid(self, arg.data, &i, &g->observer) == 0)
        g->observed = 1;
    else
        return otpc_stop_atom(r, "badarg");
    report(self, "init", arg);
    int action = i;
    if (otpc_skip_term(arg, &i) == 0 && ei_decode_boolean(arg.data, &i, &trap) == 0)
        otpc_trap_exit(self, trap);
    return init_action(arg, action, r);
}

static otpc_action_t defer(otpc_proc_t *self, gsp_t *g, otpc_term_t req, int i, otpc_from_t *from,
                           otpc_ret_t *r)
{
    unsigned long ms;
    int slot = -1;
    for (int k = 0; k < 16 && slot < 0; k++)
        if (!g->deferred[k])
            slot = k;
    if (slot < 0 || ei_decode_ulong(req.data, &i, &ms))
        return otpc_reply_atom(r, "defer_failed");
    g->deferred[slot] = from;
    ei_x_buff m;
    ei_x_new_with_version(&m);
    ei_x_encode_tuple_header(&m, 3);
    ei_x_encode_atom(&m, "$answer");
    ei_x_encode_long(&m, slot);
    otpc_x_append_subterm(&m, req, &i);
    otpc_pid_t me = otpc_self(self);
    int rc = otpc_send_after(self, (unsigned)ms, &me, otpc_term_x(&m), NULL);
    ei_x_free(&m);
    return rc ? otpc_stop_atom(r, "send_after_failed") : OTPC_NOREPLY;
}

/* otpc_cancel_timer: 1 for a pending timer, 0 once it is gone; a later timer shows
 * the cancelled one never fired (equal-or-earlier deadlines fire first). */
static otpc_action_t cancel_timer(otpc_proc_t *self, otpc_term_t req, int i, otpc_ret_t *r)
{
    unsigned long ms;
    if (ei_decode_ulong(req.data, &i, &ms))
        return otpc_reply_atom(r, "badarg");
    otpc_pid_t me = otpc_self(self);
    otpc_timer_t t;
    ei_x_buff m;
    ei_x_new_with_version(&m);
    ei_x_encode_atom(&m, "cancelled_timer");
    int rc = otpc_send_after(self, (unsigned)ms, &me, otpc_term_x(&m), &t);
    int first = rc ? -1 : otpc_cancel_timer(self, t), second = otpc_cancel_timer(self, t);
    m.index = 0;
    ei_x_encode_version(&m);
    ei_x_encode_atom(&m, "after_cancel");
    otpc_send_after(self, (unsigned)ms * 2, &me, otpc_term_x(&m), NULL);
    ei_x_free(&m);
    ei_x_buff *x = otpc_ret_reply(r);
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_long(x, first);
    ei_x_encode_long(x, second);
    return OTPC_REPLY;
}

static otpc_action_t send_after(otpc_proc_t *self, otpc_term_t req, int i, int block, otpc_ret_t *r)
{
    unsigned long ms, block_ms = 0;
    otpc_pid_t to;
    if (ei_decode_ulong(req.data, &i, &ms) || otpc_decode_pid(self, req.data, &i, &to))
        return otpc_reply_atom(r, "badarg");
    ei_x_buff m;
    ei_x_new_with_version(&m);
    int bad =
        otpc_x_append_subterm(&m, req, &i) || (block && ei_decode_ulong(req.data, &i, &block_ms));
    int rc = bad ? OTPC_EBADARG : otpc_send_after(self, (unsigned)ms, &to, otpc_term_x(&m), NULL);
    ei_x_free(&m);
    if (!rc && block_ms)
        usleep((useconds_t)block_ms * 1000u); /* the timer is this domain's: someone looks in */
    return otpc_reply_atom(r, rc ? "send_after_failed" : "ok");
}

/* A worker thread that answers a detached caller. */
typedef struct {
    otpc_reply_token_t *token;
    unsigned ms;
    ei_x_buff reply;
} job_t;

static void *worker(void *arg)
{
    job_t *j = arg;
    usleep(j->ms * 1000u);
    otpc_reply_async(j->token, otpc_term_x(&j->reply));
    ei_x_free(&j->reply);
    free(j);
    return NULL;
}

static otpc_action_t thread_reply(otpc_proc_t *self, otpc_term_t req, int i, otpc_from_t *from,
                                  otpc_ret_t *r)
{
    unsigned long ms;
    job_t *j = calloc(1, sizeof *j);
    if (!j || ei_decode_ulong(req.data, &i, &ms)) {
        free(j);
        return otpc_reply_atom(r, "thread_reply_failed");
    }
    j->ms = (unsigned)ms;
    ei_x_new_with_version(&j->reply);
    otpc_x_append_subterm(&j->reply, req, &i);
    j->token = otpc_from_detach(self, from);
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (!j->token || pthread_create(&th, &attr, worker, j)) {
        otpc_reply_async(j->token, otpc_term_x(&j->reply)); /* answer inline instead */
        ei_x_free(&j->reply);
        free(j);
    }
    pthread_attr_destroy(&attr);
    return OTPC_NOREPLY;
}

static otpc_action_t gsp_call(otpc_proc_t *self, otpc_term_t req, otpc_from_t *from, otpc_ret_t *r)
{
    gsp_t *g = otpc_proc_data(self);
    int i;
    if (otpc_term_is_tagged(req, "observe", 2, &i) &&
        otpc_decode_pid(self, req.data, &i, &g->observer) == 0) {
        g->observed = 1;
        return otpc_reply_atom(r, "ok");
    }
    report(self, "handle_call", req);
    if (otpc_term_is_tagged(req, "reply", 2, &i)) {
        otpc_x_append_subterm(otpc_ret_reply(r), req, &i);
        return OTPC_REPLY;
    }
    if (otpc_term_is_tagged(req, "reply", 3, &i)) {
        otpc_x_append_subterm(otpc_ret_reply(r), req, &i);
        post(req, &i, r);
        return OTPC_REPLY;
    }
    if (otpc_term_is_tagged(req, "stop", 3, &i)) {
        otpc_x_append_subterm(otpc_ret_reason(r), req, &i);
        otpc_x_append_subterm(otpc_ret_reply(r), req, &i);
        return OTPC_STOP_REPLY;
    }
    if (otpc_term_is_tagged(req, "defer", 3, &i))
        return defer(self, g, req, i, from, r);
    if (otpc_term_is_tagged(req, "thread_reply", 3, &i))
        return thread_reply(self, req, i, from, r);
    unsigned long ms;
    if (otpc_term_is_tagged(req, "block", 2, &i) && ei_decode_ulong(req.data, &i, &ms) == 0) {
        usleep((useconds_t)ms * 1000u); /* a callback that hogs the scheduler, on purpose */
        return otpc_reply_atom(r, "ok");
    }
    if (otpc_term_is_tagged(req, "cancel_timer", 2, &i))
        return cancel_timer(self, req, i, r);
    if (otpc_term_is_tagged(req, "send_after", 4, &i))
        return send_after(self, req, i, 0, r);
    if (otpc_term_is_tagged(req, "send_after", 5, &i))
        return send_after(self, req, i, 1, r);
    if (otpc_term_is_tagged(req, "linger", 2, &i)) {
        /* A test-only trick: the runtime ends a trapping server on its parent's exit
         * signal, as gen_server does; without a parent the signal is a message. */
        g->linger_ms = otpc_decode_atom_is(req.data, &i, "infinity") ? -1
                       : ei_decode_ulong(req.data, &i, &ms) == 0     ? (long)ms
                                                                     : -1;
        g->lingering = 1;
        otpc__gs(self)->parent = otpc_self(self);
        return otpc_reply_atom(r, "ok");
    }
    if (otpc_term_is_tagged(req, "stop_reply_in_terminate", 2, &i)) {
        g->answer_in_terminate = from;
        otpc_x_append_subterm(otpc_ret_reason(r), req, &i);
        return OTPC_STOP;
    }
    if (otpc_term_is_tagged(req, "noreply", 2, &i) || otpc_term_is_tagged(req, "stop", 2, &i) ||
        otpc_term_is_atom(req, "bad_return")) {
        otpc_action_t a = async_action(req, r);
        return a == OTPC_REPLY ? OTPC_OK : a;
    }
    ei_x_buff *x = otpc_ret_reply(r);
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "unknown");
    otpc_x_append_term(x, req);
    return OTPC_REPLY;
}

static otpc_action_t gsp_cast(otpc_proc_t *self, otpc_term_t req, otpc_ret_t *r)
{
    report(self, "handle_cast", req);
    return async_action(req, r);
}

static otpc_action_t gsp_info(otpc_proc_t *self, otpc_term_t msg, otpc_ret_t *r)
{
    gsp_t *g = otpc_proc_data(self);
    int i;
    long slot;
    if (otpc_term_is_tagged(msg, "$answer", 3, &i) && ei_decode_long(msg.data, &i, &slot) == 0 &&
        slot >= 0 && slot < 16 && g->deferred[slot]) {
        ei_x_buff x;
        ei_x_new_with_version(&x);
        otpc_x_append_subterm(&x, msg, &i);
        otpc_reply(self, g->deferred[slot], otpc_term_x(&x));
        ei_x_free(&x);
        g->deferred[slot] = NULL;
        return OTPC_NOREPLY;
    }
    report(self, "handle_info", msg);
    if (otpc_term_is_tagged(msg, "$linger_done", 2, &i)) {
        ei_x_buff reason;
        ei_x_new_with_version(&reason);
        otpc_x_append_subterm(&reason, msg, &i);
        otpc_action_t a = otpc_stop_term(r, otpc_term_x(&reason));
        ei_x_free(&reason);
        return a;
    }
    if (g->lingering && !g->exiting && otpc_term_is_tagged(msg, "EXIT", 3, &i)) {
        g->exiting = 1;
        otpc_skip_term(msg, &i);
        ei_x_buff m;
        ei_x_new_with_version(&m);
        ei_x_encode_tuple_header(&m, 2);
        ei_x_encode_atom(&m, "$linger_done");
        otpc_x_append_subterm(&m, msg, &i);
        otpc_pid_t me = otpc_self(self);
        if (g->linger_ms >= 0)
            otpc_send_after(self, (unsigned)g->linger_ms, &me, otpc_term_x(&m), NULL);
        ei_x_free(&m);
        return OTPC_NOREPLY;
    }
    return async_action(msg, r);
}

static otpc_action_t gsp_continue(otpc_proc_t *self, otpc_term_t c, otpc_ret_t *r)
{
    report(self, "handle_continue", c);
    return async_action(c, r);
}

static void gsp_terminate(otpc_proc_t *self, otpc_term_t reason)
{
    gsp_t *g = otpc_proc_data(self);
    report(self, "terminate", reason);
    if (g && g->answer_in_terminate) {
        static const char T[] = {(char)131, 'w', 10,  't', 'e', 'r', 'm',
                                 'i',       'n', 'a', 't', 'e', 'd'};
        otpc_reply(self, g->answer_in_terminate, (otpc_term_t){T, sizeof T});
        g->answer_in_terminate = NULL;
    }
}

static int gsp_code_change(otpc_proc_t *self, otpc_term_t old, otpc_term_t extra)
{
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 2);
    otpc_x_append_term(&x, old);
    otpc_x_append_term(&x, extra);
    report(self, "code_change", otpc_term_x(&x));
    ei_x_free(&x);
    return 0;
}

static int gsp_format_status(otpc_proc_t *self, ei_x_buff *x)
{
    gsp_t *g = otpc_proc_data(self);
    return ei_x_encode_tuple_header(x, 3) || ei_x_encode_atom(x, "gs_probe_state") ||
           otpc_x_encode_pid(self, x, &g->observer) || ei_x_encode_long(x, g->events);
}

static void gsp_release(otpc_proc_t *self)
{
    free(otpc_proc_data(self));
}

const otpc_gen_server_t otpc_gs_probe = {
    .name = "gs_probe",
    .init = gsp_init,
    .handle_call = gsp_call,
    .handle_cast = gsp_cast,
    .handle_info = gsp_info,
    .handle_continue = gsp_continue,
    .terminate = gsp_terminate,
    .code_change = gsp_code_change,
    .format_status = gsp_format_status,
    .release = gsp_release,
};
