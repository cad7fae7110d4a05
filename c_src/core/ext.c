/*
 * Per-layer state slots of a node (see otpc__ext_add in node_int.h): how an upper
 * layer keeps its state with the node while core names none of it.
 */
#include <stdatomic.h>

#include "core/node_int.h"
#include "util/log.h"

static atomic_int next_slot; /* slots handed out so far, process-wide */

int otpc__ext_add(otpc_node_t *n, otpc__ext_key_t *key, void *state, otpc__ext_free_fn free_fn)
{
    int slot = atomic_load(&key->slot);
    if (!slot) {
        int mine = atomic_fetch_add(&next_slot, 1) + 1;
        if (mine > OTPC__EXT_MAX) {
            /* a programming error, not a lack of memory: say so once it happens */
            OTPC__LOG_ERROR("core", "out of per-node state slots (OTPC__EXT_MAX %d)",
                            OTPC__EXT_MAX);
            return OTPC_ENOMEM;
        }
        int expected = 0;
        /* another node may have claimed one for this key meanwhile: theirs stands */
        slot = atomic_compare_exchange_strong(&key->slot, &expected, mine) ? mine : expected;
    }
    n->ext[slot - 1] = state;
    n->ext_free[slot - 1] = free_fn;
    return 0;
}

void otpc__ext_free_all(otpc_node_t *n)
{
    for (int i = OTPC__EXT_MAX - 1; i >= 0; i--) {
        if (n->ext[i] && n->ext_free[i])
            n->ext_free[i](n, n->ext[i]);
        n->ext[i] = NULL;
    }
}
