/*
 * Unit tests of name lookups in the process layer, on a node that is created but never
 * run (its creation set by hand, as OTPC__EV_READY would): sending to a name nobody holds
 * must not intern it, so untrusted names (a daemon client's, say) cannot grow the atom
 * table, while a registered name is still found.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/node_int.h"

static int got;

static void count_handle(otpc_proc_t *self, otpc_term_t msg)
{
    (void)self;
    (void)msg;
    got++;
}

static const otpc_proc_ops_t count_ops = {.name = "count", .handle = count_handle};

static void unknown_names_are_not_interned(void **state)
{
    (void)state;
    otpc_node_opts_t o = {.name = "t@localhost", .cookie = "c"};
    otpc_node_t *n = NULL;
    assert_int_equal(otpc_node_new(&n, &o), 0);
    assert_string_equal(otpc_node_name(n), "t@localhost");
    n->creation = 1;
    otpc_pid_t a, b;
    assert_int_equal(otpc_spawn(n, &count_ops, NULL, &a), 0);
    assert_int_equal(otpc_spawn(n, &count_ops, NULL, &b), 0);
    assert_int_equal(otpc_register_pid(n, "known", &b), 0);
    otpc_proc_t *pa = otpc__proc_lookup(n, &a);
    char msg[] = {(char)131, ERL_NIL_EXT}; /* [] */
    otpc_term_t t = {msg, sizeof msg};
    uint32_t before = n->atoms.count;
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "nobody_%d", i);
        assert_int_equal(otpc_send_name(pa, name, NULL, t), OTPC_ENOPROC);
        assert_int_equal(otpc_send_name(pa, name, "t@localhost", t), OTPC_ENOPROC);
    }
    assert_int_equal(n->atoms.count, before);
    assert_int_equal(otpc_send_name(pa, "known", NULL, t), 0);
    otpc__run_queue(n, 100);
    assert_int_equal(got, 1);
    otpc_node_free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unknown_names_are_not_interned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
