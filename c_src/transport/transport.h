/*
 * The transport layer's state per node: the endpoints of the scheduler (endpoint.h)
 * and the turn hook that writes their output once per turn.
 */
#ifndef OTPC_TRANSPORT_TRANSPORT_H
#define OTPC_TRANSPORT_TRANSPORT_H

#include "core/node_int.h"
#include "transport/endpoint.h"

extern otpc__ext_key_t otpc__transport_key;

static inline otpc__eps_t *otpc__eps(const otpc_node_t *n)
{
    return (otpc__eps_t *)
        n->ext[atomic_load_explicit(&otpc__transport_key.slot, memory_order_relaxed) - 1];
}

/* Attach the layer's state to a new node (before the layers above it). */
int otpc__transport_init(otpc_node_t *n);
/* The turn hook: every endpoint with output writes it. */
void otpc__transport_flush(otpc_node_t *n);

#endif
