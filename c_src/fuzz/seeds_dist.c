/*
 * The seeds of fuzz_framing (max_message and what is agreed, a cut plan, a stream): a
 * peer's distribution packets encoded with ei, in the pass-through form, with
 * distribution headers and fragments, and with atom cache references the cache out
 * chose. Part of the fuzz_seeds program (fuzz/seeds.c).
 */
#include <ei.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/seeds.h"
#include "otpc.h"
#include "proto/atomcache.h"
#include "proto/frag.h"
#include "proto/term.h"

/* ---- distribution packets (fuzz_framing: max, cut plan, stream) ------------------ */

static void pid(ei_x_buff *x, unsigned num)
{
    erlang_pid p = {.num = num, .serial = 0, .creation = 0x64f1a2b3u};
    strcpy(p.node, "a@host");
    ei_x_encode_pid(x, &p);
}

static void ref(ei_x_buff *x)
{
    erlang_ref r = {.len = 3, .n = {7, 8, 9}, .creation = 0x64f1a2b3u};
    strcpy(r.node, "a@host");
    ei_x_encode_ref(x, &r);
}

/* 'p', the control tuple (begun by the caller), then the message `then` if any. */
static void packet(otpc__buf_t *s, ei_x_buff *ctl, const ei_x_buff *then)
{
    if (then)
        ei_x_append_buf(ctl, then->buff, then->index);
    seed_frame(s, "p", ctl);
    ctl->index = 0;
    ei_x_encode_version(ctl);
}

void seed_dist_stream(otpc__buf_t *s)
{
    ei_x_buff c, m;
    seed_x_new(&c);
    seed_x_new(&m);
    ei_x_encode_tuple_header(&m, 2); /* the message: {hello, "world"} */
    ei_x_encode_atom(&m, "hello");
    ei_x_encode_string(&m, "world");

    ei_x_encode_tuple_header(&c, 3); /* SEND_SENDER */
    ei_x_encode_long(&c, 22);
    pid(&c, 40);
    pid(&c, 41);
    packet(s, &c, &m);
    seed_add(s, "\0\0\0\0", 4);      /* tick */
    ei_x_encode_tuple_header(&c, 4); /* REG_SEND to net_kernel */
    ei_x_encode_long(&c, 6);
    pid(&c, 40);
    ei_x_encode_atom(&c, "");
    ei_x_encode_atom(&c, "net_kernel");
    packet(s, &c, &m);
    ei_x_encode_tuple_header(&c, 4); /* MONITOR_P by name */
    ei_x_encode_long(&c, 19);
    pid(&c, 40);
    ei_x_encode_atom(&c, "net_kernel");
    ref(&c);
    packet(s, &c, NULL);
    ei_x_encode_tuple_header(&c, 3); /* ALIAS_SEND */
    ei_x_encode_long(&c, 33);
    pid(&c, 40);
    ref(&c);
    packet(s, &c, &m);
    ei_x_encode_tuple_header(&c, 4); /* ALTACT_SIG_SEND, priority, to an alias */
    ei_x_encode_long(&c, 37);
    ei_x_encode_long(&c, 4 | 1);
    pid(&c, 40);
    ref(&c);
    packet(s, &c, &m);
    ei_x_encode_tuple_header(&c, 4); /* ALTACT_SIG_SEND, an exit signal to a pid */
    ei_x_encode_long(&c, 37);
    ei_x_encode_long(&c, 16);
    pid(&c, 40);
    pid(&c, 41);
    packet(s, &c, &m);
    ei_x_encode_tuple_header(&c, 4); /* EXIT with its reason */
    ei_x_encode_long(&c, 3);
    pid(&c, 40);
    pid(&c, 41);
    ei_x_encode_atom(&c, "killed");
    packet(s, &c, NULL);
    ei_x_encode_tuple_header(&c, 3); /* PAYLOAD_EXIT, the reason after it */
    ei_x_encode_long(&c, 24);
    pid(&c, 40);
    pid(&c, 41);
    packet(s, &c, &m);
    ei_x_encode_tuple_header(&c, 4); /* UNLINK_ID */
    ei_x_encode_long(&c, 35);
    ei_x_encode_ulong(&c, 12345);
    pid(&c, 40);
    pid(&c, 41);
    packet(s, &c, NULL);
    seed_add(s, "\0\0\0\0", 4);
    ei_x_free(&c);
    ei_x_free(&m);
}

/* A frame of one fragment: its header, then n bytes of a message's body. */
static void fragment(otpc__buf_t *s, int first, uint64_t seq, uint64_t frag, const char *d,
                     size_t n)
{
    char hdr[OTPC__DHDR_FIRST_LEN], len[4];
    size_t h = first ? otpc__dhdr_put_first(hdr, seq, frag) : otpc__dhdr_put_cont(hdr, seq, frag);
    otpc__put_u32(len, (uint32_t)(h + n));
    seed_add(s, len, 4);
    seed_add(s, hdr, h);
    seed_add(s, d, n);
}

/* The stream of a connection with fragments agreed: dist_stream's packets with the
 * normal distribution header, then a message of three fragments (sequence 5)
 * interleaved with one of two (sequence 6) and with a whole message. */
static void frag_stream(const otpc__buf_t *pass, otpc__buf_t *s)
{
    char conv[4096], len[4];
    for (size_t r = 0; r + 4 <= pass->len;) {
        size_t flen = otpc__get_u32(pass->data + r);
        size_t n = flen ? otpc__dhdr_from_pass(pass->data + r + 4, flen, conv) : 0;
        otpc__put_u32(len, (uint32_t)n);
        seed_add(s, len, 4);
        seed_add(s, conv, n);
        r += 4 + flen;
    }
    ei_x_buff c;
    seed_x_new(&c);
    ei_x_encode_tuple_header(&c, 3); /* SEND_SENDER, then a 300-byte binary */
    ei_x_encode_long(&c, 22);
    pid(&c, 40);
    pid(&c, 41);
    char bin[300];
    memset(bin, 'x', sizeof bin);
    ei_x_encode_binary(&c, bin, sizeof bin);
    const char *b = c.buff + 1; /* the body: no version byte */
    size_t n = (size_t)c.index - 1;
    fragment(s, 1, 5, 3, b, 120);
    fragment(s, 1, 6, 2, b, 200);
    seed_add(s, "\0\0\0\0", 4); /* a tick between fragments */
    fragment(s, 0, 5, 2, b + 120, 100);
    seed_add(s, len, 4); /* the last whole message again */
    seed_add(s, conv, otpc__get_u32(len));
    fragment(s, 0, 6, 1, b + 200, n - 200);
    fragment(s, 0, 5, 1, b + 220, n - 220);
    ei_x_free(&c);
}

/* The terms of a pass-through packet ('p' 131 Ctl [131 Payload]) with the atoms the
 * cache out takes as references (its header chosen meanwhile), into t. */
static void cache_terms(otpc__acout_t *c, const char *pass, size_t plen, otpc__buf_t *t)
{
    size_t ctl, used;
    t->len = 0;
    otpc__acout_begin(c);
    if (otpc__term_skip_versioned(pass + 1, plen - 1, &ctl) ||
        otpc__term_copy(pass + 2, ctl - 1, 0, otpc__acout_compress, c, t, SIZE_MAX, &used) ||
        (1 + ctl < plen && otpc__term_copy(pass + 2 + ctl, plen - 2 - ctl, 0, otpc__acout_compress,
                                           c, t, SIZE_MAX, &used)))
        seed_die("a seed's packet the walker refuses");
}

/* A frame: 131 68 or a first fragment's header up to N (hdr[0..hl)), the cache out's
 * references, then t[0..n). */
static void cache_frame(otpc__buf_t *s, const char *hdr, size_t hl, const otpc__acout_t *c,
                        const char *t, size_t n)
{
    char refs[2 + OTPC__AC_REFS * (2 + OTPC__ACO_TEXT) + 130], len[4];
    size_t rl = otpc__acout_hdr_put(c, refs);
    otpc__put_u32(len, (uint32_t)(hl + rl + n));
    seed_add(s, len, 4);
    seed_add(s, hdr, hl);
    seed_add(s, refs, rl);
    seed_add(s, t, n);
}

/* The stream of a connection with the atom cache agreed: dist_stream's packets with
 * their atoms as cache references (new entries first, references to them after), then,
 * with fragments too, a message of three fragments whose first carries references,
 * interleaved with a whole message that refers to the same entries. */
static void cache_stream(const otpc__buf_t *pass, int fragments, otpc__buf_t *s)
{
    otpc__acout_t *c = calloc(1, sizeof *c);
    otpc__buf_t t = {0};
    const char normal[2] = {(char)ERL_VERSION_MAGIC, OTPC__DHDR_NORMAL};
    const char *last = NULL;
    size_t last_len = 0;
    if (!c)
        seed_die("out of memory");
    for (int round = 0; round < 2; round++) /* the second time: references only */
        for (size_t r = 0; r + 4 <= pass->len;) {
            size_t flen = otpc__get_u32(pass->data + r);
            if (flen == 0) {
                seed_add(s, "\0\0\0\0", 4);
            } else {
                last = pass->data + r + 4;
                last_len = flen;
                cache_terms(c, last, flen, &t);
                cache_frame(s, normal, 2, c, t.data, t.len);
            }
            r += 4 + flen;
        }
    if (fragments) {
        ei_x_buff x;
        seed_x_new(&x);
        ei_x_encode_tuple_header(&x, 3); /* SEND_SENDER, then [node_a, 300 bytes] */
        ei_x_encode_long(&x, 22);
        pid(&x, 40);
        pid(&x, 41);
        ei_x_encode_version(&x);
        ei_x_encode_list_header(&x, 2);
        ei_x_encode_atom(&x, "a_new_atom");
        char bin[300];
        memset(bin, 'y', sizeof bin);
        ei_x_encode_binary(&x, bin, sizeof bin);
        ei_x_encode_empty_list(&x);
        otpc__buf_t p = {0};
        seed_add(&p, "p", 1);
        seed_add(&p, x.buff, (size_t)x.index);
        cache_terms(c, p.data, p.len, &t);
        char hdr[OTPC__DHDR_FIRST_LEN];
        otpc__dhdr_put_first(hdr, 9, 3);
        cache_frame(s, hdr, OTPC__DHDR_FIRST_LEN - 1, c, t.data, 100);
        fragment(s, 0, 9, 2, t.data + 100, 150);
        cache_terms(c, last, last_len, &p); /* a whole message between */
        cache_frame(s, normal, 2, c, p.data, p.len);
        fragment(s, 0, 9, 1, t.data + 250, t.len - 250);
        otpc__buf_free(&p);
        ei_x_free(&x);
    }
    otpc__buf_free(&t);
    free(c);
}

void seed_framing(void)
{
    otpc__buf_t b = {0}, s = {0};
    seed_dist_stream(&s);
    SEED_ADD(&b, 100, 0); /* max_message 400, whole */
    seed_add(&b, s.data, s.len);
    seed_put("framing", "packets_whole", &b);
    b.len = 0;
    SEED_ADD(&b, 100, 3, 1, 0, 50); /* pieces of 1, 0, 50 */
    seed_add(&b, s.data, s.len);
    seed_put("framing", "packets_cut", &b);
    b.len = 0;
    SEED_ADD(&b, 10, 0, 0, 0, 0, 0, 0, 0x10, 0, 0); /* a tick, then 1 MiB over a 40-byte max */
    seed_put("framing", "too_big", &b);
    otpc__buf_t f = {0};
    frag_stream(&s, &f);
    b.len = 0;
    SEED_ADD(&b, 241, 0); /* odd: fragments agreed; max_message 32 KiB, whole */
    seed_add(&b, f.data, f.len);
    seed_put("framing", "fragments_whole", &b);
    b.len = 0;
    SEED_ADD(&b, 241, 3, 7, 0, 33);
    seed_add(&b, f.data, f.len);
    seed_put("framing", "fragments_cut", &b);
    b.len = 0;
    SEED_ADD(&b, 101, 0); /* max_message 404: the 300-byte message's sequences fit, barely */
    seed_add(&b, f.data, f.len);
    seed_put("framing", "fragments_small_max", &b);
    f.len = 0;
    cache_stream(&s, 1, &f);
    b.len = 0;
    SEED_ADD(&b, 243, 0); /* bits 0 and 1: fragments and the atom cache; 64 KiB, whole */
    seed_add(&b, f.data, f.len);
    seed_put("framing", "cache_whole", &b);
    b.len = 0;
    SEED_ADD(&b, 243, 3, 5, 0, 41);
    seed_add(&b, f.data, f.len);
    seed_put("framing", "cache_cut", &b);
    f.len = 0;
    cache_stream(&s, 0, &f);
    b.len = 0;
    SEED_ADD(&b, 102, 0); /* bit 1 alone: the atom cache without fragments; max_message 408 */
    seed_add(&b, f.data, f.len);
    seed_put("framing", "cache_only", &b);
    otpc__buf_free(&f);
    otpc__buf_free(&b);
    otpc__buf_free(&s);
}
