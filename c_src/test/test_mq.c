/*
 * Unit tests of util/mq.h, the double-buffered many-producer / one-consumer queue.
 *
 * The waker is a real otpc__wake_t (an eventfd) on a private loop. Most tests never run
 * the loop (a send only bumps the eventfd); the wake-up test runs it once with
 * UV_RUN_NOWAIT and counts callbacks, and the threads test pushes from several
 * producer threads while the main thread consumes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "otpc.h"
#include "util/mq.h"

/* A loop, its async handle, and the queue under test. */
typedef struct {
    uv_loop_t loop;
    otpc__wake_t wake;
    otpc__mq_t q;
    int wakeups;
} fixture_t;

static void on_wake(otpc__wake_t *w)
{
    fixture_t *f = w->data;
    f->wakeups++;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (!f || uv_loop_init(&f->loop))
        return -1;
    f->wake.data = f;
    if (otpc__wake_init(&f->wake, &f->loop, on_wake))
        return -1;
    if (otpc__mq_init(&f->q, &f->wake))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    otpc__mq_destroy(&f->q);
    otpc__wake_close(&f->wake);
    uv_run(&f->loop, UV_RUN_DEFAULT); /* lets the close complete */
    int rc = uv_loop_close(&f->loop);
    free(f);
    return rc;
}

/* Deterministic content for record i: byte k is (i * 31 + k) & 0xff. */
static void fill(char *p, size_t n, unsigned i)
{
    for (size_t k = 0; k < n; k++)
        p[k] = (char)((i * 31u + k) & 0xff);
}

static void check_data(const char *p, size_t n, unsigned i)
{
    for (size_t k = 0; k < n; k++)
        assert_int_equal((unsigned char)p[k], (i * 31u + k) & 0xff);
}

static const uint32_t SIZES[] = {0, 1, 7, 8, 9, 15, 16, 17, 100, 4096, 65537};
#define NSIZES (sizeof SIZES / sizeof SIZES[0])

/* Push one record of each size (type, ptr and arg derived from its index). */
static void push_all(otpc__mq_t *q, unsigned base)
{
    static char data[65537];
    for (unsigned i = 0; i < NSIZES; i++) {
        fill(data, SIZES[i], base + i);
        assert_int_equal(
            otpc__mq_push(q, base + i, (char *)q + i, (uint64_t)(base + i) << 33, data, SIZES[i]),
            0);
    }
}

/* Walk one batch: every record in push order, header and data intact, 8-aligned. */
static void expect_all(otpc__mq_t *q, unsigned base)
{
    const otpc__rec_t *r;
    const char *data;
    for (unsigned i = 0; i < NSIZES; i++) {
        r = otpc__mq_next(q, &data);
        assert_non_null(r);
        assert_int_equal((uintptr_t)r % 8, 0);
        assert_int_equal((uintptr_t)data % 8, 0);
        assert_int_equal(r->type, base + i);
        assert_int_equal(r->len, SIZES[i]);
        assert_ptr_equal(r->ptr, (char *)q + i);
        assert_true(r->arg == (uint64_t)(base + i) << 33);
        assert_ptr_equal(data, (const char *)(r + 1));
        check_data(data, r->len, base + i);
    }
}

/* Records of many sizes come out of one take in push order with their data intact,
 * every header and data pointer 8-byte aligned; then next() says NULL, repeatedly. */
static void push_take_next(void **state)
{
    fixture_t *f = *state;
    const char *data;
    push_all(&f->q, 1);
    otpc__mq_take(&f->q);
    expect_all(&f->q, 1);
    assert_null(otpc__mq_next(&f->q, &data));
    assert_null(otpc__mq_next(&f->q, &data));
}

/* A take with nothing queued yields nothing, and so does next() before any take. */
static void empty_queue(void **state)
{
    fixture_t *f = *state;
    const char *data;
    assert_null(otpc__mq_next(&f->q, &data));
    otpc__mq_take(&f->q);
    assert_null(otpc__mq_next(&f->q, &data));
    push_all(&f->q, 1);
    otpc__mq_take(&f->q);
    expect_all(&f->q, 1);
    otpc__mq_take(&f->q); /* the old batch is gone */
    assert_null(otpc__mq_next(&f->q, &data));
}

/* The batch form: lock, add several, unlock; the records come out as pushed. */
static void batch_add_locked(void **state)
{
    fixture_t *f = *state;
    const char *data;
    char buf[40];
    otpc__mq_lock(&f->q);
    for (unsigned i = 0; i < 100; i++) {
        fill(buf, i % sizeof buf, i);
        assert_int_equal(otpc__mq_add_locked(&f->q, i, NULL, i, buf, i % sizeof buf), 0);
    }
    otpc__mq_unlock(&f->q);
    otpc__mq_take(&f->q);
    for (unsigned i = 0; i < 100; i++) {
        const otpc__rec_t *r = otpc__mq_next(&f->q, &data);
        assert_non_null(r);
        assert_int_equal(r->type, i);
        assert_int_equal(r->len, i % sizeof buf);
        check_data(data, r->len, i);
    }
    assert_null(otpc__mq_next(&f->q, &data));
}

/* Records pushed while the consumer walks a batch wait for the next take. */
static void push_during_walk(void **state)
{
    fixture_t *f = *state;
    const char *data;
    push_all(&f->q, 1);
    otpc__mq_take(&f->q);
    const otpc__rec_t *r = otpc__mq_next(&f->q, &data);
    assert_int_equal(r->type, 1);
    push_all(&f->q, 100);
    for (unsigned i = 1; i < NSIZES; i++) {
        r = otpc__mq_next(&f->q, &data);
        assert_non_null(r);
        assert_int_equal(r->type, 1 + i);
        check_data(data, r->len, 1 + i);
    }
    assert_null(otpc__mq_next(&f->q, &data));
    otpc__mq_take(&f->q);
    expect_all(&f->q, 100);
}

/* Steady state allocates nothing: after two warm-up batches the two buffers keep
 * their storage and capacity, batch after batch. */
static void capacity_kept(void **state)
{
    fixture_t *f = *state;
    for (unsigned round = 0; round < 2; round++) {
        push_all(&f->q, round);
        otpc__mq_take(&f->q);
        expect_all(&f->q, round);
    }
    char *a = f->q.in.data, *b = f->q.out.data;
    size_t cap_a = f->q.in.cap, cap_b = f->q.out.cap;
    assert_non_null(a);
    assert_non_null(b);
    for (unsigned round = 2; round < 12; round++) {
        push_all(&f->q, round);
        otpc__mq_take(&f->q);
        expect_all(&f->q, round);
        /* the buffers alternate between in and out */
        char *in = f->q.in.data, *out = f->q.out.data;
        assert_true((in == a && out == b) || (in == b && out == a));
        assert_int_equal(f->q.in.cap + f->q.out.cap, cap_a + cap_b);
    }
}

/* A batch above OTPC__BUF_KEEP is given back once consumed: neither buffer keeps
 * more than OTPC__BUF_KEEP after the next two takes. */
static void huge_batch_released(void **state)
{
    fixture_t *f = *state;
    const char *data;
    size_t n = 2 * OTPC__BUF_KEEP;
    char *big = malloc(n);
    assert_non_null(big);
    fill(big, n, 5);
    assert_int_equal(otpc__mq_push(&f->q, 5, NULL, 0, big, (uint32_t)n), 0);
    free(big);
    otpc__mq_take(&f->q);
    const otpc__rec_t *r = otpc__mq_next(&f->q, &data);
    assert_int_equal(r->len, n);
    check_data(data, n, 5);
    otpc__mq_take(&f->q);
    otpc__mq_take(&f->q);
    assert_true(f->q.in.cap <= OTPC__BUF_KEEP);
    assert_true(f->q.out.cap <= OTPC__BUF_KEEP);
}

/* A burst of pushes costs one wake-up of the consumer loop; an unlock with nothing
 * queued wakes nobody. */
static void one_wakeup_per_burst(void **state)
{
    fixture_t *f = *state;
    otpc__mq_lock(&f->q);
    otpc__mq_unlock(&f->q);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(f->wakeups, 0);
    for (unsigned i = 0; i < 1000; i++)
        assert_int_equal(otpc__mq_push(&f->q, i, NULL, 0, NULL, 0), 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(f->wakeups, 1);
    /* Not taken yet: more pushes ride on the wake-up already sent. */
    push_all(&f->q, 1);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(f->wakeups, 1);
    otpc__mq_take(&f->q);
    push_all(&f->q, 1);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(f->wakeups, 2);
}

/* ---- several producer threads -------------------------------------------------------- */

#define PRODUCERS 4
#define PER_PRODUCER 20000

typedef struct {
    otpc__mq_t *q;
    unsigned id;
} producer_t;

/* Push PER_PRODUCER records: type = producer id, arg = sequence, data = the sequence
 * repeated over 1 to 4 words. cmocka's asserts must not run off the main thread, so a
 * failed push aborts the test program. */
static void produce(void *arg)
{
    producer_t *p = arg;
    uint64_t words[4];
    for (uint64_t seq = 0; seq < PER_PRODUCER; seq++) {
        for (size_t k = 0; k < 4; k++)
            words[k] = seq;
        uint32_t len = (uint32_t)(seq % 4 + 1) * 8;
        if (otpc__mq_push(p->q, p->id, p, seq, words, len) != 0)
            abort();
    }
}

/* Four producers push concurrently; the consumer sees every record exactly once and
 * each producer's records in the order it pushed them. */
static void many_producers(void **state)
{
    fixture_t *f = *state;
    uv_thread_t tid[PRODUCERS];
    producer_t prod[PRODUCERS];
    uint64_t next_seq[PRODUCERS] = {0};
    size_t total = 0;
    for (unsigned i = 0; i < PRODUCERS; i++) {
        prod[i].q = &f->q;
        prod[i].id = i;
        assert_int_equal(uv_thread_create(&tid[i], produce, &prod[i]), 0);
    }
    while (total < (size_t)PRODUCERS * PER_PRODUCER) {
        const otpc__rec_t *r;
        const char *data;
        otpc__mq_take(&f->q);
        while ((r = otpc__mq_next(&f->q, &data)) != NULL) {
            assert_true(r->type < PRODUCERS);
            assert_ptr_equal(r->ptr, &prod[r->type]);
            assert_true(r->arg == next_seq[r->type]);
            uint64_t first;
            memcpy(&first, data, sizeof first);
            assert_true(first == r->arg);
            next_seq[r->type]++;
            total++;
        }
    }
    for (unsigned i = 0; i < PRODUCERS; i++) {
        assert_int_equal(uv_thread_join(&tid[i]), 0);
        assert_true(next_seq[i] == PER_PRODUCER);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(push_take_next, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(batch_add_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(push_during_walk, setup, teardown),
        cmocka_unit_test_setup_teardown(capacity_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(huge_batch_released, setup, teardown),
        cmocka_unit_test_setup_teardown(one_wakeup_per_burst, setup, teardown),
        cmocka_unit_test_setup_teardown(many_producers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
