/* The probe process used by the Erlang test suites; see probe.c. */
#ifndef OTPC_MAIN_PROBE_H
#define OTPC_MAIN_PROBE_H

#include "otpc.h"

/* Spawn argument: a const otpc_pid_t * owner, or NULL. */
extern const otpc_proc_ops_t otpc_probe_ops;

#endif
