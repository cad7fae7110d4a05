/*
 * The I/O thread's own work: its loop and command queue, the distribution listener and
 * the epmd registration (outgoing connections: dial.c). See io.h.
 *
 * Addressing follows erl's inet_tcp / inet6_tcp: one family for everything (the
 * listener on 0.0.0.0 or ::, epmd at 127.0.0.1 or ::1, peers' hosts resolved to that
 * family only, a host naming this machine falling back to the loopback as inet does).
 * With erl_epmd_port, as erl_epmd's listen_port_please/port_please: listen on that
 * port and dial every peer at it without asking its epmd; registering is still tried
 * and a failure only logged (net_kernel's creation -1: a random one).
 *
 * Invariants: only this thread runs `loop`; every asynchronous step that refers to a
 * connection holds a reference to it and checks C_CLOSING when it completes; startup
 * reports exactly one of OTPC__EV_READY or OTPC__EV_FATAL; once registration has
 * been given up (epmd_off) nothing contacts epmd again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/epmd.h"
#include "proto/flags.h"
#include "distribution/io_int.h"
#include "otpc.h"
#include "util/log.h"

#define EPMD_RETRY_MS 300
#define EPMD_TRIES 20

static void epmd_register(otpc__io_t *io);

static void fatal(otpc__io_t *io, const char *why)
{
    if (io->ready)
        return;
    io->ready = -1;
    otpc__mq_push(io->cfg.events, OTPC__EV_FATAL, NULL, 0, why, (uint32_t)strlen(why));
}

/* ---- addresses ----------------------------------------------------------------------- */

void otpc__addr_set_port(otpc__addr_t *a, uint16_t port)
{
    if (a->sa.sa_family == AF_INET6)
        a->in6.sin6_port = htons(port);
    else
        a->in.sin_port = htons(port);
}

static uint16_t addr_port(const otpc__addr_t *a)
{
    return ntohs(a->sa.sa_family == AF_INET6 ? a->in6.sin6_port : a->in.sin_port);
}

/* An IPv4 or IPv6 literal (the latter has a colon). */
static int addr_parse(const char *ip, uint16_t port, otpc__addr_t *a)
{
    memset(a, 0, sizeof *a);
    if (strchr(ip, ':'))
        return uv_ip6_addr(ip, port, &a->in6);
    return uv_ip4_addr(ip, port, &a->in);
}

/* This machine, in the distribution's family: where epmd is asked to register us. */
void otpc__addr_loopback(const otpc__io_t *io, uint16_t port, otpc__addr_t *a)
{
    addr_parse(io->cfg.inet6 ? "::1" : "127.0.0.1", port, a);
}

/* ---- registration given up or skipped ------------------------------------------------ */

/* Ready without epmd's creation: a random one of 32 bits, never 0 to 3, as net_kernel
 * makes when erl_epmd answers {ok, -1}. Nothing contacts epmd afterwards. */
static void ready_without_epmd(otpc__io_t *io, const char *why)
{
    uint32_t c;
    io->epmd_off = 1;
    if (io->ready)
        return;
    if (uv_random(NULL, NULL, &c, sizeof c, 0, NULL) != 0) {
        fatal(io, "no random bytes for the node's creation");
        return;
    }
    if (c < 4)
        c += 4;
    io->creation = c;
    io->ready = 1;
    OTPC__LOG_NOTICE("epmd", "%s; %s listening on port %u (creation %u)", why, io->cfg.node_name,
                     io->port, c);
    otpc__mq_push(io->cfg.events, OTPC__EV_READY, NULL, c, NULL, 0);
}

/* Registration failed before the node was ready: the end of the start, unless peers
 * find us at erl_epmd_port anyway (erl_epmd's {ok, -1}). Later failures (a lost epmd)
 * only mean registering again. */
static void register_failed(otpc__io_t *io, const char *why)
{
    if (io->ready)
        return;
    if (!io->cfg.erl_epmd_port) {
        fatal(io, why);
        return;
    }
    char msg[400];
    snprintf(msg, sizeof msg, "not registered with epmd (%s)", why);
    ready_without_epmd(io, msg);
}

/* ---- epmd registration ----------------------------------------------------------- */

/* A timer callback gets its timer, not the io (a cast of epmd_register crashed here). */
static void epmd_retry(uv_timer_t *t)
{
    epmd_register(t->data);
}

static void epmd_closed(uv_handle_t *h)
{
    otpc__io_t *io = h->data;
    io->epmd_open = 0;
    otpc__buf_reset(&io->epmd_buf);
    if (io->stopping || io->epmd_off || io->ready < 0)
        return;
    /* Lost epmd (restarted?), or still waiting for it to come up: try again. */
    uv_timer_start(&io->epmd_timer, epmd_retry, EPMD_RETRY_MS, 0);
}

static void epmd_drop(otpc__io_t *io)
{
    if (io->epmd_open == 1) {
        io->epmd_open = 2;
        uv_close((uv_handle_t *)&io->epmd, epmd_closed);
    }
}

static void epmd_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)hint;
    otpc__io_t *io = h->data;
    otpc__buf_reserve(&io->epmd_buf, 64);
    b->base = io->epmd_buf.data + io->epmd_buf.len;
    b->len = io->epmd_buf.cap - io->epmd_buf.len;
}

static void epmd_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    otpc__io_t *io = s->data;
    if (n < 0) {
        if (io->ready == 1)
            OTPC__LOG_WARN("epmd", "lost the epmd connection (%s); registering again",
                           uv_strerror((int)n));
        else
            register_failed(io, "epmd closed the connection during registration");
        epmd_drop(io);
        return;
    }
    io->epmd_buf.len += (size_t)n;
    int ok;
    uint32_t creation;
    int r = otpc__epmd_alive2_resp(io->epmd_buf.data, io->epmd_buf.len, &ok, &creation);
    if (r == 0)
        return; /* part of the answer: the rest comes with the next read */
    if (io->ready == 1) {
        otpc__buf_reset(&io->epmd_buf);
        if (r > 0 && ok && creation != io->creation)
            OTPC__LOG_NOTICE("epmd", "registered again (epmd creation %u, keeping %u)", creation,
                             io->creation);
        return;
    }
    if (r < 0 || !ok) {
        char why[300];
        snprintf(why, sizeof why, "epmd refused to register the name %s (already in use?)",
                 io->cfg.alive);
        register_failed(io, why);
        epmd_drop(io);
        return;
    }
    io->creation = creation;
    io->ready = 1;
    otpc__buf_reset(&io->epmd_buf);
    OTPC__LOG_INFO("epmd", "registered %s on port %u (creation %u)", io->cfg.node_name, io->port,
                   creation);
    otpc__mq_push(io->cfg.events, OTPC__EV_READY, NULL, creation, NULL, 0);
}

static void epmd_written(uv_write_t *w, int status)
{
    otpc__io_t *io = w->data;
    if (status < 0)
        epmd_drop(io);
}

static void spawn_epmd(otpc__io_t *io)
{
    /* Like erl, start epmd when nobody runs it; it daemonizes, so the child exits. It
     * listens where we look for it ($ERL_EPMD_PORT, inherited, may not have said). */
    static uv_process_t proc;
    static char prog[] = "epmd", daemon_flag[] = "-daemon", port_flag[] = "-port";
    char port[8];
    snprintf(port, sizeof port, "%u", io->cfg.epmd_port);
    char *args[] = {prog, daemon_flag, port_flag, port, NULL};
    uv_process_options_t o = {0};
    o.file = "epmd";
    o.args = args;
    o.flags = UV_PROCESS_DETACHED;
    o.exit_cb = NULL;
    int rc = uv_spawn(&io->loop, &proc, &o);
    if (rc == 0) {
        OTPC__LOG_INFO("epmd", "no epmd was running; started one");
        uv_unref((uv_handle_t *)&proc);
        uv_close((uv_handle_t *)&proc, NULL);
    } else {
        OTPC__LOG_WARN("epmd", "cannot start epmd: %s", uv_strerror(rc));
    }
}

static void epmd_connected(uv_connect_t *req, int status)
{
    otpc__io_t *io = req->data;
    if (status < 0) {
        if (io->epmd_tries == 1 && io->cfg.start_epmd)
            spawn_epmd(io);
        if (io->epmd_tries >= EPMD_TRIES || !io->cfg.start_epmd) {
            char why[120];
            snprintf(why, sizeof why, "cannot reach epmd on %s port %u (%s)",
                     io->cfg.inet6 ? "::1" : "127.0.0.1", io->cfg.epmd_port, uv_strerror(status));
            register_failed(io, why);
        }
        epmd_drop(io);
        return;
    }
    io->epmd_tries = 0;
    otpc__buf_t req_buf = {0};
    if (otpc__epmd_alive2_req(&req_buf, io->port, io->cfg.published, io->cfg.alive)) {
        fatal(io, "node name too long for epmd");
        otpc__buf_free(&req_buf);
        return;
    }
    /* The request is tiny; epmd_buf holds it until the write completes, then is reused
     * for the reply (the reply only comes after epmd has read the whole request). */
    otpc__buf_swap(&io->epmd_buf, &req_buf);
    otpc__buf_free(&req_buf);
    uv_buf_t b = uv_buf_init(io->epmd_buf.data, (unsigned)io->epmd_buf.len);
    io->epmd_wreq.data = io;
    io->epmd_buf.len = 0;
    if (uv_write(&io->epmd_wreq, (uv_stream_t *)&io->epmd, &b, 1, epmd_written) < 0 ||
        uv_read_start((uv_stream_t *)&io->epmd, epmd_alloc, epmd_read) < 0)
        epmd_drop(io);
}

static void epmd_register(otpc__io_t *io)
{
    if (io->stopping || io->epmd_open || io->epmd_off)
        return;
    otpc__addr_t a;
    otpc__addr_loopback(io, io->cfg.epmd_port, &a);
    uv_tcp_init(&io->loop, &io->epmd);
    io->epmd.data = io;
    io->epmd_open = 1;
    io->epmd_tries++;
    io->epmd_creq.data = io;
    if (uv_tcp_connect(&io->epmd_creq, &io->epmd, &a.sa, epmd_connected) < 0)
        epmd_drop(io);
}

/* ---- listener ---------------------------------------------------------------------- */

static void free_tcp(uv_handle_t *h)
{
    free(h);
}

/* Take the waiting socket and close it at once. */
static void refuse(uv_stream_t *server)
{
    uv_tcp_t *t = malloc(sizeof *t);
    if (!t || uv_tcp_init(server->loop, t)) {
        free(t);
        return;
    }
    if (uv_accept(server, (uv_stream_t *)t) < 0)
        OTPC__LOG_WARN("dist", "cannot take a connection to refuse it");
    uv_close((uv_handle_t *)t, free_tcp);
}

static void on_connection(uv_stream_t *server, int status)
{
    otpc__io_t *io = server->data;
    if (status < 0) {
        OTPC__LOG_WARN("dist", "accept failed: %s", uv_strerror(status));
        return;
    }
    otpc__conn_t *c = otpc__conn_new(io, 0, NULL);
    if (!c) {
        refuse(server); /* libuv stops accepting until the waiting socket is taken */
        return;
    }
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        otpc__conn_close(c, "accept failed");
        return;
    }
    if (io->unproven > io->cfg.max_handshakes) {
        uint64_t now = otpc__now_ms(io);
        if (!io->cap_warned_at || now - io->cap_warned_at >= 10000) {
            OTPC__LOG_WARN("dist", "more than %u handshakes in progress: refusing connections",
                           io->cfg.max_handshakes);
            io->cap_warned_at = now;
        }
        otpc__conn_close(c, "too many handshakes in progress");
        return;
    }
    otpc__conn_start(c);
}

/* ---- commands and the thread --------------------------------------------------------- */

static void close_all(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h) && h->type != UV_TCP && h->type != UV_TIMER)
        uv_close(h, NULL);
}

#define STOP_GRACE_MS 2000

static void force_close(uv_timer_t *t)
{
    otpc__io_t *io = t->data;
    for (otpc__conn_t *c = io->conns; c; c = c->next)
        otpc__conn_close(c, "node stopping");
    uv_close((uv_handle_t *)t, NULL);
}

/* Connections that are up first write what is queued (the `shutdown` exit signals of
 * the node's processes), then close; a peer that does not read gets STOP_GRACE_MS. */
static void stop(otpc__io_t *io)
{
    io->stopping = 1;
    for (otpc__conn_t *c = io->conns; c; c = c->next) {
        /* The scheduler stopped polling before it sent OTPC__CMD_STOP. */
        otpc__conn_release(c);
        if (c->state == C_UP)
            otpc__conn_close_soon(c, "node stopping");
        else
            otpc__conn_close(c, "node stopping");
    }
    uv_timer_init(&io->loop, &io->stop_timer);
    io->stop_timer.data = io;
    uv_timer_start(&io->stop_timer, force_close, STOP_GRACE_MS, 0);
    uv_unref((uv_handle_t *)&io->stop_timer);
    uv_close((uv_handle_t *)&io->listener, NULL);
    uv_close((uv_handle_t *)&io->epmd_timer, NULL);
    if (io->epmd_open == 1) {
        io->epmd_open = 2;
        uv_close((uv_handle_t *)&io->epmd, NULL);
    }
    otpc__wake_close(&io->wake);
    uv_walk(&io->loop, close_all, NULL);
}

/* ---- TLS contexts ----------------------------------------------------------------- */

typedef struct {
    otpc__tls_ctx_t *server, *client;
} tls_pair_t;

static void tls_pair_free(tls_pair_t *p)
{
    otpc__tls_ctx_free(p->server);
    otpc__tls_ctx_free(p->client);
    p->server = p->client = NULL;
}

/* Both contexts from the files, or neither (reason in err). */
static int tls_load(const otpc__io_cfg_t *cfg, tls_pair_t *p, char *err, size_t cap)
{
    char why[200];
    p->server = p->client = NULL;
    if (!(p->server = otpc__tls_ctx_new(cfg->tls_server, why, sizeof why))) {
        snprintf(err, cap, "TLS distribution, server side: %s", why);
        return OTPC_EINVAL;
    }
    if (!(p->client = otpc__tls_ctx_new(cfg->tls_client, why, sizeof why))) {
        snprintf(err, cap, "TLS distribution, client side: %s", why);
        tls_pair_free(p);
        return OTPC_EINVAL;
    }
    return 0;
}

/* I/O thread: connections made from now on use the new contexts; each one in
 * progress or up holds a reference to the context it was made from. */
static void swap_tls(otpc__io_t *io, tls_pair_t *p)
{
    tls_pair_t old = {io->tls_server, io->tls_client};
    io->tls_server = p->server;
    io->tls_client = p->client;
    tls_pair_free(&old);
    free(p);
    OTPC__LOG_NOTICE("dist", "TLS certificates and keys re-read");
}

int otpc__io_reload_tls(otpc__io_t *io, char *err, size_t cap)
{
    if (!io->cfg.tls_server) {
        snprintf(err, cap, "distribution does not use TLS");
        return OTPC_EINVAL;
    }
    tls_pair_t *p = calloc(1, sizeof *p);
    if (!p)
        return OTPC_ENOMEM;
    int rc = tls_load(&io->cfg, p, err, cap);
    if (rc) {
        OTPC__LOG_ERROR("dist", "%s (the current certificates stay)", err);
        free(p);
        return rc;
    }
    otpc__mq_push(&io->cmds, OTPC__CMD_RELOAD_TLS, p, 0, NULL, 0);
    return 0;
}

static void on_commands(otpc__wake_t *w)
{
    otpc__io_t *io = w->data;
    const otpc__rec_t *r;
    const char *d;
    otpc__mq_take(&io->cmds);
    while ((r = otpc__mq_next(&io->cmds, &d)) != NULL) {
        otpc__conn_t *c = r->ptr;
        switch (r->type) {
        case OTPC__CMD_CONNECT: {
            char node[OTPC__NODE_NAME_MAX + 1];
            snprintf(node, sizeof node, "%.*s", (int)r->len, d);
            if (!io->stopping)
                otpc__io_connect(io, node);
            break;
        }
        case OTPC__CMD_WRITE:
            otpc__conn_flush(c);
            otpc__conn_unref(c);
            break;
        case OTPC__CMD_RELEASE:
            otpc__conn_release(c);
            otpc__conn_unref(c);
            break;
        case OTPC__CMD_CLOSE: {
            char why[200];
            snprintf(why, sizeof why, "%.*s", (int)r->len, d);
            otpc__conn_close(c, why);
            otpc__conn_unref(c);
            break;
        }
        case OTPC__CMD_STOP:
            stop(io);
            break;
        case OTPC__CMD_RELOAD_TLS:
            swap_tls(io, r->ptr);
            break;
        }
    }
}

static void run(void *arg)
{
    otpc__io_t *io = arg;
    if (io->cfg.no_epmd)
        ready_without_epmd(io, "not registering with epmd (no_epmd)");
    else
        epmd_register(io);
    uv_run(&io->loop, UV_RUN_DEFAULT);
}

void otpc__io_failed(otpc__io_t *io, const char *node, const char *reason)
{
    /* "node\0reason\0": both NUL-terminated, whatever their lengths */
    char msg[OTPC__NODE_NAME_MAX + 400];
    size_t nl = strnlen(node, OTPC__NODE_NAME_MAX);
    size_t rl = strnlen(reason, sizeof msg - nl - 2);
    memcpy(msg, node, nl);
    msg[nl] = 0;
    memcpy(msg + nl + 1, reason, rl);
    msg[nl + 1 + rl] = 0;
    otpc__mq_push(io->cfg.events, OTPC__EV_FAILED, NULL, 0, msg, (uint32_t)(nl + rl + 2));
}

void otpc__io_command(otpc__io_t *io, uint32_t cmd, otpc__conn_t *conn, const char *data,
                      uint32_t len)
{
    otpc__mq_push(&io->cmds, cmd, conn, 0, data, len);
}

/* The listener: on every address of the family (a dual-stack :: for IPv6, as erl's
 * inet6_tcp), or on dist_ip; at erl_epmd_port if set, else at `port` (0: any). */
static int listen_on(otpc__io_t *io)
{
    const otpc__io_cfg_t *cfg = &io->cfg;
    uint16_t port = cfg->erl_epmd_port ? cfg->erl_epmd_port : cfg->port;
    const char *ip = cfg->dist_ip ? cfg->dist_ip : cfg->inet6 ? "::" : "0.0.0.0";
    otpc__addr_t a;
    int rc = addr_parse(ip, port, &a);
    if (rc < 0) {
        OTPC__LOG_ERROR("dist", "cannot listen on %s: not an IP address", ip);
        return rc;
    }
    if ((rc = uv_tcp_bind(&io->listener, &a.sa, 0)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&io->listener, 128, on_connection)) < 0) {
        OTPC__LOG_ERROR("dist", "cannot listen on %s port %u: %s", ip, port, uv_strerror(rc));
        return rc;
    }
    int alen = sizeof a;
    uv_tcp_getsockname(&io->listener, &a.sa, &alen);
    io->port = addr_port(&a);
    OTPC__LOG_INFO("dist", "listening on %s port %u", ip, io->port);
    return 0;
}

int otpc__io_start(otpc__io_t **out, const otpc__io_cfg_t *cfg)
{
    otpc__io_t *io = calloc(1, sizeof *io);
    if (!io)
        return OTPC_ENOMEM;
    io->cfg = *cfg;
    io->flags = OTPC__DF_OURS | (cfg->published ? OTPC__DF_PUBLISHED : 0);
    if (cfg->no_atom_cache)
        io->flags &= ~OTPC__DF_DIST_HDR_ATOM_CACHE;
    tls_pair_t tls = {0};
    char why[300];
    if (cfg->tls_server && tls_load(cfg, &tls, why, sizeof why)) {
        OTPC__LOG_ERROR("dist", "%s", why);
        free(io);
        return OTPC_EINVAL;
    }
    io->tls_server = tls.server;
    io->tls_client = tls.client;
    int rc = uv_loop_init(&io->loop);
    if (rc < 0)
        goto fail_free;
    io->loop.data = io;
    io->wake.data = io;
    if (otpc__wake_init(&io->wake, &io->loop, on_commands))
        goto fail_loop;
    if (otpc__mq_init(&io->cmds, &io->wake)) {
        otpc__wake_close(&io->wake);
        uv_run(&io->loop, UV_RUN_DEFAULT);
        goto fail_loop;
    }
    uv_timer_init(&io->loop, &io->epmd_timer);
    io->epmd_timer.data = io;
    uv_tcp_init(&io->loop, &io->listener);
    io->listener.data = io;
    if ((rc = listen_on(io)) < 0)
        goto fail_handles;
    if (uv_thread_create(&io->thread, run, io))
        goto fail_handles;
    *out = io;
    return 0;

fail_handles:
    otpc__wake_close(&io->wake);
    uv_walk(&io->loop, close_all, NULL);
    uv_close((uv_handle_t *)&io->listener, NULL);
    uv_close((uv_handle_t *)&io->epmd_timer, NULL);
    uv_run(&io->loop, UV_RUN_DEFAULT);
    otpc__mq_destroy(&io->cmds);
fail_loop:
    uv_loop_close(&io->loop);
fail_free:
    tls_pair_free(&tls);
    free(io);
    return OTPC_EIO;
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void otpc__io_join(otpc__io_t *io)
{
    uv_thread_join(&io->thread);
    /* What is left is unreferenced (the stop grace timer): close it here. */
    uv_walk(&io->loop, close_any, NULL);
    uv_run(&io->loop, UV_RUN_DEFAULT);
    uv_loop_close(&io->loop);
    otpc__mq_destroy(&io->cmds);
    otpc__buf_free(&io->epmd_buf);
    otpc__tls_ctx_free(io->tls_server);
    otpc__tls_ctx_free(io->tls_client);
    free(io);
}
