/* Control messages counted per peer node; see dstats.h. */
#include "distribution/dstats.h"

#include <stdlib.h>
#include <string.h>

#include "distribution/dist_int.h"

static otpc__dstats_t *record(otpc_node_t *n, uint32_t node)
{
    otpc__dist_t *D = otpc__dist(n);
    if (node < D->stats_cap && D->stats[node])
        return D->stats[node];
    if (!otpc__all_held(n))
        return NULL; /* the table is every lock's */
    if (node >= D->stats_cap) {
        uint32_t cap = D->stats_cap ? D->stats_cap : 16;
        while (cap <= node)
            cap *= 2;
        otpc__dstats_t **t = realloc(D->stats, cap * sizeof *t);
        if (!t)
            return NULL;
        memset(t + D->stats_cap, 0, (cap - D->stats_cap) * sizeof *t);
        D->stats = t;
        D->stats_cap = cap;
    }
    return D->stats[node] = calloc(1, sizeof(otpc__dstats_t));
}

void otpc__dstats_prepare(otpc_node_t *n, uint32_t node)
{
    (void)record(n, node);
}

void otpc__dstats_count(otpc_node_t *n, uint32_t node, int op, int out)
{
    otpc__dstats_t *s = record(n, node);
    if (!s)
        return;
    int slot = op > 0 && op < OTPC__DSTATS_OPS ? op : 0;
    atomic_fetch_add_explicit(out ? &s->out[slot] : &s->in[slot], 1, memory_order_relaxed);
}

const otpc__dstats_t *otpc__dstats_get(const otpc_node_t *n, uint32_t node)
{
    const otpc__dist_t *D = otpc__dist(n);
    return node < D->stats_cap ? D->stats[node] : NULL;
}

void otpc__dstats_free(otpc_node_t *n)
{
    otpc__dist_t *D = otpc__dist(n);
    for (uint32_t i = 0; i < D->stats_cap; i++)
        free(D->stats[i]);
    free(D->stats);
    D->stats = NULL;
    D->stats_cap = 0;
}
