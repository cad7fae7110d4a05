/*
 * Terms matched against a format: otpc_match (otpc.h).
 *
 * The term is walked whole by proto/term.c first (bounded, no recursion): one that is
 * cut short or malformed matches nothing, and inside one that passed, every element's
 * extent is known, so ei's decoders (which trust their input) only ever see bytes that
 * are there. The matcher then descends only as deep as the format does, so a term
 * nested a million deep costs no stack.
 *
 * The format is read to its end whatever the term, with the term "dead" (NULL) once a
 * part failed to match: a malformed format is reported on every call, not only on the
 * terms that happen to reach its flaw, and every conversion's arguments are taken in
 * order.
 *
 * Lists come in three encodings (NIL_EXT, STRING_EXT's bytes, LIST_EXT, whose tail may
 * itself be a list): a cursor hands out their elements alike. An element of a
 * STRING_EXT has no bytes of its own; it is one of a static table of small integers.
 */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "core/format.h"
#include "core/node_int.h"
#include "util/log.h"

#define SI(n)                                  \
    {                                          \
        (char)ERL_SMALL_INTEGER_EXT, (char)(n) \
    }
#define SI4(n) SI(n), SI(n + 1), SI(n + 2), SI(n + 3)
#define SI16(n) SI4(n), SI4(n + 4), SI4(n + 8), SI4(n + 12)
#define SI64(n) SI16(n), SI16(n + 16), SI16(n + 32), SI16(n + 48)
static const char small_ints[256][2] = {SI64(0), SI64(64), SI64(128), SI64(192)};

typedef struct {
    otpc__lex_t lx;
    va_list ap;
    int in_key;      /* reading a map key's pattern: literals only */
    const char *why; /* malformed: what, and where */
    size_t at;
} match_t;

static int bad(match_t *m, size_t at, const char *why)
{
    m->why = why;
    m->at = at;
    return -1;
}

/* ---- reading a term that passed the walker ------------------------------------------- */

static unsigned char tag(const char *p)
{
    return (unsigned char)p[0];
}

/* The extent of the term at p (bounded by end). 0, or -1 (never, once walked). */
static int extent(const char *p, const char *end, size_t *n)
{
    return otpc__term_skip(p, (size_t)(end - p), n) ? -1 : 0;
}

/* A whole term at [p, p+n) decoded by an ei decoder: it must take exactly n bytes. */
#define WHOLE(call, p, n) ((call) == 0 && (size_t)i == (n))

typedef struct {
    const char *p, *end; /* the next element; end bounds the list's bytes */
    uint32_t left;       /* elements left in this segment */
    int str;             /* the segment is a STRING_EXT's bytes */
    int tailed;          /* a LIST_EXT segment: a tail follows its elements */
} lcur_t;

/* 0 if the term at p (n bytes) is a list: c reads its elements; else -1. */
static int lcur_init(lcur_t *c, const char *p, size_t n)
{
    memset(c, 0, sizeof *c);
    c->end = p + n;
    switch (tag(p)) {
    case ERL_NIL_EXT:
        c->p = p + 1;
        return 0;
    case ERL_STRING_EXT:
        c->left = otpc__get_u16(p + 1);
        c->p = p + 3;
        c->str = 1;
        return 0;
    case ERL_LIST_EXT:
        c->left = otpc__get_u32(p + 1);
        c->p = p + 5;
        c->tailed = 1;
        return 0;
    default:
        return -1;
    }
}

/* The next element: 1 with [*ep, *ep + *en); 0 at the end of a proper list; -1 at an
 * improper tail. */
static int lcur_next(lcur_t *c, const char **ep, size_t *en)
{
    while (c->left == 0) {
        if (!c->tailed)
            return 0;
        const char *t = c->p; /* the tail: a list goes on in it */
        size_t n;
        if (extent(t, c->end, &n) || lcur_init(c, t, n))
            return -1;
    }
    c->left--;
    if (c->str) {
        *ep = small_ints[(unsigned char)*c->p++];
        *en = 2;
        return 1;
    }
    if (extent(c->p, c->end, en))
        return -1;
    *ep = c->p;
    c->p += *en;
    return 1;
}

/* The integer a list element holds, if it is a character (a code point). */
static int elem_char(const char *p, size_t n, uint32_t *cp)
{
    long v;
    int i = 0;
    if (!WHOLE(ei_decode_long(p, &i, &v), p, n) || v < 0 || v > 0x10ffff ||
        (v >= 0xd800 && v <= 0xdfff))
        return -1;
    *cp = (uint32_t)v;
    return 0;
}

/* ---- literals ----------------------------------------------------------------------- */

static int match_atom(const char *p, size_t n, otpc__text_t txt)
{
    char lit[MAXATOMLEN_UTF8], a[MAXATOMLEN_UTF8];
    size_t llen = otpc__text_copy(txt, lit), alen;
    int i = 0;
    return otpc__decode_atom(p, &i, a, &alen) == 0 && (size_t)i == n && alen == llen &&
           memcmp(a, lit, llen) == 0;
}

static int match_string(const char *p, size_t n, otpc__text_t txt)
{
    lcur_t c;
    const char *ep;
    size_t en;
    uint32_t want, got;
    if (lcur_init(&c, p, n))
        return 0;
    while (otpc__text_cp(&txt, &want) == 1)
        if (lcur_next(&c, &ep, &en) != 1 || elem_char(ep, en, &got) || got != want)
            return 0;
    return lcur_next(&c, &ep, &en) == 0;
}

static int match_binary(const char *p, otpc__text_t txt)
{
    size_t len;
    if (tag(p) != ERL_BINARY_EXT)
        return 0;
    (void)otpc__text_measure(txt, &len, NULL, NULL);
    if (otpc__get_u32(p + 1) != len)
        return 0;
    const unsigned char *b = (const unsigned char *)p + 5;
    for (int c; (c = otpc__text_byte(&txt)) >= 0; b++)
        if (*b != c)
            return 0;
    return 1;
}

static int match_int(const char *p, size_t n, long want)
{
    long v;
    int i = 0;
    return WHOLE(ei_decode_long(p, &i, &v), p, n) && v == want;
}

/* ---- conversions ----------------------------------------------------------------------- */

/* ~s: a list of characters, as UTF-8 with a NUL into buf (cap bytes; NULL: check). */
static int conv_string(const char *p, size_t n, char *buf, size_t cap)
{
    lcur_t c;
    const char *ep;
    size_t en, k = 0;
    uint32_t cp;
    int r;
    if (lcur_init(&c, p, n))
        return 0;
    while ((r = lcur_next(&c, &ep, &en)) == 1) {
        char u[4];
        size_t ul;
        if (elem_char(ep, en, &cp) || cp == 0)
            return 0;
        ul = otpc__utf8_put(cp, u);
        if (buf) {
            if (cap - k <= ul) /* and one byte for the NUL */
                return 0;
            memcpy(buf + k, u, ul);
        }
        k += ul;
    }
    if (r != 0 || (buf && cap == 0))
        return 0;
    if (buf)
        buf[k] = 0;
    return 1;
}

static int conv_atom(const char *p, size_t n, char *out)
{
    char a[MAXATOMLEN_UTF8];
    size_t alen;
    int i = 0;
    size_t bytes, cps;
    uint32_t max;
    /* an atom holding NUL ('a\0b') is not a C string, and one whose text is not UTF-8
     * (no BEAM node sends one) is not an atom: they match no ~a */
    if (otpc__decode_atom(p, &i, a, &alen) || (size_t)i != n || alen != strlen(a) ||
        otpc__text_measure((otpc__text_t){a, a + alen, 0}, &bytes, &cps, &max))
        return 0;
    if (out)
        memcpy(out, a, alen + 1);
    return 1;
}

/* ~l, ~u, ~i: the output's type is the conversion's (va_arg takes exactly it). */
static int conv_int(match_t *m, const char *p, size_t n, char c)
{
    long v;
    unsigned long uv;
    int i = 0;
    if (c == 'u') {
        unsigned long *out = va_arg(m->ap, unsigned long *);
        if (!p || !WHOLE(ei_decode_ulong(p, &i, &uv), p, n))
            return 0;
        if (out)
            *out = uv;
        return 1;
    }
    long *lout = c == 'l' ? va_arg(m->ap, long *) : NULL;
    int *iout = c == 'i' ? va_arg(m->ap, int *) : NULL;
    if (!p || !WHOLE(ei_decode_long(p, &i, &v), p, n) || (c == 'i' && (v < INT_MIN || v > INT_MAX)))
        return 0;
    if (lout)
        *lout = v;
    if (iout)
        *iout = (int)v;
    return 1;
}

/* ~p / ~r: self first (pids and refs name their node by an id of self's node). */
static int conv_id(match_t *m, const char *p, size_t n, char c, size_t at)
{
    otpc_proc_t *self = va_arg(m->ap, otpc_proc_t *);
    otpc_pid_t *pid = c == 'p' ? va_arg(m->ap, otpc_pid_t *) : NULL;
    otpc_ref_t *ref = c == 'r' ? va_arg(m->ap, otpc_ref_t *) : NULL;
    if (!self)
        return bad(m, at, "~p or ~r: NULL self");
    if (!p)
        return 0;
    unsigned char t = tag(p);
    int is = c == 'p' ? t == ERL_NEW_PID_EXT || t == ERL_PID_EXT
                      : t == ERL_NEWER_REFERENCE_EXT || t == ERL_NEW_REFERENCE_EXT;
    int i = 0, rc;
    if (!is)
        return 0;
    if (!pid && !ref)
        return 1;
    rc = pid ? otpc_decode_pid(self, p, &i, pid) : otpc_decode_ref(self, p, &i, ref);
    if (rc == OTPC_ENOMEM)
        OTPC__LOG_WARN("format", "out of memory decoding a pid or ref: no match");
    return rc == 0 && (size_t)i == n;
}

/* One conversion against the term at p (NULL: dead, only its arguments are taken). */
static int conv(match_t *m, const char *p, size_t n, char c, size_t at)
{
    if (m->in_key)
        return bad(m, at, "a map key in a match is a literal");
    switch (c) {
    case 'a': {
        char *out = va_arg(m->ap, char *);
        return p && conv_atom(p, n, out);
    }
    case 's': {
        char *buf = va_arg(m->ap, char *);
        size_t cap = va_arg(m->ap, size_t);
        return p && conv_string(p, n, buf, cap);
    }
    case 'b': {
        const char **data = va_arg(m->ap, const char **);
        size_t *len = va_arg(m->ap, size_t *);
        if (!p || tag(p) != ERL_BINARY_EXT)
            return 0;
        if (data)
            *data = p + 5;
        if (len)
            *len = otpc__get_u32(p + 1);
        return 1;
    }
    case 'l':
    case 'u':
    case 'i':
        return conv_int(m, p, n, c);
    case 'd': {
        double *out = va_arg(m->ap, double *), d;
        int i = 0;
        /* the external format can carry NaN and infinities; Erlang has none */
        if (!p || !WHOLE(ei_decode_double(p, &i, &d), p, n) || !isfinite(d))
            return 0;
        if (out)
            *out = d;
        return 1;
    }
    case 'p':
    case 'r':
        return conv_id(m, p, n, c, at);
    default: { /* 't' */
        otpc_term_t *out = va_arg(m->ap, otpc_term_t *);
        if (p && out)
            *out = (otpc_term_t){p, n};
        return p != NULL;
    }
    }
}

/* ---- containers ----------------------------------------------------------------------- */

static int term(match_t *m, const char *p, size_t n, int depth);

/* Take `expect` (or `alt`, if not END) as the next token; -1 if it is something else. */
static int want(match_t *m, otpc__tk_kind_t expect, const char *why, otpc__tk_t *tk)
{
    otpc__lex_next(&m->lx, tk);
    if (tk->kind == expect)
        return 0;
    return bad(m, tk->at, tk->kind == OTPC__TK_BAD ? tk->why : why);
}

static int tuple(match_t *m, const char *p, size_t n, int depth)
{
    otpc__tk_t tk;
    const char *end = p ? p + n : NULL, *q = NULL;
    uint32_t arity = 0, k = 0;
    int ok = 0;
    if (p && (tag(p) == ERL_SMALL_TUPLE_EXT || tag(p) == ERL_LARGE_TUPLE_EXT)) {
        int large = tag(p) == ERL_LARGE_TUPLE_EXT;
        arity = large ? otpc__get_u32(p + 1) : (unsigned char)p[1];
        q = p + (large ? 5 : 2);
        ok = 1;
    }
    if (otpc__lex_peek(&m->lx) == OTPC__TK_RBRACE) {
        otpc__lex_next(&m->lx, &tk);
        return ok && arity == 0;
    }
    for (;; k++) {
        size_t en = 0;
        const char *ep = ok && k < arity && extent(q, end, &en) == 0 ? q : NULL;
        int r = term(m, ep, en, depth);
        if (r < 0)
            return r;
        ok = ok && r;
        q = ep ? q + en : q;
        otpc__lex_next(&m->lx, &tk);
        if (tk.kind == OTPC__TK_RBRACE)
            return ok && k + 1 == arity;
        if (tk.kind != OTPC__TK_COMMA)
            return bad(m, tk.at, tk.kind == OTPC__TK_BAD ? tk.why : "expected , or }");
    }
}

static int list(match_t *m, const char *p, size_t n, int depth)
{
    otpc__tk_t tk;
    lcur_t c;
    const char *ep;
    size_t en;
    int ok = p && lcur_init(&c, p, n) == 0;
    if (otpc__lex_peek(&m->lx) == OTPC__TK_RBRACK) {
        otpc__lex_next(&m->lx, &tk);
        return ok && lcur_next(&c, &ep, &en) == 0;
    }
    for (;;) {
        ok = ok && lcur_next(&c, &ep, &en) == 1;
        int r = term(m, ok ? ep : NULL, ok ? en : 0, depth);
        if (r < 0)
            return r;
        ok = ok && r;
        otpc__lex_next(&m->lx, &tk);
        if (tk.kind == OTPC__TK_RBRACK)
            return ok && lcur_next(&c, &ep, &en) == 0;
        if (tk.kind == OTPC__TK_BAR) {
            /* a list cut after some elements has no bytes of its own to match or view */
            if (want(m, OTPC__TK_WILD, "a tail in a match is _", &tk) ||
                want(m, OTPC__TK_RBRACK, "expected ]", &tk))
                return -1;
            if (m->in_key)
                return bad(m, tk.at, "a map key in a match is a literal");
            return ok;
        }
        if (tk.kind != OTPC__TK_COMMA)
            return bad(m, tk.at, tk.kind == OTPC__TK_BAD ? tk.why : "expected , ] or |");
    }
}

/* The value of the first key of the map at [q, end) (pairs of them) that the key
 * pattern at the lexer matches; the lexer is left after the pattern either way. 1 with
 * [*vp, *vp + *vn), 0 if none does, -1 if the pattern is malformed. */
static int find_key(match_t *m, const char *q, const char *end, uint32_t pairs, int depth,
                    const char **vp, size_t *vn)
{
    otpc__lex_t at = m->lx;
    m->in_key++;
    for (uint32_t j = 0; j < pairs; j++) {
        size_t kn;
        if (extent(q, end, &kn) || extent(q + kn, end, vn))
            break;
        m->lx = at;
        int r = term(m, q, kn, depth);
        if (r != 0) {
            m->in_key--;
            *vp = q + kn;
            return r;
        }
        q += kn + *vn;
    }
    m->lx = at;
    int r = term(m, NULL, 0, depth);
    m->in_key--;
    return r < 0 ? r : 0;
}

/* #{K => V, ...} or :=: a map with at least those keys (literals), as in Erlang. */
static int map(match_t *m, const char *p, size_t n, int depth)
{
    otpc__tk_t tk;
    uint32_t pairs = 0;
    const char *q = NULL, *end = NULL;
    int ok = p && tag(p) == ERL_MAP_EXT;
    if (ok) {
        pairs = otpc__get_u32(p + 1);
        q = p + 5;
        end = p + n;
    }
    if (otpc__lex_peek(&m->lx) == OTPC__TK_RBRACE) {
        otpc__lex_next(&m->lx, &tk);
        return ok;
    }
    for (;;) {
        const char *vp = NULL;
        size_t vn = 0;
        int r = find_key(m, q, end, ok ? pairs : 0, depth, &vp, &vn);
        if (r < 0)
            return r;
        ok = ok && r;
        otpc__lex_next(&m->lx, &tk);
        if (tk.kind != OTPC__TK_ARROW && tk.kind != OTPC__TK_ASSOC)
            return bad(m, tk.at, tk.kind == OTPC__TK_BAD ? tk.why : "expected => or :=");
        if ((r = term(m, ok ? vp : NULL, ok ? vn : 0, depth)) < 0)
            return r;
        ok = ok && r;
        otpc__lex_next(&m->lx, &tk);
        if (tk.kind == OTPC__TK_RBRACE)
            return ok;
        if (tk.kind != OTPC__TK_COMMA)
            return bad(m, tk.at, tk.kind == OTPC__TK_BAD ? tk.why : "expected , or }");
    }
}

/* One pattern against the term at [p, p + n) (p NULL: dead). 1 match, 0 none, -1
 * malformed. */
static int term(match_t *m, const char *p, size_t n, int depth)
{
    otpc__tk_t tk;
    otpc__lex_next(&m->lx, &tk);
    switch (tk.kind) {
    case OTPC__TK_ATOM:
        return p && match_atom(p, n, tk.txt);
    case OTPC__TK_INT:
        return p && match_int(p, n, tk.num);
    case OTPC__TK_STRING:
        return p && match_string(p, n, tk.txt);
    case OTPC__TK_BINARY:
        return p && match_binary(p, tk.txt);
    case OTPC__TK_CONV:
        return conv(m, p, n, tk.conv, tk.at);
    case OTPC__TK_WILD:
        if (m->in_key)
            return bad(m, tk.at, "a map key in a match is a literal");
        return p != NULL;
    case OTPC__TK_LBRACE:
    case OTPC__TK_LBRACK:
    case OTPC__TK_MAP:
        if (depth >= OTPC__FMT_MAX_DEPTH)
            return bad(m, tk.at, "nested too deep");
        return tk.kind == OTPC__TK_LBRACE   ? tuple(m, p, n, depth + 1)
               : tk.kind == OTPC__TK_LBRACK ? list(m, p, n, depth + 1)
                                            : map(m, p, n, depth + 1);
    case OTPC__TK_BAD:
        return bad(m, tk.at, tk.why);
    case OTPC__TK_END:
        return bad(m, tk.at, "expected a term");
    default:
        return bad(m, tk.at, "unexpected token");
    }
}

int otpc__vmatch(otpc_term_t t, const char *fmt, va_list ap, const char **why, size_t *at)
{
    match_t m = {.lx = {fmt, fmt}, .why = "", .at = 0};
    const char *p = t.data;
    size_t n = t.size, used;
    int r;
    if (!fmt) {
        r = bad(&m, 0, "NULL format");
        goto out;
    }
    if (p && n && tag(p) == ERL_VERSION_MAGIC)
        p++, n--;
    if (!p || !n || otpc__term_skip(p, n, &used) || used != n)
        p = NULL; /* not one well-formed term: matches nothing */
    va_copy(m.ap, ap);
    r = term(&m, p, n, 0);
    if (r >= 0) {
        otpc__tk_t tk;
        otpc__lex_next(&m.lx, &tk);
        if (tk.kind != OTPC__TK_END)
            r = bad(&m, tk.at, tk.kind == OTPC__TK_BAD ? tk.why : "more after the term");
    }
    va_end(m.ap);
out:
    if (why) {
        *why = r < 0 ? m.why : NULL;
        *at = m.at;
    }
    return r < 0 ? OTPC_EINVAL : r;
}

int otpc_vmatch(otpc_term_t t, const char *fmt, va_list ap)
{
    const char *why;
    size_t at;
    int r = otpc__vmatch(t, fmt, ap, &why, &at);
    if (r < 0) {
        OTPC__LOG_ERROR("format", "otpc_match: malformed format at %zu (%s): %s", at, why,
                        fmt ? fmt : "NULL");
        return 0;
    }
    return r;
}

int otpc_match(otpc_term_t t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = otpc_vmatch(t, fmt, ap);
    va_end(ap);
    return r;
}
