/*
 * loadgen: a load generator for the daemon's wire protocol (README "Wire protocol"),
 * so that the daemon bench measures the server and not a BEAM client. It drives the C
 * daemon and the Erlang reference (bench/bench_daemon_ref.erl) alike:
 *
 *   loadgen -p PORT [-h 127.0.0.1] [-c CONNS] [-d DEPTH] [-t SECS] [-w WARMUP_SECS]
 *           [-s SERVER_PID] [-l LABEL]
 *
 * opens CONNS connections (each waits for its {otpc_hello, 1, Pid} frame), then keeps
 * DEPTH calls {call, Tag, {ping, 123}} in flight on each: every reply {reply, Tag,
 * {ping, 123}} sends the next call at once. After WARMUP_SECS it measures for SECS:
 * completed calls, the latency of each call sent in the window, and the CPU time the
 * server process (SERVER_PID, from /proc) and this one used. It prints a sentence and a
 * RESULT line (bench_stats.h) and exits 0; 1 if a connection could not be opened, 2 on
 * bad arguments. LABEL is only there for whoever reads the command line (the bench
 * scripts' cleanup looks for their run's id in it).
 *
 * One thread and level-triggered epoll; pin it with taskset. A connection's calls use
 * the tags 0..DEPTH-1, one per slot: a reply frees its slot, which the next call takes,
 * so replies may come in any order (the protocol allows it) and the tag alone finds
 * when its call was sent. The frames of all tags are encoded once, with ei.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ei.h>

#include "bench_stats.h"

#define IN_CAP (64 * 1024)
#define MAX_DEPTH 4096

typedef struct {
    int fd;
    int want_out; /* EPOLLOUT is on: output waits for room */
    size_t in_len, out_len, out_cap;
    char *in, *out;
    uint64_t *sent; /* per slot: when its call was sent */
} conn_t;

typedef struct {
    const char *host;
    int port, conns, depth;
    double secs, warmup;
    pid_t server;
    /* run state */
    int ep;
    conn_t *c;
    char **frame; /* per tag: the whole frame, length prefix included */
    int *frame_len;
    uint64_t t_meas, t_end; /* the measuring window, once it has started */
    int measuring;
    uint64_t calls, errors;
    bench_hist_t hist;
} lg_t;

static void usage(void)
{
    fprintf(stderr, "usage: loadgen -p PORT [-h HOST] [-c CONNS] [-d DEPTH] [-t SECS] "
                    "[-w WARMUP_SECS] [-s SERVER_PID] [-l LABEL]\n");
}

static int parse_args(lg_t *g, int argc, char **argv)
{
    int o;
    g->host = "127.0.0.1";
    g->conns = 1;
    g->depth = 1;
    g->secs = 3;
    g->warmup = 1;
    while ((o = getopt(argc, argv, "p:h:c:d:t:w:s:l:")) != -1) {
        switch (o) {
        case 'p':
            g->port = atoi(optarg);
            break;
        case 'h':
            g->host = optarg;
            break;
        case 'c':
            g->conns = atoi(optarg);
            break;
        case 'd':
            g->depth = atoi(optarg);
            break;
        case 't':
            g->secs = atof(optarg);
            break;
        case 'w':
            g->warmup = atof(optarg);
            break;
        case 's':
            g->server = (pid_t)atoi(optarg);
            break;
        case 'l':
            break;
        default:
            return -1;
        }
    }
    if (g->port <= 0 || g->port > 65535 || g->conns < 1 || g->depth < 1 || g->depth > MAX_DEPTH ||
        g->secs <= 0 || g->warmup < 0)
        return -1;
    return 0;
}

/* {call, Tag, {ping, 123}} for every tag, each with its 4-byte length in front. */
static int encode_frames(lg_t *g)
{
    g->frame = calloc((size_t)g->depth, sizeof *g->frame);
    g->frame_len = calloc((size_t)g->depth, sizeof *g->frame_len);
    if (!g->frame || !g->frame_len)
        return -1;
    for (int t = 0; t < g->depth; t++) {
        ei_x_buff x;
        if (ei_x_new(&x))
            return -1;
        int rc = ei_x_append_buf(&x, "\0\0\0\0", 4) || ei_x_encode_version(&x) ||
                 ei_x_encode_tuple_header(&x, 3) || ei_x_encode_atom(&x, "call") ||
                 ei_x_encode_long(&x, t) || ei_x_encode_tuple_header(&x, 2) ||
                 ei_x_encode_atom(&x, "ping") || ei_x_encode_long(&x, 123);
        if (rc) {
            ei_x_free(&x);
            return -1;
        }
        uint32_t len = htonl((uint32_t)(x.index - 4));
        memcpy(x.buff, &len, 4);
        g->frame[t] = x.buff; /* kept for the run: the process ends with it */
        g->frame_len[t] = x.index;
    }
    return 0;
}

/* Blocking read of exactly n bytes (the hello, before the socket goes non-blocking). */
static int read_full(int fd, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, buf + got, n - got, 0);
        if (r > 0)
            got += (size_t)r;
        else if (r < 0 && errno == EINTR)
            continue;
        else
            return -1;
    }
    return 0;
}

/* Connects and waits for the hello, one connection after the other, so no backlog
 * overflows and a server that refuses shows at once. */
static int open_conn(lg_t *g, conn_t *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g->port)};
    if (inet_pton(AF_INET, g->host, &sa.sin_addr) != 1) {
        fprintf(stderr, "loadgen: bad address %s\n", g->host);
        return -1;
    }
    int one = 1;
    struct timeval tv = {.tv_sec = 10};
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) ||
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) ||
        setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv)) {
        perror("loadgen: connect");
        return -1;
    }
    char hdr[4];
    uint32_t len;
    if (read_full(c->fd, hdr, 4) || (memcpy(&len, hdr, 4), len = ntohl(len), len > IN_CAP) ||
        read_full(c->fd, c->in, len)) {
        fprintf(stderr, "loadgen: no hello from the server\n");
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (fcntl(c->fd, F_SETFL, O_NONBLOCK) || epoll_ctl(g->ep, EPOLL_CTL_ADD, c->fd, &ev)) {
        perror("loadgen: epoll");
        return -1;
    }
    return 0;
}

static int conn_init(lg_t *g, conn_t *c)
{
    /* the last tag's frame is the longest (tags from 256 up take 4 bytes) */
    c->out_cap = (size_t)g->frame_len[g->depth - 1] * (size_t)g->depth * 2;
    c->in = malloc(IN_CAP);
    c->out = malloc(c->out_cap);
    c->sent = calloc((size_t)g->depth, sizeof *c->sent);
    if (!c->in || !c->out || !c->sent)
        return -1;
    return open_conn(g, c);
}

static void conn_close(lg_t *g, conn_t *c)
{
    if (c->fd < 0)
        return;
    epoll_ctl(g->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
}

/* Queue the call of slot tag. The buffer holds two windows of frames and at most one
 * is ever in flight per slot, so it never overflows. */
static void queue_call(lg_t *g, conn_t *c, int tag, uint64_t now)
{
    memcpy(c->out + c->out_len, g->frame[tag], (size_t)g->frame_len[tag]);
    c->out_len += (size_t)g->frame_len[tag];
    c->sent[tag] = now;
}

static int set_out(lg_t *g, conn_t *c, int on)
{
    if (c->want_out == on)
        return 0;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    c->want_out = on;
    return epoll_ctl(g->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static int flush(lg_t *g, conn_t *c)
{
    size_t done = 0;
    while (done < c->out_len) {
        ssize_t n = send(c->fd, c->out + done, c->out_len - done, MSG_NOSIGNAL);
        if (n > 0)
            done += (size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        else
            return -1;
    }
    memmove(c->out, c->out + done, c->out_len - done);
    c->out_len -= done;
    return set_out(g, c, c->out_len > 0);
}

/* The tag of a reply {reply, Tag, {ping, 123}}, or -1 for anything else. */
static long reply_tag(const lg_t *g, const char *b)
{
    int i = 0, arity, ver;
    long tag, v;
    char atom[MAXATOMLEN_UTF8];
    if (ei_decode_version(b, &i, &ver) || ei_decode_tuple_header(b, &i, &arity) || arity != 3 ||
        ei_decode_atom(b, &i, atom) || strcmp(atom, "reply") || ei_decode_long(b, &i, &tag) ||
        tag < 0 || tag >= g->depth || ei_decode_tuple_header(b, &i, &arity) || arity != 2 ||
        ei_decode_atom(b, &i, atom) || strcmp(atom, "ping") || ei_decode_long(b, &i, &v) ||
        v != 123)
        return -1;
    return tag;
}

static void on_reply(lg_t *g, conn_t *c, long tag, uint64_t now)
{
    if (g->measuring && now <= g->t_end) {
        g->calls++;
        if (c->sent[tag] >= g->t_meas)
            bench_hist_add(&g->hist, now - c->sent[tag]);
    }
    queue_call(g, c, (int)tag, now);
}

/* Reads what came, answers every whole reply with the next call, sends. A frame that
 * is not a reply (an {exit, Reason} from the server, say) ends the connection. */
static int on_readable(lg_t *g, conn_t *c)
{
    ssize_t n = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    if (n <= 0)
        return -1;
    c->in_len += (size_t)n;
    uint64_t now = bench_now_ns();
    size_t off = 0;
    while (c->in_len - off >= 4) {
        uint32_t len;
        memcpy(&len, c->in + off, 4);
        len = ntohl(len);
        if (len > IN_CAP - 4)
            return -1;
        if (c->in_len - off - 4 < len)
            break;
        long tag = reply_tag(g, c->in + off + 4);
        if (tag < 0)
            return -1;
        on_reply(g, c, tag, now);
        off += 4 + len;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return flush(g, c);
}

static void start_window(lg_t *g, uint64_t now, double *server0, double *client0)
{
    g->measuring = 1;
    g->t_meas = now;
    g->t_end = now + (uint64_t)(g->secs * 1e9);
    *server0 = bench_proc_cpu(g->server);
    *client0 = bench_self_cpu();
}

static int run(lg_t *g)
{
    struct epoll_event evs[256];
    uint64_t now = bench_now_ns(), warm_end = now + (uint64_t)(g->warmup * 1e9);
    double server0 = -1, client0 = 0;
    for (int i = 0; i < g->conns; i++) {
        for (int t = 0; t < g->depth; t++)
            queue_call(g, &g->c[i], t, now);
        if (flush(g, &g->c[i]))
            return -1;
    }
    for (;;) {
        now = bench_now_ns();
        if (!g->measuring && now >= warm_end)
            start_window(g, now, &server0, &client0);
        if (g->measuring && now >= g->t_end)
            break;
        uint64_t until = g->measuring ? g->t_end : warm_end;
        int timeout = (int)((until - now) / 1000000) + 1;
        int n = epoll_wait(g->ep, evs, 256, timeout);
        if (n < 0 && errno != EINTR)
            return -1;
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            int rc = 0;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                rc = on_readable(g, c);
            if (!rc && (evs[i].events & EPOLLOUT))
                rc = flush(g, c);
            if (rc) {
                g->errors++;
                conn_close(g, c);
            }
        }
    }
    double server1 = bench_proc_cpu(g->server);
    char what[64];
    snprintf(what, sizeof what, "conns=%d depth=%d", g->conns, g->depth);
    bench_result_t r = {.what = what,
                        .secs = (double)(g->t_end - g->t_meas) / 1e9,
                        .calls = g->calls,
                        .errors = g->errors,
                        .hist = &g->hist,
                        .server_cpu = server0 >= 0 && server1 >= 0 ? server1 - server0 : -1,
                        .client_cpu = bench_self_cpu() - client0};
    bench_result_print(&r);
    return 0;
}

int main(int argc, char **argv)
{
    static lg_t g; /* the histogram is large: not on the stack */
    if (parse_args(&g, argc, argv)) {
        usage();
        return 2;
    }
    g.ep = epoll_create1(0);
    g.c = calloc((size_t)g.conns, sizeof *g.c);
    if (g.ep < 0 || !g.c || encode_frames(&g)) {
        fprintf(stderr, "loadgen: out of memory\n");
        return 1;
    }
    for (int i = 0; i < g.conns; i++) {
        g.c[i].fd = -1;
        if (conn_init(&g, &g.c[i])) {
            fprintf(stderr, "loadgen: %d of %d connections opened\n", i, g.conns);
            return 1;
        }
    }
    int rc = run(&g);
    for (int i = 0; i < g.conns; i++)
        conn_close(&g, &g.c[i]);
    return rc ? 1 : 0;
}
