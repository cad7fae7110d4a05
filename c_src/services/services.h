/*
 * The services a node boots once epmd gave it its creation, before the program's own
 * (otpc_node_add_service, on_start): `net_kernel` (what net_adm:ping/1 and other
 * nodes' kernels call) and `otpc_starter` (otpc:start/4, otpc:start_daemon/4).
 */
#ifndef OTPC_SERVICES_SERVICES_H
#define OTPC_SERVICES_SERVICES_H

#include "otpc.h"

/* The built-in services, in boot order; `count` is set to their number. */
const otpc_service_t *otpc__builtin_services(size_t *count);

int otpc__net_kernel_start(otpc_node_t *n, void *arg);
int otpc__starter_start(otpc_node_t *n, void *arg);
/* Certificates rotated: TLS distribution's files and every TLS daemon's are read again
 * (otpc_node_reload_tls, SIGHUP, otpc:reload_tls/1). Scheduler thread. 0, or
 * OTPC_EINVAL with what failed in err (the rest reloaded). */
int otpc__reload_tls(otpc_node_t *n, char *err, size_t cap);
/* pg.c: the default pg scope and pg's functions for rpc */
int otpc__pg_service_start(otpc_node_t *n, void *arg);
/* global.c: global_name_server, a lockless member of global's protocol */
int otpc__global_start(otpc_node_t *n, void *arg);

#endif
