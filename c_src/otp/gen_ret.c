/*
 * What a gen_server callback returns, beyond its action: otpc_ret_t, one per nesting
 * level of callbacks, kept by each scheduler (callbacks on two schedulers run at once)
 * and reused, so building a reply allocates
 * nothing once the buffers have grown; and the versioned views into mailbox items
 * through which requests reach callbacks without a copy.
 *
 * Invariants:
 *  - A view borrows exactly one byte of a mailbox item (the one before the subterm)
 *    and puts it back before the item is used again.
 *  - reply_ref is set only for a term inside the message being handled, which lives
 *    until the reply is sent; only the bytes after its first are ever read.
 */
#include <stdlib.h>
#include <string.h>

#include "proto/term.h"
#include "core/format.h"
#include "otp/gen_server_int.h"
#include "util/log.h"

/* ---- views into mailbox items ------------------------------------------------------ */

otpc_term_t otpc__view_begin(otpc_term_t msg, int index, char *saved)
{
    char *b = (char *)msg.data; /* a mailbox item or trap buffer: ours to write */
    *saved = b[index - 1];
    b[index - 1] = (char)ERL_VERSION_MAGIC;
    otpc_term_t t = {b + index - 1, msg.size - (size_t)(index - 1)};
    return t;
}

void otpc__view_end(otpc_term_t msg, int index, char saved)
{
    ((char *)msg.data)[index - 1] = saved;
}

/* ---- otpc_ret_t ---------------------------------------------------------------------- */

/* A scheduler's stack of otpc_ret_t, one per nesting level. */
typedef struct {
    otpc_ret_t **v;
    uint32_t n, depth;
} rets_t;

static otpc__ext_key_t rets_key;

static void rets_free(otpc_node_t *n, void *state)
{
    (void)n;
    rets_t *R = state;
    for (uint32_t i = 0; i < R->n; i++) {
        ei_x_free(&R->v[i]->reply);
        ei_x_free(&R->v[i]->reason);
        ei_x_free(&R->v[i]->cont);
        free(R->v[i]);
    }
    free(R->v);
    free(R);
}

static rets_t *rets_of(otpc_node_t *n)
{
    void **slot = otpc__sched_local(n, &rets_key, rets_free);
    if (slot && !*slot)
        *slot = calloc(1, sizeof(rets_t));
    return slot ? *slot : NULL;
}

otpc_ret_t *otpc__ret_begin(otpc_node_t *n)
{
    rets_t *R = rets_of(n);
    if (!R)
        return NULL;
    if (R->depth == R->n) {
        otpc_ret_t **v = realloc(R->v, (R->n + 1) * sizeof *v);
        if (!v)
            return NULL;
        R->v = v;
        otpc_ret_t *r = calloc(1, sizeof *r);
        if (!r || ei_x_new(&r->reply) || ei_x_new(&r->reason) || ei_x_new(&r->cont)) {
            if (r) {
                ei_x_free(&r->reply);
                ei_x_free(&r->reason);
            }
            free(r);
            return NULL;
        }
        R->v[R->n++] = r;
    }
    otpc_ret_t *r = R->v[R->depth++];
    r->has_reply = r->has_reason = r->enomem = 0;
    r->post = POST_NONE;
    r->reply_ref.data = NULL;
    r->msg_lo = r->msg_hi = NULL;
    return r;
}

void otpc__ret_end(otpc_node_t *n)
{
    rets_of(n)->depth--;
}

/* x emptied down to the version byte. ei_x_new gave it room for far more, so this
 * does not fail; if it did, r remembers and the server stops with enomem. */
static ei_x_buff *fresh(otpc_ret_t *r, ei_x_buff *x)
{
    x->index = 0;
    if (ei_x_encode_version(x))
        r->enomem = 1;
    return x;
}

ei_x_buff *otpc_ret_reply(otpc_ret_t *r)
{
    r->has_reply = 1;
    r->reply_ref.data = NULL;
    return fresh(r, &r->reply);
}

ei_x_buff *otpc_ret_reason(otpc_ret_t *r)
{
    r->has_reason = 1;
    return fresh(r, &r->reason);
}

ei_x_buff *otpc_ret_continue(otpc_ret_t *r)
{
    r->post = POST_CONTINUE;
    return fresh(r, &r->cont);
}

void otpc_ret_timeout(otpc_ret_t *r, unsigned ms)
{
    r->post = POST_TIMEOUT;
    r->timeout_ms = ms;
}

void otpc_ret_hibernate(otpc_ret_t *r)
{
    r->post = POST_HIBERNATE;
}

/* The shortcuts: a term they cannot build for want of memory marks r (enomem),
 * which stops the server whatever the callback goes on to return. A malformed term
 * (OTPC_EBADARG) is left for the runtime's check, as before. */

otpc_action_t otpc_reply_atom(otpc_ret_t *r, const char *atom)
{
    if (ei_x_encode_atom(otpc_ret_reply(r), atom))
        r->enomem = 1;
    return OTPC_REPLY;
}

otpc_action_t otpc_reply_term(otpc_ret_t *r, otpc_term_t reply)
{
    if (r->msg_lo && reply.data >= r->msg_lo && reply.size > 1 &&
        reply.size <= (size_t)(r->msg_hi - reply.data)) {
        /* Part of the request (an echo): sent from where it is, copied once, into the
         * frame. The message outlives the callback and the reply. */
        r->has_reply = 1;
        r->reply_ref = reply;
        return OTPC_REPLY;
    }
    if (otpc_x_append_term(otpc_ret_reply(r), reply) == OTPC_ENOMEM)
        r->enomem = 1;
    return OTPC_REPLY;
}

otpc_action_t otpc_stop_atom(otpc_ret_t *r, const char *reason)
{
    if (ei_x_encode_atom(otpc_ret_reason(r), reason))
        r->enomem = 1;
    return OTPC_STOP;
}

otpc_action_t otpc_stop_term(otpc_ret_t *r, otpc_term_t reason)
{
    if (otpc_x_append_term(otpc_ret_reason(r), reason) == OTPC_ENOMEM)
        r->enomem = 1;
    return OTPC_STOP;
}

/* A formatted reply or reason: out of memory marks r; a malformed format leaves x
 * holding only its version byte, which the runtime refuses (malformed_term). */
static void formatted(otpc_ret_t *r, ei_x_buff *x, const char *what, const char *fmt, va_list ap)
{
    const char *why;
    size_t at;
    int rc = otpc__x_vformat(x, fmt, ap, &why, &at);
    if (rc == OTPC_ENOMEM)
        r->enomem = 1;
    else if (rc)
        OTPC__LOG_ERROR("gen_server", "%s: malformed format or argument at %zu (%s): %s", what, at,
                        why ? why : "", fmt ? fmt : "NULL");
}

otpc_action_t otpc_reply_format(otpc_ret_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    formatted(r, otpc_ret_reply(r), "otpc_reply_format", fmt, ap);
    va_end(ap);
    return OTPC_REPLY;
}

otpc_action_t otpc_stop_format(otpc_ret_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    formatted(r, otpc_ret_reason(r), "otpc_stop_format", fmt, ap);
    va_end(ap);
    return OTPC_STOP;
}

int otpc__x_tag_atom(ei_x_buff *x, const char *tag, const char *atom)
{
    /* atom may be a name a peer sent (decoded as UTF-8) */
    if (ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, tag) ||
        ei_x_encode_atom_len_as(x, atom, (int)strlen(atom), ERLANG_UTF8, ERLANG_UTF8))
        return OTPC_ENOMEM;
    return 0;
}
