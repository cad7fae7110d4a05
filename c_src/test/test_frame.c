/*
 * Unit tests of daemon/frame.h, the classification of one daemon frame: an empty
 * frame is a keepalive, {call, Tag, Req} a call (Tag and Req located exactly), {cast,
 * Req} a cast, and everything else bad, "not_a_term" when the frame is not exactly one
 * term and "unknown_message" when it is some other term. libei is not instrumented, so
 * each frame is placed flush against an inaccessible page: a read past its end
 * faults, as the empty tuple {} used to make ei_decode_atom do.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ei.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/frame.h"

static char *region; /* one writable page, then one PROT_NONE page */
static size_t page;

static int group_setup(void **state)
{
    (void)state;
    page = (size_t)sysconf(_SC_PAGESIZE);
    region = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED)
        return -1;
    return mprotect(region + page, page, PROT_NONE);
}

static int group_teardown(void **state)
{
    (void)state;
    return munmap(region, 2 * page);
}

/* Classify data[0..len) placed so that it ends at the guard page. */
static otpc__dframe_kind_t classify(const void *data, size_t len, otpc__dframe_t *f)
{
    assert_true(len <= page);
    char *at = region + page - len;
    memcpy(at, data, len);
    return otpc__daemon_classify(at, len, f);
}

static otpc__dframe_kind_t classify_x(const ei_x_buff *x, otpc__dframe_t *f)
{
    return classify(x->buff, (size_t)x->index, f);
}

static void keepalive(void **state)
{
    (void)state;
    otpc__dframe_t f;
    assert_int_equal(classify("", 0, &f), OTPC__DFRAME_KEEPALIVE);
    assert_null(f.why);
}

/* {call, 7, pop}: Tag is the small integer, Req the atom after it. */
static void call(void **state)
{
    (void)state;
    ei_x_buff x;
    otpc__dframe_t f;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "call");
    int tag_at = x.index;
    ei_x_encode_long(&x, 7);
    int req_at = x.index;
    ei_x_encode_atom(&x, "pop");
    assert_int_equal(classify_x(&x, &f), OTPC__DFRAME_CALL);
    assert_int_equal(f.tag_off, tag_at);
    assert_int_equal(f.tag_len, req_at - tag_at);
    assert_int_equal(f.req_off, req_at);
    ei_x_free(&x);
}

static void cast(void **state)
{
    (void)state;
    ei_x_buff x;
    otpc__dframe_t f;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "cast");
    int req_at = x.index;
    ei_x_encode_tuple_header(&x, 0);
    assert_int_equal(classify_x(&x, &f), OTPC__DFRAME_CAST);
    assert_int_equal(f.req_off, req_at);
    ei_x_free(&x);
}

static void not_a_term(void **state)
{
    (void)state;
    otpc__dframe_t f;
    const char no_version[] = {ERL_SMALL_INTEGER_EXT, 1};
    const char truncated[] = {(char)131, ERL_SMALL_TUPLE_EXT, 2, ERL_SMALL_INTEGER_EXT};
    const char trailing[] = {(char)131, ERL_SMALL_INTEGER_EXT, 1, 0};
    assert_int_equal(classify(no_version, sizeof no_version, &f), OTPC__DFRAME_BAD);
    assert_string_equal(f.why, "not_a_term");
    assert_int_equal(classify(truncated, sizeof truncated, &f), OTPC__DFRAME_BAD);
    assert_string_equal(f.why, "not_a_term");
    assert_int_equal(classify(trailing, sizeof trailing, &f), OTPC__DFRAME_BAD);
    assert_string_equal(f.why, "not_a_term");
}

/* Terms that are not a call or a cast, among them the empty tuple at the very end of
 * the frame (nothing after it may be read) and the right atoms with the wrong arity. */
static void unknown_message(void **state)
{
    (void)state;
    otpc__dframe_t f;
    const char empty_tuple[] = {(char)131, ERL_SMALL_TUPLE_EXT, 0};
    const char one_tuple[] = {(char)131, ERL_SMALL_TUPLE_EXT, 1, ERL_SMALL_INTEGER_EXT, 1};
    const char atom[] = {(char)131, ERL_SMALL_ATOM_UTF8_EXT, 4, 'c', 'a', 'l', 'l'};
    const char call2[] = {
        (char)131, ERL_SMALL_TUPLE_EXT,   2, ERL_SMALL_ATOM_UTF8_EXT, 4, 'c', 'a', 'l',
        'l',       ERL_SMALL_INTEGER_EXT, 1};
    const char cast3[] = {(char)131, ERL_SMALL_TUPLE_EXT,
                          3,         ERL_SMALL_ATOM_UTF8_EXT,
                          4,         'c',
                          'a',       's',
                          't',       ERL_SMALL_INTEGER_EXT,
                          1,         ERL_NIL_EXT};
    const char int_first[] = {(char)131, ERL_SMALL_TUPLE_EXT, 2, ERL_SMALL_INTEGER_EXT,
                              1,         ERL_NIL_EXT};
    const struct {
        const char *d;
        size_t n;
    } cases[] = {{empty_tuple, sizeof empty_tuple},
                 {one_tuple, sizeof one_tuple},
                 {atom, sizeof atom},
                 {call2, sizeof call2},
                 {cast3, sizeof cast3},
                 {int_first, sizeof int_first}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        assert_int_equal(classify(cases[k].d, cases[k].n, &f), OTPC__DFRAME_BAD);
        assert_string_equal(f.why, "unknown_message");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keepalive),
        cmocka_unit_test(call),
        cmocka_unit_test(cast),
        cmocka_unit_test(not_a_term),
        cmocka_unit_test(unknown_message),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
