/*
 * Functions the rpc suite calls through rpc/erpc/rex (otpc_rpc_register): the module
 * `probe_rpc`.
 *   echo(X) -> X
 *   raise(Kind, Term): Term returned (Kind = return) or raised as Kind (throw, exit,
 *   error): every result form of otpc_rpc_fn
 *   nothing() gives no term at all (the runtime must say so, not send garbage)
 *   add(A, B) -> A + B for integers, else error badarg: the README's example
 */
#include <string.h>

#include "test/node/probe.h"

/* The i-th argument's start (0-based). */
static int nth(otpc_term_t args, int k, int *i)
{
    int n;
    *i = 1;
    if (ei_decode_list_header(args.data, i, &n) || k >= n)
        return -1;
    for (int e = 0; e < k; e++)
        if (otpc_skip_term(args, i))
            return -1;
    return 0;
}

static otpc_rpc_result_t echo(otpc_proc_t *self, otpc_term_t args, ei_x_buff *out, void *arg)
{
    (void)self;
    (void)arg;
    int i;
    if (nth(args, 0, &i))
        return OTPC_RPC_NOMEM;
    return otpc_x_append_subterm(out, args, &i) ? OTPC_RPC_NOMEM : OTPC_RPC_RETURN;
}

static otpc_rpc_result_t raise_as(otpc_proc_t *self, otpc_term_t args, ei_x_buff *out, void *arg)
{
    (void)self;
    (void)arg;
    static const struct {
        const char *kind;
        otpc_rpc_result_t r;
    } kinds[] = {{"return", OTPC_RPC_RETURN},
                 {"throw", OTPC_RPC_THROW},
                 {"exit", OTPC_RPC_EXIT},
                 {"error", OTPC_RPC_ERROR}};
    int i;
    if (nth(args, 0, &i))
        return OTPC_RPC_NOMEM;
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        int j = i;
        if (otpc_decode_atom_is(args.data, &j, kinds[k].kind))
            return otpc_x_append_subterm(out, args, &j) ? OTPC_RPC_NOMEM : kinds[k].r;
    }
    return ei_x_encode_atom(out, "badarg") ? OTPC_RPC_NOMEM : OTPC_RPC_ERROR;
}

static otpc_rpc_result_t nothing(otpc_proc_t *self, otpc_term_t args, ei_x_buff *out, void *arg)
{
    (void)self;
    (void)args;
    (void)out;
    (void)arg;
    return OTPC_RPC_RETURN;
}

static otpc_rpc_result_t add(otpc_proc_t *self, otpc_term_t args, ei_x_buff *out, void *arg)
{
    (void)self;
    (void)arg;
    long a, b;
    int i = 1, n;
    if (ei_decode_list_header(args.data, &i, &n) || ei_decode_long(args.data, &i, &a) ||
        ei_decode_long(args.data, &i, &b))
        return ei_x_encode_atom(out, "badarg") ? OTPC_RPC_NOMEM : OTPC_RPC_ERROR;
    return ei_x_encode_long(out, a + b) ? OTPC_RPC_NOMEM : OTPC_RPC_RETURN;
}

int otpc_rpc_probe_register(otpc_node_t *node)
{
    int rc;
    if ((rc = otpc_rpc_register(node, "probe_rpc", "echo", 1, echo, NULL)) ||
        (rc = otpc_rpc_register(node, "probe_rpc", "raise", 2, raise_as, NULL)) ||
        (rc = otpc_rpc_register(node, "probe_rpc", "nothing", 0, nothing, NULL)) ||
        (rc = otpc_rpc_register(node, "probe_rpc", "add", 2, add, NULL)))
        return rc;
    return 0;
}
