/*
 * A plug-in for otpc_plugin_SUITE: the module `counter`, built three times with
 * -DVSN=1, 2 and 3. Its state is a count; `get` answers it, `inc` adds one,
 * `vsn` answers the version running. Version 2's code_change multiplies the
 * count by 10 (so a test sees the state was converted); version 3's code_change
 * fails.
 */
#include <stdlib.h>

#include "otpc.h"

#ifndef VSN
#define VSN 1
#endif
#define STR(x) #x
#define XSTR(x) STR(x)

static otpc_action_t init(otpc_proc_t *self, otpc_term_t arg, otpc_ret_t *r) {
  long start = 0;
  int i = 1;
  long *count = malloc(sizeof *count);
  if (!count || ei_decode_long(arg.data, &i, &start)) {
    free(count);
    return otpc_stop_atom(r, "badarg");
  }
  *count = start;
  otpc_proc_set_data(self, count);
  return OTPC_OK;
}

static otpc_action_t handle_call(otpc_proc_t *self, otpc_term_t req,
                                 otpc_from_t *from, otpc_ret_t *r) {
  (void)from;
  long *count = otpc_proc_data(self);
  ei_x_buff *x = otpc_ret_reply(r);
  if (otpc_term_is_atom(req, "get"))
    return ei_x_encode_long(x, *count) ? otpc_stop_atom(r, "enomem")
                                       : OTPC_REPLY;
  if (otpc_term_is_atom(req, "inc")) {
    ++*count;
    return otpc_reply_atom(r, "ok");
  }
  if (otpc_term_is_atom(req, "vsn"))
    return ei_x_encode_binary(x, XSTR(VSN), 1) ? otpc_stop_atom(r, "enomem")
                                               : OTPC_REPLY;
  return otpc_reply_atom(r, "unknown");
}

static int code_change(otpc_proc_t *self, otpc_term_t old_vsn,
                       otpc_term_t extra) {
  (void)old_vsn;
  (void)extra;
  if (VSN == 3)
    return OTPC_EINVAL;
  long *count = otpc_proc_data(self);
  if (VSN == 2)
    *count *= 10;
  return 0;
}

static void release(otpc_proc_t *self) { free(otpc_proc_data(self)); }

static const otpc_gen_server_t counter = {
    .name = "counter",
    .vsn = XSTR(VSN),
    .init = init,
    .handle_call = handle_call,
    .code_change = code_change,
    .release = release,
};

OTPC_MODULES(&counter);
