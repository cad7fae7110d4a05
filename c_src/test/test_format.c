/*
 * Terms with a format (core/format.c, core/match.c): every literal and conversion
 * built and matched, the bytes compared with what ei encodes; round trips; terms that
 * do not match; Erlang's other encodings of the same term (a string as bytes or as a
 * list, atoms in latin-1); malformed formats and arguments; a term cut at every length
 * (each cut in a buffer of exactly its size, so ASan sees a read past it) and hostile
 * ones; out of memory at every append; and the gen_server shortcuts
 * otpc_reply_format / otpc_stop_format on a node that is created but never run.
 *
 * ei_x_append_buf is wrapped (-Wl,--wrap) so that the Nth append fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/format.h"
#include "otp/gen_server_int.h"

/* ---- out of memory on demand -------------------------------------------------------- */

static int fail_in; /* > 0: the append that brings it to 0 fails */

int __real_ei_x_append_buf(ei_x_buff *x, const char *buf, int len);
int __wrap_ei_x_append_buf(ei_x_buff *x, const char *buf, int len);

int __wrap_ei_x_append_buf(ei_x_buff *x, const char *buf, int len)
{
    if (fail_in > 0 && --fail_in == 0)
        return -1;
    return __real_ei_x_append_buf(x, buf, len);
}

/* ---- helpers ------------------------------------------------------------------------- */

static ei_x_buff X; /* built by otpc_x_format, with a version byte */
static ei_x_buff E; /* the expected term, built with ei */

static int setup(void **state)
{
    (void)state;
    fail_in = 0;
    return ei_x_new_with_version(&X) || ei_x_new_with_version(&E);
}

static int teardown(void **state)
{
    (void)state;
    ei_x_free(&X);
    ei_x_free(&E);
    return 0;
}

static void reset(void)
{
    X.index = E.index = 1;
}

/* X and E hold the same bytes. */
static void same(void)
{
    assert_int_equal(X.index, E.index);
    assert_memory_equal(X.buff, E.buff, (size_t)E.index);
}

static otpc_term_t tx(void)
{
    return otpc_term_x(&X);
}

static otpc_term_t te(void)
{
    return otpc_term_x(&E);
}

/* What made fmt malformed for the matcher (NULL: it is not). */
static const char *match_why(otpc_term_t t, const char *fmt, ...)
{
    const char *why = NULL;
    size_t at;
    va_list ap;
    va_start(ap, fmt);
    int r = otpc__vmatch(t, fmt, ap, &why, &at);
    va_end(ap);
    assert_true(r == OTPC_EINVAL ? why != NULL : why == NULL);
    return why;
}

static int build_rc(const char *fmt, ...)
{
    const char *why;
    size_t at;
    va_list ap;
    va_start(ap, fmt);
    int rc = otpc__x_vformat(&X, fmt, ap, &why, &at);
    va_end(ap);
    assert_true(rc == OTPC_EINVAL ? why != NULL : why == NULL);
    return rc;
}

/* E: raw bytes appended */
static void eraw(const void *p, size_t n)
{
    assert_int_equal(__real_ei_x_append_buf(&E, p, (int)n), 0);
}

/* ---- building literals -------------------------------------------------------------- */

static void build_atoms(void **state)
{
    (void)state;
    reset();
    assert_int_equal(otpc_x_format(&X, "ok"), 0);
    assert_int_equal(ei_x_encode_atom_len_as(&E, "ok", 2, ERLANG_UTF8, ERLANG_UTF8), 0);
    same();
    reset();
    assert_int_equal(otpc_x_format(&X, " 'EXIT' "), 0);
    assert_int_equal(ei_x_encode_atom_len_as(&E, "EXIT", 4, ERLANG_UTF8, ERLANG_UTF8), 0);
    same();
    reset();
    assert_int_equal(otpc_x_format(&X, "'it''s'"), OTPC_EINVAL); /* no juxtaposition */
    assert_int_equal(otpc_x_format(&X, "'it\\'s \\\\ \\n caf\xc3\xa9'"), 0);
    const char *want = "it's \\ \n caf\xc3\xa9";
    assert_int_equal(ei_x_encode_atom_len_as(&E, want, (int)strlen(want), ERLANG_UTF8, ERLANG_UTF8),
                     0);
    same();
    reset();
    assert_int_equal(otpc_x_format(&X, "a@b_C9"), 0);
    assert_int_equal(ei_x_encode_atom_len_as(&E, "a@b_C9", 6, ERLANG_UTF8, ERLANG_UTF8), 0);
    same();
    /* 255 characters of 2 bytes: ATOM_UTF8_EXT (510 bytes) */
    char big[1024] = "'";
    for (int k = 0; k < 255; k++)
        strcat(big, "\xc3\xa9");
    strcat(big, "'");
    reset();
    assert_int_equal(otpc_x_format(&X, big), 0);
    assert_int_equal(X.buff[1], ERL_ATOM_UTF8_EXT);
    assert_int_equal(X.index, 1 + 3 + 510);
    char out[MAXATOMLEN_UTF8];
    assert_int_equal(otpc_match(tx(), "~a", out), 1);
    assert_int_equal(strlen(out), 510);
    assert_int_equal(otpc_match(tx(), big), 1);
    /* 256: too long, as a literal and as ~a */
    big[strlen(big) - 1] = 0;
    strcat(big, "x'");
    reset();
    assert_int_equal(otpc_x_format(&X, big), OTPC_EINVAL);
    assert_int_equal(otpc_x_format(&X, "~a", big + 1), OTPC_EINVAL);
    assert_int_equal(X.index, 1);
}

static void build_integers(void **state)
{
    (void)state;
    long vals[] = {0, 1, -1, 255, 256, -134217728, 134217727, 134217728, LONG_MIN, LONG_MAX};
    const char *text[] = {"0",
                          "1",
                          "-1",
                          "255",
                          "256",
                          "-134217728",
                          "134217727",
                          "134217728",
                          "-9223372036854775808",
                          "9223372036854775807"};
    for (size_t k = 0; k < sizeof vals / sizeof *vals; k++) {
        reset();
        assert_int_equal(otpc_x_format(&X, text[k]), 0);
        assert_int_equal(ei_x_encode_long(&E, vals[k]), 0);
        same();
        long got;
        assert_int_equal(otpc_match(tx(), "~l", &got), 1);
        assert_true(got == vals[k]);
        assert_int_equal(otpc_match(tx(), text[k]), 1);
    }
    reset();
    assert_int_equal(build_rc("9223372036854775808"), OTPC_EINVAL);
    assert_int_equal(build_rc("-9223372036854775809"), OTPC_EINVAL);
    assert_int_equal(build_rc("1.5"), OTPC_EINVAL);
    assert_int_equal(build_rc("12ab"), OTPC_EINVAL);
    assert_int_equal(build_rc("-"), OTPC_EINVAL);
    assert_int_equal(build_rc("- 1"), OTPC_EINVAL);
}

static void build_strings(void **state)
{
    (void)state;
    reset(); /* "" is [] */
    assert_int_equal(otpc_x_format(&X, "\"\""), 0);
    assert_int_equal(ei_x_encode_empty_list(&E), 0);
    same();
    reset(); /* bytes: STRING_EXT, as term_to_binary does */
    assert_int_equal(otpc_x_format(&X, "\"a\\\"b\\tc\""), 0);
    assert_int_equal(ei_x_encode_string(&E, "a\"b\tc"), 0);
    same();
    reset(); /* é is 233: still one byte each */
    assert_int_equal(otpc_x_format(&X, "\"caf\xc3\xa9\""), 0);
    assert_int_equal(ei_x_encode_string(&E, "caf\xe9"), 0);
    same();
    reset(); /* € is 8364: a list of integers */
    assert_int_equal(otpc_x_format(&X, "~s", "1\xe2\x82\xac"), 0);
    assert_int_equal(ei_x_encode_list_header(&E, 2), 0);
    assert_int_equal(ei_x_encode_long(&E, '1'), 0);
    assert_int_equal(ei_x_encode_long(&E, 8364), 0);
    assert_int_equal(ei_x_encode_empty_list(&E), 0);
    same();
    reset(); /* longer than STRING_EXT holds: a list */
    static char longs[70000];
    memset(longs, 'x', sizeof longs - 1);
    assert_int_equal(otpc_x_format(&X, "~s", longs), 0);
    assert_int_equal(X.buff[1], ERL_LIST_EXT);
    static char back[70001];
    assert_int_equal(otpc_match(tx(), "~s", back, sizeof back), 1);
    assert_string_equal(back, longs);
    assert_int_equal(otpc_match(tx(), "~s", back, sizeof longs - 1), 0); /* no room for NUL */
    /* invalid UTF-8 */
    reset();
    const char *badutf[] = {"\xc3", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff"};
    for (size_t k = 0; k < sizeof badutf / sizeof *badutf; k++) {
        assert_int_equal(otpc_x_format(&X, "~s", badutf[k]), OTPC_EINVAL);
        assert_int_equal(otpc_x_format(&X, "~a", badutf[k]), OTPC_EINVAL);
        char f[16];
        snprintf(f, sizeof f, "\"%s\"", badutf[k]);
        assert_int_equal(otpc_x_format(&X, f), OTPC_EINVAL);
        assert_int_equal(X.index, 1);
    }
}

static void build_binaries(void **state)
{
    (void)state;
    reset();
    assert_int_equal(otpc_x_format(&X, "<<>>"), 0);
    assert_int_equal(ei_x_encode_binary(&E, "", 0), 0);
    same();
    reset();
    assert_int_equal(otpc_x_format(&X, "<< \"a\\\\b\\n\" >>"), 0);
    assert_int_equal(ei_x_encode_binary(&E, "a\\b\n", 4), 0);
    same();
    reset();
    assert_int_equal(otpc_x_format(&X, "~b", "a\0b", (size_t)3), 0);
    assert_int_equal(ei_x_encode_binary(&E, "a\0b", 3), 0);
    same();
    reset();
    assert_int_equal(otpc_x_format(&X, "~b", (const void *)NULL, (size_t)0), 0);
    assert_int_equal(ei_x_encode_binary(&E, "", 0), 0);
    same();
    reset();
    assert_int_equal(otpc_x_format(&X, "~b", (const void *)NULL, (size_t)1), OTPC_EINVAL);
    assert_int_equal(build_rc("<<\"a\""), OTPC_EINVAL);
    assert_int_equal(build_rc("<<a>>"), OTPC_EINVAL);
    assert_int_equal(build_rc("<\"a\">"), OTPC_EINVAL);
}

static void build_containers(void **state)
{
    (void)state;
    reset();
    assert_int_equal(otpc_x_format(&X, "{}"), 0);
    assert_int_equal(ei_x_encode_tuple_header(&E, 0), 0);
    same();
    reset();
    assert_int_equal(otpc_x_format(&X, "{ok, {1, [a, b]}, [], #{}}"), 0);
    assert_int_equal(ei_x_encode_tuple_header(&E, 4), 0);
    assert_int_equal(ei_x_encode_atom(&E, "ok"), 0);
    assert_int_equal(ei_x_encode_tuple_header(&E, 2), 0);
    assert_int_equal(ei_x_encode_long(&E, 1), 0);
    assert_int_equal(ei_x_encode_list_header(&E, 2), 0);
    assert_int_equal(ei_x_encode_atom(&E, "a"), 0);
    assert_int_equal(ei_x_encode_atom(&E, "b"), 0);
    assert_int_equal(ei_x_encode_empty_list(&E), 0);
    assert_int_equal(ei_x_encode_empty_list(&E), 0);
    assert_int_equal(ei_x_encode_map_header(&E, 0), 0);
    same();
    reset(); /* an improper list, and a tail that is a list */
    assert_int_equal(otpc_x_format(&X, "[a | b]"), 0);
    assert_int_equal(ei_x_encode_list_header(&E, 1), 0);
    assert_int_equal(ei_x_encode_atom(&E, "a"), 0);
    assert_int_equal(ei_x_encode_atom(&E, "b"), 0);
    same();
    reset();
    assert_int_equal(otpc_x_format(&X, "[1, 2 | [3]]"), 0);
    assert_int_equal(otpc_match(tx(), "[1, 2, 3]"), 1);
    assert_int_equal(otpc_match(tx(), "\"\\001\\002\\003\""), 0); /* \001 is no escape */
    reset();
    assert_int_equal(otpc_x_format(&X, "#{a => 1, \"k\" => {x}}"), 0);
    assert_int_equal(ei_x_encode_map_header(&E, 2), 0);
    assert_int_equal(ei_x_encode_atom(&E, "a"), 0);
    assert_int_equal(ei_x_encode_long(&E, 1), 0);
    assert_int_equal(ei_x_encode_string(&E, "k"), 0);
    assert_int_equal(ei_x_encode_tuple_header(&E, 1), 0);
    assert_int_equal(ei_x_encode_atom(&E, "x"), 0);
    same();
    /* a tuple of 300: LARGE_TUPLE_EXT */
    static char f[2000];
    strcpy(f, "{~i");
    for (int k = 1; k < 300; k++)
        strcat(f, ", 7");
    strcat(f, "}");
    reset();
    assert_int_equal(ei_x_encode_tuple_header(&E, 300), 0);
    for (int k = 0; k < 300; k++)
        assert_int_equal(ei_x_encode_long(&E, 7), 0);
    assert_int_equal(otpc_x_format(&X, f, 7), 0);
    assert_int_equal(otpc_match(tx(), f, NULL), 1);
    same();
}

/* ---- building conversions --------------------------------------------------------- */

static void build_conversions(void **state)
{
    (void)state;
    reset();
    assert_int_equal(otpc_x_format(&X, "[~a, ~s, ~b, ~l, ~u, ~i, ~d]", "at\xc3\xa9", "str", "bin",
                                   (size_t)3, -5L, ULONG_MAX, INT_MIN, 2.5),
                     0);
    assert_int_equal(ei_x_encode_list_header(&E, 7), 0);
    assert_int_equal(ei_x_encode_atom_len_as(&E, "at\xc3\xa9", 4, ERLANG_UTF8, ERLANG_UTF8), 0);
    assert_int_equal(ei_x_encode_string(&E, "str"), 0);
    assert_int_equal(ei_x_encode_binary(&E, "bin", 3), 0);
    assert_int_equal(ei_x_encode_long(&E, -5), 0);
    assert_int_equal(ei_x_encode_ulong(&E, ULONG_MAX), 0);
    assert_int_equal(ei_x_encode_long(&E, INT_MIN), 0);
    assert_int_equal(ei_x_encode_double(&E, 2.5), 0);
    assert_int_equal(ei_x_encode_empty_list(&E), 0);
    same();
    /* ~t: with and without the version byte */
    ei_x_buff t;
    assert_int_equal(ei_x_new_with_version(&t), 0);
    assert_int_equal(ei_x_encode_tuple_header(&t, 1), 0);
    assert_int_equal(ei_x_encode_atom(&t, "x"), 0);
    otpc_term_t v = otpc_term_x(&t), r = {t.buff + 1, (size_t)t.index - 1};
    reset();
    assert_int_equal(otpc_x_format(&X, "{~t, ~t}", v, r), 0);
    assert_int_equal(ei_x_encode_tuple_header(&E, 2), 0);
    eraw(t.buff + 1, (size_t)t.index - 1);
    eraw(t.buff + 1, (size_t)t.index - 1);
    same();
    /* a ~t that is not one term */
    otpc_term_t cut = {t.buff, (size_t)t.index - 1}, none = {NULL, 0}, ver = {t.buff, 1};
    otpc_term_t two = {t.buff + 1, 0};
    reset();
    assert_int_equal(otpc_x_format(&X, "{a, ~t}", cut), OTPC_EINVAL);
    assert_int_equal(otpc_x_format(&X, "{a, ~t}", none), OTPC_EINVAL);
    assert_int_equal(otpc_x_format(&X, "{a, ~t}", ver), OTPC_EINVAL);
    assert_int_equal(otpc_x_format(&X, "{a, ~t}", two), OTPC_EINVAL);
    assert_int_equal(X.index, 1);
    ei_x_free(&t);
    /* arguments that are refused */
    assert_int_equal(otpc_x_format(&X, "~a", (const char *)NULL), OTPC_EINVAL);
    assert_int_equal(otpc_x_format(&X, "~s", (const char *)NULL), OTPC_EINVAL);
    assert_int_equal(otpc_x_format(&X, "~d", NAN), OTPC_EINVAL);
    assert_int_equal(otpc_x_format(&X, "~d", INFINITY), OTPC_EINVAL);
    assert_int_equal(otpc_x_format(&X, "{~p}", (otpc_proc_t *)NULL, (otpc_pid_t *)NULL),
                     OTPC_EINVAL);
    assert_int_equal(X.index, 1);
}

/* ---- matching --------------------------------------------------------------------- */

static void match_literals(void **state)
{
    (void)state;
    reset();
    assert_int_equal(ei_x_encode_tuple_header(&E, 6), 0);
    assert_int_equal(ei_x_encode_atom(&E, "ok"), 0);
    assert_int_equal(ei_x_encode_long(&E, -300), 0);
    assert_int_equal(ei_x_encode_string(&E, "hi"), 0);
    assert_int_equal(ei_x_encode_binary(&E, "b\0", 2), 0);
    assert_int_equal(ei_x_encode_list_header(&E, 1), 0);
    assert_int_equal(ei_x_encode_atom(&E, "x y"), 0);
    assert_int_equal(ei_x_encode_empty_list(&E), 0);
    assert_int_equal(ei_x_encode_map_header(&E, 0), 0);
    assert_int_equal(otpc_match(te(), "{ok, -300, \"hi\", <<\"b\\0\">>, ['x y'], #{}}"), 0);
    assert_int_equal(otpc_match(te(), "{ok, -300, \"hi\", <<\"b\">>, ['x y'], #{}}"), 0);
    /* NUL in a binary literal cannot be written: compare through ~b */
    const char *bp;
    size_t bn;
    assert_int_equal(otpc_match(te(), "{ok, -300, \"hi\", ~b, ['x y'], #{}}", &bp, &bn), 1);
    assert_int_equal(bn, 2);
    assert_memory_equal(bp, "b\0", 2);
    assert_int_equal(otpc_match(te(), "{ok, -300, \"hi\", _, ['x y'], #{}}"), 1);
    assert_int_equal(otpc_match(te(), "{_, _, _, _, _, _}"), 1);
    assert_int_equal(otpc_match(te(), "_"), 1);
    assert_int_equal(otpc_match(te(), "_Whole"), 1);
    /* each part wrong once */
    const char *no[] = {
        "{ok, -300, \"hi\", _, ['x y']}",         "{ok, -300, \"hi\", _, ['x y'], #{}, x}",
        "{ko, -300, \"hi\", _, ['x y'], #{}}",    "{ok, 300, \"hi\", _, ['x y'], #{}}",
        "{ok, -300, \"h\", _, ['x y'], #{}}",     "{ok, -300, \"hii\", _, ['x y'], #{}}",
        "{ok, -300, \"hi\", <<>>, ['x y'], #{}}", "{ok, -300, \"hi\", _, ['x y', z], #{}}",
        "{ok, -300, \"hi\", _, [], #{}}",         "{ok, -300, \"hi\", _, ['x y'], []}",
        "{ok, -300, hi, _, ['x y'], #{}}",        "[ok, -300, \"hi\", _, ['x y'], #{}]",
        "{ok, -300, \"hi\", _, {'x y'}, #{}}",    "{ok, -300, \"hi\", _, ['x y'], #{a => 1}}",
    };
    for (size_t k = 0; k < sizeof no / sizeof *no; k++) {
        assert_null(match_why(te(), no[k]));
        assert_int_equal(otpc_match(te(), no[k]), 0);
    }
    /* an atom sent in latin-1 (ATOM_EXT) matches the UTF-8 literal */
    reset();
    eraw((const char[]){ERL_ATOM_EXT, 0, 4, 'c', 'a', 'f', (char)0xe9}, 7);
    assert_int_equal(otpc_match(te(), "'caf\xc3\xa9'"), 1);
    assert_int_equal(otpc_match(te(), "caf"), 0);
    /* an integer as a small big */
    reset();
    eraw((const char[]){ERL_SMALL_BIG_EXT, 1, 1, 5}, 4); /* -5 */
    assert_int_equal(otpc_match(te(), "-5"), 1);
    assert_int_equal(otpc_match(te(), "5"), 0);
    /* a string as a list of integers, and chained through a tail */
    reset();
    assert_int_equal(ei_x_encode_list_header(&E, 1), 0);
    assert_int_equal(ei_x_encode_long(&E, 'h'), 0);
    assert_int_equal(ei_x_encode_string(&E, "i"), 0);
    assert_int_equal(otpc_match(te(), "\"hi\""), 1);
    assert_int_equal(otpc_match(te(), "[104, 105]"), 1);
    assert_int_equal(otpc_match(te(), "[104 | _]"), 1);
    assert_int_equal(otpc_match(te(), "[104, 105 | _]"), 1);
    assert_int_equal(otpc_match(te(), "[104, 105, _ | _]"), 0);
    assert_int_equal(otpc_match(te(), "\"h\""), 0);
    /* an empty STRING_EXT is [] */
    reset();
    eraw((const char[]){ERL_STRING_EXT, 0, 0}, 3);
    assert_int_equal(otpc_match(te(), "[]"), 1);
    assert_int_equal(otpc_match(te(), "\"\""), 1);
    /* an improper list */
    reset();
    assert_int_equal(otpc_x_format(&X, "[a | b]"), 0);
    assert_int_equal(otpc_match(tx(), "[a]"), 0);
    assert_int_equal(otpc_match(tx(), "[a | _]"), 1);
    assert_int_equal(otpc_match(tx(), "[a, b]"), 0);
    assert_int_equal(otpc_match(tx(), "[_, _ | _]"), 0);
}

static void match_conversions(void **state)
{
    (void)state;
    reset();
    assert_int_equal(otpc_x_format(&E, "{nested, [1]}"), 0);
    assert_int_equal(otpc_x_format(&X, "{~a, ~s, ~b, ~l, ~u, ~i, ~d, ~t}", "at",
                                   "caf\xc3\xa9\xe2\x82\xac", "bi\0n", (size_t)4, LONG_MIN,
                                   ULONG_MAX, INT_MAX, -0.25, otpc_term_x(&E)),
                     0);
    char a[MAXATOMLEN_UTF8], s[16];
    const char *b;
    size_t bn;
    long l;
    unsigned long u;
    int i;
    double d;
    otpc_term_t t;
    assert_int_equal(otpc_match(tx(), "{~a, ~s, ~b, ~l, ~u, ~i, ~d, ~t}", a, s, sizeof s, &b, &bn,
                                &l, &u, &i, &d, &t),
                     1);
    assert_string_equal(a, "at");
    assert_string_equal(s, "caf\xc3\xa9\xe2\x82\xac");
    assert_int_equal(bn, 4);
    assert_memory_equal(b, "bi\0n", 4);
    assert_true(b > X.buff && b + bn <= X.buff + X.index); /* borrowed from the term */
    assert_true(l == LONG_MIN && u == ULONG_MAX && i == INT_MAX && d == -0.25);
    assert_true(t.data > X.buff && t.data + t.size == X.buff + X.index);
    assert_int_equal(t.size, (size_t)E.index - 1);
    assert_memory_equal(t.data, E.buff + 1, t.size);
    /* NULL outputs: checked, not stored */
    assert_int_equal(otpc_match(tx(), "{~a, ~s, ~b, ~l, ~u, ~i, ~d, ~t}", NULL, NULL, (size_t)0,
                                NULL, NULL, NULL, NULL, NULL, NULL, NULL),
                     1);
    /* ~s needs room for the text and its NUL: "café€" is 8 bytes */
    assert_int_equal(otpc_match(tx(), "{_, ~s, _, _, _, _, _, _}", s, (size_t)9), 1);
    assert_int_equal(otpc_match(tx(), "{_, ~s, _, _, _, _, _, _}", s, (size_t)8), 0);
    /* types that do not convert */
    assert_int_equal(otpc_match(tx(), "{_, _, _, _, _, _, ~l, _}", &l), 0); /* a float */
    assert_int_equal(otpc_match(tx(), "{_, _, _, _, _, ~d, _, _}", &d), 0); /* an integer */
    assert_int_equal(otpc_match(tx(), "{_, _, _, ~u, _, _, _, _}", &u), 0); /* negative */
    assert_int_equal(otpc_match(tx(), "{_, _, _, ~i, _, _, _, _}", &i), 0); /* past int */
    assert_int_equal(otpc_match(tx(), "{_, _, _, _, ~l, _, _, _}", &l), 0); /* past long */
    assert_int_equal(otpc_match(tx(), "{~s, _, _, _, _, _, _, _}", s, sizeof s), 0); /* atom */
    assert_int_equal(otpc_match(tx(), "{_, ~a, _, _, _, _, _, _}", a), 0);
    assert_int_equal(otpc_match(tx(), "{_, ~b, _, _, _, _, _, _}", &b, &bn), 0);
    assert_int_equal(otpc_match(tx(), "{_, _, ~s, _, _, _, _, _}", s, sizeof s), 0);
    /* ~s takes [] and a list of code points; not a binary, not an improper list, no NUL,
     * no surrogate */
    const char *strs[] = {"[]", "[0]", "[55296]", "[1114112]", "[-1]", "[97 | 98]", "[a]"};
    const int ok[] = {1, 0, 0, 0, 0, 0, 0};
    for (size_t k = 0; k < sizeof strs / sizeof *strs; k++) {
        reset();
        assert_int_equal(otpc_x_format(&X, strs[k]), 0);
        s[0] = 'x';
        assert_int_equal(otpc_match(tx(), "~s", s, sizeof s), ok[k]);
        if (ok[k])
            assert_string_equal(s, "");
    }
    /* an atom holding NUL is not a C string */
    reset();
    eraw((const char[]){ERL_SMALL_ATOM_UTF8_EXT, 3, 'a', 0, 'b'}, 5);
    assert_int_equal(otpc_match(te(), "~a", a), 0);
    assert_int_equal(otpc_match(te(), "a"), 0);
    assert_int_equal(otpc_match(te(), "'a\\0b'"), 0); /* no \0 escape: malformed */
    /* an atom whose text is not UTF-8 (no BEAM node sends one) */
    reset();
    eraw((const char[]){ERL_SMALL_ATOM_UTF8_EXT, 3, 'a', (char)0xc3, 'b'}, 5);
    assert_int_equal(otpc_match(te(), "~a", a), 0);
    assert_int_equal(otpc_match(te(), "_"), 1);
    /* NaN and infinity can be encoded, but are no Erlang floats */
    const double inf = INFINITY, nan = NAN;
    for (int k = 0; k < 2; k++) {
        char f[9] = {NEW_FLOAT_EXT};
        uint64_t bits;
        memcpy(&bits, k ? &nan : &inf, 8);
        otpc__put_u64(f + 1, bits);
        reset();
        eraw(f, 9);
        assert_int_equal(otpc_match(te(), "~d", &d), 0);
        assert_int_equal(otpc_match(te(), "_"), 1);
    }
    /* an element of a list sent as bytes: ~t views static storage, and matches again */
    reset();
    assert_int_equal(ei_x_encode_string(&E, "az"), 0);
    assert_int_equal(otpc_match(te(), "[_, ~t]", &t), 1);
    assert_int_equal(otpc_match(t, "122"), 1);
    assert_int_equal(otpc_match(t, "~i", &i), 1);
    assert_int_equal(i, 'z');
}

static void ignore(otpc_proc_t *self, otpc_term_t msg)
{
    (void)self;
    (void)msg;
}

static otpc_node_t *node_new(otpc_proc_t **self)
{
    static const otpc_proc_ops_t ops = {.name = "p", .handle = ignore};
    otpc_node_opts_t o = {.name = "t@localhost", .cookie = "c"};
    otpc_node_t *n = NULL;
    otpc_pid_t pid;
    assert_int_equal(otpc_node_new(&n, &o), 0);
    n->creation = 7;
    assert_int_equal(otpc_spawn(n, &ops, NULL, &pid), 0);
    *self = otpc__proc_lookup(n, &pid);
    assert_non_null(*self);
    return n;
}

static void pids_and_refs(void **state)
{
    (void)state;
    otpc_proc_t *self;
    otpc_node_t *n = node_new(&self);
    otpc_pid_t me = otpc_self(self), p;
    otpc_ref_t ref, r2;
    assert_int_equal(otpc_make_ref(self, &ref), 0);
    reset();
    assert_int_equal(otpc_x_format(&X, "{~p, ~r}", self, &me, self, &ref), 0);
    assert_int_equal(ei_x_encode_tuple_header(&E, 2), 0);
    assert_int_equal(otpc_x_encode_pid(self, &E, &me), 0);
    assert_int_equal(otpc_x_encode_ref(self, &E, &ref), 0);
    same();
    assert_int_equal(otpc_match(tx(), "{~p, ~r}", self, &p, self, &r2), 1);
    assert_true(otpc_pid_eq(&p, &me));
    assert_true(otpc_ref_eq(&r2, &ref));
    assert_int_equal(otpc_match(tx(), "{~r, _}", self, &r2), 0);
    assert_int_equal(otpc_match(tx(), "{_, ~p}", self, &p), 0);
    assert_int_equal(otpc_match(tx(), "{~p, ~r}", self, NULL, self, NULL), 1);
    /* self is required */
    assert_int_equal(match_why(tx(), "{~p, _}", (otpc_proc_t *)NULL, &p) != NULL, 1);
    /* a pid from ei (another node's name) */
    erlang_pid ep = {.num = 1, .serial = 2, .creation = 3};
    strcpy(ep.node, "other@host");
    reset();
    assert_int_equal(ei_x_encode_pid(&E, &ep), 0);
    assert_int_equal(otpc_match(te(), "~p", self, &p), 1);
    assert_string_equal(otpc__atom_name(&n->atoms, p.node), "other@host");
    assert_true(p.num == 1 && p.serial == 2 && p.creation == 3);
    X.index = 1; /* the same bytes as ei's */
    assert_int_equal(otpc_x_format(&X, "~p", self, &p), 0);
    same();
    ref.len = 0;
    assert_int_equal(otpc_x_format(&X, "~r", self, &ref), OTPC_EINVAL);
    otpc_node_free(n);
}

static void maps(void **state)
{
    (void)state;
    reset();
    assert_int_equal(otpc_x_format(&X, "#{a => 1, {k} => [x], \"s\" => <<\"b\">>, 7 => ~l}", 9L),
                     0);
    long v;
    const char *b;
    size_t bn;
    otpc_term_t t;
    /* a map with at least these keys, in any order, with => or := */
    assert_int_equal(otpc_match(tx(), "#{}"), 1);
    assert_int_equal(otpc_match(tx(), "#{7 := ~l}", &v), 1);
    assert_int_equal(v, 9);
    assert_int_equal(otpc_match(tx(), "#{\"s\" => ~b, a => 1, {k} := ~t}", &b, &bn, &t), 1);
    assert_int_equal(bn, 1);
    assert_int_equal(otpc_match(t, "[x]"), 1);
    assert_int_equal(otpc_match(tx(), "#{a => 2}"), 0);
    assert_int_equal(otpc_match(tx(), "#{b => _}"), 0);
    assert_int_equal(otpc_match(tx(), "#{a => 1, b => _}"), 0);
    assert_int_equal(otpc_match(tx(), "{a, 1}"), 0);
    /* the arguments of a value's conversions are taken once, found or not */
    long w = 5;
    assert_int_equal(otpc_match(tx(), "#{b => ~l, 7 => ~l}", &v, &w), 0);
    assert_int_equal(otpc_match(tx(), "{#{b => ~l}, ~l}", &v, &w), 0);
    /* nested */
    reset();
    assert_int_equal(otpc_x_format(&X, "#{cfg => #{port => 80, tls => false}}"), 0);
    assert_int_equal(otpc_match(tx(), "#{cfg := #{port := ~l}}", &v), 1);
    assert_int_equal(v, 80);
    assert_int_equal(otpc_match(tx(), "#{cfg := #{tls := true}}"), 0);
    /* keys are literals */
    assert_non_null(match_why(tx(), "#{~a => _}", NULL));
    assert_non_null(match_why(tx(), "#{_ => 1}"));
    assert_non_null(match_why(tx(), "#{[a | _] => 1}"));
    assert_non_null(match_why(tx(), "#{a}"));
    assert_non_null(match_why(tx(), "#{a => 1,}"));
    assert_non_null(match_why(tx(), "#{a => 1"));
    /* build: => only */
    assert_int_equal(build_rc("#{a := 1}"), OTPC_EINVAL);
}

/* ---- round trips --------------------------------------------------------------------- */

static void round_trips(void **state)
{
    (void)state;
    const char *fmt = "{reply, [~a, ~s | ~t], #{id => ~u, <<\"n\">> => ~i}, ~b, {~l, ~d}}";
    ei_x_buff tail;
    assert_int_equal(ei_x_new_with_version(&tail), 0);
    assert_int_equal(ei_x_encode_list_header(&tail, 1), 0);
    assert_int_equal(ei_x_encode_atom(&tail, "t"), 0);
    assert_int_equal(ei_x_encode_empty_list(&tail), 0);
    reset();
    assert_int_equal(otpc_x_format(&X, fmt, "\xe2\x82\xac", "\xf0\x9f\x98\x80 ok",
                                   otpc_term_x(&tail), 42UL, -42, "\x01\x02", (size_t)2, 123456789L,
                                   1e300),
                     0);
    /* a list with a tail that is a list is the flat list */
    assert_int_equal(otpc_match(tx(), "{reply, [_, _, t], _, _, _}"), 1);
    char a[MAXATOMLEN_UTF8], s[32];
    const char *b;
    size_t bn;
    unsigned long u;
    int i;
    long l;
    double d;
    assert_int_equal(otpc_match(tx(),
                                "{reply, [~a, ~s | _], #{<<\"n\">> => ~i, id => ~u}, ~b, {~l, ~d}}",
                                a, s, sizeof s, &i, &u, &b, &bn, &l, &d),
                     1);
    assert_string_equal(a, "\xe2\x82\xac");
    assert_string_equal(s, "\xf0\x9f\x98\x80 ok");
    assert_true(u == 42 && i == -42 && bn == 2 && memcmp(b, "\x01\x02", 2) == 0);
    assert_true(l == 123456789L && d == 1e300);
    /* and back again: the same bytes */
    ei_x_buff y;
    assert_int_equal(ei_x_new_with_version(&y), 0);
    assert_int_equal(otpc_x_format(&y, fmt, a, s, otpc_term_x(&tail), u, i, b, bn, l, d), 0);
    assert_int_equal(y.index, X.index);
    assert_memory_equal(y.buff, X.buff, (size_t)X.index);
    ei_x_free(&y);
    ei_x_free(&tail);
}

/* ---- malformed formats --------------------------------------------------------------- */

static void malformed(void **state)
{
    (void)state;
    reset();
    assert_int_equal(otpc_x_format(&X, "ok"), 0);
    const char *bad[] = {
        "",       "   ",      "{",        "}",          "{a",     "{a,}", "{,}",
        "[a,]",   "[a | ]",   "[| a]",    "[a | b, c]", "[a | b", "#{",   "#{a}",
        "#a",     "#{a => }", "a b",      "{a} b",      "X",      "Var",  "'open",
        "\"open", "'\\q'",    "~",        "~z",         "~A",     "1.0",  "0x1f",
        "<<",     "<<\"a\"",  "<<\"a\">", "=",          ":",      "=>",   "a => b",
        "{a b}",  "[a b]",    "'a' 'b'",  "$a",         "!",      "{a}}", "]",
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        int before = X.index;
        assert_int_equal(build_rc(bad[k]), OTPC_EINVAL);
        assert_int_equal(X.index, before);
        assert_non_null(match_why(tx(), bad[k]));
        assert_int_equal(otpc_match(tx(), bad[k]), 0); /* logged, never a match */
    }
    /* a malformed part after a mismatch is still found */
    assert_non_null(match_why(tx(), "{x, ~z}"));
    assert_non_null(match_why(tx(), "{ok, ~l} trailing", NULL));
    /* _ and := are for matching; | _ tails, and nothing else, in a match */
    assert_int_equal(build_rc("{_, a}"), OTPC_EINVAL);
    assert_int_equal(build_rc("_Name"), OTPC_EINVAL);
    assert_non_null(match_why(tx(), "[a | b]"));
    assert_non_null(match_why(tx(), "[a | ~t]", NULL));
    /* nesting is bounded */
    char deep[300];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    deep[200] = 0;
    assert_int_equal(build_rc(deep), OTPC_EINVAL);
    assert_non_null(match_why(tx(), deep));
    memset(deep, '{', 64);
    memset(deep + 64, '}', 64);
    deep[128] = 0;
    assert_int_equal(build_rc(deep), 0);
    assert_null(match_why(tx(), deep));
    /* NULL format */
    assert_int_equal(otpc_x_format(&X, NULL), OTPC_EINVAL);
    assert_int_equal(otpc_match(tx(), NULL), 0);
}

/* ---- hostile and truncated terms -------------------------------------------------- */

/* n bytes flush against an inaccessible page: a read past them faults, in libei too
 * (which ASan does not instrument). */
static char *guarded(const void *p, size_t n, void **map, size_t *len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    *len = (n + page - 1) / page * page + page;
    char *m = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(m != MAP_FAILED);
    assert_int_equal(mprotect(m + *len - page, page, PROT_NONE), 0);
    *map = m;
    char *at = m + *len - page - n;
    memcpy(at, p, n);
    return at;
}

/* t cut at every length, each cut flush against a guard page. */
static void cuts(otpc_term_t t, const char *fmt)
{
    for (size_t k = 0; k < t.size; k++) {
        void *map;
        size_t len;
        otpc_term_t ct = {guarded(t.data, k, &map, &len), k};
        char a[MAXATOMLEN_UTF8], s[64];
        const char *b;
        size_t bn;
        long l;
        otpc_term_t v;
        assert_int_equal(otpc_match(ct, fmt, a, s, sizeof s, &b, &bn, &l, &v), 0);
        assert_int_equal(otpc_match(ct, "_"), 0);
        munmap(map, len);
    }
}

static void truncated(void **state)
{
    (void)state;
    const char *fmt = "{~a, [~s | _], #{k => ~b}, ~l, ~t}";
    reset();
    assert_int_equal(otpc_x_format(&X, "{~a, [~s, x], #{k => ~b}, ~l, {x, ~d}}", "atom", "string",
                                   "bin", (size_t)3, LONG_MAX, 2.0),
                     0);
    assert_int_equal(otpc_match(tx(), fmt, NULL, NULL, (size_t)0, NULL, NULL, NULL, NULL), 1);
    cuts(tx(), fmt);
    /* and without the version byte */
    cuts((otpc_term_t){X.buff + 1, (size_t)X.index - 1}, fmt);
    /* one byte more is not one term either */
    assert_int_equal(ei_x_encode_atom(&X, "x"), 0);
    assert_int_equal(otpc_match(tx(), "_"), 0);
}

static void hostile(void **state)
{
    (void)state;
    /* a tuple, list, map and string announcing more than there is */
    const char heads[][6] = {
        {(char)131, ERL_LARGE_TUPLE_EXT, 0x7f, (char)0xff, (char)0xff, (char)0xff},
        {(char)131, ERL_LIST_EXT, (char)0xff, (char)0xff, (char)0xff, (char)0xff},
        {(char)131, ERL_MAP_EXT, 0x10, 0, 0, 0},
        {(char)131, ERL_STRING_EXT, (char)0xff, (char)0xff, 'a', 'b'},
        {(char)131, ERL_BINARY_EXT, 0, 0, 0, 9},
        {(char)131, ERL_SMALL_TUPLE_EXT, 2, ERL_NIL_EXT, ERL_NIL_EXT, ERL_NIL_EXT},
    };
    for (size_t k = 0; k < sizeof heads / sizeof *heads; k++) {
        char *c = malloc(6);
        memcpy(c, heads[k], 6);
        otpc_term_t t = {c, 6};
        assert_int_equal(otpc_match(t, "_"), 0);
        assert_int_equal(otpc_match(t, "{_, _}"), 0);
        assert_int_equal(otpc_match(t, "[_ | _]"), 0);
        assert_int_equal(otpc_match(t, "#{a => _}"), 0);
        assert_int_equal(otpc_match(t, "~s", NULL, (size_t)0), 0);
        free(c);
    }
    /* a list nested 200000 deep: walked without recursion, matched only as deep as the
     * format goes */
    size_t depth = 200000;
    otpc__buf_t b = {0};
    assert_int_equal(otpc__buf_append(&b, "\x83", 1), 0);
    for (size_t k = 0; k < depth; k++)
        assert_int_equal(otpc__buf_append(&b, "l\0\0\0\1", 5), 0);
    assert_int_equal(otpc__buf_append(&b, "j", 1), 0);
    for (size_t k = 0; k < depth; k++)
        assert_int_equal(otpc__buf_append(&b, "j", 1), 0);
    otpc_term_t t = {b.data, b.len};
    otpc_term_t v;
    assert_int_equal(otpc_match(t, "_"), 1);
    assert_int_equal(otpc_match(t, "[[~t]]", &v), 1);
    assert_int_equal(v.size, b.len - 1 - 10 - 2);
    assert_int_equal(otpc_match(t, "[[[]]]"), 0);
    otpc__buf_free(&b);
    /* a map of 10000 keys against a pattern of keys none of them has */
    assert_int_equal(otpc__buf_append(&b, "\x83t\0\0\x27\x10", 6), 0);
    for (int k = 0; k < 10000; k++) {
        char e[10] = {ERL_INTEGER_EXT};
        otpc__put_u32(e + 1, (uint32_t)k);
        e[5] = ERL_NIL_EXT;
        assert_int_equal(otpc__buf_append(&b, e, 6), 0);
    }
    t = (otpc_term_t){b.data, b.len};
    assert_int_equal(otpc_match(t, "#{a => _, 9999 => []}"), 0);
    assert_int_equal(otpc_match(t, "#{9999 => [], 0 := []}"), 1);
    otpc__buf_free(&b);
}

/* ---- out of memory --------------------------------------------------------------- */

static void out_of_memory(void **state)
{
    (void)state;
    const char *fmt = "{ok, [~a, \"str\", <<\"bin\">> | ~t], #{~s => ~b}, 'long atom'}";
    int appends = 0;
    for (int k = 1;; k++) {
        reset();
        assert_int_equal(otpc_x_format(&X, "keep"), 0);
        assert_int_equal(otpc_x_format(&E, "[t]"), 0);
        int before = X.index;
        fail_in = k;
        int rc = otpc_x_format(&X, fmt, "a", otpc_term_x(&E), "s", "b", (size_t)1);
        if (rc == 0) {
            appends = k - 1;
            fail_in = 0;
            break;
        }
        assert_int_equal(rc, OTPC_ENOMEM);
        assert_int_equal(X.index, before); /* nothing of the term left */
    }
    assert_true(appends >= 8);
    assert_int_equal(otpc_match(tx(), "keep"), 0);
}

/* ---- the gen_server shortcuts ------------------------------------------------------- */

static otpc_action_t srv_call(otpc_proc_t *self, otpc_term_t req, otpc_from_t *from, otpc_ret_t *r)
{
    (void)self;
    (void)from;
    long k;
    char why[MAXATOMLEN_UTF8];
    if (otpc_match(req, "{add, ~l}", &k))
        return otpc_reply_format(r, "{ok, ~l}", k + 1);
    if (otpc_match(req, "{stop, ~a}", why))
        return otpc_stop_format(r, "{shutdown, ~a}", why);
    return otpc_reply_format(r, "{ok, ~z}");
}

static const otpc_gen_server_t srv = {.name = "srv", .handle_call = srv_call};

static otpc_pid_t server;
static ei_x_buff last;
static const char *request;

static int caller_init(otpc_proc_t *self, void *arg)
{
    (void)arg;
    otpc_ref_t ref;
    ei_x_buff x;
    otpc_pid_t me = otpc_self(self);
    int rc = otpc_monitor(self, &server, &ref) || ei_x_new_with_version(&x) ||
             otpc_x_format(&x, request, self, &me);
    if (rc == 0)
        rc = otpc_send(self, &server, otpc_term_x(&x));
    ei_x_free(&x);
    return rc;
}

/* Keeps the first message. After a reply it stops the server (a node that never ran
 * frees no live process's parts), and it exits at the server's DOWN. */
static void caller_handle(otpc_proc_t *self, otpc_term_t msg)
{
    static const char normal[] = {(char)131, ERL_SMALL_ATOM_UTF8_EXT, 6, 'n', 'o', 'r', 'm', 'a',
                                  'l'};
    if (last.index == 0)
        assert_int_equal(__real_ei_x_append_buf(&last, msg.data, (int)msg.size), 0);
    if (otpc_match(msg, "{tag, _}")) {
        ei_x_buff x;
        otpc_pid_t me = otpc_self(self);
        assert_int_equal(ei_x_new_with_version(&x), 0);
        assert_int_equal(otpc_x_format(&x, "{'$gen_call', {~p, tag2}, {stop, done}}", self, &me),
                         0);
        assert_int_equal(otpc_send(self, &server, otpc_term_x(&x)), 0);
        ei_x_free(&x);
    } else {
        otpc_exit(self, (otpc_term_t){normal, sizeof normal});
    }
}

static const otpc_proc_ops_t caller_ops = {
    .name = "caller", .init = caller_init, .handle = caller_handle};

/* Start a server, call it with the request; the messages the caller got, in last. */
static otpc_node_t *call(const char *req)
{
    otpc_node_opts_t o = {.name = "t@localhost", .cookie = "c"};
    otpc_node_t *n = NULL;
    otpc_pid_t caller;
    otpc_term_t none = {NULL, 0};
    assert_int_equal(otpc_node_new(&n, &o), 0);
    n->creation = 1;
    assert_int_equal(otpc_gen_server_start(n, &srv, none, NULL, &server), 0);
    last.index = 0;
    request = req;
    assert_int_equal(otpc_spawn(n, &caller_ops, NULL, &caller), 0);
    for (int k = 0; k < 8; k++)
        otpc__run_queue(n, 1000);
    return n;
}

static void gen_server_shortcuts(void **state)
{
    (void)state;
    assert_int_equal(ei_x_new(&last), 0);
    otpc_node_t *n = call("{'$gen_call', {~p, tag}, {add, 41}}");
    assert_int_equal(otpc_match(otpc_term_x(&last), "{tag, {ok, 42}}"), 1);
    otpc_node_free(n);
    n = call("{'$gen_call', {~p, tag}, {stop, bye}}");
    /* the reply-less stop: only DOWN with the formatted reason */
    assert_int_equal(otpc_match(otpc_term_x(&last), "{'DOWN', _, process, _, {shutdown, bye}}"), 1);
    otpc_node_free(n);
    n = call("{'$gen_call', {~p, tag}, other}");
    assert_int_equal(otpc_match(otpc_term_x(&last),
                                "{'DOWN', _, process, _, {bad_return_value, malformed_term}}"),
                     1);
    otpc_node_free(n);
    ei_x_free(&last);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(build_atoms),      cmocka_unit_test(build_integers),
        cmocka_unit_test(build_strings),    cmocka_unit_test(build_binaries),
        cmocka_unit_test(build_containers), cmocka_unit_test(build_conversions),
        cmocka_unit_test(match_literals),   cmocka_unit_test(match_conversions),
        cmocka_unit_test(pids_and_refs),    cmocka_unit_test(maps),
        cmocka_unit_test(round_trips),      cmocka_unit_test(malformed),
        cmocka_unit_test(truncated),        cmocka_unit_test(hostile),
        cmocka_unit_test(out_of_memory),    cmocka_unit_test(gen_server_shortcuts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
