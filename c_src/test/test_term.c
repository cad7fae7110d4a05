/*
 * Unit tests of dist/term.h, the bounds-checked term walker that stands between the
 * socket and ei.
 *
 * Valid terms are built with ei (as a peer would send them) or, for encodings ei no
 * longer writes, byte by byte; each must be walked exactly (used == size), and every
 * proper prefix of it must be refused, read from an exact-size heap copy so that ASan
 * sees any read past the end. Hostile headers must be refused without reading what
 * they announce, and very deep nesting must not overflow the C stack.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ei.h>
#include <stdlib.h>
#include <string.h>

#include "proto/term.h"
#include "otpc.h"
#include "util/buf.h"

/* ---- helpers ------------------------------------------------------------------------- */

/* Walk data[0..len) from an exact-size heap copy; returns the walker's result. */
static int walk(const char *data, size_t len, int versioned, size_t *used)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, data, len);
    int rc =
        versioned ? otpc__term_skip_versioned(copy, len, used) : otpc__term_skip(copy, len, used);
    free(copy);
    return rc;
}

/* The versioned term in x is walked exactly, with and without its version byte, and
 * every proper prefix of it is OTPC_EBADARG. */
static void check_valid(const ei_x_buff *x)
{
    size_t size = (size_t)x->index, used = 0;
    assert_true(size >= 2);
    assert_int_equal((unsigned char)x->buff[0], ERL_VERSION_MAGIC);
    assert_int_equal(walk(x->buff, size, 1, &used), 0);
    assert_int_equal(used, size);
    assert_int_equal(walk(x->buff + 1, size - 1, 0, &used), 0);
    assert_int_equal(used, size - 1);
    for (size_t len = 0; len < size; len++)
        assert_int_equal(walk(x->buff, len, 1, &used), OTPC_EBADARG);
}

/* Raw bytes into an ei buffer, for encodings ei does not produce. */
static void raw(ei_x_buff *x, const void *bytes, size_t n)
{
    assert_int_equal(ei_x_append_buf(x, bytes, (int)n), 0);
}

static void raw_u8(ei_x_buff *x, unsigned v)
{
    char c = (char)v;
    raw(x, &c, 1);
}

static void raw_u16(ei_x_buff *x, uint16_t v)
{
    char b[2];
    otpc__put_u16(b, v);
    raw(x, b, 2);
}

static void raw_u32(ei_x_buff *x, uint32_t v)
{
    char b[4];
    otpc__put_u32(b, v);
    raw(x, b, 4);
}

/* Build one versioned term with `build`, check it with check_valid, free it. */
typedef void (*build_fn)(ei_x_buff *x);

static void valid(build_fn build)
{
    ei_x_buff x;
    assert_int_equal(ei_x_new_with_version(&x), 0);
    build(&x);
    check_valid(&x);
    ei_x_free(&x);
}

/* A hostile term (given without version byte) is refused both ways. */
static void refused(const char *bytes, size_t n)
{
    size_t used;
    char *v = malloc(n + 1);
    assert_non_null(v);
    v[0] = (char)ERL_VERSION_MAGIC;
    memcpy(v + 1, bytes, n);
    assert_int_equal(walk(bytes, n, 0, &used), OTPC_EBADARG);
    assert_int_equal(walk(v, n + 1, 1, &used), OTPC_EBADARG);
    free(v);
}

static const erlang_pid PID = {"node@host", 41, 7, 3};

/* ---- valid terms --------------------------------------------------------------------- */

static void build_atoms(ei_x_buff *x)
{
    char long_atom[256];
    memset(long_atom, 'a', 255);
    long_atom[255] = 0;
    ei_x_encode_list_header(x, 5);
    ei_x_encode_atom(x, "");
    ei_x_encode_atom(x, "ok");
    ei_x_encode_atom(x, "h\xc3\xa9llo"); /* UTF-8 */
    ei_x_encode_atom(x, long_atom);
    ei_x_encode_atom_as(x, "latin1", ERLANG_ASCII, ERLANG_LATIN1);
    ei_x_encode_empty_list(x);
}

/* Atoms: empty, short, UTF-8, 255 characters, and as Latin-1. */
static void valid_atoms(void **state)
{
    (void)state;
    valid(build_atoms);
}

/* The old 16-bit-length encodings ATOM_EXT and ATOM_UTF8_EXT. */
static void build_old_atoms(ei_x_buff *x)
{
    ei_x_encode_tuple_header(x, 2);
    raw_u8(x, ERL_ATOM_EXT);
    raw_u16(x, 3);
    raw(x, "abc", 3);
    raw_u8(x, ERL_ATOM_UTF8_EXT);
    raw_u16(x, 0);
}

static void valid_old_atoms(void **state)
{
    (void)state;
    valid(build_old_atoms);
}

static void build_integers(ei_x_buff *x)
{
    ei_x_encode_tuple_header(x, 7);
    ei_x_encode_long(x, 0);
    ei_x_encode_long(x, 255);
    ei_x_encode_long(x, -1);
    ei_x_encode_long(x, 1L << 30);
    ei_x_encode_longlong(x, INT64_MIN);
    ei_x_encode_ulonglong(x, UINT64_MAX);
    /* LARGE_BIG_EXT: 300 digit bytes, negative */
    raw_u8(x, ERL_LARGE_BIG_EXT);
    raw_u32(x, 300);
    raw_u8(x, 1);
    char digits[300];
    memset(digits, 0x5a, sizeof digits);
    raw(x, digits, sizeof digits);
}

/* Small, 32-bit, 64-bit (SMALL_BIG) and 300-byte (LARGE_BIG) integers. */
static void valid_integers(void **state)
{
    (void)state;
    valid(build_integers);
}

static void build_floats(ei_x_buff *x)
{
    char old[31] = "1.50000000000000000000e+00";
    ei_x_encode_list_header(x, 3);
    ei_x_encode_double(x, 2.5);
    ei_x_encode_double(x, -1e300);
    raw_u8(x, ERL_FLOAT_EXT); /* the 31-byte text float of old nodes */
    raw(x, old, sizeof old);
    ei_x_encode_empty_list(x);
}

/* NEW_FLOAT_EXT from ei, and the old text FLOAT_EXT. */
static void valid_floats(void **state)
{
    (void)state;
    valid(build_floats);
}

static void build_binaries(ei_x_buff *x)
{
    char big[1000];
    memset(big, 0xab, sizeof big);
    ei_x_encode_tuple_header(x, 5);
    ei_x_encode_binary(x, "", 0);
    ei_x_encode_binary(x, big, sizeof big);
    ei_x_encode_bitstring(x, "\xe0", 0, 3);      /* <<7:3>> */
    ei_x_encode_bitstring(x, "\xff\xf8", 0, 13); /* 13 bits */
    ei_x_encode_bitstring(x, "\x0f\xf0", 4, 8);  /* whole byte at an offset */
}

/* Binaries (empty and 1000 bytes) and bitstrings with 3 and 13 bits. */
static void valid_binaries(void **state)
{
    (void)state;
    valid(build_binaries);
}

static void build_strings_and_lists(ei_x_buff *x)
{
    ei_x_encode_list_header(x, 4);
    ei_x_encode_string(x, "a string");
    ei_x_encode_string(x, "");     /* NIL_EXT */
    ei_x_encode_list_header(x, 2); /* [1, 2.0 | tail] : improper */
    ei_x_encode_long(x, 1);
    ei_x_encode_double(x, 2.0);
    ei_x_encode_atom(x, "tail");
    ei_x_encode_list_header(x, 1); /* [[[]]] */
    ei_x_encode_list_header(x, 1);
    ei_x_encode_empty_list(x);
    ei_x_encode_empty_list(x);
    ei_x_encode_empty_list(x);
    ei_x_encode_empty_list(x);
}

/* STRING_EXT, the empty string, an improper list, nested lists. */
static void valid_strings_and_lists(void **state)
{
    (void)state;
    valid(build_strings_and_lists);
}

static void build_tuples_and_maps(ei_x_buff *x)
{
    ei_x_encode_tuple_header(x, 3);
    ei_x_encode_tuple_header(x, 0); /* {} */
    ei_x_encode_tuple_header(x, 2); /* {a, {b, {c}}} */
    ei_x_encode_atom(x, "a");
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "b");
    ei_x_encode_tuple_header(x, 1);
    ei_x_encode_atom(x, "c");
    ei_x_encode_map_header(x, 3); /* #{k => 1, {t} => #{}, big => {300 elements}} */
    ei_x_encode_atom(x, "k");
    ei_x_encode_long(x, 1);
    ei_x_encode_tuple_header(x, 1);
    ei_x_encode_atom(x, "t");
    ei_x_encode_map_header(x, 0);
    ei_x_encode_atom(x, "big");
    ei_x_encode_tuple_header(x, 300); /* LARGE_TUPLE_EXT */
    for (int i = 0; i < 300; i++)
        ei_x_encode_long(x, i);
}

/* Empty and nested tuples, a large tuple, maps with tuple keys and map values. */
static void valid_tuples_and_maps(void **state)
{
    (void)state;
    valid(build_tuples_and_maps);
}

static void build_pids_refs_ports(ei_x_buff *x)
{
    erlang_ref ref3 = {"node@host", 3, {1, 2, 3, 0, 0}, 0x12345678};
    erlang_ref ref5 = {"node@host", 5, {1, 2, 3, 4, 5}, 9};
    erlang_port port = {"node@host", 77, 4};
    erlang_port port64 = {"node@host", 1ULL << 40, 4};
    ei_x_encode_tuple_header(x, 5);
    ei_x_encode_pid(x, &PID);
    ei_x_encode_ref(x, &ref3);
    ei_x_encode_ref(x, &ref5);
    ei_x_encode_port(x, &port);
    ei_x_encode_port(x, &port64); /* V4_PORT_EXT */
}

/* Pids, references with 3 and 5 words, ports with 32- and 64-bit ids. */
static void valid_pids_refs_ports(void **state)
{
    (void)state;
    valid(build_pids_refs_ports);
}

static void build_old_identifiers(ei_x_buff *x)
{
    const char node[] = {ERL_SMALL_ATOM_UTF8_EXT, 3, 'n', '@', 'h'};
    char zeros[12] = {0};
    ei_x_encode_tuple_header(x, 4);
    raw_u8(x, ERL_PID_EXT); /* node, id:4, serial:4, creation:1 */
    raw(x, node, sizeof node);
    raw(x, zeros, 9);
    raw_u8(x, ERL_PORT_EXT); /* node, id:4, creation:1 */
    raw(x, node, sizeof node);
    raw(x, zeros, 5);
    raw_u8(x, ERL_REFERENCE_EXT); /* node, id:4, creation:1 */
    raw(x, node, sizeof node);
    raw(x, zeros, 5);
    raw_u8(x, ERL_NEW_REFERENCE_EXT); /* len:2, node, creation:1, 4*len */
    raw_u16(x, 2);
    raw(x, node, sizeof node);
    raw(x, zeros, 1 + 8);
}

/* PID_EXT, PORT_EXT, REFERENCE_EXT and NEW_REFERENCE_EXT of older nodes. */
static void valid_old_identifiers(void **state)
{
    (void)state;
    valid(build_old_identifiers);
}

/* Append a NEW_FUN_EXT with `nfree` free variables, the last one built by `inner`
 * (so funs can nest) and the others small integers. */
static void encode_fun(ei_x_buff *x, int nfree, void (*inner)(ei_x_buff *, int), int depth)
{
    ei_x_buff body;
    char uniq[16] = {0};
    ei_x_new(&body);
    ei_x_encode_atom(&body, "mod");
    ei_x_encode_long(&body, 0);        /* old index */
    ei_x_encode_long(&body, 12345678); /* old uniq */
    ei_x_encode_pid(&body, &PID);
    for (int i = 0; i < nfree; i++) {
        if (i == nfree - 1 && inner)
            inner(&body, depth);
        else
            ei_x_encode_long(&body, i);
    }
    raw_u8(x, ERL_NEW_FUN_EXT);
    raw_u32(x, (uint32_t)(4 + 1 + 16 + 4 + 4 + body.index));
    raw_u8(x, 1); /* arity */
    raw(x, uniq, sizeof uniq);
    raw_u32(x, 0); /* index */
    raw_u32(x, (uint32_t)nfree);
    raw(x, body.buff, (size_t)body.index);
    ei_x_free(&body);
}

/* A fun whose last free variable is a fun, `depth` levels down. */
static void nested_fun(ei_x_buff *x, int depth)
{
    if (depth == 0)
        ei_x_encode_atom(x, "leaf");
    else
        encode_fun(x, 2, nested_fun, depth - 1);
}

static void build_funs(ei_x_buff *x)
{
    erlang_fun exp;
    memset(&exp, 0, sizeof exp);
    exp.type = EI_FUN_EXPORT;
    exp.arity = 2;
    strcpy(exp.module, "lists");
    exp.u.exprt.func = (char *)"map";
    ei_x_encode_tuple_header(x, 3);
    ei_x_encode_fun(x, &exp); /* EXPORT_EXT: fun lists:map/2 */
    encode_fun(x, 0, NULL, 0);
    nested_fun(x, 3);
}

/* EXPORT_EXT, a closure without environment, and closures nested three deep. */
static void valid_funs(void **state)
{
    (void)state;
    valid(build_funs);
}

/* A composite of every kind above, to cover truncation at every boundary between
 * different encodings in one term. */
static void build_composite(ei_x_buff *x)
{
    ei_x_encode_map_header(x, 4);
    ei_x_encode_atom(x, "atoms");
    build_atoms(x);
    ei_x_encode_atom(x, "binaries");
    build_binaries(x);
    ei_x_encode_tuple_header(x, 2);
    build_pids_refs_ports(x);
    build_funs(x);
    ei_x_encode_list_header(x, 1); /* [Strings | Floats] */
    build_strings_and_lists(x);
    build_floats(x);
    ei_x_encode_atom(x, "numbers");
    build_integers(x);
}

static void valid_composite(void **state)
{
    (void)state;
    valid(build_composite);
}

/* Bytes after a complete term are not part of it: used stops at the term's end. */
static void trailing_bytes_not_counted(void **state)
{
    (void)state;
    const char t[] = {(char)ERL_VERSION_MAGIC, ERL_SMALL_INTEGER_EXT, 5, 'j', 'j'};
    size_t used = 0;
    assert_int_equal(walk(t, sizeof t, 1, &used), 0);
    assert_int_equal(used, 3);
}

/* ---- hostile input ------------------------------------------------------------------- */

/* A list header claiming 2^32-1 elements followed by a handful of bytes. */
static void hostile_list_length(void **state)
{
    (void)state;
    const char t[] = {ERL_LIST_EXT, (char)0xff, (char)0xff, (char)0xff, (char)0xff, 'j', 'j'};
    refused(t, sizeof t);
}

/* A tuple of arity 255 with 3 bytes after it, and the large forms of tuple and map
 * with 2^32-1 elements. */
static void hostile_arities(void **state)
{
    (void)state;
    const char small[] = {ERL_SMALL_TUPLE_EXT, (char)255, 'a', 1, 'j'};
    const char large[] = {ERL_LARGE_TUPLE_EXT, (char)0xff, (char)0xff, (char)0xff, (char)0xff, 'j'};
    const char map[] = {ERL_MAP_EXT, (char)0xff, (char)0xff, (char)0xff, (char)0xff, 'j', 'j'};
    refused(small, sizeof small);
    refused(large, sizeof large);
    refused(map, sizeof map);
}

/* Lengths that run past the end: binary, bitstring, string, atom, big integers. */
static void hostile_lengths(void **state)
{
    (void)state;
    const char bin[] = {ERL_BINARY_EXT, 0, 0, 1, 0, 'x'};
    const char bin_max[] = {ERL_BINARY_EXT, (char)0xff, (char)0xff, (char)0xff, (char)0xff, 'x'};
    const char bits[] = {ERL_BIT_BINARY_EXT, 0, 0, 0, 2, 3, 'x'};
    const char str[] = {ERL_STRING_EXT, 0, 3, 'a', 'b'};
    const char atom[] = {ERL_ATOM_UTF8_EXT, 0, 9, 'a'};
    const char small_atom[] = {ERL_SMALL_ATOM_UTF8_EXT, (char)200, 'a'};
    const char small_big[] = {ERL_SMALL_BIG_EXT, 9, 0, 1, 2, 3, 4, 5, 6, 7};
    const char large_big[] = {ERL_LARGE_BIG_EXT, (char)0xff, (char)0xff, (char)0xff,
                              (char)0xff,        0,          1};
    const char fun[] = {ERL_NEW_FUN_EXT, 0, 0, 0, (char)200, 1};
    refused(bin, sizeof bin);
    refused(bin_max, sizeof bin_max);
    refused(bits, sizeof bits);
    refused(str, sizeof str);
    refused(atom, sizeof atom);
    refused(small_atom, sizeof small_atom);
    refused(small_big, sizeof small_big);
    refused(large_big, sizeof large_big);
    refused(fun, sizeof fun);
}

/* Encodings that never appear on an otpc link: atom cache refs (82), compressed
 * terms (80), LOCAL_EXT (121), the old FUN_EXT (117), and unknown tags. */
static void forbidden_tags(void **state)
{
    (void)state;
    const char cache[] = {82, 0};
    const char zlib[] = {80, 0, 0, 0, 1, 0x78, (char)0x9c, 0, 0};
    const char local[] = {121, 'a', 1};
    const char old_fun[] = {117, 0, 0, 0, 0};
    const char unknown[] = {0, 0};
    refused(cache, sizeof cache);
    refused(zlib, sizeof zlib);
    refused(local, sizeof local);
    refused(old_fun, sizeof old_fun);
    refused(unknown, sizeof unknown);
    /* inside a container as well */
    const char in_tuple[] = {ERL_SMALL_TUPLE_EXT, 2, 'j', 82, 0};
    refused(in_tuple, sizeof in_tuple);
}

/* Malformed fields within a known encoding: bitstrings with 0 or 9 tail bits or no
 * bytes, references with 0 or 6 words, a pid whose node is not an atom, a fun whose
 * size disagrees with its content. */
static void malformed_fields(void **state)
{
    (void)state;
    const char bits0[] = {ERL_BIT_BINARY_EXT, 0, 0, 0, 1, 0, 'x'};
    const char bits9[] = {ERL_BIT_BINARY_EXT, 0, 0, 0, 1, 9, 'x'};
    const char bits_empty[] = {ERL_BIT_BINARY_EXT, 0, 0, 0, 0, 3};
    char ref0[] = {ERL_NEWER_REFERENCE_EXT, 0, 0, ERL_SMALL_ATOM_UTF8_EXT, 1, 'n', 0, 0, 0, 0};
    char ref6[3 + 3 + 4 + 24] = {ERL_NEWER_REFERENCE_EXT, 0, 6, ERL_SMALL_ATOM_UTF8_EXT, 1, 'n'};
    const char pid[] = {
        ERL_NEW_PID_EXT, ERL_SMALL_INTEGER_EXT, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    refused(bits0, sizeof bits0);
    refused(bits9, sizeof bits9);
    refused(bits_empty, sizeof bits_empty);
    refused(ref0, sizeof ref0);
    refused(ref6, sizeof ref6);
    refused(pid, sizeof pid);

    /* A fun whose Size claims one byte more than its content (and provides it). */
    ei_x_buff x;
    ei_x_new(&x);
    encode_fun(&x, 1, NULL, 0);
    raw_u8(&x, 'j');
    uint32_t size = otpc__get_u32(x.buff + 1);
    otpc__put_u32(x.buff + 1, size + 1);
    refused(x.buff, (size_t)x.index);
    ei_x_free(&x);
}

/* An old FLOAT_EXT whose 31 text bytes hold no NUL: ei would sscanf past its end
 * (and past the buffer, when the term ends it), so the walker refuses it. */
static void float_text_without_nul(void **state)
{
    (void)state;
    char t[32];
    t[0] = ERL_FLOAT_EXT;
    memset(t + 1, '1', 31);
    refused(t, sizeof t);
    t[31] = 0; /* the same digits, terminated in the last byte: fine */
    size_t used = 0;
    assert_int_equal(walk(t, sizeof t, 0, &used), 0);
    assert_int_equal(used, sizeof t);
}

/* A versioned walk needs the version byte 131 first. */
static void bad_version_byte(void **state)
{
    (void)state;
    const char t[] = {(char)130, ERL_NIL_EXT};
    size_t used;
    assert_int_equal(walk(t, sizeof t, 1, &used), OTPC_EBADARG);
    assert_int_equal(walk(t, 0, 1, &used), OTPC_EBADARG);
    assert_int_equal(walk(t, 0, 0, &used), OTPC_EBADARG);
}

/* ---- deep nesting -------------------------------------------------------------------- */

#define DEEP 100000

/* [[[ ... [] ... ]]] 100000 levels: each level a one-element list with a nil tail. */
static void deep_list(void **state)
{
    (void)state;
    otpc__buf_t b = {0};
    const char hdr[] = {ERL_LIST_EXT, 0, 0, 0, 1};
    const char nil = ERL_NIL_EXT;
    assert_int_equal(otpc__buf_append(&b, "\x83", 1), 0);
    for (int i = 0; i < DEEP; i++)
        assert_int_equal(otpc__buf_append(&b, hdr, sizeof hdr), 0);
    for (int i = 0; i <= DEEP; i++) /* the innermost [] and every tail */
        assert_int_equal(otpc__buf_append(&b, &nil, 1), 0);
    size_t used = 0;
    assert_int_equal(walk(b.data, b.len, 1, &used), 0);
    assert_int_equal(used, b.len);
    assert_int_equal(walk(b.data, b.len - 1, 1, &used), OTPC_EBADARG);
    otpc__buf_free(&b);
}

/* {{{ ... {ok, {}} ... }}} 100000 levels of tuples, and of maps #{k => #{k => ...}}. */
static void deep_tuple_and_map(void **state)
{
    (void)state;
    otpc__buf_t b = {0};
    const char tup[] = {ERL_SMALL_TUPLE_EXT, 1};
    const char map[] = {ERL_MAP_EXT, 0, 0, 0, 1, ERL_SMALL_ATOM_UTF8_EXT, 1, 'k'};
    const char leaf[] = {ERL_SMALL_TUPLE_EXT, 0};
    size_t used = 0;
    assert_int_equal(otpc__buf_append(&b, "\x83", 1), 0);
    for (int i = 0; i < DEEP; i++)
        assert_int_equal(otpc__buf_append(&b, tup, sizeof tup), 0);
    assert_int_equal(otpc__buf_append(&b, leaf, sizeof leaf), 0);
    assert_int_equal(walk(b.data, b.len, 1, &used), 0);
    assert_int_equal(used, b.len);
    b.len = 1;
    for (int i = 0; i < DEEP; i++)
        assert_int_equal(otpc__buf_append(&b, map, sizeof map), 0);
    assert_int_equal(otpc__buf_append(&b, leaf, sizeof leaf), 0);
    assert_int_equal(walk(b.data, b.len, 1, &used), 0);
    assert_int_equal(used, b.len);
    otpc__buf_free(&b);
}

/* Funs are the one construct walked recursively; a fun nested 1000 deep in another's
 * environment is refused (term.c bounds the depth at 64) instead of exhausting the
 * stack. */
static void deep_funs_refused(void **state)
{
    (void)state;
    ei_x_buff x;
    size_t used;
    ei_x_new(&x);
    nested_fun(&x, 1000);
    assert_int_equal(walk(x.buff, (size_t)x.index, 0, &used), OTPC_EBADARG);
    ei_x_free(&x);
    ei_x_new(&x);
    nested_fun(&x, 60);
    assert_int_equal(walk(x.buff, (size_t)x.index, 0, &used), 0);
    assert_int_equal(used, (size_t)x.index);
    ei_x_free(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_atoms),           cmocka_unit_test(valid_old_atoms),
        cmocka_unit_test(valid_integers),        cmocka_unit_test(valid_floats),
        cmocka_unit_test(valid_binaries),        cmocka_unit_test(valid_strings_and_lists),
        cmocka_unit_test(valid_tuples_and_maps), cmocka_unit_test(valid_pids_refs_ports),
        cmocka_unit_test(valid_old_identifiers), cmocka_unit_test(valid_funs),
        cmocka_unit_test(valid_composite),       cmocka_unit_test(trailing_bytes_not_counted),
        cmocka_unit_test(hostile_list_length),   cmocka_unit_test(hostile_arities),
        cmocka_unit_test(hostile_lengths),       cmocka_unit_test(forbidden_tags),
        cmocka_unit_test(malformed_fields),      cmocka_unit_test(float_text_without_nul),
        cmocka_unit_test(bad_version_byte),      cmocka_unit_test(deep_list),
        cmocka_unit_test(deep_tuple_and_map),    cmocka_unit_test(deep_funs_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
