/*
 * A gen_server whose reply or stop reason cannot be built stops with enomem instead of
 * sending a corrupt term. ei_x_encode_atom and ei_x_append_buf are wrapped
 * (-Wl,--wrap=...) so that encoding one chosen atom, or the next append, fails as it
 * would when memory runs out; the node is created but never run, as in test_names.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "otp/gen_server_int.h"

static const char *fail_atom; /* encoding this atom fails */
static int fail_append;       /* the next ei_x_append_buf fails */

int __real_ei_x_encode_atom(ei_x_buff *x, const char *s);
int __wrap_ei_x_encode_atom(ei_x_buff *x, const char *s);
int __real_ei_x_append_buf(ei_x_buff *x, const char *buf, int len);
int __wrap_ei_x_append_buf(ei_x_buff *x, const char *buf, int len);

int __wrap_ei_x_encode_atom(ei_x_buff *x, const char *s)
{
    if (fail_atom && strcmp(s, fail_atom) == 0)
        return -1;
    return __real_ei_x_encode_atom(x, s);
}

int __wrap_ei_x_append_buf(ei_x_buff *x, const char *buf, int len)
{
    if (fail_append) {
        fail_append = 0;
        return -1;
    }
    return __real_ei_x_append_buf(x, buf, len);
}

static otpc_node_t *node(void)
{
    otpc_node_opts_t o = {.name = "t@localhost", .cookie = "c"};
    otpc_node_t *n = NULL;
    assert_int_equal(otpc_node_new(&n, &o), 0);
    n->creation = 1;
    fail_atom = NULL;
    fail_append = 0;
    return n;
}

static int is_atom(const ei_x_buff *x, const char *atom)
{
    return otpc_term_is_atom((otpc_term_t){x->buff, (size_t)x->index}, atom);
}

/* init's mode, as the argument's atom */
static otpc_action_t init(otpc_proc_t *self, otpc_term_t arg, otpc_ret_t *r)
{
    (void)self;
    if (otpc_term_is_atom(arg, "stop"))
        return otpc_stop_atom(r, "boom");
    if (otpc_term_is_atom(arg, "bad_return"))
        return OTPC_NOREPLY;
    if (otpc_term_is_atom(arg, "copy")) {
        fail_append = 1; /* the copy of the reason for the starter */
        return otpc_stop_atom(r, "plain");
    }
    return OTPC_OK;
}

static otpc_action_t call(otpc_proc_t *self, otpc_term_t req, otpc_from_t *from, otpc_ret_t *r)
{
    (void)self;
    (void)req;
    (void)from;
    return otpc_reply_atom(r, "boom");
}

static const otpc_gen_server_t mod = {.name = "m", .init = init, .handle_call = call};

static int start(otpc_node_t *n, const char *how, ei_x_buff *reason, otpc_pid_t *pid)
{
    ei_x_buff arg;
    assert_int_equal(ei_x_new_with_version(&arg), 0);
    assert_int_equal(ei_x_encode_atom(&arg, how), 0);
    otpc_start_opts_t o = {NULL, NULL, reason};
    int rc = otpc_gen_server_start(n, &mod, otpc_term_x(&arg), &o, pid);
    ei_x_free(&arg);
    return rc;
}

static void init_stop_reason(void **state)
{
    (void)state;
    otpc_node_t *n = node();
    ei_x_buff reason;
    otpc_pid_t pid;
    assert_int_equal(ei_x_new(&reason), 0);
    assert_int_equal(start(n, "stop", &reason, &pid), OTPC_ESTOPPED);
    assert_true(is_atom(&reason, "boom"));
    fail_atom = "boom";
    assert_int_equal(start(n, "stop", &reason, &pid), OTPC_ESTOPPED);
    assert_true(is_atom(&reason, "enomem"));
    ei_x_free(&reason);
    otpc_node_free(n);
}

static void init_bad_return(void **state)
{
    (void)state;
    otpc_node_t *n = node();
    ei_x_buff reason;
    otpc_pid_t pid;
    assert_int_equal(ei_x_new(&reason), 0);
    fail_atom = "bad_return_value";
    assert_int_equal(start(n, "bad_return", &reason, &pid), OTPC_ESTOPPED);
    assert_true(is_atom(&reason, "enomem"));
    ei_x_free(&reason);
    otpc_node_free(n);
}

static void init_reason_copy(void **state)
{
    (void)state;
    otpc_node_t *n = node();
    ei_x_buff reason;
    otpc_pid_t pid;
    assert_int_equal(ei_x_new(&reason), 0);
    assert_int_equal(start(n, "copy", &reason, &pid), OTPC_ENOMEM);
    assert_int_equal(reason.index, 0);
    ei_x_free(&reason);
    otpc_node_free(n);
}

/* The caller: monitors the server (if watch), then calls it; keeps the last message. */
static otpc_pid_t server;
static ei_x_buff last;
static int nmsgs, watch;

static int caller_init(otpc_proc_t *self, void *arg)
{
    (void)arg;
    otpc_ref_t ref;
    ei_x_buff x;
    otpc_pid_t me = otpc_self(self);
    if ((watch && otpc_monitor(self, &server, &ref)) || ei_x_new_with_version(&x) ||
        ei_x_encode_tuple_header(&x, 3) || ei_x_encode_atom(&x, "$gen_call") ||
        ei_x_encode_tuple_header(&x, 2) || otpc_x_encode_pid(self, &x, &me) ||
        ei_x_encode_atom(&x, "tag") || ei_x_encode_atom(&x, "req"))
        return OTPC_ENOMEM;
    int rc = otpc_send(self, &server, otpc_term_x(&x));
    ei_x_free(&x);
    return rc;
}

/* One message, then it exits: a node that never ran frees no live process's parts. */
static void caller_handle(otpc_proc_t *self, otpc_term_t msg)
{
    static const char normal[] = {(char)131, ERL_SMALL_ATOM_UTF8_EXT, 6, 'n', 'o', 'r', 'm', 'a',
                                  'l'};
    nmsgs++;
    last.index = 0;
    assert_int_equal(__real_ei_x_append_buf(&last, msg.data, (int)msg.size), 0);
    otpc_exit(self, (otpc_term_t){normal, sizeof normal});
}

static const otpc_proc_ops_t caller_ops = {
    .name = "caller", .init = caller_init, .handle = caller_handle};

/* Each round runs only what was queued when it began. */
static void run(otpc_node_t *n)
{
    for (int k = 0; k < 8; k++)
        otpc__run_queue(n, 1000);
}

static void call_reply(void **state)
{
    (void)state;
    otpc_node_t *n = node();
    otpc_pid_t caller;
    assert_int_equal(ei_x_new(&last), 0);
    assert_int_equal(start(n, "ok", NULL, &server), 0);
    watch = 0;
    assert_int_equal(otpc_spawn(n, &caller_ops, NULL, &caller), 0);
    nmsgs = 0;
    run(n);
    assert_int_equal(nmsgs, 1); /* {tag, boom} */
    int i;
    assert_true(otpc_term_is_tagged(otpc_term_x(&last), "tag", 2, &i));

    fail_atom = "boom";
    watch = 1;
    assert_int_equal(otpc_spawn(n, &caller_ops, NULL, &caller), 0);
    nmsgs = 0;
    run(n);
    /* no reply, only {'DOWN', Ref, process, Server, enomem} */
    assert_int_equal(nmsgs, 1);
    otpc_term_t t = otpc_term_x(&last);
    assert_true(otpc_term_is_tagged(t, "DOWN", 5, &i));
    for (int k = 0; k < 3; k++)
        assert_int_equal(otpc_skip_term(t, &i), 0);
    assert_true(otpc_decode_atom_is(t.data, &i, "enomem"));
    ei_x_free(&last);
    otpc_node_free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(init_stop_reason),
        cmocka_unit_test(init_bad_return),
        cmocka_unit_test(init_reason_copy),
        cmocka_unit_test(call_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
