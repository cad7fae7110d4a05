/*
 * echo_epoll: the readiness half of a transport prototype pair (the other is
 * echo_uring.c), written to measure what the daemon's I/O pattern costs the server per
 * call with nothing else in the way. It does what the node's daemon does through libuv:
 * level-triggered epoll over non-blocking sockets, one recv() into the connection's
 * buffer per readiness, every whole {packet,4} frame in it answered (echo_frame.h:
 * loadgen's call turned into its reply), then one send() of all the replies; output
 * the socket would not take waits for EPOLLOUT. Single-threaded, 127.0.0.1 only.
 *
 *   echo_epoll PORT        (SIGINT/SIGTERM: prints its counters to stderr and exits)
 *
 * Built by `make bench-build` (c_src/Makefile), or alone:
 *   gcc -O2 -Wall -Wextra -Werror -o echo_epoll bench/c/echo_epoll.c
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4 */
#endif
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "echo_frame.h"

#define READ_ROOM 4096 /* free bytes a connection's input buffer has before each recv */

typedef struct {
    int fd;
    int want_out; /* EPOLLOUT is on: output waits for room */
    echo_buf_t in, out;
} conn_t;

static volatile sig_atomic_t stop;
static uint64_t n_frames, n_waits, n_events, n_recv, n_send, n_ctl;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int listen_on(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, 4096))
        return -1;
    return fd;
}

static void conn_free(int ep, conn_t *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in.p);
    free(c->out.p);
    free(c);
}

static int set_out(int ep, conn_t *c, int on)
{
    if (c->want_out == on)
        return 0;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    c->want_out = on;
    n_ctl++;
    return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* One send() of what is queued; the rest waits for EPOLLOUT. */
static int flush(int ep, conn_t *c)
{
    if (c->out.len == 0)
        return set_out(ep, c, 0);
    ssize_t n = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL);
    n_send++;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        n = 0;
    else if (n < 0)
        return -1;
    memmove(c->out.p, c->out.p + n, c->out.len - (size_t)n);
    c->out.len -= (size_t)n;
    return set_out(ep, c, c->out.len > 0);
}

/* One recv(), every whole frame answered, one send(). */
static int on_readable(int ep, conn_t *c)
{
    if (echo_buf_reserve(&c->in, READ_ROOM))
        return -1;
    ssize_t n = recv(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len, 0);
    n_recv++;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    if (n <= 0)
        return -1;
    c->in.len += (size_t)n;
    long used = echo_parse(c->in.p, c->in.len, &c->out, &n_frames);
    if (used < 0)
        return -1;
    memmove(c->in.p, c->in.p + used, c->in.len - (size_t)used);
    c->in.len -= (size_t)used;
    return flush(ep, c);
}

static void on_accept(int ep, int lfd)
{
    for (;;) {
        int one = 1, fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0)
            return;
        conn_t *c = calloc(1, sizeof *c);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (!c || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) ||
            echo_buf_reserve(&c->out, sizeof echo_hello)) {
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        memcpy(c->out.p, echo_hello, sizeof echo_hello);
        c->out.len = sizeof echo_hello;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) || flush(ep, c))
            conn_free(ep, c);
    }
}

int main(int argc, char **argv)
{
    int port = argc == 2 ? atoi(argv[1]) : 0;
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "usage: echo_epoll PORT\n");
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int lfd = listen_on(port), ep = epoll_create1(0);
    static int lfd_tag; /* the listener's data.ptr: no connection has this address */
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &lfd_tag};
    if (lfd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev)) {
        perror("echo_epoll: listen");
        return 1;
    }
    struct epoll_event evs[256];
    while (!stop) {
        int n = epoll_wait(ep, evs, 256, -1);
        n_waits++;
        if (n < 0 && errno != EINTR) {
            perror("echo_epoll: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            n_events++;
            if (evs[i].data.ptr == &lfd_tag) {
                on_accept(ep, lfd);
                continue;
            }
            conn_t *c = evs[i].data.ptr;
            int rc = 0;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                rc = on_readable(ep, c);
            if (!rc && (evs[i].events & EPOLLOUT))
                rc = flush(ep, c);
            if (rc)
                conn_free(ep, c);
        }
    }
    fprintf(stderr,
            "echo_epoll: frames=%llu epoll_waits=%llu events=%llu recvs=%llu sends=%llu "
            "epoll_mods=%llu syscalls/frame=%.3f frames/wait=%.1f\n",
            (unsigned long long)n_frames, (unsigned long long)n_waits, (unsigned long long)n_events,
            (unsigned long long)n_recv, (unsigned long long)n_send, (unsigned long long)n_ctl,
            n_frames ? (double)(n_waits + n_recv + n_send + n_ctl) / (double)n_frames : 0.0,
            n_waits ? (double)n_frames / (double)n_waits : 0.0);
    return 0;
}
