/*
 * The gen:call protocol as seen by a server: decoding {'$gen_call', {From, Tag}, Req}
 * and replying {Tag, Reply}.
 *
 * The tag is never decoded into a structure and re-encoded: its bytes are copied, so
 * OTP 24+ `[alias | Ref]` tags, plain refs and multi_call's `{Ref, Node}` all come
 * back exactly as the caller matches them.
 */
#include <string.h>

#include "distribution/dsig.h"
#include "otp/gen_server_int.h"
#include "util/log.h"

int otpc__decode_call(otpc_proc_t *self, otpc_term_t msg, otpc__from_t *from, int *req_index)
{
    int i;
    return otpc_term_is_tagged(msg, "$gen_call", 3, &i) &&
           otpc__decode_from(self, msg, i, from, req_index);
}

int otpc__decode_from(otpc_proc_t *self, otpc_term_t msg, int i, otpc__from_t *from, int *req_index)
{
    const char *b = msg.data;
    int arity;
    if (ei_decode_tuple_header(b, &i, &arity) || arity != 2 ||
        otpc_decode_pid(self, b, &i, &from->pid))
        return 0;
    int start = i;
    if (otpc_skip_term(msg, &i))
        return 0;
    from->tag.data = b + start;
    from->tag.size = (size_t)(i - start);
    *req_index = i;
    return 1;
}

/* [alias | Ref]: a one-element improper list whose head is the atom alias. */
static int tag_alias(otpc_node_t *n, const otpc__span_t *tag, otpc_ref_t *alias)
{
    const char *b = tag->data;
    int i = 0, arity;
    erlang_ref r;
    if (ei_decode_list_header(b, &i, &arity) || arity != 1 ||
        !otpc_decode_atom_is(b, &i, "alias") || ei_decode_ref(b, &i, &r))
        return 0;
    return otpc__ref_from_ei(n, &r, alias) == 0;
}

int otpc__gen_reply(otpc_proc_t *self, const otpc__from_t *from, otpc_term_t reply)
{
    return otpc__gen_reply_as(self->node, &self->pid, from, reply);
}

int otpc__gen_reply_as(otpc_node_t *n, const otpc_pid_t *server, const otpc__from_t *from,
                       otpc_term_t reply)
{
    OTPC__ASSERT_SCHED(n); /* a domain's lock at least: the tables are read */
    const char *body = reply.data + 1;
    size_t blen = reply.size - 1;
    int local = otpc__pid_is_local(n, &from->pid);
    otpc_proc_t *to = local ? otpc__proc_lookup(n, &from->pid) : NULL;
    if (local && !to)
        return 0;                         /* a caller that is gone: dropped, as in Erlang */
    if (to && to->beh && to->beh->wire) { /* a caller across a daemon socket */
        /* its socket is its domain's: a server of the same domain (the session's own)
         * writes holding that lock only */
        OTPC__ENTER_DOM(n, to->home);
        return to->beh->wire(to, &from->tag, body, blen);
    }
    ei_x_buff *x = otpc__scratch(n); /* "{Tag, " -- the reply itself follows it */
    x->index = 0;
    if (ei_x_encode_version(x) || ei_x_encode_tuple_header(x, 2) ||
        otpc__x_raw(x, from->tag.data, from->tag.size))
        return OTPC_ENOMEM;
    if (local) {
        /* a process of this domain at once, of another through its inbox */
        if (otpc__x_raw(x, body, blen))
            return OTPC_ENOMEM;
        if (!otpc__dom_held(n, to->home))
            return otpc__inbox_send(n, to->home, &from->pid, server, x->buff, (size_t)x->index);
        return otpc__send_local(n, server, &from->pid, x->buff, (size_t)x->index);
    }
    /* Remote: the frame gets the prefix and the reply, each copied once, straight in
     * (or into the inbox of the domain that reads the caller's connection). */
    otpc_ref_t alias;
    int has_alias = tag_alias(n, &from->tag, &alias);
    return otpc__dsig_reply_any(n, server, &from->pid, has_alias ? &alias : NULL, x->buff,
                                (size_t)x->index, body, blen);
}
