/*
 * The lexer of Erlang terms written as text; see term_text_lex.h. erl_scan's rules
 * (OTP's stdlib) are the reference for what a token is: Latin-1 letters in names,
 * whitespace up to ' ' and from 0x80 to 0xA0, '_' between digits, Base#Digits, a float
 * needs a digit each side of its '.', the end dot is followed by whitespace, % or the
 * end of the text.
 */
#include "proto/term_text_lex.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otpc.h"
#include "proto/term.h"

#define MAX_ATOM_CHARS OTPC__TT_MAX_ATOM_CHARS
#define MAX_BIG_BYTES OTPC__TT_MAX_BIG_BYTES
#define MAX_FLOAT_TEXT 1024 /* digits of one float */

int otpc__tt_fail(otpc__tt_lex_t *c, unsigned line, const char *fmt, ...)
{
    if (!c->err || c->errcap == 0)
        return OTPC_EINVAL;
    int k = snprintf(c->err, c->errcap, "line %u: ", line);
    if (k > 0 && (size_t)k < c->errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err + k, c->errcap - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return OTPC_EINVAL;
}

/* ---- the source's encoding ----------------------------------------------------------- */

/* After "coding" in a comment: separator, spaces, then a name of parts split by '-'.
 * 1 for utf-8, 0 for latin-1 or another name (both end the search, as in epp), -1 when
 * no ':' or '=' follows (the search goes on at *at). */
static int coding_name(const unsigned char *s, size_t len, size_t *at)
{
    size_t i = *at;
    while (i < len && s[i] == ' ')
        i++;
    if (i >= len || (s[i] != ':' && s[i] != '=')) {
        *at = i;
        return -1;
    }
    i++;
    while (i < len && s[i] == ' ')
        i++;
    char name[16];
    size_t n = 0;
    for (; i < len && n < sizeof name - 1; i++) {
        unsigned char ch = s[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (unsigned char)(ch - 'A' + 'a');
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
            break;
        name[n++] = (char)ch;
    }
    name[n] = 0;
    return n >= 5 && memcmp(name, "utf-8", 5) == 0 && (n == 5 || name[5] == '-');
}

/* epp:read_encoding_from_binary/1: a comment on one of the first two lines that says
 * coding: NAME. 1 for UTF-8, 0 for Latin-1 (said so, or nothing said). */
int otpc__tt_says_utf8(const unsigned char *s, size_t len)
{
    size_t i = 0;
    for (int line = 0; line < 2 && i < len; line++, i++) {
        while (i < len && s[i] != '\n' && s[i] != '%')
            i++;
        while (i < len && s[i] != '\n') {
            if (s[i] == 'c' && len - i > 5 && memcmp(s + i + 1, "oding", 5) == 0) {
                size_t at = i + 6;
                int r = coding_name(s, len, &at);
                if (r >= 0)
                    return r;
                i = at;
            } else {
                i++;
            }
        }
    }
    return 0;
}

/* The whole text is valid UTF-8 (OTP converts it whole before scanning), or the line of
 * the first bad byte is reported. */
int otpc__tt_check_utf8(otpc__tt_lex_t *c)
{
    unsigned line = 1;
    for (size_t i = 0; i < c->r.len;) {
        size_t n = otpc__utf8_seq(c->r.s + i, c->r.len - i);
        if (n == 0)
            return otpc__tt_fail(c, line, "invalid UTF-8 (the file says coding: utf-8)");
        if (c->r.s[i] == '\n')
            line++;
        i += n;
    }
    return 0;
}

/* ---- source characters --------------------------------------------------------------- */

static size_t cp_len(const otpc__tt_src_t *r, size_t at)
{
    unsigned char b = r->s[at];
    if (!r->utf8 || b < 0x80)
        return 1;
    return b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

/* The character at byte offset at, or -1 past the end. */
static long cp_at(const otpc__tt_src_t *r, size_t at)
{
    if (at >= r->len)
        return -1;
    size_t n = cp_len(r, at);
    if (n == 1)
        return r->s[at];
    uint32_t v = r->s[at] & (0x7Fu >> n);
    for (size_t k = 1; k < n; k++)
        v = v << 6 | (r->s[at + k] & 0x3Fu);
    return (long)v;
}

static long peek(const otpc__tt_src_t *r)
{
    return cp_at(r, r->i);
}

/* The character k (0..2) after the next one. */
static long peek_n(const otpc__tt_src_t *r, int k)
{
    size_t at = r->i;
    for (; k > 0; k--) {
        if (at >= r->len)
            return -1;
        at += cp_len(r, at);
    }
    return cp_at(r, at);
}

static long next(otpc__tt_src_t *r)
{
    long ch = peek(r);
    if (ch >= 0) {
        r->i += cp_len(r, r->i);
        if (ch == '\n')
            r->line++;
    }
    return ch;
}

/* erl_scan's classes, Latin-1 letters included. */
static int is_white(long ch)
{
    return (ch >= 0 && ch <= ' ') || (ch >= 0x80 && ch <= 0xA0);
}

static int is_lower(long ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 0xDF && ch <= 0xFF && ch != 0xF7);
}

static int is_upper(long ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 0xC0 && ch <= 0xDE && ch != 0xD7);
}

static int is_name(long ch)
{
    return is_lower(ch) || is_upper(ch) || (ch >= '0' && ch <= '9') || ch == '_' || ch == '@';
}

static unsigned digit_val(long ch)
{
    if (ch >= '0' && ch <= '9')
        return (unsigned)(ch - '0');
    if (ch >= 'a' && ch <= 'z')
        return (unsigned)(ch - 'a' + 10);
    if (ch >= 'A' && ch <= 'Z')
        return (unsigned)(ch - 'A' + 10);
    return 99;
}

/* Whitespace and % comments. */
void otpc__tt_skip_blank(otpc__tt_src_t *r)
{
    for (;;) {
        long ch = peek(r);
        if (is_white(ch)) {
            next(r);
        } else if (ch == '%') {
            while ((ch = peek(r)) >= 0 && ch != '\n')
                next(r);
        } else {
            return;
        }
    }
}

/* ---- quoted literals ----------------------------------------------------------------- */

/* Why an escape is bad; NULL when the literal is cut short by the end of the text. */
typedef const char *why_t;

static int hex_escape(otpc__tt_src_t *r, uint32_t *cp, why_t *why)
{
    uint32_t v = 0;
    if (peek(r) != '{') {
        unsigned h1 = digit_val(peek(r)), h2 = digit_val(peek_n(r, 1));
        if (h1 >= 16 || h2 >= 16) {
            *why = "\\x needs two hex digits or {...}";
            return OTPC_EINVAL;
        }
        next(r);
        next(r);
        *cp = h1 << 4 | h2;
        return 1;
    }
    next(r);
    size_t digits = 0;
    long ch;
    while ((ch = next(r)) != '}') {
        if (ch < 0) {
            *why = NULL;
            return OTPC_EINVAL;
        }
        if (digit_val(ch) >= 16) {
            *why = "bad hex digit in \\x{...}";
            return OTPC_EINVAL;
        }
        v = v > 0x10FFFF ? v : v << 4 | digit_val(ch);
        digits++;
    }
    if (digits == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        *why = "\\x{...} is not a character";
        return OTPC_EINVAL;
    }
    *cp = v;
    return 1;
}

/* After a backslash: erl_scan's escapes; any other character stands for itself. */
static int escape(otpc__tt_src_t *r, uint32_t *cp, why_t *why)
{
    static const char from[] = "nrtvbfesd", to[] = "\n\r\t\v\b\f\033 \177";
    long ch = next(r);
    if (ch < 0) {
        *why = NULL;
        return OTPC_EINVAL;
    }
    const char *k = ch < 0x80 && ch > 0 ? strchr(from, (int)ch) : NULL;
    if (k) {
        *cp = (unsigned char)to[k - from];
    } else if (ch == 'x') {
        return hex_escape(r, cp, why);
    } else if (ch == '^') {
        if ((ch = next(r)) < 0) {
            *why = NULL;
            return OTPC_EINVAL;
        }
        *cp = (uint32_t)ch & 31;
    } else if (ch >= '0' && ch <= '7') {
        uint32_t v = (uint32_t)(ch - '0');
        for (int n = 1; n < 3 && peek(r) >= '0' && peek(r) <= '7'; n++)
            v = v * 8 + (uint32_t)(next(r) - '0');
        *cp = v;
    } else {
        *cp = (uint32_t)ch;
    }
    return 1;
}

/* One character of a literal quoted by q, after its opening quote: 1 with *cp, 0 at
 * the closing quote (taken), or OTPC_EINVAL with *why. */
static int lit_char(otpc__tt_src_t *r, long q, uint32_t *cp, why_t *why)
{
    long ch = next(r);
    if (ch < 0) {
        *why = NULL;
        return OTPC_EINVAL;
    }
    if (ch == q)
        return 0;
    if (ch == '\\')
        return escape(r, cp, why);
    *cp = (uint32_t)ch;
    return 1;
}

static int lit_fail(otpc__tt_lex_t *c, unsigned start_line, const char *what, why_t why)
{
    if (!why)
        return otpc__tt_fail(c, start_line, "unterminated %s", what);
    return otpc__tt_fail(c, c->r.line, "%s in %s", why, what);
}

/* Adjacent string literals are one string, as erl_parse makes them. */
static int lex_string(otpc__tt_lex_t *c, otpc__tt_tok_t *t)
{
    for (;;) {
        unsigned line = c->r.line;
        uint32_t cp;
        why_t why;
        int rc;
        next(&c->r);
        while ((rc = lit_char(&c->r, '"', &cp, &why)) == 1)
            ;
        if (rc < 0)
            return lit_fail(c, line, "string", why);
        t->end = c->r.i;
        otpc__tt_src_t after = c->r;
        otpc__tt_skip_blank(&c->r);
        if (peek(&c->r) != '"') {
            c->r = after;
            t->kind = TK_STRING;
            return 0;
        }
    }
}

void otpc__tt_str_begin(otpc__tt_str_t *it, const otpc__tt_src_t *r, const otpc__tt_tok_t *t)
{
    it->r = *r;
    it->r.i = t->start + 1;
    it->end = t->end;
}

int otpc__tt_str_next(otpc__tt_str_t *it, uint32_t *cp)
{
    for (;;) {
        if (it->r.i >= it->end)
            return 0;
        why_t why;
        if (lit_char(&it->r, '"', cp, &why) == 1)
            return 1;
        otpc__tt_skip_blank(&it->r);
        if (it->r.i >= it->end)
            return 0;
        next(&it->r);
    }
}

static int put_atom_char(otpc__tt_lex_t *c, otpc__tt_tok_t *t, size_t *chars, uint32_t cp)
{
    if (++*chars > MAX_ATOM_CHARS)
        return otpc__tt_fail(c, t->line, "atom longer than %d characters", MAX_ATOM_CHARS);
    t->alen += otpc__utf8_put(cp, t->atom + t->alen);
    return 0;
}

static int lex_quoted_atom(otpc__tt_lex_t *c, otpc__tt_tok_t *t)
{
    size_t chars = 0;
    uint32_t cp;
    why_t why;
    int rc;
    next(&c->r);
    t->alen = 0;
    while ((rc = lit_char(&c->r, '\'', &cp, &why)) == 1)
        if ((rc = put_atom_char(c, t, &chars, cp)))
            return rc;
    if (rc < 0)
        return lit_fail(c, t->line, "quoted atom", why);
    t->kind = TK_ATOM;
    return 0;
}

/* ---- names and numbers --------------------------------------------------------------- */

/* Reserved words of erl_scan (maybe and else too: OTP 27 reserves them), which cannot
 * be bare atoms. */
static int reserved(const char *s, size_t n)
{
    static const char *const words[] = {
        "after", "and",   "andalso", "band",   "begin",   "bnot", "bor", "bsl",  "bsr", "bxor",
        "case",  "catch", "cond",    "div",    "else",    "end",  "fun", "if",   "let", "maybe",
        "not",   "of",    "or",      "orelse", "receive", "rem",  "try", "when", "xor",
    };
    for (size_t k = 0; k < sizeof words / sizeof *words; k++)
        if (strlen(words[k]) == n && memcmp(words[k], s, n) == 0)
            return 1;
    return 0;
}

static int lex_name(otpc__tt_lex_t *c, otpc__tt_tok_t *t)
{
    size_t chars = 0;
    int rc;
    int var = !is_lower(peek(&c->r));
    t->alen = 0;
    while (is_name(peek(&c->r)))
        if ((rc = put_atom_char(c, t, &chars, (uint32_t)next(&c->r))))
            return rc;
    int n = (int)(t->alen > 40 ? 40 : t->alen);
    if (var)
        return otpc__tt_fail(c, t->line,
                             "variables are not accepted (%.*s); quote an atom that starts with a "
                             "capital or _: '%.*s'",
                             n, t->atom, n, t->atom);
    if (reserved(t->atom, t->alen))
        return otpc__tt_fail(c, t->line,
                             "'%.*s' is a reserved word: only a term is accepted, no expression "
                             "(quote it for an atom: '%.*s')",
                             n, t->atom, n, t->atom);
    t->kind = TK_ATOM;
    return 0;
}

/* Digits of base `base`, a '_' allowed between two of them; how many there were. */
static size_t scan_digits(otpc__tt_src_t *r, unsigned base)
{
    size_t n = 0;
    for (;;) {
        long ch = peek(r);
        if (digit_val(ch) < base) {
            next(r);
            n++;
        } else if (ch == '_' && n > 0 && digit_val(peek_n(r, 1)) < base) {
            next(r);
        } else {
            return n;
        }
    }
}

/* t->mag = the digits in s[from..to) ('_' skipped) read in base. -1 if too large. */
static int magnitude(otpc__tt_tok_t *t, const unsigned char *s, size_t from, size_t to,
                     unsigned base)
{
    t->mlen = 0;
    for (size_t i = from; i < to; i++) {
        if (s[i] == '_')
            continue;
        unsigned carry = digit_val(s[i]);
        for (size_t k = 0; k < t->mlen; k++) {
            unsigned v = t->mag[k] * base + carry;
            t->mag[k] = (unsigned char)v;
            carry = v >> 8;
        }
        if (carry) {
            if (t->mlen == MAX_BIG_BYTES)
                return -1;
            t->mag[t->mlen++] = (unsigned char)carry;
        }
    }
    return 0;
}

/* The float's text from s[from..to) without '_', read by strtod. */
static int lex_float(otpc__tt_lex_t *c, otpc__tt_tok_t *t, size_t from)
{
    char text[MAX_FLOAT_TEXT + 1];
    size_t n = 0;
    for (size_t i = from; i < c->r.i; i++) {
        if (c->r.s[i] == '_')
            continue;
        if (n == MAX_FLOAT_TEXT)
            return otpc__tt_fail(c, t->line, "float longer than %d digits", MAX_FLOAT_TEXT);
        text[n++] = (char)c->r.s[i];
    }
    text[n] = 0;
    /* the C locale's decimal point: the library never calls setlocale */
    t->f = strtod(text, NULL);
    if (!isfinite(t->f))
        return otpc__tt_fail(c, t->line, "float out of range");
    t->kind = TK_FLOAT;
    return 0;
}

/* A fraction and exponent after the integer part, when there is one (erl_scan: a '.'
 * then a digit; 'e' then an optional sign and a digit). 1 if it was a float. */
static int scan_fraction(otpc__tt_src_t *r)
{
    if (peek(r) != '.' || digit_val(peek_n(r, 1)) >= 10)
        return 0;
    next(r);
    scan_digits(r, 10);
    long e = peek(r), s = peek_n(r, 1);
    int k = (s == '+' || s == '-') ? 2 : 1;
    if ((e == 'e' || e == 'E') && digit_val(peek_n(r, k)) < 10) {
        next(r);
        if (k == 2)
            next(r);
        scan_digits(r, 10);
    }
    return 1;
}

static int lex_number(otpc__tt_lex_t *c, otpc__tt_tok_t *t)
{
    otpc__tt_src_t *r = &c->r;
    size_t from = r->i;
    scan_digits(r, 10);
    if (scan_fraction(r))
        return lex_float(c, t, from);
    unsigned base = 10;
    size_t digits = from, end = r->i;
    if (peek(r) == '#') {
        if (magnitude(t, r->s, from, r->i, 10) || t->mlen != 1 || t->mag[0] < 2 || t->mag[0] > 36)
            return otpc__tt_fail(c, t->line, "the base of %.*s is not 2..36", (int)(r->i - from),
                                 (const char *)r->s + from);
        base = t->mag[0];
        next(r);
        digits = r->i;
        if (scan_digits(r, base) == 0)
            return otpc__tt_fail(c, t->line, "no digits of base %u after '#'", base);
        end = r->i;
    }
    if (magnitude(t, r->s, digits, end, base))
        return otpc__tt_fail(c, t->line, "integer too large (more than %d bytes)", MAX_BIG_BYTES);
    t->kind = TK_INT;
    return 0;
}

static int lex_char(otpc__tt_lex_t *c, otpc__tt_tok_t *t)
{
    why_t why = NULL;
    next(&c->r);
    long ch = next(&c->r);
    int rc = 1;
    if (ch == '\\')
        rc = escape(&c->r, &t->ch, &why);
    else if (ch >= 0)
        t->ch = (uint32_t)ch;
    else
        rc = OTPC_EINVAL;
    if (rc < 0)
        return lit_fail(c, t->line, "character ($)", why);
    t->kind = TK_CHAR;
    return 0;
}

/* ---- tokens -------------------------------------------------------------------------- */

static int bad_char(otpc__tt_lex_t *c, otpc__tt_tok_t *t, long ch)
{
    if (ch == '(' || ch == ')' || ch == ';')
        return otpc__tt_fail(c, t->line, "unexpected '%c': only a term is accepted, no expression",
                             (int)ch);
    if (c->in_binary && (ch == '/' || ch == ':'))
        return otpc__tt_fail(c, t->line, "sizes and types in binaries are not accepted ('%c')",
                             (int)ch);
    if (ch == ':' && peek(&c->r) == '=')
        return otpc__tt_fail(c, t->line, "':=' is not accepted: a map is written #{Key => Value}");
    if (ch > 0 && ch < 0x7F && strchr("+*/=<>!:?-", (int)ch))
        return otpc__tt_fail(c, t->line, "operators are not accepted ('%c')", (int)ch);
    if (ch > ' ' && ch < 0x7F)
        return otpc__tt_fail(c, t->line, "unexpected character '%c'", (int)ch);
    return otpc__tt_fail(c, t->line, "unexpected character U+%04lX", (unsigned long)ch);
}

/* Two-character tokens: #{ => << >>, and what else a '#' or a '.' may start. */
static int lex_pair(otpc__tt_lex_t *c, otpc__tt_tok_t *t, long ch)
{
    otpc__tt_src_t *r = &c->r;
    long ch2 = peek_n(r, 1);
    int kind = ch == '#' && ch2 == '{'   ? TK_MAP
               : ch == '=' && ch2 == '>' ? TK_ARROW
               : ch == '<' && ch2 == '<' ? TK_BIN
               : ch == '>' && ch2 == '>' ? TK_BINEND
                                         : 0;
    if (kind) {
        next(r);
        next(r);
        t->kind = kind;
        return 0;
    }
    if (ch == '.' && (ch2 < 0 || is_white(ch2) || ch2 == '%')) {
        next(r);
        t->kind = TK_DOT;
        return 0;
    }
    if (ch == '.')
        return otpc__tt_fail(
            c, t->line,
            "'.' inside the term (the end dot is followed by a space, a newline or %%)");
    if (ch == '#' && (is_name(ch2) || ch2 == '\''))
        return otpc__tt_fail(c, t->line, "records are not accepted");
    if (ch == '-' && ch2 != '>' && ch2 != '-') {
        next(r);
        t->kind = '-';
        return 0;
    }
    next(r);
    if (ch == '-')
        return otpc__tt_fail(c, t->line, "operators are not accepted ('-%c')", (int)ch2);
    return bad_char(c, t, ch);
}

int otpc__tt_lex(otpc__tt_lex_t *c, otpc__tt_tok_t *t)
{
    otpc__tt_src_t *r = &c->r;
    otpc__tt_skip_blank(r);
    t->line = r->line;
    t->start = r->i;
    long ch = peek(r);
    if (ch < 0) {
        t->kind = TK_EOF;
        return 0;
    }
    if (ch > 0 && ch < 0x7F && strchr("{}[],|", (int)ch)) {
        next(r);
        t->kind = (int)ch;
        return 0;
    }
    if (ch == '"')
        return lex_string(c, t);
    if (ch == '\'')
        return lex_quoted_atom(c, t);
    if (ch == '$')
        return lex_char(c, t);
    if (ch >= '0' && ch <= '9')
        return lex_number(c, t);
    if (is_name(ch) && ch != '@' && (ch < '0' || ch > '9'))
        return lex_name(c, t);
    if (ch > 0 && ch < 0x7F && strchr("#=<>.-", (int)ch))
        return lex_pair(c, t, ch);
    next(r);
    return bad_char(c, t, ch);
}

const char *otpc__tt_describe(const otpc__tt_tok_t *t)
{
    switch (t->kind) {
    case TK_EOF:
        return "the end of the text";
    case TK_DOT:
        return "the end dot";
    case TK_MAP:
        return "'#{'";
    case TK_ARROW:
        return "'=>'";
    case TK_BIN:
        return "'<<'";
    case TK_BINEND:
        return "'>>'";
    case TK_ATOM:
        return "an atom";
    case TK_STRING:
        return "a string";
    case TK_CHAR:
        return "a character";
    case TK_INT:
        return "an integer";
    case TK_FLOAT:
        return "a float";
    case '{':
        return "'{'";
    case '}':
        return "'}'";
    case '[':
        return "'['";
    case ']':
        return "']'";
    case ',':
        return "','";
    case '|':
        return "'|'";
    default:
        return "'-'";
    }
}
