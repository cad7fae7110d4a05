/* epmd request/response codec; see epmd.h. Requests are framed with a 2-byte length,
 * responses are not. */
#include "proto/epmd.h"

#include <string.h>

#include "otpc.h"

#define ALIVE2_REQ 120
#define ALIVE2_X_RESP 118
#define ALIVE2_RESP 121
#define PORT_PLEASE2_REQ 122
#define PORT2_RESP 119

int otpc__epmd_alive2_req(otpc__buf_t *out, uint16_t port, int published, const char *alive)
{
    size_t n = strlen(alive);
    char m[2 + 13 + 255];
    if (n > 255)
        return OTPC_EINVAL;
    otpc__put_u16(m, (uint16_t)(13 + n));
    m[2] = ALIVE2_REQ;
    otpc__put_u16(m + 3, port);
    m[5] = published ? 77 : 72; /* 77 normal node, 72 hidden */
    m[6] = 0;                   /* TCP/IPv4 */
    otpc__put_u16(m + 7, 6);    /* highest handshake version */
    otpc__put_u16(m + 9, 5);    /* lowest */
    otpc__put_u16(m + 11, (uint16_t)n);
    memcpy(m + 13, alive, n);
    otpc__put_u16(m + 13 + n, 0); /* no extra */
    return otpc__buf_append(out, m, 15 + n);
}

int otpc__epmd_alive2_resp(const char *d, size_t len, int *ok, uint32_t *creation)
{
    if (len < 1)
        return 0;
    unsigned char tag = (unsigned char)d[0];
    if (tag == ALIVE2_X_RESP) {
        if (len < 6)
            return 0;
        *ok = d[1] == 0;
        *creation = otpc__get_u32(d + 2);
        return 1;
    }
    if (tag == ALIVE2_RESP) {
        if (len < 4)
            return 0;
        *ok = d[1] == 0;
        *creation = otpc__get_u16(d + 2);
        return 1;
    }
    return OTPC_EEPMD;
}

int otpc__epmd_port_req(otpc__buf_t *out, const char *alive)
{
    size_t n = strlen(alive);
    char m[3 + 255];
    if (n > 255)
        return OTPC_EINVAL;
    otpc__put_u16(m, (uint16_t)(1 + n));
    m[2] = PORT_PLEASE2_REQ;
    memcpy(m + 3, alive, n);
    return otpc__buf_append(out, m, 3 + n);
}

int otpc__epmd_port_resp(const char *d, size_t len, uint16_t *port, uint16_t *highest)
{
    if (len < 1)
        return 0;
    if ((unsigned char)d[0] != PORT2_RESP)
        return OTPC_EEPMD;
    if (len < 2)
        return 0;
    if (d[1] != 0) {
        *port = 0;
        return 1;
    }
    if (len < 12)
        return 0;
    *port = otpc__get_u16(d + 2);
    *highest = otpc__get_u16(d + 6);
    return 1;
}
