/*
 * Unit tests of the cookie file rules in node/node.c, through otpc_node_new() with
 * HOME pointing at a fresh directory and no cookie given: an absent ~/.erlang.cookie is
 * created (20 capitals, mode 0400); a file that is not regular, or that group or others
 * may access, is refused with erl's own reason on stderr; the cookie is the file's
 * printable characters. uv_random is wrapped (-Wl,--wrap=uv_random) so that a failure
 * of the system's random source can be forced: it must fail node creation, with no
 * cookie file left behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/node_int.h"

int __real_uv_random(uv_loop_t *loop, uv_random_t *req, void *buf, size_t len, unsigned flags,
                     uv_random_cb cb);
int __wrap_uv_random(uv_loop_t *loop, uv_random_t *req, void *buf, size_t len, unsigned flags,
                     uv_random_cb cb);

static int random_fails;

int __wrap_uv_random(uv_loop_t *loop, uv_random_t *req, void *buf, size_t len, unsigned flags,
                     uv_random_cb cb)
{
    if (random_fails)
        return UV_EIO;
    return __real_uv_random(loop, req, buf, len, flags, cb);
}

static char home[64];
static char path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(home, sizeof home, "/tmp/otpc_cookie_XXXXXX");
    if (!mkdtemp(home))
        return -1;
    snprintf(path, sizeof path, "%s/.erlang.cookie", home);
    setenv("HOME", home, 1);
    unsetenv("OTPC_COOKIE");
    random_fails = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
        rmdir(path);
    else
        unlink(path);
    return rmdir(home);
}

/* otpc_node_new() with no cookie given; its stderr lands in log. On success the node's
 * cookie is copied to cookie (if not NULL). */
static int new_node(char *log, size_t logcap, char *cookie)
{
    char logpath[160];
    snprintf(logpath, sizeof logpath, "%s/stderr", home);
    int fd = open(logpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    int saved = dup(2);
    fflush(stderr);
    dup2(fd, 2);
    otpc_node_opts_t o = {.name = "cookie_test"};
    otpc_node_t *n = NULL;
    int rc = otpc_node_new(&n, &o);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t r = pread(fd, log, logcap - 1, 0);
    log[r > 0 ? r : 0] = 0;
    close(fd);
    unlink(logpath);
    if (rc == 0 && cookie)
        strcpy(cookie, n->cookie);
    otpc_node_free(n);
    return rc;
}

static void write_cookie(const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
}

static void assert_refused(const char *reason)
{
    char log[1024], want[256];
    assert_int_equal(new_node(log, sizeof log, NULL), OTPC_ECOOKIE);
    snprintf(want, sizeof want, "error node: Cookie file %s %s\n", path, reason);
    if (!strstr(log, want))
        fail_msg("log %s lacks %s", log, want);
}

static void absent_file_is_created(void **state)
{
    (void)state;
    char log[1024], cookie[256];
    assert_int_equal(new_node(log, sizeof log, cookie), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0400);
    assert_int_equal(st.st_size, 20);
    assert_int_equal(strlen(cookie), 20);
    for (int i = 0; i < 20; i++)
        assert_true(cookie[i] >= 'A' && cookie[i] <= 'Z');
    char again[256];
    assert_int_equal(new_node(log, sizeof log, again), 0); /* read back, not remade */
    assert_string_equal(cookie, again);
}

static void group_or_others_access_refused(void **state)
{
    (void)state;
    static const mode_t modes[] = {0644, 0640, 0604, 0440, 0404, 0410, 0401, 0600 | 020};
    write_cookie("SECRET", 0644);
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        assert_int_equal(chmod(path, modes[i]), 0);
        assert_refused("must be accessible by owner only");
    }
}

static void owner_only_accepted(void **state)
{
    (void)state;
    char log[1024], cookie[256];
    write_cookie("SECRET", 0400);
    assert_int_equal(new_node(log, sizeof log, cookie), 0);
    assert_string_equal(cookie, "SECRET");
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(new_node(log, sizeof log, cookie), 0);
    assert_string_equal(cookie, "SECRET");
}

static void directory_refused(void **state)
{
    (void)state;
    assert_int_equal(mkdir(path, 0700), 0);
    assert_refused("is of type directory");
}

static void fifo_refused_without_waiting(void **state)
{
    (void)state;
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_refused("is of type other"); /* a blocking open would hang the test here */
}

static void device_refused(void **state)
{
    (void)state;
    assert_int_equal(symlink("/dev/null", path), 0);
    assert_refused("is of type device");
}

static void cookie_text_as_erl_reads_it(void **state)
{
    (void)state;
    char log[1024], cookie[256];
    write_cookie("A cookie \r\n\n", 0400);
    assert_int_equal(new_node(log, sizeof log, cookie), 0);
    assert_string_equal(cookie, "A cookie "); /* erl keeps the space before the newline */
    unlink(path);
    write_cookie("TWO\nLINES", 0400);
    assert_int_equal(new_node(log, sizeof log, NULL), OTPC_ECOOKIE);
    assert_non_null(strstr(log, "error node: Bad characters in cookie file"));
    unlink(path);
    write_cookie("\n", 0400);
    assert_int_equal(new_node(log, sizeof log, NULL), OTPC_ECOOKIE);
    assert_non_null(strstr(log, "is empty"));
    unlink(path);
    char big[300];
    memset(big, 'X', sizeof big - 1);
    big[sizeof big - 1] = 0;
    write_cookie(big, 0400);
    assert_int_equal(new_node(log, sizeof log, NULL), OTPC_ECOOKIE);
    assert_non_null(strstr(log, "is too long"));
}

static void no_home(void **state)
{
    (void)state;
    char log[1024];
    unsetenv("HOME");
    assert_int_equal(new_node(log, sizeof log, NULL), OTPC_ECOOKIE);
    assert_non_null(strstr(log, "error node: No home for cookie file"));
}

static void random_failure_creates_nothing(void **state)
{
    (void)state;
    char log[1024];
    random_fails = 1;
    assert_int_equal(new_node(log, sizeof log, NULL), OTPC_ECOOKIE);
    assert_non_null(strstr(log, "error node: Failed to create cookie file"));
    struct stat st;
    assert_int_equal(lstat(path, &st), -1);
}

static void random_failure_fails_node(void **state)
{
    (void)state;
    char log[1024];
    write_cookie("SECRET", 0400); /* the cookie is fine: only the reference salt fails */
    random_fails = 1;
    assert_int_equal(new_node(log, sizeof log, NULL), OTPC_EIO);
    assert_non_null(strstr(log, "error node: no random bytes for references"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(absent_file_is_created, setup, teardown),
        cmocka_unit_test_setup_teardown(group_or_others_access_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(owner_only_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(directory_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(fifo_refused_without_waiting, setup, teardown),
        cmocka_unit_test_setup_teardown(device_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(cookie_text_as_erl_reads_it, setup, teardown),
        cmocka_unit_test_setup_teardown(no_home, setup, teardown),
        cmocka_unit_test_setup_teardown(random_failure_creates_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(random_failure_fails_node, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
