/*
 * Reassembly of daemon frames (pure): a 4-byte big-endian length, then that many bytes,
 * exactly gen_tcp's {packet, 4}. Bytes arrive in whatever pieces the socket gives.
 *
 * Frames that lie whole inside a piece are handed out in place, without a copy; only a
 * frame cut by the end of a piece is gathered in `pend`, which grows with the bytes
 * that arrive (never with what a header announces, so a header alone costs nothing).
 * An idle connection holds no buffer at all. A header announcing more than `max` bytes
 * is an error before anything is allocated.
 */
#ifndef OTPC_DAEMON_REASM_H
#define OTPC_DAEMON_REASM_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct {
    otpc__buf_t pend; /* a frame cut by the end of a piece: its header and first bytes */
    size_t max;       /* largest payload accepted */
} otpc__reasm_t;

/* Called for every whole frame, in order; `data` is borrowed for the call (len may be
 * 0: an empty frame). A nonzero return stops feeding and is returned by feed. */
typedef int (*otpc__frame_cb)(void *ctx, const char *data, size_t len);

/* Feed one piece. Returns 0 when every whole frame was handed out (a partial one is
 * kept), the callback's nonzero return, OTPC_ETOOBIG with *too_big set to the announced
 * length, or OTPC_ENOMEM. After an error the stream is unusable. */
int otpc__reasm_feed(otpc__reasm_t *r, const char *data, size_t len, otpc__frame_cb cb, void *ctx,
                     uint64_t *too_big);

/* Bytes held for a partial frame. */
static inline size_t otpc__reasm_pending(const otpc__reasm_t *r)
{
    return r->pend.len;
}

void otpc__reasm_free(otpc__reasm_t *r);

#endif
