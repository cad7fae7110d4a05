/*
 * The built-in services, in the order a node boots them (see services.h).
 */
#include "services/rpc.h"
#include "services/services.h"

static const otpc_service_t builtins[] = {
    {"net_kernel", otpc__net_kernel_start, NULL},
    {"otpc_starter", otpc__starter_start, NULL},
    {"rex", otpc__rex_start, NULL},
    {"pg", otpc__pg_service_start, NULL},
    {"global_name_server", otpc__global_start, NULL},
};

const otpc_service_t *otpc__builtin_services(size_t *count)
{
    *count = sizeof builtins / sizeof *builtins;
    return builtins;
}
