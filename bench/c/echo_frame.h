/*
 * echo_frame: the wire protocol bits the two transport prototypes (echo_epoll.c,
 * echo_uring.c) share, just enough to satisfy bench/c/loadgen.c without an Erlang term
 * decoder: a fixed hello frame, and a call turned into its reply by swapping the atom
 * in front. loadgen sends {call, Tag, {ping, 123}} and wants {reply, Tag, {ping, 123}}
 * back, so the "echo" copies the payload after the first atom unchanged and writes
 * 131 'h' 3 'w' 5 "reply" before it: one byte longer than the request. A frame that is
 * not a call as ei encodes it (SMALL_ATOM_UTF8_EXT "call") is echoed unchanged.
 */
#ifndef ECHO_FRAME_H
#define ECHO_FRAME_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Frames larger than this end the connection (the prototypes never see one). */
#define ECHO_MAX_FRAME (1u << 20)

/* {otpc_hello, 1, 0}: loadgen reads the first frame and ignores what it holds. */
static const unsigned char echo_hello[] = {0,   0,   0,   19,  131, 104, 3,   119,
                                           10,  'o', 't', 'p', 'c', '_', 'h', 'e',
                                           'l', 'l', 'o', 97,  1,   97,  0};

static const unsigned char echo_call_head[] = {131, 104, 3, 119, 4, 'c', 'a', 'l', 'l'};
static const unsigned char echo_reply_head[] = {131, 104, 3, 119, 5, 'r', 'e', 'p', 'l', 'y'};

static inline uint32_t echo_get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void echo_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* The most bytes the reply frame to a payload of len bytes takes. */
static inline size_t echo_reply_max(uint32_t len)
{
    return 4 + (size_t)len + 1;
}

/* Writes the whole reply frame (length prefix included) to the payload of len bytes into
 * out, which has echo_reply_max(len) bytes; returns the bytes written. */
static inline size_t echo_reply(const unsigned char *payload, uint32_t len, unsigned char *out)
{
    if (len >= sizeof echo_call_head && !memcmp(payload, echo_call_head, sizeof echo_call_head)) {
        uint32_t rest = len - (uint32_t)sizeof echo_call_head;
        echo_put32(out, (uint32_t)sizeof echo_reply_head + rest);
        memcpy(out + 4, echo_reply_head, sizeof echo_reply_head);
        memcpy(out + 4 + sizeof echo_reply_head, payload + sizeof echo_call_head, rest);
        return 4 + sizeof echo_reply_head + rest;
    }
    echo_put32(out, len);
    memcpy(out + 4, payload, len);
    return 4 + (size_t)len;
}

/* A growable byte buffer: a connection's pending input or output. */
typedef struct {
    unsigned char *p;
    size_t len, cap;
} echo_buf_t;

/* Room for n more bytes; -1 when memory runs out. */
static inline int echo_buf_reserve(echo_buf_t *b, size_t n)
{
    if (b->cap - b->len >= n)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n)
        cap *= 2;
    unsigned char *p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

/* Appends the reply to every whole frame in in[0..n) to out; returns the bytes used (a
 * partial frame at the end stays for the caller to keep), or -1 for a frame over
 * ECHO_MAX_FRAME or no memory. *frames counts the frames answered. */
static inline long echo_parse(const unsigned char *in, size_t n, echo_buf_t *out, uint64_t *frames)
{
    size_t off = 0;
    while (n - off >= 4) {
        uint32_t len = echo_get32(in + off);
        if (len > ECHO_MAX_FRAME)
            return -1;
        if (n - off - 4 < len)
            break;
        if (echo_buf_reserve(out, echo_reply_max(len)))
            return -1;
        out->len += echo_reply(in + off + 4, len, out->p + out->len);
        off += 4 + (size_t)len;
        (*frames)++;
    }
    return (long)off;
}

#endif
