/* Distribution headers and the reassembly of fragmented messages; see frag.h. */
#include "proto/frag.h"

#include <stdlib.h>
#include <string.h>

#include "otpc.h"
#include "proto/term.h"

#define PASS_THROUGH 'p'

static int bad(const char **why, const char *text)
{
    *why = text;
    return OTPC_EPROTO;
}

/* N and, when it is not 0, the references section after it (at pkt[at..len)). */
static int refs_section(const char *pkt, size_t len, size_t at, unsigned agreed, otpc__dhdr_t *h,
                        const char **why)
{
    h->nrefs = (unsigned char)pkt[at];
    h->body = at + 1;
    if (!h->nrefs)
        return 0;
    if (!(agreed & OTPC__DH_CACHE))
        return bad(why, "atom cache references in a distribution header (not agreed)");
    size_t size;
    h->refs = at + 1;
    if (otpc__achdr_size(pkt + h->refs, len - h->refs, h->nrefs, &size, why))
        return OTPC_EPROTO;
    h->body = h->refs + size;
    return 0;
}

int otpc__dhdr_parse(const char *pkt, size_t len, unsigned agreed, otpc__dhdr_t *h,
                     const char **why)
{
    const unsigned char *u = (const unsigned char *)pkt;
    if (len < 2 || u[0] != ERL_VERSION_MAGIC)
        return bad(why, "packet without a distribution header (headers were agreed)");
    memset(h, 0, sizeof *h);
    h->kind = u[1];
    switch (h->kind) {
    case OTPC__DHDR_NORMAL:
        h->body = OTPC__DHDR_NORMAL_LEN;
        break;
    case OTPC__DHDR_FIRST:
        h->body = OTPC__DHDR_FIRST_LEN;
        break;
    case OTPC__DHDR_CONT:
        h->body = OTPC__DHDR_CONT_LEN;
        break;
    default:
        return bad(why, "unknown distribution header");
    }
    if (len < h->body)
        return bad(why, "truncated distribution header");
    if (h->kind != OTPC__DHDR_NORMAL) {
        if (!(agreed & OTPC__DH_FRAGMENTS))
            return bad(why, "fragment of a message (fragments not agreed)");
        h->seq = otpc__get_u64(pkt + 2);
        h->frag = otpc__get_u64(pkt + 10);
        if (h->frag == 0)
            return bad(why, "fragment id 0");
    }
    if (h->kind == OTPC__DHDR_CONT)
        return 0;
    return refs_section(pkt, len, h->body - 1, agreed, h, why);
}

size_t otpc__dhdr_put_normal(char *out)
{
    out[0] = (char)ERL_VERSION_MAGIC;
    out[1] = OTPC__DHDR_NORMAL;
    out[2] = 0;
    return OTPC__DHDR_NORMAL_LEN;
}

size_t otpc__dhdr_put_first(char *out, uint64_t seq, uint64_t frag)
{
    otpc__dhdr_put_cont(out, seq, frag);
    out[1] = OTPC__DHDR_FIRST;
    out[18] = 0; /* no atom cache references */
    return OTPC__DHDR_FIRST_LEN;
}

size_t otpc__dhdr_put_cont(char *out, uint64_t seq, uint64_t frag)
{
    out[0] = (char)ERL_VERSION_MAGIC;
    out[1] = OTPC__DHDR_CONT;
    otpc__put_u64(out + 2, seq);
    otpc__put_u64(out + 10, frag);
    return OTPC__DHDR_CONT_LEN;
}

int otpc__dhdr_to_pass(char *pkt, size_t len, size_t *plen, const char **why)
{
    size_t ctl;
    const size_t at = OTPC__DHDR_NORMAL_LEN;
    if (len > 2 && pkt[2] != 0)
        return bad(why, "atom cache references (not rewritten in place)");
    if (len <= at || otpc__term_skip(pkt + at, len - at, &ctl))
        return bad(why, "malformed control message term");
    /* 131 68 0 Ctl Payload -> 'p' 131 Ctl 131 Payload: the same length; without a
     * payload one byte shorter */
    memmove(pkt + 2, pkt + at, ctl);
    pkt[0] = PASS_THROUGH;
    pkt[1] = (char)ERL_VERSION_MAGIC;
    if (at + ctl < len) {
        pkt[2 + ctl] = (char)ERL_VERSION_MAGIC;
        *plen = len;
    } else {
        *plen = len - 1;
    }
    return 0;
}

size_t otpc__dhdr_from_pass(const char *pkt, size_t len, char *out)
{
    size_t ctl; /* with its version byte */
    if (len < 2 || pkt[0] != PASS_THROUGH || otpc__term_skip_versioned(pkt + 1, len - 1, &ctl))
        return 0;
    size_t rest = 1 + ctl; /* the payload's version byte, if any */
    if (rest < len && ((unsigned char)pkt[rest] != ERL_VERSION_MAGIC || rest + 1 == len))
        return 0; /* not a versioned payload after the control message */
    size_t w = otpc__dhdr_put_normal(out);
    memcpy(out + w, pkt + 2, ctl - 1);
    w += ctl - 1;
    if (rest < len) {
        memcpy(out + w, pkt + rest + 1, len - rest - 1);
        w += len - rest - 1;
    }
    return w;
}

/* ---- reassembly ----------------------------------------------------------------------- */

/* The pass-through form holds 'p' and two version bytes beyond the message's terms. */
#define FORM_EXTRA 3

void otpc__frag_init(otpc__frag_tab_t *t, size_t max)
{
    memset(t, 0, sizeof *t);
    t->max = max;
}

/* ---- atom cache references ---------------------------------------------------------- */

/* Room for `extra` more bytes in b (a message's, after `base` bytes of headroom),
 * growing geometrically but never past the largest message the table takes (so a
 * message of max bytes costs max, not twice that). */
static int grow(otpc__frag_tab_t *t, otpc__buf_t *b, size_t extra, size_t base)
{
    if (b->cap - b->len >= extra)
        return 0;
    size_t need = b->len + extra, top = base + t->max + FORM_EXTRA;
    size_t cap = b->cap ? b->cap : 256 < top ? 256 : top;
    while (cap < need)
        cap = cap > top / 2 ? top : cap * 2;
    if (cap < need)
        cap = need;
    /* from 1 MiB on a mapping of its own: grown without copies, reused (util/buf.h) */
    return otpc__buf_set_cap_large(b, cap);
}

/* Apply h's references section (nrefs > 0) to the table's cache, their atoms into r. */
static int read_refs(otpc__frag_tab_t *t, const otpc__dhdr_t *h, const char *pkt, otpc__acrefs_t *r,
                     const char **why)
{
    if (!t->cache && !(t->cache = calloc(1, sizeof *t->cache))) {
        *why = "out of memory";
        return OTPC_ENOMEM;
    }
    return otpc__acin_read(t->cache, pkt + h->refs, h->nrefs, r, why);
}

/* One term of a message (exactly ctl[0..len) when `whole`) appended to out with its
 * references as atoms; *used its input size. */
static int expand_term(otpc__frag_tab_t *t, const otpc__acrefs_t *r, const char *term, size_t len,
                       int whole, size_t *used, const char *what, const char **why)
{
    int rc = otpc__term_copy(term, len, r->n, otpc__acin_expand, (void *)r, &t->done,
                             t->max + FORM_EXTRA, used);
    if (rc == OTPC_ENOMEM) {
        *why = "out of memory";
        return rc;
    }
    if (rc == OTPC_ETOOBIG)
        return bad(why, "message exceeds max_message with its atoms written out");
    if (rc || (whole && *used != len))
        return bad(why, what);
    return 0;
}

/* The message ctl[0..clen) [, payload pay[0..plen) when has_pay] in pass-through form in
 * t->done, its references written out as atoms. clen may run past the control term
 * when its length is not known (a whole message): the payload is then what follows. */
static int expand(otpc__frag_tab_t *t, const otpc__acrefs_t *r, const char *ctl, size_t clen,
                  int known, const char *pay, size_t plen, int has_pay, const char **why)
{
    size_t used;
    t->done.len = 0;
    if (grow(t, &t->done, 2, 0)) {
        *why = "out of memory";
        return OTPC_ENOMEM;
    }
    t->done.data[0] = PASS_THROUGH;
    t->done.data[1] = (char)ERL_VERSION_MAGIC;
    t->done.len = 2;
    int rc = expand_term(t, r, ctl, clen, known, &used, "malformed control message term", why);
    if (rc)
        return rc;
    if (!known) {
        pay = ctl + used;
        plen = clen - used;
        has_pay = plen > 0;
    }
    if (!has_pay)
        return 0;
    if (t->done.len == t->max + FORM_EXTRA)
        return bad(why, "message exceeds max_message with its atoms written out");
    if (grow(t, &t->done, 1, 0)) {
        *why = "out of memory";
        return OTPC_ENOMEM;
    }
    t->done.data[t->done.len++] = (char)ERL_VERSION_MAGIC;
    return expand_term(t, r, pay, plen, 1, &used, "malformed payload term", why);
}

/* The last message's buffer: kept for the next sequence unless it is large. */
void otpc__frag_done_taken(otpc__frag_tab_t *t)
{
    t->done = (otpc__buf_t){0};
}

static void release_done(otpc__frag_tab_t *t)
{
    if (t->done.cap > OTPC__BUF_KEEP)
        otpc__buf_free(&t->done);
    t->done.len = 0;
}

int otpc__frag_whole(otpc__frag_tab_t *t, const otpc__dhdr_t *h, const char *pkt, size_t len,
                     const char **msg, size_t *mlen, const char **why)
{
    release_done(t);
    if (h->kind != OTPC__DHDR_NORMAL || !h->nrefs)
        return bad(why, "not a whole message with atom cache references");
    int rc = read_refs(t, h, pkt, &t->atoms, why);
    if (rc)
        return rc;
    rc = expand(t, &t->atoms, pkt + h->body, len - h->body, 0, NULL, 0, 0, why);
    otpc__acrefs_release(&t->atoms);
    if (rc)
        return rc;
    *msg = t->done.data;
    *mlen = t->done.len;
    return 1;
}

/* ---- sequences ------------------------------------------------------------------------ */

static otpc__fseq_t *find(otpc__frag_tab_t *t, uint64_t seq)
{
    for (unsigned i = 0; i < t->n; i++)
        if (t->seqs[i].seq == seq)
            return &t->seqs[i];
    return NULL;
}

/* Append the fragment's data, within the table's bound. */
static int add_data(otpc__frag_tab_t *t, otpc__fseq_t *s, const char *data, size_t n,
                    const char **why)
{
    if (n > t->max - s->bytes)
        return bad(why, "fragmented message exceeds max_message");
    if (grow(t, &s->buf, n, s->base))
        return OTPC_ENOMEM;
    memcpy(s->buf.data + s->buf.len, data, n);
    s->buf.len += n;
    s->bytes += n;
    return 0;
}

/* The atoms of a first fragment's references, held by its sequence; *out NULL without. */
static int first_atoms(otpc__frag_tab_t *t, const otpc__dhdr_t *h, const char *pkt,
                       otpc__acrefs_t **out, const char **why)
{
    *out = NULL;
    if (!h->nrefs)
        return 0;
    otpc__acrefs_t *r = malloc(sizeof *r);
    if (!r) {
        *why = "out of memory";
        return OTPC_ENOMEM;
    }
    int rc = read_refs(t, h, pkt, r, why);
    if (rc) {
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

static void drop_atoms(otpc__fseq_t *s)
{
    if (s->atoms) {
        otpc__acrefs_release(s->atoms);
        free(s->atoms);
        s->atoms = NULL;
    }
}

static int first(otpc__frag_tab_t *t, const otpc__dhdr_t *h, const char *pkt, size_t len,
                 otpc__fseq_t **out, const char **why)
{
    size_t ctl;
    otpc__acrefs_t *atoms;
    if (find(t, h->seq))
        return bad(why, "fragment sequence id already in progress");
    if (t->n == OTPC__FRAG_SEQS)
        return bad(why, "too many fragmented messages in progress");
    if (h->frag > t->max)
        return bad(why, "more fragments than max_message bytes");
    if (otpc__term_skip_refs(pkt + h->body, len - h->body, h->nrefs, &ctl))
        return bad(why, "first fragment without a whole control message");
    if (ctl > t->max)
        return bad(why, "fragmented message exceeds max_message");
    int rc = first_atoms(t, h, pkt, &atoms, why);
    if (rc)
        return rc;
    otpc__fseq_t *s = &t->seqs[t->n];
    memset(s, 0, sizeof *s);
    otpc__buf_swap(&s->buf, &t->done); /* reuse what the last message left, if kept */
    s->buf.len = 0;
    s->seq = h->seq;
    s->next = h->frag;
    s->ctl = ctl;
    s->atoms = atoms;
    s->base = atoms ? OTPC__FRAG_HEADROOM : 0;
    if (grow(t, &s->buf, s->base + 2 + ctl + 1, s->base)) {
        otpc__buf_free(&s->buf);
        drop_atoms(s);
        *why = "out of memory";
        return OTPC_ENOMEM;
    }
    t->n++;
    char *b = s->buf.data + s->base;
    b[0] = PASS_THROUGH;
    b[1] = (char)ERL_VERSION_MAGIC;
    memcpy(b + 2, pkt + h->body, ctl);
    s->buf.len = s->base + 2 + ctl;
    s->bytes = ctl;
    size_t part = len - h->body - ctl;
    if (part || h->frag > 1)
        s->buf.data[s->buf.len++] = (char)ERL_VERSION_MAGIC; /* the payload's */
    *out = s;
    return add_data(t, s, pkt + h->body + ctl, part, why);
}

/* ---- a completed message with references, written out in place ------------------------- */

/* Where a completed message's references are (at most INPLACE_REFS of them), and how
 * much writing them out grows it. */
#define INPLACE_REFS 256

typedef struct {
    const otpc__acrefs_t *atoms;
    const char *at[INPLACE_REFS];
    unsigned n;
    int over;    /* more than INPLACE_REFS */
    size_t grow; /* bytes the atoms add */
} refs_seen_t;

static void seen(void *ctx, const char *at)
{
    refs_seen_t *r = ctx;
    if (r->n == INPLACE_REFS) {
        r->over = 1;
        return;
    }
    r->at[r->n++] = at;
    r->grow += r->atoms->a[(unsigned char)at[1]]->len - 2u;
}

/* The references of a term (exactly term[0..len)) noted in r: 0, 1 when they cannot be
 * written out in place (a fun, too many), or OTPC_EPROTO with `what`. */
static int note_refs(refs_seen_t *r, const char *term, size_t len, const char *what,
                     const char **why)
{
    size_t used;
    int rc = otpc__term_find_refs(term, len, r->atoms->n, seen, r, &used);
    if (rc == OTPC_ESTATE)
        return 1;
    if (rc || used != len)
        return bad(why, what);
    return r->over;
}

/* s's message (after s->base bytes of headroom) with its references written out as
 * atoms where it lies: each stretch between two references moves left by what the
 * atoms after it add, into the headroom, so the bytes after the last reference (a large
 * binary, typically) stay where they are. 0 with *off (where the message begins now),
 * 1 when it cannot be done in place, or OTPC_EPROTO. */
static int in_place(otpc__frag_tab_t *t, otpc__fseq_t *s, size_t *off, const char **why)
{
    refs_seen_t r = {.atoms = s->atoms};
    char *b = s->buf.data;
    size_t start = s->base, pay = start + 2 + s->ctl + 1, end = s->buf.len;
    int rc = note_refs(&r, b + start + 2, s->ctl, "malformed control message term", why);
    if (rc == 0 && pay <= end)
        rc = note_refs(&r, b + pay, end - pay, "malformed payload term", why);
    if (rc)
        return rc;
    if (r.grow > s->base)
        return 1;
    if (end - start + r.grow > t->max + FORM_EXTRA)
        return bad(why, "message exceeds max_message with its atoms written out");
    size_t src = start, dst = start - r.grow;
    for (unsigned i = 0; i < r.n; i++) {
        size_t at = (size_t)(r.at[i] - b), len = at - src;
        const otpc__acatom_t *a = s->atoms->a[(unsigned char)r.at[i][1]];
        memmove(b + dst, b + src, len);
        memcpy(b + dst + len, a->ext, a->len);
        dst += len + a->len;
        src = at + 2;
    }
    *off = start - r.grow; /* dst == src now: the rest is in place */
    return 0;
}

/* A completed sequence's message into t->done, at *off: its buffer as it is, or with
 * its references written out as atoms (in place if it can, else copied). */
static int complete(otpc__frag_tab_t *t, otpc__fseq_t *s, size_t *off, const char **why)
{
    *off = s->base;
    if (s->atoms) {
        int rc = in_place(t, s, off, why);
        if (rc < 0)
            return rc;
        if (rc) { /* a fun, or many references: written out as a copy */
            const char *b = s->buf.data + s->base;
            size_t at = 2 + s->ctl, len = s->buf.len - s->base, has_pay = len > at;
            *off = 0;
            return expand(t, s->atoms, b + 2, s->ctl, 1, b + at + 1, has_pay ? len - at - 1 : 0,
                          (int)has_pay, why);
        }
    }
    otpc__buf_swap(&t->done, &s->buf);
    return 0;
}

int otpc__frag_add(otpc__frag_tab_t *t, const otpc__dhdr_t *h, const char *pkt, size_t len,
                   const char **msg, size_t *mlen, const char **why)
{
    otpc__fseq_t *s = NULL; /* set by first() or find() before any use */
    int rc;
    release_done(t);
    if (h->kind == OTPC__DHDR_FIRST) {
        rc = first(t, h, pkt, len, &s, why);
    } else if (h->kind == OTPC__DHDR_CONT) {
        if (!(s = find(t, h->seq)))
            return bad(why, "fragment of an unknown sequence");
        if (h->frag != s->next)
            return bad(why, "fragment out of order");
        rc = add_data(t, s, pkt + h->body, len - h->body, why);
    } else {
        return bad(why, "not a fragment");
    }
    if (rc)
        return rc;
    if (--s->next > 0)
        return 0;
    size_t off;
    rc = complete(t, s, &off, why);
    otpc__buf_free(&s->buf);
    drop_atoms(s);
    *s = t->seqs[--t->n]; /* the last one takes its place */
    if (rc)
        return rc;
    *msg = t->done.data + off;
    *mlen = t->done.len - off;
    return 1;
}

size_t otpc__frag_pending(const otpc__frag_tab_t *t)
{
    size_t sum = 0;
    for (unsigned i = 0; i < t->n; i++)
        sum += t->seqs[i].buf.len;
    return sum;
}

void otpc__frag_free(otpc__frag_tab_t *t)
{
    for (unsigned i = 0; i < t->n; i++) {
        otpc__buf_free(&t->seqs[i].buf);
        drop_atoms(&t->seqs[i]);
    }
    t->n = 0;
    otpc__buf_free(&t->done);
    if (t->cache) {
        otpc__acin_free(t->cache);
        free(t->cache);
        t->cache = NULL;
    }
}
