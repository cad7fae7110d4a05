/*
 * Unit tests of util/buf.h's mapped buffers (otpc__buf_set_cap_large): the bytes
 * survive every move (heap to mapping, mapping grown), every buf function keeps a
 * mapped buffer mapped (otpc__buf_reserve, otpc__buf_set_cap), a freed mapping is
 * what the next large buffer gets (a spare, its pages kept), the largest spares are
 * the ones kept, and small buffers never leave the heap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

#define MIB (1024u * 1024u)

static void fill(char *p, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        p[i] = (char)(i * 131 + 7);
}

static void check(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i += 4093)
        assert_int_equal(p[i], (char)(i * 131 + 7));
    assert_int_equal(p[n - 1], (char)((n - 1) * 131 + 7));
}

/* Grown as frag.c grows a message: 256 bytes doubling to 8 MiB, the bytes kept; a
 * mapping from 1 MiB on, which reserve and set_cap keep mapped. */
static void test_grow_across_kinds(void **state)
{
    (void)state;
    otpc__buf_t b = {0};
    assert_int_equal(otpc__buf_set_cap_large(&b, 256), 0);
    assert_false(b.mapped);
    while (b.cap < 8 * MIB) {
        fill(b.data, b.len, b.cap);
        b.len = b.cap;
        assert_int_equal(otpc__buf_set_cap_large(&b, b.cap * 2), 0);
        assert_int_equal(b.mapped, b.cap >= OTPC__MAP_MIN);
        check(b.data, b.len);
    }
    fill(b.data, b.len, b.cap);
    b.len = b.cap;
    /* what term.c and otpc__buf_append do to it: it stays a mapping */
    assert_int_equal(otpc__buf_reserve(&b, 5 * MIB), 0);
    assert_true(b.mapped);
    assert_int_equal(otpc__buf_set_cap(&b, b.cap + 1), 0);
    assert_true(b.mapped);
    check(b.data, 8 * MIB);
    otpc__buf_free(&b);
    assert_null(b.data);
    assert_false(b.mapped);
}

/* A freed mapping is the next large buffer: same address, no copy of anything. */
static void test_spare_reused(void **state)
{
    (void)state;
    otpc__buf_t a = {0}, c = {0}, big = {0};
    assert_int_equal(otpc__buf_set_cap_large(&a, 40 * MIB), 0);
    char *first = a.data;
    fill(a.data, 0, a.cap);
    otpc__buf_free(&a);
    assert_int_equal(otpc__buf_set_cap_large(&c, 2 * MIB), 0); /* the spare serves */
    assert_ptr_equal(c.data, first);
    assert_int_equal(otpc__buf_set_cap_large(&c, 30 * MIB), 0); /* within it: no move */
    assert_ptr_equal(c.data, first);
    fill(c.data, 0, c.cap);
    check(c.data, c.cap);
    /* larger than any spare: a mapping of its own */
    assert_int_equal(otpc__buf_set_cap_large(&big, 64 * MIB), 0);
    assert_ptr_not_equal(big.data, c.data);
    fill(big.data, 0, big.cap);
    char *big_data = big.data;
    otpc__buf_free(&c);
    otpc__buf_free(&big);
    /* both kept (two spares); the next asks for 50 MiB: only the larger fits */
    assert_int_equal(otpc__buf_set_cap_large(&a, 50 * MIB), 0);
    assert_ptr_equal(a.data, big_data);
    otpc__buf_free(&a);
}

/* Taken out of its buffer (a mailbox item keeps it), released by kind. */
static void test_release_taken(void **state)
{
    (void)state;
    otpc__buf_t b = {0};
    assert_int_equal(otpc__buf_set_cap_large(&b, 3 * MIB), 0);
    assert_true(b.mapped);
    otpc__mem_release(b.data, b.mapped);
    otpc__buf_t s = {0};
    assert_int_equal(otpc__buf_set_cap_large(&s, 1000), 0);
    assert_false(s.mapped);
    otpc__mem_release(s.data, s.mapped);
    otpc__mem_release(NULL, 1); /* nothing */
}

static void test_small_stays_on_heap(void **state)
{
    (void)state;
    otpc__buf_t b = {0};
    assert_int_equal(otpc__buf_set_cap_large(&b, 1000), 0);
    fill(b.data, 0, 1000);
    b.len = 1000;
    assert_int_equal(otpc__buf_set_cap_large(&b, OTPC__MAP_MIN - 1), 0);
    assert_false(b.mapped);
    check(b.data, 1000);
    /* a plain buffer stays on the heap however large */
    assert_int_equal(otpc__buf_reserve(&b, 4 * MIB), 0);
    assert_false(b.mapped);
    check(b.data, 1000);
    otpc__buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grow_across_kinds),
        cmocka_unit_test(test_spare_reused),
        cmocka_unit_test(test_release_taken),
        cmocka_unit_test(test_small_stays_on_heap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
