/* Growable byte buffer; see buf.h. */
#include "util/buf.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

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

/* ---- mapped blocks ------------------------------------------------------------------ */

/* A mapping starts with its length; the block follows (aligned for any use). */
#define MAP_HEAD 64

static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;
static char *spare; /* a released mapping, or NULL */
static size_t spare_len;

static size_t map_len(size_t cap)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t want = cap + MAP_HEAD;
    return want < cap ? 0 : (want + page - 1) / page * page;
}

static char *map_of(void *p)
{
    return (char *)p - MAP_HEAD;
}

/* A mapping of at least len bytes: the spare if large enough, else a new one. */
static char *map_get(size_t len)
{
    char *m = NULL;
    size_t have = 0;
    pthread_mutex_lock(&spare_lock);
    if (spare && spare_len >= len) {
        m = spare;
        have = spare_len;
        spare = NULL;
    }
    pthread_mutex_unlock(&spare_lock);
    if (!m) {
        m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return NULL;
        have = len;
    }
    memcpy(m, &have, sizeof have);
    return m;
}

static void map_put(char *m)
{
    size_t len;
    memcpy(&len, m, sizeof len);
#ifdef MADV_FREE
    (void)madvise(m, len, MADV_FREE); /* kept, but the kernel may take the pages */
#endif
    pthread_mutex_lock(&spare_lock);
    if (!spare || spare_len < len) { /* keep the larger */
        char *old = spare;
        size_t old_len = spare_len;
        spare = m;
        spare_len = len;
        m = old;
        len = old_len;
    }
    pthread_mutex_unlock(&spare_lock);
    if (m)
        munmap(m, len);
}

void *otpc__mem_resize(void *p, size_t cap, size_t len, size_t new_cap)
{
    if (new_cap < OTPC__MAP_MIN && (!p || cap < OTPC__MAP_MIN))
        return realloc(p, new_cap ? new_cap : 1);
    if (new_cap >= OTPC__MAP_MIN && p && cap >= OTPC__MAP_MIN) {
        char *m = map_of(p);
        size_t have, want = map_len(new_cap);
        memcpy(&have, m, sizeof have);
        if (!want)
            return NULL;
        if (want <= have)
            return p;
        m = mremap(m, have, want, MREMAP_MAYMOVE);
        if (m == MAP_FAILED)
            return NULL;
        memcpy(m, &want, sizeof want);
        return m + MAP_HEAD;
    }
    /* between the heap and a mapping: one copy of what is there, once */
    char *q;
    if (new_cap >= OTPC__MAP_MIN) {
        size_t want = map_len(new_cap);
        char *m = want ? map_get(want) : NULL;
        if (!m)
            return NULL;
        q = m + MAP_HEAD;
    } else if (!(q = malloc(new_cap ? new_cap : 1))) {
        return NULL;
    }
    if (len)
        memcpy(q, p, len < new_cap ? len : new_cap);
    otpc__mem_release(p, cap);
    return q;
}

void otpc__mem_release(void *p, size_t cap)
{
    if (!p)
        return;
    if (cap < OTPC__MAP_MIN)
        free(p);
    else
        map_put(map_of(p));
}
