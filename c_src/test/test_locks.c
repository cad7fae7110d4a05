/*
 * Unit tests of the domain locks (core/locks.c, node_int.h), on a node that is created
 * but never run, with three schedulers and `multi`/`sched_set` set by hand: what a
 * thread holds is checked from another thread with trylock, which must fail exactly on
 * the locks held. Also otpc__defer: queued holding one domain's lock, run at once
 * holding all, and cancelled.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "core/node_int.h"

typedef struct {
    otpc_node_t *n;
    int held[3];
} probe_t;

/* On another thread: which scheduler locks are taken (trylock fails). */
static void look(void *arg)
{
    probe_t *p = arg;
    for (unsigned i = 0; i < 3; i++) {
        uv_mutex_t *l = &p->n->scheds[i].lock;
        p->held[i] = uv_mutex_trylock(l) != 0;
        if (!p->held[i])
            uv_mutex_unlock(l);
    }
}

static void expect_held(otpc_node_t *n, int a, int b, int c)
{
    probe_t p = {n, {0}};
    uv_thread_t t;
    assert_int_equal(uv_thread_create(&t, look, &p), 0);
    uv_thread_join(&t);
    assert_int_equal(p.held[0], a);
    assert_int_equal(p.held[1], b);
    assert_int_equal(p.held[2], c);
}

static otpc_node_t *node3(void)
{
    otpc_node_opts_t o = {.name = "t@localhost", .cookie = "c", .schedulers = 3};
    otpc_node_t *n = NULL;
    assert_int_equal(otpc_node_new(&n, &o), 0);
    assert_int_equal(n->nscheds, 3);
    n->multi = 1;
    n->sched_set = 1;
    return n;
}

static void node_free(otpc_node_t *n)
{
    n->multi = 0;
    n->sched_set = 0;
    otpc_node_free(n);
}

static void home_then_all_then_home(void **state)
{
    (void)state;
    otpc_node_t *n = node3();
    expect_held(n, 0, 0, 0);
    otpc__enter_dom(n, 2); /* a process of domain 2 reading its own state */
    expect_held(n, 0, 0, 1);
    assert_true(otpc__dom_held(n, 2));
    assert_false(otpc__dom_held(n, 1));
    assert_false(otpc__all_held(n));
    otpc__enter_dom(n, 2); /* nested: nothing more taken */
    expect_held(n, 0, 0, 1);
    otpc__enter(n); /* it needs everything: escalation */
    expect_held(n, 1, 1, 1);
    assert_true(otpc__all_held(n));
    assert_true(otpc__dom_held(n, 1));
    otpc__enter_dom(n, 1); /* holding all covers every domain */
    expect_held(n, 1, 1, 1);
    otpc__leave(n);
    otpc__leave(n); /* back home */
    expect_held(n, 0, 0, 1);
    assert_false(otpc__all_held(n));
    assert_true(otpc__dom_held(n, 2));
    otpc__leave(n);
    otpc__leave(n);
    expect_held(n, 0, 0, 0);
    assert_null(otpc__held);
    node_free(n);
}

static void domain_zero_is_all(void **state)
{
    (void)state;
    otpc_node_t *n = node3();
    otpc__enter_dom(n, 0); /* the node's domain: every lock */
    expect_held(n, 1, 1, 1);
    assert_true(otpc__all_held(n));
    otpc__leave(n);
    expect_held(n, 0, 0, 0);
    node_free(n);
}

static int ran;

static void count_run(otpc__defer_t *d)
{
    (void)d;
    ran++;
}

static void defer_queues_at_home_runs_with_all(void **state)
{
    (void)state;
    otpc_node_t *n = node3();
    otpc__defer_t a = {.fn = count_run}, b = {.fn = count_run};
    ran = 0;
    otpc__enter_dom(n, 1);
    otpc__defer(n, &a);
    otpc__defer(n, &a); /* queued once */
    otpc__defer(n, &b);
    assert_int_equal(ran, 0);
    assert_true(a.queued && b.queued);
    assert_non_null(n->scheds[1].defer_head);
    otpc__defer_cancel(n, &b);
    assert_false(b.queued);
    assert_ptr_equal(n->scheds[1].defer_head, &a);
    otpc__defer_cancel(n, &a);
    assert_null(n->scheds[1].defer_head);
    otpc__enter(n);
    otpc__defer(n, &a); /* holding all: at once */
    assert_int_equal(ran, 1);
    assert_false(a.queued);
    otpc__leave(n);
    otpc__leave(n);
    node_free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(home_then_all_then_home),
        cmocka_unit_test(domain_zero_is_all),
        cmocka_unit_test(defer_queues_at_home_runs_with_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
