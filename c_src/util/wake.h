/*
 * otpc__wake: wake another thread's libuv loop, the cheap way. An eventfd watched by a
 * uv_poll_t: senders write to it from any thread, the loop's callback reads it back and
 * runs. It replaces uv_async_t on the hot path because libuv 1.44's uv_async_send
 * makes the receiving loop spin (and sched_yield) while a sender is between its two
 * atomic steps; with both threads on one core that costs a time slice per wake-up.
 * Coalescing is the caller's business (otpc__mq wakes only on empty -> non-empty).
 */
#ifndef OTPC_UTIL_WAKE_H
#define OTPC_UTIL_WAKE_H

#include <uv.h>

typedef struct otpc__wake {
    int fd;
    uv_poll_t poll;
    void (*cb)(struct otpc__wake *w);
    void *data;
} otpc__wake_t;

/* 0, or OTPC_EIO. cb runs on loop's thread after one or more sends. */
int otpc__wake_init(otpc__wake_t *w, uv_loop_t *loop, void (*cb)(otpc__wake_t *w));
/* Any thread. */
void otpc__wake_send(otpc__wake_t *w);
/* On the loop's thread; the fd is closed once the loop has let go of it. */
void otpc__wake_close(otpc__wake_t *w);

#endif
