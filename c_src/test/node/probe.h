/* The probe process and the scriptable gen_server used by the Erlang test suites; see
 * probe.c and gs_probe.c. */
#ifndef OTPC_TEST_NODE_PROBE_H
#define OTPC_TEST_NODE_PROBE_H

#include "otpc.h"

/* Spawn argument: a const otpc_pid_t * owner, or NULL. */
extern const otpc_proc_ops_t otpc_probe_ops;
/* Startable with otpc:start(Node, gs_probe, {Observer, InitAction, TrapExit}, Opts). */
extern const otpc_gen_server_t otpc_gs_probe;
/* The functions of the module probe_rpc (rpc_probe.c), callable through rpc/erpc. */
int otpc_rpc_probe_register(otpc_node_t *node);

#endif
