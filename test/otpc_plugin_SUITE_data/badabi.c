/* A plug-in built with another ABI than the node's. */
#include "otpc.h"

static const otpc_gen_server_t m = {.name = "badabi"};
static const otpc_gen_server_t *const mods[] = {&m};
extern __attribute__((visibility("default"))) const otpc_plugin_t otpc_plugin;
const otpc_plugin_t otpc_plugin = {999, 1, mods};
