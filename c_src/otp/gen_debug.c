/*
 * sys debugging of C gen_servers: sys:trace/2, sys:log/2, sys:log_to_file/2,
 * sys:statistics/2, sys:no_debug/1, and the debug options sys:get_status/1 shows.
 *
 * The events are gen_server's: {in, Msg} for every message the server takes (system
 * messages aside), {out, Reply, From, State} for a reply, {noreply, State} after a
 * callback that did not reply. Traced events go to the node's log (to the owner's
 * logger, through otpc_node), as "*DBG* Name got call Req from Pid" lines; the log
 * keeps the last N events (10 by default) as terms, oldest first; statistics count
 * messages in and out since they were switched on.
 *
 * Invariants: a server without debug options pays one pointer test per message
 * (g->debug is NULL); a term is printed only up to 2 KiB (the printer recurses); the
 * log file is closed whenever its option goes (false, no_debug, the server's end).
 * install/remove of Erlang funs are refused: a C server runs no Erlang code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "otp/gen_server_int.h"
#include "util/log.h"

#define LOG_DEFAULT 10

struct otpc__gs_debug {
    int trace;
    unsigned log_max; /* 0: not logging */
    otpc__buf_t *log; /* ring of log_max events (unversioned terms) */
    unsigned log_len, log_head;
    FILE *file;
    char *file_name;
    int stats;
    struct tm start;
    unsigned long in, out;
};

static otpc__gs_debug_t *dbg(otpc__gs_t *g)
{
    if (!g->debug)
        g->debug = calloc(1, sizeof *g->debug);
    return g->debug;
}

static void log_clear(otpc__gs_debug_t *d)
{
    for (unsigned k = 0; d->log && k < d->log_max; k++)
        otpc__buf_free(&d->log[k]);
    free(d->log);
    d->log = NULL;
    d->log_max = d->log_len = d->log_head = 0;
}

static void file_close(otpc__gs_debug_t *d)
{
    if (d->file)
        fclose(d->file);
    free(d->file_name);
    d->file = NULL;
    d->file_name = NULL;
}

void otpc__gs_debug_free(otpc__gs_t *g)
{
    otpc__gs_debug_t *d = g->debug;
    if (!d)
        return;
    log_clear(d);
    file_close(d);
    free(d);
    g->debug = NULL;
}

/* ---- printing ------------------------------------------------------------------------ */

/* The event as gen_server's print_event/3 writes it. */
static void describe(otpc_proc_t *p, const char *ev, size_t len, char *out, size_t cap)
{
    otpc__gs_t *g = otpc__gs(p);
    const char *name = p->name ? otpc__atom_name(&p->node->atoms, p->name) : g->mod->name;
    char a[1024], b[1024], c[1024];
    int i = 0, arity, inner;
    char tag[MAXATOMLEN_UTF8];
    if (ei_decode_tuple_header(ev, &i, &arity) || ei_decode_atom(ev, &i, tag)) {
        snprintf(out, cap, "*DBG* %s event", name);
        return;
    }
    const char *t1 = ev + i;
    size_t used1 = 0, used2 = 0, used3 = 0;
    otpc__term_skip(t1, len - (size_t)i, &used1);
    if (!strcmp(tag, "in")) {
        int k = 0;
        char label[MAXATOMLEN_UTF8];
        if (ei_decode_tuple_header(t1, &k, &inner) == 0 && ei_decode_atom(t1, &k, label) == 0 &&
            inner == 3 && !strcmp(label, "$gen_call")) {
            int f = k, from_arity;
            otpc__term_skip(t1 + k, used1 - (size_t)k, &used2); /* {From, Tag} */
            otpc__term_skip(t1 + k + used2, used1 - (size_t)k - used2, &used3);
            otpc__print_term(b, sizeof b, t1 + k + used2, used3);
            size_t up = 0;
            if (ei_decode_tuple_header(t1, &f, &from_arity) == 0)
                otpc__term_skip(t1 + f, used1 - (size_t)f, &up);
            otpc__print_term(c, sizeof c, t1 + f, up);
            snprintf(out, cap, "*DBG* %s got call %s from %s", name, b, c);
        } else if (inner == 2 && !strcmp(label, "$gen_cast")) {
            otpc__term_skip(t1 + k, used1 - (size_t)k, &used2);
            otpc__print_term(b, sizeof b, t1 + k, used2);
            snprintf(out, cap, "*DBG* %s got cast %s", name, b);
        } else {
            otpc__print_term(a, sizeof a, t1, used1);
            snprintf(out, cap, "*DBG* %s got %s", name, a);
        }
    } else if (!strcmp(tag, "out")) {
        const char *t2 = t1 + used1;
        otpc__term_skip(t2, len - (size_t)i - used1, &used2);
        const char *t3 = t2 + used2;
        otpc__term_skip(t3, len - (size_t)i - used1 - used2, &used3);
        int f = 0, from_arity;
        size_t up = 0;
        if (ei_decode_tuple_header(t2, &f, &from_arity) == 0)
            otpc__term_skip(t2 + f, used2 - (size_t)f, &up);
        otpc__print_term(a, sizeof a, t1, used1);
        otpc__print_term(b, sizeof b, t2 + f, up);
        otpc__print_term(c, sizeof c, t3, used3);
        snprintf(out, cap, "*DBG* %s sent %s to %s, new state %s", name, a, b, c);
    } else {
        otpc__print_term(a, sizeof a, t1, used1);
        snprintf(out, cap, "*DBG* %s new state %s", name, a);
    }
}

/* ---- events -------------------------------------------------------------------------- */

enum { EV_IN, EV_OUT, EV_OTHER }; /* what statistics count: in and out only */

static void record(otpc_proc_t *p, const char *ev, size_t len, int kind)
{
    otpc__gs_debug_t *d = otpc__gs(p)->debug;
    char line[3200];
    if (d->stats && kind == EV_OUT)
        d->out++;
    else if (d->stats && kind == EV_IN)
        d->in++;
    if (d->trace || d->file)
        describe(p, ev, len, line, sizeof line);
    if (d->trace)
        OTPC__LOG_NOTICE("sys", "%s", line);
    if (d->file) {
        fprintf(d->file, "%s\n", line);
        fflush(d->file);
    }
    if (d->log_max) {
        unsigned at = (d->log_head + d->log_len) % d->log_max;
        if (d->log_len == d->log_max)
            d->log_head = (d->log_head + 1) % d->log_max;
        else
            d->log_len++;
        d->log[at].len = 0;
        if (otpc__buf_append(&d->log[at], ev, len))
            d->log[at].len = 0;
    }
}

/* The state as get_state shows it, appended to x. */
static int x_state(otpc_proc_t *p, ei_x_buff *x)
{
    return otpc__gs_encode_state(p, x);
}

void otpc__gs_debug_in(otpc_proc_t *p, otpc_term_t msg)
{
    ei_x_buff x;
    if (ei_x_new(&x))
        return;
    if (!ei_x_encode_tuple_header(&x, 2) && !ei_x_encode_atom(&x, "in") &&
        !ei_x_append_buf(&x, msg.data + 1, (int)msg.size - 1))
        record(p, x.buff, (size_t)x.index, EV_IN);
    ei_x_free(&x);
}

void otpc__gs_debug_out(otpc_proc_t *p, otpc_term_t reply, const otpc_from_t *from)
{
    ei_x_buff x;
    if (ei_x_new(&x))
        return;
    int err =
        reply.size
            ? ei_x_encode_tuple_header(&x, 4) || ei_x_encode_atom(&x, "out") ||
                  ei_x_append_buf(&x, reply.data + 1, (int)reply.size - 1) ||
                  ei_x_encode_tuple_header(&x, 2) || otpc__x_pid(p->node, &x, &from->pid) ||
                  ei_x_append_buf(&x, from->tag.data, (int)from->tag.len) || x_state(p, &x)
            : ei_x_encode_tuple_header(&x, 2) || ei_x_encode_atom(&x, "noreply") || x_state(p, &x);
    if (!err)
        record(p, x.buff, (size_t)x.index, reply.size ? EV_OUT : EV_OTHER);
    ei_x_free(&x);
}

/* ---- {debug, Cmd} -------------------------------------------------------------------- */

/* {{Y, M, D}, {H, Mi, S}}, as erlang:localtime/0 gives it */
static int x_datetime(ei_x_buff *x, const struct tm *t)
{
    return ei_x_encode_tuple_header(x, 2) || ei_x_encode_tuple_header(x, 3) ||
           ei_x_encode_long(x, t->tm_year + 1900) || ei_x_encode_long(x, t->tm_mon + 1) ||
           ei_x_encode_long(x, t->tm_mday) || ei_x_encode_tuple_header(x, 3) ||
           ei_x_encode_long(x, t->tm_hour) || ei_x_encode_long(x, t->tm_min) ||
           ei_x_encode_long(x, t->tm_sec);
}

static int x_log(const otpc__gs_debug_t *d, ei_x_buff *x)
{
    for (unsigned k = 0; k < d->log_len; k++) {
        const otpc__buf_t *e = &d->log[(d->log_head + k) % d->log_max];
        if (e->len && (ei_x_encode_list_header(x, 1) || ei_x_append_buf(x, e->data, (int)e->len)))
            return -1;
    }
    return ei_x_encode_empty_list(x);
}

static int x_stats(const otpc__gs_debug_t *d, ei_x_buff *x)
{
    time_t now = time(NULL);
    struct tm t;
    localtime_r(&now, &t);
    return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "ok") ||
           ei_x_encode_list_header(x, 5) || ei_x_encode_tuple_header(x, 2) ||
           ei_x_encode_atom(x, "start_time") || x_datetime(x, &d->start) ||
           ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "current_time") ||
           x_datetime(x, &t) || ei_x_encode_tuple_header(x, 2) ||
           ei_x_encode_atom(x, "reductions") || ei_x_encode_long(x, 0) ||
           ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "messages_in") ||
           ei_x_encode_ulong(x, d->in) || ei_x_encode_tuple_header(x, 2) ||
           ei_x_encode_atom(x, "messages_out") || ei_x_encode_ulong(x, d->out) ||
           ei_x_encode_empty_list(x);
}

static int log_on(otpc__gs_debug_t *d, unsigned n)
{
    if (d->log_max == n)
        return 0;
    log_clear(d);
    d->log = calloc(n, sizeof *d->log);
    if (!d->log)
        return -1;
    d->log_max = n;
    return 0;
}

static void print_log(otpc_proc_t *p, otpc__gs_debug_t *d)
{
    char line[3200];
    for (unsigned k = 0; k < d->log_len; k++) {
        const otpc__buf_t *e = &d->log[(d->log_head + k) % d->log_max];
        describe(p, e->data, e->len, line, sizeof line);
        OTPC__LOG_NOTICE("sys", "%s", line);
    }
}

/* {debug, Cmd} at req[i]: the reply appended to x. 0 or -1 (could not encode). */
int otpc__gs_debug_cmd(otpc_proc_t *p, otpc_term_t req, int i, ei_x_buff *x)
{
    otpc__gs_t *g = otpc__gs(p);
    otpc__gs_debug_t *d = dbg(g);
    char what[MAXATOMLEN_UTF8], flag[MAXATOMLEN_UTF8];
    int k = i, arity, rc = 0;
    if (!d)
        return -1;
    if (otpc_decode_atom_is(req.data, &k, "no_debug")) {
        otpc__gs_debug_free(g);
        return ei_x_encode_atom(x, "ok");
    }
    k = i;
    if (ei_decode_tuple_header(req.data, &k, &arity) || arity != 2 ||
        ei_decode_atom(req.data, &k, what))
        return ei_x_encode_atom(x, "unknown_debug");
    int f = k;
    int has_flag = ei_decode_atom(req.data, &f, flag) == 0;
    if (!strcmp(what, "trace") && has_flag) {
        d->trace = !strcmp(flag, "true");
    } else if (!strcmp(what, "log") && has_flag && !strcmp(flag, "get")) {
        return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "ok") || x_log(d, x);
    } else if (!strcmp(what, "log") && has_flag && !strcmp(flag, "print")) {
        print_log(p, d);
    } else if (!strcmp(what, "log") && has_flag) {
        if (!strcmp(flag, "true"))
            rc = log_on(d, d->log_max ? d->log_max : LOG_DEFAULT);
        else
            log_clear(d);
    } else if (!strcmp(what, "log")) {
        /* {true, N} */
        int t = k, ta;
        long n;
        char yes[MAXATOMLEN_UTF8];
        if (ei_decode_tuple_header(req.data, &t, &ta) || ta != 2 ||
            ei_decode_atom(req.data, &t, yes) || strcmp(yes, "true") ||
            ei_decode_long(req.data, &t, &n) || n < 1 || n > 100000)
            return ei_x_encode_atom(x, "unknown_debug");
        rc = log_on(d, (unsigned)n);
    } else if (!strcmp(what, "statistics") && has_flag) {
        if (!strcmp(flag, "get"))
            return d->stats ? x_stats(d, x)
                            : ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "ok") ||
                                  ei_x_encode_atom(x, "no_statistics");
        d->stats = !strcmp(flag, "true");
        if (d->stats) {
            time_t now = time(NULL);
            localtime_r(&now, &d->start);
            d->in = d->out = 0;
        }
    } else if (!strcmp(what, "log_to_file")) {
        char name[1024];
        int type, size, j = k;
        file_close(d);
        if (has_flag && !strcmp(flag, "false"))
            return ei_x_encode_atom(x, "ok");
        if (ei_get_type(req.data, &j, &type, &size) || type != ERL_STRING_EXT ||
            (size_t)size >= sizeof name || ei_decode_string(req.data, &j, name) ||
            !(d->file = fopen(name, "w")) || !(d->file_name = strdup(name))) {
            file_close(d);
            return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "error") ||
                   ei_x_encode_atom(x, "open_file");
        }
    } else if (!strcmp(what, "install") || !strcmp(what, "remove")) {
        /* a fun would have to run in this process, and a C server runs no Erlang */
        return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "error") ||
               ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "not_supported") ||
               ei_x_encode_atom(x, what);
    } else {
        return ei_x_encode_atom(x, "unknown_debug");
    }
    return rc ? -1 : ei_x_encode_atom(x, "ok");
}

/* The debug options in force, as the Debug element of sys:get_status/1. */
int otpc__gs_debug_options(otpc_proc_t *p, ei_x_buff *x)
{
    const otpc__gs_debug_t *d = otpc__gs(p)->debug;
    if (d && d->trace &&
        (ei_x_encode_list_header(x, 1) || ei_x_encode_tuple_header(x, 2) ||
         ei_x_encode_atom(x, "trace") || ei_x_encode_atom(x, "true")))
        return -1;
    if (d && d->log_max &&
        (ei_x_encode_list_header(x, 1) || ei_x_encode_tuple_header(x, 2) ||
         ei_x_encode_atom(x, "log") || ei_x_encode_tuple_header(x, 2) ||
         ei_x_encode_ulong(x, d->log_max) || x_log(d, x)))
        return -1;
    if (d && d->stats &&
        (ei_x_encode_list_header(x, 1) || ei_x_encode_tuple_header(x, 2) ||
         ei_x_encode_atom(x, "statistics") || ei_x_encode_tuple_header(x, 3) ||
         x_datetime(x, &d->start) || ei_x_encode_ulong(x, d->in) || ei_x_encode_ulong(x, d->out)))
        return -1;
    if (d && d->file_name &&
        (ei_x_encode_list_header(x, 1) || ei_x_encode_tuple_header(x, 2) ||
         ei_x_encode_atom(x, "log_to_file") || ei_x_encode_string(x, d->file_name)))
        return -1;
    return ei_x_encode_empty_list(x);
}
