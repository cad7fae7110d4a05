/*
 * One daemon connection: a process that owns an accepted socket and is the parent (and
 * link) of the gen_server serving it.
 *
 * The socket is a transport endpoint (transport/endpoint.h: polled on the scheduler's
 * own loop, TCP or TLS, {packet, 4} frames). A {call, Tag, Req} frame becomes
 * {'$gen_call', {Conn, Tag}, Req} in the server's mailbox; the server's reply to Conn
 * never enters a mailbox: the process layer hands it to this module's wire hook, which
 * appends {reply, Tag, Reply} to the endpoint's output. Output is written once per
 * scheduler turn (the transport's turn hook), so a burst of replies costs one send(),
 * and a socket that stops taking bytes is watched for writability instead of being
 * retried. Input is throttled the same way: while the server has MAILBOX_HIGH messages,
 * or the busy limit's worth of bytes, waiting (or that much output waits for the
 * client: the endpoint's busy limit), the socket is not read, so a client that sends
 * faster than its server works, or stops reading its replies, is held back by TCP
 * instead of growing the node's memory. Pushes past the limit are refused
 * (OTPC_EBUSY). Partial frames count against the daemon's input budget (max_input):
 * the connection whose frame would take it over ends with {shutdown, input_budget}.
 *
 * Lifecycle, one way only: HANDSHAKE (TLS; TCP leaves it at once) -> OPEN -> ENDING ->
 * CLOSING -> gone. ENDING: this side decided the server must go (peer closed, bad
 * frame, timeout, daemon shutdown) and sent it an exit signal; reading has stopped.
 * CLOSING: the server's EXIT arrived; {exit, Reason} is queued if the socket can still
 * carry it, and the process exits (normal) once the output is written or after
 * LINGER_MS. Invariants: the process and the socket go together (terminate closes the
 * socket, so whatever kills the process frees the connection); the session struct
 * itself is freed with its endpoint (ops->freed), never earlier.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/daemon_int.h"
#include "daemon/frame.h"
#include "proto/term.h"
#include "otp/gen_server_int.h"
#include "util/log.h"

#define HDR 4
#define MAILBOX_HIGH \
    128                           /* stop reading while the server has this many messages
                               * waiting (or their bytes, or the output waiting for the
                               * client, reach the node's busy limit) */
#define BUF_KEEP (64u * 1024)     /* larger idle buffers are given back */
#define READ_BUDGET (256u * 1024) /* per readiness event, then others get a turn */
#define LINGER_MS 5000

typedef enum { S_HANDSHAKE, S_OPEN, S_ENDING, S_CLOSING } state_t;

typedef struct otpc__session {
    otpc_node_t *n;
    otpc_proc_t *proc; /* NULL once the process has exited */
    otpc__ep_t *ep;    /* the socket: frames in and out */
    int closed;        /* the endpoint is being freed: no socket any more */
    int started;       /* the server exists: frames may go to it */
    state_t state;
    int reading;   /* 0 once ENDING: frames after the decision are ignored */
    int throttled; /* not reading until the server's backlog shrinks */
    int peer_gone; /* EOF or a socket error: nothing more can be written */
    otpc_pid_t server, daemon;
    /* What an event (which holds only its scheduler's lock) left for a thread holding
     * all: the server's exit signal, the process's own exit. */
    otpc__defer_t later;
    otpc__buf_t end_reason; /* versioned */
    int want_end, want_finish;
    int ep_freed;            /* the endpoint is gone (on_freed); s goes when the process goes too */
    otpc__dbudget_t *budget; /* the daemon's input budget, shared */
    size_t held;             /* what the framer holds, as counted in budget->held */
    unsigned idle_ms;
} sess_t;

/* Atoms as versioned terms: exit reasons, and the timer messages a session sends
 * itself. */
static const char T_IDLE[] = OTPC__VATOM(10, '$', 'o', 't', 'p', 'c', '_', 'i', 'd', 'l', 'e');
static const char T_HS[] = OTPC__VATOM(8, '$', 'o', 't', 'p', 'c', '_', 'h', 's');
static const char T_LINGER[] =
    OTPC__VATOM(12, '$', 'o', 't', 'p', 'c', '_', 'l', 'i', 'n', 'g', 'e', 'r');
/* {shutdown, enomem}: the reason the server ends with when the real one cannot be built */
/* clang-format off */
static const char T_SHUTDOWN_NOMEM[] = {
    (char)ERL_VERSION_MAGIC, ERL_SMALL_TUPLE_EXT, 2,
    ERL_SMALL_ATOM_UTF8_EXT, 8, 's', 'h', 'u', 't', 'd', 'o', 'w', 'n',
    ERL_SMALL_ATOM_UTF8_EXT, 6, 'e', 'n', 'o', 'm', 'e', 'm'};
/* clang-format on */
#define T_NORMAL otpc__t_normal
#define T_SHUTDOWN otpc__t_shutdown
#define TERM OTPC__TERM

static void drop_input(sess_t *s);

/* ---- output ------------------------------------------------------------------------ */

/* One frame: the length, the version byte, then the pieces (each one term's bytes or
 * a term's head). Nothing is written when the socket cannot take it any more. */
static int put_frame(sess_t *s, const char *head, size_t hlen, const char *a, size_t alen,
                     const char *b, size_t blen)
{
    if (s->closed || s->peer_gone)
        return 0;
    size_t body = 1 + hlen + alen + blen;
    if (body > UINT32_MAX)
        return OTPC_ETOOBIG;
    otpc__buf_t *o = otpc__ep_out(s->ep);
    if (otpc__buf_reserve(o, HDR + body))
        return OTPC_ENOMEM;
    char hdr[HDR + 1];
    otpc__put_u32(hdr, (uint32_t)body);
    hdr[HDR] = (char)ERL_VERSION_MAGIC;
    otpc__buf_append(o, hdr, sizeof hdr);
    otpc__buf_append(o, head, hlen);
    otpc__buf_append(o, a, alen);
    otpc__buf_append(o, b, blen);
    otpc__ep_dirty(s->ep);
    return 0;
}

/* Frames can go out: TCP, or TLS once the handshake completed. */
static int can_talk(const sess_t *s)
{
    return !s->closed && otpc__ep_established(s->ep);
}

/* The wire hook: a gen reply to this connection ({reply, Tag, Reply}) or a push. */
static int wire(otpc_proc_t *conn, const otpc__span_t *tag, const char *body, size_t len)
{
    sess_t *s = otpc_proc_data(conn);
    if (!can_talk(s) || s->state == S_CLOSING)
        return 0; /* as a reply to a caller that is gone: dropped */
    static const char reply[] = {
        ERL_SMALL_TUPLE_EXT, 3, ERL_SMALL_ATOM_UTF8_EXT, 5, 'r', 'e', 'p', 'l', 'y'};
    static const char push[] = {
        ERL_SMALL_TUPLE_EXT, 2, ERL_SMALL_ATOM_UTF8_EXT, 4, 'p', 'u', 's', 'h'};
    if (tag)
        return put_frame(s, reply, sizeof reply, tag->data, tag->size, body, len);
    return put_frame(s, push, sizeof push, NULL, 0, body, len);
}

static int put_exit(sess_t *s, const char *reason, size_t len)
{
    static const char ex[] = {
        ERL_SMALL_TUPLE_EXT, 2, ERL_SMALL_ATOM_UTF8_EXT, 4, 'e', 'x', 'i', 't'};
    return put_frame(s, ex, sizeof ex, reason, len, NULL, 0);
}

static int put_hello(sess_t *s)
{
    ei_x_buff *x = otpc__scratch(s->n);
    x->index = 0;
    if (ei_x_encode_tuple_header(x, 3) || ei_x_encode_atom(x, "otpc_hello") ||
        ei_x_encode_long(x, 1) || otpc__x_pid(s->n, x, &s->server))
        return OTPC_ENOMEM;
    return put_frame(s, x->buff, (size_t)x->index, NULL, 0, NULL, 0);
}

/* The socket is read while the session wants input and its server keeps up. */
static void update_reading(sess_t *s)
{
    if (!s->closed)
        otpc__ep_set_reading(s->ep, s->reading && !s->throttled);
}

/* ---- ending ------------------------------------------------------------------------- */

static void free_sess(sess_t *s)
{
    otpc__buf_free(&s->end_reason);
    free(s);
}

/* The endpoint's memory is gone: so goes the session's, once the process is gone too
 * (a process whose exit another scheduler has begun may still run its terminate). */
static void on_freed(void *ctx)
{
    sess_t *s = ctx;
    otpc__defer_cancel(s->n, &s->later);
    if (s->budget) {
        atomic_fetch_sub(&s->budget->held, s->held);
        otpc__dbudget_release(s->budget);
        s->budget = NULL;
    }
    s->ep_freed = 1;
    if (!s->proc) /* else its terminate frees it */
        free_sess(s);
}

/* Close the socket (the endpoint drains unread input first, and the struct goes with
 * it, once its handle is closed). */
static void release(sess_t *s)
{
    if (s->closed)
        return;
    s->closed = 1;
    otpc__ep_free(s->ep);
}

/* Exits and exit signals reach links and monitors anywhere: they take every lock. A
 * callback of a process may take them where it stands; an event of the socket holds
 * its scheduler's lock inside the loop, and leaves them for later (otpc__defer). */
static int may_take_all(const sess_t *s)
{
    return otpc__all_held(s->n) || otpc__current(s->n);
}

static void exit_process(sess_t *s)
{
    otpc_proc_t *p = s->proc;
    if (!p)
        return;
    if (p->running)
        otpc_exit(p, TERM(T_NORMAL));
    else
        otpc__proc_exit_now(p, T_NORMAL + 1, sizeof T_NORMAL - 1);
}

static void on_later(otpc__defer_t *d)
{
    sess_t *s = (sess_t *)((char *)d - offsetof(sess_t, later));
    if (s->want_end) {
        s->want_end = 0;
        if (s->proc && s->started)
            otpc_exit_signal(s->proc, &s->server,
                             (otpc_term_t){s->end_reason.data, s->end_reason.len});
    }
    if (s->want_finish) {
        s->want_finish = 0;
        release(s);
        exit_process(s);
    }
}

/* The socket closes and the process exits (normal) now or, inside its own callback,
 * right after it. From an event, both wait for every lock: the session's memory goes
 * with the endpoint, and the process must not outlive it. */
static void finish(sess_t *s)
{
    if (may_take_all(s)) {
        release(s);
        exit_process(s);
        return;
    }
    s->want_finish = 1;
    otpc__defer(s->n, &s->later);
}

/* This side wants the server gone, with reason (versioned). */
static void end(sess_t *s, otpc_term_t reason)
{
    if (s->state >= S_ENDING)
        return;
    s->state = S_ENDING;
    s->reading = 0;
    update_reading(s);
    if (!s->proc || !s->started)
        return;
    if (may_take_all(s)) {
        otpc_exit_signal(s->proc, &s->server, reason);
        return;
    }
    otpc__buf_reset(&s->end_reason);
    if (otpc__buf_append(&s->end_reason, reason.data, reason.size))
        otpc__buf_append(&s->end_reason, T_SHUTDOWN_NOMEM, sizeof T_SHUTDOWN_NOMEM);
    s->want_end = 1;
    otpc__defer(s->n, &s->later);
}

/* {shutdown, Detail} begun in the scratch buffer: with a tag, Detail is {Tag, _} and the caller
 * encodes its second element; without, the caller encodes Detail. 0 or OTPC_ENOMEM. */
static int shutdown_reason(sess_t *s, const char *tag)
{
    ei_x_buff *x = otpc__scratch(s->n);
    x->index = 0;
    if (ei_x_encode_version(x) || ei_x_encode_tuple_header(x, 2) ||
        ei_x_encode_atom(x, "shutdown") ||
        (tag && (ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, tag))))
        return OTPC_ENOMEM;
    return 0;
}

/* end() with the reason built in the scratch buffer, or {shutdown, enomem} if building it
 * failed (err): the server goes either way. */
static void end_built(sess_t *s, int err)
{
    end(s, err ? TERM(T_SHUTDOWN_NOMEM) : otpc_term_x(otpc__scratch(s->n)));
}

/* end() with {shutdown, Atom}, {shutdown, {Tag, Atom}} or {shutdown, {Tag, Num}}. */
static void end_with(sess_t *s, const char *tag, const char *atom, uint64_t num)
{
    ei_x_buff *x = otpc__scratch(s->n);
    end_built(s, shutdown_reason(s, tag) ||
                     (atom ? ei_x_encode_atom(x, atom) : ei_x_encode_ulonglong(x, num)));
}

/* The peer closed or broke the connection. After a mere EOF it may still read (a
 * half-close, as `printf ... | nc` does): what is queued, and the replies to calls it
 * sent before, are still written; a failed write ends that. */
static void peer_closed(sess_t *s, int broken)
{
    if (broken) {
        s->peer_gone = 1;
        otpc__ep_drop_output(s->ep);
    }
    s->reading = 0;
    end_with(s, NULL, "closed", 0);
    update_reading(s);
}

/* The server's EXIT: tell the peer why, then go once that is written. */
static void server_ended(sess_t *s, const char *reason, size_t len)
{
    if (s->state == S_CLOSING)
        return;
    s->state = S_CLOSING;
    s->reading = 0;
    drop_input(s);
    if (can_talk(s))
        put_exit(s, reason, len);
    if (!s->closed)
        otpc__ep_flush(s->ep);
    if (s->closed || !otpc__ep_backlog(s->ep)) {
        finish(s);
        return;
    }
    otpc_pid_t self = s->proc->pid;
    otpc_send_after(s->proc, LINGER_MS, &self, TERM(T_LINGER), NULL);
}

/* ---- writing ------------------------------------------------------------------------- */

/* Messages the server has not handled yet: its mailbox, and what it holds back while
 * suspended (sys:suspend), counted up to limit; their bytes count too, one message
 * per busy_limit's worth, so a few huge frames hold reading back as many small ones
 * do. */
static unsigned backlog(const sess_t *s, unsigned limit)
{
    const otpc_proc_t *p = otpc__proc_lookup(s->n, &s->server);
    unsigned k = 0;
    size_t bytes = 0, unit = s->n->opts.busy_limit / limit;
    if (!p)
        return 0;
    const otpc__msg_t *lists[2] = {p->mhead, otpc__gs(p) ? otpc__gs(p)->saved : NULL};
    for (int l = 0; l < 2; l++)
        for (const otpc__msg_t *m = lists[l]; m && k < limit; m = m->next) {
            k++;
            bytes += m->len;
            if (unit && bytes / unit > k)
                k = bytes / unit < limit ? (unsigned)(bytes / unit) : limit;
        }
    return k;
}

/* After output went out: a closing session whose last frame is written goes; a
 * throttled one reads again once its server has caught up (else it is looked at again
 * after the next turn). */
static int on_flushed(void *ctx)
{
    sess_t *s = ctx;
    if (s->state == S_CLOSING && !s->closed && !otpc__ep_backlog(s->ep)) {
        finish(s);
        return 0;
    }
    if (!s->throttled || s->closed)
        return 0;
    s->throttled = backlog(s, MAILBOX_HIGH / 2) >= MAILBOX_HIGH / 2;
    update_reading(s);
    return s->throttled;
}

/* ---- reading ------------------------------------------------------------------------- */

static int bad_frame(sess_t *s, const char *detail)
{
    end_with(s, "bad_frame", detail, 0);
    return 1;
}

/* {call, Tag, Req} -> {'$gen_call', {Conn, Tag}, Req}; {cast, Req} -> {'$gen_cast', Req} */
static int on_frame(void *ctx, const char *data, size_t len)
{
    sess_t *s = ctx;
    if (s->state != S_OPEN || !s->reading)
        return 1;
    otpc__dframe_t f;
    otpc__dframe_kind_t kind = otpc__daemon_classify(data, len, &f);
    if (kind == OTPC__DFRAME_KEEPALIVE)
        return 0;
    if (kind == OTPC__DFRAME_BAD)
        return bad_frame(s, f.why);
    ei_x_buff *x = otpc__scratch(s->n);
    x->index = 0;
    int err = ei_x_encode_version(x);
    if (kind == OTPC__DFRAME_CALL)
        err = err || ei_x_encode_tuple_header(x, 3) || ei_x_encode_atom(x, "$gen_call") ||
              ei_x_encode_tuple_header(x, 2) || otpc__x_pid(s->n, x, &s->proc->pid) ||
              otpc__x_raw(x, data + f.tag_off, f.tag_len);
    else
        err = err || ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "$gen_cast");
    if (err || otpc__x_raw(x, data + f.req_off, len - f.req_off))
        return bad_frame(s, "enomem");
    otpc__send_local(s->n, &s->proc->pid, &s->server, x->buff, (size_t)x->index);
    return 0;
}

/* Reading stopped for good: a partial frame will never complete, so its bytes leave the
 * daemon's budget now, not when the socket closes (the other connections may need
 * them). Never from inside a feed: the framer may be handing out from its buffer. */
static void drop_input(sess_t *s)
{
    if (!s->budget)
        return; /* the endpoint is gone, and its share with it */
    atomic_fetch_sub(&s->budget->held, s->held);
    s->held = 0;
    if (!s->closed)
        otpc__ep_drop_input(s->ep);
}

/* What the framer holds now, in the daemon's budget; past it, this connection ends. */
static void account(sess_t *s)
{
    size_t now = s->closed ? 0 : otpc__ep_pending_input(s->ep);
    otpc__dbudget_t *b = s->budget;
    if (!b)
        return;
    size_t total = now >= s->held ? atomic_fetch_add(&b->held, now - s->held) + (now - s->held)
                                  : atomic_fetch_sub(&b->held, s->held - now) - (s->held - now);
    int grew = now > s->held;
    s->held = now;
    if (grew && total > b->limit) {
        OTPC__LOG_WARN("daemon",
                       "input budget (%zu bytes of partial frames) exceeded: "
                       "closing a connection holding %zu",
                       b->limit, now);
        end_with(s, NULL, "input_budget", 0);
    }
}

static void tls_failed(sess_t *s, const char *why)
{
    OTPC__LOG_INFO("daemon", "TLS connection failed: %s", why);
    s->reading = 0; /* the alert (if any) still goes out */
    end_built(s, shutdown_reason(s, "tls_error") ||
                     ei_x_encode_binary(otpc__scratch(s->n), why, (long)strlen(why)));
}

/* Reading ended by itself. */
static void on_ended(void *ctx, otpc__ep_end_t kind, const char *why, uint64_t size)
{
    sess_t *s = ctx;
    switch (kind) {
    case OTPC__EP_EOF:
        peer_closed(s, 0);
        break;
    case OTPC__EP_BROKEN:
        peer_closed(s, 1);
        break;
    case OTPC__EP_PROTO:
        tls_failed(s, why);
        break;
    case OTPC__EP_TOOBIG:
        end_with(s, "frame_too_large", NULL, size);
        break;
    case OTPC__EP_NOMEM:
        end_with(s, NULL, "enomem", 0);
        break;
    }
}

/* TLS is up (TCP: at once): the client gets its hello once the server exists. */
static void on_established(void *ctx)
{
    sess_t *s = ctx;
    if (s->state != S_HANDSHAKE)
        return;
    s->state = S_OPEN;
    if (s->started && put_hello(s))     /* refused: no hello, its exit says why */
        end_with(s, NULL, "enomem", 0); /* a client without its hello cannot go on */
}

/* Before each read: not while the server has MAILBOX_HIGH messages waiting (the turn's
 * flush looks again). */
static int may_read(void *ctx)
{
    sess_t *s = ctx;
    if (backlog(s, MAILBOX_HIGH) < MAILBOX_HIGH)
        return 1;
    s->throttled = 1;
    update_reading(s);
    otpc__ep_dirty(s->ep);
    return 0;
}

/* After the socket was served: the input budget, then the turn. */
static void after_io(void *ctx)
{
    sess_t *s = ctx;
    otpc_node_t *n = s->n;
    if (!s->closed) {
        account(s);
        if (!s->reading)
            drop_input(s);
    }
    otpc__turn(n);
}

static const otpc__ep_ops_t sess_ops = {
    .frame = on_frame,
    .ended = on_ended,
    .established = on_established,
    .may_read = may_read,
    .after_io = after_io,
    .flushed = on_flushed,
    .freed = on_freed,
};

/* ---- the process ---------------------------------------------------------------------- */

static void on_tick(sess_t *s, const char *which)
{
    otpc_pid_t self = s->proc->pid;
    if (which == T_LINGER) {
        finish(s);
    } else if (which == T_HS) {
        if (s->state == S_HANDSHAKE)
            end_with(s, NULL, "timeout", 0);
    } else if (s->state <= S_OPEN && !s->closed) { /* idle: re-armed for what is left */
        uint64_t now = otpc__ep_now(s->ep), due = otpc__ep_last_rx(s->ep) + s->idle_ms;
        if (now >= due)
            end_with(s, NULL, "timeout", 0);
        else
            otpc_send_after(s->proc, (unsigned)(due - now), &self, TERM(T_IDLE), NULL);
    }
}

static void conn_handle(otpc_proc_t *self, otpc_term_t msg)
{
    sess_t *s = otpc_proc_data(self);
    int i, arity;
    otpc_pid_t from;
    if (otpc_term_is_tagged(msg, "EXIT", 3, &i)) {
        if (otpc_decode_pid(self, msg.data, &i, &from))
            return;
        if (otpc_pid_eq(&from, &s->server))
            server_ended(s, msg.data + i, msg.size - (size_t)i);
        else if (otpc_pid_eq(&from, &s->daemon))
            end(s, TERM(T_SHUTDOWN));
        return;
    }
    if (OTPC__MSG_IS(msg, T_IDLE))
        return on_tick(s, T_IDLE);
    if (OTPC__MSG_IS(msg, T_HS))
        return on_tick(s, T_HS);
    if (OTPC__MSG_IS(msg, T_LINGER))
        return on_tick(s, T_LINGER);
    /* {Tag, Reply}: gen_server:reply/2 to a socket caller from elsewhere (a remote
     * process the server handed the caller to). */
    i = 1;
    if (ei_decode_tuple_header(msg.data, &i, &arity) == 0 && arity == 2) {
        int tag_at = i;
        if (otpc_skip_term(msg, &i) == 0) {
            otpc__span_t tag = {msg.data + tag_at, (size_t)(i - tag_at)};
            wire(self, &tag, msg.data + i, msg.size - (size_t)i);
        }
    }
}

/* Replies to this process, and its server's pushes, go to the socket (the wire hook). */
static const otpc__beh_t conn_beh = {.wire = wire};

static int conn_init(otpc_proc_t *self, void *arg)
{
    const otpc__sess_conf_t *c = arg;
    int rc = otpc_link(self, &c->daemon);
    if (rc)
        return rc;
    sess_t *s = calloc(1, sizeof *s);
    if (!s)
        return OTPC_ENOMEM;
    s->n = otpc_proc_node(self);
    s->later.fn = on_later;
    otpc__ep_conf_t conf = {
        .max_frame = c->max_frame,
        .read_budget = READ_BUDGET,
        .busy_limit = s->n->opts.busy_limit,
        .out_keep = BUF_KEEP,
    };
    if (!(s->ep = otpc__ep_new(otpc__eps_at(s->n, self->home), &sess_ops, s, &conf))) {
        free(s);
        return OTPC_ENOMEM;
    }
    s->proc = self;
    s->daemon = c->daemon;
    s->idle_ms = c->idle_timeout;
    s->state = S_HANDSHAKE;
    s->budget = c->budget;
    atomic_fetch_add(&s->budget->refs, 1);
    otpc_proc_set_data(self, s);
    otpc_trap_exit(self, 1);
    self->beh = &conn_beh;
    return 0;
}

static void conn_terminate(otpc_proc_t *self, otpc_term_t reason)
{
    (void)reason;
    sess_t *s = otpc_proc_data(self);
    if (!s)
        return;
    s->proc = NULL;
    if (s->ep_freed)
        free_sess(s);
    else
        release(s); /* its on_freed frees s, now or once the handle is closed */
}

static const otpc_proc_ops_t conn_ops = {
    .name = "otpc_daemon_conn",
    .init = conn_init,
    .handle = conn_handle,
    .terminate = conn_terminate,
};

/* A server that would not start: tell the peer why (TCP only: there is no TLS session
 * yet to say it through), then close. */
static void refuse(sess_t *s, int rc, const ei_x_buff *reason)
{
    static const char ignore[] = {ERL_SMALL_ATOM_UTF8_EXT, 6, 'i', 'g', 'n', 'o', 'r', 'e'};
    if (can_talk(s) && rc == OTPC_ESTOPPED && reason->index > 1)
        put_exit(s, reason->buff + 1, (size_t)reason->index - 1);
    else if (can_talk(s) && rc == OTPC_IGNORED)
        put_exit(s, ignore, sizeof ignore);
    if (!s->closed)
        otpc__ep_flush(s->ep);
    finish(s);
}

int otpc__session_start(otpc_node_t *n, const otpc__sess_conf_t *c, otpc_pid_t *conn,
                        otpc_pid_t *server)
{
    /* the session, its socket and its server share a scheduler: what comes and goes
     * on the socket takes that scheduler's lock only */
    n->spawn_home = otpc__sched_pick(n)->id + 1;
    int rc = otpc__spawn_sys_homed(n, &conn_ops, (void *)c, conn);
    if (rc) {
        n->spawn_home = 0;
        close(c->fd);
        return rc;
    }
    otpc_proc_t *p = otpc__proc_lookup(n, conn);
    sess_t *s = otpc_proc_data(p);
    ei_x_buff reason;
    if (ei_x_new(&reason)) {
        n->spawn_home = 0;
        close(c->fd);
        finish(s);
        return OTPC_ENOMEM;
    }
    otpc_start_opts_t o = {NULL, conn, &reason};
    rc = otpc_gen_server_start(n, c->mod, c->arg, &o, &s->server);
    n->spawn_home = 0;
    s->started = s->reading = rc == 0;
    /* The socket only now, so that what arrives has a server to go to, and a handshake
     * that fails at once a server to stop. From here the endpoint owns the fd. */
    otpc__xport_t *x = c->tls ? otpc__xport_tls(c->fd, c->tls) : otpc__xport_tcp(c->fd);
    if (otpc__ep_attach(s->ep, x, 1)) {
        close(c->fd);
        if (s->started)
            otpc_exit_signal(p, &s->server, TERM(T_SHUTDOWN));
        ei_x_free(&reason);
        finish(s);
        return rc ? rc : OTPC_ENOMEM;
    }
    if (rc) {
        refuse(s, rc, &reason);
        ei_x_free(&reason);
        return rc;
    }
    ei_x_free(&reason);
    *server = s->server;
    otpc_pid_t self = p->pid;
    if (c->tls)
        otpc_send_after(p, c->handshake_timeout, &self, TERM(T_HS), NULL);
    if (s->idle_ms)
        otpc_send_after(p, s->idle_ms, &self, TERM(T_IDLE), NULL);
    update_reading(s);
    return 0;
}

int otpc_push(otpc_proc_t *self, otpc_term_t term)
{
    OTPC__ENTER(self->node);
    if (!otpc__gs(self))
        return OTPC_ENOPROC;
    otpc_proc_t *conn = otpc__proc_lookup(self->node, &otpc__gs(self)->parent);
    if (!conn || !conn->beh || !conn->beh->wire)
        return OTPC_ENOPROC;
    int rc = otpc__check_term(term);
    if (rc)
        return rc;
    sess_t *s = otpc_proc_data(conn);
    if (s->closed || s->peer_gone || s->state == S_CLOSING)
        return OTPC_ENOPROC;
    if (otpc__ep_backlog(s->ep) >= s->n->opts.busy_limit)
        return OTPC_EBUSY;
    return wire(conn, NULL, term.data + 1, term.size - 1);
}
