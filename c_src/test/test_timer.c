/*
 * Unit tests of core/timer.c, each domain's min-heap of deadlines.
 *
 * The node is a bare otpc_node_t with two domains (no loops, no locks: it never runs)
 * and a clock the tests move by hand, so deadlines are exact and nothing sleeps. Timers
 * are checked against a plain model: after every run, what fired is exactly what was
 * due.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/node_int.h"

static int setup(void **state)
{
    otpc_node_t *n = calloc(1, sizeof *n);
    if (!n || uv_loop_init(&n->loop))
        return -1;
    n->scheds = calloc(2, sizeof *n->scheds);
    if (!n->scheds)
        return -1;
    n->nscheds = 2;
    for (unsigned i = 0; i < 2; i++) {
        n->scheds[i].node = n;
        n->scheds[i].id = i;
    }
    n->self_atom = 1;
    n->creation = 7;
    *state = n;
    return 0;
}

static int teardown(void **state)
{
    otpc_node_t *n = *state;
    uv_loop_close(&n->loop);
    otpc_node_free(n); /* frees pending timers and pooled messages */
    return 0;
}

static uint64_t fake_ns;

static uint64_t fake_clock(void)
{
    return fake_ns;
}

static void set_now(otpc_node_t *n, uint64_t ms)
{
    n->scheds[0].timers.clock_ns = fake_clock;
    n->scheds[1].timers.clock_ns = fake_clock;
    fake_ns = ms * 1000000u;
}

/* A local pid that names no process: a send timer to it drops its message. */
static otpc_pid_t nobody(void)
{
    otpc_pid_t p = {1, 5, 1, 7};
    return p;
}

static otpc__msg_t *msg(otpc_node_t *n)
{
    static const char ok[] = {(char)131, 'w', 2, 'o', 'k'};
    return otpc__msg_new(n, OTPC__M_MSG, NULL, ok, sizeof ok);
}

static void empty_has_no_deadline(void **state)
{
    otpc_node_t *n = *state;
    assert_int_equal(otpc__timers_next(n, 0), -1);
    otpc__timers_run(n, 0); /* nothing to do */
    assert_int_equal(otpc__timer_cancel(n, 0), 0);
    assert_int_equal(otpc__timer_cancel(n, 12345), 0);
}

static void next_is_the_earliest(void **state)
{
    otpc_node_t *n = *state;
    otpc_pid_t p = nobody();
    otpc_timer_t a, b, c;
    set_now(n, 1000);
    assert_int_equal(otpc__timer_add(n, 0, 50, OTPC__TIMER_BEH, &p, NULL, &a), 0);
    assert_int_equal(otpc__timer_add(n, 0, 10, OTPC__TIMER_BEH, &p, NULL, &b), 0);
    assert_int_equal(otpc__timer_add(n, 0, 30, OTPC__TIMER_BEH, &p, NULL, &c), 0);
    assert_int_equal(otpc__timers_next(n, 0), 10);
    assert_int_equal(otpc__timer_cancel(n, b), 1);
    assert_int_equal(otpc__timers_next(n, 0), 30);
    set_now(n, 1040);
    assert_int_equal(otpc__timers_next(n, 0), 0); /* overdue */
    otpc__timers_run(n, 0);
    assert_int_equal(otpc__timer_cancel(n, c), 0); /* fired */
    assert_int_equal(otpc__timer_cancel(n, a), 1); /* still pending */
    assert_int_equal(otpc__timers_next(n, 0), -1);
}

/* Set 0.4 ms into a millisecond, a 10 ms timer is not due 9.9 ms later (a truncated
 * clock would fire it there); it is at the next whole millisecond after 10 ms: never
 * early, as in ERTS, and at most a millisecond late. */
static void never_early(void **state)
{
    otpc_node_t *n = *state;
    otpc_pid_t p = nobody();
    otpc_timer_t t;
    set_now(n, 1000);
    fake_ns += 400000;
    assert_int_equal(otpc__timer_add(n, 0, 10, OTPC__TIMER_BEH, &p, NULL, &t), 0);
    fake_ns += 9900000; /* 1010.3 ms */
    assert_true(otpc__timers_next(n, 0) > 0);
    otpc__timers_run(n, 0);
    fake_ns += 700000; /* 1011.0 ms */
    assert_int_equal(otpc__timers_next(n, 0), 0);
    otpc__timers_run(n, 0);
    assert_int_equal(otpc__timer_cancel(n, t), 0); /* fired */
}

static void cancel_is_once(void **state)
{
    otpc_node_t *n = *state;
    otpc_pid_t p = nobody();
    otpc_timer_t t;
    assert_int_equal(otpc__timer_add(n, 0, 5, OTPC__TIMER_SEND, &p, msg(n), &t), 0);
    assert_int_equal(otpc__timer_cancel(n, t), 1);
    assert_int_equal(otpc__timer_cancel(n, t), 0);
}

static void stale_ref_does_not_cancel_reused_slot(void **state)
{
    otpc_node_t *n = *state;
    otpc_pid_t p = nobody();
    otpc_timer_t old, fresh;
    assert_int_equal(otpc__timer_add(n, 0, 5, OTPC__TIMER_BEH, &p, NULL, &old), 0);
    assert_int_equal(otpc__timer_cancel(n, old), 1);
    assert_int_equal(otpc__timer_add(n, 0, 5, OTPC__TIMER_BEH, &p, NULL, &fresh), 0);
    assert_int_equal((uint16_t)fresh, (uint16_t)old); /* same slot ... */
    assert_true(fresh != old);                        /* ... new generation */
    assert_int_equal(otpc__timer_cancel(n, old), 0);
    assert_int_equal(otpc__timer_cancel(n, fresh), 1);
}

/* A domain's timers are its own: another domain's heap neither shows nor runs them,
 * the reference names its domain (cancel goes there), and a reference naming a
 * domain the node does not have cancels nothing. */
static void each_domain_its_own_heap(void **state)
{
    otpc_node_t *n = *state;
    otpc_pid_t p = nobody();
    otpc_timer_t zero, one;
    set_now(n, 1000);
    assert_int_equal(otpc__timer_add(n, 1, 20, OTPC__TIMER_SEND, &p, msg(n), &one), 0);
    assert_int_equal(otpc__timer_add(n, 0, 30, OTPC__TIMER_BEH, &p, NULL, &zero), 0);
    assert_int_equal(otpc__timer_dom(one), 1);
    assert_int_equal(otpc__timer_dom(zero), 0);
    assert_true(one != zero); /* the same slot and generation, another domain */
    assert_int_equal(otpc__timers_next(n, 0), 30);
    assert_int_equal(otpc__timers_next(n, 1), 20);
    set_now(n, 1025);
    otpc__timers_run(n, 0); /* domain 0 has nothing due */
    assert_int_equal(otpc__timers_next(n, 1), 0);
    otpc__timers_run(n, 1); /* its message to nobody is dropped */
    assert_int_equal(otpc__timers_next(n, 1), -1);
    assert_int_equal(otpc__timer_cancel(n, one), 0); /* fired */
    otpc_timer_t elsewhere = zero | (7ull << 30);    /* domain 7: none here */
    assert_int_equal(otpc__timer_dom(elsewhere), 7);
    assert_int_equal(otpc__timer_cancel(n, elsewhere), 0);
    assert_int_equal(otpc__timer_cancel(n, zero), 1);
}

/* Thousands of timers, a third cancelled, time moved from deadline to deadline: each
 * run fires exactly the timers that are due, and next() always names the earliest. */
#define MANY 3000

static void many_against_a_model(void **state)
{
    otpc_node_t *n = *state;
    otpc_pid_t p = nobody();
    static otpc_timer_t ref[MANY];
    static uint64_t due[MANY];
    static int live[MANY];
    uint64_t now = 5000;
    srand(42);
    set_now(n, now);
    for (int i = 0; i < MANY; i++) {
        unsigned ms = (unsigned)(rand() % 2000);
        otpc__msg_t *m = i % 2 ? msg(n) : NULL;
        int kind = m ? OTPC__TIMER_SEND : OTPC__TIMER_BEH;
        assert_int_equal(otpc__timer_add(n, 0, ms, kind, &p, m, &ref[i]), 0);
        due[i] = now + ms;
        live[i] = 1;
    }
    for (int i = 0; i < MANY; i += 3) {
        assert_int_equal(otpc__timer_cancel(n, ref[i]), 1);
        live[i] = 0;
    }
    for (;;) {
        uint64_t min = UINT64_MAX;
        for (int i = 0; i < MANY; i++)
            if (live[i] && due[i] < min)
                min = due[i];
        int64_t next = otpc__timers_next(n, 0);
        if (min == UINT64_MAX) {
            assert_int_equal(next, -1);
            break;
        }
        assert_int_equal(next, (int64_t)(min - now));
        now = min;
        set_now(n, now);
        otpc__timers_run(n, 0);
        for (int i = 0; i < MANY; i++)
            if (live[i] && due[i] <= now)
                live[i] = 0;
        /* Spot check: a timer still live must still be cancellable later, one that
         * fired must not be. */
        for (int i = 1; i < MANY; i += 97)
            if (!live[i] && due[i] <= now)
                assert_int_equal(otpc__timer_cancel(n, ref[i]), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(empty_has_no_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(next_is_the_earliest, setup, teardown),
        cmocka_unit_test_setup_teardown(never_early, setup, teardown),
        cmocka_unit_test_setup_teardown(cancel_is_once, setup, teardown),
        cmocka_unit_test_setup_teardown(stale_ref_does_not_cancel_reused_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(each_domain_its_own_heap, setup, teardown),
        cmocka_unit_test_setup_teardown(many_against_a_model, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
