/*
 * echo_uring: the completion half of a transport prototype pair (the other is
 * echo_epoll.c), written to measure whether io_uring would cut the daemon's CPU per call.
 * Same protocol (echo_frame.h: loadgen's call turned into its reply), same single
 * thread on 127.0.0.1, but no readiness step and no syscall per connection:
 *
 *  - one multishot accept on the listener;
 *  - one multishot recv per connection (IORING_RECV_MULTISHOT), which draws its buffers
 *    from a provided buffer ring (io_uring_register_buf_ring; liburing 2.3 has no
 *    io_uring_setup_buf_ring): whole frames are answered straight from the ring's
 *    buffer, a partial frame's bytes are copied to the connection's own buffer, and the
 *    buffer goes back to the ring at once;
 *  - replies appended to one of two output buffers per connection; once per loop
 *    iteration every connection with replies and no send in flight gets one
 *    IORING_OP_SEND of its buffer, and new replies go to the other buffer meanwhile;
 *  - every SQE of an iteration submitted, and the next completions waited for, in one
 *    io_uring_submit_and_wait(): one io_uring_enter() for the whole batch.
 *
 * The ring is set up with IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN (the
 * kernel runs the receives' task work only inside that io_uring_enter, so it batches
 * them), or COOP_TASKRUN, or nothing, as MODE says:
 *
 *   echo_uring PORT [defer|coop|plain]   (SIGINT/SIGTERM: prints counters, exits)
 *
 * Built by `make bench-build` (c_src/Makefile) when liburing-dev is installed, or alone:
 *   gcc -O2 -Wall -Wextra -Werror -o echo_uring bench/c/echo_uring.c -luring
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <liburing.h>

#include "echo_frame.h"

#define SQ_ENTRIES 4096
#define CQ_ENTRIES 16384
#define BR_ENTRIES 4096 /* provided buffers (a power of two) */
#define BR_SIZE 4096    /* bytes each */
#define BGID 0

/* What a completion is for: the low bits of its user_data; the rest is the conn_t. */
enum { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3, OP_MASK = 7 };

typedef struct conn {
    int fd;
    int recv_armed; /* the multishot recv is live */
    int sending;    /* out[!cur] is being sent */
    int dead;       /* closing: freed once no request refers to it */
    int dirty;      /* on the list of connections with replies to send */
    int cur;        /* replies go to out[cur] */
    size_t sent;    /* bytes of out[!cur] the kernel has taken */
    echo_buf_t in;  /* a partial frame, when one straddles receives */
    echo_buf_t out[2];
} conn_t;

typedef struct {
    struct io_uring ring;
    struct io_uring_buf_ring *br;
    unsigned char *bufs;
    int br_returned; /* buffers given back since the last io_uring_buf_ring_advance */
    int lfd;
    conn_t **dirty;
    size_t n_dirty, cap_dirty;
} srv_t;

static volatile sig_atomic_t stop;
static uint64_t n_frames, n_enters, n_extra_submits, n_cqes, n_recv_cqes, n_sends, n_rearms,
    n_nobufs;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int listen_on(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, 4096))
        return -1;
    return fd;
}

/* An SQE; when the queue is full, what is in it is submitted first (rare: the queue has
 * room for several requests per connection). */
static struct io_uring_sqe *get_sqe(srv_t *s)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
    if (!sqe) {
        io_uring_submit(&s->ring);
        n_extra_submits++;
        sqe = io_uring_get_sqe(&s->ring);
    }
    return sqe;
}

static void arm_accept(srv_t *s)
{
    struct io_uring_sqe *sqe = get_sqe(s);
    io_uring_prep_multishot_accept(sqe, s->lfd, NULL, NULL, 0);
    io_uring_sqe_set_data64(sqe, OP_ACCEPT);
}

static void arm_recv(srv_t *s, conn_t *c)
{
    struct io_uring_sqe *sqe = get_sqe(s);
    io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | OP_RECV);
    c->recv_armed = 1;
}

/* Sends out[!cur] from byte c->sent on. */
static void arm_send(srv_t *s, conn_t *c)
{
    echo_buf_t *b = &c->out[!c->cur];
    struct io_uring_sqe *sqe = get_sqe(s);
    io_uring_prep_send(sqe, c->fd, b->p + c->sent, b->len - c->sent, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | OP_SEND);
    c->sending = 1;
    n_sends++;
}

static void mark_dirty(srv_t *s, conn_t *c)
{
    if (c->dirty)
        return;
    if (s->n_dirty == s->cap_dirty) {
        size_t cap = s->cap_dirty ? 2 * s->cap_dirty : 1024;
        conn_t **d = realloc(s->dirty, cap * sizeof *d);
        if (!d)
            abort();
        s->dirty = d;
        s->cap_dirty = cap;
    }
    s->dirty[s->n_dirty++] = c;
    c->dirty = 1;
}

/* Frees the connection once no request refers to it (nothing on the dirty list does:
 * flush_dirty skips dead ones and the list is emptied before the next CQE). */
static void conn_maybe_free(conn_t *c)
{
    if (!c->dead || c->recv_armed || c->sending || c->dirty)
        return;
    close(c->fd);
    free(c->in.p);
    free(c->out[0].p);
    free(c->out[1].p);
    free(c);
}

/* Starts ending the connection: shutdown() completes its multishot recv (with 0), and a
 * send in flight fails or finishes; the caller then calls conn_maybe_free(), as does
 * whichever completion comes last. */
static void conn_kill(conn_t *c)
{
    if (!c->dead) {
        c->dead = 1;
        shutdown(c->fd, SHUT_RDWR);
    }
}

static void on_accept(srv_t *s, struct io_uring_cqe *cqe)
{
    if (!(cqe->flags & IORING_CQE_F_MORE))
        arm_accept(s);
    if (cqe->res < 0)
        return;
    int one = 1;
    conn_t *c = calloc(1, sizeof *c);
    if (!c || setsockopt(cqe->res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) ||
        echo_buf_reserve(&c->out[0], sizeof echo_hello)) {
        free(c);
        close(cqe->res);
        return;
    }
    c->fd = cqe->res;
    memcpy(c->out[0].p, echo_hello, sizeof echo_hello);
    c->out[0].len = sizeof echo_hello;
    mark_dirty(s, c);
    arm_recv(s, c);
}

/* Answers the frames in data[0..n) (the received bytes, after what c->in held). */
static int consume(conn_t *c, const unsigned char *data, size_t n)
{
    echo_buf_t *out = &c->out[c->cur];
    if (c->in.len == 0) {
        long used = echo_parse(data, n, out, &n_frames);
        size_t rest = used < 0 ? 0 : n - (size_t)used;
        if (used < 0 || echo_buf_reserve(&c->in, rest))
            return -1;
        if (rest) /* a partial frame: kept, as the ring's buffer goes back now */
            memcpy(c->in.p, data + used, rest);
        c->in.len = rest;
        return 0;
    }
    if (echo_buf_reserve(&c->in, n))
        return -1;
    memcpy(c->in.p + c->in.len, data, n);
    c->in.len += n;
    long used = echo_parse(c->in.p, c->in.len, out, &n_frames);
    if (used < 0)
        return -1;
    memmove(c->in.p, c->in.p + used, c->in.len - (size_t)used);
    c->in.len -= (size_t)used;
    return 0;
}

static void on_recv(srv_t *s, conn_t *c, struct io_uring_cqe *cqe)
{
    int more = (cqe->flags & IORING_CQE_F_MORE) != 0;
    n_recv_cqes++;
    if (!more)
        c->recv_armed = 0;
    if (cqe->flags & IORING_CQE_F_BUFFER) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        unsigned char *buf = s->bufs + (size_t)bid * BR_SIZE;
        if (cqe->res > 0 && !c->dead) {
            size_t had = c->out[c->cur].len;
            if (consume(c, buf, (size_t)cqe->res))
                conn_kill(c);
            else if (c->out[c->cur].len > had)
                mark_dirty(s, c);
        }
        io_uring_buf_ring_add(s->br, buf, BR_SIZE, (unsigned short)bid,
                              io_uring_buf_ring_mask(BR_ENTRIES), s->br_returned++);
    }
    if (c->dead) {
        conn_maybe_free(c);
        return;
    }
    if (cqe->res == -ENOBUFS)
        n_nobufs++;
    if (cqe->res > 0 || cqe->res == -ENOBUFS) {
        if (!more) {
            n_rearms++;
            arm_recv(s, c);
        }
        return;
    }
    conn_kill(c); /* EOF or an error */
    conn_maybe_free(c);
}

static void on_send(conn_t *c, struct io_uring_cqe *cqe, srv_t *s)
{
    echo_buf_t *b = &c->out[!c->cur];
    c->sending = 0;
    if (cqe->res < 0 || c->dead) {
        conn_kill(c);
        conn_maybe_free(c);
        return;
    }
    c->sent += (size_t)cqe->res;
    if (c->sent < b->len) {
        arm_send(s, c); /* the socket took part of it */
        return;
    }
    b->len = 0;
    c->sent = 0;
    if (c->out[c->cur].len)
        mark_dirty(s, c);
}

/* One send per connection with replies and none in flight. */
static void flush_dirty(srv_t *s)
{
    for (size_t i = 0; i < s->n_dirty; i++) {
        conn_t *c = s->dirty[i];
        c->dirty = 0;
        if (c->dead) {
            conn_maybe_free(c);
            continue;
        }
        if (c->sending || c->out[c->cur].len == 0)
            continue; /* its send completion marks it again */
        c->cur = !c->cur;
        c->sent = 0;
        arm_send(s, c);
    }
    s->n_dirty = 0;
}

static int setup(srv_t *s, int port, const char *mode)
{
    struct io_uring_params p = {.flags = IORING_SETUP_CQSIZE, .cq_entries = CQ_ENTRIES};
    if (!strcmp(mode, "defer"))
        p.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    else if (!strcmp(mode, "coop"))
        p.flags |= IORING_SETUP_COOP_TASKRUN;
    else if (strcmp(mode, "plain"))
        return -EINVAL;
    int rc = io_uring_queue_init_params(SQ_ENTRIES, &s->ring, &p);
    if (rc < 0)
        return rc;
    io_uring_register_ring_fd(&s->ring); /* saves an fd lookup per enter; optional */

    size_t ring_bytes = BR_ENTRIES * sizeof(struct io_uring_buf);
    void *mem;
    if (posix_memalign(&mem, 4096, ring_bytes))
        return -ENOMEM;
    memset(mem, 0, ring_bytes);
    s->br = mem;
    s->bufs = malloc((size_t)BR_ENTRIES * BR_SIZE);
    if (!s->bufs)
        return -ENOMEM;
    io_uring_buf_ring_init(s->br);
    struct io_uring_buf_reg reg = {
        .ring_addr = (uint64_t)(uintptr_t)s->br, .ring_entries = BR_ENTRIES, .bgid = BGID};
    rc = io_uring_register_buf_ring(&s->ring, &reg, 0);
    if (rc < 0)
        return rc;
    for (int i = 0; i < BR_ENTRIES; i++)
        io_uring_buf_ring_add(s->br, s->bufs + (size_t)i * BR_SIZE, BR_SIZE, (unsigned short)i,
                              io_uring_buf_ring_mask(BR_ENTRIES), i);
    io_uring_buf_ring_advance(s->br, BR_ENTRIES);

    s->lfd = listen_on(port);
    if (s->lfd < 0)
        return -errno;
    arm_accept(s);
    return 0;
}

int main(int argc, char **argv)
{
    static srv_t s;
    int port = argc >= 2 ? atoi(argv[1]) : 0;
    const char *mode = argc >= 3 ? argv[2] : "defer";
    if (argc > 3 || port <= 0 || port > 65535) {
        fprintf(stderr, "usage: echo_uring PORT [defer|coop|plain]\n");
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc = setup(&s, port, mode);
    if (rc < 0) {
        fprintf(stderr, "echo_uring: setup (%s): %s\n", mode, strerror(-rc));
        return 1;
    }
    while (!stop) {
        rc = io_uring_submit_and_wait(&s.ring, 1);
        n_enters++;
        if (rc < 0 && rc != -EINTR) {
            fprintf(stderr, "echo_uring: io_uring_submit_and_wait: %s\n", strerror(-rc));
            return 1;
        }
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&s.ring, head, cqe)
        {
            uint64_t ud = io_uring_cqe_get_data64(cqe);
            conn_t *c = (conn_t *)(uintptr_t)(ud & ~(uint64_t)OP_MASK);
            switch (ud & OP_MASK) {
            case OP_ACCEPT:
                on_accept(&s, cqe);
                break;
            case OP_RECV:
                on_recv(&s, c, cqe);
                break;
            case OP_SEND:
                on_send(c, cqe, &s);
                break;
            }
            seen++;
        }
        io_uring_cq_advance(&s.ring, seen);
        n_cqes += seen;
        if (s.br_returned) {
            io_uring_buf_ring_advance(s.br, s.br_returned);
            s.br_returned = 0;
        }
        flush_dirty(&s);
    }
    fprintf(stderr,
            "echo_uring: mode=%s frames=%llu enters=%llu extra_submits=%llu cqes=%llu "
            "recv_cqes=%llu sends=%llu rearms=%llu nobufs=%llu syscalls/frame=%.3f "
            "frames/enter=%.1f\n",
            mode, (unsigned long long)n_frames, (unsigned long long)n_enters,
            (unsigned long long)n_extra_submits, (unsigned long long)n_cqes,
            (unsigned long long)n_recv_cqes, (unsigned long long)n_sends,
            (unsigned long long)n_rearms, (unsigned long long)n_nobufs,
            n_frames ? (double)(n_enters + n_extra_submits) / (double)n_frames : 0.0,
            n_enters ? (double)n_frames / (double)n_enters : 0.0);
    return 0;
}
