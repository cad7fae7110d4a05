/*
 * libFuzzer target over a live distribution connection's input: 4-byte-length packets
 * read straight into the framer's space (transport/framer.c: otpc__framer_space and
 * otpc__framer_commit), the way distribution/peer.c reads a socket, and each whole
 * non-empty packet decoded by otpc__ctrl_decode (proto/ctrl.c) and walked by
 * proto/term.c.
 *
 * Input: one byte for max_message, a cut plan (fuzz.h), then the stream. Each piece is
 * written into the space and committed; the packets are checked against a reference
 * walk of the whole stream (same boundaries, same bytes, in order, as soon as they are
 * whole), ticks (length 0) are handed out empty, and a length above max_message is an
 * error as soon as its header is whole: the framer never holds more than a header and
 * max_message bytes. Each packet is decoded from
 * its own guarded copy: a refusal has a reason; a decoded message is the pass-through
 * byte, one control term that the walker accepts and, after it, exactly the message
 * or the payload reason, or nothing.
 *
 *   make -C c_src fuzz
 *   c_src/build-fuzz/fuzz_framing -max_total_time=60 SCRATCH_DIR c_src/fuzz/corpus/framing
 */
#include "fuzz/fuzz.h"

#include "proto/ctrl.h"
#include "proto/term.h"
#include "otpc.h"
#include "transport/framer.h"
#include "util/buf.h"

#define HDR 4

static guard_t g_piece, g_packet;

static int inside(const char *p, size_t n, const char *lo, size_t len)
{
    return p >= lo && p <= lo + len && n <= (size_t)(lo + len - p);
}

static void check_packet(const char *d, size_t n)
{
    otpc__ctrl_t c;
    const char *why = NULL;
    size_t used, ctl;
    if (otpc__ctrl_decode(d, n, &c, &why) != 0) {
        CHECK(why != NULL && why[0] != 0);
        return;
    }
    CHECK(n >= 2 && d[0] == 'p');
    CHECK(otpc__term_skip_versioned(d + 1, n - 1, &ctl) == 0);
    const char *rest = d + 1 + ctl;
    size_t left = n - 1 - ctl;
    CHECK(!(c.msg.data && c.reason.data));
    if (c.msg.data) {
        CHECK(c.msg.data == rest && c.msg.size == left);
        CHECK(otpc__term_skip_versioned(c.msg.data, c.msg.size, &used) == 0);
        CHECK(used == c.msg.size);
    } else if (c.reason.data) {
        /* in the control tuple (EXIT, EXIT2, MONITOR_P_EXIT) or the payload after it */
        CHECK(inside(c.reason.data, c.reason.size, d, n));
        CHECK(otpc__term_skip(c.reason.data, c.reason.size, &used) == 0);
        CHECK(used == c.reason.size);
        CHECK(left == 0 || (c.reason.data == rest + 1 && c.reason.size == left - 1));
    } else {
        CHECK(left == 0);
    }
}

typedef struct {
    const char *s; /* the whole stream */
    size_t len;
    size_t fed; /* appended to the buffer so far */
    size_t pos; /* stream offset of the next packet's header */
    size_t max;
} ref_t;

/* The announced length of the packet at r->pos, or -1 while its header is not all in. */
static int64_t ref_header(const ref_t *r)
{
    return r->fed - r->pos < HDR ? -1 : (int64_t)otpc__get_u32(r->s + r->pos);
}

typedef struct {
    ref_t *r;
    const otpc__framer_t *fr;
} walk_t;

/* The framer's callback: the packet must be the reference's next one. */
static int on_packet(void *ctx, const char *d, size_t n)
{
    walk_t *w = ctx;
    ref_t *r = w->r;
    int64_t flen = ref_header(r);
    CHECK(flen >= 0 && (uint64_t)flen <= r->max && n == (size_t)flen);
    CHECK(r->fed - r->pos >= HDR + n);
    CHECK(inside(d, n, w->fr->buf.data, w->fr->buf.len));
    CHECK(n == 0 || memcmp(d, r->s + r->pos + HDR, n) == 0);
    if (n) /* a tick carries nothing */
        check_packet(guard_put(&g_packet, d, n), n);
    r->pos += HDR + n;
    return 0;
}

/* One piece in: 0, or -1 when the stream must be closed. */
static int packets(ref_t *r, otpc__framer_t *fr, size_t piece)
{
    walk_t w = {r, fr};
    uint64_t big = 0;
    int rc = otpc__framer_commit(fr, piece, on_packet, &w, &big);
    int64_t flen = ref_header(r);
    if (rc) {
        /* refused as soon as the header was whole, before its body was buffered */
        CHECK(rc == OTPC_ETOOBIG && flen >= 0 && (uint64_t)flen > r->max && big == (uint64_t)flen);
        CHECK(r->fed - r->pos - HDR < piece);
        return -1;
    }
    CHECK(flen < 0 || r->fed - r->pos - HDR < (uint64_t)flen);
    CHECK(otpc__framer_pending(fr) == r->fed - r->pos && otpc__framer_pending(fr) <= HDR + r->max);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_piece.base) {
        guard_init(&g_piece);
        guard_init(&g_packet);
    }
    if (size < 1 || size > g_piece.cap)
        return 0;
    ref_t r = {0};
    r.max = data[0] < 240 ? (size_t)data[0] * 4 : (size_t)(data[0] - 239) << 14;
    cuts_t cuts;
    size_t skip = 1 + cuts_read(&cuts, data + 1, size - 1);
    r.s = (const char *)data + skip;
    r.len = size - skip;

    otpc__framer_t fr = {.max = r.max};
    while (r.fed < r.len) {
        size_t n = cuts_next(&cuts, r.len - r.fed);
        char *at;
        size_t room;
        /* room first, as peer.c asks before every read; a read takes at most room */
        CHECK(otpc__framer_space(&fr, n ? n : 1, &at, &room) == 0 && room >= n);
        memcpy(at, r.s + r.fed, n);
        r.fed += n;
        if (packets(&r, &fr, n) < 0)
            break;
    }
    otpc__framer_free(&fr);
    return 0;
}
