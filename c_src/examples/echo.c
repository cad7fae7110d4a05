/*
 * echo: a call is answered with the request unchanged. Besides that:
 *   {'$sleep', Ms, Reply}  answers Reply after Ms ms without blocking other callers
 *                          (the caller is kept and answered from a timer message)
 *   {'$spin', Ms, Reply}   burns Ms ms of CPU inside the callback, then answers Reply
 *                          (a server that computes: it holds its scheduler meanwhile)
 *   {'$blocking', Ms, Reply}  sleeps Ms ms on the node's blocking-work pool
 *                          (otpc_async_reply), then answers Reply; the server and its
 *                          scheduler carry on meanwhile
 *   {'$stop', Reason}      answers ok, then stops with Reason
 *   '$stats'               answers #{calls => C, casts => N, infos => I}
 *   {'$push', Term, N}     behind a daemon connection: pushes Term N times, stopping
 *                          at the first refusal, and answers {pushed, K, Why}, Why
 *                          being ok, busy (the client is not reading) or noproc
 * Casts are counted; the cast {'$push', Term}, to a server behind a daemon connection,
 * also sends {push, Term} down its socket (otpc_push). Other messages are counted.
 */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "examples/examples.h"

typedef struct {
    uint64_t id;
    otpc_from_t *from;
} sleeper_t;

typedef struct {
    long calls, casts, infos;
    uint64_t next_id;
    sleeper_t *sleepers;
    size_t nsleepers, cap;
} echo_t;

static otpc_action_t echo_init(otpc_proc_t *self, otpc_term_t arg, otpc_ret_t *r)
{
    (void)arg;
    echo_t *e = calloc(1, sizeof *e);
    if (!e)
        return otpc_stop_atom(r, "enomem");
    otpc_proc_set_data(self, e);
    return OTPC_OK;
}

static otpc_action_t stats(echo_t *e, otpc_ret_t *r)
{
    return otpc_reply_format(r, "#{calls => ~l, casts => ~l, infos => ~l}", e->calls, e->casts,
                             e->infos);
}

/* Keep the caller; a timer sends us {'$wake', Id, Reply} when it is time to answer. */
static otpc_action_t sleep_then_reply(otpc_proc_t *self, echo_t *e, otpc_term_t req, int i,
                                      otpc_from_t *from, otpc_ret_t *r)
{
    unsigned long ms;
    if (ei_decode_ulong(req.data, &i, &ms))
        return otpc_reply_term(r, req);
    if (e->nsleepers == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 8;
        sleeper_t *s = realloc(e->sleepers, cap * sizeof *s);
        if (!s)
            return otpc_stop_atom(r, "enomem");
        e->sleepers = s;
        e->cap = cap;
    }
    uint64_t id = ++e->next_id;
    otpc_pid_t me = otpc_self(self);
    ei_x_buff m;
    int rc = ei_x_new_with_version(&m) || ei_x_encode_tuple_header(&m, 3) ||
             ei_x_encode_atom(&m, "$wake") || ei_x_encode_ulonglong(&m, id) ||
             otpc_x_append_subterm(&m, req, &i) ||
             otpc_send_after(self, (unsigned)ms, &me, otpc_term_x(&m), NULL);
    ei_x_free(&m);
    if (rc)
        return otpc_stop_atom(r, "enomem");
    e->sleepers[e->nsleepers++] = (sleeper_t){id, from};
    return OTPC_NOREPLY;
}

static uint64_t cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* CPU time, not wall time: on a busy machine the callback still does Ms of work. */
static otpc_action_t spin(otpc_term_t req, int i, otpc_ret_t *r)
{
    unsigned long ms;
    if (ei_decode_ulong(req.data, &i, &ms) || ms > 600000)
        return otpc_reply_term(r, req);
    uint64_t until = cpu_ns() + (uint64_t)ms * 1000000u;
    volatile uint64_t sink = 0;
    while (cpu_ns() < until)
        for (int k = 0; k < 1000; k++)
            sink += (uint64_t)k;
    (void)sink;
    if (otpc_x_append_subterm(otpc_ret_reply(r), req, &i))
        return otpc_stop_atom(r, "enomem");
    return OTPC_REPLY;
}

typedef struct {
    unsigned long ms;
    ei_x_buff reply; /* versioned */
} blocking_t;

/* On a pool thread: the work a blocking library call would do. */
static int blocking_work(void *arg, ei_x_buff *out)
{
    blocking_t *b = arg;
    usleep((useconds_t)(b->ms * 1000u));
    int rc = ei_x_append_buf(out, b->reply.buff + 1, b->reply.index - 1) ? OTPC_ENOMEM : 0;
    ei_x_free(&b->reply);
    free(b);
    return rc;
}

static otpc_action_t blocking(otpc_proc_t *self, otpc_term_t req, int i, otpc_from_t *from,
                              otpc_ret_t *r)
{
    blocking_t *b = calloc(1, sizeof *b);
    if (!b)
        return otpc_stop_atom(r, "enomem");
    if (ei_decode_ulong(req.data, &i, &b->ms) || b->ms > 600000 ||
        ei_x_new_with_version(&b->reply) || otpc_x_append_subterm(&b->reply, req, &i)) {
        ei_x_free(&b->reply);
        free(b);
        return otpc_reply_term(r, req);
    }
    int rc = otpc_async_reply(self, from, blocking_work, b);
    if (rc == 0)
        return OTPC_NOREPLY;
    ei_x_free(&b->reply);
    free(b);
    return otpc_stop_atom(r, "enomem");
}

static otpc_action_t push_many(otpc_proc_t *self, otpc_term_t req, int i, otpc_ret_t *r)
{
    ei_x_buff t;
    unsigned long n, k = 0;
    int rc = 0;
    if (ei_x_new_with_version(&t) || otpc_x_append_subterm(&t, req, &i) ||
        ei_decode_ulong(req.data, &i, &n)) {
        ei_x_free(&t);
        return otpc_reply_term(r, req);
    }
    while (k < n && (rc = otpc_push(self, otpc_term_x(&t))) == 0)
        k++;
    ei_x_free(&t);
    const char *why = rc == 0 ? "ok" : rc == OTPC_EBUSY ? "busy" : "noproc";
    return otpc_reply_format(r, "{pushed, ~u, ~a}", k, why);
}

static otpc_action_t echo_call(otpc_proc_t *self, otpc_term_t req, otpc_from_t *from, otpc_ret_t *r)
{
    echo_t *e = otpc_proc_data(self);
    int i;
    e->calls++;
    if (otpc_term_is_atom(req, "$stats"))
        return stats(e, r);
    if (otpc_term_is_tagged(req, "$sleep", 3, &i))
        return sleep_then_reply(self, e, req, i, from, r);
    if (otpc_term_is_tagged(req, "$push", 3, &i))
        return push_many(self, req, i, r);
    if (otpc_term_is_tagged(req, "$spin", 3, &i))
        return spin(req, i, r);
    if (otpc_term_is_tagged(req, "$blocking", 3, &i))
        return blocking(self, req, i, from, r);
    if (otpc_term_is_tagged(req, "$stop", 2, &i)) {
        if (otpc_x_append_subterm(otpc_ret_reason(r), req, &i))
            return otpc_stop_atom(r, "enomem");
        otpc_reply_atom(r, "ok"); /* a shortcut needs no check: see otpc.h */
        return OTPC_STOP_REPLY;
    }
    return otpc_reply_term(r, req);
}

static otpc_action_t echo_cast(otpc_proc_t *self, otpc_term_t req, otpc_ret_t *r)
{
    (void)r;
    echo_t *e = otpc_proc_data(self);
    int i;
    e->casts++;
    if (otpc_term_is_tagged(req, "$push", 2, &i)) {
        ei_x_buff t;
        if (ei_x_new_with_version(&t) == 0 && otpc_x_append_subterm(&t, req, &i) == 0)
            otpc_push(self, otpc_term_x(&t));
        ei_x_free(&t);
    }
    return OTPC_NOREPLY;
}

/* Answer the sleeper {'$wake', Id, Reply} is for: 0, or -1 if the reply could not be
 * built. */
static int wake(otpc_proc_t *self, echo_t *e, otpc_term_t msg, int i)
{
    unsigned long long id;
    if (ei_decode_ulonglong(msg.data, &i, &id))
        return 0;
    for (size_t k = 0; k < e->nsleepers; k++) {
        if (e->sleepers[k].id != id)
            continue;
        ei_x_buff reply;
        int rc = ei_x_new_with_version(&reply) || otpc_x_append_subterm(&reply, msg, &i);
        if (rc == 0)
            otpc_reply(self, e->sleepers[k].from, otpc_term_x(&reply));
        ei_x_free(&reply);
        e->sleepers[k] = e->sleepers[--e->nsleepers];
        return rc ? -1 : 0;
    }
    return 0;
}

static otpc_action_t echo_info(otpc_proc_t *self, otpc_term_t msg, otpc_ret_t *r)
{
    echo_t *e = otpc_proc_data(self);
    int i;
    if (!otpc_term_is_tagged(msg, "$wake", 3, &i))
        e->infos++;
    else if (wake(self, e, msg, i))
        return otpc_stop_atom(r, "enomem"); /* the sleeper sees the server exit */
    return OTPC_NOREPLY;
}

static int echo_format_status(otpc_proc_t *self, ei_x_buff *x)
{
    echo_t *e = otpc_proc_data(self);
    return ei_x_encode_tuple_header(x, 4) || ei_x_encode_atom(x, "echo") ||
           ei_x_encode_long(x, e->calls) || ei_x_encode_long(x, e->casts) ||
           ei_x_encode_long(x, e->infos);
}

static void echo_release(otpc_proc_t *self)
{
    echo_t *e = otpc_proc_data(self);
    if (e)
        free(e->sleepers);
    free(e);
}

const otpc_gen_server_t otpc_example_echo = {
    .name = "echo",
    .init = echo_init,
    .handle_call = echo_call,
    .handle_cast = echo_cast,
    .handle_info = echo_info,
    .format_status = echo_format_status,
    .release = echo_release,
};
