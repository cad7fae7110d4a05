/*
 * The example gen_servers compiled into the default node program: echo, stack and
 * ch3 (see README.md). Each is also startable from Erlang with otpc:start/4.
 */
#ifndef OTPC_EXAMPLES_H
#define OTPC_EXAMPLES_H

#include "otpc.h"

extern const otpc_gen_server_t otpc_example_echo;
extern const otpc_gen_server_t otpc_example_stack;
extern const otpc_gen_server_t otpc_example_ch3;

#endif
