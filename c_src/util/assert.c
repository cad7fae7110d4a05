/* The failure path of OTPC__ASSERT; see assert.h. */
#include "util/assert.h"

#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>

void otpc__assert_fail(const char *cond, const char *file, int line)
{
    fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, cond);
    void *b[24];
    int c = backtrace(b, 24);
    backtrace_symbols_fd(b, c, 2);
    abort();
}
