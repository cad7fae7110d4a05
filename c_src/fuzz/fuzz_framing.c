/*
 * libFuzzer target over a live distribution connection's input: 4-byte-length packets
 * read straight into the framer's space (transport/framer.c: otpc__framer_space and
 * otpc__framer_commit), the way distribution/peer.c reads a socket, and each whole
 * non-empty packet decoded by otpc__ctrl_decode (proto/ctrl.c) and walked by
 * proto/term.c.
 *
 * With fragments agreed (the first input byte odd), each packet first goes through
 * what distribution/peer.c does with its distribution header (proto/frag.h): a whole
 * message rewritten into the pass-through form in place, a fragment added to the
 * reassembly table, whose completed messages are decoded in turn. The table is checked
 * against a reference kept here (which sequences are in progress, the bytes each one
 * received, in order): a fragment of an unknown sequence or out of order is refused, a
 * completed message is exactly 'p', 131, the first fragment's control term, 131 and every
 * later byte; no sequence holds more than max_message plus the form's three bytes, and
 * at most OTPC__FRAG_SEQS are in progress. A refused packet ends the stream.
 *
 * Input: one byte for max_message (odd: fragments agreed), a cut plan (fuzz.h), then the
 * stream. Each piece is
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
#include "proto/frag.h"
#include "proto/term.h"
#include "otpc.h"
#include "transport/framer.h"
#include "util/buf.h"

#define HDR 4

static guard_t g_piece, g_packet, g_pass;

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

/* ---- fragments agreed: the reference of the reassembly table ---------------------------- */

typedef struct {
    uint64_t seq, next;
    int payload;       /* a payload follows the control term: the first fragment had
                        * bytes after it, or more fragments were announced */
    otpc__buf_t bytes; /* every body byte of its fragments, in order */
} rseq_t;

static rseq_t g_ref[OTPC__FRAG_SEQS];
static unsigned g_nref;
static otpc__frag_tab_t g_tab;

static rseq_t *ref_find(uint64_t seq)
{
    for (unsigned i = 0; i < g_nref; i++)
        if (g_ref[i].seq == seq)
            return &g_ref[i];
    return NULL;
}

static void ref_reset(void)
{
    for (unsigned i = 0; i < g_nref; i++)
        otpc__buf_free(&g_ref[i].bytes);
    g_nref = 0;
}

/* A completed message against the reference's bytes of its sequence. */
static void check_whole(const rseq_t *r, const char *m, size_t mlen)
{
    size_t ctl;
    CHECK(otpc__term_skip(r->bytes.data, r->bytes.len, &ctl) == 0);
    size_t rest = r->bytes.len - ctl;
    CHECK(r->payload || rest == 0);
    CHECK(mlen == 2 + ctl + (r->payload ? 1 + rest : 0));
    CHECK(m[0] == 'p' && (unsigned char)m[1] == ERL_VERSION_MAGIC);
    CHECK(memcmp(m + 2, r->bytes.data, ctl) == 0);
    if (r->payload)
        CHECK((unsigned char)m[2 + ctl] == ERL_VERSION_MAGIC &&
              memcmp(m + 3 + ctl, r->bytes.data + ctl, rest) == 0);
}

/* A fragment through the table and the reference alike: 0 to go on, -1 refused. */
static int fragment(const otpc__dhdr_t *h, const char *d, size_t n)
{
    const char *m = NULL, *why = NULL;
    size_t mlen = 0;
    rseq_t *r = ref_find(h->seq);
    int rc = otpc__frag_add(&g_tab, h, d, n, &m, &mlen, &why);
    if (h->kind == OTPC__DHDR_CONT && (!r || r->next != h->frag))
        CHECK(rc == OTPC_EPROTO); /* unknown, or out of order */
    if (h->kind == OTPC__DHDR_FIRST && (r || g_nref == OTPC__FRAG_SEQS))
        CHECK(rc == OTPC_EPROTO); /* in progress already, or too many */
    if (rc < 0) {
        CHECK(rc == OTPC_EPROTO && why && why[0]);
        return -1;
    }
    if (h->kind == OTPC__DHDR_FIRST) {
        r = &g_ref[g_nref++];
        memset(r, 0, sizeof *r);
        r->seq = h->seq;
        r->next = h->frag;
        size_t ctl;
        CHECK(otpc__term_skip(d + h->body, n - h->body, &ctl) == 0); /* the table took it */
        r->payload = n - h->body > ctl || h->frag > 1;
    }
    CHECK(otpc__buf_append(&r->bytes, d + h->body, n - h->body) == 0);
    CHECK(r->bytes.len <= g_tab.max);
    r->next--;
    CHECK(g_tab.n == g_nref - (rc == 1));
    for (unsigned i = 0; i < g_tab.n; i++)
        CHECK(g_tab.seqs[i].buf.cap <= g_tab.max + 3);
    if (rc == 1) {
        CHECK(r->next == 0);
        check_whole(r, m, mlen);
        check_packet(guard_put(&g_packet, m, mlen), mlen);
        otpc__buf_free(&r->bytes);
        *r = g_ref[--g_nref];
    }
    return 0;
}

/* What peer.c does with a packet when fragments are agreed: 0, or -1 refused. */
static int with_header(const char *d, size_t n)
{
    otpc__dhdr_t h;
    const char *why = NULL;
    size_t plen;
    char *pkt = (char *)guard_put(&g_packet, d, n); /* peer.c writes the framer's buffer */
    if (otpc__dhdr_parse(pkt, n, &h, &why) != 0) {
        CHECK(why && why[0]);
        return -1;
    }
    if (h.kind != OTPC__DHDR_NORMAL)
        return fragment(&h, pkt, n);
    if (otpc__dhdr_to_pass(pkt, n, &plen, &why) != 0)
        return -1;
    check_packet(guard_put(&g_pass, pkt, plen), plen);
    return 0;
}

typedef struct {
    const char *s; /* the whole stream */
    size_t len;
    size_t fed; /* appended to the buffer so far */
    size_t pos; /* stream offset of the next packet's header */
    size_t max;
    int fragments; /* fragments agreed: packets have a distribution header */
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
    r->pos += HDR + n;
    if (n && r->fragments) /* a tick carries nothing */
        return with_header(d, n) ? 1 : 0;
    if (n)
        check_packet(guard_put(&g_packet, d, n), n);
    return 0;
}

/* One piece in: 0, or -1 when the stream must be closed. */
static int packets(ref_t *r, otpc__framer_t *fr, size_t piece)
{
    walk_t w = {r, fr};
    uint64_t big = 0;
    int rc = otpc__framer_commit(fr, piece, on_packet, &w, &big);
    int64_t flen = ref_header(r);
    if (rc == 1) {
        CHECK(r->fragments); /* a packet refused: the connection closes */
        return -1;
    }
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
        guard_init(&g_pass);
    }
    if (size < 1 || size > g_piece.cap)
        return 0;
    ref_t r = {0};
    r.max = data[0] < 240 ? (size_t)data[0] * 4 : (size_t)(data[0] - 239) << 14;
    r.fragments = data[0] & 1;
    otpc__frag_init(&g_tab, r.max);
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
    otpc__frag_free(&g_tab); /* the connection goes: partial sequences with it */
    ref_reset();
    return 0;
}
