/*
 * The daemon: a process that owns a listening socket and, for every connection it
 * accepts, starts a session (daemon/session.c) and that session's gen_server.
 *
 * It monitors each server and forwards the DOWN to its owner untouched, so the owner
 * learns of every end exactly once, with the reference it was given in
 * {otpc_spawned, ...}. The listener is read by the scheduler's loop; accepting never
 * waits for anything a peer does (TLS handshakes run in the sessions).
 *
 * Invariants: `active` is the number of servers monitored and not yet DOWN; while it
 * is at max_connections, or while accept() fails for want of descriptors (backing off
 * 100 ms doubling to 1 s), the listener is not polled. Stopping closes the listener
 * first, lets connections run for `grace`, then sends each session an exit signal
 * (`shutdown`); the stop callers are answered once the last server is DOWN, after its
 * DOWN has gone to the owner. Calls: port -> {ok, Port}, info -> #{...}, stop -> ok.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/daemon_int.h"
#include "proto/term.h"
#include "util/log.h"

#define DEFAULT_MAX_FRAME (16u << 20)
#define DEFAULT_MAX_INPUT (64u << 20)
#define DEFAULT_HANDSHAKE_MS 5000
#define DEFAULT_GRACE_MS 5000
#define ACCEPTS_PER_WAKE 64
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 1000

typedef struct {
    otpc_pid_t server, conn;
    otpc_ref_t mref;
} entry_t;

typedef struct {
    otpc_pid_t pid;
    otpc__buf_t tag;
} stopper_t;

typedef struct {
    otpc_node_t *n;
    otpc_proc_t *proc;
    uv_poll_t *lpoll; /* NULL once the listener is closed */
    int lfd;
    uint16_t port;
    const otpc_gen_server_t *mod;
    otpc__buf_t arg; /* versioned */
    otpc__tls_ctx_t *tls;
    char *tls_files[3]; /* certfile, keyfile, cacertfile: read again at a reload */
    otpc_daemon_opts_t o;
    int has_owner;
    otpc_pid_t owner;
    otpc_ref_t owner_mon;
    uint64_t accepted, refused, ended, emfile;
    otpc__vec_t live; /* of entry_t */
    int paused, stopping;
    unsigned backoff_ms;
    int backing_off;
    otpc__vec_t stoppers; /* of stopper_t */
    otpc__dbudget_t *budget;
    ei_x_buff x;
    otpc__buf_t pg_group;           /* versioned; empty: no group */
    char pg_scope[MAXATOMLEN_UTF8]; /* "" : pg */
} daemon_t;

static const char T_RETRY[] =
    OTPC__VATOM(11, '$', 'o', 't', 'p', 'c', '_', 'r', 'e', 't', 'r', 'y');
static const char T_GRACE[] =
    OTPC__VATOM(11, '$', 'o', 't', 'p', 'c', '_', 'g', 'r', 'a', 'c', 'e');
static const char T_STOP[] = OTPC__VATOM(10, '$', 'o', 't', 'p', 'c', '_', 's', 't', 'o', 'p');
#define T_NORMAL otpc__t_normal
#define T_SHUTDOWN otpc__t_shutdown
#define TERM OTPC__TERM

static void on_accept(uv_poll_t *h, int status, int events);

/* ---- the listener ------------------------------------------------------------------ */

static void set_polling(daemon_t *d)
{
    if (!d->lpoll)
        return;
    int on = !d->stopping && !d->backing_off &&
             !(d->o.max_connections && d->live.len >= d->o.max_connections);
    if (on == !d->paused)
        return;
    d->paused = !on;
    if (on)
        uv_poll_start(d->lpoll, UV_READABLE, on_accept);
    else
        uv_poll_stop(d->lpoll);
}

static void close_listener(daemon_t *d)
{
    if (!d->lpoll)
        return;
    uv_close((uv_handle_t *)d->lpoll, otpc__free_handle);
    d->lpoll = NULL;
    close(d->lfd);
    d->lfd = -1;
}

/* "eaddrinuse": the errno's name as inet reports it. */
static void errno_atom(int e, char *out, size_t cap)
{
    const char *name = strerrorname_np(e);
    size_t i = 0;
    for (; name && name[i] && i + 1 < cap; i++)
        out[i] = (char)(name[i] | 0x20);
    out[i] = 0;
}

static int open_listener(daemon_t *d, otpc__derr_t *e)
{
    const char *ip = d->o.ip ? d->o.ip : "127.0.0.1";
    struct sockaddr_storage ss = {0};
    socklen_t slen;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(d->o.port);
        slen = sizeof *a4;
    } else if (inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(d->o.port);
        slen = sizeof *a6;
    } else {
        snprintf(e->kind, sizeof e->kind, "badopt");
        snprintf(e->detail, sizeof e->detail, "ip");
        return OTPC_EINVAL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0)
        goto fail;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, slen) || listen(fd, 1024) ||
        getsockname(fd, (struct sockaddr *)&ss, &slen))
        goto fail;
    d->port = ntohs(ss.ss_family == AF_INET ? a4->sin_port : a6->sin6_port);
    d->lpoll = malloc(sizeof *d->lpoll);
    if (!d->lpoll || uv_poll_init(&d->n->loop, d->lpoll, fd)) {
        free(d->lpoll);
        d->lpoll = NULL;
        close(fd);
        return OTPC_ENOMEM;
    }
    d->lpoll->data = d;
    d->lfd = fd;
    d->paused = 1; /* set_polling starts it */
    return 0;
fail:
    snprintf(e->kind, sizeof e->kind, "listen");
    errno_atom(errno, e->detail, sizeof e->detail);
    e->detail_is_atom = 1;
    if (fd >= 0)
        close(fd);
    return OTPC_EIO;
}

/* ---- accepting --------------------------------------------------------------------- */

static int x_peer(ei_x_buff *x, const struct sockaddr_storage *ss)
{
    int rc = ei_x_encode_tuple_header(x, 2);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        const unsigned char *b = (const unsigned char *)&a->sin_addr;
        rc = rc || ei_x_encode_tuple_header(x, 4);
        for (int i = 0; i < 4; i++)
            rc = rc || ei_x_encode_long(x, b[i]);
        return rc || ei_x_encode_long(x, ntohs(a->sin_port));
    }
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    const unsigned char *b = (const unsigned char *)&a->sin6_addr;
    rc = rc || ei_x_encode_tuple_header(x, 8);
    for (int i = 0; i < 8; i++)
        rc = rc || ei_x_encode_long(x, b[2 * i] << 8 | b[2 * i + 1]);
    return rc || ei_x_encode_long(x, ntohs(a->sin6_port));
}

static void tell_owner_spawned(daemon_t *d, const entry_t *e, const struct sockaddr_storage *ss)
{
    if (!d->has_owner)
        return;
    ei_x_buff *x = &d->x;
    x->index = 0;
    if (ei_x_encode_version(x) || ei_x_encode_tuple_header(x, 5) ||
        ei_x_encode_atom(x, "otpc_spawned") || otpc_x_encode_pid(d->proc, x, &d->proc->pid) ||
        otpc_x_encode_pid(d->proc, x, &e->server) || otpc_x_encode_ref(d->proc, x, &e->mref) ||
        x_peer(x, ss))
        return;
    otpc_send(d->proc, &d->owner, otpc_term_x(x));
}

static void start_one(daemon_t *d, int fd, const struct sockaddr_storage *ss)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    otpc__sess_conf_t c = {fd,
                           d->proc->pid,
                           d->mod,
                           {d->arg.data, d->arg.len},
                           d->tls,
                           d->o.max_frame,
                           d->o.handshake_timeout,
                           d->o.idle_timeout,
                           d->budget};
    entry_t e;
    if (otpc__session_start(d->n, &c, &e.conn, &e.server)) {
        d->refused++;
        return;
    }
    if (otpc_monitor(d->proc, &e.server, &e.mref) || otpc__vec_push(&d->live, &e, sizeof e)) {
        /* cannot account for it: better no connection than an untracked one */
        otpc_exit_signal(d->proc, &e.conn, TERM(T_SHUTDOWN));
        d->refused++;
        return;
    }
    d->accepted++;
    if (d->pg_group.len &&
        otpc_pg_join(d->n, d->pg_scope[0] ? d->pg_scope : NULL,
                     (otpc_term_t){d->pg_group.data, d->pg_group.len}, &e.server))
        OTPC__LOG_WARN("daemon", "port %u: a connection's server could not join its pg group",
                       d->port);
    tell_owner_spawned(d, &e, ss);
}

static void back_off(daemon_t *d, int err)
{
    d->emfile++;
    d->backoff_ms = d->backoff_ms ? d->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (d->backoff_ms > BACKOFF_MAX_MS)
        d->backoff_ms = BACKOFF_MAX_MS;
    OTPC__LOG_WARN("daemon", "accept on port %u: %s; retrying in %u ms", d->port, strerror(err),
                   d->backoff_ms);
    d->backing_off = 1;
    set_polling(d);
    otpc_send_after(d->proc, d->backoff_ms, &d->proc->pid, TERM(T_RETRY), NULL);
}

static void on_accept(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    daemon_t *d = h->data;
    for (int i = 0; i < ACCEPTS_PER_WAKE && !d->paused; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(d->lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            d->backoff_ms = 0;
            start_one(d, fd, &ss);
            set_polling(d); /* at max_connections: pause */
        } else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            back_off(d, errno);
        } else if (errno != EINTR && errno != ECONNABORTED) {
            break; /* EAGAIN: all taken */
        }
    }
    otpc__turn(d->n);
}

/* ---- stopping ---------------------------------------------------------------------- */

static void stop_done(daemon_t *d)
{
    for (uint32_t i = 0; i < d->stoppers.len; i++) {
        stopper_t *s = (stopper_t *)d->stoppers.items + i;
        static const char ok[] = OTPC__VATOM(2, 'o', 'k');
        otpc__from_t f = {s->pid, {s->tag.data, s->tag.len}};
        otpc__gen_reply(d->proc, &f, TERM(ok));
    }
    otpc_exit(d->proc, TERM(T_NORMAL));
}

static void shutdown_all(daemon_t *d)
{
    for (uint32_t i = 0; i < d->live.len; i++) {
        entry_t *e = (entry_t *)d->live.items + i;
        otpc_exit_signal(d->proc, &e->conn, TERM(T_SHUTDOWN));
    }
}

static void begin_stop(daemon_t *d, const otpc__from_t *from)
{
    if (from) {
        stopper_t s = {from->pid, {0}};
        if (otpc__buf_append(&s.tag, from->tag.data, from->tag.size) ||
            otpc__vec_push(&d->stoppers, &s, sizeof s))
            otpc__buf_free(&s.tag);
    }
    if (d->stopping)
        return;
    d->stopping = 1;
    close_listener(d);
    OTPC__LOG_INFO("daemon", "port %u: stopping with %u connections", d->port, d->live.len);
    if (!d->live.len)
        stop_done(d);
    else if (d->o.grace < 0)
        shutdown_all(d);
    else
        otpc_send_after(d->proc, (unsigned)d->o.grace, &d->proc->pid, TERM(T_GRACE), NULL);
}

/* ---- the process ------------------------------------------------------------------- */

static int x_info(daemon_t *d, ei_x_buff *x)
{
    int rc = ei_x_encode_version(x) || ei_x_encode_map_header(x, 9);
    rc = rc || ei_x_encode_atom(x, "accepted") || ei_x_encode_ulonglong(x, d->accepted);
    rc = rc || ei_x_encode_atom(x, "active") || ei_x_encode_ulong(x, d->live.len);
    rc = rc || ei_x_encode_atom(x, "refused") || ei_x_encode_ulonglong(x, d->refused);
    rc = rc || ei_x_encode_atom(x, "ended") || ei_x_encode_ulonglong(x, d->ended);
    rc = rc || ei_x_encode_atom(x, "emfile") || ei_x_encode_ulonglong(x, d->emfile);
    rc = rc || ei_x_encode_atom(x, "max_connections") ||
         (d->o.max_connections ? ei_x_encode_ulong(x, d->o.max_connections)
                               : ei_x_encode_atom(x, "infinity"));
    rc = rc || ei_x_encode_atom(x, "port") || ei_x_encode_ulong(x, d->port);
    rc = rc || ei_x_encode_atom(x, "transport") || ei_x_encode_atom(x, d->tls ? "tls" : "tcp");
    rc = rc || ei_x_encode_atom(x, "accepting") || ei_x_encode_boolean(x, d->lpoll && !d->paused);
    return rc;
}

/* msg is {'$gen_call', From, Req}; i is at From. */
static void daemon_call(daemon_t *d, otpc_term_t msg, int i)
{
    otpc__from_t from;
    if (!otpc__decode_from(d->proc, msg, i, &from, &i))
        return;
    ei_x_buff *x = &d->x;
    x->index = 0;
    const char *b = msg.data;
    if (otpc_decode_atom_is(b, &(int){i}, "stop")) {
        begin_stop(d, &from);
        return;
    }
    int err;
    if (otpc_decode_atom_is(b, &(int){i}, "port"))
        err = ei_x_encode_version(x) || ei_x_encode_tuple_header(x, 2) ||
              ei_x_encode_atom(x, "ok") || ei_x_encode_ulong(x, d->port);
    else if (otpc_decode_atom_is(b, &(int){i}, "info"))
        err = x_info(d, x);
    else
        err = ei_x_encode_version(x) || otpc__x_tag_atom(x, "error", "badarg");
    if (err) /* the caller is not answered: it times out, as with a lost message */
        OTPC__LOG_ERROR("daemon", "out of memory answering a call");
    else
        otpc__gen_reply(d->proc, &from, otpc_term_x(x));
}

static void on_down(daemon_t *d, otpc_term_t msg, int i)
{
    otpc_ref_t ref;
    if (otpc_decode_ref(d->proc, msg.data, &i, &ref))
        return;
    if (d->has_owner && otpc_ref_eq(&ref, &d->owner_mon)) {
        d->has_owner = 0;
        begin_stop(d, NULL);
        return;
    }
    for (uint32_t k = 0; k < d->live.len; k++) {
        entry_t *e = (entry_t *)d->live.items + k;
        if (!otpc_ref_eq(&e->mref, &ref))
            continue;
        otpc__vec_del(&d->live, k, sizeof *e);
        d->ended++;
        if (d->has_owner)
            otpc_send(d->proc, &d->owner, msg); /* the DOWN itself: its ref is MRef */
        set_polling(d);
        if (d->stopping && !d->live.len)
            stop_done(d);
        return;
    }
}

static void daemon_handle(otpc_proc_t *self, otpc_term_t msg)
{
    daemon_t *d = otpc_proc_data(self);
    int i;
    if (otpc_term_is_tagged(msg, "DOWN", 5, &i)) {
        on_down(d, msg, i);
    } else if (otpc_term_is_tagged(msg, "$gen_call", 3, &i)) {
        daemon_call(d, msg, i);
    } else if (OTPC__MSG_IS(msg, T_RETRY)) {
        d->backing_off = 0;
        set_polling(d);
    } else if (OTPC__MSG_IS(msg, T_GRACE)) {
        shutdown_all(d);
    } else if (OTPC__MSG_IS(msg, T_STOP)) {
        begin_stop(d, NULL);
    } /* {'EXIT', Conn, normal} from sessions that ended: nothing to do */
}

static int daemon_init(otpc_proc_t *self, void *arg)
{
    daemon_t *d = arg;
    d->proc = self;
    otpc_proc_set_data(self, d);
    otpc_trap_exit(self, 1);
    if (d->has_owner) {
        int rc = otpc_monitor(self, &d->owner, &d->owner_mon);
        if (rc)
            return rc;
    }
    set_polling(d);
    return 0;
}

static void free_daemon(daemon_t *d)
{
    close_listener(d);
    otpc__tls_ctx_free(d->tls);
    for (int i = 0; i < 3; i++)
        free(d->tls_files[i]);
    otpc__buf_free(&d->arg);
    otpc__buf_free(&d->pg_group);
    for (uint32_t i = 0; i < d->stoppers.len; i++)
        otpc__buf_free(&((stopper_t *)d->stoppers.items)[i].tag);
    free(d->stoppers.items);
    free(d->live.items);
    otpc__dbudget_release(d->budget);
    ei_x_free(&d->x);
    free(d);
}

static void daemon_terminate(otpc_proc_t *self, otpc_term_t reason)
{
    (void)reason;
    daemon_t *d = otpc_proc_data(self);
    if (d->live.len)
        OTPC__LOG_INFO("daemon", "port %u: exiting with %u connections", d->port, d->live.len);
    free_daemon(d); /* the sessions hear of it through their links */
}

static const otpc_proc_ops_t daemon_ops = {
    .name = "otpc_daemon",
    .init = daemon_init,
    .handle = daemon_handle,
    .terminate = daemon_terminate,
};

/* ---- starting ---------------------------------------------------------------------- */

static otpc__tls_ctx_t *tls_ctx(const daemon_t *d, char *err, size_t cap)
{
    otpc__tls_conf_t tc = {.certfile = d->tls_files[0],
                           .keyfile = d->tls_files[1],
                           .cacertfile = d->tls_files[2],
                           .verify_peer = d->o.verify_peer,
                           .fail_if_no_peer_cert = d->o.fail_if_no_peer_cert};
    return otpc__tls_ctx_new(&tc, err, cap);
}

/* The files' names are kept: certificates rotate (otpc__daemons_reload_tls). */
static int make_tls(daemon_t *d, otpc__derr_t *e)
{
    if (!d->o.tls)
        return 0;
    const char *files[3] = {d->o.certfile, d->o.keyfile, d->o.cacertfile};
    for (int i = 0; i < 3; i++)
        if (files[i] && !(d->tls_files[i] = strdup(files[i])))
            return OTPC_ENOMEM;
    d->tls = tls_ctx(d, e->detail, sizeof e->detail);
    if (d->tls)
        return 0;
    snprintf(e->kind, sizeof e->kind, "tls");
    return OTPC_EINVAL;
}

int otpc__daemons_reload_tls(otpc_node_t *n, char *err, size_t cap)
{
    int rc = 0;
    err[0] = 0;
    for (uint32_t i = 0; i < n->nprocs_cap; i++) {
        otpc_proc_t *p = n->procs[i];
        daemon_t *d = p && p->ops == &daemon_ops ? otpc_proc_data(p) : NULL;
        if (!d || !d->tls)
            continue;
        char why[200];
        otpc__tls_ctx_t *fresh = tls_ctx(d, why, sizeof why);
        if (!fresh) {
            /* the others still get theirs; this one keeps the files it had */
            OTPC__LOG_ERROR("daemon", "TLS daemon on port %u keeps its certificates: %s", d->port,
                            why);
            snprintf(err, cap, "daemon on port %u: %s", d->port, why);
            rc = OTPC_EINVAL;
            continue;
        }
        /* sessions in progress hold their own reference to the old context */
        otpc__tls_ctx_free(d->tls);
        d->tls = fresh;
        OTPC__LOG_NOTICE("daemon", "TLS daemon on port %u: certificates re-read", d->port);
    }
    return rc;
}

/* Copies of the pg options, checked. */
static int pg_opts(daemon_t *d, const otpc_daemon_opts_t *o, otpc__derr_t *e)
{
    const char *bad = NULL;
    if (otpc__check_term(o->pg_group))
        bad = "pg_group";
    else if (o->pg_scope && (!*o->pg_scope || strlen(o->pg_scope) >= sizeof d->pg_scope))
        bad = "pg_scope";
    if (bad) {
        snprintf(e->kind, sizeof e->kind, "badopt");
        snprintf(e->detail, sizeof e->detail, "%s", bad);
        return OTPC_EINVAL;
    }
    if (o->pg_scope)
        strcpy(d->pg_scope, o->pg_scope);
    return otpc__buf_append(&d->pg_group, o->pg_group.data, o->pg_group.size);
}

int otpc__daemon_start(otpc_node_t *n, const otpc_gen_server_t *mod, otpc_term_t arg,
                       const otpc_daemon_opts_t *opts, const otpc_pid_t *owner, otpc_pid_t *out,
                       otpc__derr_t *e)
{
    memset(e, 0, sizeof *e);
    if (!mod || !opts)
        return OTPC_EINVAL;
    daemon_t *d = calloc(1, sizeof *d);
    otpc__dbudget_t *budget = calloc(1, sizeof *budget);
    if (!d || !budget || ei_x_new(&d->x)) {
        free(d);
        free(budget);
        return OTPC_ENOMEM;
    }
    budget->refs = 1;
    budget->limit = opts->max_input ? opts->max_input : DEFAULT_MAX_INPUT;
    d->budget = budget;
    d->n = n;
    d->lfd = -1;
    d->mod = mod;
    d->o = *opts;
    if (!d->o.max_frame)
        d->o.max_frame = DEFAULT_MAX_FRAME;
    if (!d->o.handshake_timeout)
        d->o.handshake_timeout = DEFAULT_HANDSHAKE_MS;
    if (!d->o.grace)
        d->o.grace = DEFAULT_GRACE_MS;
    if (owner) {
        d->has_owner = 1;
        d->owner = *owner;
    }
    static const char nil[] = {(char)ERL_VERSION_MAGIC, ERL_NIL_EXT};
    if (!arg.data || !arg.size)
        arg = TERM(nil);
    int rc = otpc__check_term(arg);
    if (!rc)
        rc = otpc__buf_append(&d->arg, arg.data, arg.size);
    if (!rc && opts->pg_group.size)
        rc = pg_opts(d, opts, e);
    if (!rc)
        rc = make_tls(d, e);
    if (!rc)
        rc = open_listener(d, e);
    /* the caller's strings are not kept: they were needed only until here */
    d->o.ip = d->o.certfile = d->o.keyfile = d->o.cacertfile = d->o.pg_scope = NULL;
    d->o.pg_group = (otpc_term_t){NULL, 0};
    if (rc)
        goto fail;
    rc = otpc__spawn_sys(n, &daemon_ops, d, out);
    if (rc)
        goto fail;
    OTPC__LOG_INFO("daemon", "%s daemon of %s listening on port %u", d->tls ? "TLS" : "TCP",
                   mod->name, d->port);
    return 0;
fail:
    free_daemon(d);
    return rc;
}

int otpc_daemon_start(otpc_node_t *node, const otpc_gen_server_t *mod, otpc_term_t arg,
                      const otpc_daemon_opts_t *opts, const otpc_pid_t *owner, otpc_pid_t *out,
                      char *err, size_t errcap)
{
    OTPC__ENTER(node);
    otpc__derr_t e;
    otpc_daemon_opts_t none = {0};
    int rc = otpc__daemon_start(node, mod, arg, opts ? opts : &none, owner, out, &e);
    if (rc && err && errcap)
        snprintf(err, errcap, "%s%s%s", e.kind[0] ? e.kind : otpc_strerror(rc),
                 e.detail[0] ? ": " : "", e.detail);
    return rc;
}

static daemon_t *find(otpc_node_t *n, const otpc_pid_t *pid)
{
    otpc_proc_t *p = otpc__proc_lookup(n, pid);
    return p && p->ops == &daemon_ops ? otpc_proc_data(p) : NULL;
}

int otpc_daemon_port(otpc_node_t *node, const otpc_pid_t *daemon, uint16_t *port)
{
    OTPC__ENTER(node);
    daemon_t *d = find(node, daemon);
    if (!d)
        return OTPC_ENOPROC;
    *port = d->port;
    return 0;
}

int otpc_daemon_stop(otpc_node_t *node, const otpc_pid_t *daemon)
{
    OTPC__ENTER(node);
    daemon_t *d = find(node, daemon);
    if (!d)
        return OTPC_ENOPROC;
    return otpc__send_local(node, daemon, daemon, T_STOP, sizeof T_STOP);
}
