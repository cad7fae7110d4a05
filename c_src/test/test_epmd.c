/*
 * Unit tests of dist/epmd.h, the epmd request encoder and response decoder.
 *
 * Requests are compared byte for byte with the layout in the ERTS documentation
 * ("Distribution Protocol", EPMD protocol). Responses are decoded at every length from
 * empty to complete, each from an exact-size heap copy, so that "need more" (0), a
 * result (1) and a refusal (<0) are each pinned down and ASan sees any overread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "proto/epmd.h"
#include "otpc.h"

/* ---- requests ------------------------------------------------------------------------ */

/* ALIVE2_REQ for a hidden node: length 13 + name, tag 120, port, type 72, protocol 0,
 * highest 6, lowest 5, name length, name, extra length 0. */
static void alive2_req_hidden(void **state)
{
    (void)state;
    otpc__buf_t b = {0};
    const unsigned char want[] = {0, 18, 120, 0x12, 0x34, 72,  0,   0,   6, 0,
                                  5, 0,  5,   'o',  't',  'p', 'c', '1', 0, 0};
    assert_int_equal(otpc__epmd_alive2_req(&b, 0x1234, 0, "otpc1"), 0);
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    assert_int_equal(otpc__get_u16(b.data), b.len - 2);
    otpc__buf_free(&b);
}

/* A published node is type 77; the rest is the same. */
static void alive2_req_published(void **state)
{
    (void)state;
    otpc__buf_t b = {0};
    const unsigned char want[] = {0, 14, 120, 0xff, 0xfe, 77, 0, 0, 6, 0, 5, 0, 1, 'n', 0, 0};
    assert_int_equal(otpc__epmd_alive2_req(&b, 0xfffe, 1, "n"), 0);
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    otpc__buf_free(&b);
}

/* Requests append to what the buffer already holds; a 255-byte name is the limit. */
static void alive2_req_appends_and_limits(void **state)
{
    (void)state;
    otpc__buf_t b = {0};
    char name[257];
    memset(name, 'x', 256);
    name[256] = 0;
    assert_int_equal(otpc__buf_append(&b, "ab", 2), 0);
    assert_int_equal(otpc__epmd_alive2_req(&b, 1, 0, "n"), 0);
    assert_memory_equal(b.data, "ab", 2);
    assert_int_equal(b.len, 2 + 16);
    assert_int_equal(otpc__epmd_alive2_req(&b, 1, 0, name), OTPC_EINVAL);
    assert_int_equal(b.len, 2 + 16);
    name[255] = 0;
    b.len = 0;
    assert_int_equal(otpc__epmd_alive2_req(&b, 1, 0, name), 0);
    assert_int_equal(b.len, 2 + 13 + 255);
    assert_int_equal(otpc__get_u16(b.data), 13 + 255);
    assert_int_equal(otpc__get_u16(b.data + 11), 255);
    assert_memory_equal(b.data + 13, name, 255);
    otpc__buf_free(&b);
}

/* PORT_PLEASE2_REQ: length 1 + name, tag 122, the name; too long a name is refused. */
static void port_please2_req(void **state)
{
    (void)state;
    otpc__buf_t b = {0};
    const unsigned char want[] = {0, 6, 122, 'p', 'e', 'e', 'r', '1'};
    char name[257];
    memset(name, 'y', 256);
    name[256] = 0;
    assert_int_equal(otpc__epmd_port_req(&b, "peer1"), 0);
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    assert_int_equal(otpc__epmd_port_req(&b, name), OTPC_EINVAL);
    assert_int_equal(b.len, sizeof want);
    otpc__buf_free(&b);
}

/* ---- responses ----------------------------------------------------------------------- */

static int alive2_resp(const unsigned char *d, size_t len, int *ok, uint32_t *creation)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, d, len);
    int rc = otpc__epmd_alive2_resp(copy, len, ok, creation);
    free(copy);
    return rc;
}

static int port_resp(const unsigned char *d, size_t len, uint16_t *port, uint16_t *highest)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, d, len);
    int rc = otpc__epmd_port_resp(copy, len, port, highest);
    free(copy);
    return rc;
}

/* ALIVE2_X_RESP (118): result 0 and a 32-bit creation; 0 until all 6 bytes are in;
 * bytes after the response are not its business. */
static void alive2_x_resp(void **state)
{
    (void)state;
    const unsigned char d[] = {118, 0, 0x89, 0xab, 0xcd, 0xef, 0x55};
    int ok = -1;
    uint32_t creation = 0;
    for (size_t len = 0; len < 6; len++)
        assert_int_equal(alive2_resp(d, len, &ok, &creation), 0);
    assert_int_equal(alive2_resp(d, 6, &ok, &creation), 1);
    assert_int_equal(ok, 1);
    assert_int_equal(creation, 0x89abcdefu);
    assert_int_equal(alive2_resp(d, sizeof d, &ok, &creation), 1);
}

/* ALIVE2_RESP (121) of old epmds: a 16-bit creation; 0 until all 4 bytes are in. */
static void alive2_resp_old(void **state)
{
    (void)state;
    const unsigned char d[] = {121, 0, 0x12, 0x34};
    int ok = -1;
    uint32_t creation = 0;
    for (size_t len = 0; len < 4; len++)
        assert_int_equal(alive2_resp(d, len, &ok, &creation), 0);
    assert_int_equal(alive2_resp(d, 4, &ok, &creation), 1);
    assert_int_equal(ok, 1);
    assert_int_equal(creation, 0x1234);
}

/* A non-zero result (the name is taken) is a complete answer with ok false. */
static void alive2_resp_refused(void **state)
{
    (void)state;
    const unsigned char x[] = {118, 1, 0, 0, 0, 0};
    const unsigned char old[] = {121, 1, 0, 0};
    int ok = -1;
    uint32_t creation;
    assert_int_equal(alive2_resp(x, sizeof x, &ok, &creation), 1);
    assert_int_equal(ok, 0);
    ok = -1;
    assert_int_equal(alive2_resp(old, sizeof old, &ok, &creation), 1);
    assert_int_equal(ok, 0);
}

/* Any other first byte is malformed: negative, at any length from 1. */
static void alive2_resp_bad_tag(void **state)
{
    (void)state;
    const unsigned char tags[] = {0, 119, 120, 122, 'H', 255};
    unsigned char d[6] = {0};
    int ok;
    uint32_t creation;
    for (size_t i = 0; i < sizeof tags; i++) {
        d[0] = tags[i];
        for (size_t len = 1; len <= sizeof d; len++)
            assert_true(alive2_resp(d, len, &ok, &creation) < 0);
    }
}

/* PORT2_RESP (119) found: port and highest version; 0 until the fixed part (12 bytes)
 * is in, the name and extra that follow are not needed. */
static void port2_resp_found(void **state)
{
    (void)state;
    const unsigned char d[] = {119, 0, 0x9c, 0x40, 77,  0,   0,   6, 0,
                               5,   0, 4,    'p',  'e', 'e', 'r', 0, 0};
    uint16_t port = 0, highest = 0;
    for (size_t len = 0; len < 12; len++)
        assert_int_equal(port_resp(d, len, &port, &highest), 0);
    for (size_t len = 12; len <= sizeof d; len++) {
        port = highest = 0;
        assert_int_equal(port_resp(d, len, &port, &highest), 1);
        assert_int_equal(port, 40000);
        assert_int_equal(highest, 6);
    }
}

/* PORT2_RESP with a non-zero result: the name is unknown, port 0, complete at 2 bytes. */
static void port2_resp_not_found(void **state)
{
    (void)state;
    const unsigned char d[] = {119, 1};
    uint16_t port = 1234, highest = 0;
    assert_int_equal(port_resp(d, 0, &port, &highest), 0);
    assert_int_equal(port_resp(d, 1, &port, &highest), 0);
    assert_int_equal(port_resp(d, 2, &port, &highest), 1);
    assert_int_equal(port, 0);
}

/* A port response with another tag is malformed, at any length from 1 (as ALIVE2's). */
static void port2_resp_bad_tag(void **state)
{
    (void)state;
    const unsigned char tags[] = {0, 118, 121, 'N', 255};
    unsigned char d[12] = {0};
    uint16_t port, highest;
    for (size_t i = 0; i < sizeof tags; i++) {
        d[0] = tags[i];
        for (size_t len = 1; len <= sizeof d; len++)
            assert_true(port_resp(d, len, &port, &highest) < 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(alive2_req_hidden),
        cmocka_unit_test(alive2_req_published),
        cmocka_unit_test(alive2_req_appends_and_limits),
        cmocka_unit_test(port_please2_req),
        cmocka_unit_test(alive2_x_resp),
        cmocka_unit_test(alive2_resp_old),
        cmocka_unit_test(alive2_resp_refused),
        cmocka_unit_test(alive2_resp_bad_tag),
        cmocka_unit_test(port2_resp_found),
        cmocka_unit_test(port2_resp_not_found),
        cmocka_unit_test(port2_resp_bad_tag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
