/* Output streams of large messages; see ostream.h. */
#include "distribution/ostream.h"

#include <stdlib.h>
#include <string.h>

#include "proto/frag.h"

otpc__ostream_t *otpc__os_find(otpc__peer_t *p, const otpc_pid_t *from)
{
    if (!from)
        return NULL;
    for (uint32_t i = 0; i < p->nstreams; i++)
        if (otpc_pid_eq(&p->streams[i]->sender, from))
            return p->streams[i];
    return NULL;
}

static otpc__ostream_t *stream_new(otpc__peer_t *p, const otpc_pid_t *from)
{
    if (p->nstreams == p->streams_cap) {
        uint32_t cap = p->streams_cap ? p->streams_cap * 2 : 4;
        otpc__ostream_t **v = realloc(p->streams, cap * sizeof *v);
        if (!v)
            return NULL;
        p->streams = v;
        p->streams_cap = cap;
    }
    otpc__ostream_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (from)
        s->sender = *from;
    p->streams[p->nstreams++] = s;
    return s;
}

static void stream_remove(otpc__peer_t *p, uint32_t i)
{
    otpc__ostream_t *s = p->streams[i];
    otpc__buf_free(&s->q);
    free(s);
    /* keep the others' order, so the round robin stays fair */
    memmove(p->streams + i, p->streams + i + 1, (p->nstreams - i - 1) * sizeof *p->streams);
    p->nstreams--;
    if (p->rr > i)
        p->rr--;
}

/* Copy the next n bytes of src (read position *seg, *off) to dst. */
static void take(const otpc__osrc_t *src, int *seg, size_t *off, char *dst, size_t n)
{
    while (n > 0) {
        size_t left = src->len[*seg] - *off;
        if (!left) {
            (*seg)++;
            *off = 0;
            continue;
        }
        size_t k = left < n ? left : n;
        memcpy(dst, src->seg[*seg] + *off, k);
        dst += k;
        *off += k;
        n -= k;
    }
}

static size_t src_len(const otpc__osrc_t *src)
{
    return src->len[0] + src->len[1] + src->len[2];
}

/* One frame (4-byte length, header, then n bytes of src) at the end of q. */
static void put_frame(otpc__buf_t *q, const char *hdr, size_t hlen, const otpc__osrc_t *src,
                      int *seg, size_t *off, size_t n)
{
    char *f = q->data + q->len;
    otpc__put_u32(f, (uint32_t)(hlen + n));
    memcpy(f + 4, hdr, hlen);
    take(src, seg, off, f + 4 + hlen, n);
    q->len += 4 + hlen + n;
}

/* Room for n more bytes in a stream's queue. Large messages' queues are mapped buffers
 * (util/buf.h): a 64 MiB message is then copied into pages the last one used, not into
 * 16,384 fresh pages each faulting in. */
static int reserve(otpc__buf_t *q, size_t n)
{
    if (q->cap - q->len >= n)
        return 0;
    if (n > SIZE_MAX - q->len)
        return OTPC_ENOMEM;
    size_t cap = q->len + n;
    return otpc__buf_set_cap_large(q, cap < 2 * q->cap ? 2 * q->cap : cap);
}

/* The message cut into fragments: the first holds the whole control message. */
static int put_fragments(otpc__peer_t *p, otpc__buf_t *q, const otpc__osrc_t *src)
{
    size_t body = src_len(src);
    uint64_t count = (body + OTPC__FRAG_SIZE - 1) / OTPC__FRAG_SIZE;
    size_t need = body + count * (4 + OTPC__DHDR_FIRST_LEN);
    if (reserve(q, need))
        return OTPC_ENOMEM;
    uint64_t seq = ++p->next_seq;
    char hdr[OTPC__DHDR_FIRST_LEN];
    int seg = 0;
    size_t off = 0;
    for (uint64_t frag = count; frag > 0; frag--) {
        size_t n = body > OTPC__FRAG_SIZE ? OTPC__FRAG_SIZE : body;
        size_t hlen = frag == count ? otpc__dhdr_put_first(hdr, seq, frag)
                                    : otpc__dhdr_put_cont(hdr, seq, frag);
        put_frame(q, hdr, hlen, src, &seg, &off, n);
        body -= n;
    }
    return 0;
}

static int put_whole(otpc__buf_t *q, const otpc__osrc_t *src)
{
    size_t body = src_len(src);
    char hdr[OTPC__DHDR_NORMAL_LEN];
    if (reserve(q, 4 + sizeof hdr + body))
        return OTPC_ENOMEM;
    int seg = 0;
    size_t off = 0;
    put_frame(q, hdr, otpc__dhdr_put_normal(hdr), src, &seg, &off, body);
    return 0;
}

static size_t stream_left(const otpc__ostream_t *s)
{
    return s->q.len - s->head;
}

int otpc__os_queue(otpc_node_t *n, otpc__peer_t *p, const otpc_pid_t *from, const otpc__osrc_t *src,
                   size_t ctl, int frag)
{
    otpc__ostream_t *s = otpc__os_find(p, from);
    int fresh = !s;
    if (fresh && !(s = stream_new(p, from)))
        return OTPC_ENOMEM;
    int rc = frag && ctl <= OTPC__FRAG_SIZE ? put_fragments(p, &s->q, src) : put_whole(&s->q, src);
    if (rc) {
        if (fresh)
            stream_remove(p, p->nstreams - 1);
        return rc;
    }
    otpc_proc_t *cur = otpc__current(n);
    if (stream_left(s) >= n->opts.busy_limit && from && cur && !cur->parked && !cur->exiting &&
        otpc_pid_eq(&cur->pid, from)) {
        cur->parked = p->node; /* after its callback; otpc__os_emit wakes it */
        s->parked = 1;
    }
    return 0;
}

/* The next whole frame of s to the output; 0 when it moved one, -1 out of memory. */
static int move_one(otpc__peer_t *p, otpc__ostream_t *s, size_t *moved)
{
    size_t flen = 4 + (size_t)otpc__get_u32(s->q.data + s->head);
    if (otpc__buf_append(otpc__ep_out(p->ep), s->q.data + s->head, flen))
        return -1;
    s->head += flen;
    *moved += flen;
    return 0;
}

/* After frames of stream i moved: its sender may run again below busy_limit; an empty
 * stream goes. Returns 1 when it went. */
static int settle(otpc_node_t *n, otpc__peer_t *p, uint32_t i)
{
    otpc__ostream_t *s = p->streams[i];
    if (s->parked && stream_left(s) < n->opts.busy_limit) {
        s->parked = 0;
        otpc__proc_unpark(n, &s->sender, p->node);
    }
    if (stream_left(s))
        return 0;
    stream_remove(p, i);
    return 1;
}

int otpc__os_emit(otpc_node_t *n, otpc__peer_t *p)
{
    size_t window = n->opts.busy_limit / 2, moved = 0;
    while (p->nstreams && moved < OTPC__EMIT_BUDGET && otpc__peer_backlog(p) < window) {
        if (p->rr >= p->nstreams)
            p->rr = 0;
        uint32_t i = p->rr;
        if (move_one(p, p->streams[i], &moved))
            break; /* out of memory: the streams wait for the next turn */
        if (!settle(n, p, i))
            p->rr = i + 1;
    }
    return p->nstreams && otpc__peer_backlog(p) < window;
}

size_t otpc__os_pending(const otpc__peer_t *p)
{
    size_t sum = 0;
    for (uint32_t i = 0; i < p->nstreams; i++)
        sum += stream_left(p->streams[i]);
    return sum;
}

void otpc__os_free(otpc_node_t *n, otpc__peer_t *p)
{
    while (p->nstreams) {
        otpc__ostream_t *s = p->streams[p->nstreams - 1];
        if (s->parked)
            otpc__proc_unpark(n, &s->sender, p->node);
        stream_remove(p, p->nstreams - 1);
    }
    free(p->streams);
    p->streams = NULL;
    p->streams_cap = 0;
}
