/*
 * otpc__buf: a growable byte buffer, the reused storage behind every queue, frame and
 * socket write in otpc. Growth is geometric; a buffer that once held a huge message
 * gives its memory back on otpc__buf_reset() so one 64 MiB message does not pin
 * 64 MiB per connection forever.
 */
#ifndef OTPC_UTIL_BUF_H
#define OTPC_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    char *data;
    size_t len;
    size_t cap;
    int mapped; /* data is in a mapping of its own (otpc__buf_set_cap_large) */
} otpc__buf_t;

/* Capacity above which reset frees the storage instead of keeping it. */
#define OTPC__BUF_KEEP (1u << 20)

/* Make room for `extra` more bytes; 0 or OTPC_ENOMEM. */
int otpc__buf_reserve(otpc__buf_t *b, size_t extra);

/* Set the capacity to exactly cap (>= len), keeping the buffer's kind; 0 or
 * OTPC_ENOMEM (the buffer then unchanged). */
int otpc__buf_set_cap(otpc__buf_t *b, size_t cap);
/* The same for a buffer of a message of many MiB (one reassembled from fragments):
 * from OTPC__MAP_MIN bytes on it lives in a mapping of its own (`mapped`). It grows
 * with mremap, never copied (glibc's realloc copies a heap block that cannot grow in
 * place, and its moving mmap threshold keeps blocks up to 32 MiB on the heap); freed,
 * it becomes one of the process's spare mappings (the largest kept), which the next
 * large buffer reuses with its pages still in (no fault per 4 KiB; MADV_FREE lets the
 * kernel take them back under memory pressure). Every buf function keeps a mapped
 * buffer mapped, and otpc__buf_free releases either kind. */
#define OTPC__MAP_MIN (1u << 20)
int otpc__buf_set_cap_large(otpc__buf_t *b, size_t cap);
/* Release bytes taken out of a buffer (its data and `mapped`; NULL is fine). */
void otpc__mem_release(void *p, int mapped);
int otpc__buf_append(otpc__buf_t *b, const void *p, size_t n);
/* Drop the first n bytes (n <= len). */
void otpc__buf_consume(otpc__buf_t *b, size_t n);
/* Empty it; keeps the storage unless it grew past OTPC__BUF_KEEP. */
void otpc__buf_reset(otpc__buf_t *b);
void otpc__buf_free(otpc__buf_t *b);

static inline void otpc__buf_swap(otpc__buf_t *a, otpc__buf_t *b)
{
    otpc__buf_t t = *a;
    *a = *b;
    *b = t;
}

static inline void otpc__put_u16(char *p, uint16_t v)
{
    p[0] = (char)(v >> 8);
    p[1] = (char)v;
}
static inline void otpc__put_u32(char *p, uint32_t v)
{
    p[0] = (char)(v >> 24);
    p[1] = (char)(v >> 16);
    p[2] = (char)(v >> 8);
    p[3] = (char)v;
}
static inline void otpc__put_u64(char *p, uint64_t v)
{
    otpc__put_u32(p, (uint32_t)(v >> 32));
    otpc__put_u32(p + 4, (uint32_t)v);
}
static inline uint16_t otpc__get_u16(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint16_t)((u[0] << 8) | u[1]);
}
static inline uint32_t otpc__get_u32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return ((uint32_t)u[0] << 24) | ((uint32_t)u[1] << 16) | ((uint32_t)u[2] << 8) | u[3];
}
static inline uint64_t otpc__get_u64(const char *p)
{
    return ((uint64_t)otpc__get_u32(p) << 32) | otpc__get_u32(p + 4);
}

#endif
