/*
 * The supervisor for C gen_servers, itself a gen_server written against the public API
 * (the child specs are sup_spec.c's). It traps exits, links to each child (children
 * start with it as their parent, so a trapping child runs terminate on its shutdown),
 * restarts per restart type and strategy (one_for_one, one_for_all, rest_for_one)
 * within the restart intensity, and answers the calls of Erlang's supervisor module.
 *
 * OTP's supervisor waits inside a call while a child shuts down. A callback here cannot
 * wait, so shutting children down is an operation (op_t) that spans callbacks: each
 * child in turn is monitored and sent exit(Child, shutdown) (kill for brutal_kill), a
 * timer sends the kill when its shutdown time runs out, and its DOWN moves the
 * operation to the next child; the last one completes it (answering terminate_child,
 * restarting the siblings, or stopping the supervisor).
 *
 * Invariants:
 *  - children[] is in start order; which_children and count_children list it newest
 *    first and shutdowns go newest first, as in OTP.
 *  - While an operation runs, every message that is not its own (calls, other
 *    children's exits, try-again messages) waits in `deferred`, in arrival order, and
 *    is handled once it completes: the supervisor acts on messages in the order OTP's
 *    would, which receives only its child's DOWN while it shuts a child down.
 *  - A child's pid is valid only in RUNNING and TERMINATING; a stale EXIT (from a pid
 *    no child has any more) is ignored.
 *  - restarts[] holds the times (ms) of the restarts inside the current period; one
 *    more than `intensity` shuts everything down and stops the supervisor (shutdown).
 */
#include <stdlib.h>
#include <string.h>

#include "otp/sup_int.h"
#include "proto/term.h"
#include "util/log.h"

typedef enum { OP_NONE, OP_TERMINATE, OP_RESTART, OP_STOP } op_kind_t;

typedef struct {
    op_kind_t kind;
    uint64_t *queue; /* serials of the children to shut down, in that order */
    size_t n, at;
    otpc_from_t *from; /* OP_TERMINATE: the caller of terminate_child */
    uint64_t target;   /* OP_TERMINATE: the child; OP_RESTART: the one that ended */
} op_t;

typedef struct item {
    struct item *next;
    otpc_from_t *from; /* a call; NULL: an info message */
    size_t len;
    char data[];
} item_t;

typedef struct {
    otpc__child_t **children;
    size_t n, cap;
    otpc_strategy_t strategy;
    unsigned intensity, period_ms;
    uint64_t *restarts;
    size_t nrestarts;
    uint64_t next_serial, kill_gen;
    op_t op;
    item_t *deferred, *deferred_tail;
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
        otpc__child_free(s->children[i]);
        free(s->children[i]);
    }
    for (item_t *it = s->deferred, *next; it; it = next) {
        next = it->next;
        free(it);
    }
    free(s->children);
    free(s->restarts);
    free(s->op.queue);
    free(s);
}

/* ---- children ------------------------------------------------------------------------ */

static int add_child(sup_t *s, otpc__child_t *c)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        otpc__child_t **v = realloc(s->children, cap * sizeof *v);
        if (!v)
            return OTPC_ENOMEM;
        s->children = v;
        s->cap = cap;
    }
    c->serial = ++s->next_serial;
    s->children[s->n++] = c;
    return 0;
}

static size_t index_of(const sup_t *s, const otpc__child_t *c)
{
    size_t i = 0;
    while (i < s->n && s->children[i] != c)
        i++;
    return i;
}

static void remove_child(sup_t *s, otpc__child_t *c)
{
    size_t i = index_of(s, c);
    if (i == s->n)
        return;
    memmove(&s->children[i], &s->children[i + 1], (s->n - i - 1) * sizeof *s->children);
    s->n--;
    otpc__child_free(c);
    free(c);
}

/* OTP's del_child: a temporary child goes, any other keeps its spec without a pid. */
static void child_ended(sup_t *s, otpc__child_t *c)
{
    c->state = OTPC__CH_STOPPED;
    if (c->restart == OTPC_TEMPORARY)
        remove_child(s, c);
}

static otpc__child_t *by_serial(const sup_t *s, uint64_t serial)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->children[i]->serial == serial)
            return s->children[i];
    return NULL;
}

static otpc__child_t *by_pid(const sup_t *s, const otpc_pid_t *pid, otpc__ch_state_t state)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->children[i]->state == state && otpc_pid_eq(&s->children[i]->pid, pid))
            return s->children[i];
    return NULL;
}

static otpc__child_t *by_canon(const sup_t *s, const ei_x_buff *id)
{
    for (size_t k = 0; k < s->n; k++)
        if (s->children[k]->id.index == id->index &&
            memcmp(s->children[k]->id.buff, id->buff, (size_t)id->index) == 0)
            return s->children[k];
    return NULL;
}

/* The child whose id is the term at *i of t (advanced). */
static otpc__child_t *by_id(const sup_t *s, otpc_term_t t, int *i)
{
    ei_x_buff id;
    otpc__child_t *found = NULL;
    if (ei_x_new(&id))
        return NULL;
    if (otpc__sup_canon_id(t, i, &id) == 0)
        found = by_canon(s, &id);
    ei_x_free(&id);
    return found;
}

/* Start c: 0 (RUNNING), OTPC_IGNORED (init returned ignore: STOPPED), or an error with
 * the reason (no version byte) in why when why is not NULL: init's stop reason,
 * {already_started, Pid} or {otpc, Text}. */
static int start_child(otpc_proc_t *self, otpc__child_t *c, ei_x_buff *why)
{
    otpc_pid_t me = otpc_self(self), pid;
    ei_x_buff reason;
    if (ei_x_new(&reason))
        return OTPC_ENOMEM;
    otpc_start_opts_t o = {c->name, &me, &reason};
    otpc_term_t arg = {c->arg.buff, (size_t)c->arg.index};
    int rc = otpc_gen_server_start(otpc_proc_node(self), c->mod, arg, &o, &pid);
    c->state = rc == 0 ? OTPC__CH_RUNNING : OTPC__CH_STOPPED;
    if (rc == 0)
        c->pid = pid;
    if (rc < 0 && why) {
        int err;
        if (rc == OTPC_ESTOPPED && reason.index > 1)
            err = ei_x_append_buf(why, reason.buff + 1, reason.index - 1);
        else if (rc == OTPC_ENAMETAKEN)
            err = ei_x_encode_tuple_header(why, 2) || ei_x_encode_atom(why, "already_started") ||
                  otpc_x_encode_pid(self, why, &pid);
        else
            err = otpc__x_tag_atom(why, "otpc", otpc_strerror(rc));
        if (err)
            rc = OTPC_ENOMEM;
    }
    ei_x_free(&reason);
    return rc;
}

/* ---- shutting children down ----------------------------------------------------------- */

/* exit(Child, shutdown) or kill, under a monitor; 0 while it runs, -1 if it is gone. */
static int begin_kill(otpc_proc_t *self, sup_t *s, otpc__child_t *c)
{
    static const char KILL[] = {
        (char)ERL_VERSION_MAGIC, ERL_SMALL_ATOM_UTF8_EXT, 4, 'k', 'i', 'l', 'l'};
    if (otpc_monitor(self, &c->pid, &c->mref)) {
        otpc_exit_signal(self, &c->pid, OTPC__TERM(KILL));
        return -1; /* out of memory: it is killed, without waiting to see it go */
    }
    c->state = OTPC__CH_TERMINATING;
    c->timer = 0;
    if (c->shutdown == OTPC__SHUT_BRUTAL) {
        otpc_exit_signal(self, &c->pid, OTPC__TERM(KILL));
        return 0;
    }
    otpc_exit_signal(self, &c->pid, OTPC__TERM(otpc__t_shutdown));
    if (c->shutdown == OTPC__SHUT_INFINITY)
        return 0;
    ei_x_buff x;
    otpc_pid_t me = otpc_self(self);
    c->kill_gen = ++s->kill_gen;
    if (ei_x_new_with_version(&x) || ei_x_encode_tuple_header(&x, 3) ||
        ei_x_encode_atom(&x, "$otpc_sup_kill") || ei_x_encode_ulonglong(&x, c->serial) ||
        ei_x_encode_ulonglong(&x, c->kill_gen) ||
        otpc_send_after(self, (unsigned)c->shutdown, &me, otpc_term_x(&x), &c->timer))
        otpc_exit_signal(self, &c->pid, OTPC__TERM(KILL)); /* no timer: no waiting */
    ei_x_free(&x);
    return 0;
}

/* How OTP judges the reason a child ended with when shut down. */
static int shutdown_ok(const otpc__child_t *c, otpc_term_t reason)
{
    if (otpc_term_is_atom(reason, "shutdown") ||
        (c->shutdown == OTPC__SHUT_BRUTAL && otpc_term_is_atom(reason, "killed")))
        return 1;
    return c->restart != OTPC_PERMANENT && otpc__quiet_reason(reason);
}

static otpc_action_t op_step(otpc_proc_t *self, sup_t *s, otpc_ret_t *r);

/* The DOWN of a child being shut down. */
static otpc_action_t killed(otpc_proc_t *self, sup_t *s, otpc__child_t *c, otpc_term_t reason,
                            otpc_ret_t *r)
{
    if (c->timer)
        otpc_cancel_timer(self, c->timer);
    c->timer = 0;
    c->state = OTPC__CH_STOPPED;
    if (!shutdown_ok(c, reason)) {
        char text[1024] = "?";
        if (reason.size > 1)
            otpc__print_term(text, sizeof text, reason.data + 1, reason.size - 1);
        OTPC__LOG_ERROR("supervisor", "shutdown_error shutting down %s: %s", c->label, text);
    }
    s->op.at++;
    return op_step(self, s, r);
}

static int begin_op(sup_t *s, op_kind_t kind, size_t from, size_t to)
{
    free(s->op.queue);
    memset(&s->op, 0, sizeof s->op);
    s->op.queue = malloc((to - from + 1) * sizeof *s->op.queue);
    if (!s->op.queue)
        return OTPC_ENOMEM;
    for (size_t i = to; i-- > from;) /* newest first */
        s->op.queue[s->op.n++] = s->children[i]->serial;
    s->op.kind = kind;
    return 0;
}

/* ---- restarts --------------------------------------------------------------------------- */

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

/* A restart that failed: the child is `restarting` until the message to try again. */
static void try_again(otpc_proc_t *self, otpc__child_t *c, int rc, ei_x_buff *why)
{
    char text[1024];
    if (why && why->index)
        otpc__print_term(text, sizeof text, why->buff, (size_t)why->index);
    else
        snprintf(text, sizeof text, "%s", otpc_strerror(rc));
    OTPC__LOG_ERROR("supervisor", "start_error restarting %s: %s", c->label, text);
    c->state = OTPC__CH_RESTARTING;
    ei_x_buff x;
    otpc_pid_t me = otpc_self(self);
    if (ei_x_new_with_version(&x) || ei_x_encode_tuple_header(&x, 2) ||
        ei_x_encode_atom(&x, "$otpc_sup_try_again") || ei_x_encode_ulonglong(&x, c->serial) ||
        otpc_send(self, &me, otpc_term_x(&x)))
        OTPC__LOG_ERROR("supervisor", "out of memory: %s stays restarting", c->label);
    ei_x_free(&x);
}

/* Start, in start order, the children from index `from` on that have no process. */
static void start_from(otpc_proc_t *self, sup_t *s, size_t from)
{
    for (size_t i = from; i < s->n; i++) {
        otpc__child_t *c = s->children[i];
        if (c->state != OTPC__CH_STOPPED && c->state != OTPC__CH_RESTARTING)
            continue;
        ei_x_buff why;
        if (ei_x_new(&why))
            return try_again(self, c, OTPC_ENOMEM, NULL);
        int rc = start_child(self, c, &why);
        if (rc < 0) {
            try_again(self, c, rc, &why);
            ei_x_free(&why);
            return;
        }
        ei_x_free(&why);
    }
}

static otpc_action_t begin_stop(otpc_proc_t *self, sup_t *s, otpc_ret_t *r)
{
    if (begin_op(s, OP_STOP, 0, s->n))
        return otpc_stop_atom(r, "enomem");
    return op_step(self, s, r);
}

/* OTP's restart/2: c ended and must come back (c is STOPPED or RESTARTING). */
static otpc_action_t restart(otpc_proc_t *self, sup_t *s, otpc__child_t *c, otpc_ret_t *r)
{
    /* the precise clock: a loop's cached time lags while its scheduler sleeps */
    if (note_restart(s, uv_hrtime() / 1000000u)) {
        OTPC__LOG_ERROR("supervisor", "reached_max_restart_intensity restarting %s; shutting down",
                        c->label);
        child_ended(s, c);
        return begin_stop(self, s, r);
    }
    if (s->strategy == OTPC_ONE_FOR_ONE) {
        ei_x_buff why;
        int rc = ei_x_new(&why) ? OTPC_ENOMEM : start_child(self, c, &why);
        if (rc < 0)
            try_again(self, c, rc, &why);
        ei_x_free(&why);
        return OTPC_NOREPLY;
    }
    size_t from = s->strategy == OTPC_REST_FOR_ONE ? index_of(s, c) : 0;
    if (begin_op(s, OP_RESTART, from, s->n))
        return otpc_stop_atom(r, "enomem");
    s->op.target = c->serial;
    return op_step(self, s, r);
}

/* Every child of the operation is down: finish what it was for. */
static otpc_action_t op_complete(otpc_proc_t *self, sup_t *s, otpc_ret_t *r)
{
    op_t op = s->op;
    s->op.kind = OP_NONE;
    if (op.kind == OP_STOP)
        return otpc_stop_atom(r, "shutdown");
    if (op.kind == OP_TERMINATE) {
        otpc__child_t *c = by_serial(s, op.target);
        if (c)
            child_ended(s, c);
        ei_x_buff x;
        if (ei_x_new_with_version(&x) || ei_x_encode_atom(&x, "ok") ||
            otpc_reply(self, op.from, otpc_term_x(&x)))
            otpc_from_drop(self, op.from);
        ei_x_free(&x);
        return OTPC_NOREPLY;
    }
    /* OP_RESTART: temporary children go; the rest start again in start order */
    otpc__child_t *c = by_serial(s, op.target);
    size_t from = c && s->strategy == OTPC_REST_FOR_ONE ? index_of(s, c) : 0;
    for (size_t i = s->n; i-- > from;)
        if (s->children[i]->restart == OTPC_TEMPORARY && s->children[i] != c)
            remove_child(s, s->children[i]);
    start_from(self, s, from);
    return OTPC_NOREPLY;
}

/* Shut down the next child of the operation, or complete it. */
static otpc_action_t op_step(otpc_proc_t *self, sup_t *s, otpc_ret_t *r)
{
    while (s->op.at < s->op.n) {
        otpc__child_t *c = by_serial(s, s->op.queue[s->op.at]);
        if (c && c->state == OTPC__CH_RUNNING && begin_kill(self, s, c) == 0)
            return OTPC_NOREPLY; /* its DOWN comes back here */
        if (c && c->state != OTPC__CH_RESTARTING)
            c->state = OTPC__CH_STOPPED;
        s->op.at++;
    }
    return op_complete(self, s, r);
}

/* ---- messages ------------------------------------------------------------------------ */

/* {'EXIT', Pid, Reason} from a running child: OTP's do_restart. */
static otpc_action_t child_exit(otpc_proc_t *self, sup_t *s, otpc_term_t msg, int i, otpc_ret_t *r)
{
    otpc_pid_t pid;
    if (otpc_decode_pid(self, msg.data, &i, &pid))
        return OTPC_NOREPLY;
    otpc__child_t *c = by_pid(s, &pid, OTPC__CH_RUNNING);
    if (!c)
        return OTPC_NOREPLY;
    char saved;
    otpc_term_t reason = otpc__view_begin(msg, i, &saved);
    int quiet = otpc__quiet_reason(reason);
    otpc__view_end(msg, i, saved);
    c->state = OTPC__CH_STOPPED;
    if (c->restart == OTPC_PERMANENT || (c->restart == OTPC_TRANSIENT && !quiet)) {
        OTPC__LOG_ERROR("supervisor", "child_terminated: %s", c->label);
        return restart(self, s, c, r);
    }
    if (!quiet)
        OTPC__LOG_ERROR("supervisor", "child_terminated: %s", c->label);
    child_ended(s, c);
    return OTPC_NOREPLY;
}

/* {'DOWN', Ref, process, Pid, Reason}: a child being shut down is gone. */
static otpc_action_t child_down(otpc_proc_t *self, sup_t *s, otpc_term_t msg, int i, otpc_ret_t *r)
{
    otpc_ref_t ref;
    otpc_pid_t pid;
    if (otpc_decode_ref(self, msg.data, &i, &ref) ||
        !otpc_decode_atom_is(msg.data, &i, "process") || otpc_decode_pid(self, msg.data, &i, &pid))
        return OTPC_NOREPLY;
    otpc__child_t *c = by_pid(s, &pid, OTPC__CH_TERMINATING);
    if (!c || !otpc_ref_eq(&c->mref, &ref))
        return OTPC_NOREPLY;
    char saved;
    otpc_term_t view = otpc__view_begin(msg, i, &saved);
    ei_x_buff reason; /* the view must not outlive this message's handling */
    int err = ei_x_new(&reason) || ei_x_append_buf(&reason, view.data, (int)view.size);
    otpc__view_end(msg, i, saved);
    if (err) {
        ei_x_free(&reason);
        return otpc_stop_atom(r, "enomem");
    }
    otpc_action_t a = killed(self, s, c, otpc_term_x(&reason), r);
    ei_x_free(&reason);
    return a;
}

/* Is msg the running operation's: a DOWN, a kill timer, an EXIT of a child it ends? */
static int op_message(otpc_proc_t *self, const sup_t *s, otpc_term_t msg)
{
    otpc_pid_t pid;
    int i;
    if (otpc_term_is_tagged(msg, "DOWN", 5, &i) ||
        otpc_term_is_tagged(msg, "$otpc_sup_kill", 3, &i))
        return 1;
    return otpc_term_is_tagged(msg, "EXIT", 3, &i) &&
           otpc_decode_pid(self, msg.data, &i, &pid) == 0 && by_pid(s, &pid, OTPC__CH_TERMINATING);
}

static int defer(sup_t *s, otpc_term_t msg, otpc_from_t *from)
{
    item_t *it = malloc(sizeof *it + msg.size);
    if (!it)
        return OTPC_ENOMEM;
    it->next = NULL;
    it->from = from;
    it->len = msg.size;
    memcpy(it->data, msg.data, msg.size);
    if (s->deferred_tail)
        s->deferred_tail->next = it;
    else
        s->deferred = it;
    s->deferred_tail = it;
    return 0;
}

static otpc_action_t do_info(otpc_proc_t *self, sup_t *s, otpc_term_t msg, otpc_ret_t *r)
{
    int i;
    unsigned long long serial, gen;
    if (s->op.kind != OP_NONE && !op_message(self, s, msg))
        return defer(s, msg, NULL) ? otpc_stop_atom(r, "enomem") : OTPC_NOREPLY;
    if (otpc_term_is_tagged(msg, "EXIT", 3, &i)) {
        otpc_pid_t pid;
        int j = i;
        if (otpc_decode_pid(self, msg.data, &j, &pid) == 0 && by_pid(s, &pid, OTPC__CH_TERMINATING))
            return OTPC_NOREPLY; /* its DOWN is what counts */
        return child_exit(self, s, msg, i, r);
    }
    if (otpc_term_is_tagged(msg, "DOWN", 5, &i))
        return child_down(self, s, msg, i, r);
    if (otpc_term_is_tagged(msg, "$otpc_sup_kill", 3, &i) &&
        ei_decode_ulonglong(msg.data, &i, &serial) == 0 &&
        ei_decode_ulonglong(msg.data, &i, &gen) == 0) {
        static const char KILL[] = {
            (char)ERL_VERSION_MAGIC, ERL_SMALL_ATOM_UTF8_EXT, 4, 'k', 'i', 'l', 'l'};
        otpc__child_t *c = by_serial(s, serial);
        if (c && c->state == OTPC__CH_TERMINATING && c->kill_gen == gen) {
            c->timer = 0;
            otpc_exit_signal(self, &c->pid, OTPC__TERM(KILL));
        }
        return OTPC_NOREPLY;
    }
    if (otpc_term_is_tagged(msg, "$otpc_sup_try_again", 2, &i) &&
        ei_decode_ulonglong(msg.data, &i, &serial) == 0) {
        otpc__child_t *c = by_serial(s, serial);
        if (c && c->state == OTPC__CH_RESTARTING)
            return restart(self, s, c, r);
    }
    return OTPC_NOREPLY;
}

/* ---- calls --------------------------------------------------------------------------- */

/* Reply x (versioned, err: it could not be built) to from. */
static otpc_action_t answer(otpc_proc_t *self, otpc_from_t *from, ei_x_buff *x, int err,
                            otpc_ret_t *r)
{
    if (err)
        otpc_from_drop(self, from);
    else
        err = otpc_reply(self, from, otpc_term_x(x));
    ei_x_free(x);
    return err ? otpc_stop_atom(r, "enomem") : OTPC_NOREPLY;
}

/* The caller is on OTP 25 or older: start_child's errors all carry the child record
 * there. Unknown releases get the newer form (do_call asks at a node's first call). */
static int old_start_errors(otpc_proc_t *self, const otpc_from_t *from)
{
    int rel = from ? otpc__caller_release(self, &from->pid) : 0;
    return rel > 0 && rel < 26;
}

/* {start_child, Spec}; i at Spec. Fills x; c is taken or freed. */
static int call_start_child(otpc_proc_t *self, sup_t *s, otpc_term_t req, int i, ei_x_buff *x,
                            const otpc_from_t *from)
{
    otpc__child_t *c = calloc(1, sizeof *c), *old;
    ei_x_buff why;
    if (!c || ei_x_new(&why)) {
        free(c);
        return -1;
    }
    int rc = otpc__child_from_spec(req, i, c, &why), err;
    if (rc == 1)
        err = ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "error") ||
              ei_x_append_buf(x, why.buff, why.index);
    else if (rc < 0)
        err = -1;
    else if ((old = by_canon(s, &c->id)) && old->state == OTPC__CH_RUNNING)
        err = ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "error") ||
              ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "already_started") ||
              otpc_x_encode_pid(self, x, &old->pid);
    else if (old)
        err = otpc__x_tag_atom(x, "error", "already_present");
    else if ((rc = otpc__child_resolve(otpc_proc_node(self), c, &why)) != 0)
        err = rc < 0 || otpc__child_start_error(x, &why, c);
    else if ((rc = start_child(self, c, &why)) < 0 && rc == OTPC_ENAMETAKEN &&
             !old_start_errors(self, from))
        /* since OTP 26 a name clash is {error, {already_started, Pid}}, no record */
        err = ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "error") ||
              ei_x_append_buf(x, why.buff, why.index);
    else if (rc < 0)
        err = rc == OTPC_ENOMEM || otpc__child_start_error(x, &why, c);
    else if (rc == OTPC_IGNORED && c->restart == OTPC_TEMPORARY)
        err = otpc__x_tag_atom(x, "ok", "undefined"); /* nothing to keep */
    else if ((err = add_child(s, c)) == 0) {
        err = rc == OTPC_IGNORED ? otpc__x_tag_atom(x, "ok", "undefined")
                                 : ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "ok") ||
                                       otpc_x_encode_pid(self, x, &c->pid);
        c = NULL; /* the supervisor's now */
    }
    ei_x_free(&why);
    if (c) {
        otpc__child_free(c);
        free(c);
    }
    return err;
}

/* {restart_child, Id} of child c: start a child that has no process. */
static int call_restart_child(otpc_proc_t *self, otpc__child_t *c, ei_x_buff *x)
{
    if (c->state == OTPC__CH_RESTARTING)
        return otpc__x_tag_atom(x, "error", "restarting");
    if (c->state != OTPC__CH_STOPPED)
        return otpc__x_tag_atom(x, "error", "running");
    ei_x_buff why;
    if (ei_x_new(&why))
        return -1;
    int rc = start_child(self, c, &why), err;
    if (rc == OTPC_IGNORED)
        err = otpc__x_tag_atom(x, "ok", "undefined");
    else if (rc == 0)
        err = ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "ok") ||
              otpc_x_encode_pid(self, x, &c->pid);
    else
        err = rc == OTPC_ENOMEM || ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "error") ||
              ei_x_append_buf(x, why.buff, why.index);
    ei_x_free(&why);
    return err;
}

/* {terminate_child, Id} of a running child: answered when it is gone. */
static otpc_action_t call_terminate_child(otpc_proc_t *self, sup_t *s, otpc__child_t *c,
                                          otpc_from_t *from, otpc_ret_t *r)
{
    size_t at = index_of(s, c);
    if (begin_op(s, OP_TERMINATE, at, at + 1)) {
        otpc_from_drop(self, from);
        return otpc_stop_atom(r, "enomem");
    }
    s->op.from = from;
    s->op.target = c->serial;
    return op_step(self, s, r);
}

/* The calls of Erlang's supervisor module (a dispatch: one arm per call). */
static otpc_action_t do_call(otpc_proc_t *self, sup_t *s, otpc_term_t req, otpc_from_t *from,
                             otpc_ret_t *r)
{
    ei_x_buff x;
    int i, err;
    otpc__child_t *c = NULL;
    if (ei_x_new_with_version(&x))
        return answer(self, from, &x, -1, r);
    /* learn the caller's release now, for the one answer whose form depends on it */
    if (from)
        (void)otpc__caller_release(self, &from->pid);
    if (otpc_term_is_atom(req, "which_children"))
        err = otpc__children_encode(self, s->children, s->n, &x);
    else if (otpc_term_is_atom(req, "count_children"))
        err = otpc__children_counts(s->children, s->n, &x);
    else if (otpc_term_is_tagged(req, "start_child", 2, &i))
        err = call_start_child(self, s, req, i, &x, from);
    else if (!(otpc_term_is_tagged(req, "terminate_child", 2, &i) ||
               otpc_term_is_tagged(req, "restart_child", 2, &i) ||
               otpc_term_is_tagged(req, "delete_child", 2, &i) ||
               otpc_term_is_tagged(req, "get_childspec", 2, &i)))
        err = otpc__x_tag_atom(&x, "error", "not_supported");
    else if (!(c = by_id(s, req, &i)))
        err = otpc__x_tag_atom(&x, "error", "not_found");
    else if (otpc_term_is_tagged(req, "get_childspec", 2, &i))
        err = ei_x_encode_tuple_header(&x, 2) || ei_x_encode_atom(&x, "ok") ||
              otpc__child_encode_spec(&x, c);
    else if (otpc_term_is_tagged(req, "restart_child", 2, &i))
        err = call_restart_child(self, c, &x);
    else if (otpc_term_is_tagged(req, "delete_child", 2, &i) && c->state == OTPC__CH_STOPPED) {
        remove_child(s, c);
        err = ei_x_encode_atom(&x, "ok");
    } else if (otpc_term_is_tagged(req, "delete_child", 2, &i))
        err = otpc__x_tag_atom(&x, "error",
                               c->state == OTPC__CH_RESTARTING ? "restarting" : "running");
    else if (c->state == OTPC__CH_RUNNING) { /* terminate_child */
        ei_x_free(&x);
        return call_terminate_child(self, s, c, from, r);
    } else {
        child_ended(s, c);
        err = ei_x_encode_atom(&x, "ok");
    }
    return answer(self, from, &x, err, r);
}

/* Handle what waited for the operation, until another one starts. */
static otpc_action_t drain(otpc_proc_t *self, sup_t *s, otpc_ret_t *r)
{
    while (s->op.kind == OP_NONE && s->deferred) {
        item_t *it = s->deferred;
        s->deferred = it->next;
        if (!s->deferred)
            s->deferred_tail = NULL;
        otpc_term_t t = {it->data, it->len};
        otpc_action_t a = it->from ? do_call(self, s, t, it->from, r) : do_info(self, s, t, r);
        free(it);
        if (a != OTPC_NOREPLY)
            return a;
    }
    return OTPC_NOREPLY;
}

/* ---- the gen_server ------------------------------------------------------------------- */

static int copy_specs(otpc_node_t *n, sup_t *s, const sup_args_t *a)
{
    for (size_t i = 0; i < a->n; i++) {
        otpc__child_t *c = calloc(1, sizeof *c);
        if (!c)
            return OTPC_ENOMEM;
        if (otpc__child_from_c(n, &a->specs[i], c) || add_child(s, c)) {
            otpc__child_free(c);
            free(c);
            return OTPC_ENOMEM;
        }
    }
    return 0;
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
    s->strategy = a->flags ? a->flags->strategy : OTPC_ONE_FOR_ONE;
    s->intensity = a->flags ? a->flags->intensity : 1;
    s->period_ms = 1000u * (a->flags && a->flags->period ? a->flags->period : 5);
    s->restarts = calloc((size_t)s->intensity + 1, sizeof *s->restarts);
    if (!s->restarts || copy_specs(otpc_proc_node(self), s, a))
        return otpc_stop_atom(r, "enomem");
    for (size_t k = 0; k < s->n; k++) {
        otpc__child_t *c = s->children[k];
        ei_x_buff why;
        int rc = ei_x_new(&why) ? OTPC_ENOMEM : start_child(self, c, &why);
        if (rc >= 0) {
            ei_x_free(&why);
            continue;
        }
        /* {shutdown, {failed_to_start_child, Id, Reason}}, as supervisor reports it */
        OTPC__LOG_ERROR("supervisor", "failed to start child %s: %s", c->label, otpc_strerror(rc));
        for (size_t j = k; j-- > 0;)
            if (s->children[j]->state == OTPC__CH_RUNNING)
                otpc_exit_signal(self, &s->children[j]->pid, OTPC__TERM(otpc__t_shutdown));
        ei_x_buff *x = otpc_ret_reason(r);
        int err = ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "shutdown") ||
                  ei_x_encode_tuple_header(x, 3) || ei_x_encode_atom(x, "failed_to_start_child") ||
                  ei_x_append_buf(x, c->id.buff, c->id.index) ||
                  (why.index ? ei_x_append_buf(x, why.buff, why.index)
                             : ei_x_encode_atom(x, otpc_strerror(rc)));
        ei_x_free(&why);
        return err ? otpc_stop_atom(r, "enomem") : OTPC_STOP;
    }
    return OTPC_OK;
}

static otpc_action_t sup_call(otpc_proc_t *self, otpc_term_t req, otpc_from_t *from, otpc_ret_t *r)
{
    sup_t *s = otpc_proc_data(self);
    otpc_action_t a;
    if (s->op.kind != OP_NONE)
        a = defer(s, req, from) ? otpc_stop_atom(r, "enomem") : OTPC_NOREPLY;
    else
        a = do_call(self, s, req, from, r);
    return a == OTPC_NOREPLY ? drain(self, s, r) : a;
}

static otpc_action_t sup_info(otpc_proc_t *self, otpc_term_t msg, otpc_ret_t *r)
{
    sup_t *s = otpc_proc_data(self);
    otpc_action_t a = do_info(self, s, msg, r);
    return a == OTPC_NOREPLY ? drain(self, s, r) : a;
}

/* Children signalled with a shutdown time: a reaper for them (if memory allows; else
 * they are on their own, as before). */
static void spawn_reaper(otpc_proc_t *self, sup_t *s)
{
    otpc__reap_t *v = calloc(s->n ? s->n : 1, sizeof *v);
    size_t n = 0;
    if (!v)
        return;
    for (size_t i = 0; i < s->n; i++) {
        otpc__child_t *c = s->children[i];
        if (c->shutdown >= 0 && (c->state == OTPC__CH_RUNNING || c->state == OTPC__CH_TERMINATING))
            v[n++] = (otpc__reap_t){c->pid, (unsigned)c->shutdown};
    }
    otpc__sup_reaper(otpc_proc_node(self), v, n);
    free(v);
}

/* Stopped from outside (gen_server:stop, the node's shutdown): a callback cannot wait,
 * so every child gets its signal now, newest first, and a reaper kills those still
 * there when their shutdown time runs out (not at the node's stop: everything ends). */
static void sup_terminate(otpc_proc_t *self, otpc_term_t reason)
{
    static const char KILL[] = {
        (char)ERL_VERSION_MAGIC, ERL_SMALL_ATOM_UTF8_EXT, 4, 'k', 'i', 'l', 'l'};
    (void)reason;
    sup_t *s = otpc_proc_data(self);
    if (!s)
        return;
    for (size_t i = s->n; i-- > 0;) {
        otpc__child_t *c = s->children[i];
        if (c->state != OTPC__CH_RUNNING && c->state != OTPC__CH_TERMINATING)
            continue;
        if (c->timer)
            otpc_cancel_timer(self, c->timer);
        otpc_exit_signal(self, &c->pid,
                         c->shutdown == OTPC__SHUT_BRUTAL ? OTPC__TERM(KILL)
                                                          : OTPC__TERM(otpc__t_shutdown));
    }
    if (!otpc_proc_node(self)->stopping)
        spawn_reaper(self, s);
    for (size_t i = 0; i < s->n; i++)
        s->children[i]->state = OTPC__CH_STOPPED;
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

static int check_specs(const otpc_sup_flags_t *flags, const otpc_child_spec_t *children, size_t n)
{
    if (flags && (unsigned)flags->strategy > OTPC_REST_FOR_ONE)
        return OTPC_EINVAL;
    for (size_t i = 0; i < n; i++) {
        const otpc_child_spec_t *c = &children[i];
        if (!c->module || !c->module->name || (c->arg.size && otpc__check_term(c->arg)) ||
            c->shutdown < OTPC_SHUTDOWN_INFINITY ||
            strlen(c->id ? c->id : c->module->name) >= MAXATOMLEN)
            return OTPC_EINVAL;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(c->id ? c->id : c->module->name,
                        children[j].id ? children[j].id : children[j].module->name))
                return OTPC_EINVAL;
    }
    return 0;
}

int otpc_supervisor_start(otpc_node_t *node, const char *name, const otpc_sup_flags_t *flags,
                          const otpc_child_spec_t *children, size_t nchildren, otpc_pid_t *out)
{
    OTPC__ENTER(node);
    int rc = check_specs(flags, children, nchildren);
    if (rc)
        return rc;
    sup_args_t a = {flags, children, nchildren};
    /* The specs reach init as their address: they live on this stack until it returns. */
    ei_x_buff arg;
    if (ei_x_new_with_version(&arg) || ei_x_encode_ulonglong(&arg, (uintptr_t)&a))
        return OTPC_ENOMEM;
    otpc_start_opts_t o = {name, NULL, NULL};
    rc = otpc__gen_server_start_sys(node, &sup_mod, otpc_term_x(&arg), &o, out);
    ei_x_free(&arg);
    return rc;
}
