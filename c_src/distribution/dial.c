/*
 * Outgoing connections and crossing ones, on the I/O thread: resolve the peer's host
 * off the loop (libuv's thread pool), ask its epmd for the port (or take
 * erl_epmd_port's, as erl_epmd's port_please does), connect, and hand the socket to a
 * connection (conn.c) for the handshake. A host naming this machine that does not
 * resolve in the distribution's family falls back to the loopback, as erl's inet does.
 *
 * Invariants: every asynchronous step holds a reference to its connection and checks
 * C_CLOSING when it completes; a failed attempt reports OTPC__EV_FAILED once (through
 * the connection's close, or otpc__io_failed before one exists).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "proto/epmd.h"
#include "distribution/io_int.h"
#include "otpc.h"
#include "util/log.h"

/* ---- outgoing connections --------------------------------------------------------- */

typedef struct {
    otpc__conn_t *conn;
    uv_getaddrinfo_t gai;
    uv_tcp_t tcp; /* to the peer host's epmd */
    uv_connect_t creq;
    uv_write_t wreq;
    otpc__buf_t buf;
    otpc__addr_t addr;
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

/* Connect to the peer itself at `port` of its address; the lookup ends either way. */
static void dial(lookup_t *l, uint16_t port)
{
    otpc__conn_t *c = l->conn;
    uv_connect_t *creq = malloc(sizeof *creq);
    if (!creq)
        return lookup_end(l, "out of memory");
    otpc__addr_set_port(&l->addr, port);
    c->state = C_CONNECTING;
    creq->data = c;
    otpc__conn_ref(c);
    int rc = uv_tcp_connect(creq, &c->tcp, &l->addr.sa, peer_connected);
    if (rc < 0) {
        free(creq);
        otpc__conn_unref(c);
        return lookup_end(l, uv_strerror(rc));
    }
    lookup_end(l, NULL);
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
    dial(l, port);
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

/* inet's last resort (gethostbyname_self): this machine's own host name means the
 * loopback, even when the resolver has no address of that family for it (Debian's
 * /etc/hosts names the host on 127.0.0.1 only, so an IPv6 lookup fails). */
static int is_own_host(const char *host)
{
    char self[256];
    if (gethostname(self, sizeof self) != 0)
        return 0;
    self[sizeof self - 1] = 0;
    return strcasecmp(host, self) == 0;
}

static void resolved(uv_getaddrinfo_t *gai, int status, struct addrinfo *res)
{
    lookup_t *l = gai->data;
    otpc__conn_t *c = l->conn;
    otpc__io_t *io = c->io;
    const char *host = strchr(c->peer, '@') + 1;
    if (c->state == C_CLOSING) {
        uv_freeaddrinfo(res);
        return lookup_end(l, NULL);
    }
    int found = status == 0 && res && res->ai_addrlen <= sizeof l->addr;
    if (found)
        memcpy(&l->addr, res->ai_addr, res->ai_addrlen);
    uv_freeaddrinfo(res);
    if (!found && !is_own_host(host)) {
        char why[200];
        snprintf(why, sizeof why, "cannot resolve the peer's host to an %s address: %s",
                 io->cfg.inet6 ? "IPv6" : "IPv4", uv_strerror(status < 0 ? status : UV_EAI_NONAME));
        return lookup_end(l, why);
    }
    if (!found)
        otpc__addr_loopback(io, 0, &l->addr);
    if (io->cfg.erl_epmd_port) /* every peer listens there: no question to its epmd */
        return dial(l, io->cfg.erl_epmd_port);
    otpc__addr_set_port(&l->addr, io->cfg.epmd_port);
    l->creq.data = l;
    if (uv_tcp_connect(&l->creq, &l->tcp, &l->addr.sa, lookup_connected) < 0)
        lookup_end(l, "cannot reach epmd on the peer's host");
}

void otpc__io_connect(otpc__io_t *io, const char *node)
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
    hints.ai_family = io->cfg.inet6 ? AF_INET6 : AF_INET;
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
