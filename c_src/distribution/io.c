/*
 * The I/O thread's own work: its loop and command queue, the distribution listener,
 * the epmd registration, and outgoing connections (resolve the host off the loop via
 * libuv's thread pool, ask the peer's epmd for its port, connect). See io.h.
 *
 * Invariants: only this thread runs `loop`; every asynchronous step that refers to a
 * connection holds a reference to it and checks C_CLOSING when it completes; startup
 * reports exactly one of OTPC__EV_READY or OTPC__EV_FATAL.
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

/* ---- epmd registration ----------------------------------------------------------- */

static void epmd_closed(uv_handle_t *h)
{
    otpc__io_t *io = h->data;
    io->epmd_open = 0;
    otpc__buf_reset(&io->epmd_buf);
    if (io->stopping)
        return;
    /* Lost epmd (restarted?), or still waiting for it to come up: try again. */
    uv_timer_start(&io->epmd_timer, (uv_timer_cb)epmd_register, EPMD_RETRY_MS, 0);
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
            fatal(io, "epmd closed the connection during registration");
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
        fatal(io, why);
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
    /* Like erl, start epmd when nobody runs it; it daemonizes, so the child exits. */
    static uv_process_t proc;
    static char prog[] = "epmd", daemon_flag[] = "-daemon";
    char *args[] = {prog, daemon_flag, NULL};
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
        if (io->epmd_tries == 1)
            spawn_epmd(io);
        if (io->epmd_tries >= EPMD_TRIES && io->ready != 1)
            fatal(io, "cannot reach epmd on 127.0.0.1:4369");
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
    if (io->stopping || io->epmd_open)
        return;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", OTPC__EPMD_PORT, &a);
    uv_tcp_init(&io->loop, &io->epmd);
    io->epmd.data = io;
    io->epmd_open = 1;
    io->epmd_tries++;
    io->epmd_creq.data = io;
    if (uv_tcp_connect(&io->epmd_creq, &io->epmd, (struct sockaddr *)&a, epmd_connected) < 0)
        epmd_drop(io);
}

/* ---- outgoing connections --------------------------------------------------------- */

typedef struct {
    otpc__conn_t *conn;
    uv_getaddrinfo_t gai;
    uv_tcp_t tcp; /* to the peer host's epmd */
    uv_connect_t creq;
    uv_write_t wreq;
    otpc__buf_t buf;
    struct sockaddr_in addr;
} lookup_t;

static void lookup_free(uv_handle_t *h)
{
    lookup_t *l = h->data;
    otpc__conn_unref(l->conn);
    otpc__buf_free(&l->buf);
    free(l);
}

static void lookup_end(lookup_t *l, const char *fail_reason)
{
    if (fail_reason)
        otpc__conn_close(l->conn, fail_reason);
    uv_close((uv_handle_t *)&l->tcp, lookup_free);
}

static void peer_connected(uv_connect_t *req, int status)
{
    otpc__conn_t *c = req->data;
    free(req);
    if (c->state != C_CLOSING) {
        if (status < 0) {
            char why[128];
            snprintf(why, sizeof why, "connect failed: %s", uv_strerror(status));
            otpc__conn_close(c, why);
        } else {
            otpc__conn_start(c);
        }
    }
    otpc__conn_unref(c);
}

static void lookup_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)hint;
    lookup_t *l = h->data;
    otpc__buf_reserve(&l->buf, 512);
    b->base = l->buf.data + l->buf.len;
    b->len = l->buf.cap - l->buf.len;
}

static void lookup_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    lookup_t *l = s->data;
    otpc__conn_t *c = l->conn;
    uint16_t port = 0, highest = 0;
    if (c->state == C_CLOSING)
        return lookup_end(l, NULL);
    if (n < 0)
        return lookup_end(l, "the peer's epmd closed without answering");
    l->buf.len += (size_t)n;
    int r = otpc__epmd_port_resp(l->buf.data, l->buf.len, &port, &highest);
    if (r == 0)
        return;
    uv_read_stop(s);
    if (r < 0)
        return lookup_end(l, "malformed answer from the peer's epmd");
    if (port == 0)
        return lookup_end(l, "node is not registered with epmd on its host");
    if (highest < 6)
        return lookup_end(l, "peer supports only handshake version 5 (pre OTP 23)");
    uv_connect_t *creq = malloc(sizeof *creq);
    if (!creq)
        return lookup_end(l, "out of memory");
    l->addr.sin_port = htons(port);
    c->state = C_CONNECTING;
    creq->data = c;
    otpc__conn_ref(c);
    int rc = uv_tcp_connect(creq, &c->tcp, (struct sockaddr *)&l->addr, peer_connected);
    if (rc < 0) {
        free(creq);
        otpc__conn_unref(c);
        return lookup_end(l, uv_strerror(rc));
    }
    lookup_end(l, NULL);
}

static void lookup_connected(uv_connect_t *req, int status)
{
    lookup_t *l = req->data;
    if (l->conn->state == C_CLOSING)
        return lookup_end(l, NULL);
    if (status < 0)
        return lookup_end(l, "cannot reach epmd on the peer's host");
    otpc__buf_t q = {0};
    const char *name = l->conn->peer;
    char alive[OTPC__NODE_NAME_MAX + 1];
    snprintf(alive, sizeof alive, "%.*s", (int)(strchr(name, '@') - name), name);
    if (otpc__epmd_port_req(&q, alive)) {
        otpc__buf_free(&q);
        return lookup_end(l, "bad node name");
    }
    otpc__buf_swap(&l->buf, &q);
    otpc__buf_free(&q);
    uv_buf_t b = uv_buf_init(l->buf.data, (unsigned)l->buf.len);
    l->buf.len = 0; /* the reply is read into the same storage after the write */
    l->wreq.data = l;
    if (uv_write(&l->wreq, (uv_stream_t *)&l->tcp, &b, 1, NULL) < 0 ||
        uv_read_start((uv_stream_t *)&l->tcp, lookup_alloc, lookup_read) < 0)
        lookup_end(l, "cannot talk to the peer's epmd");
}

static void resolved(uv_getaddrinfo_t *gai, int status, struct addrinfo *res)
{
    lookup_t *l = gai->data;
    otpc__conn_t *c = l->conn;
    if (c->state == C_CLOSING || status < 0 || !res) {
        if (res)
            uv_freeaddrinfo(res);
        return lookup_end(l, c->state == C_CLOSING ? NULL : "cannot resolve the peer's host");
    }
    memcpy(&l->addr, res->ai_addr, sizeof l->addr);
    uv_freeaddrinfo(res);
    l->addr.sin_port = htons(OTPC__EPMD_PORT);
    l->creq.data = l;
    if (uv_tcp_connect(&l->creq, &l->tcp, (struct sockaddr *)&l->addr, lookup_connected) < 0)
        lookup_end(l, "cannot reach epmd on the peer's host");
}

static void connect_to(otpc__io_t *io, const char *node)
{
    if (otpc__io_find(io, node, NULL))
        return; /* under way or up: its OTPC__EV_UP / OTPC__EV_FAILED will answer */
    const char *at = strchr(node, '@');
    if (!at || !at[1] || strlen(node) > OTPC__NODE_NAME_MAX) {
        otpc__io_failed(io, node, "not a node name");
        return;
    }
    otpc__conn_t *c = otpc__conn_new(io, 1, node);
    lookup_t *l = c ? calloc(1, sizeof *l) : NULL;
    if (!l) {
        if (c)
            otpc__conn_close(c, "out of memory");
        return;
    }
    OTPC__LOG_DEBUG("dist", "connecting to %s", node);
    l->conn = c;
    otpc__conn_ref(c);
    uv_tcp_init(&io->loop, &l->tcp);
    l->tcp.data = l;
    l->gai.data = l;
    struct addrinfo hints = {0};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (uv_getaddrinfo(&io->loop, &l->gai, resolved, at + 1, NULL, &hints) < 0)
        lookup_end(l, "cannot resolve the peer's host");
}

/* ---- simultaneous connects ------------------------------------------------------ */

typedef struct {
    uv_timer_t timer;
    char peer[OTPC__NODE_NAME_MAX + 1];
} await_t;

static void await_closed(uv_handle_t *h)
{
    free(h->data);
}

static void await_done(uv_timer_t *t)
{
    await_t *w = t->data;
    otpc__io_t *io = t->loop->data;
    otpc__conn_t *c = otpc__io_find(io, w->peer, NULL);
    if (!c && !io->stopping) {
        otpc__io_failed(io, w->peer, "the peer did not connect back after nok");
    }
    uv_close((uv_handle_t *)t, await_closed);
}

void otpc__io_await_peer(otpc__io_t *io, const char *peer)
{
    await_t *w = calloc(1, sizeof *w);
    if (!w)
        return;
    snprintf(w->peer, sizeof w->peer, "%s", peer);
    uv_timer_init(&io->loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, await_done, 7000, 0);
    uv_unref((uv_handle_t *)&w->timer); /* never what keeps a stopping node alive */
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
                connect_to(io, node);
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

int otpc__io_start(otpc__io_t **out, const otpc__io_cfg_t *cfg)
{
    otpc__io_t *io = calloc(1, sizeof *io);
    if (!io)
        return OTPC_ENOMEM;
    io->cfg = *cfg;
    io->flags = OTPC__DF_OURS | (cfg->published ? OTPC__DF_PUBLISHED : 0);
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
    struct sockaddr_in a;
    uv_ip4_addr("0.0.0.0", cfg->port, &a);
    if ((rc = uv_tcp_bind(&io->listener, (struct sockaddr *)&a, 0)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&io->listener, 128, on_connection)) < 0) {
        OTPC__LOG_ERROR("dist", "cannot listen on port %u: %s", cfg->port, uv_strerror(rc));
        goto fail_handles;
    }
    struct sockaddr_in bound;
    int blen = sizeof bound;
    uv_tcp_getsockname(&io->listener, (struct sockaddr *)&bound, &blen);
    io->port = ntohs(bound.sin_port);
    OTPC__LOG_INFO("dist", "listening on port %u", io->port);
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
