/*
 * libFuzzer target over terms written as text (proto/term_text.c), what a
 * -ssl_dist_optfile holds. The input is the text, copied flush against a guard page.
 *
 *  - refused: OTPC_EINVAL with a reason "line N: ..." where N is a line of the text
 *    (or the one after its last newline), and the caller's buffer left as it was;
 *  - accepted: one well-formed term (proto/term.c walks it exactly), written after the
 *    version byte; printed back as Erlang text by the small printer below (every
 *    character outside printable ASCII escaped, so the text reads the same in Latin-1)
 *    and parsed again, it gives the same bytes.
 *
 * Seeds in c_src/fuzz/corpus/term_text/ are kept by hand (configuration files).
 *
 *   make -C c_src fuzz
 *   c_src/build-fuzz/fuzz_term_text -max_total_time=60 SCRATCH_DIR c_src/fuzz/corpus/term_text
 */
#include "fuzz/fuzz.h"

#include <ei.h>

#include "proto/term.h"
#include "proto/term_text.h"
#include "otpc.h"
#include "util/buf.h"

static guard_t g_text;

/* ---- a printer of what the parser writes (its encodings only) ------------------------ */

typedef struct {
    otpc__buf_t out;
    const unsigned char *p;
} pr_t;

static void emit(pr_t *r, const char *s)
{
    CHECK(otpc__buf_append(&r->out, s, strlen(s)) == 0);
}

/* v in decimal, or as two hex digits */
static void emit_num(pr_t *r, unsigned long long v, int hex2)
{
    char b[40];
    snprintf(b, sizeof b, hex2 ? "%02llX" : "%llu", v);
    emit(r, b);
}

static uint32_t be(const unsigned char *p, int n)
{
    uint32_t v = 0;
    for (int k = 0; k < n; k++)
        v = v << 8 | p[k];
    return v;
}

/* A character inside quotes: printable ASCII as it is, the rest as \x{H}. */
static void quoted_char(pr_t *r, uint32_t cp, char q)
{
    char b[16];
    if (cp >= ' ' && cp < 0x7F && cp != (uint32_t)q && cp != '\\')
        snprintf(b, sizeof b, "%c", (char)cp);
    else
        snprintf(b, sizeof b, "\\x{%X}", (unsigned)cp);
    emit(r, b);
}

/* The atom's UTF-8 (valid: the parser wrote it). */
static void atom(pr_t *r, size_t n)
{
    const unsigned char *s = r->p, *end = s + n;
    emit(r, "'");
    while (s < end) {
        uint32_t cp = *s;
        int k = cp < 0x80 ? 0 : cp < 0xE0 ? 1 : cp < 0xF0 ? 2 : 3;
        cp &= k ? 0x3Fu >> k : 0x7F;
        for (int i = 1; i <= k; i++)
            cp = cp << 6 | (s[i] & 0x3F);
        quoted_char(r, cp, '\'');
        s += k + 1;
    }
    emit(r, "'");
    r->p = end;
}

static void big(pr_t *r, int n, int sign)
{
    emit(r, sign ? "-16#" : "16#");
    const unsigned char *m = r->p;
    for (int k = n; k-- > 0;)
        emit_num(r, m[k], 1);
    r->p += n;
}

static void term(pr_t *r, int depth);

static void elements(pr_t *r, uint32_t n, const char *sep, int depth)
{
    for (uint32_t k = 0; k < n; k++) {
        if (k)
            emit(r, sep);
        term(r, depth + 1);
    }
}

/* One case per encoding the parser writes (a dispatch switch, hence its length); the
 * bytes walked already, so no bound is checked here. */
static void term(pr_t *r, int depth)
{
    CHECK(depth <= OTPC__TERM_TEXT_MAX_DEPTH + 1);
    unsigned tag = *r->p++;
    uint32_t n;
    double f;
    uint64_t bits;
    switch (tag) {
    case ERL_SMALL_ATOM_UTF8_EXT:
        n = *r->p++;
        atom(r, n);
        return;
    case ERL_ATOM_UTF8_EXT:
        n = be(r->p, 2);
        r->p += 2;
        atom(r, n);
        return;
    case ERL_SMALL_INTEGER_EXT:
        emit_num(r, *r->p++, 0);
        return;
    case ERL_INTEGER_EXT: {
        char b[16];
        snprintf(b, sizeof b, "%d", (int32_t)be(r->p, 4));
        emit(r, b);
        r->p += 4;
        return;
    }
    case ERL_SMALL_BIG_EXT:
        n = *r->p++;
        big(r, (int)n, *r->p++);
        return;
    case NEW_FLOAT_EXT: {
        char b[64];
        bits = (uint64_t)be(r->p, 4) << 32 | be(r->p + 4, 4);
        memcpy(&f, &bits, sizeof f);
        snprintf(b, sizeof b, "%.17e", f); /* d.ddde+XX: Erlang's float syntax */
        emit(r, b);
        r->p += 8;
        return;
    }
    case ERL_NIL_EXT:
        emit(r, "[]");
        return;
    case ERL_STRING_EXT:
        n = be(r->p, 2);
        r->p += 2;
        emit(r, "\"");
        for (uint32_t k = 0; k < n; k++)
            quoted_char(r, *r->p++, '"');
        emit(r, "\"");
        return;
    case ERL_LIST_EXT:
        n = be(r->p, 4);
        r->p += 4;
        emit(r, "[");
        elements(r, n, ", ", depth);
        if (*r->p == ERL_NIL_EXT) {
            r->p++;
        } else {
            emit(r, " | ");
            term(r, depth + 1);
        }
        emit(r, "]");
        return;
    case ERL_SMALL_TUPLE_EXT:
    case ERL_LARGE_TUPLE_EXT:
        n = tag == ERL_SMALL_TUPLE_EXT ? *r->p : be(r->p, 4);
        r->p += tag == ERL_SMALL_TUPLE_EXT ? 1 : 4;
        emit(r, "{");
        elements(r, n, ", ", depth);
        emit(r, "}");
        return;
    case ERL_MAP_EXT:
        n = be(r->p, 4);
        r->p += 4;
        emit(r, "#{");
        for (uint32_t k = 0; k < n; k++) {
            emit(r, k ? ", " : "");
            term(r, depth + 1);
            emit(r, " => ");
            term(r, depth + 1);
        }
        emit(r, "}");
        return;
    case ERL_BINARY_EXT:
        n = be(r->p, 4);
        r->p += 4;
        emit(r, "<<");
        for (uint32_t k = 0; k < n; k++) {
            emit(r, k ? "," : "");
            emit_num(r, *r->p++, 0);
        }
        emit(r, ">>");
        return;
    default:
        fprintf(stderr, "the parser wrote tag %u\n", tag);
        abort();
    }
}

/* ---- the target ---------------------------------------------------------------------- */

static unsigned lines_of(const uint8_t *d, size_t n)
{
    unsigned lines = 1;
    for (size_t i = 0; i < n; i++)
        lines += d[i] == '\n';
    return lines;
}

static void refused(const char *err, const uint8_t *data, size_t size)
{
    unsigned line = 0;
    CHECK(sscanf(err, "line %u: ", &line) == 1);
    CHECK(line >= 1 && line <= lines_of(data, size));
    CHECK(strlen(err) > strlen("line 1: "));
}

static void reprinted(const ei_x_buff *x)
{
    pr_t r = {{0}, (const unsigned char *)x->buff + 1};
    term(&r, 0);
    CHECK(r.p == (const unsigned char *)x->buff + x->index);
    emit(&r, ".");
    ei_x_buff y;
    char err[256];
    CHECK(ei_x_new_with_version(&y) == 0);
    int rc = otpc__term_text_parse(r.out.data, r.out.len, &y, err, sizeof err);
    if (rc != 0 || y.index != x->index || memcmp(y.buff, x->buff, (size_t)x->index) != 0) {
        fprintf(stderr, "printed back: %.*s\nrc %d %s\n", (int)r.out.len, r.out.data, rc,
                rc ? err : "");
        abort();
    }
    ei_x_free(&y);
    otpc__buf_free(&r.out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_text.base)
        guard_init(&g_text);
    if (size > g_text.cap)
        return 0;
    const char *text = guard_put(&g_text, data, size);
    ei_x_buff x;
    char err[256];
    CHECK(ei_x_new_with_version(&x) == 0);
    int rc = otpc__term_text_parse(text, size, &x, err, sizeof err);
    CHECK(rc == 0 || rc == OTPC_EINVAL);
    if (rc == OTPC_EINVAL) {
        CHECK(x.index == 1);
        refused(err, data, size);
    } else {
        size_t used = 0;
        CHECK(otpc__term_skip_versioned(x.buff, (size_t)x.index, &used) == 0);
        CHECK(used == (size_t)x.index);
        reprinted(&x);
    }
    ei_x_free(&x);
    return 0;
}
