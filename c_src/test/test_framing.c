/*
 * Unit tests of dist/framing.h: otpc__frame_next finds whole length-prefixed frames
 * in a reassembly buffer, with 2-byte (handshake) and 4-byte (connected) headers.
 * Inputs are copied into exact-size heap blocks so that ASan catches any read past
 * the bytes the caller said were available.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "proto/framing.h"
#include "otpc.h"

/* A heap copy of the first n bytes of src, exactly n bytes long (at least 1 allocated). */
static char *exact(const char *src, size_t n)
{
    char *p = malloc(n ? n : 1);
    assert_non_null(p);
    memcpy(p, src, n);
    return p;
}

/* Run otpc__frame_next over an exact-size copy of data[0..avail). */
static int next(const char *data, size_t avail, unsigned hdr, size_t max, otpc__frame_t *f)
{
    char *copy = exact(data, avail);
    int rc = otpc__frame_next(copy, avail, hdr, max, f);
    free(copy);
    return rc;
}

/* A 2-byte header frame: payload offset 2, its length, and the bytes consumed. */
static void two_byte_header(void **state)
{
    (void)state;
    const char d[] = {0, 3, 'a', 'b', 'c'};
    otpc__frame_t f;
    assert_int_equal(next(d, sizeof d, 2, 65535, &f), 1);
    assert_int_equal(f.off, 2);
    assert_int_equal(f.len, 3);
    assert_int_equal(f.next, 5);
    assert_memory_equal(d + f.off, "abc", 3);
}

/* A 4-byte header frame: payload offset 4; the length is big-endian. */
static void four_byte_header(void **state)
{
    (void)state;
    char d[4 + 0x0102];
    memset(d, 'x', sizeof d);
    d[0] = 0;
    d[1] = 0;
    d[2] = 1;
    d[3] = 2;
    otpc__frame_t f;
    assert_int_equal(next(d, sizeof d, 4, 1 << 20, &f), 1);
    assert_int_equal(f.off, 4);
    assert_int_equal(f.len, 0x0102);
    assert_int_equal(f.next, sizeof d);
}

/* Fewer bytes than the header: 0 (need more), for both header sizes. */
static void partial_header(void **state)
{
    (void)state;
    const char d[] = {0, 0, 0, 1, 'z'};
    otpc__frame_t f;
    assert_int_equal(next(d, 0, 2, 100, &f), 0);
    assert_int_equal(next(d, 1, 2, 100, &f), 0);
    for (size_t n = 0; n < 4; n++)
        assert_int_equal(next(d, n, 4, 100, &f), 0);
}

/* A whole header but not the whole body: 0, at every length short of complete. */
static void partial_body(void **state)
{
    (void)state;
    const char d[] = {0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'};
    otpc__frame_t f;
    for (size_t n = 4; n < sizeof d; n++)
        assert_int_equal(next(d, n, 4, 100, &f), 0);
    assert_int_equal(next(d, sizeof d, 4, 100, &f), 1);
    assert_int_equal(f.len, 5);
}

/* Several frames in one buffer are found one after the other by advancing f.next;
 * the bytes of an incomplete last frame are left for later. */
static void coalesced_frames(void **state)
{
    (void)state;
    const char d[] = {0, 0, 0, 2, 'a', 'b',      /* "ab" */
                      0, 0, 0, 0,                /* tick */
                      0, 0, 0, 3, 'x', 'y', 'z', /* "xyz" */
                      0, 0, 0, 9, '1'};          /* partial */
    char *buf = exact(d, sizeof d);
    const char *want[] = {"ab", "", "xyz"};
    otpc__frame_t f;
    size_t pos = 0, count = 0;
    while (otpc__frame_next(buf + pos, sizeof d - pos, 4, 100, &f) == 1) {
        assert_true(count < 3);
        assert_int_equal(f.len, strlen(want[count]));
        assert_memory_equal(buf + pos + f.off, want[count], f.len);
        pos += f.next;
        count++;
    }
    assert_int_equal(count, 3);
    assert_int_equal(pos, 17); /* the partial frame starts here */
    free(buf);
}

/* A zero-length frame is a tick: complete, len 0, and only its header consumed. */
static void zero_length_tick(void **state)
{
    (void)state;
    const char d[] = {0, 0, 0, 0};
    otpc__frame_t f;
    assert_int_equal(next(d, sizeof d, 4, 0, &f), 1);
    assert_int_equal(f.len, 0);
    assert_int_equal(f.off, 4);
    assert_int_equal(f.next, 4);
}

/* A length above max is OTPC_ETOOBIG as soon as the header is in, even with no body;
 * the largest length (0xffffffff) too. */
static void too_big(void **state)
{
    (void)state;
    const char d[] = {0, 0, 1, 1};
    const char huge[] = {(char)0xff, (char)0xff, (char)0xff, (char)0xff};
    const char two[] = {1, 0};
    otpc__frame_t f;
    assert_int_equal(next(d, sizeof d, 4, 0x100, &f), OTPC_ETOOBIG);
    assert_int_equal(next(huge, sizeof huge, 4, 1 << 26, &f), OTPC_ETOOBIG);
    assert_int_equal(next(two, sizeof two, 2, 0xff, &f), OTPC_ETOOBIG);
}

/* A length exactly max is accepted: 0 while the body is partial, 1 once complete. */
static void exactly_max(void **state)
{
    (void)state;
    char d[4 + 16];
    memset(d, 'm', sizeof d);
    d[0] = d[1] = d[2] = 0;
    d[3] = 16;
    otpc__frame_t f;
    assert_int_equal(next(d, 4, 4, 16, &f), 0);
    assert_int_equal(next(d, sizeof d, 4, 16, &f), 1);
    assert_int_equal(f.len, 16);
    assert_int_equal(f.next, sizeof d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_byte_header),  cmocka_unit_test(four_byte_header),
        cmocka_unit_test(partial_header),   cmocka_unit_test(partial_body),
        cmocka_unit_test(coalesced_frames), cmocka_unit_test(zero_length_tick),
        cmocka_unit_test(too_big),          cmocka_unit_test(exactly_max),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
