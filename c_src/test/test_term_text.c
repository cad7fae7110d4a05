/*
 * Unit tests of proto/term_text.h, Erlang terms written as text (-ssl_dist_optfile).
 *
 * The bytes expected for each accepted form are those of term_to_binary(T,
 * [{minor_version, 2}]) for the term OTP 25's ssl_dist_sup:consult/1 reads from the same
 * text (erl_scan, erl_parse, erl_eval), taken once from erl. Every input is parsed from
 * an exact-size heap copy, so ASan sees any read past its end. Refusals are pinned down
 * by their whole one-line reason, line number included; the buffer a failed parse was
 * given must be left as it was.
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

#include "proto/term.h"
#include "proto/term_text.h"
#include "otpc.h"

/* ---- helpers ------------------------------------------------------------------------- */

/* Parse text[0..len) from an exact-size heap copy into x (versioned, made here). */
static int parse_n(const char *text, size_t len, ei_x_buff *x, char *err, size_t errcap)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    assert_int_equal(ei_x_new_with_version(x), 0);
    int rc = otpc__term_text_parse(copy, len, x, err, errcap);
    free(copy);
    return rc;
}

static int parse(const char *text, ei_x_buff *x, char *err, size_t errcap)
{
    return parse_n(text, strlen(text), x, err, errcap);
}

static void to_hex(const ei_x_buff *x, char *out, size_t cap)
{
    out[0] = 0;
    for (int i = 0; i < x->index && (size_t)(2 * i + 3) <= cap; i++)
        snprintf(out + 2 * i, 3, "%02x", (unsigned char)x->buff[i]);
}

/* The text is accepted and gives exactly these bytes (hex, version byte included), a
 * term the walker accepts whole. */
static void check_bytes(const char *what, const char *text, size_t len, const char *hex)
{
    ei_x_buff x;
    char err[200], got[4096];
    int rc = parse_n(text, len, &x, err, sizeof err);
    if (rc != 0)
        fail_msg("%s: refused: %s", what, err);
    to_hex(&x, got, sizeof got);
    if (strcmp(got, hex) != 0)
        fail_msg("%s: got %s, want %s", what, got, hex);
    size_t used = 0;
    assert_int_equal(otpc__term_skip_versioned(x.buff, (size_t)x.index, &used), 0);
    assert_int_equal(used, (size_t)x.index);
    ei_x_free(&x);
}

/* The text is refused with this reason; x keeps only its version byte. */
static void check_refused(const char *text, size_t len, const char *why)
{
    ei_x_buff x;
    char err[200];
    int rc = parse_n(text, len, &x, err, sizeof err);
    if (rc != OTPC_EINVAL)
        fail_msg("accepted (%d): %.60s", rc, text);
    if (strcmp(err, why) != 0)
        fail_msg("%.60s: got \"%s\", want \"%s\"", text, err, why);
    assert_int_equal(x.index, 1);
    ei_x_free(&x);
}

/* ---- what is accepted ---------------------------------------------------------------- */

static const struct {
    const char *what, *text, *hex;
} forms[] = {
    {"atom", "a.", "83770161"},
    {"quoted atom", "'hello world'.", "83770b68656c6c6f20776f726c64"},
    {"true is an atom", "true.", "83770474727565"},
    {"atom with @ and digits", "aB_9@x.", "83770661425f394078"},
    {"quoted escapes", "'a\\'b\\n'.", "8377046127620a"},
    {"string", "\"abc\".", "836b0003616263"},
    {"empty string", "\"\".", "836a"},
    {"adjacent strings", "\"a\" \"b\"  %c\n \"c\".", "836b0003616263"},
    {"string escapes", "\"\\n\\t\\r\\s\\\\\\\"\\'\\b\\f\\v\\e\\d\\z\".",
     "836b000d0a090d205c2227080c0b1b7f7a"},
    {"octal escapes", "\"\\101\\7\\777\".", "836c000000036141610762000001ff6a"},
    {"hex escapes", "\"\\x41\\x{41}\\x{1F600}\".", "836c0000000361416141620001f6006a"},
    {"control escapes", "\"\\^a\\^Z\".", "836b0002011a"},
    {"char above 255", "\"\\x{100}\".", "836c0000000162000001006a"},
    {"chars", "[$a, $\\n, $ , $\\x{41}].", "836b0004610a2041"},
    {"negative char", "-$a.", "8362ffffff9f"},
    {"empty list", "[].", "836a"},
    {"small ints list is a string", "[1,2,3].", "836b0003010203"},
    {"list", "[a, 256].", "836c0000000277016162000001006a"},
    {"tail spliced", "[1,2|[3]].", "836b0003010203"},
    {"string tail", "[1|\"ab\"].", "836b0003016162"},
    {"improper", "[a|b].", "836c00000001770161770162"},
    {"nested tails", "[$a|[$b|[$c]]].", "836b0003616263"},
    {"tail of lists", "[\"ab\"|\"cd\"].", "836c000000036b00026162616361646a"},
    {"improper inner", "[[1|2]|3].", "836c000000016c00000001610161026103"},
    {"nil tail", "[[]|[]].", "836c000000016a6a"},
    {"empty tuple", "{ }.", "836800"},
    {"tuple", "{a,b,c}.", "836803770161770162770163"},
    {"empty map", "#{ }.", "837400000000"},
    {"map", "#{a => 1, b => [2]}.", "83740000000277016161017701626b000102"},
    {"map keys by value", "#{1 => a, 1.0 => b}.", "8374000000026101770161463ff0000000000000770162"},
    {"empty binary", "<< >>.", "836d00000000"},
    {"binary text", "<<\"text\">>.", "836d0000000474657874"},
    {"binary bytes", "<<1,2,3>>.", "836d00000003010203"},
    {"binary mixed", "<<\"a\" \"b\", 1, $c, 16#ff>>.", "836d0000000561620163ff"},
    {"zero", "0.", "836100"},
    {"minus zero", "-0.", "836100"},
    {"255", "255.", "8361ff"},
    {"256", "256.", "836200000100"},
    {"-1", "- 1.", "8362ffffffff"},
    {"int32 min", "-2147483648.", "836280000000"},
    {"int32 max", "2147483647.", "83627fffffff"},
    {"above int32", "2147483648.", "836e040000000080"},
    {"below int32", "-2147483649.", "836e040101000080"},
    {"int64 max", "9223372036854775807.", "836e0800ffffffffffffff7f"},
    {"int64 min", "-9223372036854775808.", "836e08010000000000000080"},
    {"bignum", "-123456789012345678901234567890.", "836e0d01d20a3f4eeee073c3f60fe98e01"},
    {"bases", "[16#ff, 2#1010, 36#zz, 1_6#f_f].", "836c0000000461ff610a620000050f61ff6a"},
    {"separators", "1_000_000.", "8362000f4240"},
    {"leading zeros", "000012.", "83610c"},
    {"floats", "[1.5, -1.5, 1.0e10, 1.0E-3, 0.1, 1_000.000_1, 0.5e+3].",
     "836c00000007463ff800000000000046bff8000000000000464202a05f20000000463f50624dd2f1a9fc463fb9999"
     "99999999a46408f4000346dc5d646407f4000000000006a"},
    {"negative zero float", "-0.0.", "83468000000000000000"},
    {"float underflow", "1.0e-400.", "83460000000000000000"},
    {"comment and blank after the dot", "a.\t\r\n  %x\n", "83770161"},
    {"dot at the end", "a.", "83770161"},
    {"dot then comment", "a.%", "83770161"},
    {"newline in string", "\"ab\ncd\".", "836b000561620a6364"},
    {"quoted atom newline", "'a\\\nb'.", "837703610a62"},
    {"list across lines", "[a,\n b\n ,\n c |\n d].", "836c00000003770161770162770163770164"},
};

/* Each form gives term_to_binary's bytes. */
static void each_form(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof forms / sizeof *forms; k++)
        check_bytes(forms[k].what, forms[k].text, strlen(forms[k].text), forms[k].hex);
}

/* A literal and its length (it may hold a NUL or bytes that are not UTF-8). */
#define TL(s) s, sizeof(s) - 1

/* The source's encoding, as epp:read_encoding_from_binary/1 finds it (a comment on one
 * of the first two lines), else Latin-1: "\xc3\xa9" is then two characters. */
static void encodings(void **state)
{
    (void)state;
    check_bytes("utf-8 said",
                TL("%% -*- coding: utf-8 -*-\n['\xc3\xa9', \"\xc3\xa9\", '\\x{1F600}']."),
                "836c000000037702c3a96b0001e97704f09f98806a");
    check_bytes("latin-1 said", TL("%% coding: latin-1\n['\xc3\xa9', \"\xc3\xa9\"]."),
                "836c000000027704c383c2a96b0002c3a96a");
    check_bytes("nothing said", TL("['\xc3\xa9', \"\xc3\xa9\"]."),
                "836c000000027704c383c2a96b0002c3a96a");
    check_bytes("second line", TL("\n%% coding: utf-8\n\"\xc3\xa9\"."), "836b0001e9");
    check_bytes("third line", TL("\n\n%% coding: utf-8\n\"\xc3\xa9\"."), "836b0002c3a9");
    check_bytes("utf8 is no name", TL("%% coding: utf8\n\"\xc3\xa9\"."), "836b0002c3a9");
    check_bytes("= and capitals", TL("%% coding = UTF-8\n\"\xc3\xa9\"."), "836b0001e9");
    check_bytes("not in a comment", TL("\"coding: utf-8\" \"\xc3\xa9\"."),
                "836b000f636f64696e673a207574662d38c3a9");
    check_refused(TL("%% coding: utf-8\n\n\"\xff\"."),
                  "line 3: invalid UTF-8 (the file says coding: utf-8)");
    check_refused(TL("%% coding: utf-8\na. % \xed\xa0\x80"),
                  "line 2: invalid UTF-8 (the file says coding: utf-8)");
}

/* The example of the brief, decoded back with ei. */
static void example_file(void **state)
{
    (void)state;
    static const char text[] =
        "%% options for TLS distribution\n"
        "[{server, [{certfile, \"/etc/otpc/node.pem\"}, {keyfile, \"/etc/otpc/node.key\"},\n"
        "           {cacertfile, \"/etc/otpc/ca.pem\"}, {verify, verify_peer},\n"
        "           {fail_if_no_peer_cert, true}, {versions, ['tlsv1.2', 'tlsv1.3']}, "
        "{depth, 2}]},\n"
        " {client, [{certfile, \"/etc/otpc/node.pem\"}, {keyfile, \"/etc/otpc/node.key\"},\n"
        "           {cacertfile, \"/etc/otpc/ca.pem\"}, {verify, verify_peer},\n"
        "           {secure_renegotiate, true}, {server_name_indication, disable}]}].\n";
    static const char want[] =
        "[{server, [{certfile, \"/etc/otpc/node.pem\"}, {keyfile, \"/etc/otpc/node.key\"}, "
        "{cacertfile, \"/etc/otpc/ca.pem\"}, {verify, verify_peer}, "
        "{fail_if_no_peer_cert, true}, {versions, ['tlsv1.2', 'tlsv1.3']}, {depth, 2}]}, "
        "{client, [{certfile, \"/etc/otpc/node.pem\"}, {keyfile, \"/etc/otpc/node.key\"}, "
        "{cacertfile, \"/etc/otpc/ca.pem\"}, {verify, verify_peer}, "
        "{secure_renegotiate, true}, {server_name_indication, disable}]}]";
    ei_x_buff x;
    char err[200];
    assert_int_equal(parse(text, &x, err, sizeof err), 0);
    char *s = NULL;
    int i = 1;
    assert_true(ei_s_print_term(&s, x.buff, &i) > 0);
    assert_string_equal(s, want);
    assert_int_equal(i, x.index);
    free(s);

    /* and by decoding: the certfile of the server's options is a string */
    int idx = 0, arity, n, ver;
    char atom[MAXATOMLEN_UTF8], path[64];
    assert_int_equal(ei_decode_version(x.buff, &idx, &ver), 0);
    assert_int_equal(ei_decode_list_header(x.buff, &idx, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ei_decode_tuple_header(x.buff, &idx, &arity), 0);
    assert_int_equal(ei_decode_atom(x.buff, &idx, atom), 0);
    assert_string_equal(atom, "server");
    assert_int_equal(ei_decode_list_header(x.buff, &idx, &n), 0);
    assert_int_equal(n, 7);
    assert_int_equal(ei_decode_tuple_header(x.buff, &idx, &arity), 0);
    assert_int_equal(ei_decode_atom(x.buff, &idx, atom), 0);
    assert_int_equal(ei_decode_string(x.buff, &idx, path), 0);
    assert_string_equal(path, "/etc/otpc/node.pem");
    ei_x_free(&x);

    /* every proper prefix is refused, never read past */
    for (size_t len = 0; len + 1 < sizeof text - 1; len++) {
        assert_int_equal(parse_n(text, len, &x, err, sizeof err), OTPC_EINVAL);
        assert_int_equal(strncmp(err, "line ", 5), 0);
        ei_x_free(&x);
    }
}

/* The term goes after what x holds; a failure leaves x as it was. */
static void appends_and_keeps(void **state)
{
    (void)state;
    ei_x_buff x;
    char err[200];
    assert_int_equal(ei_x_new(&x), 0);
    assert_int_equal(ei_x_encode_atom(&x, "before"), 0);
    int before = x.index;
    assert_int_equal(otpc__term_text_parse("{a, [1 2]}.", 11, &x, err, sizeof err), OTPC_EINVAL);
    assert_int_equal(x.index, before);
    assert_int_equal(otpc__term_text_parse("{a, b}.", 7, &x, NULL, 0), 0);
    int i = before, arity;
    assert_int_equal(ei_decode_tuple_header(x.buff, &i, &arity), 0);
    assert_int_equal(arity, 2);
    ei_x_free(&x);
}

/* ---- what is refused ----------------------------------------------------------------- */

static const struct {
    const char *text, *why;
} refusals[] = {
    {"", "line 1: no term in the text"},
    {"%% only a comment\n", "line 2: no term in the text"},
    {"a", "line 1: expected the end '.' after the term, found the end of the text"},
    {"a\n\n", "line 3: expected the end '.' after the term, found the end of the text"},
    {"a. b.", "line 1: text after the end '.'"},
    {"a.\nb", "line 2: text after the end '.'"},
    {"[a,\n b", "line 2: expected ',' or ']' (opened on line 1), found the end of the text"},
    {"{a,b.", "line 1: expected ',' or '}' (opened on line 1), found the end dot"},
    {"[1,]", "line 1: expected a term, found ']'"},
    {"[1 2].", "line 1: expected ',' or ']' (opened on line 1), found an integer"},
    {"a.b.", "line 1: '.' inside the term (the end dot is followed by a space, a newline or %)"},
    {"\n\nX.",
     "line 3: variables are not accepted (X); quote an atom that starts with a capital or _: 'X'"},
    {"_.",
     "line 1: variables are not accepted (_); quote an atom that starts with a capital or _: '_'"},
    {"_x.", "line 1: variables are not accepted (_x); quote an atom that starts with a capital or "
            "_: '_x'"},
    {"1 + 2.", "line 1: operators are not accepted ('+')"},
    {"a\n  + 2.", "line 2: operators are not accepted ('+')"},
    {"fun() -> ok end.", "line 1: 'fun' is a reserved word: only a term is accepted, no expression "
                         "(quote it for an atom: 'fun')"},
    {"#r{a=1}.", "line 1: records are not accepted"},
    {"#{a := 1}.", "line 1: ':=' is not accepted: a map is written #{Key => Value}"},
    {"#{a => 1, a => 2}.", "line 1: a key appears twice in the map"},
    {"#{\"a\" => 1,\n [97] => 2}.", "line 1: a key appears twice in the map"},
    {"#{a}.", "line 1: expected '=>' after a map key, found '}'"},
    {"#{a => 1 b}.", "line 1: expected ',' or '}' (opened on line 1), found an atom"},
    {"<<1:8>>.", "line 1: sizes and types in binaries are not accepted (':')"},
    {"<<\"x\"/utf8>>.", "line 1: sizes and types in binaries are not accepted ('/')"},
    {"<<256>>.", "line 1: a binary's bytes are 0..255"},
    {"<<-1>>.", "line 1: a binary's bytes are 0..255"},
    {"<<$\\x{100}>>.", "line 1: a binary's bytes are 0..255"},
    {"<<\"\\x{100}\">>.", "line 1: a character above 255 in a binary's string"},
    {"<<a>>.", "line 1: expected a byte or a string in the binary, found an atom"},
    {"<<1,>>.", "line 1: expected a byte or a string in the binary, found '>>'"},
    {"\"abc", "line 1: unterminated string"},
    {"\n'abc", "line 2: unterminated quoted atom"},
    {"$", "line 1: unterminated character ($)"},
    {"\"\\x{110000}\".", "line 1: \\x{...} is not a character in string"},
    {"\"\\x{D800}\".", "line 1: \\x{...} is not a character in string"},
    {"\"\\x4\".", "line 1: \\x needs two hex digits or {...} in string"},
    {"'\\x{}'.", "line 1: \\x{...} is not a character in quoted atom"},
    {"\"\\x{12\".", "line 1: bad hex digit in \\x{...} in string"},
    {"16#.", "line 1: no digits of base 16 after '#'"},
    {"37#1.", "line 1: the base of 37 is not 2..36"},
    {"1#1.", "line 1: the base of 1 is not 2..36"},
    {"1.0e400.", "line 1: float out of range"},
    {"[a||b].", "line 1: expected a term, found '|'"},
    {"maybe.", "line 1: 'maybe' is a reserved word: only a term is accepted, no expression (quote "
               "it for an atom: 'maybe')"},
    {"begin.", "line 1: 'begin' is a reserved word: only a term is accepted, no expression (quote "
               "it for an atom: 'begin')"},
    {"-a.", "line 1: '-' is followed by an atom: only a number may be negated"},
    {"- - 1.", "line 1: '-' is followed by '-': only a number may be negated"},
    {"+1.", "line 1: operators are not accepted ('+')"},
    {"a -> b.", "line 1: operators are not accepted ('->')"},
    {"a == b.", "line 1: operators are not accepted ('=')"},
    {"(a).", "line 1: unexpected '(': only a term is accepted, no expression"},
    {"a;b.", "line 1: unexpected ';': only a term is accepted, no expression"},
    {"a!b.", "line 1: operators are not accepted ('!')"},
    {"{a}{b}.", "line 1: expected the end '.' after the term, found '{'"},
    {"[a|b|c].", "line 1: expected ']' after the list's tail, found '|'"},
    {"[a|b,c].", "line 1: expected ']' after the list's tail, found ','"},
    {"a:b.", "line 1: operators are not accepted (':')"},
    {"\x01\x7f"
     ".",
     "line 1: unexpected character U+007F"},
    {"\xa1"
     ".",
     "line 1: unexpected character U+00A1"},
    {"@a.", "line 1: unexpected character '@'"},
    {"\"a\" $b.", "line 1: expected the end '.' after the term, found a character"},
    {"1.e5.", "line 1: '.' inside the term (the end dot is followed by a space, a newline or %)"},
    {"a.\n\n  x", "line 3: text after the end '.'"},
    {"[|a].", "line 1: expected a term, found '|'"},
    {"{,}.", "line 1: expected a term, found ','"},
    {"].", "line 1: expected a term, found ']'"},
};

static void each_refusal(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof refusals / sizeof *refusals; k++)
        check_refused(refusals[k].text, strlen(refusals[k].text), refusals[k].why);
    /* a NUL is whitespace: the length, not the NUL, ends the text */
    check_refused("a.\0b", 4, "line 1: text after the end '.'");
    check_bytes("NUL as whitespace", "\0a.\0", 4, "83770161");
}

/* Reasons are cut to errcap, always NUL-terminated; no err at all is fine. */
static void short_err(void **state)
{
    (void)state;
    ei_x_buff x;
    char err[8];
    assert_int_equal(parse("\n\n\nX.", &x, err, sizeof err), OTPC_EINVAL);
    assert_string_equal(err, "line 4:");
    ei_x_free(&x);
    assert_int_equal(parse("X.", &x, err, 1), OTPC_EINVAL);
    assert_string_equal(err, "");
    ei_x_free(&x);
    assert_int_equal(parse("X.", &x, NULL, 0), OTPC_EINVAL);
    ei_x_free(&x);
}

/* ---- limits -------------------------------------------------------------------------- */

/* n opening brackets of kind open, an atom, the closers, the dot. */
static char *nested(size_t n, char open, char close)
{
    char *s = malloc(2 * n + 3);
    assert_non_null(s);
    memset(s, open, n);
    s[n] = 'a';
    memset(s + n + 1, close, n);
    memcpy(s + 2 * n + 1, ".", 2);
    return s;
}

/* OTPC__TERM_TEXT_MAX_DEPTH containers nest; one more is refused, and a million
 * cost no C stack. */
static void depth_limit(void **state)
{
    (void)state;
    ei_x_buff x;
    char err[200];
    char *s = nested(OTPC__TERM_TEXT_MAX_DEPTH, '[', ']');
    assert_int_equal(parse(s, &x, err, sizeof err), 0);
    size_t used;
    assert_int_equal(otpc__term_skip_versioned(x.buff, (size_t)x.index, &used), 0);
    ei_x_free(&x);
    free(s);
    s = nested(OTPC__TERM_TEXT_MAX_DEPTH + 1, '{', '}');
    check_refused(s, strlen(s), "line 1: nested deeper than 256");
    free(s);
    s = nested(1000000, '[', ']');
    check_refused(s, strlen(s), "line 1: nested deeper than 256");
    free(s);
}

/* Limits of the scanner: atoms of 255 characters, integers of 255 bytes. */
static void literal_limits(void **state)
{
    (void)state;
    char s[1200];
    memset(s, 'a', 255);
    memcpy(s + 255, ".", 2);
    ei_x_buff x;
    char err[200];
    assert_int_equal(parse(s, &x, err, sizeof err), 0);
    ei_x_free(&x);
    memcpy(s + 255, "a.", 3);
    check_refused(s, strlen(s), "line 1: atom longer than 255 characters");
    /* 2^2040 - 1: 255 bytes; 2^2040: 256 */
    memcpy(s, "16#", 3);
    memset(s + 3, 'f', 510);
    memcpy(s + 513, ".", 2);
    assert_int_equal(parse(s, &x, err, sizeof err), 0);
    assert_int_equal((unsigned char)x.buff[1], ERL_SMALL_BIG_EXT);
    assert_int_equal((unsigned char)x.buff[2], 255);
    ei_x_free(&x);
    memcpy(s, "16#1", 4);
    memset(s + 4, '0', 510);
    memcpy(s + 514, ".", 2);
    check_refused(s, strlen(s), "line 1: integer too large (more than 255 bytes)");
    /* a tuple of 256 is a large tuple */
    size_t n = 0;
    s[n++] = '{';
    for (int k = 0; k < 256; k++) {
        s[n++] = 'a';
        s[n++] = ',';
    }
    memcpy(s + n - 1, "}.", 3);
    assert_int_equal(parse(s, &x, err, sizeof err), 0);
    int i = 1, arity;
    assert_int_equal((unsigned char)x.buff[1], ERL_LARGE_TUPLE_EXT);
    assert_int_equal(ei_decode_tuple_header(x.buff, &i, &arity), 0);
    assert_int_equal(arity, 256);
    ei_x_free(&x);
}

/* Big inputs: a 4 MiB string (a list of small integers past 65535), a list of 200000
 * integers, a 1 MiB comment, a map of 20000 keys. */
static void big_inputs(void **state)
{
    (void)state;
    size_t n = 4u << 20;
    char *s = malloc(n + 64); /* room for each of them */
    assert_non_null(s);
    s[0] = '"';
    memset(s + 1, 'x', n);
    memcpy(s + 1 + n, "\".", 3);
    ei_x_buff x;
    char err[200];
    assert_int_equal(parse(s, &x, err, sizeof err), 0);
    assert_int_equal(x.index, 1 + 5 + 2 * n + 1);
    assert_int_equal((unsigned char)x.buff[1], ERL_LIST_EXT);
    ei_x_free(&x);

    size_t k = 0;
    s[k++] = '[';
    for (int i = 0; i < 200000; i++)
        k += (size_t)sprintf(s + k, "%d,", i);
    memcpy(s + k - 1, "].", 3);
    assert_int_equal(parse(s, &x, err, sizeof err), 0);
    int idx = 1, len;
    assert_int_equal(ei_decode_list_header(x.buff, &idx, &len), 0);
    assert_int_equal(len, 200000);
    ei_x_free(&x);

    s[0] = '%';
    memset(s + 1, 'c', n);
    memcpy(s + 1 + n, "\n\n{}.", 6);
    check_bytes("after a long comment", s, strlen(s), "836800");

    k = 0;
    s[k++] = '#';
    s[k++] = '{';
    for (int i = 0; i < 20000; i++)
        k += (size_t)sprintf(s + k, "%d => k%d,", i, i);
    memcpy(s + k - 1, "}.", 3);
    assert_int_equal(parse(s, &x, err, sizeof err), 0);
    idx = 1;
    assert_int_equal(ei_decode_map_header(x.buff, &idx, &len), 0);
    assert_int_equal(len, 20000);
    ei_x_free(&x);
    memcpy(s + k - 1, ",19999 => z}.", 14);
    check_refused(s, strlen(s), "line 1: a key appears twice in the map");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_form),    cmocka_unit_test(encodings),
        cmocka_unit_test(example_file), cmocka_unit_test(appends_and_keeps),
        cmocka_unit_test(each_refusal), cmocka_unit_test(short_err),
        cmocka_unit_test(depth_limit),  cmocka_unit_test(literal_limits),
        cmocka_unit_test(big_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
