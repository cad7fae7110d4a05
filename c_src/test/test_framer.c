/*
 * Unit tests of transport/framer.h, the framer of {packet, 4} streams (4-byte
 * big-endian length, then the payload) on daemon and distribution connections, fed
 * (daemon) or read into (distribution: space/commit). Sockets hand out bytes in
 * arbitrary pieces, so every test checks that the frames coming out are exactly the
 * frames that went in, whatever the cut: whole, byte by byte, at every split point
 * (inside the header too), coalesced, empty; that an oversized length is refused before
 * any allocation or callback; that a callback can stop the feed; and that a large
 * frame's buffer is given back. Pieces are fed from exact-size heap copies so that ASan
 * catches any read past the bytes the caller said were there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "transport/framer.h"
#include "otpc.h"

#define MAXF 64

/* Every frame handed out: its length and its bytes (all payloads back to back). */
typedef struct {
    size_t n;
    size_t lens[MAXF];
    otpc__buf_t bytes;
    size_t stop_at; /* return stop_rc from the stop_at-th frame (1-based); 0: never */
    int stop_rc;
} coll_t;

static int collect(void *ctx, const char *data, size_t len)
{
    coll_t *c = ctx;
    assert_true(c->n < MAXF);
    assert_true(len == 0 || data != NULL);
    c->lens[c->n++] = len;
    assert_int_equal(otpc__buf_append(&c->bytes, data, len), 0);
    return c->n == c->stop_at ? c->stop_rc : 0;
}

/* Feed data[0..len) from an exact-size heap copy. */
static int feed(otpc__framer_t *r, const char *data, size_t len, coll_t *c, uint64_t *big)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, data, len);
    int rc = otpc__framer_feed(r, copy, len, collect, c, big);
    free(copy);
    return rc;
}

/* Append one frame (header + payload) to a stream. */
static void put_frame(otpc__buf_t *s, const char *payload, uint32_t len)
{
    char hdr[4];
    otpc__put_u32(hdr, len);
    assert_int_equal(otpc__buf_append(s, hdr, 4), 0);
    assert_int_equal(otpc__buf_append(s, payload, len), 0);
}

/* A sample stream: "hello", an empty frame, a 300-byte frame, "z". */
#define SAMPLE_N 4
static const size_t sample_lens[SAMPLE_N] = {5, 0, 300, 1};

static void sample_payload(size_t i, char *out)
{
    for (size_t k = 0; k < sample_lens[i]; k++)
        out[k] = (char)('a' + (i * 7 + k) % 26);
}

static void sample_stream(otpc__buf_t *s, otpc__buf_t *payloads)
{
    char p[300];
    for (size_t i = 0; i < SAMPLE_N; i++) {
        sample_payload(i, p);
        put_frame(s, p, (uint32_t)sample_lens[i]);
        assert_int_equal(otpc__buf_append(payloads, p, sample_lens[i]), 0);
    }
}

/* The collector holds exactly the sample frames. */
static void assert_sample(const coll_t *c, const otpc__buf_t *payloads)
{
    assert_int_equal(c->n, SAMPLE_N);
    for (size_t i = 0; i < SAMPLE_N; i++)
        assert_int_equal(c->lens[i], sample_lens[i]);
    assert_int_equal(c->bytes.len, payloads->len);
    assert_memory_equal(c->bytes.data, payloads->data, payloads->len);
}

static void coll_free(coll_t *c)
{
    otpc__buf_free(&c->bytes);
}

/* One frame in one piece: handed out in place, nothing held, nothing allocated. */
static void one_frame_whole(void **state)
{
    (void)state;
    otpc__framer_t r = {.max = 1024};
    coll_t c = {0};
    uint64_t big = 0;
    const char d[] = {0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'};
    assert_int_equal(feed(&r, d, sizeof d, &c, &big), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.lens[0], 5);
    assert_memory_equal(c.bytes.data, "hello", 5);
    assert_int_equal(otpc__framer_pending(&r), 0);
    assert_int_equal(r.buf.cap, 0);
    assert_int_equal(big, 0);
    otpc__framer_free(&r);
    coll_free(&c);
}

/* The sample stream one byte at a time: pending() counts the bytes of the frame in
 * progress, and every frame comes out exactly once, in order. */
static void byte_by_byte(void **state)
{
    (void)state;
    otpc__buf_t s = {0}, want = {0};
    sample_stream(&s, &want);
    otpc__framer_t r = {.max = 1024};
    coll_t c = {0};
    uint64_t big = 0;
    size_t frame_start = 0, frame = 0;
    for (size_t i = 0; i < s.len; i++) {
        assert_int_equal(feed(&r, s.data + i, 1, &c, &big), 0);
        size_t fend = frame_start + 4 + sample_lens[frame];
        if (i + 1 == fend) {
            assert_int_equal(c.n, frame + 1);
            assert_int_equal(otpc__framer_pending(&r), 0);
            frame_start = fend;
            frame++;
        } else {
            assert_int_equal(c.n, frame);
            assert_int_equal(otpc__framer_pending(&r), i + 1 - frame_start);
        }
    }
    assert_sample(&c, &want);
    otpc__framer_free(&r);
    coll_free(&c);
    otpc__buf_free(&s);
    otpc__buf_free(&want);
}

/* The sample stream cut in two at every point, then in three at every pair of points
 * (cuts inside headers, inside bodies, on frame boundaries, empty pieces). */
static void every_split_point(void **state)
{
    (void)state;
    otpc__buf_t s = {0}, want = {0};
    sample_stream(&s, &want);
    for (size_t i = 0; i <= s.len; i++) {
        for (size_t j = i; j <= s.len; j++) {
            otpc__framer_t r = {.max = 1024};
            coll_t c = {0};
            uint64_t big = 0;
            assert_int_equal(feed(&r, s.data, i, &c, &big), 0);
            assert_int_equal(feed(&r, s.data + i, j - i, &c, &big), 0);
            assert_int_equal(feed(&r, s.data + j, s.len - j, &c, &big), 0);
            assert_sample(&c, &want);
            assert_int_equal(otpc__framer_pending(&r), 0);
            otpc__framer_free(&r);
            coll_free(&c);
        }
    }
    otpc__buf_free(&s);
    otpc__buf_free(&want);
}

/* Several frames coalesced in one piece: all handed out, in order. */
static void coalesced(void **state)
{
    (void)state;
    otpc__buf_t s = {0}, want = {0};
    sample_stream(&s, &want);
    otpc__framer_t r = {.max = 1024};
    coll_t c = {0};
    uint64_t big = 0;
    assert_int_equal(feed(&r, s.data, s.len, &c, &big), 0);
    assert_sample(&c, &want);
    assert_int_equal(otpc__framer_pending(&r), 0);
    assert_int_equal(r.buf.cap, 0);
    otpc__framer_free(&r);
    coll_free(&c);
    otpc__buf_free(&s);
    otpc__buf_free(&want);
}

/* Coalesced frames whose last one is cut (in its header, then in its body): the whole
 * ones come out at once, the last one is held and completes with the next piece. */
static void coalesced_last_partial(void **state)
{
    (void)state;
    otpc__buf_t s = {0}, want = {0};
    sample_stream(&s, &want);
    size_t last = s.len - 5; /* where the last frame ("z", 5 bytes) starts */
    for (size_t cut = last + 1; cut < s.len; cut++) {
        otpc__framer_t r = {.max = 1024};
        coll_t c = {0};
        uint64_t big = 0;
        assert_int_equal(feed(&r, s.data, cut, &c, &big), 0);
        assert_int_equal(c.n, SAMPLE_N - 1);
        assert_int_equal(otpc__framer_pending(&r), cut - last);
        assert_int_equal(feed(&r, s.data + cut, s.len - cut, &c, &big), 0);
        assert_sample(&c, &want);
        assert_int_equal(otpc__framer_pending(&r), 0);
        otpc__framer_free(&r);
        coll_free(&c);
    }
    /* The 300-byte frame cut in its body, with the following ones in the next piece. */
    size_t third = 4 + 5 + 4; /* start of the 300-byte frame */
    otpc__framer_t r = {.max = 1024};
    coll_t c = {0};
    uint64_t big = 0;
    assert_int_equal(feed(&r, s.data, third + 100, &c, &big), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(otpc__framer_pending(&r), 100);
    assert_int_equal(feed(&r, s.data + third + 100, s.len - third - 100, &c, &big), 0);
    assert_sample(&c, &want);
    otpc__framer_free(&r);
    coll_free(&c);
    otpc__buf_free(&s);
    otpc__buf_free(&want);
}

/* Empty frames are frames: delivered with len 0, alone, in a run, and split. */
static void empty_frames(void **state)
{
    (void)state;
    const char d[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    otpc__framer_t r = {.max = 16};
    coll_t c = {0};
    uint64_t big = 0;
    assert_int_equal(feed(&r, d, 4, &c, &big), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.lens[0], 0);
    assert_int_equal(feed(&r, d, sizeof d, &c, &big), 0);
    assert_int_equal(c.n, 4);
    assert_int_equal(feed(&r, d, 3, &c, &big), 0);
    assert_int_equal(c.n, 4);
    assert_int_equal(otpc__framer_pending(&r), 3);
    assert_int_equal(feed(&r, d, 1, &c, &big), 0);
    assert_int_equal(c.n, 5);
    assert_int_equal(otpc__framer_pending(&r), 0);
    for (size_t i = 0; i < c.n; i++)
        assert_int_equal(c.lens[i], 0);
    assert_int_equal(c.bytes.len, 0);
    otpc__framer_free(&r);
    coll_free(&c);
}

/* An announced length over max, header in one piece: OTPC_ETOOBIG with the length,
 * no callback, nothing allocated; frames before it in the piece are still handed out. */
static void too_big_whole_header(void **state)
{
    (void)state;
    const char d[] = {0, 0, 0, 17};
    otpc__framer_t r = {.max = 16};
    coll_t c = {0};
    uint64_t big = 0;
    assert_int_equal(feed(&r, d, sizeof d, &c, &big), OTPC_ETOOBIG);
    assert_int_equal(big, 17);
    assert_int_equal(c.n, 0);
    assert_int_equal(r.buf.cap, 0);
    otpc__framer_free(&r);

    /* The largest length: reported unsigned, not sign-extended. */
    const char huge[] = {0, 0, 0, 1, 'x', (char)0xff, (char)0xff, (char)0xff, (char)0xff};
    otpc__framer_t r2 = {.max = 16};
    big = 0;
    assert_int_equal(feed(&r2, huge, sizeof huge, &c, &big), OTPC_ETOOBIG);
    assert_int_equal(big, UINT32_MAX);
    assert_int_equal(c.n, 1); /* the frame before it */
    assert_int_equal(r2.buf.cap, 0);
    otpc__framer_free(&r2);
    coll_free(&c);
}

/* An announced length over max, header split: refused as soon as the 4th byte is in,
 * whether the header started in pending bytes after a whole frame or alone. */
static void too_big_split_header(void **state)
{
    (void)state;
    const char d[] = {0, 0, 1, 0}; /* 256 */
    for (size_t cut = 1; cut < 4; cut++) {
        otpc__framer_t r = {.max = 255};
        coll_t c = {0};
        uint64_t big = 0;
        assert_int_equal(feed(&r, d, cut, &c, &big), 0);
        assert_int_equal(otpc__framer_pending(&r), cut);
        assert_int_equal(feed(&r, d + cut, 4 - cut, &c, &big), OTPC_ETOOBIG);
        assert_int_equal(big, 256);
        assert_int_equal(c.n, 0);
        otpc__framer_free(&r);
        coll_free(&c);
    }
    /* Byte by byte. */
    otpc__framer_t r = {.max = 255};
    coll_t c = {0};
    uint64_t big = 0;
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(feed(&r, d + i, 1, &c, &big), 0);
    assert_int_equal(feed(&r, d + 3, 1, &c, &big), OTPC_ETOOBIG);
    assert_int_equal(big, 256);
    otpc__framer_free(&r);
    /* After a whole frame in the same piece. */
    const char p1[] = {0, 0, 0, 1, 'k', 0, 0};
    otpc__framer_t r2 = {.max = 255};
    big = 0;
    assert_int_equal(feed(&r2, p1, sizeof p1, &c, &big), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(feed(&r2, d + 2, 2, &c, &big), OTPC_ETOOBIG);
    assert_int_equal(big, 256);
    assert_int_equal(c.n, 1);
    otpc__framer_free(&r2);
    coll_free(&c);
}

/* A length exactly max is accepted, whole and split. */
static void exactly_max(void **state)
{
    (void)state;
    otpc__buf_t s = {0};
    char p[16];
    memset(p, 'm', sizeof p);
    put_frame(&s, p, sizeof p);
    for (size_t cut = 0; cut <= s.len; cut++) {
        otpc__framer_t r = {.max = 16};
        coll_t c = {0};
        uint64_t big = 0;
        assert_int_equal(feed(&r, s.data, cut, &c, &big), 0);
        assert_int_equal(feed(&r, s.data + cut, s.len - cut, &c, &big), 0);
        assert_int_equal(c.n, 1);
        assert_int_equal(c.lens[0], 16);
        assert_memory_equal(c.bytes.data, p, 16);
        otpc__framer_free(&r);
        coll_free(&c);
    }
    otpc__buf_free(&s);
}

/* A callback's nonzero return stops the feed and is its result: frames after it in
 * the piece are not handed out. Checked for a frame handed out in place and for one
 * completed from pending bytes, with an OTPC_E* code. */
static void callback_stops(void **state)
{
    (void)state;
    otpc__buf_t s = {0}, want = {0};
    sample_stream(&s, &want);
    /* In place: stop at the 2nd of 4 coalesced frames. */
    for (int rc = -100; rc <= 100; rc += 200) {
        otpc__framer_t r = {.max = 1024};
        coll_t c = {.stop_at = 2, .stop_rc = rc};
        uint64_t big = 0;
        assert_int_equal(feed(&r, s.data, s.len, &c, &big), rc);
        assert_int_equal(c.n, 2);
        otpc__framer_free(&r);
        coll_free(&c);
    }
    /* From pending: the first frame is cut, the stop comes when it completes. */
    otpc__framer_t r = {.max = 1024};
    coll_t c = {.stop_at = 1, .stop_rc = OTPC_EPROTO};
    uint64_t big = 0;
    assert_int_equal(feed(&r, s.data, 6, &c, &big), 0);
    assert_int_equal(c.n, 0);
    assert_int_equal(feed(&r, s.data + 6, s.len - 6, &c, &big), OTPC_EPROTO);
    assert_int_equal(c.n, 1);
    otpc__framer_free(&r);
    coll_free(&c);
    otpc__buf_free(&s);
    otpc__buf_free(&want);
}

/* The same as the last part of callback_stops with a positive return, which framer.h
 * allows ("a nonzero return stops feeding and is returned"): a positive code from a
 * frame completed from pending bytes must not be taken for "frame done, go on". */
static void callback_stops_positive_from_pending(void **state)
{
    (void)state;
    otpc__buf_t s = {0}, want = {0};
    sample_stream(&s, &want);
    otpc__framer_t r = {.max = 1024};
    coll_t c = {.stop_at = 1, .stop_rc = 1};
    uint64_t big = 0;
    assert_int_equal(feed(&r, s.data, 6, &c, &big), 0);
    assert_int_equal(feed(&r, s.data + 6, s.len - 6, &c, &big), 1);
    assert_int_equal(c.n, 1);
    otpc__framer_free(&r);
    coll_free(&c);
    otpc__buf_free(&s);
    otpc__buf_free(&want);
}

/* A 1 MiB + 3 frame followed by a small one, fed in 4 KiB chunks: pending() grows by
 * the chunk until the frame completes, the frame comes out intact, pending() is back
 * to 0 and the large buffer is given back (cap 0, it grew past 64 KiB). */
static void large_frame_in_chunks(void **state)
{
    (void)state;
    const size_t big_len = (1u << 20) + 3, chunk = 4096;
    char *p = malloc(big_len);
    assert_non_null(p);
    for (size_t i = 0; i < big_len; i++)
        p[i] = (char)(i * 2654435761u >> 13);
    otpc__buf_t s = {0};
    put_frame(&s, p, (uint32_t)big_len);
    put_frame(&s, "tail", 4);
    const size_t first = 4 + big_len;

    otpc__framer_t r = {.max = 2u << 20};
    coll_t c = {0};
    uint64_t big = 0;
    for (size_t off = 0; off < s.len; off += chunk) {
        size_t n = s.len - off < chunk ? s.len - off : chunk;
        assert_int_equal(feed(&r, s.data + off, n, &c, &big), 0);
        if (off + n < first) {
            assert_int_equal(c.n, 0);
            assert_int_equal(otpc__framer_pending(&r), off + n);
        }
    }
    assert_int_equal(c.n, 2);
    assert_int_equal(c.lens[0], big_len);
    assert_memory_equal(c.bytes.data, p, big_len);
    assert_int_equal(c.lens[1], 4);
    assert_memory_equal(c.bytes.data + big_len, "tail", 4);
    assert_int_equal(otpc__framer_pending(&r), 0);
    assert_int_equal(r.buf.cap, 0);
    assert_null(r.buf.data);

    /* The reassembler is still usable afterwards. */
    const char d[] = {0, 0, 0, 2, 'o', 'k'};
    assert_int_equal(feed(&r, d, 3, &c, &big), 0);
    assert_int_equal(feed(&r, d + 3, 3, &c, &big), 0);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.lens[2], 2);
    otpc__framer_free(&r);
    coll_free(&c);
    otpc__buf_free(&s);
    free(p);
}

/* A small partial frame's buffer is kept for reuse once done (under 64 KiB), and
 * otpc__framer_free gives it back, as it does a partial frame still held. */
static void small_pending_kept_then_freed(void **state)
{
    (void)state;
    const char d[] = {0, 0, 0, 3, 'a', 'b', 'c'};
    otpc__framer_t r = {.max = 16};
    coll_t c = {0};
    uint64_t big = 0;
    assert_int_equal(feed(&r, d, 5, &c, &big), 0);
    assert_int_equal(feed(&r, d + 5, 2, &c, &big), 0);
    assert_int_equal(c.n, 1);
    assert_memory_equal(c.bytes.data, "abc", 3);
    assert_int_equal(otpc__framer_pending(&r), 0);
    assert_true(r.buf.cap > 0 && r.buf.cap <= 64 * 1024);
    assert_int_equal(feed(&r, d, 2, &c, &big), 0); /* held at free time */
    otpc__framer_free(&r);
    assert_int_equal(r.buf.cap, 0);
    assert_int_equal(otpc__framer_pending(&r), 0);
    coll_free(&c);
}

/* A header announcing 16 MiB costs nothing by itself: the buffer grows with the bytes
 * that come (at most about twice them), both when the header arrives alone and when it
 * comes with the first bytes. */
static void header_alone_reserves_nothing(void **state)
{
    (void)state;
    const uint32_t announced = 16u << 20;
    char d[4 + 100];
    otpc__put_u32(d, announced);
    memset(d + 4, 'x', 100);
    for (int split = 0; split < 2; split++) {
        otpc__framer_t r = {.max = announced};
        coll_t c = {0};
        uint64_t big = 0;
        if (split) {
            assert_int_equal(feed(&r, d, 2, &c, &big), 0);
            assert_int_equal(feed(&r, d + 2, 2, &c, &big), 0);
            assert_true(r.buf.cap < 4096);
            assert_int_equal(feed(&r, d + 4, 100, &c, &big), 0);
        } else {
            assert_int_equal(feed(&r, d, sizeof d, &c, &big), 0);
        }
        assert_int_equal(c.n, 0);
        assert_int_equal(otpc__framer_pending(&r), sizeof d);
        assert_true(r.buf.cap < 4096);
        otpc__framer_free(&r);
        coll_free(&c);
    }
}

/* ---- reading straight into the framer (space / commit) --------------------------- */

/* Write data[0..len) into the framer's space, `chunk` at a time (as reads would), and
 * commit each; returns the first nonzero commit. */
static int read_in(otpc__framer_t *r, const char *data, size_t len, size_t chunk, coll_t *c,
                   uint64_t *big)
{
    for (size_t off = 0; off < len;) {
        char *at;
        size_t room;
        assert_int_equal(otpc__framer_space(r, chunk, &at, &room), 0);
        assert_true(room >= chunk);
        size_t n = len - off < chunk ? len - off : chunk;
        memcpy(at, data + off, n);
        off += n;
        int rc = otpc__framer_commit(r, n, collect, c, big);
        if (rc)
            return rc;
    }
    return 0;
}

/* The sample stream (ticks, small and large frames) at every read size: the same frames
 * come out, nothing is left, and the buffer never holds a whole frame after a commit. */
static void space_every_chunk(void **state)
{
    (void)state;
    otpc__buf_t s = {0}, payloads = {0};
    sample_stream(&s, &payloads);
    for (size_t chunk = 1; chunk <= s.len; chunk = chunk < 16 ? chunk + 1 : chunk * 3) {
        otpc__framer_t r = {.max = 1024};
        coll_t c = {0};
        uint64_t big = 0;
        assert_int_equal(read_in(&r, s.data, s.len, chunk, &c, &big), 0);
        assert_sample(&c, &payloads);
        assert_int_equal(otpc__framer_pending(&r), 0);
        otpc__framer_free(&r);
        coll_free(&c);
    }
    otpc__buf_free(&s);
    otpc__buf_free(&payloads);
}

/* A 1 MiB frame read 4 KiB at a time comes out whole; while it arrives the buffer grows
 * with the bytes (never to the announced size at once), and it is given back after. */
static void space_large_frame_grows_with_bytes(void **state)
{
    (void)state;
    const size_t big_len = 1u << 20;
    char *p = malloc(big_len);
    assert_non_null(p);
    memset(p, 'z', big_len);
    otpc__buf_t s = {0};
    put_frame(&s, p, (uint32_t)big_len);
    otpc__framer_t r = {.max = 2u << 20};
    coll_t c = {0};
    uint64_t big = 0;
    assert_int_equal(read_in(&r, s.data, 64 * 1024, 4096, &c, &big), 0);
    assert_true(r.buf.cap <= 2 * 64 * 1024 + 8192); /* not 1 MiB yet */
    assert_int_equal(read_in(&r, s.data + 64 * 1024, s.len - 64 * 1024, 4096, &c, &big), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.lens[0], big_len);
    assert_memory_equal(c.bytes.data, p, big_len);
    assert_int_equal(r.buf.cap, 0);
    otpc__framer_free(&r);
    coll_free(&c);
    otpc__buf_free(&s);
    free(p);
}

/* An announced length above max is refused when its header is whole, with the size. */
static void space_too_big(void **state)
{
    (void)state;
    const char d[] = {0, 0, 0, 2, 'o', 'k', 0, 0, 4, 1};
    otpc__framer_t r = {.max = 1024};
    coll_t c = {0};
    uint64_t big = 0;
    assert_int_equal(read_in(&r, d, sizeof d, 3, &c, &big), OTPC_ETOOBIG);
    assert_int_equal(big, 1025);
    assert_int_equal(c.n, 1);
    otpc__framer_free(&r);
    coll_free(&c);
}

/* A callback's stop ends the commit: frames after it stay, the stopping one is used. */
static void space_callback_stops(void **state)
{
    (void)state;
    const char d[] = {0, 0, 0, 1, 'a', 0, 0, 0, 1, 'b', 0, 0, 0, 1, 'c'};
    otpc__framer_t r = {.max = 16};
    coll_t c = {.stop_at = 2, .stop_rc = 7};
    uint64_t big = 0;
    assert_int_equal(read_in(&r, d, sizeof d, sizeof d, &c, &big), 7);
    assert_int_equal(c.n, 2);
    assert_int_equal(otpc__framer_pending(&r), 5); /* 'c' is still there */
    otpc__framer_free(&r);
    coll_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_frame_whole),
        cmocka_unit_test(byte_by_byte),
        cmocka_unit_test(every_split_point),
        cmocka_unit_test(coalesced),
        cmocka_unit_test(coalesced_last_partial),
        cmocka_unit_test(empty_frames),
        cmocka_unit_test(too_big_whole_header),
        cmocka_unit_test(too_big_split_header),
        cmocka_unit_test(exactly_max),
        cmocka_unit_test(callback_stops),
        cmocka_unit_test(callback_stops_positive_from_pending),
        cmocka_unit_test(large_frame_in_chunks),
        cmocka_unit_test(small_pending_kept_then_freed),
        cmocka_unit_test(header_alone_reserves_nothing),
        cmocka_unit_test(space_every_chunk),
        cmocka_unit_test(space_large_frame_grows_with_bytes),
        cmocka_unit_test(space_too_big),
        cmocka_unit_test(space_callback_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
