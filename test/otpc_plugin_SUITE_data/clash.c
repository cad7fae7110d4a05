/* A plug-in naming a module the node program has built in (echo): refused. */
#include "otpc.h"

static const otpc_gen_server_t echo = {.name = "echo", .vsn = "x"};

OTPC_MODULES(&echo);
