/*
 * libFuzzer target over terms with a format (core/format.c, core/match.c): arbitrary
 * bytes, as a request from another node would be, matched against fixed formats, and
 * arbitrary formats built and matched.
 *
 * Input: one byte, then the rest.
 *  - byte < NFIXED: the rest is a term (with or without its version byte), copied flush
 *    against a guard page, matched against fixed format number `byte`. On a match,
 *    every output must make sense (views inside the input, strings NUL-terminated
 *    within their buffer), and the outputs built back with the same format (without
 *    its _) must match again, giving the same values.
 *  - else: the rest up to a NUL is a format (no ~: there are no arguments to give),
 *    the bytes after it a term. The term is matched against it; the format is built,
 *    and what it built must be one well-formed term that the format matches, unless
 *    the format is one that only builds (a list tail, [a | b]) or has a map (whose keys
 *    the builder does not compare).
 *
 *   make -C c_src fuzz
 *   c_src/build-fuzz/fuzz_format -max_total_time=60 SCRATCH_DIR c_src/fuzz/corpus/format
 */
#include "fuzz/fuzz.h"

#include "core/format.h"
#include "proto/term.h"
#include "otpc.h"

static guard_t g_term;

static int inside(const char *p, size_t n, const char *lo, size_t len)
{
    return p >= lo && p <= lo + len && n <= (size_t)(lo + len - p);
}

static int utf8_ok(const char *s)
{
    otpc__text_t t = {s, s + strlen(s), 0};
    uint32_t cp;
    int r;
    while ((r = otpc__text_cp(&t, &cp)) == 1)
        ;
    return r == 0;
}

/* Each fixed format: how it matches, and the same without _ and := to build from. */
static const char *const match_fmt[] = {
    "{~a, ~l}",
    "{~s, ~b, ~t}",
    "[~i, ~u | _]",
    "#{k => ~d, \"s\" := [~t]}",
    "{'$gen_call', {_, _}, {~a, <<\"x\">>, [a, \"b\", 7, -1]}}",
};
static const char *const build_fmt[] = {
    "{~a, ~l}",
    "{~s, ~b, ~t}",
    "[~i, ~u]",
    "#{k => ~d, \"s\" => [~t]}",
    "{'$gen_call', {p, t}, {~a, <<\"x\">>, [a, \"b\", 7, -1]}}",
};
#define NFIXED (sizeof match_fmt / sizeof *match_fmt)

typedef struct {
    char a[MAXATOMLEN_UTF8];
    char s[64];
    const char *b;
    size_t bn;
    long l;
    unsigned long u;
    int i;
    double d;
    otpc_term_t t;
} out_t;

static int match(unsigned k, otpc_term_t t, out_t *o)
{
    const char *f = match_fmt[k];
    switch (k) {
    case 0:
        return otpc_match(t, f, o->a, &o->l);
    case 1:
        return otpc_match(t, f, o->s, sizeof o->s, &o->b, &o->bn, &o->t);
    case 2:
        return otpc_match(t, f, &o->i, &o->u);
    case 3:
        return otpc_match(t, f, &o->d, &o->t);
    default:
        return otpc_match(t, f, o->a);
    }
}

static int build(unsigned k, ei_x_buff *x, const out_t *o)
{
    const char *f = build_fmt[k];
    switch (k) {
    case 0:
        return otpc_x_format(x, f, o->a, o->l);
    case 1:
        return otpc_x_format(x, f, o->s, o->b, o->bn, o->t);
    case 2:
        return otpc_x_format(x, f, o->i, o->u);
    case 3:
        return otpc_x_format(x, f, o->d, o->t);
    default:
        return otpc_x_format(x, f, o->a);
    }
}

static int same(const out_t *a, const out_t *b, unsigned k)
{
    switch (k) {
    case 0:
        return strcmp(a->a, b->a) == 0 && a->l == b->l;
    case 1:
        return strcmp(a->s, b->s) == 0 && a->bn == b->bn && memcmp(a->b, b->b, a->bn) == 0 &&
               a->t.size == b->t.size && memcmp(a->t.data, b->t.data, a->t.size) == 0;
    case 2:
        return a->i == b->i && a->u == b->u;
    case 3:
        return a->d == b->d && a->t.size == b->t.size &&
               memcmp(a->t.data, b->t.data, a->t.size) == 0;
    default:
        return strcmp(a->a, b->a) == 0;
    }
}

static void fixed(unsigned k, const char *d, size_t n)
{
    otpc_term_t t = {d, n};
    out_t o;
    memset(&o, 0, sizeof o);
    if (!match(k, t, &o))
        return;
    CHECK(strlen(o.a) < sizeof o.a && utf8_ok(o.a));
    CHECK(memchr(o.s, 0, sizeof o.s) && utf8_ok(o.s));
    CHECK(!o.b || inside(o.b, o.bn, d, n));
    CHECK(!o.t.data || inside(o.t.data, o.t.size, d, n) || o.t.size == 2); /* or a char */
    ei_x_buff x;
    CHECK(ei_x_new_with_version(&x) == 0);
    int rc = build(k, &x, &o);
    /* a double from the term is finite (no such float in the external format) */
    CHECK(rc == 0);
    out_t again;
    memset(&again, 0, sizeof again);
    CHECK(match(k, otpc_term_x(&x), &again) == 1);
    CHECK(same(&o, &again, k));
    ei_x_free(&x);
}

/* otpc_match without its log line: 1, 0 or OTPC_EINVAL. */
static int vmatch(otpc_term_t t, const char *fmt, ...)
{
    const char *why;
    size_t at;
    va_list ap;
    va_start(ap, fmt);
    int r = otpc__vmatch(t, fmt, ap, &why, &at);
    va_end(ap);
    CHECK(r == OTPC_EINVAL ? why && why[0] && at <= strlen(fmt) : why == NULL);
    return r;
}

static void free_form(const char *d, size_t n)
{
    const char *nul = memchr(d, 0, n);
    if (!nul || memchr(d, '~', (size_t)(nul - d)))
        return;
    const char *fmt = d; /* NUL-terminated in the input */
    otpc_term_t t = {nul + 1, n - (size_t)(nul + 1 - d)};
    int r = vmatch(t, fmt);
    CHECK(r == 0 || r == 1 || r == OTPC_EINVAL);
    ei_x_buff x;
    CHECK(ei_x_new_with_version(&x) == 0);
    int rc = otpc_x_format(&x, fmt);
    CHECK(rc == 0 || rc == OTPC_EINVAL);
    if (rc == 0) {
        /* what builds is one term, and matches, unless a | tail (build only) or a map
         * is in it (the builder does not look for keys given twice) */
        size_t used;
        CHECK(otpc__term_skip_versioned(x.buff, (size_t)x.index, &used) == 0);
        CHECK(used == (size_t)x.index);
        r = vmatch(otpc_term_x(&x), fmt);
        CHECK(r == 1 || (r == OTPC_EINVAL && strchr(fmt, '|')) || (r == 0 && strchr(fmt, '#')));
    } else {
        CHECK(x.index == 1);
    }
    ei_x_free(&x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_term.base) {
        guard_init(&g_term);
    }
    if (size < 1 || size - 1 > g_term.cap)
        return 0;
    const char *d = guard_put(&g_term, data + 1, size - 1);
    if (data[0] < NFIXED)
        fixed(data[0], d, size - 1);
    else
        free_form(d, size - 1);
    return 0;
}
