/* The scheduler-side endpoint of a connection; see endpoint.h. */
#include "transport/endpoint.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "otpc.h"
#include "util/assert.h"

#define READ_CHUNK (64 * 1024)

struct otpc__ep {
    otpc__eps_t *set;
    const otpc__ep_ops_t *ops;
    void *ctx;
    otpc__ep_conf_t conf;
    otpc__xport_t *x; /* NULL until attached */
    uv_poll_t *poll;  /* its own block: the close callback frees it (and e, if freeing) */
    int own_fd;
    int events;      /* what poll watches now */
    int established; /* the transport's handshake is done */
    int reading;     /* the owner wants input */
    int paused;      /* the owner naps: no watching for input */
    int ended;       /* reading ended by itself: ops->ended was called */
    int in_read;     /* inside the framer: its buffer must stay */
    int out_dead;    /* the socket failed a write: output is dropped from now on */
    int freeing;
    otpc__framer_t in;
    otpc__buf_t out;
    size_t held; /* output the transport holds (TLS ciphertext) */
    uint64_t last_rx;
    int dirty;
    otpc__ep_t *dirty_next;
};

static _Thread_local char rbuf[READ_CHUNK];

static void on_poll(uv_poll_t *h, int status, int events);

otpc__ep_t *otpc__ep_new(otpc__eps_t *set, const otpc__ep_ops_t *ops, void *ctx,
                         const otpc__ep_conf_t *conf)
{
    otpc__ep_t *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->set = set;
    e->ops = ops;
    e->ctx = ctx;
    e->conf = *conf;
    e->in.max = conf->max_frame;
    e->in.keep = conf->frame_keep;
    e->reading = 1;
    return e;
}

/* ---- polling ------------------------------------------------------------------------ */

/* Input the transport has already taken from the socket (TLS records decrypted in
 * part, when a read stopped for the budget or the owner): the socket may never be
 * readable again for it. */
static int input_waits(const otpc__ep_t *e)
{
    return e->x && e->reading && !e->ended && !e->paused && e->established &&
           e->x->ops->buffered(e->x) > 0;
}

/* Watch for what is wanted now: input while reading and not held back by output,
 * writability while output waits. */
static void update_poll(otpc__ep_t *e)
{
    if (!e->poll)
        return;
    int want = 0;
    if (e->reading && !e->ended && !e->paused &&
        (!e->conf.busy_limit || otpc__ep_backlog(e) < e->conf.busy_limit))
        want |= UV_READABLE;
    if (!e->ops->sink && (e->held || (e->established && e->out.len)))
        want |= UV_WRITABLE; /* frames once established; handshake records and alerts always */
    if (!e->established && !e->ended)
        want |= UV_READABLE; /* the handshake's records, whatever the owner wants */
    if (input_waits(e))
        want |= UV_WRITABLE; /* no readiness will announce it: have the loop call back */
    if (want == e->events)
        return;
    e->events = want;
    if (want)
        uv_poll_start(e->poll, want, on_poll);
    else
        uv_poll_stop(e->poll);
}

static void end(otpc__ep_t *e, otpc__ep_end_t kind, const char *why, uint64_t size)
{
    if (kind == OTPC__EP_BROKEN) { /* even after an EOF: nothing can be written now */
        e->out_dead = 1;
        otpc__ep_drop_output(e);
    }
    if (!e->ended) {
        e->ended = 1;
        e->ops->ended(e->ctx, kind, why, size);
    }
    update_poll(e);
}

/* ---- output ------------------------------------------------------------------------- */

otpc__buf_t *otpc__ep_out(otpc__ep_t *e)
{
    return &e->out;
}

void otpc__ep_dirty(otpc__ep_t *e)
{
    if (e->out_dead)
        e->out.len = 0;
    if (e->dirty || e->freeing || (!e->x && !e->ops->sink))
        return;
    e->dirty = 1;
    e->dirty_next = e->set->dirty;
    e->set->dirty = e;
}

static void unmark_dirty(otpc__ep_t *e)
{
    if (!e->dirty)
        return;
    for (otpc__ep_t **pp = &e->set->dirty; *pp; pp = &(*pp)->dirty_next)
        if (*pp == e) {
            *pp = e->dirty_next;
            break;
        }
    e->dirty = 0;
}

size_t otpc__ep_backlog(const otpc__ep_t *e)
{
    return e->out.len + e->held;
}

void otpc__ep_drop_output(otpc__ep_t *e)
{
    e->out.len = 0;
    e->held = 0;
}

static void shrink(otpc__buf_t *b, size_t keep)
{
    if (!b->len && keep && b->cap > keep)
        otpc__buf_free(b);
}

/* Through the transport: what the socket takes now, the rest stays. */
static void write_out(otpc__ep_t *e)
{
    size_t done = 0;
    while (done < e->out.len) {
        struct iovec v = {e->out.data + done, e->out.len - done};
        ssize_t w = e->x->ops->writev(e->x, &v, 1);
        if (w == OTPC__XP_ERROR) {
            end(e, OTPC__EP_BROKEN, e->x->ops->error(e->x), 0);
            return;
        }
        if (w == 0)
            break;
        done += (size_t)w;
    }
    otpc__buf_consume(&e->out, done);
    ssize_t held = e->x->ops->flush(e->x);
    if (held == OTPC__XP_ERROR) {
        end(e, OTPC__EP_BROKEN, e->x->ops->error(e->x), 0);
        return;
    }
    e->held = (size_t)held;
}

void otpc__ep_flush(otpc__ep_t *e)
{
    if (e->freeing || (!e->x && !e->ops->sink))
        return;
    if (e->ops->sink) {
        if (e->out.len)
            e->ops->sink(e->ctx, &e->out);
    } else if (e->established && e->out.len) {
        write_out(e);
        shrink(&e->out, e->conf.out_keep);
    } else if (e->held) {
        ssize_t held = e->x->ops->flush(e->x);
        if (held == OTPC__XP_ERROR)
            end(e, OTPC__EP_BROKEN, e->x->ops->error(e->x), 0);
        else
            e->held = (size_t)held;
    }
    update_poll(e);
}

void otpc__eps_flush(otpc__eps_t *set)
{
    otpc__ep_t *again = NULL; /* looked at again after the next turn */
    while (set->dirty) {
        otpc__ep_t *e = set->dirty;
        set->dirty = e->dirty_next;
        e->dirty = 0;
        otpc__ep_flush(e);
        if (e->ops->flushed && e->ops->flushed(e->ctx) && !e->freeing && !e->dirty) {
            e->dirty = 1;
            e->dirty_next = again;
            again = e;
        }
    }
    set->dirty = again;
}

/* ---- input -------------------------------------------------------------------------- */

void otpc__ep_set_reading(otpc__ep_t *e, int on)
{
    e->reading = on;
    update_poll(e);
}

void otpc__ep_pause(otpc__ep_t *e, int on)
{
    e->paused = on;
    update_poll(e);
}

size_t otpc__ep_pending_input(const otpc__ep_t *e)
{
    return otpc__framer_pending(&e->in);
}

void otpc__ep_drop_input(otpc__ep_t *e)
{
    OTPC__ASSERT(!e->in_read);
    otpc__framer_free(&e->in);
}

uint64_t otpc__ep_now(otpc__ep_t *e)
{
    uv_update_time(e->set->loop);
    return uv_now(e->set->loop);
}

uv_loop_t *otpc__ep_loop(const otpc__ep_t *e)
{
    return e->set->loop;
}

uint64_t otpc__ep_last_rx(const otpc__ep_t *e)
{
    return e->last_rx;
}

int otpc__ep_established(const otpc__ep_t *e)
{
    return e->established;
}

/* The framer's verdict on what it was given: 0 to go on, 1 to stop reading now. */
static int framed(otpc__ep_t *e, int rc, uint64_t size)
{
    if (rc == OTPC_ETOOBIG)
        end(e, OTPC__EP_TOOBIG, "frame too large", size);
    else if (rc == OTPC_ENOMEM)
        end(e, OTPC__EP_NOMEM, "out of memory reading", 0);
    return rc != 0;
}

/* Frames in the n bytes at data (read_into: already in the framer's space). */
static int frames(otpc__ep_t *e, const char *data, size_t n)
{
    uint64_t size = 0;
    e->in_read = 1;
    int rc = e->conf.read_into ? otpc__framer_commit(&e->in, n, e->ops->frame, e->ctx, &size)
                               : otpc__framer_feed(&e->in, data, n, e->ops->frame, e->ctx, &size);
    e->in_read = 0;
    if (e->freeing) { /* freed by a frame's callback: the buffer could not go then */
        otpc__framer_free(&e->in);
        return 1;
    }
    return framed(e, rc, size);
}

void otpc__ep_replay(otpc__ep_t *e)
{
    if (!e->x || e->freeing || e->ended || !e->reading || !e->conf.read_into)
        return;
    frames(e, NULL, 0);
}

void otpc__ep_inject(otpc__ep_t *e, const char *data, size_t len)
{
    if (!len || e->ended)
        return;
    if (!e->conf.read_into) {
        frames(e, data, len);
        return;
    }
    char *at;
    size_t room;
    if (otpc__framer_space(&e->in, len, &at, &room)) {
        end(e, OTPC__EP_NOMEM, "out of memory reading", 0);
        return;
    }
    memcpy(at, data, len);
    frames(e, at, len);
}

/* Advance the transport's handshake; 1 once frames can flow. */
static int handshake(otpc__ep_t *e)
{
    if (e->established)
        return 1;
    int rc = e->x->ops->handshake(e->x);
    ssize_t held = e->x->ops->flush(e->x);
    e->held = held > 0 ? (size_t)held : 0;
    if (rc == OTPC__XP_ERROR) {
        end(e, e->x->broken ? OTPC__EP_BROKEN : OTPC__EP_PROTO, e->x->ops->error(e->x), 0);
        return 0;
    }
    if (rc == 0)
        return 0;
    e->established = 1;
    if (e->ops->established)
        e->ops->established(e->ctx);
    if (e->out.len)
        otpc__ep_dirty(e);
    return 1;
}

int otpc__ep_read(otpc__ep_t *e)
{
    if (!e->x || e->freeing || e->ended)
        return 1;
    if (!handshake(e))
        return e->ended;
    size_t budget = e->conf.read_budget ? e->conf.read_budget : READ_CHUNK;
    while (e->reading && !e->ended && (budget > 0 || e->x->ops->buffered(e->x))) {
        if (e->ops->may_read && !e->ops->may_read(e->ctx))
            break;
        char *at = rbuf;
        size_t room = sizeof rbuf;
        if (e->conf.read_into && otpc__framer_space(&e->in, READ_CHUNK, &at, &room)) {
            end(e, OTPC__EP_NOMEM, "out of memory reading", 0);
            break;
        }
        ssize_t r = e->x->ops->read(e->x, at, room);
        if (r == OTPC__XP_AGAIN)
            break;
        if (r == 0) {
            end(e, OTPC__EP_EOF, "closed by peer", 0);
            break;
        }
        if (r < 0) {
            end(e, e->x->broken ? OTPC__EP_BROKEN : OTPC__EP_PROTO, e->x->ops->error(e->x), 0);
            break;
        }
        e->last_rx = uv_now(e->set->loop);
        budget = (size_t)r < budget ? budget - (size_t)r : 0;
        if (frames(e, at, (size_t)r))
            break;
        if ((size_t)r < room && !e->x->ops->buffered(e->x))
            break; /* drained, most likely: spare the read that says EAGAIN */
    }
    return e->ended;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    otpc__ep_t *e = h->data;
    if (status < 0) { /* POLLERR: libuv stopped the poll; the read names the cause */
        e->events = 0;
        events = UV_READABLE;
    }
    if (events & UV_WRITABLE)
        otpc__ep_flush(e);
    if (((events & UV_READABLE) || input_waits(e)) && !e->freeing) {
        otpc__ep_read(e);
        if (status < 0) { /* the socket is dead, whatever the read found */
            otpc__ep_drop_output(e);
            end(e, OTPC__EP_BROKEN, uv_strerror(status), 0);
        }
    }
    if ((events & UV_WRITABLE) && e->ops->flushed && !e->freeing)
        e->ops->flushed(e->ctx);
    if (!e->freeing)
        update_poll(e);
    if (e->ops->after_io)
        e->ops->after_io(e->ctx);
    else if (e->set->turn)
        e->set->turn(e->set->turn_ctx);
}

int otpc__ep_attach(otpc__ep_t *e, otpc__xport_t *x, int own_fd)
{
    if (!x)
        return OTPC_ENOMEM;
    uv_poll_t *h = malloc(sizeof *h);
    if (!h || uv_poll_init(e->set->loop, h, x->fd)) {
        free(h); /* never initialised: no uv_close needed */
        x->ops->free(x);
        return h ? OTPC_EIO : OTPC_ENOMEM;
    }
    h->data = e;
    e->poll = h;
    e->x = x;
    e->own_fd = own_fd;
    e->last_rx = uv_now(e->set->loop);
    handshake(e);
    update_poll(e);
    return 0;
}

/* ---- the end ------------------------------------------------------------------------ */

static void on_closed(uv_handle_t *h)
{
    otpc__ep_t *e = h->data;
    free(h);
    if (!e)
        return; /* stopped, not freed: the endpoint lives on */
    if (e->ops->freed)
        e->ops->freed(e->ctx);
    free(e);
}

void otpc__ep_stop(otpc__ep_t *e)
{
    if (!e->in_read)
        otpc__framer_free(&e->in);
    if (!e->poll)
        return;
    e->poll->data = NULL;
    uv_close((uv_handle_t *)e->poll, on_closed);
    e->poll = NULL;
    e->events = 0;
}

void otpc__ep_free(otpc__ep_t *e)
{
    if (!e || e->freeing)
        return;
    e->freeing = 1;
    unmark_dirty(e);
    if (e->x) {
        if (e->own_fd) {
            for (int i = 0; i < 16 && recv(e->x->fd, rbuf, sizeof rbuf, MSG_DONTWAIT) > 0; i++)
                ;
            close(e->x->fd);
        }
        e->x->ops->free(e->x);
        e->x = NULL;
    }
    if (!e->in_read)
        otpc__framer_free(&e->in);
    otpc__buf_free(&e->out);
    if (!e->poll) {
        if (e->ops->freed)
            e->ops->freed(e->ctx);
        free(e);
        return;
    }
    /* closing the handle takes the fd out of the loop's epoll now; the memory goes with
     * the close callback, after whatever callback of ours is running has returned */
    uv_close((uv_handle_t *)e->poll, on_closed);
    e->poll = NULL;
}
