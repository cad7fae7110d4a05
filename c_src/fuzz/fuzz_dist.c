/*
 * libFuzzer target over everything otpc parses from a peer before trusting it: the
 * control-message decoder (the input as one packet), the distribution header of a
 * connection with headers agreed (the input as one packet: proto/frag.h), with its atom
 * cache references (proto/atomcache.h), the term walker (the input as one versioned
 * term) and both roles of the handshake (the input cut into 2-byte-length frames, fed
 * until the handshake fails or finishes).
 *
 * Every input and every handshake message is a guarded copy (fuzz.h). Beyond "no
 * crash", the target traps when a documented invariant breaks: a refusal without a
 * reason, a decoded span outside the packet or not exactly one term, a handshake that
 * failed without its error text, a walked term that ei reads beyond, a whole message
 * whose header form and pass-through form do not convert into each other exactly, a
 * message with references written out with a tag 82 left or past its bound, a message
 * that does not come back byte for byte through the cache out, the header it writes
 * and a fresh table (twice: new entries, then references to them).
 *
 *   make -C c_src fuzz
 *   c_src/build-fuzz/fuzz_dist -max_total_time=60 SCRATCH_DIR c_src/fuzz/corpus/dist
 */
#include "fuzz/fuzz.h"

#include <ei.h>

#include "proto/atomcache.h"
#include "proto/ctrl.h"
#include "proto/flags.h"
#include "proto/frag.h"
#include "proto/framing.h"
#include "proto/handshake.h"
#include "proto/term.h"

static guard_t g_input, g_msg, g_hdr;

/* ---- control messages ---------------------------------------------------------------- */

static int inside(const char *p, size_t n, const char *lo, size_t len)
{
    return p >= lo && p <= lo + len && n <= (size_t)(lo + len - p);
}

static void fuzz_ctrl(const char *d, size_t n)
{
    otpc__ctrl_t c;
    const char *why = NULL;
    size_t used;
    if (n == 0) /* the decoder's contract: len > 0 */
        return;
    if (otpc__ctrl_decode(d, n, &c, &why) != 0) {
        CHECK(why != NULL && why[0] != 0);
        return;
    }
    /* A decoded message is exactly one versioned term inside the packet, a reason
     * exactly one unversioned term; at most one of them is set. */
    CHECK(!(c.msg.data && c.reason.data));
    if (c.msg.data) {
        CHECK(inside(c.msg.data, c.msg.size, d, n));
        CHECK(otpc__term_skip_versioned(c.msg.data, c.msg.size, &used) == 0);
        CHECK(used == c.msg.size);
    }
    if (c.reason.data) {
        CHECK(inside(c.reason.data, c.reason.size, d, n));
        CHECK(otpc__term_skip(c.reason.data, c.reason.size, &used) == 0);
        CHECK(used == c.reason.size);
    }
    /* Op 37 becomes a message (with its payload) or an exit signal (with its reason)
     * to exactly one kind of destination; no other op is an alias's but ALIAS_SEND. */
    CHECK(!(c.to_is_alias && c.to_is_name));
    CHECK(!c.prio || c.raw_op == OTPC__DOP_ALTACT_SIG_SEND);
    if (c.raw_op == OTPC__DOP_ALTACT_SIG_SEND) {
        CHECK(c.has_from);
        if (c.op == OTPC__DOP_EXIT2)
            CHECK(c.reason.data != NULL);
        else
            CHECK(c.msg.data != NULL && (c.op == OTPC__DOP_ALIAS_SEND) == c.to_is_alias &&
                  (c.op == OTPC__DOP_REG_SEND) == c.to_is_name &&
                  (c.op == OTPC__DOP_SEND || c.to_is_alias || c.to_is_name));
    } else {
        CHECK(c.to_is_alias == (c.op == OTPC__DOP_ALIAS_SEND));
    }
}

/* ---- distribution headers (headers agreed) -------------------------------------------- */

#define ALL (OTPC__DH_FRAGMENTS | OTPC__DH_CACHE)

static otpc__frag_tab_t g_tab, g_back;
static otpc__acout_t g_out;
static otpc__buf_t g_terms, g_pkt;

/* A message in pass-through form with no references ('p' 131 Ctl [131 Payload]), each
 * term one the walker takes: through a fresh cache out, the header it writes and a
 * fresh table, it comes back as the same bytes; the second time its atoms are
 * references to the entries the first time set. */
static void round_trip(const char *pass, size_t plen)
{
    size_t ctl, pay = 0;
    if (plen < 2 || pass[0] != 'p' || otpc__term_skip_versioned(pass + 1, plen - 1, &ctl))
        return;
    size_t rest = 1 + ctl;
    if (rest < plen &&
        ((unsigned char)pass[rest] != ERL_VERSION_MAGIC ||
         otpc__term_skip(pass + rest + 1, plen - rest - 1, &pay) || pay != plen - rest - 1))
        return;
    memset(&g_out, 0, sizeof g_out);
    otpc__frag_init(&g_back, plen);
    for (int round = 0; round < 2; round++) {
        size_t used;
        g_terms.len = 0;
        otpc__acout_begin(&g_out);
        CHECK(otpc__term_copy(pass + 2, ctl - 1, 0, otpc__acout_compress, &g_out, &g_terms,
                              SIZE_MAX, &used) == 0 &&
              used == ctl - 1);
        if (rest < plen)
            CHECK(otpc__term_copy(pass + rest + 1, pay, 0, otpc__acout_compress, &g_out, &g_terms,
                                  SIZE_MAX, &used) == 0 &&
                  used == pay);
        CHECK(g_terms.len <= plen);
        size_t hl = otpc__acout_hdr_len(&g_out);
        g_pkt.len = 0;
        CHECK(otpc__buf_reserve(&g_pkt, 2 + hl + g_terms.len) == 0);
        g_pkt.data[0] = (char)ERL_VERSION_MAGIC;
        g_pkt.data[1] = OTPC__DHDR_NORMAL;
        CHECK(otpc__acout_hdr_put(&g_out, g_pkt.data + 2) == hl);
        memcpy(g_pkt.data + 2 + hl, g_terms.data, g_terms.len);
        g_pkt.len = 2 + hl + g_terms.len;
        char *pkt = (char *)guard_put(&g_hdr, g_pkt.data, g_pkt.len);
        otpc__dhdr_t h;
        const char *why = NULL, *m;
        size_t mlen;
        CHECK(otpc__dhdr_parse(pkt, g_pkt.len, ALL, &h, &why) == 0);
        CHECK(h.kind == OTPC__DHDR_NORMAL && h.nrefs == g_out.n);
        if (h.nrefs) {
            CHECK(otpc__frag_whole(&g_back, &h, pkt, g_pkt.len, &m, &mlen, &why) == 1);
        } else {
            CHECK(otpc__dhdr_to_pass(pkt, g_pkt.len, &mlen, &why) == 0);
            m = pkt;
        }
        CHECK(mlen == plen && memcmp(m, pass, plen) == 0);
    }
    otpc__frag_free(&g_back);
}

/* A whole message with references written out by a fresh table: what comes out is
 * within the bound, has no reference left (the plain walker takes it) and goes round
 * the cache out and back unchanged. */
static void fuzz_refs(const otpc__dhdr_t *h, const char *d, size_t n)
{
    const char *why = NULL, *m;
    size_t mlen, ctl, used;
    otpc__frag_init(&g_tab, n);
    int rc = otpc__frag_whole(&g_tab, h, d, n, &m, &mlen, &why);
    if (rc != 1) {
        CHECK(rc < 0 && why != NULL && why[0] != 0);
    } else {
        CHECK(mlen <= n + 3 && g_tab.done.cap <= n + 3);
        CHECK(mlen >= 2 && m[0] == 'p');
        CHECK(otpc__term_skip_versioned(m + 1, mlen - 1, &ctl) == 0);
        if (1 + ctl < mlen)
            CHECK(otpc__term_skip_versioned(m + 1 + ctl, mlen - 1 - ctl, &used) == 0 &&
                  used == mlen - 1 - ctl);
        char *copy = (char *)guard_put(&g_msg, m, mlen);
        round_trip(copy, mlen);
        fuzz_ctrl(copy, mlen);
    }
    otpc__frag_free(&g_tab);
}

/* The input as a packet with a distribution header: parsed (a refusal has a reason, a
 * fragment's ids are never 0), and a whole message rewritten into the pass-through form
 * in place (a guarded copy: peer_read.c rewrites the framer's buffer), which must convert back
 * to the very bytes it came from and then decode as fuzz_ctrl checks, and go round the
 * cache; one with references written out (fuzz_refs). The other way, a pass-through
 * packet converted to the header form comes back the same. */
static void fuzz_header(const char *d, size_t n)
{
    static char conv[GUARD_CAP + 1];
    otpc__dhdr_t h;
    const char *why = NULL;
    size_t plen;
    if (n == 0)
        return;
    if (otpc__dhdr_parse(d, n, ALL, &h, &why) != 0) {
        CHECK(why != NULL && why[0] != 0);
    } else if (h.kind != OTPC__DHDR_NORMAL) {
        CHECK(h.frag > 0 && h.body <= n);
    } else if (h.nrefs) {
        CHECK(h.body <= n && otpc__dhdr_parse(d, n, OTPC__DH_FRAGMENTS, &h, &why) != 0);
        CHECK(otpc__dhdr_parse(d, n, ALL, &h, &why) == 0);
        fuzz_refs(&h, d, n);
    } else {
        char *pkt = (char *)guard_put(&g_hdr, d, n);
        if (otpc__dhdr_to_pass(pkt, n, &plen, &why) != 0) {
            CHECK(why != NULL && memcmp(pkt, d, n) == 0);
        } else {
            CHECK((plen == n || plen == n - 1) && pkt[0] == 'p');
            CHECK(otpc__dhdr_from_pass(pkt, plen, conv) == n && memcmp(conv, d, n) == 0);
            const char *copy = guard_put(&g_msg, pkt, plen);
            fuzz_ctrl(copy, plen);
            round_trip(copy, plen);
        }
    }
    size_t hl = otpc__dhdr_from_pass(d, n, conv);
    if (hl) {
        CHECK(hl == n || hl == n + 1);
        char *pkt = (char *)guard_put(&g_hdr, conv, hl);
        CHECK(otpc__dhdr_to_pass(pkt, hl, &plen, &why) == 0);
        CHECK(plen == n && memcmp(pkt, d, n) == 0);
    }
}

/* ---- the term walker ----------------------------------------------------------------- */

/* A term the walker accepts must be safe to hand to ei: ei may refuse it, but never
 * reads beyond it (the guard page catches reads past the input). */
static void fuzz_term(const char *d, size_t n)
{
    size_t used;
    if (otpc__term_skip_versioned(d, n, &used) != 0)
        return;
    CHECK(used >= 2 && used <= n);
    int i = 1;
    if (ei_skip_term(d, &i) == 0)
        CHECK(i >= 1 && (size_t)i <= used);
}

/* ---- the handshake ------------------------------------------------------------------- */

#define FUZZ_CHALLENGE 42u

static void fuzz_handshake(const char *d, size_t n, int initiator)
{
    otpc__hs_t hs;
    otpc__buf_t out = {0};
    otpc__frame_t f;
    size_t pos = 0;
    int rc = 0;
    otpc__hs_init(&hs, initiator, "fuzz@host", "cookie", OTPC__DF_OURS, 1, FUZZ_CHALLENGE);
    if (initiator)
        snprintf(hs.peer_name, sizeof hs.peer_name, "%s", "peer@host");
    CHECK(otpc__hs_start(&hs, &out) == 0);
    while (rc == 0 && otpc__frame_next(d + pos, n - pos, 2, 65535, &f) == 1) {
        /* each message alone against the guard page */
        rc = otpc__hs_feed(&hs, guard_put(&g_msg, d + pos + f.off, f.len), f.len, &out);
        pos += f.next;
    }
    if (rc < 0)
        CHECK(hs.state == OTPC__HS_FAILED && hs.error[0] != 0);
    if (rc == 1)
        CHECK(hs.state == OTPC__HS_DONE);
    /* whatever was queued for the peer is whole frames */
    for (size_t o = 0; o < out.len; o += f.next)
        CHECK(otpc__frame_next(out.data + o, out.len - o, 2, 65535, &f) == 1);
    otpc__buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_input.base) {
        guard_init(&g_input);
        guard_init(&g_msg);
        guard_init(&g_hdr);
    }
    if (size > g_input.cap)
        return 0;
    const char *d = guard_put(&g_input, data, size);
    fuzz_ctrl(d, size);
    fuzz_header(d, size);
    fuzz_term(d, size);
    fuzz_handshake(d, size, 0);
    fuzz_handshake(d, size, 1);
    return 0;
}
