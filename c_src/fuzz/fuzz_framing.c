/*
 * libFuzzer target over a live distribution connection's input: 4-byte-length packets
 * read straight into the framer's space (transport/framer.c: otpc__framer_space and
 * otpc__framer_commit), the way distribution/peer_read.c reads a socket, and each whole
 * non-empty packet decoded by otpc__ctrl_decode (proto/ctrl.c) and walked by
 * proto/term.c.
 *
 * With headers agreed (fragments, the atom cache, or both), each packet first goes
 * through what distribution/peer_read.c does with its distribution header (proto/frag.h): a
 * whole message without references rewritten into the pass-through form in place, one
 * with references written out by the table, a fragment added to the reassembly table,
 * whose completed messages are decoded in turn. The table is checked against a
 * reference kept here (which sequences are in progress, the bytes each one received, in
 * order): a fragment of an unknown sequence or out of order is refused, a completed
 * message is exactly 'p', 131, the first fragment's control term, 131 and every later
 * byte; no sequence holds more than max_message plus the form's three bytes (and the
 * headroom its references are written out into), and at most OTPC__FRAG_SEQS are in
 * progress. Atom cache references are checked against a
 * cache of the target's own (2048 entries set by the headers in the order the packets
 * came, each header's atoms resolved as it is read): a message the table accepts names
 * only entries that were set, and comes out as its terms with each reference replaced
 * by the atom it named when its header (a fragmented message's first fragment's) was
 * read. A refused packet ends the stream.
 *
 * Input: one byte for max_message (bit 0: fragments agreed, bit 1: the atom cache), a
 * cut plan (fuzz.h), then the stream. Each piece is
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

#include "proto/atomcache.h"
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

/* ---- the atom cache's reference ----------------------------------------------------------- */

/* An entry: set during this input (gen), its atom encoded as in a term. */
typedef struct {
    uint32_t gen;
    size_t len;
    char ext[3 + OTPC__AC_MAX_TEXT];
} rentry_t;

static rentry_t g_cache[OTPC__AC_SIZE];
static uint32_t g_gen;

/* The atoms of one header's references, their encodings one after another. */
typedef struct {
    unsigned n;
    size_t off[OTPC__AC_REFS + 1];
    otpc__buf_t b;
} ratoms_t;

static unsigned half(const unsigned char *flags, unsigned i)
{
    return (flags[i / 2] >> ((i & 1) * 4)) & 15;
}

/* An atom's text as ERTS takes it: UTF-8 of at most 255 characters. */
static int atom_text(const unsigned char *t, size_t len)
{
    unsigned chars = 0;
    for (size_t i = 0; i < len; chars++) {
        size_t k = t[i] < 0x80                    ? 1
                   : t[i] >= 0xc2 && t[i] <= 0xdf ? 2
                   : t[i] >= 0xe0 && t[i] <= 0xef ? 3
                   : t[i] >= 0xf0 && t[i] <= 0xf4 ? 4
                                                  : 0;
        if (!k || k > len - i)
            return 0;
        for (size_t j = 1; j < k; j++)
            if ((t[i + j] & 0xc0) != 0x80)
                return 0;
        if ((t[i] == 0xe0 && t[i + 1] < 0xa0) || (t[i] == 0xed && t[i + 1] >= 0xa0) ||
            (t[i] == 0xf0 && t[i + 1] < 0x90) || (t[i] == 0xf4 && t[i + 1] >= 0x90))
            return 0;
        i += k;
    }
    return chars <= 255;
}

/* A header's references section (its structure accepted by otpc__dhdr_parse) applied
 * to the reference cache, its atoms into a: 0, or -1 when one names an entry never set
 * or a text no atom has (the table must then refuse the packet). */
static int cache_read(const char *p, unsigned n, ratoms_t *a)
{
    const unsigned char *u = (const unsigned char *)p;
    int long_atoms = half(u, n) & 1;
    size_t at = n / 2 + 1;
    a->n = 0;
    a->b.len = 0;
    for (unsigned i = 0; i < n; i++) {
        unsigned f = half(u, i), ix = (f & 7) << 8 | u[at++];
        rentry_t *e = &g_cache[ix];
        if (f & 8) {
            size_t len = long_atoms ? (size_t)(u[at] << 8 | u[at + 1]) : u[at];
            at += long_atoms ? 2 : 1;
            if (!atom_text(u + at, len))
                return -1;
            e->gen = g_gen;
            e->len = len + (len > 255 ? 3 : 2);
            e->ext[0] = (char)(len > 255 ? ERL_ATOM_UTF8_EXT : ERL_SMALL_ATOM_UTF8_EXT);
            if (len > 255)
                otpc__put_u16(e->ext + 1, (uint16_t)len);
            else
                e->ext[1] = (char)len;
            memcpy(e->ext + e->len - len, u + at, len);
            at += len;
        } else if (e->gen != g_gen) {
            return -1;
        }
        a->off[a->n++] = a->b.len;
        CHECK(otpc__buf_append(&a->b, e->ext, e->len) == 0);
    }
    a->off[a->n] = a->b.len;
    return 0;
}

static int ref_atom(void *ctx, const char *at, size_t len, const char **rep, size_t *rlen)
{
    const ratoms_t *a = ctx;
    *rep = at;
    *rlen = len;
    if ((unsigned char)at[0] == OTPC__ATOM_CACHE_REF) {
        unsigned i = (unsigned char)at[1];
        CHECK(i < a->n);
        *rep = a->b.data + a->off[i];
        *rlen = a->off[i + 1] - a->off[i];
    }
    return 0;
}

/* What the table must hand out for terms[0..len) (the control term, then the payload
 * when `payload`) with a's references: 'p' 131 Ctl' [131 Payload'] into out. */
static void expected(const ratoms_t *a, const char *terms, size_t len, int payload,
                     otpc__buf_t *out)
{
    size_t ctl, pay;
    out->len = 0;
    CHECK(otpc__buf_append(out, "p\x83", 2) == 0);
    CHECK(otpc__term_copy(terms, len, a->n, ref_atom, (void *)a, out, SIZE_MAX, &ctl) == 0);
    if (!payload)
        return;
    CHECK(otpc__buf_append(out, "\x83", 1) == 0);
    CHECK(otpc__term_copy(terms + ctl, len - ctl, a->n, ref_atom, (void *)a, out, SIZE_MAX, &pay) ==
              0 &&
          pay == len - ctl);
}

static otpc__buf_t g_want;

/* ---- headers agreed: the reference of the reassembly table ---------------------------- */

typedef struct {
    uint64_t seq, next;
    int payload;       /* a payload follows the control term: the first fragment had
                        * bytes after it, or more fragments were announced */
    otpc__buf_t bytes; /* every body byte of its fragments, in order */
    ratoms_t *atoms;   /* its first fragment's references, if any */
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

static void rseq_free(rseq_t *r)
{
    otpc__buf_free(&r->bytes);
    if (r->atoms) {
        otpc__buf_free(&r->atoms->b);
        free(r->atoms);
        r->atoms = NULL;
    }
}

static void ref_reset(void)
{
    for (unsigned i = 0; i < g_nref; i++)
        rseq_free(&g_ref[i]);
    g_nref = 0;
}

/* A completed message against the reference's bytes of its sequence. */
static void check_whole(const rseq_t *r, const char *m, size_t mlen)
{
    size_t ctl;
    if (r->atoms) {
        expected(r->atoms, r->bytes.data, r->bytes.len, r->payload, &g_want);
        CHECK(mlen == g_want.len && memcmp(m, g_want.data, mlen) == 0);
        return;
    }
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

/* The references of a header the table is about to read, applied to the reference
 * cache: NULL without any; *ok 0 when the table must refuse them. */
static ratoms_t *header_atoms(const otpc__dhdr_t *h, const char *d, int *ok)
{
    *ok = 1;
    if (!h->nrefs)
        return NULL;
    ratoms_t *a = calloc(1, sizeof *a);
    CHECK(a != NULL);
    *ok = cache_read(d + h->refs, h->nrefs, a) == 0;
    return a;
}

static void atoms_free(ratoms_t *a)
{
    if (a) {
        otpc__buf_free(&a->b);
        free(a);
    }
}

/* A fragment through the table and the reference alike: 0 to go on, -1 refused. */
static int fragment(const otpc__dhdr_t *h, const char *d, size_t n)
{
    const char *m = NULL, *why = NULL;
    size_t mlen = 0;
    rseq_t *r = ref_find(h->seq);
    int ok;
    ratoms_t *atoms = header_atoms(h, d, &ok);
    int rc = otpc__frag_add(&g_tab, h, d, n, &m, &mlen, &why);
    if (h->kind == OTPC__DHDR_CONT && (!r || r->next != h->frag))
        CHECK(rc == OTPC_EPROTO); /* unknown, or out of order */
    if (h->kind == OTPC__DHDR_FIRST && (r || g_nref == OTPC__FRAG_SEQS))
        CHECK(rc == OTPC_EPROTO); /* in progress already, or too many */
    if (rc < 0) {
        CHECK(rc == OTPC_EPROTO && why && why[0]);
        atoms_free(atoms);
        return -1;
    }
    CHECK(ok); /* the table took references the reference cache has */
    if (h->kind == OTPC__DHDR_FIRST) {
        r = &g_ref[g_nref++];
        memset(r, 0, sizeof *r);
        r->seq = h->seq;
        r->next = h->frag;
        r->atoms = atoms;
        size_t ctl;
        CHECK(otpc__term_skip_refs(d + h->body, n - h->body, h->nrefs, &ctl) == 0);
        r->payload = n - h->body > ctl || h->frag > 1;
    }
    CHECK(otpc__buf_append(&r->bytes, d + h->body, n - h->body) == 0);
    CHECK(r->bytes.len <= g_tab.max);
    r->next--;
    CHECK(g_tab.n == g_nref - (rc == 1));
    for (unsigned i = 0; i < g_tab.n; i++)
        CHECK(g_tab.seqs[i].buf.cap <= OTPC__FRAG_HEADROOM + g_tab.max + 3);
    CHECK(g_tab.done.cap <= OTPC__FRAG_HEADROOM + g_tab.max + 3);
    if (rc == 1) {
        CHECK(r->next == 0);
        check_whole(r, m, mlen);
        check_packet(guard_put(&g_packet, m, mlen), mlen);
        rseq_free(r);
        *r = g_ref[--g_nref];
    }
    return 0;
}

/* A whole message with references through the table and the reference cache. */
static int whole_refs(const otpc__dhdr_t *h, const char *d, size_t n)
{
    const char *m = NULL, *why = NULL;
    size_t mlen = 0;
    int ok;
    ratoms_t *atoms = header_atoms(h, d, &ok);
    int rc = otpc__frag_whole(&g_tab, h, d, n, &m, &mlen, &why);
    if (rc < 0) {
        CHECK(rc == OTPC_EPROTO && why && why[0]);
        atoms_free(atoms);
        return -1;
    }
    CHECK(rc == 1 && ok);
    size_t ctl;
    CHECK(otpc__term_skip_refs(d + h->body, n - h->body, h->nrefs, &ctl) == 0);
    expected(atoms, d + h->body, n - h->body, n - h->body > ctl, &g_want);
    CHECK(mlen == g_want.len && memcmp(m, g_want.data, mlen) == 0);
    CHECK(g_tab.done.cap <= OTPC__FRAG_HEADROOM + g_tab.max + 3);
    atoms_free(atoms);
    check_packet(guard_put(&g_pass, m, mlen), mlen);
    return 0;
}

/* What peer_read.c does with a packet when headers are agreed: 0, or -1 refused. */
static int with_header(const char *d, size_t n, unsigned agreed)
{
    otpc__dhdr_t h;
    const char *why = NULL;
    size_t plen;
    char *pkt = (char *)guard_put(&g_packet, d, n); /* peer_read.c writes the framer's buffer */
    if (otpc__dhdr_parse(pkt, n, agreed, &h, &why) != 0) {
        CHECK(why && why[0]);
        return -1;
    }
    CHECK(h.kind == OTPC__DHDR_NORMAL || (agreed & OTPC__DH_FRAGMENTS));
    CHECK(!h.nrefs || (agreed & OTPC__DH_CACHE));
    if (h.kind != OTPC__DHDR_NORMAL)
        return fragment(&h, pkt, n);
    if (h.nrefs)
        return whole_refs(&h, pkt, n);
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
    unsigned agreed; /* OTPC__DH_*: any of them, and packets have a distribution header */
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
    if (n && r->agreed) /* a tick carries nothing */
        return with_header(d, n, r->agreed) ? 1 : 0;
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
        CHECK(r->agreed); /* a packet refused: the connection closes */
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
    r.agreed = (data[0] & 1 ? OTPC__DH_FRAGMENTS : 0) | (data[0] & 2 ? OTPC__DH_CACHE : 0);
    g_gen++; /* a fresh connection: the reference cache is empty */
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
        /* room first, as peer_read.c asks before every read; a read takes at most room */
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
