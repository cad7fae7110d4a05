/*
 * The node program's TLS distribution options, in erl's syntax (see dist_opts.c).
 * Values are borrowed: argv's, or strings kept for the program's life.
 */
#ifndef OTPC_MAIN_DIST_OPTS_H
#define OTPC_MAIN_DIST_OPTS_H

#include <stddef.h>

#include "otpc.h"

/* One option of one side (key without its server_/client_ prefix). 0, or -1 with a
 * one-line reason in err. */
int otpc__dist_opt(otpc_tls_opts_t *side, int server, const char *key, const char *val, char *err,
                   size_t cap);
/* One -ssl_dist_opt pair ("server_certfile", "F"). 0, or -1 with a reason. */
int otpc__ssl_dist_opt(otpc_node_opts_t *o, const char *key, const char *val, char *err,
                       size_t cap);
/* An -ssl_dist_optfile (OTP's format). 0, or -1 with a reason. */
int otpc__ssl_dist_optfile(otpc_node_opts_t *o, const char *path, char *err, size_t cap);
/* What -proto_dist inet_tls cannot do without. 0, or -1 with a reason. */
int otpc__dist_opts_check(const otpc_node_opts_t *o, char *err, size_t cap);

#endif
