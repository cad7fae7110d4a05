/*
 * Unit tests of the pure parts of the gen_server layer: the request-matching helpers
 * of the public API and the versioned views into mailbox items that hand a request to
 * a callback without copying it, and the rule that picks the form of sys:get_state's
 * answer from the caller's release.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "otp/gen_server_int.h"

/* {'$gen_cast', {push, <<"x">>}} */
static ei_x_buff cast_push(void)
{
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "$gen_cast");
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "push");
    ei_x_encode_binary(&x, "x", 1);
    return x;
}

static void atom_match(void **state)
{
    (void)state;
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_atom(&x, "pop");
    assert_true(otpc_term_is_atom(otpc_term_x(&x), "pop"));
    assert_false(otpc_term_is_atom(otpc_term_x(&x), "po"));
    assert_false(otpc_term_is_atom(otpc_term_x(&x), "popx"));
    ei_x_free(&x);
    x = cast_push();
    assert_false(otpc_term_is_atom(otpc_term_x(&x), "$gen_cast"));
    ei_x_free(&x);
}

static void tagged_match(void **state)
{
    (void)state;
    ei_x_buff x = cast_push();
    otpc_term_t t = otpc_term_x(&x);
    int i = -1;
    assert_false(otpc_term_is_tagged(t, "$gen_cast", 3, &i));
    assert_false(otpc_term_is_tagged(t, "$gen_call", 2, &i));
    assert_int_equal(i, -1); /* untouched on a miss */
    assert_true(otpc_term_is_tagged(t, "$gen_cast", 2, &i));
    int arity;
    assert_int_equal(ei_decode_tuple_header(t.data, &i, &arity), 0);
    assert_int_equal(arity, 2);
    ei_x_free(&x);
}

static void subterm_copy(void **state)
{
    (void)state;
    ei_x_buff x = cast_push(), out;
    otpc_term_t t = otpc_term_x(&x);
    int i;
    assert_true(otpc_term_is_tagged(t, "$gen_cast", 2, &i));
    ei_x_new_with_version(&out);
    assert_int_equal(otpc_x_append_subterm(&out, t, &i), 0);
    assert_int_equal((size_t)i, t.size); /* the request was the last element */
    otpc_term_t req = otpc_term_x(&out);
    int j;
    assert_true(otpc_term_is_tagged(req, "push", 2, &j));
    /* a truncated term is refused, index kept */
    otpc_term_t cut = {t.data, t.size - 1};
    int k = 0, before;
    assert_true(otpc_term_is_tagged(cut, "$gen_cast", 2, &k));
    before = k;
    assert_int_equal(otpc_x_append_subterm(&out, cut, &k), OTPC_EBADARG);
    assert_int_equal(k, before);
    ei_x_free(&x);
    ei_x_free(&out);
}

static void view_is_versioned_and_restored(void **state)
{
    (void)state;
    ei_x_buff x = cast_push();
    char *copy = malloc((size_t)x.index);
    memcpy(copy, x.buff, (size_t)x.index);
    otpc_term_t msg = otpc_term_x(&x);
    int i;
    assert_true(otpc_term_is_tagged(msg, "$gen_cast", 2, &i));
    char saved;
    otpc_term_t req = otpc__view_begin(msg, i, &saved);
    int j;
    assert_true(otpc_term_is_tagged(req, "push", 2, &j)); /* a term of its own */
    assert_int_equal(req.size, msg.size - (size_t)(i - 1));
    otpc__view_end(msg, i, saved);
    assert_memory_equal(x.buff, copy, (size_t)x.index); /* put back byte for byte */
    free(copy);
    ei_x_free(&x);
}

/* What erlang:system_info(otp_release) says, and which form of sys:get_state's answer
 * a caller on that release expects (sys_release.c). */
static void release_rule(void **state)
{
    (void)state;
    assert_int_equal(otpc__sys_release_parse("25"), 25);
    assert_int_equal(otpc__sys_release_parse("29"), 29);
    assert_int_equal(otpc__sys_release_parse("R16B"), -1);
    assert_int_equal(otpc__sys_release_parse("27.1"), -1);
    assert_int_equal(otpc__sys_release_parse(""), -1);
    assert_int_equal(otpc__sys_release_parse("0"), -1);
    assert_int_equal(otpc__sys_release_parse("1234567"), -1);
    assert_true(otpc__sys_bare_state(24));
    assert_true(otpc__sys_bare_state(25));
    assert_false(otpc__sys_bare_state(26));
    assert_false(otpc__sys_bare_state(29));
    assert_false(otpc__sys_bare_state(-1)); /* no usable answer: the newest form */
    assert_false(otpc__sys_bare_state(0));  /* a local caller */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(atom_match),   cmocka_unit_test(tagged_match),
        cmocka_unit_test(subterm_copy), cmocka_unit_test(view_is_versioned_and_restored),
        cmocka_unit_test(release_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
