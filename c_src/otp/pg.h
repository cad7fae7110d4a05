/*
 * pg scopes (pg.c): what the layers above need beyond the public otpc_pg_* calls.
 */
#ifndef OTPC_OTP_PG_H
#define OTPC_OTP_PG_H

#include "otpc.h"

/* Append the scope's groups (a list, no version byte) to x; [] for a scope that does
 * not run. 0 or OTPC_ENOMEM. */
int otpc__pg_x_groups(otpc_node_t *n, const char *scope, ei_x_buff *x);

#endif
