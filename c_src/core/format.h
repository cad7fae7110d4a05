/*
 * The format language of otpc_match and otpc_x_format (otpc.h documents it): the lexer
 * and the text of its literals, shared by the builder (core/format.c) and the matcher
 * (core/match.c). Pure: no node, no allocation.
 *
 * A literal's text is read where it stands in the format (quotes stripped, escapes
 * resolved on the fly), so neither side copies it. The lexer checks a literal whole
 * (closing quote, escapes, UTF-8, an atom's length) before handing it out: reading it
 * again afterwards cannot fail.
 */
#ifndef OTPC_CORE_FORMAT_H
#define OTPC_CORE_FORMAT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "otpc.h"
#include "proto/term.h"

/* Nesting of containers in one format; deeper is malformed (the parsers recurse). */
#define OTPC__FMT_MAX_DEPTH 64
/* Characters of an atom, as in Erlang. */
#define OTPC__FMT_MAX_ATOM 255

typedef enum {
    OTPC__TK_END,    /* end of the format */
    OTPC__TK_LBRACE, /* { */
    OTPC__TK_RBRACE, /* } */
    OTPC__TK_LBRACK, /* [ */
    OTPC__TK_RBRACK, /* ] */
    OTPC__TK_MAP,    /* #{ */
    OTPC__TK_COMMA,
    OTPC__TK_BAR,    /* | */
    OTPC__TK_ARROW,  /* => */
    OTPC__TK_ASSOC,  /* := */
    OTPC__TK_ATOM,   /* ok, 'quoted atom' */
    OTPC__TK_INT,    /* -12 */
    OTPC__TK_STRING, /* "text" */
    OTPC__TK_BINARY, /* <<"bytes">>, <<>> */
    OTPC__TK_CONV,   /* ~l and the others */
    OTPC__TK_WILD,   /* _ or _Name */
    OTPC__TK_BAD     /* malformed: why says how */
} otpc__tk_kind_t;

/* The text of a literal: bytes [p, end) of the format, with backslash escapes when esc
 * (quoted atoms, strings, binaries), or a plain C string (esc 0, end at its NUL). */
typedef struct {
    const char *p, *end;
    int esc;
} otpc__text_t;

typedef struct {
    otpc__tk_kind_t kind;
    size_t at;        /* offset in the format, for messages */
    otpc__text_t txt; /* ATOM, STRING, BINARY */
    long num;         /* INT */
    char conv;        /* CONV: the letter after ~ */
    const char *why;  /* BAD */
} otpc__tk_t;

typedef struct {
    const char *fmt; /* the whole format, NUL-terminated */
    const char *p;   /* the next token */
} otpc__lex_t;

/* The next token; on OTPC__TK_BAD, tk->why is a static text and the lexer stays put. */
void otpc__lex_next(otpc__lex_t *lx, otpc__tk_t *tk);
/* The kind of the next token, without taking it. */
otpc__tk_kind_t otpc__lex_peek(const otpc__lex_t *lx);

/* The next byte of a literal's text, or -1 at its end. */
int otpc__text_byte(otpc__text_t *t);
/* The next character (a Unicode code point) of UTF-8 text: 1 with *cp, 0 at the end, -1
 * on invalid UTF-8 (overlong, a surrogate, past U+10FFFF, cut short). */
int otpc__text_cp(otpc__text_t *t, uint32_t *cp);
/* Bytes of a literal's text and, for UTF-8 text, its characters and the largest one.
 * 0, or -1 on invalid UTF-8 (only when cps is not NULL). */
int otpc__text_measure(otpc__text_t t, size_t *bytes, size_t *cps, uint32_t *max);
/* Copy a literal's bytes to out (room for all of them); returns how many. */
size_t otpc__text_copy(otpc__text_t t, char *out);

/* otpc_x_vformat and otpc_vmatch, telling what made a format malformed: on
 * OTPC_EINVAL, *why (static text) and *at (an offset in fmt); why may be NULL. */
int otpc__x_vformat(ei_x_buff *x, const char *fmt, va_list ap, const char **why, size_t *at);
int otpc__vmatch(otpc_term_t t, const char *fmt, va_list ap, const char **why, size_t *at);

#endif
