/*
 * libFuzzer target over a live distribution connection's input: 4-byte-length packets
 * cut from a growing buffer with otpc__frame_next (dist/framing.c), the way
 * proc/peer.c's packets() loop reads a socket, and each whole non-empty packet
 * decoded by otpc__ctrl_decode (dist/ctrl.c) and walked by dist/term.c.
 *
 * Input: one byte for max_message, a cut plan (fuzz.h), then the stream. Each piece is
 * appended to the buffer, the loop takes every whole packet and consumes them; the
 * packets are checked against a reference walk of the whole stream (same boundaries,
 * same bytes, in order, as soon as they are whole), ticks (length 0) are skipped, and a
 * length above max_message is an error as soon as its header is whole: the buffer
 * never holds more than a header and max_message bytes. Each packet is decoded from
 * its own guarded copy: a refusal has a reason; a decoded message is the pass-through
 * byte, one control term that the walker accepts and, after it, exactly the message
 * or the payload reason, or nothing.
 *
 *   make -C c_src fuzz
 *   c_src/build-fuzz/fuzz_framing -max_total_time=60 SCRATCH_DIR c_src/fuzz/corpus/framing
 */
#include "fuzz/fuzz.h"

#include "proto/ctrl.h"
#include "proto/framing.h"
#include "proto/term.h"
#include "otpc.h"
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

/* packets(): every whole packet in buf; 0, or -1 when the stream must be closed. */
static int packets(ref_t *r, otpc__buf_t *buf, size_t piece)
{
    size_t pos = 0;
    otpc__frame_t f;
    int rc;
    while ((rc = otpc__frame_next(buf->data + pos, buf->len - pos, HDR, r->max, &f)) > 0) {
        int64_t flen = ref_header(r);
        CHECK(flen >= 0 && (uint64_t)flen <= r->max);
        CHECK(f.off == HDR && f.len == (size_t)flen && f.next == HDR + f.len);
        CHECK(f.next <= buf->len - pos && r->fed - r->pos >= f.next);
        CHECK(f.len == 0 || memcmp(buf->data + pos + f.off, r->s + r->pos + HDR, f.len) == 0);
        if (f.len) /* a tick carries nothing */
            check_packet(guard_put(&g_packet, buf->data + pos + f.off, f.len), f.len);
        pos += f.next;
        r->pos += f.next;
    }
    int64_t flen = ref_header(r);
    if (rc < 0) {
        /* refused as soon as the header was whole, before its body was buffered */
        CHECK(rc == OTPC_ETOOBIG && flen >= 0 && (uint64_t)flen > r->max);
        CHECK(r->fed - r->pos - HDR < piece);
        return -1;
    }
    CHECK(rc == 0);
    CHECK(flen < 0 || r->fed - r->pos - HDR < (uint64_t)flen);
    otpc__buf_consume(buf, pos);
    CHECK(buf->len == r->fed - r->pos && buf->len <= HDR + r->max);
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

    otpc__buf_t buf = {0};
    while (r.fed < r.len) {
        size_t n = cuts_next(&cuts, r.len - r.fed);
        /* room first, as peer.c reserves before every read */
        CHECK(otpc__buf_reserve(&buf, n + 1) == 0);
        CHECK(otpc__buf_append(&buf, guard_put(&g_piece, r.s + r.fed, n), n) == 0);
        r.fed += n;
        if (packets(&r, &buf, n) < 0)
            break;
    }
    otpc__buf_free(&buf);
    return 0;
}
