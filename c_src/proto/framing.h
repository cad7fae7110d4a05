/*
 * Length-prefixed framing, pure: finds complete packets in a reassembly buffer.
 * Handshake messages carry a 2-byte length, connected-state packets a 4-byte one
 * (a zero-length packet is a tick). Nothing here does I/O or allocates.
 */
#ifndef OTPC_DIST_FRAMING_H
#define OTPC_DIST_FRAMING_H

#include <stddef.h>

typedef struct {
    size_t off;  /* payload offset from the start of the examined data */
    size_t len;  /* payload length (0: a tick) */
    size_t next; /* bytes consumed including the header */
} otpc__frame_t;

/* Look at data[0..avail). Returns 1 and fills *f when a whole frame is there, 0 when
 * more bytes are needed, OTPC_ETOOBIG when the header announces more than max bytes
 * (the connection must be closed: its stream can no longer be trusted). hdr is 2 or 4. */
int otpc__frame_next(const char *data, size_t avail, unsigned hdr, size_t max, otpc__frame_t *f);

#endif
