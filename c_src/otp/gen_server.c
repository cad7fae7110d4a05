/*
 * The gen_server runtime: a process (proc.c) whose messages are decoded the way OTP's
 * gen_server loop decodes them -- {'$gen_call', From, Req}, {'$gen_cast', Req},
 * {system, From, Req}, {'EXIT', Parent, Reason} -- and turned into calls of a C
 * callback table, whose returned action is carried out afterwards.
 *
 * Invariants:
 *  - Callbacks never nest on one process; a callback that starts another server gets a
 *    second otpc_ret_t (one per nesting level, kept by the node and reused), so the hot
 *    path allocates nothing: froms come from a pool, requests are views into the
 *    mailbox item, replies are built in reused buffers.
 *  - Every caller handed to handle_call is on the server's `froms` list until it is
 *    answered or dropped; the list dies with the server, so a stored from is never
 *    dangling while the server lives.
 *  - terminate runs at most once, and only where OTP runs it: a stop return, a trapped
 *    exit from the parent, a system terminate, a node shutdown while trapping exits.
 *    release runs always, last.
 *  - Any message cancels a pending callback timeout; a system message re-arms it (as
 *    gen_server re-enters its loop with the same timeout).
 */
#include <stdlib.h>
#include <string.h>

#include "proto/term.h"
#include "otp/gen_server_int.h"
#include "util/log.h"

#define GS_IGNORED (-1000) /* internal: init returned ignore */
#define GS_STOPPED (-1001) /* internal: init stopped */

static const otpc_term_t NORMAL_T = {otpc__t_normal, sizeof otpc__t_normal};
/* The reason when a callback's reply or reason cannot be built: static, so stopping
 * with it needs no memory. */
static const char NOMEM[] = OTPC__VATOM(6, 'e', 'n', 'o', 'm', 'e', 'm');
static const otpc_term_t NOMEM_T = {NOMEM, sizeof NOMEM};
static const char OK[] = OTPC__VATOM(2, 'o', 'k');
static const otpc_term_t OK_T = {OK, sizeof OK};

/* ---- stopping ---------------------------------------------------------------------------- */

int otpc__quiet_reason(otpc_term_t r)
{
    int i;
    return otpc_term_is_atom(r, "normal") || otpc_term_is_atom(r, "shutdown") ||
           otpc_term_is_tagged(r, "shutdown", 2, &i);
}

void otpc__print_term(char *out, size_t cap, const char *term, size_t len)
{
    char *s = NULL;
    int i = 0;
    /* ei's printer recurses: only small terms are printed, which bounds the depth */
    if (len > 2048 || ei_s_print_term(&s, term, &i) < 0)
        snprintf(out, cap, "<term of %zu bytes>", len);
    else
        snprintf(out, cap, "%s", s);
    free(s);
}

static void print_term(char *out, size_t cap, otpc_term_t t)
{
    if (t.size < 2)
        snprintf(out, cap, "-");
    else
        otpc__print_term(out, cap, t.data + 1, t.size - 1);
}

static void log_stop(otpc_proc_t *p, otpc_term_t reason, otpc_term_t last)
{
    char r[600], l[600];
    print_term(r, sizeof r, reason);
    print_term(l, sizeof l, last);
    const char *name = p->name ? otpc__atom_name(&p->node->atoms, p->name) : NULL;
    OTPC__LOG_ERROR("gen_server",
                    "%s <%u.%u> (module %s) terminating; reason: %s; last message: %s",
                    name ? name : "-", p->pid.num, p->pid.serial, otpc__gs(p)->mod->name, r, l);
}

static void run_terminate(otpc_proc_t *p, otpc_term_t reason)
{
    otpc__gs_t *g = otpc__gs(p);
    if (g->terminated)
        return;
    g->terminated = 1;
    if (g->mod->terminate)
        g->mod->terminate(p, reason);
}

void otpc__gs_stop(otpc_proc_t *p, otpc_term_t reason, otpc_term_t last)
{
    run_terminate(p, reason);
    if (!otpc__quiet_reason(reason))
        log_stop(p, reason, last);
    otpc_exit(p, reason);
}

/* {bad_return_value, Action} / {undefined_callback, Callback}: a named atom pair
 * (enomem when that cannot be built). */
static void stop_pair(otpc_proc_t *p, const char *tag, const char *what, otpc_term_t last)
{
    ei_x_buff *x = otpc__scratch(p->node);
    x->index = 0;
    /* copied: terminate may use the scratch buffer */
    otpc__buf_t b = {0};
    int err = ei_x_encode_version(x) || otpc__x_tag_atom(x, tag, what) ||
              otpc__buf_append(&b, x->buff, (size_t)x->index);
    otpc_term_t t = {b.data, b.len};
    otpc__gs_stop(p, err ? NOMEM_T : t, last);
    otpc__buf_free(&b);
}

static const char *action_name(otpc_action_t a)
{
    static const char *names[] = {"ok", "reply", "noreply", "stop", "stop_reply", "ignore"};
    return (unsigned)a < sizeof names / sizeof *names ? names[a] : "unknown";
}

/* ---- after a callback ------------------------------------------------------------------ */

static void cancel_timeout(otpc_proc_t *p)
{
    otpc__gs_t *g = otpc__gs(p);
    if (g->timeout) {
        OTPC__ENTER_DOM(p->node, p->home); /* its domain's timers */
        otpc__timer_cancel(p->node, g->timeout);
        g->timeout = 0;
    }
}

static void arm_timeout(otpc_proc_t *p, unsigned ms)
{
    otpc__gs_t *g = otpc__gs(p);
    OTPC__ENTER_DOM(p->node, p->home); /* its domain's timers */
    g->timeout_on = 1;
    g->timeout_ms = ms;
    if (otpc__timer_add(p->node, p->home, ms, OTPC__TIMER_BEH, &p->pid, NULL, &g->timeout))
        OTPC__LOG_ERROR("gen_server", "out of memory arming a timeout");
}

/* timeout, hibernate or {continue, C} */
static void post(otpc_proc_t *p, otpc_ret_t *r)
{
    otpc__gs_t *g = otpc__gs(p);
    g->timeout_on = 0;
    g->hibernated = r->post == POST_HIBERNATE;
    if (r->post == POST_TIMEOUT) {
        arm_timeout(p, r->timeout_ms);
    } else if (r->post == POST_CONTINUE) {
        otpc__msg_t *m =
            otpc__msg_new(p->node, OTPC__M_BEH, &p->pid, r->cont.buff, (size_t)r->cont.index);
        if (m)
            otpc__deliver_front(p->node, p, m, m); /* before any message, as in OTP */
        else
            OTPC__LOG_ERROR("gen_server", "out of memory queueing a continue");
    }
}

/* Is t (whose first byte is not read) one well-formed term? Else stop the server:
 * malformed bytes must never reach the wire. */
static int valid_term(otpc_proc_t *p, otpc_term_t t, otpc_term_t last)
{
    size_t used;
    if (t.size > 1 && otpc__term_skip(t.data + 1, t.size - 1, &used) == 0 && used == t.size - 1)
        return 1;
    stop_pair(p, "bad_return_value", "malformed_term", last);
    return 0;
}

static void answer(otpc_proc_t *p, otpc_from_t *from, otpc_ret_t *r, otpc_term_t last)
{
    otpc__gs_t *g = otpc__gs(p);
    if (g->cur_answered) {
        OTPC__LOG_WARN("gen_server", "%s: reply returned for a caller already answered",
                       g->mod->name);
        return;
    }
    otpc_term_t reply = !r->has_reply       ? OK_T
                        : r->reply_ref.data ? r->reply_ref
                                            : otpc__x_term(&r->reply);
    if (valid_term(p, reply, last)) {
        otpc__from_send(p, from, reply);
        if (g->debug)
            otpc__gs_debug_out(p, reply, from);
    }
    g->cur_answered = 1;
}

/* Carry out what a callback returned. from: the caller, for handle_call only. */
static void apply(otpc_proc_t *p, otpc_action_t a, otpc_ret_t *r, otpc_from_t *from,
                  otpc_term_t last)
{
    if (r->enomem) { /* its reply or reason could not be built: a caller stays unanswered */
        otpc__gs_stop(p, NOMEM_T, last);
        return;
    }
    otpc_term_t reason = r->has_reason ? otpc__x_term(&r->reason) : NORMAL_T;
    switch (a) {
    case OTPC_REPLY:
        if (!from)
            break;
        answer(p, from, r, last);
        if (!p->exiting)
            post(p, r);
        return;
    case OTPC_NOREPLY:
        post(p, r);
        if (otpc__gs(p)->debug && !p->exiting)
            otpc__gs_debug_out(p, (otpc_term_t){NULL, 0}, NULL);
        return;
    case OTPC_STOP:
        if (r->has_reason && !valid_term(p, otpc__x_term(&r->reason), last))
            return;
        otpc__gs_stop(p, reason, last);
        return;
    case OTPC_STOP_REPLY:
        if (!from)
            break;
        if (r->has_reason && !valid_term(p, otpc__x_term(&r->reason), last))
            return;
        /* gen_server runs terminate first, then replies, then exits. Marked exiting
         * before the reply is sent, so that the reply leaves with the exit (the caller
         * that has it finds the server gone, its supervisor told): a reply for another
         * domain waits in this thread's outbox, one for this domain in its endpoint,
         * until the exit holds every lock (core/locks.c, otpc__escalate). */
        run_terminate(p, reason);
        otpc__gs_stop(p, reason, last);
        answer(p, from, r, last);
        return;
    default:
        break;
    }
    stop_pair(p, "bad_return_value", action_name(a), last);
}

/* ---- dispatch --------------------------------------------------------------------------- */

/* No handle_call / handle_cast: stop with {bad_call, Req} / {bad_cast, Req}, as
 * Elixir's default callbacks do. */
static otpc_action_t stop_bad(otpc_ret_t *r, const char *tag, otpc_term_t req)
{
    ei_x_buff *x = otpc_ret_reason(r);
    if (ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, tag) || otpc_x_append_term(x, req))
        r->enomem = 1;
    return OTPC_STOP;
}

/* msg is {'$gen_call', {From, Tag}, Req}; i is at {From, Tag}. */
static void do_call(otpc_proc_t *p, otpc_term_t msg, int i)
{
    otpc__gs_t *g = otpc__gs(p);
    otpc__from_t f;
    if (!otpc__decode_from(p, msg, i, &f, &i))
        return;
    otpc_from_t *from = otpc__from_new(p, &f);
    otpc_ret_t *r = otpc__ret_begin(p->node);
    if (!from || !r) {
        OTPC__LOG_ERROR("gen_server", "out of memory taking a call");
        if (from)
            otpc__from_release(p->node, g, from);
        if (r)
            otpc__ret_end(p->node);
        return;
    }
    char saved;
    otpc_term_t req = otpc__view_begin(msg, i, &saved);
    r->msg_lo = msg.data;
    r->msg_hi = msg.data + msg.size;
    g->cur = from;
    g->cur_answered = 0;
    otpc_action_t a;
    if (!g->mod->handle_call)
        a = stop_bad(r, "bad_call", req);
    else if (g->user)
        OTPC__USER(p->node, a = g->mod->handle_call(p, req, from, r));
    else
        a = g->mod->handle_call(p, req, from, r);
    otpc__view_end(msg, i, saved);
    apply(p, a, r, from, msg);
    g->cur = NULL;
    if (g->cur_answered)
        otpc__from_release(p->node, g, from);
    otpc__ret_end(p->node);
}

static void do_cast(otpc_proc_t *p, otpc_term_t msg, int i)
{
    otpc__gs_t *g = otpc__gs(p);
    otpc_ret_t *r = otpc__ret_begin(p->node);
    if (!r)
        return;
    char saved;
    otpc_term_t req = otpc__view_begin(msg, i, &saved);
    otpc_action_t a;
    if (!g->mod->handle_cast)
        a = stop_bad(r, "bad_cast", req);
    else if (g->user)
        OTPC__USER(p->node, a = g->mod->handle_cast(p, req, r));
    else
        a = g->mod->handle_cast(p, req, r);
    otpc__view_end(msg, i, saved);
    apply(p, a, r, NULL, msg);
    otpc__ret_end(p->node);
}

static void do_info(otpc_proc_t *p, otpc_term_t msg)
{
    otpc__gs_t *g = otpc__gs(p);
    if (!g->mod->handle_info) {
        char t[200];
        print_term(t, sizeof t, msg);
        OTPC__LOG_WARN("gen_server", "%s: undefined handle_info, message ignored: %s", g->mod->name,
                       t);
        return;
    }
    otpc_ret_t *r = otpc__ret_begin(p->node);
    if (!r)
        return;
    otpc_action_t a;
    if (g->user)
        OTPC__USER(p->node, a = g->mod->handle_info(p, msg, r));
    else
        a = g->mod->handle_info(p, msg, r);
    apply(p, a, r, NULL, msg);
    otpc__ret_end(p->node);
}

static void gs_continue(otpc_proc_t *p, otpc_term_t cont)
{
    otpc__gs_t *g = otpc__gs(p);
    if (!g)
        return;
    if (!g->mod->handle_continue) {
        stop_pair(p, "undefined_callback", "handle_continue", cont);
        return;
    }
    otpc_ret_t *r = otpc__ret_begin(p->node);
    if (!r)
        return;
    otpc_action_t a;
    if (g->user)
        OTPC__USER(p->node, a = g->mod->handle_continue(p, cont, r));
    else
        a = g->mod->handle_continue(p, cont, r);
    apply(p, a, r, NULL, cont);
    otpc__ret_end(p->node);
}

static void gs_timeout(otpc_proc_t *p, otpc_timer_t ref)
{
    static const char TIMEOUT[] = OTPC__VATOM(7, 't', 'i', 'm', 'e', 'o', 'u', 't');
    otpc__gs_t *g = otpc__gs(p);
    if (!g || g->timeout != ref)
        return;
    g->timeout = 0;
    if (p->mhead)
        return; /* a message came first: it cancels the timeout when it is handled */
    otpc__msg_t *m = otpc__msg_new(p->node, OTPC__M_MSG, NULL, TIMEOUT, sizeof TIMEOUT);
    if (m)
        otpc__deliver(p->node, p, m);
}

const otpc__beh_t otpc__gs_beh = {.item = gs_continue, .timeout = gs_timeout};

/* {'EXIT', Parent, Reason} while trapping: the parent wants us gone. */
static int parent_exit(otpc_proc_t *p, otpc_term_t msg)
{
    otpc__gs_t *g = otpc__gs(p);
    otpc_pid_t from;
    int i;
    if (!p->trap_exit || otpc_pid_eq(&g->parent, &p->pid) ||
        !otpc_term_is_tagged(msg, "EXIT", 3, &i) || otpc_decode_pid(p, msg.data, &i, &from) ||
        !otpc_pid_eq(&from, &g->parent))
        return 0;
    char saved;
    otpc_term_t reason = otpc__view_begin(msg, i, &saved);
    otpc__buf_t copy = {0}; /* the view must not outlive this function */
    otpc__buf_append(&copy, reason.data, reason.size);
    otpc__view_end(msg, i, saved);
    otpc_term_t t = {copy.data, copy.len};
    otpc__gs_stop(p, t, msg);
    otpc__buf_free(&copy);
    return 1;
}

static void hold_back(otpc_proc_t *p, otpc_term_t msg)
{
    otpc__gs_t *g = otpc__gs(p);
    otpc__msg_t *m = otpc__msg_new(p->node, OTPC__M_MSG, NULL, msg.data, msg.size);
    if (!m) {
        OTPC__LOG_ERROR("gen_server", "out of memory holding a message while suspended");
        return;
    }
    if (g->saved_tail)
        g->saved_tail->next = m;
    else
        g->saved = m;
    g->saved_tail = m;
}

static void dispatch(otpc_proc_t *p, otpc_term_t msg);

/* A call, a cast or a message to a server that is neither suspended nor debugged runs
 * holding its domain's lock only (a daemon session's server: the socket's scheduler);
 * system messages and exits take every lock, as what they do reaches node state (a
 * reply, a timeout and a stop take them where they need them). */
static void gs_handle(otpc_proc_t *p, otpc_term_t msg)
{
    otpc__gs_t *g = otpc__gs(p);
    int i, all = g->suspended || g->debug || otpc_term_is_tagged(msg, "system", 3, &i) ||
                 otpc_term_is_tagged(msg, "EXIT", 3, &i);
    if (all)
        otpc__enter(p->node);
    dispatch(p, msg);
    if (all)
        otpc__leave(p->node);
}

static void dispatch(otpc_proc_t *p, otpc_term_t msg)
{
    otpc__gs_t *g = otpc__gs(p);
    int i, system = otpc_term_is_tagged(msg, "system", 3, &i);
    if (parent_exit(p, msg))
        return;
    if (g->suspended && !system) {
        hold_back(p, msg);
        return;
    }
    if (g->debug && !system)
        otpc__gs_debug_in(p, msg);
    cancel_timeout(p);
    g->hibernated = 0;
    if (system) {
        int was_on = g->timeout_on;
        otpc__gs_system(p, msg, i);
        if (was_on && !p->exiting)
            arm_timeout(p, g->timeout_ms);
        return;
    }
    g->timeout_on = 0;
    if (otpc_term_is_tagged(msg, "$gen_call", 3, &i))
        do_call(p, msg, i);
    else if (otpc_term_is_tagged(msg, "$gen_cast", 2, &i))
        do_cast(p, msg, i);
    else
        do_info(p, msg);
}

/* ---- start and end --------------------------------------------------------------------- */

typedef struct {
    const otpc_gen_server_t *mod;
    otpc_term_t arg;
    const otpc_start_opts_t *opts;
    otpc_pid_t holder;
    int user; /* a user's module: its handle_* run without the node lock */
} start_ctx_t;

static void gs_free(otpc_proc_t *p)
{
    otpc__gs_t *g = otpc__gs(p);
    otpc_node_t *n = p->node;
    cancel_timeout(p);
    otpc__sys_server_gone(p);
    if (g->mod->release)
        g->mod->release(p);
    otpc__modver_drop(n, g->ver); /* after release: its code may go now */
    while (g->froms)
        otpc__from_release(n, g, g->froms);
    otpc__gs_debug_free(g);
    for (otpc__msg_t *m = g->saved, *next; m; m = next) {
        next = m->next;
        otpc__msg_free(n, m);
    }
    free(g);
    p->beh = NULL;
    p->beh_data = NULL;
}

static int init_result(otpc_proc_t *p, start_ctx_t *c, otpc_action_t a, otpc_ret_t *r)
{
    if (r->enomem) /* what init returned could not be built */
        a = OTPC_STOP;
    otpc_term_t reason = r->enomem ? NOMEM_T : r->has_reason ? otpc__x_term(&r->reason) : NORMAL_T;
    switch (a) {
    case OTPC_OK:
        post(p, r);
        return 0;
    case OTPC_IGNORE:
        otpc_exit(p, NORMAL_T);
        return GS_IGNORED;
    case OTPC_STOP:
        if (r->has_reason && !r->enomem && otpc__check_term(reason))
            break;
        otpc_exit(p, reason);
        if (c->opts && c->opts->reason) {
            /* a reason that cannot reach the starter fails the start: OTPC_ENOMEM */
            c->opts->reason->index = 0;
            if (ei_x_append_buf(c->opts->reason, reason.data, (int)reason.size))
                return OTPC_ENOMEM;
        }
        return GS_STOPPED;
    default:
        break;
    }
    if (otpc__x_tag_atom(otpc_ret_reason(r), "bad_return_value", action_name(a)))
        r->enomem = 1;
    return init_result(p, c, OTPC_STOP, r);
}

static int gs_init(otpc_proc_t *p, void *arg)
{
    start_ctx_t *c = arg;
    const otpc_start_opts_t *o = c->opts;
    otpc__gs_t *g = calloc(1, sizeof *g);
    if (!g)
        return OTPC_ENOMEM;
    p->beh = &otpc__gs_beh;
    p->beh_data = g;
    g->user = c->user;
    /* a server starts on the current version, whichever one it was asked for */
    g->mod = otpc__module_current(p->node, c->mod, &g->ver);
    otpc__modver_hold(g->ver);
    g->parent = o && o->link ? *o->link : p->pid;
    int rc = 0;
    if (o && o->name && (rc = otpc_register(p, o->name)) != 0) {
        if (rc == OTPC_ENAMETAKEN) {
            uint32_t a = otpc__atom(&p->node->atoms, o->name, strlen(o->name));
            otpc_proc_t *holder = otpc__proc_by_name(p->node, a);
            if (holder)
                c->holder = holder->pid;
        }
        goto out;
    }
    if (o && o->link && (rc = otpc_link(p, o->link)) != 0)
        goto out;
    if (c->mod->init) {
        otpc_ret_t *r = otpc__ret_begin(p->node);
        if (!r) {
            rc = OTPC_ENOMEM;
            goto out;
        }
        rc = init_result(p, c, c->mod->init(p, c->arg, r), r);
        otpc__ret_end(p->node);
    }
out:
    if (rc)
        gs_free(p); /* the process never ran: release what init made, no terminate */
    return rc;
}

static void gs_terminate(otpc_proc_t *p, otpc_term_t reason)
{
    if (!otpc__gs(p))
        return;
    /* A node shutdown is a shutdown from the top supervisor: trapping servers clean up. */
    if (p->node->stopping && p->trap_exit)
        run_terminate(p, reason);
    gs_free(p);
}

static const otpc_proc_ops_t gs_ops = {
    .name = "gen_server", .init = gs_init, .handle = gs_handle, .terminate = gs_terminate};

static int start(otpc_node_t *node, const otpc_gen_server_t *mod, otpc_term_t arg,
                 const otpc_start_opts_t *opts, otpc_pid_t *out, int user)
{
    if (!mod || !mod->name || (arg.size && otpc__check_term(arg)))
        return OTPC_EINVAL;
    start_ctx_t c = {mod, arg.size ? arg : NORMAL_T, opts, {0, 0, 0, 0}, user};
    if (!arg.size) {
        static const char UNDEFINED[] = OTPC__VATOM(9, 'u', 'n', 'd', 'e', 'f', 'i', 'n', 'e', 'd');
        c.arg = OTPC__TERM(UNDEFINED);
    }
    /* a user's server may live in any domain; otpc's own (rex, otpc_starter, the
     * supervisor's runtime) stay in the node's, as their code reaches node state */
    int rc = user ? otpc__spawn_sys_homed(node, &gs_ops, &c, out)
                  : otpc__spawn_sys(node, &gs_ops, &c, out);
    if (rc == GS_IGNORED)
        return OTPC_IGNORED;
    if (rc == GS_STOPPED)
        return OTPC_ESTOPPED;
    if (rc == OTPC_ENAMETAKEN && out)
        *out = c.holder;
    return rc;
}

int otpc_gen_server_start(otpc_node_t *node, const otpc_gen_server_t *mod, otpc_term_t arg,
                          const otpc_start_opts_t *opts, otpc_pid_t *out)
{
    OTPC__ENTER(node);
    return start(node, mod, arg, opts, out, 1);
}

int otpc__gen_server_start_sys(otpc_node_t *node, const otpc_gen_server_t *mod, otpc_term_t arg,
                               const otpc_start_opts_t *opts, otpc_pid_t *out)
{
    return start(node, mod, arg, opts, out, 0);
}

/* ---- the layer's state ------------------------------------------------------------- */

otpc__ext_key_t otpc__otp_key;

static void otp_free(otpc_node_t *n, void *state)
{
    otpc__otp_t *O = state;
    otpc__modules_free(n);
    otpc__async_free(O->async); /* its last results find the queue closed */
    otpc__async_drop(&O->replies);
    otpc__sys_release_free(O->rels);
    free(O);
}

int otpc__otp_init(otpc_node_t *n)
{
    otpc__otp_t *O = calloc(1, sizeof *O);
    if (!O)
        return OTPC_ENOMEM;
    if (otpc__mq_init(&O->replies, &n->wake)) {
        free(O);
        return OTPC_ENOMEM;
    }
    int rc = otpc__ext_add(n, &otpc__otp_key, O, otp_free);
    if (rc) {
        otpc__mq_destroy(&O->replies);
        free(O);
    }
    return rc;
}
