/*
 * Unit tests of proto/atomcache.h and the distribution headers that carry atom cache
 * references (proto/frag.h): headers built by hand (new entries and references to old
 * ones, every segment, LongAtoms) written out as the plain atoms the control decoder
 * reads, entries set again, a fragmented message that keeps the atoms of its first
 * fragment while later packets change the cache, written out where it lies (into the
 * headroom) or, for a fun, much growth or many references, as a copy, a fun's Size
 * following its atoms, the
 * bound on a message with its atoms written out, every malformed header or reference
 * refused with a reason; and the cache on the way out: which atoms it takes, the header
 * it writes, a message forgotten, and many messages over two caches (the node's out,
 * a peer's in) coming back byte for byte while entries are evicted.
 * Packets are exact-size heap copies so that ASan catches a read past their end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ei.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otpc.h"
#include "proto/atomcache.h"
#include "proto/ctrl.h"
#include "proto/frag.h"
#include "proto/term.h"

#define ALL (OTPC__DH_FRAGMENTS | OTPC__DH_CACHE)

static char *exact(const char *src, size_t n)
{
    char *p = malloc(n ? n : 1);
    assert_non_null(p);
    memcpy(p, src, n);
    return p;
}

/* ---- building terms and headers by hand ----------------------------------------------- */

typedef struct {
    char b[16384];
    size_t n;
} bld_t;

static void raw(bld_t *b, const void *p, size_t n)
{
    assert_true(b->n + n <= sizeof b->b);
    memcpy(b->b + b->n, p, n);
    b->n += n;
}

static void u8(bld_t *b, unsigned v)
{
    char c = (char)v;
    raw(b, &c, 1);
}

static void u32(bld_t *b, uint32_t v)
{
    char c[4];
    otpc__put_u32(c, v);
    raw(b, c, 4);
}

/* An atom: the reference `ref` (>= 0), or plain text. */
static void atom(bld_t *b, int ref, const char *text)
{
    size_t len = strlen(text);
    if (ref >= 0) {
        u8(b, OTPC__ATOM_CACHE_REF);
        u8(b, (unsigned)ref);
    } else if (len > 255) {
        u8(b, ERL_ATOM_UTF8_EXT);
        u8(b, (unsigned)(len >> 8));
        u8(b, (unsigned)len & 255);
        raw(b, text, len);
    } else {
        u8(b, ERL_SMALL_ATOM_UTF8_EXT);
        u8(b, (unsigned)len);
        raw(b, text, len);
    }
}

static void pid(bld_t *b, int ref, const char *node, uint32_t num)
{
    u8(b, ERL_NEW_PID_EXT);
    atom(b, ref, node);
    u32(b, num);
    u32(b, 0);
    u32(b, 1);
}

static void ref(bld_t *b, int r, const char *node, uint32_t id)
{
    u8(b, ERL_NEWER_REFERENCE_EXT);
    u8(b, 0);
    u8(b, 2);
    atom(b, r, node);
    u32(b, 1);
    u32(b, id);
    u32(b, 0);
}

/* A fun of module `module` (the reference mref, or plain) holding the pid <pnode.3>
 * (its node the reference pref, or plain) and, with `free`, the module again as its one
 * free variable; its Size patched. */
static void fun(bld_t *b, int mref, const char *module, int pref, const char *pnode, int free)
{
    char uniq[16] = {1, 2, 3};
    u8(b, ERL_NEW_FUN_EXT);
    size_t size_at = b->n;
    u32(b, 0);
    u8(b, 0); /* arity */
    raw(b, uniq, 16);
    u32(b, 0); /* index */
    u32(b, (uint32_t)free);
    atom(b, mref, module);
    u8(b, ERL_SMALL_INTEGER_EXT);
    u8(b, 1);
    u8(b, ERL_SMALL_INTEGER_EXT);
    u8(b, 2);
    pid(b, pref, pnode, 3);
    if (free)
        atom(b, mref, module);
    otpc__put_u32(b->b + size_at, (uint32_t)(b->n - size_at));
}

/* SEND {2, A0, Pid} and {A2, {Pid, Ref}, A3}, where Ak is atom k of `names`, written as
 * the reference r[k] (or plain when r[k] < 0); pids and refs are on node names[1]. */
static void message(const int r[4], const char *const names[4], bld_t *ctl, bld_t *pay)
{
    ctl->n = pay->n = 0;
    u8(ctl, ERL_SMALL_TUPLE_EXT);
    u8(ctl, 3);
    u8(ctl, ERL_SMALL_INTEGER_EXT);
    u8(ctl, 2);
    atom(ctl, r[0], names[0]);
    pid(ctl, r[1], names[1], 7);
    u8(pay, ERL_SMALL_TUPLE_EXT);
    u8(pay, 3);
    atom(pay, r[2], names[2]);
    u8(pay, ERL_SMALL_TUPLE_EXT);
    u8(pay, 2);
    pid(pay, r[1], names[1], 9);
    ref(pay, r[1], names[1], 12345);
    atom(pay, r[3], names[3]);
}

/* 'p' 131 Ctl 131 Payload. */
static void pass_form(const bld_t *ctl, const bld_t *pay, bld_t *out)
{
    out->n = 0;
    u8(out, 'p');
    u8(out, ERL_VERSION_MAGIC);
    raw(out, ctl->b, ctl->n);
    if (pay) {
        u8(out, ERL_VERSION_MAGIC);
        raw(out, pay->b, pay->n);
    }
}

typedef struct {
    int fresh;
    unsigned ix;
    const char *text;
} href_t;

/* N and the references section of refs[0..n). */
static void put_refs(bld_t *b, const href_t *r, unsigned n, int long_atoms)
{
    u8(b, n);
    if (!n)
        return;
    size_t flags = b->n, fb = n / 2 + 1;
    char zero[128] = {0};
    raw(b, zero, fb);
    for (unsigned i = 0; i <= n; i++) {
        unsigned f = i == n ? (unsigned)long_atoms : (r[i].fresh ? 8u : 0u) | r[i].ix >> 8;
        b->b[flags + i / 2] |= (char)(f << ((i & 1) * 4));
    }
    for (unsigned i = 0; i < n; i++) {
        u8(b, r[i].ix & 255);
        if (!r[i].fresh)
            continue;
        size_t len = strlen(r[i].text);
        if (long_atoms)
            u8(b, (unsigned)(len >> 8));
        u8(b, (unsigned)len & 255);
        raw(b, r[i].text, len);
    }
}

/* 131 68 N ... then ctl and pay. */
static void whole(bld_t *pkt, const href_t *r, unsigned n, int long_atoms, const bld_t *ctl,
                  const bld_t *pay)
{
    pkt->n = 0;
    u8(pkt, ERL_VERSION_MAGIC);
    u8(pkt, OTPC__DHDR_NORMAL);
    put_refs(pkt, r, n, long_atoms);
    raw(pkt, ctl->b, ctl->n);
    if (pay)
        raw(pkt, pay->b, pay->n);
}

/* Parse pkt with everything agreed and hand a whole message to the table: its result,
 * *m and *mlen as frag_whole sets them (the in-place path for N = 0). */
static int take_whole(otpc__frag_tab_t *t, const bld_t *pkt, const char **m, size_t *mlen,
                      const char **why, char **keep)
{
    char *c = exact(pkt->b, pkt->n);
    otpc__dhdr_t h;
    *why = NULL;
    int rc = otpc__dhdr_parse(c, pkt->n, ALL, &h, why);
    if (rc == 0 && h.nrefs == 0) {
        rc = otpc__dhdr_to_pass(c, pkt->n, mlen, why) ? OTPC_EPROTO : 1;
        *m = c;
        *keep = c;
        return rc;
    }
    if (rc == 0)
        rc = otpc__frag_whole(t, &h, c, pkt->n, m, mlen, why);
    free(c);
    *keep = NULL;
    if (rc < 0)
        assert_true(*why && (*why)[0]);
    return rc;
}

static const char *const NAMES[4] = {"", "a@h", "$gen_call", "hello"};
static const int PLAIN[4] = {-1, -1, -1, -1};

/* The expected pass-through form of message(names) with plain atoms. */
static void expected(const char *const names[4], bld_t *out)
{
    bld_t ctl, pay;
    message(PLAIN, names, &ctl, &pay);
    pass_form(&ctl, &pay, out);
}

static void check_whole(otpc__frag_tab_t *t, const bld_t *pkt, const char *const names[4])
{
    bld_t want;
    const char *m, *why;
    size_t mlen;
    char *keep;
    expected(names, &want);
    assert_int_equal(take_whole(t, pkt, &m, &mlen, &why, &keep), 1);
    assert_int_equal(mlen, want.n);
    assert_memory_equal(m, want.b, want.n);
    otpc__ctrl_t c;
    assert_int_equal(otpc__ctrl_decode(m, mlen, &c, &why), 0);
    assert_int_equal(c.op, OTPC__DOP_SEND);
    free(keep);
}

/* ---- in ---------------------------------------------------------------------------------- */

/* New entries in every segment, then references to them in another order, then an entry
 * set again: each message written out with its own atoms. */
static void whole_messages_expanded(void **state)
{
    (void)state;
    otpc__frag_tab_t t;
    otpc__frag_init(&t, 1 << 20);
    bld_t ctl, pay, pkt;
    href_t r1[4] = {
        {1, 0x000, ""}, {1, 0x305, "a@h"}, {1, 0x7ff, "$gen_call"}, {1, 0x042, "hello"}};
    message((int[]){0, 1, 2, 3}, NAMES, &ctl, &pay);
    whole(&pkt, r1, 4, 0, &ctl, &pay);
    otpc__dhdr_t h;
    const char *why;
    assert_int_equal(otpc__dhdr_parse(pkt.b, pkt.n, ALL, &h, &why), 0);
    assert_true(h.kind == OTPC__DHDR_NORMAL && h.nrefs == 4 && h.refs == 3);
    assert_int_equal(h.body, pkt.n - ctl.n - pay.n);
    check_whole(&t, &pkt, NAMES);

    /* references only, in another order; the header then holds no text */
    href_t r2[4] = {{0, 0x7ff, NULL}, {0, 0x042, NULL}, {0, 0x305, NULL}, {0, 0x000, NULL}};
    message((int[]){3, 2, 0, 1}, NAMES, &ctl, &pay);
    whole(&pkt, r2, 4, 0, &ctl, &pay);
    assert_int_equal(pkt.n, 2 + 1 + 3 + 4 + ctl.n + pay.n);
    check_whole(&t, &pkt, NAMES);

    /* 0x042 set again, used twice in one header (the old atom before, the new after) */
    const char *const names3[4] = {"hello", "a@h", "world", "world"};
    href_t r3[3] = {{0, 0x042, NULL}, {1, 0x042, "world"}, {0, 0x305, NULL}};
    message((int[]){0, 2, 1, 1}, names3, &ctl, &pay);
    whole(&pkt, r3, 3, 0, &ctl, &pay);
    check_whole(&t, &pkt, names3);

    /* a message without references takes the in-place path; plain atoms stay plain
     * beside references */
    message(PLAIN, NAMES, &ctl, &pay);
    whole(&pkt, NULL, 0, 0, &ctl, &pay);
    check_whole(&t, &pkt, NAMES);
    href_t r4[1] = {{0, 0x305, NULL}};
    message((int[]){-1, 0, -1, -1}, NAMES, &ctl, &pay);
    whole(&pkt, r4, 1, 0, &ctl, &pay);
    check_whole(&t, &pkt, NAMES);
    otpc__frag_free(&t);
}

/* LongAtoms: every length in two bytes; an atom above 255 bytes comes out as
 * ATOM_UTF8_EXT, the others as SMALL_ATOM_UTF8_EXT; a control message alone. */
static void long_atoms(void **state)
{
    (void)state;
    char big[301];
    for (int i = 0; i < 150; i++)
        memcpy(big + 2 * i, "\xc3\xa9", 2); /* 150 characters, 300 bytes */
    big[300] = 0;
    const char *const names[4] = {big, "n@h", "x", "y"};
    href_t r[2] = {{1, 0x123, big}, {1, 0x124, "n@h"}};
    bld_t ctl, pay, pkt, want;
    message((int[]){0, 1, -1, -1}, names, &ctl, &pay);
    whole(&pkt, r, 2, 1, &ctl, NULL);
    otpc__frag_tab_t t;
    otpc__frag_init(&t, 1 << 20);
    const char *m, *why;
    size_t mlen;
    char *keep;
    assert_int_equal(take_whole(&t, &pkt, &m, &mlen, &why, &keep), 1);
    message(PLAIN, names, &ctl, &pay);
    pass_form(&ctl, NULL, &want);
    assert_int_equal(mlen, want.n);
    assert_memory_equal(m, want.b, want.n);
    assert_int_equal((unsigned char)m[6], ERL_ATOM_UTF8_EXT);
    otpc__frag_free(&t);
}

/* Expect `pkt` refused with a reason containing `text`, by the parse or the table. */
static void refused(otpc__frag_tab_t *t, unsigned agreed, const bld_t *pkt, const char *text)
{
    char *c = exact(pkt->b, pkt->n);
    otpc__dhdr_t h;
    const char *why = NULL, *m;
    size_t mlen;
    int rc = otpc__dhdr_parse(c, pkt->n, agreed, &h, &why);
    if (rc == 0 && h.kind == OTPC__DHDR_NORMAL)
        rc = h.nrefs ? otpc__frag_whole(t, &h, c, pkt->n, &m, &mlen, &why)
                     : otpc__dhdr_to_pass(c, pkt->n, &mlen, &why);
    else if (rc == 0)
        rc = otpc__frag_add(t, &h, c, pkt->n, &m, &mlen, &why);
    free(c);
    assert_int_equal(rc, OTPC_EPROTO);
    assert_non_null(why);
    if (!strstr(why, text))
        fail_msg("reason \"%s\" lacks \"%s\"", why, text);
}

static void malformed_refused(void **state)
{
    (void)state;
    otpc__frag_tab_t t;
    otpc__frag_init(&t, 1 << 20);
    bld_t ctl, pay, pkt;
    href_t r[4] = {{1, 0x000, ""}, {1, 0x305, "a@h"}, {1, 0x7ff, "$gen_call"}, {1, 0x042, "hello"}};
    message((int[]){0, 1, 2, 3}, NAMES, &ctl, &pay);
    whole(&pkt, r, 4, 0, &ctl, &pay);
    refused(&t, OTPC__DH_FRAGMENTS, &pkt, "not agreed");
    size_t body = pkt.n - ctl.n - pay.n;
    for (size_t n = 3; n < body; n++) { /* the header cut anywhere */
        bld_t cut = pkt;
        cut.n = n;
        refused(&t, ALL, &cut, "truncated");
    }
    /* a reference to an entry never set (on a fresh table, and another segment) */
    href_t never[2] = {{1, 0x305, "a@h"}, {0, 0x306, NULL}};
    message((int[]){-1, 0, -1, 1}, NAMES, &ctl, &pay);
    whole(&pkt, never, 2, 0, &ctl, &pay);
    refused(&t, ALL, &pkt, "never set");
    /* ATOM_CACHE_REF beyond the header's references: in the control message, in the
     * payload, in a message without references */
    message((int[]){0, 1, 2, 4}, NAMES, &ctl, &pay);
    whole(&pkt, r, 4, 0, &ctl, &pay);
    refused(&t, ALL, &pkt, "payload");
    message((int[]){4, 1, 2, 3}, NAMES, &ctl, &pay);
    whole(&pkt, r, 4, 0, &ctl, &pay);
    refused(&t, ALL, &pkt, "control message");
    message((int[]){0, -1, -1, -1}, NAMES, &ctl, &pay);
    whole(&pkt, NULL, 0, 0, &ctl, &pay);
    refused(&t, ALL, &pkt, "control message");
    /* texts ERTS would not make atoms of: not UTF-8, 256 characters, above 1020 bytes */
    static char a256[257], a1021[1022];
    memset(a256, 'a', 256);
    memset(a1021, 'a', 1021);
    href_t bad_utf8[1] = {{1, 1, "\xff"}}, long1[1] = {{1, 1, a256}}, long2[1] = {{1, 1, a1021}};
    message((int[]){0, -1, -1, -1}, NAMES, &ctl, &pay);
    whole(&pkt, bad_utf8, 1, 0, &ctl, &pay);
    refused(&t, ALL, &pkt, "UTF-8");
    whole(&pkt, long1, 1, 1, &ctl, &pay);
    refused(&t, ALL, &pkt, "255 characters");
    whole(&pkt, long2, 1, 1, &ctl, &pay);
    refused(&t, ALL, &pkt, "255 characters");
    /* trailing bytes after the payload */
    message((int[]){0, 1, 2, 3}, NAMES, &ctl, &pay);
    whole(&pkt, r, 4, 0, &ctl, &pay);
    u8(&pkt, ERL_NIL_EXT);
    refused(&t, ALL, &pkt, "payload");
    /* a fragment without FRAGMENTS agreed */
    char first[OTPC__DHDR_FIRST_LEN];
    pkt.n = 0;
    raw(&pkt, first, otpc__dhdr_put_first(first, 1, 2));
    raw(&pkt, ctl.b, ctl.n);
    refused(&t, OTPC__DH_CACHE, &pkt, "fragments not agreed");
    otpc__frag_free(&t);
}

/* A first fragment with references, the message cut at every point after its control
 * message (so also between an ATOM_CACHE_REF and its index); between its fragments a
 * whole message sets the entry the sequence uses to another atom. The sequence keeps
 * the atoms of its own header. */
static void fragments_keep_their_atoms(void **state)
{
    (void)state;
    otpc__frag_tab_t t;
    otpc__frag_init(&t, 1 << 20);
    bld_t ctl, pay, pkt, want, other_ctl, other_pay, other;
    href_t r[4] = {{1, 0x000, ""}, {1, 0x305, "a@h"}, {1, 0x7ff, "$gen_call"}, {1, 0x042, "hello"}};
    message((int[]){0, 1, 2, 3}, NAMES, &ctl, &pay);
    expected(NAMES, &want);
    const char *const names2[4] = {"", "a@h", "$gen_call", "world"};
    href_t r2[2] = {{1, 0x042, "world"}, {0, 0x305, NULL}};
    message((int[]){-1, 1, -1, 0}, names2, &other_ctl, &other_pay);
    whole(&other, r2, 2, 0, &other_ctl, &other_pay);
    bld_t body = ctl;
    raw(&body, pay.b, pay.n);
    for (size_t cut = ctl.n; cut <= body.n; cut++) {
        char hdr[OTPC__DHDR_FIRST_LEN];
        size_t hl = otpc__dhdr_put_first(hdr, 77, 2);
        pkt.n = 0;
        raw(&pkt, hdr, hl - 1); /* all but N */
        put_refs(&pkt, r, 4, 0);
        raw(&pkt, body.b, cut);
        char *c = exact(pkt.b, pkt.n);
        otpc__dhdr_t h;
        const char *why, *m;
        size_t mlen;
        assert_int_equal(otpc__dhdr_parse(c, pkt.n, ALL, &h, &why), 0);
        assert_int_equal(h.nrefs, 4);
        assert_int_equal(otpc__frag_add(&t, &h, c, pkt.n, &m, &mlen, &why), 0);
        free(c);
        check_whole(&t, &other, names2); /* the cache changes under the sequence */
        pkt.n = 0;
        raw(&pkt, hdr, otpc__dhdr_put_cont(hdr, 77, 1));
        raw(&pkt, body.b + cut, body.n - cut);
        c = exact(pkt.b, pkt.n);
        assert_int_equal(otpc__dhdr_parse(c, pkt.n, ALL, &h, &why), 0);
        assert_int_equal(otpc__frag_add(&t, &h, c, pkt.n, &m, &mlen, &why), 1);
        free(c);
        assert_int_equal(mlen, want.n);
        assert_memory_equal(m, want.b, want.n);
        assert_int_equal(t.n, 0);
    }
    otpc__frag_free(&t);
}

/* A fragmented message of `body` (terms with references `r`) in two fragments cut after
 * `cut` bytes: what the table hands out, compared with `want`. *inside: whether the
 * message came out of the sequence's own buffer past its start (written out in place,
 * into the headroom) rather than copied. */
static void two_fragments(otpc__frag_tab_t *t, const href_t *r, unsigned n, const bld_t *body,
                          size_t cut, const bld_t *want, int *inside)
{
    bld_t *pkt = malloc(sizeof *pkt);
    char hdr[OTPC__DHDR_FIRST_LEN];
    const char *why, *m = NULL;
    size_t mlen = 0;
    otpc__dhdr_t h;
    for (int k = 0; k < 2; k++) {
        pkt->n = 0;
        if (k == 0) {
            raw(pkt, hdr, otpc__dhdr_put_first(hdr, 3, 2) - 1);
            put_refs(pkt, r, n, 0);
            raw(pkt, body->b, cut);
        } else {
            raw(pkt, hdr, otpc__dhdr_put_cont(hdr, 3, 1));
            raw(pkt, body->b + cut, body->n - cut);
        }
        char *c = exact(pkt->b, pkt->n);
        assert_int_equal(otpc__dhdr_parse(c, pkt->n, ALL, &h, &why), 0);
        assert_int_equal(otpc__frag_add(t, &h, c, pkt->n, &m, &mlen, &why), k);
        free(c);
    }
    assert_int_equal(mlen, want->n);
    assert_memory_equal(m, want->b, want->n);
    *inside = m > t->done.data && m + mlen == t->done.data + t->done.len;
    free(pkt);
}

/* A completed message's references are written out where it lies, into the headroom
 * before it (a large binary after them stays put); a fun (whose Size must follow), more
 * growth than the headroom or more than 256 references are written out as a copy. */
static void fragments_written_out(void **state)
{
    (void)state;
    otpc__frag_tab_t t;
    otpc__frag_init(&t, 1 << 20);
    bld_t *ctl = malloc(sizeof *ctl), *pay = malloc(sizeof *pay), *body = malloc(sizeof *body);
    bld_t *want = malloc(sizeof *want);
    href_t r[4] = {{1, 0x000, ""}, {1, 0x305, "a@h"}, {1, 0x7ff, "$gen_call"}, {1, 0x042, "hello"}};
    int inside;
    /* a gen_call with a 10000-byte binary after its references: in place */
    message((int[]){0, 1, 2, 3}, NAMES, ctl, body);
    body->n -= 2; /* the last atom (a reference to hello) becomes a binary after it */
    u8(body, ERL_BINARY_EXT);
    u32(body, 10000);
    for (int i = 0; i < 10000; i++)
        u8(body, (unsigned)i & 255);
    bld_t plain_ctl, plain_pay;
    message(PLAIN, NAMES, &plain_ctl, &plain_pay);
    plain_pay.n -= 2 + 5;
    u8(&plain_pay, ERL_BINARY_EXT);
    u32(&plain_pay, 10000);
    raw(&plain_pay, body->b + body->n - 10000, 10000);
    pass_form(&plain_ctl, &plain_pay, want);
    bld_t *whole_body = malloc(sizeof *whole_body);
    *whole_body = *ctl;
    raw(whole_body, body->b, body->n);
    two_fragments(&t, r, 4, whole_body, ctl->n + 5, want, &inside);
    assert_true(inside);
    free(whole_body);

    /* the atom before a fun's end: copied, the fun's Size following */
    *body = *ctl;
    fun(body, 2, "$gen_call", 1, "a@h", 0);
    message(PLAIN, NAMES, &plain_ctl, &plain_pay);
    plain_pay.n = 0;
    fun(&plain_pay, -1, "$gen_call", -1, "a@h", 0);
    pass_form(&plain_ctl, &plain_pay, want);
    message((int[]){0, 1, 2, 3}, NAMES, ctl, pay);
    two_fragments(&t, r, 4, body, ctl->n + 3, want, &inside);
    assert_false(inside);

    /* growth past the headroom (20 atoms of 255 bytes), and 300 references: copied */
    static char big[256];
    memset(big, 'b', 255);
    href_t rb[2] = {{1, 9, big}, {1, 0x305, "a@h"}};
    for (int many = 0; many < 2; many++) {
        unsigned count = many ? 300 : 20;
        message((int[]){-1, 1, -1, -1}, NAMES, ctl, pay);
        *body = *ctl;
        message(PLAIN, NAMES, &plain_ctl, &plain_pay);
        plain_pay.n = 0;
        u8(body, ERL_LIST_EXT);
        u32(body, count);
        u8(&plain_pay, ERL_LIST_EXT);
        u32(&plain_pay, count);
        for (unsigned i = 0; i < count; i++) {
            atom(body, many ? 1 : 0, many ? "a@h" : big);
            atom(&plain_pay, -1, many ? "a@h" : big);
        }
        u8(body, ERL_NIL_EXT);
        u8(&plain_pay, ERL_NIL_EXT);
        pass_form(&plain_ctl, &plain_pay, want);
        two_fragments(&t, rb, 2, body, ctl->n + 7, want, &inside);
        assert_false(inside);
    }
    otpc__frag_free(&t);
    free(ctl), free(pay), free(body), free(want);
}

/* A message within max on the wire but above it with its atoms written out is refused,
 * whole or fragmented, and no buffer grows past max plus the form's three bytes. */
static void bounded_by_max(void **state)
{
    (void)state;
    char big[256];
    memset(big, 'b', 255);
    big[255] = 0;
    bld_t ctl, pay, pkt;
    message((int[]){-1, -1, -1, -1}, NAMES, &ctl, &pay);
    pay.n = 0;
    u8(&pay, ERL_LIST_EXT);
    u32(&pay, 20);
    for (int i = 0; i < 20; i++)
        atom(&pay, 0, big);
    u8(&pay, ERL_NIL_EXT);
    href_t r[1] = {{1, 9, big}};
    whole(&pkt, r, 1, 0, &ctl, &pay);
    size_t max = 1000; /* the packet is about 330 bytes, written out about 5200 */
    assert_true(pkt.n < max);
    otpc__frag_tab_t t;
    otpc__frag_init(&t, max);
    refused(&t, ALL, &pkt, "max_message");
    assert_true(t.done.cap <= max + 3);
    char hdr[OTPC__DHDR_FIRST_LEN];
    size_t hl = otpc__dhdr_put_first(hdr, 5, 1);
    pkt.n = 0;
    raw(&pkt, hdr, hl - 1);
    put_refs(&pkt, r, 1, 0);
    raw(&pkt, ctl.b, ctl.n);
    raw(&pkt, pay.b, pay.n);
    refused(&t, ALL, &pkt, "max_message");
    assert_true(t.done.cap <= max + 3);
    assert_int_equal(t.n, 0);
    otpc__frag_free(&t);
}

/* A fun's Size counts its encoded bytes: written out, it grows with its atoms. */
static void fun_size_follows(void **state)
{
    (void)state;
    bld_t f[2];
    for (int plain = 0; plain < 2; plain++) {
        f[plain].n = 0;
        fun(&f[plain], plain ? -1 : 0, "some_module", plain ? -1 : 1, "a@h", 1);
    }
    otpc__acrefs_t r = {0};
    otpc__acin_t cache = {0};
    bld_t hdr;
    hdr.n = 0;
    href_t hr[2] = {{1, 1, "some_module"}, {1, 2, "a@h"}};
    put_refs(&hdr, hr, 2, 0);
    const char *why;
    assert_int_equal(otpc__acin_read(&cache, hdr.b + 1, 2, &r, &why), 0);
    otpc__buf_t out = {0};
    size_t used;
    assert_int_equal(
        otpc__term_copy(f[0].b, f[0].n, r.n, otpc__acin_expand, &r, &out, 1 << 20, &used), 0);
    assert_int_equal(used, f[0].n);
    assert_int_equal(out.len, f[1].n);
    assert_memory_equal(out.data, f[1].b, f[1].n);
    assert_int_equal(otpc__term_skip(out.data, out.len, &used), 0);
    /* and back: the cache out turns the atoms into references, Size shrinking */
    otpc__acout_t *oc = calloc(1, sizeof *oc);
    otpc__buf_t back = {0};
    otpc__acout_begin(oc);
    assert_int_equal(
        otpc__term_copy(out.data, out.len, 0, otpc__acout_compress, oc, &back, SIZE_MAX, &used), 0);
    assert_int_equal(oc->n, 2);
    assert_int_equal(back.len, f[0].n);
    assert_memory_equal(back.data, f[0].b, f[0].n);
    assert_int_equal(otpc__get_u32(back.data + 1), f[0].n - 1);
    otpc__buf_free(&out);
    otpc__buf_free(&back);
    free(oc);
    otpc__acrefs_release(&r);
    otpc__acin_free(&cache);
}

/* ---- out ---------------------------------------------------------------------------------- */

/* Copy term[0..len) through the cache out into b. */
static void compress(otpc__acout_t *c, const char *term, size_t len, otpc__buf_t *b)
{
    size_t used;
    assert_int_equal(otpc__term_copy(term, len, 0, otpc__acout_compress, c, b, SIZE_MAX, &used), 0);
    assert_int_equal(used, len);
}

/* The cache out's choices: short, long and Latin-1 atoms stay, one reference per atom
 * and message, a second message refers without text, a forgotten one leaves no entry. */
static void out_choices(void **state)
{
    (void)state;
    otpc__acout_t *c = calloc(1, sizeof *c);
    char a64[65];
    memset(a64, 'z', 64);
    a64[64] = 0;
    bld_t t;
    t.n = 0;
    u8(&t, ERL_SMALL_TUPLE_EXT);
    u8(&t, 7);
    atom(&t, -1, "");
    atom(&t, -1, "x");
    atom(&t, -1, a64);
    u8(&t, ERL_SMALL_ATOM_EXT); /* Latin-1 */
    u8(&t, 3);
    raw(&t, "abc", 3);
    atom(&t, -1, "node@host");
    pid(&t, -1, "node@host", 1);
    atom(&t, -1, "ok");
    otpc__buf_t b = {0};
    otpc__acout_begin(c);
    compress(c, t.b, t.n, &b);
    assert_int_equal(c->n, 2); /* node@host, ok */
    assert_int_equal(b.len, t.n - 2 * (2 + 9) - (2 + 2) + 3 * 2);
    assert_true(c->ref_new[0] && c->ref_new[1]);
    char hdr[64];
    size_t hl = otpc__acout_hdr_put(c, hdr);
    assert_int_equal(hl, otpc__acout_hdr_len(c));
    assert_int_equal(hl, 1 + 2 + 2 + 1 + 9 + 1 + 2);
    /* the same again: references without text */
    b.len = 0;
    otpc__acout_begin(c);
    compress(c, t.b, t.n, &b);
    assert_int_equal(c->n, 2);
    assert_true(!c->ref_new[0] && !c->ref_new[1]);
    assert_int_equal(otpc__acout_hdr_len(c), 1 + 2 + 2);
    /* a message forgotten: its new entry is not assumed by the next one */
    bld_t n1;
    n1.n = 0;
    atom(&n1, -1, "fresh_atom");
    b.len = 0;
    otpc__acout_begin(c);
    compress(c, n1.b, n1.n, &b);
    assert_true(c->n == 1 && c->ref_new[0]);
    otpc__acout_abort(c);
    otpc__acout_begin(c);
    compress(c, n1.b, n1.n, &b);
    assert_true(c->n == 1 && c->ref_new[0]);
    /* no references: N = 0 alone */
    otpc__acout_begin(c);
    assert_int_equal(otpc__acout_hdr_len(c), 1);
    assert_int_equal(otpc__acout_hdr_put(c, hdr), 1);
    assert_int_equal(hdr[0], 0);
    otpc__buf_free(&b);
    free(c);
}

/* A tiny deterministic generator. */
static uint32_t rnd(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* Messages through the cache out, the header it writes, and a peer's table: each comes
 * back as it was sent, while 700 atoms (more than the 256 entries, and up to 600 in one
 * message, past the 255 references) evict each other. */
static void out_then_in(void **state)
{
    (void)state;
    otpc__acout_t *c = calloc(1, sizeof *c);
    otpc__frag_tab_t t;
    otpc__frag_init(&t, 1 << 20);
    uint32_t seed = 1;
    otpc__buf_t terms = {0};
    bld_t *ctl = malloc(sizeof *ctl), *pay = malloc(sizeof *pay), *want = malloc(sizeof *want);
    char name[32];
    size_t plain_bytes = 0, cached_bytes = 0;
    for (int msg = 0; msg < 400; msg++) {
        unsigned natoms = msg % 50 == 49 ? 600 : 1 + rnd(&seed) % 12;
        message(PLAIN, NAMES, ctl, pay);
        pay->n = 0;
        u8(pay, ERL_LIST_EXT);
        u32(pay, natoms);
        for (unsigned i = 0; i < natoms; i++) {
            unsigned k = msg % 50 == 49 ? i : rnd(&seed) % (rnd(&seed) % 2 ? 700 : 8);
            snprintf(name, sizeof name, "atom_%u", k);
            if (k % 3 == 0)
                pid(pay, -1, name, k);
            else
                atom(pay, -1, name);
        }
        u8(pay, ERL_NIL_EXT);
        pass_form(ctl, pay, want);
        terms.len = 0;
        otpc__acout_begin(c);
        compress(c, ctl->b, ctl->n, &terms);
        compress(c, pay->b, pay->n, &terms);
        assert_true(c->n <= OTPC__AC_REFS);
        bld_t *pkt = malloc(sizeof *pkt);
        pkt->n = 0;
        u8(pkt, ERL_VERSION_MAGIC);
        u8(pkt, OTPC__DHDR_NORMAL);
        size_t hl = otpc__acout_hdr_len(c);
        assert_int_equal(otpc__acout_hdr_put(c, pkt->b + pkt->n), hl);
        pkt->n += hl;
        raw(pkt, terms.data, terms.len);
        const char *m, *why;
        size_t mlen;
        char *keep;
        assert_int_equal(take_whole(&t, pkt, &m, &mlen, &why, &keep), 1);
        assert_int_equal(mlen, want->n);
        assert_memory_equal(m, want->b, want->n);
        free(keep);
        if (natoms < 600) { /* the big ones are all new atoms */
            plain_bytes += 3 + ctl->n + pay->n;
            cached_bytes += pkt->n;
        }
        free(pkt);
    }
    assert_true(cached_bytes < plain_bytes); /* half the atoms are hot, half mostly new */
    otpc__buf_free(&terms);
    free(ctl), free(pay), free(want);
    otpc__frag_free(&t);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(whole_messages_expanded),
        cmocka_unit_test(long_atoms),
        cmocka_unit_test(malformed_refused),
        cmocka_unit_test(fragments_keep_their_atoms),
        cmocka_unit_test(fragments_written_out),
        cmocka_unit_test(bounded_by_max),
        cmocka_unit_test(fun_size_follows),
        cmocka_unit_test(out_choices),
        cmocka_unit_test(out_then_in),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
