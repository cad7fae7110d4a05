/*
 * libFuzzer target over a daemon connection's input after TLS: the {packet, 4}
 * framer (transport/framer.c) fed a stream in pieces, and the classification of each
 * whole frame (daemon/frame.c), as a session does with what it reads.
 *
 * Input: one byte for the frame limit, one byte for the frame at which the callback
 * stops the feed (0: never), a cut plan (fuzz.h), then the stream. The stream is fed
 * piece by piece, each piece a guarded copy; every frame handed out is checked against
 * a reference walk of the whole stream (same frames, same bytes, in order, none
 * early, none late), and so are the pending bytes after every piece and the
 * OTPC_ETOOBIG of a header above the limit (with the announced length, as soon as
 * the header is whole, before any body arrives). Each frame is then classified from
 * its own guarded copy, and the result checked against the walker and
 * otpc_term_is_tagged: a call's Tag and Req, a cast's Req, are exactly one term each.
 *
 *   make -C c_src fuzz
 *   c_src/build-fuzz/fuzz_reasm -max_total_time=60 SCRATCH_DIR c_src/fuzz/corpus/reasm
 */
#include "fuzz/fuzz.h"

#include "daemon/frame.h"
#include "transport/framer.h"
#include "proto/term.h"
#include "otpc.h"

#define HDR 4
#define STOP_RC 7 /* what the callback returns to stop the feed */

static guard_t g_piece, g_frame;

/* The reference: the stream as a whole, and how far the frames handed out reach. */
typedef struct {
    const char *s;
    size_t len;
    size_t fed; /* bytes of s given to the reassembler so far */
    size_t pos; /* where the next frame's header starts */
    size_t max;
    size_t frames;  /* handed out so far */
    size_t stop_at; /* stop at this frame (1-based); 0: never */
} ref_t;

/* The announced length of the frame at r->pos, or -1 if its header is not all fed. */
static int64_t ref_header(const ref_t *r)
{
    if (r->fed - r->pos < HDR)
        return -1;
    return otpc__get_u32(r->s + r->pos);
}

static void check_classify(const char *d, size_t n)
{
    otpc__dframe_t f;
    otpc__dframe_kind_t kind = otpc__daemon_classify(d, n, &f);
    size_t used;
    int whole = n > 0 && otpc__term_skip_versioned(d, n, &used) == 0 && used == n;
    otpc_term_t t = {d, n};
    int at;
    CHECK(kind == f.kind);
    switch (kind) {
    case OTPC__DFRAME_KEEPALIVE:
        CHECK(n == 0);
        break;
    case OTPC__DFRAME_BAD:
        CHECK(n > 0 && f.why != NULL);
        if (strcmp(f.why, "not_a_term") == 0) {
            CHECK(!whole);
        } else {
            CHECK(strcmp(f.why, "unknown_message") == 0 && whole);
            CHECK(!otpc_term_is_tagged(t, "call", 3, &at));
            CHECK(!otpc_term_is_tagged(t, "cast", 2, &at));
        }
        break;
    case OTPC__DFRAME_CALL:
        CHECK(whole && otpc_term_is_tagged(t, "call", 3, &at) && (size_t)at == f.tag_off);
        CHECK(f.tag_len <= n - f.tag_off && f.req_off == f.tag_off + f.tag_len);
        CHECK(otpc__term_skip(d + f.tag_off, f.tag_len, &used) == 0 && used == f.tag_len);
        CHECK(f.req_off < n);
        CHECK(otpc__term_skip(d + f.req_off, n - f.req_off, &used) == 0 && used == n - f.req_off);
        break;
    case OTPC__DFRAME_CAST:
        CHECK(whole && otpc_term_is_tagged(t, "cast", 2, &at) && (size_t)at == f.req_off);
        CHECK(f.req_off < n);
        CHECK(otpc__term_skip(d + f.req_off, n - f.req_off, &used) == 0 && used == n - f.req_off);
        break;
    default:
        CHECK(!"unknown kind");
    }
}

/* A frame handed out: it must be the reference's next one, whole in what was fed. */
static int on_frame(void *ctx, const char *data, size_t len)
{
    ref_t *r = ctx;
    int64_t flen = ref_header(r);
    CHECK(flen >= 0 && (uint64_t)flen <= r->max && (size_t)flen == len);
    CHECK(r->fed - r->pos - HDR >= len);
    CHECK(len == 0 || memcmp(data, r->s + r->pos + HDR, len) == 0);
    r->pos += HDR + len;
    r->frames++;
    check_classify(guard_put(&g_frame, data, len), len);
    return r->frames == r->stop_at ? STOP_RC : 0;
}

/* After a feed that returned 0: every whole frame was handed out, the rest is pending. */
static void check_settled(const ref_t *r, const otpc__framer_t *a)
{
    int64_t flen = ref_header(r);
    CHECK(flen < 0 || ((uint64_t)flen <= r->max && r->fed - r->pos - HDR < (uint64_t)flen));
    CHECK(otpc__framer_pending(a) == r->fed - r->pos);
    CHECK(otpc__framer_pending(a) <= HDR + r->max);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_piece.base) {
        guard_init(&g_piece);
        guard_init(&g_frame);
    }
    if (size < 2 || size > g_piece.cap)
        return 0;
    ref_t r = {0};
    /* Mostly small limits (over-limit headers are common then); a few up to 128 KiB, past
     * the size above which the reassembler gives a partial frame's buffer back. */
    r.max = data[0] < 240 ? data[0] : (size_t)(data[0] - 239) << 13;
    r.stop_at = data[1];
    cuts_t cuts;
    size_t skip = 2 + cuts_read(&cuts, data + 2, size - 2);
    r.s = (const char *)data + skip;
    r.len = size - skip;

    otpc__framer_t a = {.max = r.max};
    int rc = 0;
    while (r.fed < r.len) {
        size_t n = cuts_next(&cuts, r.len - r.fed);
        const char *piece = guard_put(&g_piece, r.s + r.fed, n);
        r.fed += n;
        uint64_t big = UINT64_MAX;
        rc = otpc__framer_feed(&a, piece, n, on_frame, &r, &big);
        if (rc == STOP_RC) {
            CHECK(r.frames == r.stop_at);
            break;
        }
        CHECK(r.stop_at == 0 || r.frames < r.stop_at);
        if (rc == OTPC_ETOOBIG) {
            /* refused as soon as the header was whole, with the announced length */
            int64_t flen = ref_header(&r);
            CHECK(flen >= 0 && (uint64_t)flen > r.max && big == (uint64_t)flen);
            CHECK(r.fed - r.pos - HDR < (uint64_t)n);
            break;
        }
        CHECK(rc == 0 && big == UINT64_MAX);
        check_settled(&r, &a);
    }
    otpc__framer_free(&a);
    return 0;
}
