/*
 * libFuzzer target over epmd's answers (dist/epmd.c): ALIVE2_RESP / ALIVE2_X_RESP to
 * our registration and PORT2_RESP to a lookup. The I/O thread calls the decoders on
 * whatever has arrived so far, so the input is decoded at every length (each prefix a
 * guarded copy, ending at the inaccessible page) and every answer is checked against
 * a reading of the protocol (ERTS "Distribution Protocol", EPMD section):
 *
 *   ALIVE2_X_RESP  118, Result:8, Creation:32          complete at 6 bytes
 *   ALIVE2_RESP    121, Result:8, Creation:16          complete at 4 bytes
 *   PORT2_RESP     119, Result:8                       Result != 0: complete, port 0
 *                  119, 0, PortNo:16, NodeType:8, Protocol:8, HighestVersion:16,
 *                  LowestVersion:16, Nlen:16, ...      complete once Nlen is there: the
 *                                                      name and extra are not needed
 *   any other first byte                               malformed
 *
 * So: "need more" (0) until complete, never a refusal once the first byte was
 * accepted; a complete answer stays the same, with the same fields, whatever follows
 * it; outputs are written only with a complete answer.
 */
#include "fuzz/fuzz.h"

#include "proto/epmd.h"
#include "otpc.h"

#define PREFIXES 64 /* every length up to this; past it only the whole input */

static guard_t g_prefix;

typedef struct {
    int rc; /* 1 complete, 0 need more, -1 malformed */
    int ok;
    uint32_t creation;
} alive_t;

typedef struct {
    int rc;
    uint16_t port, highest; /* only when the node is known */
    int known;
} port_t;

static uint32_t be(const uint8_t *p, size_t n)
{
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static alive_t ref_alive2(const uint8_t *d, size_t n)
{
    alive_t a = {0, 0, 0};
    size_t creation_len = n && d[0] == 118 ? 4 : n && d[0] == 121 ? 2 : 0;
    if (n == 0)
        return a;
    if (creation_len == 0) {
        a.rc = -1;
        return a;
    }
    if (n < 2 + creation_len)
        return a;
    a.rc = 1;
    a.ok = d[1] == 0;
    a.creation = be(d + 2, creation_len);
    return a;
}

static port_t ref_port(const uint8_t *d, size_t n)
{
    port_t p = {0, 0, 0, 0};
    if (n == 0)
        return p;
    if (d[0] != 119) {
        p.rc = -1;
        return p;
    }
    if (n < 2 || (d[1] == 0 && n < 12))
        return p;
    p.rc = 1;
    p.known = d[1] == 0;
    if (p.known) {
        p.port = (uint16_t)be(d + 2, 2);
        p.highest = (uint16_t)be(d + 6, 2);
    }
    return p;
}

#define UNSET_OK 0x5a5a
#define UNSET_CREATION 0xdeadbeefu
#define UNSET_PORT 0xbeefu

static int sign(int rc)
{
    return rc > 0 ? 1 : rc < 0 ? -1 : 0;
}

/* The answers to data[0..k), against the reference and against the answers to the
 * previous prefix (*last_a, *last_p), which they then replace. */
static void check_prefix(const uint8_t *data, size_t k, alive_t *last_a, port_t *last_p)
{
    const char *d = guard_put(&g_prefix, data, k);

    alive_t a = {0, UNSET_OK, UNSET_CREATION};
    a.rc = sign(otpc__epmd_alive2_resp(d, k, &a.ok, &a.creation));
    alive_t ra = ref_alive2(data, k);
    CHECK(a.rc == ra.rc);
    if (a.rc == 1)
        CHECK(a.ok == ra.ok && a.creation == ra.creation);
    else
        CHECK(a.ok == UNSET_OK && a.creation == UNSET_CREATION);
    /* one byte more: a complete answer stays the same, a refusal stays, and need more
     * turns into a refusal only on the first byte */
    CHECK(last_a->rc == 0 || a.rc == last_a->rc);
    CHECK(last_a->rc != 1 || (a.ok == last_a->ok && a.creation == last_a->creation));
    CHECK(!(last_a->rc == 0 && a.rc < 0 && k > 1));
    *last_a = a;

    port_t p = {0, UNSET_PORT, UNSET_PORT, 0};
    p.rc = sign(otpc__epmd_port_resp(d, k, &p.port, &p.highest));
    port_t rp = ref_port(data, k);
    CHECK(p.rc == rp.rc);
    p.known = rp.known;
    if (p.rc == 1 && !rp.known)
        CHECK(p.port == 0 && p.highest == UNSET_PORT); /* unknown name: port 0 only */
    else if (p.rc == 1)
        CHECK(p.port == rp.port && p.highest == rp.highest);
    else
        CHECK(p.port == UNSET_PORT && p.highest == UNSET_PORT);
    CHECK(last_p->rc == 0 || p.rc == last_p->rc);
    CHECK(last_p->rc != 1 || (p.port == last_p->port && p.highest == last_p->highest));
    CHECK(!(last_p->rc == 0 && p.rc < 0 && k > 1));
    *last_p = p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_prefix.base)
        guard_init(&g_prefix);
    if (size > g_prefix.cap)
        return 0;
    alive_t a = {0, 0, 0};
    port_t p = {0, 0, 0, 0};
    for (size_t k = 0; k <= size && k <= PREFIXES; k++)
        check_prefix(data, k, &a, &p);
    if (size > PREFIXES)
        check_prefix(data, size, &a, &p);
    return 0;
}
