/* otpc_strerror over the one OTPC_ERRNO_MAP list in otpc.h. */
#include "otpc.h"

const char *otpc_strerror(int err)
{
    switch (err) {
    case 0:
        return "ok";
#define OTPC__S(name, code, text) \
    case code:                    \
        return text;
        OTPC_ERRNO_MAP(OTPC__S)
#undef OTPC__S
    default:
        return "unknown error";
    }
}
