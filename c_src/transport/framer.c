/*
 * The {packet, 4} framer; see framer.h. Invariant: after feed, `buf` is empty or holds
 * the start of exactly one frame; after commit, `buf` holds no whole frame.
 */
#include "transport/framer.h"

#include "otpc.h"
#include "proto/framing.h"

#define HDR 4
/* By default a buffer that grew past this for one large frame is given back once it is
 * empty, so one large message does not pin its size on an idle connection. */
#define KEEP (64 * 1024)

void otpc__framer_free(otpc__framer_t *fr)
{
    otpc__buf_free(&fr->buf);
}

static void emptied(otpc__framer_t *fr)
{
    if (fr->buf.cap > (fr->keep ? fr->keep : KEEP))
        otpc__buf_free(&fr->buf);
    else
        fr->buf.len = 0;
}

/* Hand out the whole frames at data[0..len); *used is how far it got. */
static int frames(const otpc__framer_t *fr, const char *data, size_t len, size_t *used,
                  otpc__frame_cb cb, void *ctx, uint64_t *too_big)
{
    size_t pos = 0;
    otpc__frame_t f;
    int r, rc = 0;
    while (rc == 0 && (r = otpc__frame_next(data + pos, len - pos, HDR, fr->max, &f)) > 0) {
        rc = cb(ctx, data + pos + f.off, f.len);
        pos += f.next;
    }
    *used = pos;
    if (rc)
        return rc;
    if (r < 0) {
        *too_big = otpc__get_u32(data + pos);
        return OTPC_ETOOBIG;
    }
    return 0;
}

/* feed: complete the kept frame from the piece; *done once it was handed out. */
static int finish_pending(otpc__framer_t *fr, const char **data, size_t *len, otpc__frame_cb cb,
                          void *ctx, uint64_t *too_big, int *done)
{
    otpc__buf_t *b = &fr->buf;
    if (b->len < HDR) {
        size_t take = HDR - b->len < *len ? HDR - b->len : *len;
        if (otpc__buf_append(b, *data, take))
            return OTPC_ENOMEM;
        *data += take;
        *len -= take;
        if (b->len < HDR)
            return 0;
        if (otpc__get_u32(b->data) > fr->max) {
            *too_big = otpc__get_u32(b->data);
            return OTPC_ETOOBIG;
        }
    }
    size_t need = HDR + (size_t)otpc__get_u32(b->data) - b->len;
    size_t take = need < *len ? need : *len;
    if (otpc__buf_append(b, *data, take))
        return OTPC_ENOMEM;
    *data += take;
    *len -= take;
    if (take < need)
        return 0;
    int rc = cb(ctx, b->data + HDR, b->len - HDR);
    emptied(fr);
    *done = 1;
    return rc;
}

int otpc__framer_feed(otpc__framer_t *fr, const char *data, size_t len, otpc__frame_cb cb,
                      void *ctx, uint64_t *too_big)
{
    if (fr->buf.len) {
        int done = 0;
        int rc = finish_pending(fr, &data, &len, cb, ctx, too_big, &done);
        if (rc || !done)
            return rc; /* an error, a stop, or the piece is used up */
    }
    size_t used;
    int rc = frames(fr, data, len, &used, cb, ctx, too_big);
    if (rc || used == len)
        return rc;
    /* A partial frame: keep what came (the header is checked once it is whole). */
    return otpc__buf_append(&fr->buf, data + used, len - used) ? OTPC_ENOMEM : 0;
}

int otpc__framer_space(otpc__framer_t *fr, size_t chunk, char **at, size_t *room)
{
    if (otpc__buf_reserve(&fr->buf, chunk))
        return OTPC_ENOMEM;
    *at = fr->buf.data + fr->buf.len;
    *room = fr->buf.cap - fr->buf.len;
    return 0;
}

int otpc__framer_commit(otpc__framer_t *fr, size_t n, otpc__frame_cb cb, void *ctx,
                        uint64_t *too_big)
{
    fr->buf.len += n;
    size_t used;
    int rc = frames(fr, fr->buf.data, fr->buf.len, &used, cb, ctx, too_big);
    if (used == fr->buf.len)
        emptied(fr);
    else
        otpc__buf_consume(&fr->buf, used);
    return rc;
}
