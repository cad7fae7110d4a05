/*
 * Unit tests of util/buf.h's blocks for large messages (otpc__mem_resize /
 * otpc__mem_release): the bytes survive every move (heap to mapping, mapping grown,
 * mapping to heap), a released mapping is what the next large block gets (the spare,
 * its pages kept), and a block above the spare's size gets a mapping of its own.
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

/* Grown as frag.c grows a message: 256 bytes doubling to 8 MiB, the bytes kept. */
static void test_grow_across_kinds(void **state)
{
    (void)state;
    size_t cap = 256, len = 0;
    char *p = otpc__mem_resize(NULL, 0, 0, cap);
    assert_non_null(p);
    while (cap < 8 * MIB) {
        fill(p, len, cap);
        len = cap;
        char *q = otpc__mem_resize(p, cap, len, cap * 2);
        assert_non_null(q);
        p = q;
        cap *= 2;
        check(p, len);
    }
    fill(p, len, cap);
    check(p, cap);
    /* and back below OTPC__MAP_MIN: the first bytes stay */
    char *q = otpc__mem_resize(p, cap, cap, 4096);
    assert_non_null(q);
    check(q, 4096);
    otpc__mem_release(q, 4096);
}

/* A released mapping is the next large block: same address, its bytes still there
 * (MADV_FREE: the kernel may have taken them, not here with memory to spare). */
static void test_spare_reused(void **state)
{
    (void)state;
    size_t cap = 4 * MIB;
    char *p = otpc__mem_resize(NULL, 0, 0, cap);
    assert_non_null(p);
    fill(p, 0, cap);
    otpc__mem_release(p, cap);
    char *q = otpc__mem_resize(NULL, 0, 0, 2 * MIB); /* smaller: the spare serves */
    assert_ptr_equal(q, p);
    /* grown within the spare's length: no move */
    char *r = otpc__mem_resize(q, 2 * MIB, 2 * MIB, 4 * MIB);
    assert_ptr_equal(r, q);
    fill(r, 0, 4 * MIB);
    check(r, 4 * MIB);
    /* a larger block while the spare is taken: a mapping of its own */
    char *big = otpc__mem_resize(NULL, 0, 0, 16 * MIB);
    assert_non_null(big);
    assert_ptr_not_equal(big, r);
    fill(big, 0, 16 * MIB);
    otpc__mem_release(r, 4 * MIB);
    otpc__mem_release(big, 16 * MIB); /* the larger one stays spare */
    char *again = otpc__mem_resize(NULL, 0, 0, 8 * MIB);
    assert_ptr_equal(again, big);
    otpc__mem_release(again, 8 * MIB);
}

static void test_small_stays_on_heap(void **state)
{
    (void)state;
    char *p = otpc__mem_resize(NULL, 0, 0, 1000);
    assert_non_null(p);
    fill(p, 0, 1000);
    char *q = otpc__mem_resize(p, 1000, 1000, OTPC__MAP_MIN - 1);
    assert_non_null(q);
    check(q, 1000);
    otpc__mem_release(q, OTPC__MAP_MIN - 1);
    otpc__mem_release(NULL, 5 * MIB); /* nothing */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grow_across_kinds),
        cmocka_unit_test(test_spare_reused),
        cmocka_unit_test(test_small_stays_on_heap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
