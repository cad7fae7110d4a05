/* The transport layer's per-node state; see transport.h. */
#include "transport/transport.h"

#include <stdlib.h>

otpc__ext_key_t otpc__transport_key;

static void turn(void *ctx)
{
    otpc__turn(ctx);
}

static void eps_free(otpc_node_t *n, void *state)
{
    (void)n;
    free(state);
}

static int pending(otpc_node_t *n, unsigned dom)
{
    return otpc__eps_all(n)[dom].dirty != NULL;
}

int otpc__transport_init(otpc_node_t *n)
{
    otpc__eps_t *set = calloc(n->nscheds, sizeof *set);
    if (!set)
        return OTPC_ENOMEM;
    for (unsigned i = 0; i < n->nscheds; i++) {
        set[i].loop = n->scheds[i].loop;
        set[i].turn = turn;
        set[i].turn_ctx = n;
    }
    int rc = otpc__ext_add(n, &otpc__transport_key, set, eps_free);
    if (rc)
        free(set);
    else
        n->dom_pending = pending;
    return rc;
}

void otpc__transport_flush(otpc_node_t *n)
{
    /* a domain's own endpoints, holding its lock; every one, holding all */
    otpc__eps_t *sets = otpc__eps_all(n);
    if (!otpc__all_held(n)) {
        if (sets[otpc__held_dom].dirty)
            otpc__eps_flush(&sets[otpc__held_dom]);
        return;
    }
    for (unsigned i = 0; i < n->nscheds; i++)
        if (sets[i].dirty && !n->scheds[i].escalating) /* its thread wants all: soon */
            otpc__eps_flush(&sets[i]);
}
