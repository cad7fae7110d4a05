/*
 * ch3: the channel allocator of OTP's gen_server design principles, in C.
 *   alloc (call)       answers the lowest free channel, 1..100 ({error, no_channel}
 *                      when all are taken)
 *   {free, Ch} (cast)  gives channel Ch back; freeing a channel not allocated is ignored
 */
#include <stdlib.h>
#include <string.h>

#include "examples/examples.h"

#define CHANNELS 100

typedef struct {
    unsigned char used[CHANNELS + 1]; /* index 0 unused */
} ch3_t;

static otpc_action_t ch3_init(otpc_proc_t *self, otpc_term_t arg, otpc_ret_t *r)
{
    (void)arg;
    ch3_t *c = calloc(1, sizeof *c);
    if (!c)
        return otpc_stop_atom(r, "enomem");
    otpc_proc_set_data(self, c);
    return OTPC_OK;
}

static otpc_action_t ch3_call(otpc_proc_t *self, otpc_term_t req, otpc_from_t *from, otpc_ret_t *r)
{
    (void)from;
    ch3_t *c = otpc_proc_data(self);
    if (!otpc_term_is_atom(req, "alloc"))
        return otpc_reply_atom(r, "unknown_call");
    for (long ch = 1; ch <= CHANNELS; ch++) {
        if (!c->used[ch]) {
            if (ei_x_encode_long(otpc_ret_reply(r), ch))
                return otpc_stop_atom(r, "enomem"); /* every encode checked: see otpc.h */
            c->used[ch] = 1;
            return OTPC_REPLY;
        }
    }
    ei_x_buff *x = otpc_ret_reply(r);
    if (ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "error") ||
        ei_x_encode_atom(x, "no_channel"))
        return otpc_stop_atom(r, "enomem");
    return OTPC_REPLY;
}

static otpc_action_t ch3_cast(otpc_proc_t *self, otpc_term_t req, otpc_ret_t *r)
{
    (void)r;
    ch3_t *c = otpc_proc_data(self);
    long ch;
    int i;
    if (otpc_term_is_tagged(req, "free", 2, &i) && ei_decode_long(req.data, &i, &ch) == 0 &&
        ch >= 1 && ch <= CHANNELS)
        c->used[ch] = 0;
    return OTPC_NOREPLY;
}

static int ch3_format_status(otpc_proc_t *self, ei_x_buff *x)
{
    ch3_t *c = otpc_proc_data(self);
    long n = 0;
    for (int ch = 1; ch <= CHANNELS; ch++)
        n += c->used[ch];
    if (ei_x_encode_map_header(x, 1) || ei_x_encode_atom(x, "allocated") ||
        (n && ei_x_encode_list_header(x, n)))
        return -1;
    for (long ch = 1; ch <= CHANNELS; ch++)
        if (c->used[ch] && ei_x_encode_long(x, ch))
            return -1;
    return ei_x_encode_empty_list(x);
}

static void ch3_release(otpc_proc_t *self)
{
    free(otpc_proc_data(self));
}

const otpc_gen_server_t otpc_example_ch3 = {
    .name = "ch3",
    .init = ch3_init,
    .handle_call = ch3_call,
    .handle_cast = ch3_cast,
    .format_status = ch3_format_status,
    .release = ch3_release,
};
