/*
 * Frame reassembly for daemon connections; see reasm.h. Invariant: `pend` is empty or
 * holds the start of exactly one frame (at least one byte of its header).
 */
#include "daemon/reasm.h"

#include "otpc.h"

#define HDR 4
/* A partial frame's buffer is given back once the frame is done if it grew past this,
 * so one large call does not pin its size on an idle connection. */
#define PEND_KEEP (64 * 1024)

void otpc__reasm_free(otpc__reasm_t *r)
{
    otpc__buf_free(&r->pend);
}

static void pend_done(otpc__reasm_t *r)
{
    if (r->pend.cap > PEND_KEEP)
        otpc__buf_free(&r->pend);
    else
        r->pend.len = 0;
}

/* Take bytes from the piece into `pend` until its frame is whole. Sets *done once the
 * frame was handed out; returns 0, the callback's nonzero code or an error. */
static int finish_pending(otpc__reasm_t *r, const char **data, size_t *len, otpc__frame_cb cb,
                          void *ctx, uint64_t *too_big, int *done)
{
    if (r->pend.len < HDR) {
        size_t take = HDR - r->pend.len;
        if (take > *len)
            take = *len;
        if (otpc__buf_append(&r->pend, *data, take))
            return OTPC_ENOMEM;
        *data += take;
        *len -= take;
        if (r->pend.len < HDR)
            return 0;
        uint32_t flen = otpc__get_u32(r->pend.data);
        if (flen > r->max) {
            *too_big = flen;
            return OTPC_ETOOBIG;
        }
    }
    size_t need = HDR + (size_t)otpc__get_u32(r->pend.data) - r->pend.len;
    size_t take = need < *len ? need : *len;
    if (otpc__buf_append(&r->pend, *data, take))
        return OTPC_ENOMEM;
    *data += take;
    *len -= take;
    if (take < need)
        return 0;
    int rc = cb(ctx, r->pend.data + HDR, r->pend.len - HDR);
    pend_done(r);
    *done = 1;
    return rc;
}

int otpc__reasm_feed(otpc__reasm_t *r, const char *data, size_t len, otpc__frame_cb cb, void *ctx,
                     uint64_t *too_big)
{
    if (r->pend.len) {
        int done = 0;
        int rc = finish_pending(r, &data, &len, cb, ctx, too_big, &done);
        if (rc || !done)
            return rc; /* an error, a stop, or the piece is used up */
    }
    while (len >= HDR) {
        uint32_t flen = otpc__get_u32(data);
        if (flen > r->max) {
            *too_big = flen;
            return OTPC_ETOOBIG;
        }
        if (len - HDR < flen)
            break;
        int rc = cb(ctx, data + HDR, flen);
        if (rc)
            return rc;
        data += HDR + flen;
        len -= HDR + (size_t)flen;
    }
    if (!len)
        return 0;
    /* A partial frame: gather what came. Its buffer grows with the bytes, never with
     * what the header merely announces: a client pays for its memory by sending. */
    return otpc__buf_append(&r->pend, data, len) ? OTPC_ENOMEM : 0;
}
