/* The atom cache of distribution headers, both ways; see atomcache.h. */
#include "proto/atomcache.h"

#include <ei.h>
#include <stdlib.h>
#include <string.h>

#include "otpc.h"
#include "proto/term.h"
#include "util/buf.h"

#define NEW_ENTRY 8
#define LONG_ATOMS 1

static int bad(const char **why, const char *text)
{
    *why = text;
    return OTPC_EPROTO;
}

/* The half byte of reference i (i == n: the header's own flags). */
static unsigned nibble(const char *flags, unsigned i)
{
    return ((unsigned char)flags[i / 2] >> ((i & 1) * 4)) & 15;
}

static size_t flag_bytes(unsigned n)
{
    return n / 2 + 1;
}

/* ---- in ---------------------------------------------------------------------------- */

int otpc__achdr_size(const char *p, size_t len, unsigned n, size_t *size, const char **why)
{
    size_t at = flag_bytes(n);
    if (len < at)
        return bad(why, "truncated atom cache references");
    int long_atoms = nibble(p, n) & LONG_ATOMS;
    for (unsigned i = 0; i < n; i++) {
        if (len - at < 1)
            return bad(why, "truncated atom cache references");
        at++; /* InternalSegmentIndex */
        if (!(nibble(p, i) & NEW_ENTRY))
            continue;
        size_t tlen, lb = long_atoms ? 2 : 1;
        if (len - at < lb)
            return bad(why, "truncated atom cache references");
        tlen = long_atoms ? otpc__get_u16(p + at) : (unsigned char)p[at];
        at += lb;
        if (tlen > OTPC__AC_MAX_TEXT)
            return bad(why, "atom cache entry longer than 255 characters");
        if (len - at < tlen)
            return bad(why, "truncated atom cache references");
        at += tlen;
    }
    *size = at;
    return 0;
}

/* An atom's text from a new entry: UTF-8 of at most 255 characters, as ERTS takes. */
static int text_ok(const char *text, size_t len)
{
    unsigned chars = 0;
    for (size_t i = 0; i < len; chars++) {
        size_t k = otpc__utf8_seq((const unsigned char *)text + i, len - i);
        if (!k)
            return 0;
        i += k;
    }
    return chars <= 255;
}

static otpc__acatom_t *atom_new(const char *text, size_t len)
{
    size_t hl = len > 255 ? 3 : 2;
    otpc__acatom_t *a = malloc(sizeof *a + hl + len);
    if (!a)
        return NULL;
    a->users = 1;
    a->len = (uint16_t)(hl + len);
    if (hl == 2) {
        a->ext[0] = (char)ERL_SMALL_ATOM_UTF8_EXT;
        a->ext[1] = (char)len;
    } else {
        a->ext[0] = (char)ERL_ATOM_UTF8_EXT;
        otpc__put_u16(a->ext + 1, (uint16_t)len);
    }
    memcpy(a->ext + hl, text, len);
    return a;
}

static void atom_unref(otpc__acatom_t *a)
{
    if (a && --a->users == 0)
        free(a);
}

int otpc__acin_read(otpc__acin_t *c, const char *p, unsigned n, otpc__acrefs_t *r, const char **why)
{
    const char *flags = p;
    int long_atoms = nibble(flags, n) & LONG_ATOMS;
    size_t at = flag_bytes(n);
    r->n = 0;
    for (unsigned i = 0; i < n; i++) {
        unsigned f = nibble(flags, i);
        unsigned ix = (f & 7) << 8 | (unsigned char)p[at++];
        if (f & NEW_ENTRY) {
            size_t tlen = long_atoms ? otpc__get_u16(p + at) : (unsigned char)p[at];
            at += long_atoms ? 2 : 1;
            if (!text_ok(p + at, tlen)) {
                otpc__acrefs_release(r);
                return bad(why, "atom cache entry not UTF-8 of at most 255 characters");
            }
            otpc__acatom_t *a = atom_new(p + at, tlen);
            if (!a) {
                otpc__acrefs_release(r);
                *why = "out of memory";
                return OTPC_ENOMEM;
            }
            at += tlen;
            atom_unref(c->e[ix]);
            c->e[ix] = a;
        } else if (!c->e[ix]) {
            otpc__acrefs_release(r);
            return bad(why, "reference to an atom cache entry never set");
        }
        c->e[ix]->users++;
        r->a[r->n++] = c->e[ix];
    }
    return 0;
}

void otpc__acrefs_release(otpc__acrefs_t *r)
{
    for (unsigned i = 0; i < r->n; i++)
        atom_unref(r->a[i]);
    r->n = 0;
}

void otpc__acin_free(otpc__acin_t *c)
{
    for (unsigned i = 0; i < OTPC__AC_SIZE; i++) {
        atom_unref(c->e[i]);
        c->e[i] = NULL;
    }
}

int otpc__acin_expand(void *ctx, const char *at, size_t len, const char **rep, size_t *rlen)
{
    const otpc__acrefs_t *r = ctx;
    if ((unsigned char)at[0] == OTPC__ATOM_CACHE_REF) {
        const otpc__acatom_t *a = r->a[(unsigned char)at[1]]; /* below n: the walk checked */
        *rep = a->ext;
        *rlen = a->len;
    } else {
        *rep = at;
        *rlen = len;
    }
    return 0;
}

/* ---- out --------------------------------------------------------------------------- */

void otpc__acout_begin(otpc__acout_t *c)
{
    c->msg++;
    c->n = 0;
}

/* Entry s holds a reference of the message being built. Exact whatever iref holds from
 * older messages: ref_slot[0..n) were all set by this one, each with its iref. */
static int in_msg(const otpc__acout_t *c, unsigned s)
{
    return c->iref[s] < c->n && c->ref_slot[c->iref[s]] == s;
}

static int holds(const otpc__acout_t *c, unsigned s, const char *text, size_t len)
{
    return c->slot[s].len == len && memcmp(c->slot[s].text, text, len) == 0;
}

/* FNV-1a: two entries an atom may sit in. */
static uint32_t hash(const char *text, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)text[i]) * 16777619u;
    return h;
}

static void refer(otpc__acout_t *c, unsigned s, int fresh)
{
    if (!in_msg(c, s)) {
        c->iref[s] = (uint8_t)c->n;
        c->ref_slot[c->n] = (uint8_t)s;
        c->ref_new[c->n] = (uint8_t)fresh;
        c->n++;
    }
    c->last[s] = c->msg;
    c->rep[0] = (char)OTPC__ATOM_CACHE_REF;
    c->rep[1] = (char)c->iref[s];
}

/* The entry for the atom text[0..len): one of its two, or -1 (both taken by other atoms
 * of this message). *fresh when it must be set. */
static int choose(otpc__acout_t *c, const char *text, size_t len, int *fresh)
{
    uint32_t h = hash(text, len);
    unsigned a = h % OTPC__ACO_SLOTS, b = (h >> 8) % OTPC__ACO_SLOTS;
    *fresh = 0;
    if (holds(c, a, text, len))
        return (int)a;
    if (holds(c, b, text, len))
        return (int)b;
    int free_a = !in_msg(c, a), free_b = b != a && !in_msg(c, b);
    if (!free_a && !free_b)
        return -1;
    *fresh = 1;
    return free_a && (!free_b || c->last[a] <= c->last[b]) ? (int)a : (int)b;
}

int otpc__acout_compress(void *ctx, const char *at, size_t len, const char **rep, size_t *rlen)
{
    otpc__acout_t *c = ctx;
    size_t tlen = len - 2;
    int fresh, s;
    *rep = at;
    *rlen = len;
    if ((unsigned char)at[0] != ERL_SMALL_ATOM_UTF8_EXT || tlen < 2 || tlen > OTPC__ACO_TEXT)
        return 0;
    if ((s = choose(c, at + 2, tlen, &fresh)) < 0)
        return 0;
    if (c->n == OTPC__AC_REFS && !in_msg(c, (unsigned)s))
        return 0; /* the header is full: only atoms already in it are referred to */
    if (fresh && !text_ok(at + 2, tlen))
        return 0; /* the peer would refuse the entry; as it is, it refuses the term */
    if (fresh) {
        c->slot[s].len = (uint8_t)tlen;
        memcpy(c->slot[s].text, at + 2, tlen);
    }
    refer(c, (unsigned)s, fresh);
    *rep = c->rep;
    *rlen = 2;
    return 0;
}

size_t otpc__acout_hdr_len(const otpc__acout_t *c)
{
    if (!c->n)
        return 1;
    size_t len = 1 + flag_bytes(c->n) + c->n;
    for (unsigned i = 0; i < c->n; i++)
        if (c->ref_new[i])
            len += 1 + c->slot[c->ref_slot[i]].len;
    return len;
}

size_t otpc__acout_hdr_put(const otpc__acout_t *c, char *out)
{
    out[0] = (char)c->n;
    if (!c->n)
        return 1;
    char *flags = out + 1;
    size_t at = 1 + flag_bytes(c->n);
    memset(flags, 0, flag_bytes(c->n)); /* segment 0; LongAtoms off: texts are short */
    for (unsigned i = 0; i < c->n; i++) {
        unsigned s = c->ref_slot[i];
        out[at++] = (char)s;
        if (!c->ref_new[i])
            continue;
        flags[i / 2] |= (char)(NEW_ENTRY << ((i & 1) * 4));
        out[at++] = (char)c->slot[s].len;
        memcpy(out + at, c->slot[s].text, c->slot[s].len);
        at += c->slot[s].len;
    }
    return at;
}

void otpc__acout_abort(otpc__acout_t *c)
{
    for (unsigned i = 0; i < c->n; i++)
        if (c->ref_new[i])
            c->slot[c->ref_slot[i]].len = 0;
    c->n = 0;
}
