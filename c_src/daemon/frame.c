/* Daemon frame classification; see frame.h. */
#include "daemon/frame.h"

#include <ei.h>
#include <string.h>

#include "otpc.h"
#include "proto/term.h"

static otpc__dframe_kind_t bad(otpc__dframe_t *out, const char *why)
{
    out->kind = OTPC__DFRAME_BAD;
    out->why = why;
    return out->kind;
}

otpc__dframe_kind_t otpc__daemon_classify(const char *data, size_t len, otpc__dframe_t *out)
{
    memset(out, 0, sizeof *out);
    if (len == 0)
        return out->kind = OTPC__DFRAME_KEEPALIVE;
    size_t used;
    if (otpc__term_skip_versioned(data, len, &used) || used != len)
        return bad(out, "not_a_term");
    /* The walk above bounds every ei call below to data[0..len), as long as each decodes
     * a term that is there: the atom only when the tuple has elements (the empty tuple
     * {} ends the frame, and ei would read past it). */
    int i = 1, arity;
    if (ei_decode_tuple_header(data, &i, &arity) || arity < 2 || arity > 3)
        return bad(out, "unknown_message");
    if (arity == 3 && otpc_decode_atom_is(data, &i, "call")) {
        out->tag_off = (size_t)i;
        if (otpc__term_skip(data + i, len - (size_t)i, &used))
            return bad(out, "unknown_message"); /* cannot happen: the tuple was walked */
        out->tag_len = used;
        out->req_off = out->tag_off + used;
        return out->kind = OTPC__DFRAME_CALL;
    }
    if (arity == 2 && otpc_decode_atom_is(data, &i, "cast")) {
        out->req_off = (size_t)i;
        return out->kind = OTPC__DFRAME_CAST;
    }
    return bad(out, "unknown_message");
}
