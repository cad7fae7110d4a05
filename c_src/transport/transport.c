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
    return rc;
}

void otpc__transport_flush(otpc_node_t *n)
{
    otpc__eps_t *sets = otpc__eps_all(n);
    for (unsigned i = 0; i < n->nscheds; i++)
        if (sets[i].dirty)
            otpc__eps_flush(&sets[i]);
}
