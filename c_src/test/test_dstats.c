/*
 * Unit tests of distribution/dstats.h, the per-peer counts of control messages, on a
 * node that is created but never run: nothing is counted before the first count, each
 * direction and op has its own slot, an op beyond the known ones lands in slot 0, node
 * atoms far apart grow the table, and otpc_node_free frees it all (ASan checks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "distribution/dstats.h"

static void counts_by_node_op_and_direction(void **state)
{
    (void)state;
    otpc_node_opts_t o = {.name = "t@localhost", .cookie = "c"};
    otpc_node_t *n = NULL;
    assert_int_equal(otpc_node_new(&n, &o), 0);
    uint32_t a = otpc__atom(&n->atoms, "a@h", 3), b = otpc__atom(&n->atoms, "b@h", 3);
    assert_null(otpc__dstats_get(n, a));
    assert_null(otpc__dstats_get(n, 100000)); /* beyond the table: nothing, no crash */
    otpc__dstats_count(n, a, OTPC__DOP_ALTACT_SIG_SEND, 1);
    otpc__dstats_count(n, a, OTPC__DOP_ALTACT_SIG_SEND, 1);
    otpc__dstats_count(n, a, OTPC__DOP_ALTACT_SIG_SEND, 0);
    otpc__dstats_count(n, a, OTPC__DOP_SEND_SENDER, 0);
    otpc__dstats_count(n, a, 99, 0); /* unknown today: slot 0 */
    otpc__dstats_count(n, a, -1, 1);
    const otpc__dstats_t *s = otpc__dstats_get(n, a);
    assert_non_null(s);
    assert_int_equal(s->out[OTPC__DOP_ALTACT_SIG_SEND], 2);
    assert_int_equal(s->in[OTPC__DOP_ALTACT_SIG_SEND], 1);
    assert_int_equal(s->in[OTPC__DOP_SEND_SENDER], 1);
    assert_int_equal(s->out[OTPC__DOP_SEND_SENDER], 0);
    assert_int_equal(s->in[0], 1);
    assert_int_equal(s->out[0], 1);
    assert_null(otpc__dstats_get(n, b));                  /* another node: its own, still none */
    otpc__dstats_count(n, 5000, OTPC__DOP_ALIAS_SEND, 1); /* grows the table */
    assert_int_equal(otpc__dstats_get(n, 5000)->out[OTPC__DOP_ALIAS_SEND], 1);
    assert_int_equal(otpc__dstats_get(n, a)->out[OTPC__DOP_ALTACT_SIG_SEND], 2);
    otpc_node_free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_by_node_op_and_direction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
