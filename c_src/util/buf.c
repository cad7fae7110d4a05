/* Growable byte buffer; see buf.h. */
#include "util/buf.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "otpc.h"

static int set_cap(otpc__buf_t *b, size_t cap, int may_map);

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
    return set_cap(b, cap, 0);
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
    otpc__mem_release(b->data, b->mapped);
    *b = (otpc__buf_t){0};
}

/* ---- mapped buffers ---------------------------------------------------------------- */

/* A mapping starts with its length; the bytes follow (aligned for any use). */
#define MAP_HEAD 64
#define SPARES 2

static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;
static char *spare[SPARES]; /* released mappings, the largest kept */

static size_t map_len_of(const char *m)
{
    size_t len;
    memcpy(&len, m, sizeof len);
    return len;
}

/* The mapping length for cap bytes, or 0 when that overflows. */
static size_t map_len(size_t cap)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), want = cap + MAP_HEAD;
    if (want < cap || want > SIZE_MAX - page)
        return 0;
    return (want + page - 1) / page * page;
}

/* A mapping of at least len bytes: a spare that large, else a new one. */
static char *map_get(size_t len)
{
    char *m = NULL;
    pthread_mutex_lock(&spare_lock);
    for (int i = 0; i < SPARES && !m; i++)
        if (spare[i] && map_len_of(spare[i]) >= len) {
            m = spare[i];
            spare[i] = NULL;
        }
    pthread_mutex_unlock(&spare_lock);
    if (m)
        return m;
    m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    memcpy(m, &len, sizeof len);
    return m;
}

/* Keep m as a spare (its pages lent back to the kernel until reused), in place of a
 * smaller one; unmap whatever is not kept. */
static void map_put(char *m)
{
    size_t len = map_len_of(m);
#ifdef MADV_FREE
    /* past the head, which must keep the length */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (len > page)
        (void)madvise(m + page, len - page, MADV_FREE);
#endif
    pthread_mutex_lock(&spare_lock);
    for (int i = 0; i < SPARES && m; i++)
        if (!spare[i] || map_len_of(spare[i]) < len) {
            char *out = spare[i];
            spare[i] = m;
            m = out;
            if (m)
                len = map_len_of(m);
        }
    pthread_mutex_unlock(&spare_lock);
    if (m)
        munmap(m, len);
}

void otpc__mem_release(void *p, int mapped)
{
    if (!p)
        return;
    if (mapped)
        map_put((char *)p - MAP_HEAD);
    else
        free(p);
}

/* Capacity cap (>= len). A mapped buffer stays one, grown or shrunk in place with
 * mremap (its bytes never copied); a heap one stays on the heap unless may_map and cap
 * reaches OTPC__MAP_MIN, when its bytes move once into a mapping. */
static int set_cap(otpc__buf_t *b, size_t cap, int may_map)
{
    if (!b->mapped && !(may_map && cap >= OTPC__MAP_MIN)) {
        char *p = realloc(b->data, cap ? cap : 1);
        if (!p)
            return OTPC_ENOMEM;
        b->data = p;
        b->cap = cap;
        return 0;
    }
    size_t want = map_len(cap);
    if (!want)
        return OTPC_ENOMEM;
    char *m;
    if (b->mapped) {
        m = b->data - MAP_HEAD;
        size_t have = map_len_of(m);
        if (want > have) { /* a spare may be larger than asked: then nothing to do */
            m = mremap(m, have, want, MREMAP_MAYMOVE);
            if (m == MAP_FAILED)
                return OTPC_ENOMEM;
            memcpy(m, &want, sizeof want);
        }
    } else {
        if (!(m = map_get(want)))
            return OTPC_ENOMEM;
        if (b->len)
            memcpy(m + MAP_HEAD, b->data, b->len);
        free(b->data);
        b->mapped = 1;
    }
    b->data = m + MAP_HEAD;
    b->cap = cap;
    return 0;
}

int otpc__buf_set_cap(otpc__buf_t *b, size_t cap)
{
    return set_cap(b, cap, 0);
}

int otpc__buf_set_cap_large(otpc__buf_t *b, size_t cap)
{
    return set_cap(b, cap, 1);
}
