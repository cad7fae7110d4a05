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

int otpc__dhdr_parse(const char *pkt, size_t len, otpc__dhdr_t *h, const char **why)
{
    const unsigned char *u = (const unsigned char *)pkt;
    if (len < 2 || u[0] != ERL_VERSION_MAGIC)
        return bad(why, "packet without a distribution header (fragments were agreed)");
    h->kind = u[1];
    h->seq = h->frag = 0;
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
        h->seq = otpc__get_u64(pkt + 2);
        h->frag = otpc__get_u64(pkt + 10);
        if (h->frag == 0)
            return bad(why, "fragment id 0");
    }
    if (h->kind != OTPC__DHDR_CONT && u[h->body - 1] != 0)
        return bad(why, "atom cache references in a distribution header (not agreed)");
    return 0;
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

static otpc__fseq_t *find(otpc__frag_tab_t *t, uint64_t seq)
{
    for (unsigned i = 0; i < t->n; i++)
        if (t->seqs[i].seq == seq)
            return &t->seqs[i];
    return NULL;
}

/* Room for `extra` more bytes in s, growing geometrically but never past the largest
 * message the table takes (so a message of max bytes costs max, not twice that). */
static int grow(otpc__frag_tab_t *t, otpc__fseq_t *s, size_t extra)
{
    otpc__buf_t *b = &s->buf;
    if (b->cap - b->len >= extra)
        return 0;
    size_t need = b->len + extra, top = t->max + FORM_EXTRA;
    size_t cap = b->cap ? b->cap : 256 < top ? 256 : top;
    while (cap < need)
        cap = cap > top / 2 ? top : cap * 2;
    if (cap < need)
        cap = need;
    char *p = realloc(b->data, cap);
    if (!p)
        return OTPC_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

/* Append the fragment's data, within the table's bound. */
static int add_data(otpc__frag_tab_t *t, otpc__fseq_t *s, const char *data, size_t n,
                    const char **why)
{
    if (n > t->max - s->bytes)
        return bad(why, "fragmented message exceeds max_message");
    if (grow(t, s, n))
        return OTPC_ENOMEM;
    memcpy(s->buf.data + s->buf.len, data, n);
    s->buf.len += n;
    s->bytes += n;
    return 0;
}

static int first(otpc__frag_tab_t *t, const otpc__dhdr_t *h, const char *pkt, size_t len,
                 otpc__fseq_t **out, const char **why)
{
    size_t ctl;
    if (find(t, h->seq))
        return bad(why, "fragment sequence id already in progress");
    if (t->n == OTPC__FRAG_SEQS)
        return bad(why, "too many fragmented messages in progress");
    if (h->frag > t->max)
        return bad(why, "more fragments than max_message bytes");
    if (otpc__term_skip(pkt + h->body, len - h->body, &ctl))
        return bad(why, "first fragment without a whole control message");
    if (ctl > t->max)
        return bad(why, "fragmented message exceeds max_message");
    otpc__fseq_t *s = &t->seqs[t->n];
    memset(s, 0, sizeof *s);
    otpc__buf_swap(&s->buf, &t->done); /* reuse what the last message left, if kept */
    s->buf.len = 0;
    s->seq = h->seq;
    s->next = h->frag;
    if (grow(t, s, 2 + ctl + 1)) {
        otpc__buf_free(&s->buf);
        return OTPC_ENOMEM;
    }
    t->n++;
    char *b = s->buf.data;
    b[0] = PASS_THROUGH;
    b[1] = (char)ERL_VERSION_MAGIC;
    memcpy(b + 2, pkt + h->body, ctl);
    s->buf.len = 2 + ctl;
    s->bytes = ctl;
    size_t part = len - h->body - ctl;
    if (part || h->frag > 1)
        b[s->buf.len++] = (char)ERL_VERSION_MAGIC; /* the payload's */
    *out = s;
    return add_data(t, s, pkt + h->body + ctl, part, why);
}

/* The last message's buffer: kept for the next sequence unless it is large. */
static void release_done(otpc__frag_tab_t *t)
{
    if (t->done.cap > OTPC__BUF_KEEP)
        otpc__buf_free(&t->done);
    t->done.len = 0;
}

int otpc__frag_add(otpc__frag_tab_t *t, const otpc__dhdr_t *h, const char *pkt, size_t len,
                   const char **msg, size_t *mlen, const char **why)
{
    otpc__fseq_t *s;
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
    otpc__buf_swap(&t->done, &s->buf);
    otpc__buf_free(&s->buf);
    *s = t->seqs[--t->n]; /* the last one takes its place */
    *msg = t->done.data;
    *mlen = t->done.len;
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
    for (unsigned i = 0; i < t->n; i++)
        otpc__buf_free(&t->seqs[i].buf);
    t->n = 0;
    otpc__buf_free(&t->done);
}
