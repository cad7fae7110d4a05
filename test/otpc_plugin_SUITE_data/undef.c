/* A plug-in that needs a function nothing provides: dlopen refuses it. */
#include "otpc.h"

int otpc_test_no_such_function(void);

static otpc_action_t init(otpc_proc_t *self, otpc_term_t arg, otpc_ret_t *r) {
  (void)self;
  (void)arg;
  (void)r;
  return otpc_test_no_such_function() ? OTPC_OK : OTPC_IGNORE;
}

static const otpc_gen_server_t m = {.name = "undef", .init = init};

OTPC_MODULES(&m);
