/*
 * Callers of a C gen_server: otpc_from_t (pooled, on the server's list until answered,
 * dropped or the server ends), otpc_reply(), and tokens for answering from another OS
 * thread through the node's `replies` queue.
 *
 * Invariants:
 *  - A from is answered at most once; the one of the running handle_call is freed by
 *    the runtime after the callback, the others when answered or dropped.
 *  - otpc_reply_async wakes the scheduler only under the replies lock and only while the
 *    scheduler has marked the queue open, so it never writes to a closed waker.
 */
#include <stdlib.h>
#include <string.h>

#include "proto/term.h"
#include "otp/gen_server_int.h"
#include "util/log.h"

#define FROM_POOL_MAX 1024

/* ---- froms ----------------------------------------------------------------------------- */

/* Each scheduler thread pools the froms it frees (a server of one domain takes calls
 * holding only that domain's lock). */
typedef struct {
    otpc_from_t *head;
    uint32_t len;
} from_pool_t;

static otpc__ext_key_t pool_key;

static void pool_free(otpc_node_t *n, void *state)
{
    (void)n;
    from_pool_t *P = state;
    while (P->head) {
        otpc_from_t *f = P->head;
        P->head = f->next;
        otpc__buf_free(&f->tag);
        free(f);
    }
    free(P);
}

static from_pool_t *pool_of(otpc_node_t *n)
{
    void **slot = otpc__sched_local(n, &pool_key, pool_free);
    if (slot && !*slot)
        *slot = calloc(1, sizeof(from_pool_t));
    return slot ? *slot : NULL;
}

otpc_from_t *otpc__from_new(otpc_proc_t *p, const otpc__from_t *f)
{
    otpc_node_t *n = p->node;
    from_pool_t *P = pool_of(n);
    otpc_from_t *fr = P ? P->head : NULL;
    if (fr) {
        P->head = fr->next;
        P->len--;
    } else if (!(fr = calloc(1, sizeof *fr))) {
        return NULL;
    }
    otpc__buf_reset(&fr->tag);
    if (otpc__buf_append(&fr->tag, f->tag.data, f->tag.size)) {
        otpc__buf_free(&fr->tag);
        free(fr);
        return NULL;
    }
    fr->owner = p;
    fr->pid = f->pid;
    fr->prev = NULL;
    fr->next = otpc__gs(p)->froms;
    if (fr->next)
        fr->next->prev = fr;
    otpc__gs(p)->froms = fr;
    return fr;
}

void otpc__from_release(otpc_node_t *n, otpc__gs_t *g, otpc_from_t *fr)
{
    from_pool_t *P = pool_of(n);
    if (fr->prev)
        fr->prev->next = fr->next;
    else
        g->froms = fr->next;
    if (fr->next)
        fr->next->prev = fr->prev;
    fr->owner = NULL;
    if (!P || P->len >= FROM_POOL_MAX) {
        otpc__buf_free(&fr->tag);
        free(fr);
        return;
    }
    if (fr->tag.cap > 512) /* keep the pool's memory bounded by ordinary tags */
        otpc__buf_free(&fr->tag);
    fr->next = P->head;
    P->head = fr;
    P->len++;
}

int otpc__from_send(otpc_proc_t *self, const otpc_from_t *from, otpc_term_t reply)
{
    otpc__from_t f = {from->pid, {from->tag.data, from->tag.len}};
    return otpc__gen_reply(self, &f, reply);
}

otpc_pid_t otpc_from_pid(const otpc_from_t *from)
{
    return from->pid;
}

int otpc_reply(otpc_proc_t *self, otpc_from_t *from, otpc_term_t reply)
{
    OTPC__ENTER(self->node);
    if (!otpc__gs(self) || !from || from->owner != self)
        return OTPC_EINVAL;
    int rc = otpc__check_term(reply);
    if (rc == 0)
        rc = otpc__from_send(self, from, reply);
    otpc_from_drop(self, from); /* answered: done with it either way */
    return rc;
}

void otpc_from_drop(otpc_proc_t *self, otpc_from_t *from)
{
    OTPC__ENTER(self->node);
    otpc__gs_t *g = otpc__gs(self);
    if (!g || !from || from->owner != self)
        return;
    if (from == g->cur)
        g->cur_answered = 1; /* the runtime frees it after the callback */
    else
        otpc__from_release(self->node, g, from);
}

/* ---- answering from another thread ------------------------------------------------------ */

struct otpc_reply_token {
    otpc_node_t *n;
    otpc_pid_t server, caller;
    size_t tag_len;
    char tag[];
};

otpc_reply_token_t *otpc_from_detach(otpc_proc_t *self, otpc_from_t *from)
{
    OTPC__ENTER(self->node);
    otpc__gs_t *g = otpc__gs(self);
    if (!g || !from || from->owner != self)
        return NULL;
    otpc_reply_token_t *t = malloc(sizeof *t + from->tag.len);
    if (t) {
        t->n = self->node;
        t->server = self->pid;
        t->caller = from->pid;
        t->tag_len = from->tag.len;
        memcpy(t->tag, from->tag.data, from->tag.len);
    }
    otpc_from_drop(self, from);
    return t;
}

int otpc__replies_post(otpc_node_t *n, uint32_t type, void *ptr, const char *data, uint32_t len)
{
    otpc__otp_t *O = otpc__otp(n);
    int rc = 1;
    /* The wake-up is sent with the lock held: the scheduler closes the waker only after
     * it has marked the queue closed under the same lock. */
    otpc__mq_lock(&O->replies);
    if (O->replies_open && (rc = otpc__mq_add_locked(&O->replies, type, ptr, 0, data, len)) == 0)
        otpc__mq_wake_locked(&O->replies);
    otpc__mq_unlock(&O->replies);
    return rc;
}

int otpc_reply_async(otpc_reply_token_t *t, otpc_term_t reply)
{
    if (!t)
        return OTPC_EINVAL;
    int rc = reply.size > UINT32_MAX ? OTPC_ETOOBIG : otpc__check_term(reply);
    if (rc) {
        free(t);
        return rc;
    }
    rc = otpc__replies_post(t->n, OTPC__ASYNC_REPLY, t, reply.data, (uint32_t)reply.size);
    if (rc)
        free(t); /* a stopped node drops the reply, as a dead server's caller sees */
    return rc < 0 ? rc : 0;
}

void otpc__otp_replies_open(otpc_node_t *n, int open)
{
    otpc__otp_t *O = otpc__otp(n);
    otpc__mq_lock(&O->replies);
    O->replies_open = open;
    otpc__mq_unlock(&O->replies);
}

/* Replies queued after the last turn: their tokens go. */
void otpc__async_drop(otpc__mq_t *q)
{
    const otpc__rec_t *r;
    const char *d;
    otpc__mq_take(q);
    while ((r = otpc__mq_next(q, &d)) != NULL)
        free(r->ptr);
    otpc__mq_destroy(q);
}

void otpc__async_replies(otpc_node_t *n)
{
    otpc__otp_t *O = otpc__otp(n);
    const otpc__rec_t *r;
    const char *d;
    otpc__mq_take(&O->replies);
    while ((r = otpc__mq_next(&O->replies, &d)) != NULL) {
        if (r->type == OTPC__ASYNC_MESSAGE) {
            otpc_pid_t *to = r->ptr;
            otpc__send_local(n, to, to, d, r->len);
            free(to);
            continue;
        }
        otpc_reply_token_t *t = r->ptr;
        otpc__from_t f = {t->caller, {t->tag, t->tag_len}};
        otpc__gen_reply_as(n, &t->server, &f, (otpc_term_t){d, r->len});
        free(t);
    }
}
