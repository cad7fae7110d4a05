/*
 * distclient: a C client node for the distribution benchmark, so that calls/s and the
 * server's CPU per call are not capped by a BEAM client node (issue 16: at 64 callers
 * the single BEAM client was at 100 % of its CPU). It is a node on libotpc:
 *
 *   distclient -sname NAME -setcookie COOKIE -server NODE [-to echo] [-k 1,8,64]
 *              [-t SECS] [-w WARMUP_SECS] [-s SERVER_PID] [-stream MIB] [-watch_stdin]
 *              [-l LABEL]
 *
 * makes one call to {To, Node} to connect and check it answers, then for each count K
 * of -k in turn starts K C processes that call {To, Node} with {ping, 123} in a loop
 * (one call in flight each, through otpc_call_async: the result comes back as the
 * message {otpc_reply, Ref, Result}). Each point runs WARMUP_SECS, then is measured
 * for SECS: completed calls, the latency of every call sent in the window (from
 * otpc_call_async to the reply's message), and the CPU time of the server process
 * (SERVER_PID, from /proc) and of this one. Every point prints a sentence and a RESULT
 * line (bench_stats.h). Exit 0, or 1 when the server does not answer or the node does
 * not start; 2 on bad arguments. LABEL is only for whoever reads the command line.
 *
 * With -stream MIB, each point also runs a streamer: one process that casts a binary of
 * MIB MiB to {To, Node} ({'$gen_cast', Bin}) in a loop, as bench_frag's "64 MiB in"
 * phase, held back only by the connection's busy limit; the point's RESULT line then
 * counts the casts sent in the window (streamed=N). The calls measure what a small call
 * waits beside large messages on the same connection, with a client that is not the
 * limit (bench_frag's BEAM client is).
 *
 * The points are driven by one process, the driver; callers keep their counts and
 * histogram in memory of their own, which the driver reads only after their `done`
 * message, so nothing is shared while they run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otpc.h"

#include "bench_stats.h"

#define MAX_POINTS 32
#define CALL_TIMEOUT_MS 10000

typedef struct {
    const char *sname, *cookie, *server, *to;
    int counts[MAX_POINTS], npoints;
    double secs, warmup;
    pid_t server_pid;
    int watch_stdin;
    ei_x_buff req; /* {ping, 123}, versioned; read-only once the node runs */
    unsigned stream_mib;
    ei_x_buff big; /* with stream_mib: {'$gen_cast', <<...>>}, versioned, read-only */
} cfg_t;

typedef struct {
    const cfg_t *cfg;
    otpc_pid_t driver;
    uint64_t t_meas, t_end;
    uint64_t sent; /* casts sent in the window */
} streamer_t;

typedef struct {
    const cfg_t *cfg;
    otpc_pid_t driver;
    uint64_t t_meas, t_end; /* the measuring window */
    otpc_ref_t ref;         /* the call in flight */
    uint64_t sent;
    uint64_t calls, errors;
    bench_hist_t hist;
} caller_t;

typedef struct {
    const cfg_t *cfg;
    otpc_ref_t probe;
    int point;
    caller_t **callers;
    streamer_t *streamer; /* with -stream, else NULL */
    int ncallers, done, window_over;
    double server0, server1, client0, client1;
} driver_t;

static int status; /* main's exit status */

/* Send a message that is one atom (not sent when memory runs out: the run stalls and
 * the bench's timeout reports it). */
static void send_atom(otpc_proc_t *self, const otpc_pid_t *to, const char *atom)
{
    ei_x_buff x;
    if (ei_x_new_with_version(&x) == 0 && ei_x_encode_atom(&x, atom) == 0)
        otpc_send(self, to, otpc_term_x(&x));
    ei_x_free(&x);
}

static void exit_normal(otpc_proc_t *self)
{
    ei_x_buff x;
    if (ei_x_new_with_version(&x) == 0 && ei_x_encode_atom(&x, "normal") == 0)
        otpc_exit(self, otpc_term_x(&x));
    ei_x_free(&x);
}

static int call_server(otpc_proc_t *self, const cfg_t *cfg, otpc_ref_t *ref)
{
    otpc_dest_t to = {.name = cfg->to, .node = cfg->server};
    return otpc_call_async(self, &to, otpc_term_x(&cfg->req), CALL_TIMEOUT_MS, ref);
}

/* ---- callers ---- */

static int caller_init(otpc_proc_t *self, void *arg)
{
    otpc_proc_set_data(self, arg);
    otpc_pid_t me = otpc_self(self);
    send_atom(self, &me, "go"); /* the first call from a callback, not from init */
    return 0;
}

static void caller_next(otpc_proc_t *self, caller_t *c)
{
    c->sent = bench_now_ns();
    if (call_server(self, c->cfg, &c->ref)) {
        c->errors++;
        send_atom(self, &c->driver, "done");
        exit_normal(self);
    }
}

static void caller_handle(otpc_proc_t *self, otpc_term_t msg)
{
    caller_t *c = otpc_proc_data(self);
    otpc_ref_t ref;
    if (otpc_term_is_atom(msg, "go")) {
        caller_next(self, c);
        return;
    }
    int ok = otpc_match(msg, "{otpc_reply, ~r, {ok, _}}", self, &ref);
    if (!ok && !otpc_match(msg, "{otpc_reply, ~r, _}", self, &ref))
        return;
    if (!otpc_ref_eq(&ref, &c->ref))
        return;
    uint64_t now = bench_now_ns();
    if (!ok)
        c->errors++;
    else if (now >= c->t_meas && now <= c->t_end) {
        c->calls++;
        if (c->sent >= c->t_meas)
            bench_hist_add(&c->hist, now - c->sent);
    }
    if (now >= c->t_end) {
        send_atom(self, &c->driver, "done");
        exit_normal(self);
        return;
    }
    caller_next(self, c);
}

static const otpc_proc_ops_t caller_ops = {
    .name = "bench_caller", .init = caller_init, .handle = caller_handle};

/* ---- the streamer (-stream) ---- */

/* One large cast per message to itself: a sender at the busy limit is parked by the
 * node until its fragments drain, so the loop goes as fast as the connection takes
 * them, and the "go" it sends itself comes after that. */
static void streamer_handle(otpc_proc_t *self, otpc_term_t msg)
{
    streamer_t *st = otpc_proc_data(self);
    (void)msg;
    uint64_t now = bench_now_ns();
    if (now >= st->t_end ||
        otpc_send_name(self, st->cfg->to, st->cfg->server, otpc_term_x(&st->cfg->big))) {
        send_atom(self, &st->driver, "done");
        exit_normal(self);
        return;
    }
    if (now >= st->t_meas)
        st->sent++;
    otpc_pid_t me = otpc_self(self);
    send_atom(self, &me, "go");
}

static int streamer_init(otpc_proc_t *self, void *arg)
{
    otpc_proc_set_data(self, arg);
    otpc_pid_t me = otpc_self(self);
    send_atom(self, &me, "go");
    return 0;
}

static const otpc_proc_ops_t streamer_ops = {
    .name = "bench_streamer", .init = streamer_init, .handle = streamer_handle};

/* ---- the driver ---- */

static void stop_node(otpc_proc_t *self, int rc)
{
    status = rc;
    otpc_node_stop(otpc_proc_node(self));
}

/* Starts point d->point: its callers, and the timers that read the CPU clocks when
 * the window opens and closes. */
static void point_start(otpc_proc_t *self, driver_t *d)
{
    const cfg_t *cfg = d->cfg;
    int k = cfg->counts[d->point];
    uint64_t now = bench_now_ns();
    unsigned warm_ms = (unsigned)(cfg->warmup * 1000), secs_ms = (unsigned)(cfg->secs * 1000);
    otpc_pid_t me = otpc_self(self);
    ei_x_buff s = {0}, e = {0};
    d->callers = calloc((size_t)k, sizeof *d->callers);
    d->ncallers = d->done = d->window_over = 0;
    if (!d->callers)
        goto nomem;
    for (int i = 0; i < k; i++) {
        caller_t *c = calloc(1, sizeof *c);
        if (!c)
            goto nomem;
        d->callers[d->ncallers++] = c;
        *c = (caller_t){.cfg = cfg,
                        .driver = me,
                        .t_meas = now + (uint64_t)warm_ms * 1000000,
                        .t_end = now + (uint64_t)(warm_ms + secs_ms) * 1000000};
        otpc_pid_t pid;
        if (otpc_spawn(otpc_proc_node(self), &caller_ops, c, &pid))
            goto nomem;
    }
    if (cfg->stream_mib) {
        streamer_t *st = d->streamer = calloc(1, sizeof *st);
        otpc_pid_t pid;
        if (!st)
            goto nomem;
        *st = (streamer_t){.cfg = cfg,
                           .driver = me,
                           .t_meas = now + (uint64_t)warm_ms * 1000000,
                           .t_end = now + (uint64_t)(warm_ms + secs_ms) * 1000000};
        if (otpc_spawn(otpc_proc_node(self), &streamer_ops, st, &pid))
            goto nomem;
    }
    int rc = ei_x_new_with_version(&s) || ei_x_encode_atom(&s, "window_start") ||
             ei_x_new_with_version(&e) || ei_x_encode_atom(&e, "window_end") ||
             otpc_send_after(self, warm_ms, &me, otpc_term_x(&s), NULL) ||
             otpc_send_after(self, warm_ms + secs_ms, &me, otpc_term_x(&e), NULL);
    if (!rc) {
        ei_x_free(&s);
        ei_x_free(&e);
        return;
    }
nomem:
    ei_x_free(&s);
    ei_x_free(&e);
    fprintf(stderr, "distclient: out of memory starting %d callers\n", k);
    stop_node(self, 1);
}

/* Once every caller is done and the window closed: merge, print, go on. */
static void point_finish(otpc_proc_t *self, driver_t *d)
{
    static bench_hist_t all; /* large: not on the stack; only the driver uses it */
    memset(&all, 0, sizeof all);
    uint64_t calls = 0, errors = 0;
    for (int i = 0; i < d->ncallers; i++) {
        bench_hist_merge(&all, &d->callers[i]->hist);
        calls += d->callers[i]->calls;
        errors += d->callers[i]->errors;
        free(d->callers[i]);
    }
    free(d->callers);
    d->callers = NULL;
    char what[64];
    if (d->streamer)
        snprintf(what, sizeof what, "callers=%d stream_mib=%u streamed=%llu",
                 d->cfg->counts[d->point], d->cfg->stream_mib,
                 (unsigned long long)d->streamer->sent);
    else
        snprintf(what, sizeof what, "callers=%d", d->cfg->counts[d->point]);
    free(d->streamer);
    d->streamer = NULL;
    bench_result_t r = {.what = what,
                        .secs = d->cfg->secs,
                        .calls = calls,
                        .errors = errors,
                        .hist = &all,
                        .server_cpu =
                            d->server0 >= 0 && d->server1 >= 0 ? d->server1 - d->server0 : -1,
                        .client_cpu = d->client1 - d->client0};
    bench_result_print(&r);
    if (++d->point < d->cfg->npoints)
        point_start(self, d);
    else
        stop_node(self, 0);
}

static int driver_init(otpc_proc_t *self, void *arg)
{
    driver_t *d = calloc(1, sizeof *d);
    if (!d)
        return OTPC_ENOMEM;
    d->cfg = arg;
    otpc_proc_set_data(self, d);
    otpc_pid_t me = otpc_self(self);
    send_atom(self, &me, "probe");
    return 0;
}

/* The probe: one call that connects to the server node and shows `to` answers. */
static void on_probe(otpc_proc_t *self, driver_t *d, otpc_term_t msg)
{
    otpc_ref_t ref;
    otpc_term_t why;
    if (otpc_match(msg, "{otpc_reply, ~r, {ok, _}}", self, &ref) && otpc_ref_eq(&ref, &d->probe)) {
        point_start(self, d);
    } else if (otpc_match(msg, "{otpc_reply, ~r, {error, ~t}}", self, &ref, &why) &&
               otpc_ref_eq(&ref, &d->probe)) {
        char *text = NULL;
        int i = 0;
        if (ei_s_print_term(&text, why.data, &i) < 0) {
            free(text);
            text = NULL;
        }
        fprintf(stderr, "distclient: {%s, %s} did not answer: %s\n", d->cfg->to, d->cfg->server,
                text ? text : "?");
        free(text);
        stop_node(self, 1);
    }
}

static void driver_handle(otpc_proc_t *self, otpc_term_t msg)
{
    driver_t *d = otpc_proc_data(self);
    if (otpc_term_is_atom(msg, "probe")) {
        if (call_server(self, d->cfg, &d->probe))
            stop_node(self, 1);
    } else if (otpc_term_is_atom(msg, "window_start")) {
        d->server0 = bench_proc_cpu(d->cfg->server_pid);
        d->client0 = bench_self_cpu();
    } else if (otpc_term_is_atom(msg, "window_end")) {
        d->server1 = bench_proc_cpu(d->cfg->server_pid);
        d->client1 = bench_self_cpu();
        d->window_over = 1;
    } else if (otpc_term_is_atom(msg, "done")) {
        d->done++;
    } else if (!d->callers) {
        on_probe(self, d, msg);
        return;
    }
    if (d->callers && d->window_over && d->done == d->ncallers + (d->streamer != NULL))
        point_finish(self, d);
}

static void driver_terminate(otpc_proc_t *self, otpc_term_t reason)
{
    (void)reason;
    driver_t *d = otpc_proc_data(self);
    if (d && d->callers) {
        for (int i = 0; i < d->ncallers; i++)
            free(d->callers[i]); /* the node stops: its callers are gone with it */
        free(d->callers);
    }
    if (d)
        free(d->streamer);
    free(d);
}

static const otpc_proc_ops_t driver_ops = {.name = "bench_driver",
                                           .init = driver_init,
                                           .handle = driver_handle,
                                           .terminate = driver_terminate};

static int on_start(otpc_node_t *node, void *arg)
{
    otpc_pid_t pid;
    return otpc_spawn(node, &driver_ops, arg, &pid);
}

/* ---- arguments ---- */

static int parse_counts(cfg_t *cfg, const char *list)
{
    char *copy = strdup(list), *save = NULL;
    cfg->npoints = 0;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int k = atoi(t);
        if (k < 1 || k > 100000 || cfg->npoints == MAX_POINTS) {
            free(copy);
            return -1;
        }
        cfg->counts[cfg->npoints++] = k;
    }
    free(copy);
    return cfg->npoints ? 0 : -1;
}

static int parse_args(cfg_t *cfg, int argc, char **argv)
{
    cfg->to = "echo";
    cfg->secs = 3;
    cfg->warmup = 0.5;
    cfg->counts[0] = 1;
    cfg->npoints = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-watch_stdin")) {
            cfg->watch_stdin = 1;
            continue;
        }
        if (!v)
            return -1;
        i++;
        if (!strcmp(a, "-sname"))
            cfg->sname = v;
        else if (!strcmp(a, "-setcookie"))
            cfg->cookie = v;
        else if (!strcmp(a, "-server"))
            cfg->server = v;
        else if (!strcmp(a, "-to"))
            cfg->to = v;
        else if (!strcmp(a, "-k")) {
            if (parse_counts(cfg, v))
                return -1;
        } else if (!strcmp(a, "-t"))
            cfg->secs = atof(v);
        else if (!strcmp(a, "-w"))
            cfg->warmup = atof(v);
        else if (!strcmp(a, "-s"))
            cfg->server_pid = (pid_t)atoi(v);
        else if (!strcmp(a, "-stream")) {
            int mib = atoi(v);
            if (mib < 1 || mib > 1024)
                return -1;
            cfg->stream_mib = (unsigned)mib;
        } else if (strcmp(a, "-l"))
            return -1;
    }
    return cfg->sname && cfg->server && cfg->secs > 0 && cfg->warmup >= 0 ? 0 : -1;
}

/* {'$gen_cast', <<Bytes>>} of stream_mib MiB, the bytes varied so nothing compresses. */
static int make_big(cfg_t *cfg)
{
    size_t len = (size_t)cfg->stream_mib << 20;
    char *bytes = malloc(len);
    if (!bytes)
        return -1;
    for (size_t i = 0; i < len; i++)
        bytes[i] = (char)(i * 2654435761u >> 13);
    int rc = ei_x_new_with_version(&cfg->big) || ei_x_encode_tuple_header(&cfg->big, 2) ||
             ei_x_encode_atom(&cfg->big, "$gen_cast") ||
             ei_x_encode_binary(&cfg->big, bytes, (long)len);
    free(bytes);
    return rc ? -1 : 0;
}

int main(int argc, char **argv)
{
    static cfg_t cfg;
    if (parse_args(&cfg, argc, argv)) {
        fprintf(stderr, "usage: distclient -sname NAME [-setcookie COOKIE] -server NODE "
                        "[-to echo] [-k 1,8,64] [-t SECS] [-w WARMUP_SECS] [-s SERVER_PID] "
                        "[-stream MIB] [-watch_stdin] [-l LABEL]\n");
        return 2;
    }
    if (ei_x_new_with_version(&cfg.req) || ei_x_encode_tuple_header(&cfg.req, 2) ||
        ei_x_encode_atom(&cfg.req, "ping") || ei_x_encode_long(&cfg.req, 123)) {
        fprintf(stderr, "distclient: out of memory\n");
        return 1;
    }
    if (cfg.stream_mib && make_big(&cfg)) {
        fprintf(stderr, "distclient: out of memory for the streamed binary\n");
        ei_x_free(&cfg.req);
        return 1;
    }
    otpc_log_set_level(OTPC_LOG_WARNING);
    otpc_node_opts_t o = {.name = cfg.sname, .cookie = cfg.cookie, .watch_stdin = cfg.watch_stdin};
    otpc_node_t *node = NULL;
    int rc = otpc_node_new(&node, &o);
    if (!rc)
        rc = otpc_node_run(node, on_start, &cfg);
    if (rc) {
        fprintf(stderr, "distclient: %s\n", otpc_strerror(rc));
        status = 1;
    }
    otpc_node_free(node);
    ei_x_free(&cfg.req);
    if (cfg.stream_mib)
        ei_x_free(&cfg.big);
    return status;
}
