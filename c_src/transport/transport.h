/*
 * The transport layer's state per node: one set of endpoints (endpoint.h) per
 * scheduler, on that scheduler's loop, and the turn hook that writes their output once
 * per turn.
 */
#ifndef OTPC_TRANSPORT_TRANSPORT_H
#define OTPC_TRANSPORT_TRANSPORT_H

#include "core/node_int.h"
#include "transport/endpoint.h"

extern otpc__ext_key_t otpc__transport_key;

/* The sets, by scheduler id (n->nscheds of them). */
static inline otpc__eps_t *otpc__eps_all(const otpc_node_t *n)
{
    return (otpc__eps_t *)
        n->ext[atomic_load_explicit(&otpc__transport_key.slot, memory_order_relaxed) - 1];
}

/* The set a new endpoint joins: the next scheduler's (otpc__sched_pick). */
static inline otpc__eps_t *otpc__eps_pick(otpc_node_t *n)
{
    return &otpc__eps_all(n)[otpc__sched_pick(n)->id];
}

/* The set of scheduler `home` (an endpoint that goes with a process of that domain). */
static inline otpc__eps_t *otpc__eps_at(const otpc_node_t *n, unsigned home)
{
    return &otpc__eps_all(n)[home];
}

/* Attach the layer's state to a new node (before the layers above it). */
int otpc__transport_init(otpc_node_t *n);
/* The turn hook: every endpoint with output writes it. */
void otpc__transport_flush(otpc_node_t *n);

#endif
