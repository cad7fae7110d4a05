/*
 * One distribution connection, on the I/O thread: reassembly, handshake, packets,
 * ticks, batched writes and the single close path (its TLS half: conn_tls.c).
 *
 * Invariants:
 *  - The I/O thread holds one reference from creation until both uv handles are
 *    closed; the scheduler holds one from OTPC__EV_UP until it has processed OTPC__EV_DOWN; each
 *    queued command holds one. Memory is freed by whoever drops the last.
 *  - otpc__conn_close() is the only way out; it runs once, and reports OTPC__EV_DOWN (if the
 *    connection was up) or OTPC__EV_FAILED (if it had a peer name and was not superseded).
 *  - Output is written straight from the appending thread (usually the scheduler, at
 *    the end of its turn) while the I/O thread owns no bytes of this connection; what
 *    the socket does not take at once goes to out_shared, and from then until the I/O
 *    thread has written everything (io_owns), all output queues behind it. So bytes
 *    never interleave, and the I/O thread is woken only when the socket pushes back.
 *  - A tick is written only when nothing else was written for a quarter of
 *    net_ticktime; a peer silent for a whole net_ticktime is disconnected.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "proto/framing.h"
#include "distribution/io_int.h"
#include "otpc.h"
#include "util/assert.h"
#include "util/log.h"

#define SETUP_TIMEOUT_MS 7000 /* erl's net_setuptime */
/* Until a peer has proved the cookie it gets a small buffer (OTPC__HS_READ): handshake
 * messages are at most 19 bytes plus a 255-byte name, so nothing legitimate needs more. */
#define HS_MSG_MAX 1024

static void on_tick(uv_timer_t *t);

/* A monotonic clock both threads read alike (the scheduler stamps last_rx). */
uint64_t otpc__now_ms(otpc__io_t *io)
{
    (void)io;
    return uv_hrtime() / 1000000u;
}

/* ---- references ---------------------------------------------------------------- */

void otpc__conn_ref(otpc__conn_t *c)
{
    atomic_fetch_add(&c->refs, 1);
}

void otpc__conn_unref(otpc__conn_t *c)
{
    int was = atomic_fetch_sub(&c->refs, 1);
    OTPC__ASSERT(was > 0);
    if (was != 1)
        return;
    uv_mutex_destroy(&c->out_lock);
    otpc__buf_free(&c->rbuf);
    otpc__buf_free(&c->out_shared);
    otpc__buf_free(&c->out_wr);
    otpc__buf_free(&c->sealed);
    otpc__tls_free(c->tls);
    free(c);
}

const char *otpc__conn_peer(const otpc__conn_t *c)
{
    return c->peer;
}

otpc__conn_t *otpc__io_find(otpc__io_t *io, const char *peer, const otpc__conn_t *except)
{
    for (otpc__conn_t *c = io->conns; c; c = c->next)
        if (c != except && c->state != C_CLOSING && c->peer[0] && strcmp(c->peer, peer) == 0)
            return c;
    return NULL;
}

/* ---- output -------------------------------------------------------------------- */

/* Non-blocking write of as much as the socket takes now; errors are left for the I/O
 * thread's own write to find and report. */
static size_t write_now(int fd, const otpc__buf_t *data)
{
    size_t done = 0;
    while (done < data->len) {
        ssize_t n = send(fd, data->data + done, data->len - done, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0)
            done += (size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else
            break;
    }
    return done;
}

size_t otpc__conn_queued(otpc__conn_t *c)
{
    return atomic_load(&c->queued);
}

/* Both sides follow the same order (store one flag, then read the other's), so either
 * the scheduler sees the drained count or the I/O thread sees the request. */
int otpc__conn_want_drain(otpc__conn_t *c, size_t below)
{
    if (below > c->io->cfg.busy_limit)
        below = c->io->cfg.busy_limit;
    atomic_store(&c->drain_below, below);
    atomic_store(&c->want_drain, 1);
    if (atomic_load(&c->queued) >= below)
        return 0;
    atomic_store(&c->want_drain, 0);
    return 1;
}

/* I/O thread, after a write finished: tell the scheduler if it is waiting for this. */
static void maybe_drained(otpc__conn_t *c)
{
    if (c->state == C_CLOSING)
        return; /* OTPC__EV_DOWN went first: the scheduler may have let go of c */
    if (!atomic_load(&c->want_drain) || atomic_load(&c->queued) >= atomic_load(&c->drain_below) ||
        !atomic_exchange(&c->want_drain, 0))
        return;
    otpc__mq_push(c->io->cfg.events, OTPC__EV_DRAINED, c, 0, NULL, 0);
}

/* Bytes for the socket, under out_lock: written at once while the I/O thread owns
 * none, else queued behind what it owns. `data` is left empty. Returns 1 when the I/O
 * thread must be told (OTPC__CMD_WRITE). */
static int append_raw(otpc__conn_t *c, otpc__buf_t *data)
{
    int poke = 0;
    if (c->out_dead || !data->len) {
        data->len = 0;
    } else if (!c->io_owns) {
        /* The common case: straight to the socket, no hand-over, no wake-up. */
        size_t done = c->fd >= 0 ? write_now(c->fd, data) : 0;
        if (done < data->len) {
            otpc__buf_consume(data, done);
            otpc__buf_swap(&c->out_shared, data); /* no copy */
            atomic_store(&c->queued, c->out_shared.len);
            c->io_owns = 1;
            poke = 1;
        }
        data->len = 0;
    } else if (otpc__buf_append(&c->out_shared, data->data, data->len) == 0) {
        atomic_store(&c->queued, atomic_load(&c->queued) + data->len);
        data->len = 0;
    } else {
        data->len = 0;
        c->out_dead = 1; /* out of memory: the stream would be corrupt; close it */
        c->dead_why = "out of memory queueing output";
        poke = 1;
    }
    return poke;
}

/* What the TLS engine has for the socket (handshake records, alerts, key updates,
 * ciphertext), under out_lock (or before OTPC__EV_UP, on the I/O thread). */
int otpc__conn_append_records(otpc__conn_t *c)
{
    if (otpc__tls_take_out(c->tls, &c->sealed)) {
        c->out_dead = 1;
        c->dead_why = "out of memory queueing output";
        return 1;
    }
    int poke = append_raw(c, &c->sealed);
    otpc__buf_reset(&c->sealed); /* a 4 MiB message's ciphertext is not kept */
    return poke;
}

/* Plaintext through the TLS engine, under out_lock. */
static int append_sealed(otpc__conn_t *c, otpc__buf_t *data)
{
    if (c->out_dead) {
        data->len = 0;
        return 0;
    }
    int rc = otpc__tls_send(c->tls, data->data, data->len);
    data->len = 0;
    if (rc) {
        c->out_dead = 1;
        c->dead_why = "TLS: cannot encrypt output";
        return 1;
    }
    return otpc__conn_append_records(c);
}

int otpc__conn_append(otpc__conn_t *c, otpc__buf_t *data)
{
    uv_mutex_lock(&c->out_lock);
    int poke = c->tls ? append_sealed(c, data) : append_raw(c, data);
    uv_mutex_unlock(&c->out_lock);
    otpc__buf_reset(data);
    return poke;
}

static void on_write(uv_write_t *req, int status)
{
    otpc__conn_t *c = req->data;
    c->writing = 0;
    if (c->state == C_CLOSING) {
        otpc__buf_reset(&c->out_wr);
        return;
    }
    uv_mutex_lock(&c->out_lock);
    atomic_store(&c->queued, atomic_load(&c->queued) - c->out_wr.len);
    uv_mutex_unlock(&c->out_lock);
    otpc__buf_reset(&c->out_wr);
    if (status < 0) {
        char why[128];
        snprintf(why, sizeof why, "write failed: %s", uv_strerror(status));
        otpc__conn_close(c, why);
        return;
    }
    maybe_drained(c);
    otpc__conn_flush(c);
}

void otpc__conn_flush(otpc__conn_t *c)
{
    if (c->writing || c->state == C_CLOSING)
        return;
    uv_mutex_lock(&c->out_lock);
    int dead = c->out_dead;
    otpc__buf_swap(&c->out_shared, &c->out_wr);
    if (c->out_wr.len == 0)
        c->io_owns = 0; /* all written: appenders may write directly again */
    uv_mutex_unlock(&c->out_lock);
    if (dead && c->state != C_CLOSING) {
        otpc__conn_close(c, c->dead_why ? c->dead_why : "output failed");
        return;
    }
    if (c->out_wr.len == 0) {
        if (c->close_after_write)
            otpc__conn_close(c, c->close_reason);
        return;
    }
    uv_buf_t b = uv_buf_init(c->out_wr.data, (unsigned)c->out_wr.len);
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        otpc__conn_close(c, uv_strerror(rc));
        return;
    }
    c->writing = 1;
    c->last_tx = otpc__now_ms(c->io);
}

/* Queue bytes produced on the I/O thread itself (handshake messages, ticks). */
static void emit_local(otpc__conn_t *c, otpc__buf_t *data)
{
    otpc__conn_append(c, data);
    otpc__conn_flush(c);
}

/* Close once everything queued so far is written (refusals tell the peer why). */
void otpc__conn_close_soon(otpc__conn_t *c, const char *reason)
{
    snprintf(c->close_reason, sizeof c->close_reason, "%s", reason);
    c->close_after_write = 1;
    otpc__conn_flush(c);
}

/* ---- close --------------------------------------------------------------------- */

static void on_close(uv_handle_t *h)
{
    otpc__conn_t *c = h->data;
    if (--c->handles > 0)
        return;
    otpc__io_t *io = c->io;
    for (otpc__conn_t **pp = &io->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    otpc__conn_unref(c);
}

/* The connection no longer counts among the incoming handshakes in progress. */
static void proven_or_gone(otpc__conn_t *c)
{
    if (!c->unproven)
        return;
    c->unproven = 0;
    c->io->unproven--;
}

void otpc__conn_close(otpc__conn_t *c, const char *reason)
{
    if (c->state == C_CLOSING)
        return;
    conn_state_t was = c->state;
    c->state = C_CLOSING;
    otpc__io_t *io = c->io;
    proven_or_gone(c);
    uv_mutex_lock(&c->out_lock);
    c->out_dead = 1;
    otpc__buf_reset(&c->out_shared);
    atomic_store(&c->queued, 0);
    uv_mutex_unlock(&c->out_lock);
    if (was == C_UP) {
        OTPC__LOG_NOTICE("dist", "connection to %s closed: %s", c->peer, reason);
        otpc__mq_push(io->cfg.events, OTPC__EV_DOWN, c, 0, reason, (uint32_t)strlen(reason) + 1);
    } else if (c->peer[0] && !c->superseded) {
        OTPC__LOG_WARN("dist", "connection %s %s failed: %s", c->initiator ? "to" : "from", c->peer,
                       reason);
        otpc__io_failed(io, c->peer, reason);
    } else {
        OTPC__LOG_INFO("dist", "connection #%u closed before handshake: %s", c->id, reason);
    }
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (c->handed_over && !c->released && !io->stopping)
        c->tcp_deferred = 1; /* the scheduler may still poll the fd: OTPC__CMD_RELEASE closes */
    else
        uv_close((uv_handle_t *)&c->tcp, on_close);
    uv_close((uv_handle_t *)&c->timer, on_close);
}

void otpc__conn_release(otpc__conn_t *c)
{
    c->released = 1;
    if (c->tcp_deferred) {
        c->tcp_deferred = 0;
        uv_close((uv_handle_t *)&c->tcp, on_close);
    }
}

int otpc__conn_fd(otpc__conn_t *c)
{
    uv_mutex_lock(&c->out_lock);
    int fd = c->fd;
    uv_mutex_unlock(&c->out_lock);
    return fd;
}

void otpc__conn_touch(otpc__conn_t *c)
{
    atomic_store_explicit(&c->last_rx, otpc__now_ms(c->io), memory_order_relaxed);
}

/* ---- creation ------------------------------------------------------------------ */

static void on_setup_timeout(uv_timer_t *t)
{
    otpc__conn_close(t->data, "connection setup timed out");
}

/* The acceptor's answer to a peer's name; settles simultaneous connects. */
static const char *check_peer(void *ctx, const char *peer)
{
    otpc__conn_t *c = ctx;
    otpc__io_t *io = c->io;
    otpc__conn_t *other = otpc__io_find(io, peer, c);
    if (strcmp(peer, io->cfg.node_name) == 0)
        return "not_allowed";
    if (other && other->state == C_UP) {
        /* The peer decides (dist_util's "alive"): it answers "true" only if it has no
         * connection to us, i.e. ours is stale; a connection that crossed this one
         * during a simultaneous connect stays. */
        snprintf(c->peer, sizeof c->peer, "%s", peer);
        return "alive";
    } else if (other) {
        if (strcmp(io->cfg.node_name, peer) > 0)
            return "nok"; /* ours is the one to keep */
        other->superseded = 1;
        otpc__conn_close(other, "simultaneous connect: the peer's attempt is kept");
        snprintf(c->peer, sizeof c->peer, "%s", peer);
        return "ok_simultaneous";
    }
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    return "ok";
}

/* The "alive" follow-ups; see otpc__hs_alive_fn. */
static int alive_answer(void *ctx, const char *peer, int initiator)
{
    otpc__conn_t *c = ctx;
    otpc__conn_t *other = otpc__io_find(c->io, peer, c);
    if (initiator)
        return !(other && other->state == C_UP);
    if (other && other->state == C_UP)
        otpc__conn_close(other, "replaced: the peer has no connection to us (stale)");
    return 1;
}

otpc__conn_t *otpc__conn_new(otpc__io_t *io, int initiator, const char *peer)
{
    uint32_t challenge;
    int rrc = uv_random(NULL, NULL, &challenge, sizeof challenge, 0, NULL);
    if (rrc) {
        /* A guessable challenge would let a recorded digest be replayed. */
        OTPC__LOG_ERROR("dist", "no random challenge (%s): connection refused", uv_strerror(rrc));
        return NULL;
    }
    otpc__conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (uv_mutex_init(&c->out_lock)) {
        free(c);
        return NULL;
    }
    atomic_init(&c->refs, 1);
    c->fd = -1;
    c->io = io;
    c->initiator = initiator;
    c->id = ++io->next_id;
    c->state = initiator ? C_RESOLVING : C_HANDSHAKE;
    uv_tcp_init(&io->loop, &c->tcp);
    uv_timer_init(&io->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    if (peer)
        snprintf(c->peer, sizeof c->peer, "%s", peer);
    otpc__hs_init(&c->hs, initiator, io->cfg.node_name, io->cfg.cookie, io->flags, io->creation,
                  challenge);
    if (peer)
        snprintf(c->hs.peer_name, sizeof c->hs.peer_name, "%s", peer);
    c->hs.check = check_peer;
    c->hs.alive = alive_answer;
    c->hs.check_ctx = c;
    c->next = io->conns;
    io->conns = c;
    if (!initiator) {
        c->unproven = 1;
        io->unproven++;
    }
    uv_timer_start(&c->timer, on_setup_timeout, SETUP_TIMEOUT_MS, 0);
    return c;
}

/* ---- reading ------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *out)
{
    (void)hint;
    otpc__conn_t *c = h->data;
    if (c->tls) {
        out->base = c->io->tls_in;
        out->len = sizeof c->io->tls_in;
        return;
    }
    if (otpc__buf_reserve(&c->rbuf, OTPC__HS_READ)) {
        out->base = NULL;
        out->len = 0;
        return;
    }
    out->base = c->rbuf.data + c->rbuf.len;
    out->len = c->rbuf.cap - c->rbuf.len;
}

/* The handshake is done: from here the scheduler reads the socket. What was read past
 * the handshake goes with OTPC__EV_UP, in the same record, so nothing can overtake it. */
static void went_up(otpc__conn_t *c, const char *rest, size_t rlen)
{
    otpc__io_t *io = c->io;
    c->state = C_UP;
    proven_or_gone(c);
    c->peer_flags = c->hs.peer_flags;
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
        uv_mutex_lock(&c->out_lock);
        c->fd = fd;
        uv_mutex_unlock(&c->out_lock);
    }
    snprintf(c->peer, sizeof c->peer, "%s", c->hs.peer_name);
    OTPC__LOG_INFO("dist", "connected to %s (%s, flags 0x%llx)", c->peer,
                   c->initiator ? "outgoing" : "incoming", (unsigned long long)c->peer_flags);
    otpc__conn_ref(c); /* the scheduler's, until it has processed OTPC__EV_DOWN */
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->handed_over = 1;
    size_t plen = strlen(c->peer) + 1;
    otpc__buf_t rec = {0};
    if (otpc__buf_append(&rec, c->peer, plen) || otpc__buf_append(&rec, rest, rlen) ||
        rec.len > UINT32_MAX ||
        otpc__mq_push(io->cfg.events, OTPC__EV_UP, c, c->peer_flags, rec.data, (uint32_t)rec.len)) {
        otpc__buf_free(&rec);
        otpc__conn_unref(c);
        c->handed_over = 0;
        otpc__conn_close(c, "out of memory");
        return;
    }
    otpc__buf_free(&rec);
    otpc__buf_free(&c->rbuf);
    unsigned quarter = io->cfg.ticktime_ms / 4;
    c->last_tx = otpc__now_ms(io);
    atomic_store(&c->last_rx, c->last_tx);
    uv_timer_stop(&c->timer);
    uv_timer_start(&c->timer, on_tick, quarter, quarter);
}

/* Handshake messages; returns bytes consumed, or -1 when the connection is closing. */
ssize_t otpc__conn_read_handshake(otpc__conn_t *c)
{
    size_t pos = 0;
    otpc__frame_t f;
    otpc__buf_t out = {0};
    while (c->state == C_HANDSHAKE) {
        int r = otpc__frame_next(c->rbuf.data + pos, c->rbuf.len - pos, c->hs.len_bytes, HS_MSG_MAX,
                                 &f);
        if (r < 0) {
            otpc__buf_free(&out);
            otpc__conn_close(c, "handshake message too long");
            return -1;
        }
        if (r == 0)
            break;
        int rc = otpc__hs_feed(&c->hs, c->rbuf.data + pos + f.off, f.len, &out);
        pos += f.next;
        if (out.len)
            emit_local(c, &out);
        if (rc < 0) {
            if (rc == OTPC_ECOOKIE)
                OTPC__LOG_ERROR("dist", "%s", c->hs.error);
            if (c->hs.told_nok) {
                /* Simultaneous connect, and the peer's attempt wins: what the
                 * scheduler queued for it waits for that connection instead. */
                c->superseded = 1;
                otpc__io_await_peer(c->io, c->peer);
            }
            otpc__buf_free(&out);
            otpc__conn_close_soon(c, c->hs.error);
            return -1;
        }
        if (rc == 1) {
            went_up(c, c->rbuf.data + pos, c->rbuf.len - pos);
            otpc__buf_free(&out);
            return -1; /* the rest went with OTPC__EV_UP; rbuf is gone */
        }
    }
    otpc__buf_free(&out);
    return (ssize_t)pos;
}

/* The distribution handshake begins once the transport is ready (TLS: established). */
int otpc__conn_start_dist(otpc__conn_t *c)
{
    c->dist_started = 1;
    otpc__buf_t out = {0};
    if (otpc__hs_start(&c->hs, &out) < 0) {
        otpc__buf_free(&out);
        otpc__conn_close(c, c->hs.error);
        return -1;
    }
    if (out.len)
        emit_local(c, &out);
    otpc__buf_free(&out);
    return 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    otpc__conn_t *c = s->data;
    if (nread == 0 || c->state == C_CLOSING)
        return;
    if (nread < 0) {
        otpc__conn_close(c, nread == UV_EOF ? "closed by peer" : uv_strerror((int)nread));
        return;
    }
    otpc__conn_touch(c);
    if (c->tls) {
        otpc__conn_tls_input(c, b->base, (size_t)nread);
        return;
    }
    c->rbuf.len += (size_t)nread;
    ssize_t used = c->state == C_HANDSHAKE ? otpc__conn_read_handshake(c) : 0;
    if (used > 0)
        otpc__buf_consume(&c->rbuf, (size_t)used);
}

/* The host a TLS client names and verifies: the host part of the peer's node name. */
void otpc__conn_start(otpc__conn_t *c)
{
    c->state = C_HANDSHAKE;
    uv_tcp_nodelay(&c->tcp, 1);
    if (c->io->tls_server ? otpc__conn_tls_setup(c) : otpc__conn_start_dist(c))
        return;
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0)
        otpc__conn_close(c, uv_strerror(rc));
}

/* ---- ticks --------------------------------------------------------------------- */

static void on_tick(uv_timer_t *t)
{
    otpc__conn_t *c = t->data;
    otpc__io_t *io = c->io;
    uint64_t now = otpc__now_ms(io);
    unsigned T = io->cfg.ticktime_ms;
    if (now - atomic_load(&c->last_rx) >= T && c->handed_over && c->fd >= 0) {
        /* Unread bytes mean a live peer and a busy scheduler, not a silent peer. */
        int avail = 0;
        if (ioctl(c->fd, FIONREAD, &avail) == 0 && avail > 0)
            otpc__conn_touch(c);
    }
    if (now - atomic_load(&c->last_rx) >= T) {
        char why[96];
        snprintf(why, sizeof why, "no data from the peer for net_ticktime (%u s)", T / 1000);
        otpc__conn_close(c, why);
        return;
    }
    if (now - c->last_tx + 10 >= T / 4 && !c->writing) {
        static const char tick[4] = {0, 0, 0, 0};
        otpc__buf_t b = {0};
        if (otpc__buf_append(&b, tick, 4) == 0)
            emit_local(c, &b);
        otpc__buf_free(&b);
    }
}
