/* Line-per-event logging to stderr; see log.h. One fprintf per line so lines from the
 * I/O and scheduler threads never interleave mid-line (stdio locks the stream). */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

_Atomic int otpc__log_level = OTPC_LOG_INFO; /* set by any thread, read by both */

static const char *const level_names[] = {"debug", "info", "notice", "warning", "error"};

void otpc_log_set_level(otpc_log_level_t level)
{
    atomic_store_explicit(&otpc__log_level, (int)level, memory_order_relaxed);
}

int otpc_log_level_parse(const char *name, otpc_log_level_t *out)
{
    for (int i = 0; i <= OTPC_LOG_ERROR; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (otpc_log_level_t)i;
            return 0;
        }
    }
    return OTPC_EINVAL;
}

void otpc__log(otpc_log_level_t level, const char *module, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* A log line must stay one line: the Erlang side reads stderr line by line. */
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fprintf(stderr, "%s %s: %s\n", level_names[level], module, line);
}
