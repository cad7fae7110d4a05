#include <otpc.h>
#include <stdlib.h>

#ifndef VSN
#define VSN "1"
#endif

static otpc_action_t init(otpc_proc_t *self, otpc_term_t arg, otpc_ret_t *r)
{
    long *n = malloc(sizeof *n);
    int i = 1;
    if (!n || ei_decode_long(arg.data, &i, n)) {
        free(n);
        return otpc_stop_atom(r, "badarg");
    }
    otpc_proc_set_data(self, n);
    return OTPC_OK;
}

static otpc_action_t handle_call(otpc_proc_t *self, otpc_term_t req, otpc_from_t *from,
                                 otpc_ret_t *r)
{
    (void)from;
    long *n = otpc_proc_data(self);
    if (otpc_term_is_atom(req, "inc"))
        ++*n;
    else if (!otpc_term_is_atom(req, "get"))
        return otpc_reply_atom(r, "badarg");
    ei_x_buff *x = otpc_ret_reply(r);
    if (ei_x_encode_tuple_header(x, 2) || ei_x_encode_string(x, VSN) || ei_x_encode_long(x, *n))
        return otpc_stop_atom(r, "enomem");
    return OTPC_REPLY;
}

/* Version 2 counts in tens: the state of a server moved from version 1 is converted. */
static int code_change(otpc_proc_t *self, otpc_term_t old_vsn, otpc_term_t extra)
{
    (void)old_vsn;
    (void)extra;
    *(long *)otpc_proc_data(self) *= 10;
    return 0;
}

static void release(otpc_proc_t *self)
{
    free(otpc_proc_data(self));
}

static const otpc_gen_server_t counter = {
    .name = "counter", .vsn = VSN, .init = init, .handle_call = handle_call,
    .code_change = code_change, .release = release,
};

OTPC_MODULES(&counter);
