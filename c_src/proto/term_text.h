/*
 * Erlang terms written as text, for configuration files (pure): the format of OTP's
 * ssl_dist_sup:consult/1 (-ssl_dist_optfile), one term ended by a dot, e.g.
 *
 *     %% options for TLS distribution
 *     [{server, [{certfile, "/etc/otpc/node.pem"}, {verify, verify_peer}]}].
 *
 * Accepted: % comments and whitespace; atoms (bare, and quoted with escapes; true and
 * false are atoms); strings with Erlang's escapes, adjacent ones concatenated; $c
 * characters; integers (decimal, Base#Digits, _ between digits, any size up to 255
 * bytes); floats; a minus sign before a number or character; lists (improper ones too),
 * tuples, maps (#{K => V}) and binaries of bytes and strings (<<"text">>, <<1, 2>>).
 * Refused, each with a one-line reason naming the line: variables, operators and any
 * other expression (OTP evaluates one: 1 + 2 is 3 there), funs, records, reserved words
 * (maybe and else too, as OTP 27 reserves them), map keys given twice (OTP keeps the
 * last one: in a configuration file it is a mistake), binary elements outside 0..255
 * (OTP keeps their low byte) and sizes and types in binaries, atoms longer than 255
 * characters, nesting deeper than OTPC__TERM_TEXT_MAX_DEPTH, a missing end dot and
 * anything but comments and whitespace after it.
 *
 * Encoding, as OTP reads the file (epp:read_encoding_from_binary): UTF-8 when a comment
 * on one of the first two lines says `coding: utf-8` (as in `%% -*- coding: utf-8 -*-`;
 * invalid UTF-8 anywhere is then an error), else Latin-1, one character a byte.
 *
 * Output: the term as term_to_binary/1 writes it, but for the order of map keys (as
 * written): atoms as UTF-8 atoms, strings as STRING_EXT (a list of integers when a
 * character is above 255 or there are more than 65535), lists of small integers
 * likewise, [H | T] with a list T spliced into one list.
 */
#ifndef OTPC_PROTO_TERM_TEXT_H
#define OTPC_PROTO_TERM_TEXT_H

#include <ei.h>
#include <stddef.h>

/* Containers (lists, tuples, maps) nested in one term; deeper is refused. */
#define OTPC__TERM_TEXT_MAX_DEPTH 256

/* Parse the one term written in text[0..len) and append it to x (made by the caller,
 * e.g. with ei_x_new_with_version). 0; OTPC_EINVAL with a one-line reason naming the
 * line in err ("line 3: unterminated string", NUL-terminated, cut to errcap bytes; err
 * may be NULL); OTPC_ENOMEM. On failure x is as it was. The parser keeps an explicit
 * stack: no recursion, whatever the input. */
int otpc__term_text_parse(const char *text, size_t len, ei_x_buff *x, char *err, size_t errcap);

#endif
