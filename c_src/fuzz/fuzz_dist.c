/*
 * libFuzzer target over everything otpc parses from a peer before it trusts it:
 * the control-message decoder (one packet), the term walker, and the acceptor side
 * of the handshake fed with the input cut into 2-byte-length frames.
 *
 *   make fuzz FUZZ_TIME=60      (from the top level)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dist/ctrl.h"
#include "dist/flags.h"
#include "dist/framing.h"
#include "dist/handshake.h"
#include "dist/term.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_handshake(const char *d, size_t n)
{
    otpc__hs_t hs;
    otpc__buf_t out = {0};
    otpc__frame_t f;
    size_t pos = 0;
    otpc__hs_init(&hs, 0, "fuzz@h", "cookie", OTPC__DF_OURS, 1, 42);
    otpc__hs_start(&hs, &out);
    while (otpc__frame_next(d + pos, n - pos, 2, 65535, &f) == 1) {
        if (otpc__hs_feed(&hs, d + pos + f.off, f.len, &out) != 0)
            break;
        pos += f.next;
    }
    otpc__buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so that any read past the end is caught by ASan. */
    char *d = malloc(size ? size : 1);
    if (!d)
        return 0;
    memcpy(d, data, size);
    otpc__ctrl_t c;
    const char *why;
    size_t used;
    otpc__ctrl_decode(d, size, &c, &why);
    otpc__term_skip_versioned(d, size, &used);
    fuzz_handshake(d, size);
    free(d);
    return 0;
}
