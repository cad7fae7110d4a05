/*
 * What a daemon frame asks for (pure): the payload of one {packet, 4} frame, as cut by
 * transport/framer.c, classified the way a session acts on it. An empty frame is a
 * keepalive; otherwise the frame must be exactly one versioned term, {call, Tag, Req}
 * or {cast, Req}. Nothing here trusts the bytes: the term is walked (dist/term.h)
 * before ei decodes any of it, and ei is never asked to read past the frame.
 */
#ifndef OTPC_DAEMON_FRAME_H
#define OTPC_DAEMON_FRAME_H

#include <stddef.h>

typedef enum {
    OTPC__DFRAME_KEEPALIVE, /* empty frame: nothing to do */
    OTPC__DFRAME_CALL,      /* {call, Tag, Req} */
    OTPC__DFRAME_CAST,      /* {cast, Req} */
    OTPC__DFRAME_BAD        /* the connection must end with {bad_frame, why} */
} otpc__dframe_kind_t;

typedef struct {
    otpc__dframe_kind_t kind;
    const char *why; /* BAD: "not_a_term" or "unknown_message" (static); else NULL */
    size_t tag_off;  /* CALL: Tag, one unversioned term at data[tag_off..+tag_len) */
    size_t tag_len;
    size_t req_off; /* CALL, CAST: Req, one unversioned term up to the frame's end */
} otpc__dframe_t;

/* Classify the frame data[0..len) into *out; returns out->kind. The offsets point into
 * data, which the caller keeps. */
otpc__dframe_kind_t otpc__daemon_classify(const char *data, size_t len, otpc__dframe_t *out);

#endif
