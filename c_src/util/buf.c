/* Growable byte buffer; see buf.h. */
#include "util/buf.h"

#include <stdlib.h>

#include "otpc.h"

int otpc__buf_reserve(otpc__buf_t *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    size_t need = b->len + extra;
    if (need < b->len)
        return OTPC_ENOMEM;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return OTPC_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int otpc__buf_append(otpc__buf_t *b, const void *p, size_t n)
{
    int rc = otpc__buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void otpc__buf_consume(otpc__buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void otpc__buf_reset(otpc__buf_t *b)
{
    b->len = 0;
    if (b->cap > OTPC__BUF_KEEP)
        otpc__buf_free(b);
}

void otpc__buf_free(otpc__buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
