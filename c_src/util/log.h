/*
 * Logging: one line per event on stderr, "<level> <module>: <text>". The level is
 * checked before anything is formatted, so a disabled debug line costs one compare.
 */
#ifndef OTPC_UTIL_LOG_H
#define OTPC_UTIL_LOG_H

#include <stdatomic.h>

#include "otpc.h"

extern _Atomic int otpc__log_level;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void otpc__log(otpc_log_level_t level, const char *module, const char *fmt, ...);

#define OTPC__LOG(level, module, ...)                                                     \
    do {                                                                                  \
        if ((int)(level) >= atomic_load_explicit(&otpc__log_level, memory_order_relaxed)) \
            otpc__log((level), (module), __VA_ARGS__);                                    \
    } while (0)

#define OTPC__LOG_DEBUG(m, ...) OTPC__LOG(OTPC_LOG_DEBUG, m, __VA_ARGS__)
#define OTPC__LOG_INFO(m, ...) OTPC__LOG(OTPC_LOG_INFO, m, __VA_ARGS__)
#define OTPC__LOG_NOTICE(m, ...) OTPC__LOG(OTPC_LOG_NOTICE, m, __VA_ARGS__)
#define OTPC__LOG_WARN(m, ...) OTPC__LOG(OTPC_LOG_WARNING, m, __VA_ARGS__)
#define OTPC__LOG_ERROR(m, ...) OTPC__LOG(OTPC_LOG_ERROR, m, __VA_ARGS__)

#endif
