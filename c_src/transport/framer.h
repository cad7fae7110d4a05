/*
 * The framer of {packet, 4} streams: a 4-byte big-endian length, then that many bytes.
 * The one framer of live distribution connections (distribution/peer.c) and daemon
 * connections (daemon/session.c); the handshake keeps its 2-byte framing
 * (proto/framing.h).
 *
 * Two ways in, one out:
 *  - otpc__framer_feed(): a piece read elsewhere (a read buffer shared by every
 *    connection, TLS plaintext). Frames that lie whole in it are handed out in place;
 *    only a frame cut by its end is kept, so an idle connection holds no buffer.
 *  - otpc__framer_space() / otpc__framer_commit(): read straight into the framer's own
 *    buffer, which grows to hold a large frame in one place (no copy of a 64 MiB
 *    message after the read).
 * Either way whole frames go to the callback in order (len may be 0: a tick or a
 * keepalive); a nonzero return stops and is returned. A header announcing more than
 * `max` is OTPC_ETOOBIG with *too_big set, before anything is allocated for it; the
 * buffer grows with the bytes that arrive, never with what a header announces. After
 * an error the stream is unusable. Do not mix the two ways on one framer.
 */
#ifndef OTPC_TRANSPORT_FRAMER_H
#define OTPC_TRANSPORT_FRAMER_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct {
    otpc__buf_t buf; /* feed: the start of one cut frame; space: bytes not handed out */
    size_t max;      /* largest payload accepted */
    size_t keep;     /* an emptied buffer up to this size is kept for reuse (0: 64 KiB);
                      * a larger one is given back */
} otpc__framer_t;

/* A whole frame; `data` is borrowed for the call. Nonzero stops the framer. */
typedef int (*otpc__frame_cb)(void *ctx, const char *data, size_t len);

/* Feed one piece (borrowed). 0 when every whole frame was handed out (a partial one is
 * kept), the callback's nonzero return, OTPC_ETOOBIG or OTPC_ENOMEM. */
int otpc__framer_feed(otpc__framer_t *fr, const char *data, size_t len, otpc__frame_cb cb,
                      void *ctx, uint64_t *too_big);

/* Room at the end of the framer's buffer for at least `chunk` bytes: read into
 * *at[0..*room), then commit what was read. 0 or OTPC_ENOMEM. */
int otpc__framer_space(otpc__framer_t *fr, size_t chunk, char **at, size_t *room);

/* `n` bytes were read into the space: hand out the whole frames, keep the rest. Same
 * returns as feed. */
int otpc__framer_commit(otpc__framer_t *fr, size_t n, otpc__frame_cb cb, void *ctx,
                        uint64_t *too_big);

/* Bytes held (a partial frame, or read and not handed out). */
static inline size_t otpc__framer_pending(const otpc__framer_t *fr)
{
    return fr->buf.len;
}

void otpc__framer_free(otpc__framer_t *fr);

#endif
