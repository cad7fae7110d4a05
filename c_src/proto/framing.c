/* Length-prefixed framing; see framing.h. */
#include "proto/framing.h"

#include "otpc.h"
#include "util/buf.h"

int otpc__frame_next(const char *data, size_t avail, unsigned hdr, size_t max, otpc__frame_t *f)
{
    if (avail < hdr)
        return 0;
    size_t len = hdr == 2 ? otpc__get_u16(data) : otpc__get_u32(data);
    if (len > max)
        return OTPC_ETOOBIG;
    if (avail - hdr < len)
        return 0;
    f->off = hdr;
    f->len = len;
    f->next = hdr + len;
    return 1;
}
