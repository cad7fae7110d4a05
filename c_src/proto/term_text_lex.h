/*
 * The lexer of proto/term_text.c (internal to it): source characters, tokens, and the
 * reasons for refusals.
 *
 * Characters are Latin-1 bytes or UTF-8 (checked whole by otpc__tt_check_utf8 before
 * any token is read, so decoding one cannot fail). Every literal is checked whole
 * before its token is handed out: reading a string's characters again afterwards
 * (otpc__tt_str_next) cannot fail. A token that can only be refused (a variable, an
 * operator, a reserved word, a record) is refused here, with its reason.
 */
#ifndef OTPC_PROTO_TERM_TEXT_LEX_H
#define OTPC_PROTO_TERM_TEXT_LEX_H

#include <stddef.h>
#include <stdint.h>

#define OTPC__TT_MAX_ATOM_CHARS 255
#define OTPC__TT_MAX_BIG_BYTES 255 /* SMALL_BIG_EXT's limit: about 600 decimal digits */

enum {
    TK_EOF = 256,
    TK_DOT,    /* the end: '.' then whitespace, % or the end of the text */
    TK_MAP,    /* #{ */
    TK_ARROW,  /* => */
    TK_BIN,    /* << */
    TK_BINEND, /* >> */
    TK_ATOM,
    TK_STRING, /* one or more adjacent string literals */
    TK_CHAR,
    TK_INT,
    TK_FLOAT
    /* and the characters { } [ ] , | - themselves */
};

typedef struct {
    const unsigned char *s;
    size_t len, i; /* i: the next character's first byte */
    unsigned line;
    int utf8;
} otpc__tt_src_t;

/* One token. Only the fields of its kind are set. */
typedef struct {
    int kind;
    unsigned line;
    size_t start, end; /* STRING: from the first opening quote past the last closing one */
    uint32_t ch;       /* CHAR */
    double f;          /* FLOAT */
    size_t mlen;       /* INT: magnitude, little-endian, no high zero byte */
    unsigned char mag[OTPC__TT_MAX_BIG_BYTES];
    size_t alen; /* ATOM: UTF-8 */
    char atom[4 * OTPC__TT_MAX_ATOM_CHARS];
} otpc__tt_tok_t;

typedef struct {
    otpc__tt_src_t r;
    char *err; /* where a refusal's reason goes (may be NULL) */
    size_t errcap;
    int in_binary; /* the reason given for '/' and ':' depends on it */
} otpc__tt_lex_t;

/* The characters of a TK_STRING token, across its literals (checked by lex_string). */
typedef struct {
    otpc__tt_src_t r;
    size_t end;
} otpc__tt_str_t;

/* "line N: " and the reason into lx->err; returns OTPC_EINVAL. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int otpc__tt_fail(otpc__tt_lex_t *lx, unsigned line, const char *fmt, ...);

/* epp:read_encoding_from_binary/1: 1 when a comment on one of the first two lines says
 * coding: utf-8, else 0 (Latin-1). */
int otpc__tt_says_utf8(const unsigned char *s, size_t len);
/* The whole text is valid UTF-8: 0, or OTPC_EINVAL naming the line of the first bad
 * byte. */
int otpc__tt_check_utf8(otpc__tt_lex_t *lx);

/* The next token into t: 0, or OTPC_EINVAL with the reason. */
int otpc__tt_lex(otpc__tt_lex_t *lx, otpc__tt_tok_t *t);
/* "an atom", "']'", ...: for reasons. */
const char *otpc__tt_describe(const otpc__tt_tok_t *t);
/* Whitespace and % comments. */
void otpc__tt_skip_blank(otpc__tt_src_t *r);

/* The characters of a TK_STRING token t read from r: begin, then next gives 1 with
 * *cp until 0 at its end. */
void otpc__tt_str_begin(otpc__tt_str_t *it, const otpc__tt_src_t *r, const otpc__tt_tok_t *t);
int otpc__tt_str_next(otpc__tt_str_t *it, uint32_t *cp);

#endif
