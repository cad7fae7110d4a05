/*
 * Unit tests of transport/endpoint.h over the TCP transport, on a socketpair and a
 * private libuv loop (no node): frames cut and coalesced arrive whole and in order in
 * both read modes, output is held until the flush and written in one go, the busy
 * limit stops reading until the peer takes the output, the peer's end and an
 * oversized header end reading once with the right kind, and an endpoint freed from
 * inside its own frame callback goes without touching freed memory (run under ASan by
 * `make test-san`).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "otpc.h"
#include "transport/endpoint.h"

typedef struct {
    char frames[16][64];
    size_t lens[16];
    int nframes;
    int ended;
    otpc__ep_end_t kind;
    uint64_t size;
    int flushed;
    int freed;
    int free_on_frame; /* free the endpoint from inside the frame callback */
    otpc__ep_t *ep;
} rec_t;

static int on_frame(void *ctx, const char *data, size_t len)
{
    rec_t *r = ctx;
    assert_true(r->nframes < 16 && len <= 64);
    memcpy(r->frames[r->nframes], data, len);
    r->lens[r->nframes++] = len;
    if (r->free_on_frame) {
        otpc__ep_free(r->ep);
        return 1;
    }
    return 0;
}

static void on_ended(void *ctx, otpc__ep_end_t kind, const char *why, uint64_t size)
{
    rec_t *r = ctx;
    assert_non_null(why);
    r->ended++;
    r->kind = kind;
    r->size = size;
}

static int on_flushed(void *ctx)
{
    ((rec_t *)ctx)->flushed++;
    return 0;
}

static void on_freed(void *ctx)
{
    ((rec_t *)ctx)->freed++;
}

static const otpc__ep_ops_t ops = {
    .frame = on_frame, .ended = on_ended, .flushed = on_flushed, .freed = on_freed};

typedef struct {
    uv_loop_t loop;
    otpc__eps_t set;
    int sv[2]; /* sv[0]: the endpoint's; sv[1]: the test plays the peer */
    rec_t rec;
} fix_t;

static fix_t *fix_new(int read_into, size_t max_frame, size_t busy_limit)
{
    fix_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->set.loop = &f->loop;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, f->sv), 0);
    fcntl(f->sv[0], F_SETFL, O_NONBLOCK);
    otpc__ep_conf_t c = {.max_frame = max_frame, .read_into = read_into, .busy_limit = busy_limit};
    f->rec.ep = otpc__ep_new(&f->set, &ops, &f->rec, &c);
    assert_non_null(f->rec.ep);
    assert_int_equal(otpc__ep_attach(f->rec.ep, otpc__xport_tcp(f->sv[0]), 1), 0);
    assert_true(otpc__ep_established(f->rec.ep));
    return f;
}

static void spin(fix_t *f)
{
    for (int i = 0; i < 8; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
}

static void fix_free(fix_t *f)
{
    if (!f->rec.freed)
        otpc__ep_free(f->rec.ep); /* closes sv[0] */
    spin(f);
    assert_int_equal(f->rec.freed, 1);
    close(f->sv[1]);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
}

static void put(int fd, const void *data, size_t len)
{
    assert_int_equal(write(fd, data, len), (ssize_t)len);
}

static const char STREAM[] = "\0\0\0\3abc"
                             "\0\0\0\0"
                             "\0\0\0\5hello"
                             "\0\0\0\2xy";

/* Three frames and a tick in one write, then a frame cut inside its header and its
 * body: all of them, whole and in order, in both read modes. */
static void frames_in_pieces(void **state)
{
    (void)state;
    for (int into = 0; into < 2; into++) {
        fix_t *f = fix_new(into, 1024, 0);
        put(f->sv[1], STREAM, sizeof STREAM - 1);
        spin(f);
        put(f->sv[1], "\0\0", 2);
        spin(f);
        put(f->sv[1], "\0\4ab", 4);
        spin(f);
        put(f->sv[1], "cd", 2);
        spin(f);
        assert_int_equal(f->rec.nframes, 5);
        assert_int_equal(f->rec.lens[0], 3);
        assert_memory_equal(f->rec.frames[0], "abc", 3);
        assert_int_equal(f->rec.lens[1], 0);
        assert_memory_equal(f->rec.frames[2], "hello", 5);
        assert_memory_equal(f->rec.frames[3], "xy", 2);
        assert_int_equal(f->rec.lens[4], 4);
        assert_memory_equal(f->rec.frames[4], "abcd", 4);
        assert_int_equal(otpc__ep_pending_input(f->rec.ep), 0);
        assert_int_equal(f->rec.ended, 0);
        fix_free(f);
    }
}

/* Output waits for the flush, then goes out in one piece. */
static void output_at_flush(void **state)
{
    (void)state;
    fix_t *f = fix_new(0, 1024, 0);
    otpc__buf_t *o = otpc__ep_out(f->rec.ep);
    assert_int_equal(otpc__buf_append(o, "\0\0\0\1a", 5), 0);
    otpc__ep_dirty(f->rec.ep);
    assert_int_equal(otpc__buf_append(o, "\0\0\0\1b", 5), 0);
    otpc__ep_dirty(f->rec.ep);
    char got[16];
    assert_int_equal(recv(f->sv[1], got, sizeof got, MSG_DONTWAIT), -1);
    otpc__eps_flush(&f->set);
    assert_null(f->set.dirty);
    assert_int_equal(f->rec.flushed, 1);
    assert_int_equal(recv(f->sv[1], got, sizeof got, MSG_DONTWAIT), 10);
    assert_memory_equal(got, "\0\0\0\1a\0\0\0\1b", 10);
    assert_int_equal(otpc__ep_backlog(f->rec.ep), 0);
    fix_free(f);
}

/* A peer that does not read holds the endpoint's reading back once the output it did
 * not take reaches the busy limit; reading resumes once it has taken it. */
static void busy_limit_holds_reading(void **state)
{
    (void)state;
    fix_t *f = fix_new(0, 1024, 4096);
    size_t big = 4u << 20; /* more than the socket buffers take */
    otpc__buf_t *o = otpc__ep_out(f->rec.ep);
    assert_int_equal(otpc__buf_reserve(o, big), 0);
    memset(o->data, 'z', big);
    o->len = big;
    otpc__ep_dirty(f->rec.ep);
    otpc__eps_flush(&f->set);
    assert_true(otpc__ep_backlog(f->rec.ep) >= 4096);
    put(f->sv[1], "\0\0\0\3abc", 7);
    spin(f);
    assert_int_equal(f->rec.nframes, 0); /* held back */
    char *sink = malloc(64 * 1024);
    assert_non_null(sink);
    size_t taken = 0;
    while (taken < big) {
        ssize_t r = recv(f->sv[1], sink, 64 * 1024, MSG_DONTWAIT);
        if (r > 0)
            taken += (size_t)r;
        else
            spin(f); /* writability: the rest goes out */
    }
    free(sink);
    spin(f);
    assert_int_equal(otpc__ep_backlog(f->rec.ep), 0);
    assert_int_equal(f->rec.nframes, 1);
    assert_true(f->rec.flushed >= 1);
    fix_free(f);
}

/* The peer's end: ended once, EOF. A header above max_frame: ended once, TOOBIG with
 * the size announced, before its body arrives. */
static void eof_and_too_big(void **state)
{
    (void)state;
    fix_t *f = fix_new(1, 1024, 0);
    put(f->sv[1], "\0\0\0\1a", 5);
    shutdown(f->sv[1], SHUT_WR);
    spin(f);
    assert_int_equal(f->rec.nframes, 1);
    assert_int_equal(f->rec.ended, 1);
    assert_int_equal(f->rec.kind, OTPC__EP_EOF);
    fix_free(f);

    f = fix_new(0, 1024, 0);
    put(f->sv[1], "\0\1\0\0", 4);
    spin(f);
    assert_int_equal(f->rec.ended, 1);
    assert_int_equal(f->rec.kind, OTPC__EP_TOOBIG);
    assert_int_equal(f->rec.size, 65536);
    put(f->sv[1], "\0\0\0\1a", 5); /* nothing more is read */
    spin(f);
    assert_int_equal(f->rec.nframes, 0);
    assert_int_equal(f->rec.ended, 1);
    fix_free(f);
}

/* Freed from inside its frame callback (both read modes): the rest of the read is
 * dropped, the memory goes with the handle's close, freed is called once. */
static void freed_from_its_callback(void **state)
{
    (void)state;
    for (int into = 0; into < 2; into++) {
        fix_t *f = fix_new(into, 1024, 0);
        f->rec.free_on_frame = 1;
        put(f->sv[1], STREAM, sizeof STREAM - 1);
        spin(f);
        assert_int_equal(f->rec.nframes, 1);
        assert_int_equal(f->rec.freed, 1);
        fix_free(f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(frames_in_pieces),         cmocka_unit_test(output_at_flush),
        cmocka_unit_test(busy_limit_holds_reading), cmocka_unit_test(eof_and_too_big),
        cmocka_unit_test(freed_from_its_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
