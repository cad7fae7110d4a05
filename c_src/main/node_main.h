/*
 * The node program as a function, so that a program can be the node program plus a
 * few things of its own (the test suites' node program adds its probes this way).
 */
#ifndef OTPC_MAIN_NODE_MAIN_H
#define OTPC_MAIN_NODE_MAIN_H

#include <stddef.h>

#include "otpc.h"

typedef struct {
    /* Modules otpc:start/4 can start, besides the examples (borrowed). */
    const otpc_gen_server_t *const *modules;
    size_t nmodules;
    /* 1 when the program takes this bare flag (one without a value), else 0. */
    int (*flag)(const char *flag);
    /* Runs last at boot, after otpc_sup and any -daemon; 0 or an OTPC_E* code. */
    int (*boot)(otpc_node_t *node);
} otpc__program_t;

/* Parse erl-like flags, run a node with the example servers (and prog's additions;
 * prog may be NULL) until it stops; returns the process exit status. */
int otpc__node_main(int argc, char **argv, const otpc__program_t *prog);

#endif
