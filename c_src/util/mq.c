/* Double-buffered cross-thread queue; see mq.h. */
#include "util/mq.h"

#include "otpc.h"

#define ALIGN8(n) (((n) + 7u) & ~(size_t)7u)

int otpc__mq_init(otpc__mq_t *q, otpc__wake_t *wake)
{
    memset(q, 0, sizeof *q);
    q->wake = wake;
    return uv_mutex_init(&q->lock) ? OTPC_ENOMEM : 0;
}

void otpc__mq_destroy(otpc__mq_t *q)
{
    uv_mutex_destroy(&q->lock);
    otpc__buf_free(&q->in);
    otpc__buf_free(&q->out);
}

void otpc__mq_lock(otpc__mq_t *q)
{
    uv_mutex_lock(&q->lock);
}

/* Called with the lock held; the wake-up is sent by otpc__mq_unlock(). */
int otpc__mq_add_locked(otpc__mq_t *q, uint32_t type, void *ptr, uint64_t arg, const void *data,
                        uint32_t len)
{
    otpc__piece_t one = {data, len};
    return otpc__mq_addv_locked(q, type, ptr, arg, &one, 1);
}

int otpc__mq_addv_locked(otpc__mq_t *q, uint32_t type, void *ptr, uint64_t arg,
                         const otpc__piece_t *pieces, int npieces)
{
    size_t len = 0;
    for (int i = 0; i < npieces; i++)
        len += pieces[i].size;
    if (len > UINT32_MAX)
        return OTPC_ETOOBIG;
    size_t need = sizeof(otpc__rec_t) + ALIGN8(len);
    int rc = otpc__buf_reserve(&q->in, need);
    if (rc)
        return rc;
    if (q->in.len == 0)
        q->wake_due = 1;
    otpc__rec_t *r = (otpc__rec_t *)(q->in.data + q->in.len);
    r->type = type;
    r->len = (uint32_t)len;
    r->ptr = ptr;
    r->arg = arg;
    char *w = (char *)(r + 1);
    for (int i = 0; i < npieces; i++) {
        if (pieces[i].size)
            memcpy(w, pieces[i].data, pieces[i].size);
        w += pieces[i].size;
    }
    q->in.len += need;
    return 0;
}

void otpc__mq_unlock(otpc__mq_t *q)
{
    /* Only the push that found the queue empty wakes the consumer: until it takes the
     * batch, later pushes ride on the same wake-up. */
    int wake = q->wake_due;
    q->wake_due = 0;
    uv_mutex_unlock(&q->lock);
    if (wake)
        otpc__wake_send(q->wake);
}

void otpc__mq_wake_locked(otpc__mq_t *q)
{
    if (q->wake_due) {
        q->wake_due = 0;
        otpc__wake_send(q->wake);
    }
}

int otpc__mq_push(otpc__mq_t *q, uint32_t type, void *ptr, uint64_t arg, const void *data,
                  uint32_t len)
{
    otpc__mq_lock(q);
    int rc = otpc__mq_add_locked(q, type, ptr, arg, data, len);
    otpc__mq_unlock(q);
    return rc;
}

void otpc__mq_take(otpc__mq_t *q)
{
    otpc__buf_reset(&q->out);
    uv_mutex_lock(&q->lock);
    otpc__buf_swap(&q->in, &q->out);
    uv_mutex_unlock(&q->lock);
    q->pos = 0;
}

const otpc__rec_t *otpc__mq_next(otpc__mq_t *q, const char **data)
{
    if (q->pos >= q->out.len)
        return NULL;
    const otpc__rec_t *r = (const otpc__rec_t *)(q->out.data + q->pos);
    q->pos += sizeof(otpc__rec_t) + ALIGN8(r->len);
    *data = (const char *)(r + 1);
    return r;
}
