/*
 * otpc__mq: a double-buffered, many-producer / one-consumer queue of records between
 * threads. Producers append records to `in` under the lock; the consumer swaps `in`
 * with its private `out` and walks the whole batch without the lock. A producer wakes
 * the consumer (util/wake) only when it finds `in` empty, so a burst of a thousand
 * records costs one wake-up, and steady state allocates nothing: both buffers keep
 * their capacity.
 *
 * Record layout: otpc__rec_t header, then `len` bytes, padded to 8.
 */
#ifndef OTPC_UTIL_MQ_H
#define OTPC_UTIL_MQ_H

#include <stdint.h>
#include <uv.h>

#include "util/buf.h"
#include "util/wake.h"

typedef struct {
    uint32_t type;
    uint32_t len;
    void *ptr; /* e.g. the connection a record is about */
    uint64_t arg;
} otpc__rec_t;

/* One piece of a record's bytes (otpc__mq_addv_locked). */
typedef struct {
    const void *data;
    size_t size;
} otpc__piece_t;

typedef struct {
    uv_mutex_t lock;
    otpc__buf_t in;
    otpc__buf_t out;
    size_t pos;         /* consumer's cursor in out */
    int wake_due;       /* under lock: a record went into an empty `in` */
    otpc__wake_t *wake; /* the consumer loop's waker */
} otpc__mq_t;

int otpc__mq_init(otpc__mq_t *q, otpc__wake_t *wake);
void otpc__mq_destroy(otpc__mq_t *q);

/* Producer side. Either push one record, or lock / add any number / unlock (the
 * batch form used by the reader so that all packets of one read cost one lock). */
int otpc__mq_push(otpc__mq_t *q, uint32_t type, void *ptr, uint64_t arg, const void *data,
                  uint32_t len);
void otpc__mq_lock(otpc__mq_t *q);
int otpc__mq_add_locked(otpc__mq_t *q, uint32_t type, void *ptr, uint64_t arg, const void *data,
                        uint32_t len);
/* The same, the record's bytes gathered from pieces (one record). */
int otpc__mq_addv_locked(otpc__mq_t *q, uint32_t type, void *ptr, uint64_t arg,
                         const otpc__piece_t *pieces, int npieces);
void otpc__mq_unlock(otpc__mq_t *q);
/* With the lock held: send the wake-up now if one is due (otpc__mq_unlock would send it
 * after unlocking). For producers that must not touch the waker once they let go. */
void otpc__mq_wake_locked(otpc__mq_t *q);

/* Consumer side: take everything queued so far, then call next() until it returns NULL.
 * The data of a record stays valid until the next otpc__mq_take(). */
void otpc__mq_take(otpc__mq_t *q);
const otpc__rec_t *otpc__mq_next(otpc__mq_t *q, const char **data);

#endif
