/*
 * rpc and erpc into C, and `rex`.
 *
 * Since OTP 25, rpc:call/cast and erpc:call/cast/multicall ask the node for a
 * SPAWN_REQUEST of erpc:execute_call/4 or execute_cast/3. This service answers those
 * with a real process (a pid that exists, linked and monitored as asked) that runs the C
 * function registered for {Module, Function, Arity} (otpc_rpc_register) and exits with
 * erpc's result forms, so the caller sees what it would see from a BEAM node: the value,
 * error:{exception, undef, [{M, F, Args, []}]} for a function the node does not have,
 * and so on. Every other spawn request is refused with notsup (erlang:spawn/4 then
 * gives the caller's usual "can not start" crasher; erpc and rpc say notsup). `rex` runs
 * the same functions for clients of the old protocol (erl_call, ei_rpc,
 * gen_server calls to rex).
 *
 * Built in: erlang:node/0, nodes/0, registered/0, whereis/1, processes/0,
 * process_info/1,2, is_process_alive/1, memory/0, system_info/1 and init:stop/0.
 */
#ifndef OTPC_SERVICES_RPC_H
#define OTPC_SERVICES_RPC_H

#include "core/node_int.h"
#include "proto/ctrl.h"

/* Attach the table (with the built-ins) to a new node and take its spawn requests. */
int otpc__rpc_init(otpc_node_t *n);
/* rpc_builtins.c: register the built-in functions. */
int otpc__rpc_builtins(otpc_node_t *n);
/* otpc_rpc_register for the built-ins: they run holding the node lock. */
int otpc__rpc_register_sys(otpc_node_t *n, const char *module, const char *function, unsigned arity,
                           otpc_rpc_fn fn);
/* The `rex` service. */
int otpc__rex_start(otpc_node_t *n, void *arg);

#endif
