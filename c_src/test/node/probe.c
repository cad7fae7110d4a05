/*
 * probe: a diagnostic process for exercising the node from Erlang (started with -probe,
 * registered as otpc_probe). It does on command what a test needs a process to do --
 * link, monitor, trap exits, exit with a given reason, send -- and reports everything
 * else it receives to its owner as {probe_got, Self, Msg}. The protocol is listed in
 * test/otpc_dist_SUITE.erl and in docs/ARCHITECTURE.md.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "distribution/dstats.h"
#include "test/node/probe.h"

typedef struct {
    int has_owner;
    otpc_pid_t owner;
} probe_t;

static int probe_init(otpc_proc_t *self, void *arg)
{
    probe_t *p = calloc(1, sizeof *p);
    if (!p)
        return OTPC_ENOMEM;
    if (arg) {
        p->has_owner = 1;
        p->owner = *(const otpc_pid_t *)arg;
    }
    otpc_proc_set_data(self, p);
    return 0;
}

static void probe_terminate(otpc_proc_t *self, otpc_term_t reason)
{
    (void)reason;
    free(otpc_proc_data(self));
}

/* Send {Tag, Self, <raw term>} (raw may be NULL: {Tag, Self}) to `to`. */
static void tell(otpc_proc_t *self, const otpc_pid_t *to, const char *tag, const char *raw,
                 size_t rawlen)
{
    ei_x_buff x;
    otpc_pid_t me = otpc_self(self);
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, raw ? 3 : 2);
    ei_x_encode_atom(&x, tag);
    otpc_x_encode_pid(self, &x, &me);
    if (raw)
        ei_x_append_buf(&x, raw, (int)rawlen);
    otpc_send(self, to, otpc_term_x(&x));
    ei_x_free(&x);
}

static void tell_owner(otpc_proc_t *self, const char *tag, const char *raw, size_t rawlen)
{
    probe_t *p = otpc_proc_data(self);
    if (p->has_owner)
        tell(self, &p->owner, tag, raw, rawlen);
}

static void done(otpc_proc_t *self, const char *what)
{
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_atom(&x, what);
    tell_owner(self, "done", x.buff, (size_t)x.index);
    ei_x_free(&x);
}

/* The message being handled: skips are bounded by it (a peer may nest deeply). One
 * per thread: probes' callbacks run at once on several schedulers. */
static _Thread_local otpc_term_t current;

/* The term at *i as a versioned otpc_term_t, copied into x. */
static otpc_term_t term_at(const char *b, int *i, ei_x_buff *x)
{
    int start = *i;
    otpc_skip_term(current, i);
    ei_x_new_with_version(x);
    ei_x_append_buf(x, b + start, *i - start);
    return otpc_term_x(x);
}

static void cmd_spawn(otpc_proc_t *self, const char *b, int *i)
{
    otpc_pid_t owner, child;
    if (otpc_decode_pid(self, b, i, &owner))
        return;
    if (otpc_spawn(otpc_proc_node(self), &otpc_probe_ops, &owner, &child) != 0)
        return;
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "spawned");
    otpc_x_encode_pid(self, &x, &child);
    otpc_send(self, &owner, otpc_term_x(&x));
    ei_x_free(&x);
}

static void cmd_monitor(otpc_proc_t *self, const char *b, int *i)
{
    int type, size, arity;
    char name[MAXATOMLEN_UTF8], node[MAXATOMLEN_UTF8];
    otpc_ref_t ref;
    otpc_pid_t pid;
    ei_get_type(b, i, &type, &size);
    if (type == ERL_SMALL_TUPLE_EXT) {
        if (ei_decode_tuple_header(b, i, &arity) || arity != 2 || ei_decode_atom(b, i, name) ||
            ei_decode_atom(b, i, node) || otpc_monitor_name(self, name, node, &ref))
            return;
    } else if (type == ERL_NEW_PID_EXT || type == ERL_PID_EXT) {
        if (otpc_decode_pid(self, b, i, &pid) || otpc_monitor(self, &pid, &ref))
            return;
    } else if (ei_decode_atom(b, i, name) || otpc_monitor_name(self, name, NULL, &ref)) {
        return;
    }
    ei_x_buff x;
    ei_x_new(&x);
    otpc_x_encode_ref(self, &x, &ref);
    tell_owner(self, "monitored", x.buff, (size_t)x.index);
    ei_x_free(&x);
}

/* Where a command sends or calls: {Name, Node}, a local name, or a pid. 0 with *to
 * set (its strings in d), or -1. */
typedef struct {
    char name[MAXATOMLEN_UTF8], node[MAXATOMLEN_UTF8];
    otpc_pid_t pid;
} dest_buf_t;

static int decode_dest(otpc_proc_t *self, const char *b, int *i, otpc_dest_t *to, dest_buf_t *d)
{
    int type, size, arity;
    *to = (otpc_dest_t){0};
    if (ei_get_type(b, i, &type, &size))
        return -1;
    if (type == ERL_SMALL_TUPLE_EXT) {
        if (ei_decode_tuple_header(b, i, &arity) || arity != 2 || ei_decode_atom(b, i, d->name) ||
            ei_decode_atom(b, i, d->node))
            return -1;
        to->name = d->name;
        to->node = d->node;
    } else if (type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_UTF8_EXT ||
               type == ERL_ATOM_UTF8_EXT || type == ERL_SMALL_ATOM_EXT) {
        if (ei_decode_atom(b, i, d->name))
            return -1;
        to->name = d->name;
    } else {
        if (otpc_decode_pid(self, b, i, &d->pid))
            return -1;
        to->pid = &d->pid;
    }
    return 0;
}

static void cmd_send(otpc_proc_t *self, const char *b, int *i)
{
    otpc_dest_t to;
    dest_buf_t d;
    ei_x_buff x;
    if (decode_dest(self, b, i, &to, &d) || (!to.pid && !to.node))
        return; /* a pid or {Name, Node}, as before */
    if (to.pid)
        otpc_send(self, to.pid, term_at(b, i, &x));
    else
        otpc_send_name(self, to.name, to.node, term_at(b, i, &x));
    ei_x_free(&x);
    done(self, "send");
}

/* {send_after_spin, To, TimerMs, SpinMs}: To gets `timer` TimerMs from now, while this
 * callback computes for SpinMs; then done. With more than one scheduler the timer is
 * not held up by the callback that set it. */
static void cmd_send_after_spin(otpc_proc_t *self, const char *b, int *i)
{
    static const char TIMER[] = {(char)131, 119, 5, 't', 'i', 'm', 'e', 'r'};
    otpc_pid_t to;
    unsigned long timer_ms, spin_ms;
    if (otpc_decode_pid(self, b, i, &to) || ei_decode_ulong(b, i, &timer_ms) ||
        ei_decode_ulong(b, i, &spin_ms))
        return;
    otpc_timer_t t;
    if (otpc_send_after(self, (unsigned)timer_ms, &to, (otpc_term_t){TIMER, sizeof TIMER}, &t))
        return;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        clock_gettime(CLOCK_MONOTONIC, &now);
    while ((unsigned long)((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000) <
           spin_ms);
    done(self, "send_after_spin");
}

/* The commands with a pid argument: link, unlink, exit_signal. */
static int cmd_pid(otpc_proc_t *self, const char *cmd, const char *b, int *i)
{
    otpc_pid_t pid;
    if (otpc_decode_pid(self, b, i, &pid))
        return 0;
    if (strcmp(cmd, "link") == 0) {
        otpc_link(self, &pid);
    } else if (strcmp(cmd, "unlink") == 0) {
        otpc_unlink(self, &pid);
    } else {
        ei_x_buff x;
        otpc_exit_signal(self, &pid, term_at(b, i, &x));
        ei_x_free(&x);
    }
    done(self, cmd);
    return 1;
}

/* {flood, To, Size, Left}: send To up to 8 binaries of Size bytes, then the rest to
 * itself, so the flood goes on over many callbacks as a real producer's would; when
 * Left reaches 0, tell the owner {done, Self, flood}. Used to fill a busy peer. */
static void cmd_flood(otpc_proc_t *self, const char *b, int *i)
{
    otpc_pid_t to;
    unsigned long size, left;
    if (otpc_decode_pid(self, b, i, &to) || ei_decode_ulong(b, i, &size) ||
        ei_decode_ulong(b, i, &left) || size > (64u << 20))
        return;
    ei_x_buff x;
    ei_x_new_with_version(&x);
    char *bin = calloc(1, size ? size : 1);
    if (bin)
        ei_x_encode_binary(&x, bin, (long)size);
    free(bin);
    for (int k = 0; k < 8 && left > 0; k++, left--)
        otpc_send(self, &to, otpc_term_x(&x));
    if (left == 0) {
        done(self, "flood");
    } else {
        otpc_pid_t me = otpc_self(self);
        x.index = 0;
        ei_x_encode_version(&x);
        ei_x_encode_tuple_header(&x, 4);
        ei_x_encode_atom(&x, "flood");
        otpc_x_encode_pid(self, &x, &to);
        ei_x_encode_ulong(&x, size);
        ei_x_encode_ulong(&x, left);
        otpc_send(self, &me, otpc_term_x(&x));
    }
    ei_x_free(&x);
}

/* {daemon_port, D}: Owner ! {daemon_port, P, Port | Error}; {daemon_stop, D}: done. The
 * C API beside otpc:daemon_port/1 and otpc:stop_daemon/1. */
static int cmd_daemon(otpc_proc_t *self, const char *cmd, const char *b, int *i)
{
    otpc_pid_t d;
    if (otpc_decode_pid(self, b, i, &d))
        return 0;
    otpc_node_t *n = otpc_proc_node(self);
    if (strcmp(cmd, "daemon_stop") == 0) {
        otpc_daemon_stop(n, &d);
        done(self, cmd);
        return 1;
    }
    uint16_t port = 0;
    int rc = otpc_daemon_port(n, &d, &port);
    ei_x_buff x;
    ei_x_new(&x);
    if (rc)
        ei_x_encode_atom(&x, otpc_strerror(rc));
    else
        ei_x_encode_ulong(&x, port);
    tell_owner(self, cmd, x.buff, (size_t)x.index);
    ei_x_free(&x);
    return 1;
}

/* {dist_ops, From}: From ! {dist_ops, Self, [{Op, In, Out}]}, the control messages
 * counted with From's node by op on the wire (distribution/dstats.h), ops never seen
 * left out. How a suite sees which form of a signal crossed the connection. */
static void cmd_dist_ops(otpc_proc_t *self, const char *b, int *i)
{
    otpc_pid_t from;
    if (otpc_decode_pid(self, b, i, &from))
        return;
    const otpc__dstats_t *st = otpc__dstats_get(otpc_proc_node(self), from.node);
    ei_x_buff x;
    ei_x_new(&x);
    for (int op = 0; st && op < OTPC__DSTATS_OPS; op++) {
        if (!st->in[op] && !st->out[op])
            continue;
        if (ei_x_encode_list_header(&x, 1) || ei_x_encode_tuple_header(&x, 3) ||
            ei_x_encode_long(&x, op) || ei_x_encode_ulonglong(&x, st->in[op]) ||
            ei_x_encode_ulonglong(&x, st->out[op]))
            break;
    }
    if (ei_x_encode_empty_list(&x) == 0)
        tell(self, &from, "dist_ops", x.buff, (size_t)x.index);
    ei_x_free(&x);
}

/* {make_ref, From}: From ! {ref, Self, Ref}, a reference of this node (the node makes
 * no aliases: what is sent to it is dropped). */
static void cmd_make_ref(otpc_proc_t *self, const char *b, int *i)
{
    otpc_pid_t from;
    otpc_ref_t ref;
    if (otpc_decode_pid(self, b, i, &from) || otpc_make_ref(self, &ref))
        return;
    ei_x_buff x;
    ei_x_new(&x);
    if (otpc_x_encode_ref(self, &x, &ref) == 0)
        tell(self, &from, "ref", x.buff, (size_t)x.index);
    ei_x_free(&x);
}

/* {adler32, From, Bin}: From ! {adler32, P, {Size, Adler32}}, which proves a large
 * message arrived byte for byte without sending it back (erlang:adler32/1 is the
 * reference). */
static void cmd_adler32(otpc_proc_t *self, const char *b, int *i)
{
    otpc_pid_t from;
    int type, size;
    if (otpc_decode_pid(self, b, i, &from) || ei_get_type(b, i, &type, &size) ||
        type != ERL_BINARY_EXT)
        return;
    const unsigned char *d = (const unsigned char *)b + *i + 5; /* tag, 4-byte length */
    uint32_t a = 1, s = 0;
    for (long k = 0; k < size;) {
        long end = k + 5552 < size ? k + 5552 : size; /* no overflow before the modulo */
        for (; k < end; k++) {
            a += d[k];
            s += a;
        }
        a %= 65521;
        s %= 65521;
    }
    ei_x_buff x;
    ei_x_new(&x);
    if (ei_x_encode_tuple_header(&x, 2) == 0 && ei_x_encode_long(&x, size) == 0 &&
        ei_x_encode_ulong(&x, (unsigned long)s << 16 | a) == 0)
        tell(self, &from, "adler32", x.buff, (size_t)x.index);
    ei_x_free(&x);
}

/* {big, From, Size}: From ! {big, P, Bin}, Size bytes made here (a multiple of 64 KiB:
 * chunk K, from 1, is <<K:32>> then 65532 bytes of K band 255), so a large message
 * leaves the node without one coming in. */
static void cmd_big(otpc_proc_t *self, const char *b, int *i)
{
    otpc_pid_t from;
    unsigned long size;
    if (otpc_decode_pid(self, b, i, &from) || ei_decode_ulong(b, i, &size) || size % 65536)
        return;
    char *bin = malloc(size ? size : 1);
    ei_x_buff x = {0};
    if (!bin)
        return;
    for (unsigned long k = 0; k < size / 65536; k++) {
        char *c = bin + k * 65536;
        c[0] = (char)((k + 1) >> 24);
        c[1] = (char)((k + 1) >> 16);
        c[2] = (char)((k + 1) >> 8);
        c[3] = (char)(k + 1);
        memset(c + 4, (int)((k + 1) & 255), 65532);
    }
    if (ei_x_new(&x) == 0 && ei_x_encode_binary(&x, bin, (long)size) == 0)
        tell(self, &from, "big", x.buff, (size_t)x.index);
    ei_x_free(&x);
    free(bin);
}

/* {call, Dest, Req, Timeout}: otpc_call_async; Owner ! {called, P, Ref}, and the
 * result comes back as {otpc_reply, Ref, Result}, which the owner gets as probe_got.
 * Dest: a pid, {Name, Node} or a local name. */
static int cmd_call(otpc_proc_t *self, const char *b, int *i)
{
    otpc_dest_t to;
    dest_buf_t d;
    if (decode_dest(self, b, i, &to, &d))
        return 0;
    ei_x_buff req;
    int start = *i;
    if (otpc_skip_term(current, i) || ei_x_new_with_version(&req))
        return 0;
    ei_x_append_buf(&req, b + start, *i - start);
    unsigned long timeout = OTPC_INFINITY;
    if (!otpc_decode_atom_is(b, &(int){*i}, "infinity") && ei_decode_ulong(b, i, &timeout)) {
        ei_x_free(&req);
        return 0;
    }
    otpc_ref_t ref;
    int rc = otpc_call_async(self, &to, otpc_term_x(&req), (unsigned)timeout, &ref);
    ei_x_free(&req);
    ei_x_buff x;
    ei_x_new(&x);
    if (rc)
        ei_x_encode_atom(&x, otpc_strerror(rc));
    else
        otpc_x_encode_ref(self, &x, &ref);
    tell_owner(self, "called", x.buff, (size_t)x.index);
    ei_x_free(&x);
    return 1;
}

typedef struct {
    unsigned long ms;
    ei_x_buff term; /* versioned */
    int fail;       /* return this instead of the term */
} async_job_t;

static int async_work(void *arg, ei_x_buff *out)
{
    async_job_t *j = arg;
    usleep((useconds_t)(j->ms * 1000u));
    int rc = j->fail                                                     ? j->fail
             : ei_x_append_buf(out, j->term.buff + 1, j->term.index - 1) ? OTPC_ENOMEM
                                                                         : 0;
    ei_x_free(&j->term);
    free(j);
    return rc;
}

/* {async, Ms, Term}: otpc_async of a job that sleeps Ms on the pool and returns Term
 * (the atom fail: returns the code 42); Owner ! {async_ref, P, Ref}, and the result
 * comes back as {otpc_async, Ref, _}, which the owner gets as probe_got. */
static int cmd_async(otpc_proc_t *self, const char *b, int *i)
{
    async_job_t *j = calloc(1, sizeof *j);
    int start;
    if (!j || ei_decode_ulong(b, i, &j->ms) || ei_x_new_with_version(&j->term))
        goto bad;
    start = *i;
    if (otpc_skip_term(current, i) || ei_x_append_buf(&j->term, b + start, *i - start))
        goto bad;
    j->fail = otpc_decode_atom_is(b, &start, "fail") ? 42 : 0;
    otpc_ref_t ref;
    ei_x_buff x;
    ei_x_new(&x);
    int rc = otpc_async(self, async_work, j, &ref);
    if (rc) {
        ei_x_free(&j->term);
        free(j);
        ei_x_encode_atom(&x, otpc_strerror(rc));
    } else {
        otpc_x_encode_ref(self, &x, &ref);
    }
    tell_owner(self, "async_ref", x.buff, (size_t)x.index);
    ei_x_free(&x);
    return 1;
bad:
    if (j)
        ei_x_free(&j->term);
    free(j);
    return 0;
}

static int command(otpc_proc_t *self, const char *b, int *i, int arity)
{
    char cmd[MAXATOMLEN_UTF8];
    if (ei_decode_atom(b, i, cmd))
        return 0;
    if (arity == 2 && strcmp(cmd, "ping") == 0) {
        otpc_pid_t from;
        if (otpc_decode_pid(self, b, i, &from))
            return 0;
        tell(self, &from, "pong", NULL, 0);
    } else if (arity == 3 && strcmp(cmd, "echo") == 0) {
        otpc_pid_t from;
        if (otpc_decode_pid(self, b, i, &from))
            return 0;
        int start = *i;
        if (otpc_skip_term(current, i))
            return 0;
        tell(self, &from, "echo", b + start, (size_t)(*i - start));
    } else if (arity == 2 && strcmp(cmd, "spawn") == 0) {
        cmd_spawn(self, b, i);
    } else if (arity == 2 && strcmp(cmd, "exit") == 0) {
        ei_x_buff x;
        otpc_exit(self, term_at(b, i, &x));
        ei_x_free(&x);
    } else if ((arity == 2 && (!strcmp(cmd, "link") || !strcmp(cmd, "unlink"))) ||
               (arity == 3 && !strcmp(cmd, "exit_signal"))) {
        return cmd_pid(self, cmd, b, i);
    } else if (arity == 2 && strcmp(cmd, "monitor") == 0) {
        cmd_monitor(self, b, i);
    } else if (arity == 2 && strcmp(cmd, "demonitor") == 0) {
        otpc_ref_t ref;
        if (otpc_decode_ref(self, b, i, &ref))
            return 0;
        otpc_demonitor(self, &ref);
        done(self, "demonitor");
    } else if (arity == 2 && strcmp(cmd, "trap_exit") == 0) {
        otpc_trap_exit(self, otpc_decode_atom_is(b, i, "true"));
        done(self, "trap_exit");
    } else if (arity == 2 && strcmp(cmd, "register") == 0) {
        char name[MAXATOMLEN_UTF8];
        if (ei_decode_atom(b, i, name) || otpc_register(self, name))
            return 0;
        done(self, "register");
    } else if (arity == 3 && strcmp(cmd, "send") == 0) {
        cmd_send(self, b, i);
    } else if (arity == 4 && strcmp(cmd, "flood") == 0) {
        cmd_flood(self, b, i);
    } else if (arity == 3 && strcmp(cmd, "adler32") == 0) {
        cmd_adler32(self, b, i);
    } else if (arity == 3 && strcmp(cmd, "big") == 0) {
        cmd_big(self, b, i);
    } else if (arity == 2 && strcmp(cmd, "dist_ops") == 0) {
        cmd_dist_ops(self, b, i);
    } else if (arity == 3 && strcmp(cmd, "async") == 0) {
        return cmd_async(self, b, i);
    } else if (arity == 4 && strcmp(cmd, "call") == 0) {
        return cmd_call(self, b, i);
    } else if (arity == 4 && strcmp(cmd, "send_after_spin") == 0) {
        cmd_send_after_spin(self, b, i);
    } else if (arity == 2 && strcmp(cmd, "make_ref") == 0) {
        cmd_make_ref(self, b, i);
    } else if (arity == 2 && (!strcmp(cmd, "daemon_port") || !strcmp(cmd, "daemon_stop"))) {
        return cmd_daemon(self, cmd, b, i);
    } else {
        return 0;
    }
    return 1;
}

static void probe_handle(otpc_proc_t *self, otpc_term_t msg)
{
    int i = 0, arity;
    current = msg;
    if (ei_decode_version(msg.data, &i, NULL) == 0 &&
        ei_decode_tuple_header(msg.data, &i, &arity) == 0 && arity >= 2 &&
        command(self, msg.data, &i, arity))
        return;
    tell_owner(self, "probe_got", msg.data + 1, msg.size - 1);
}

const otpc_proc_ops_t otpc_probe_ops = {
    .name = "probe",
    .init = probe_init,
    .handle = probe_handle,
    .terminate = probe_terminate,
};
