/*
 * The epmd protocol, encode/decode only (pure). The I/O thread drives the sockets.
 * ALIVE2 registers this node (the connection stays open for the node's lifetime;
 * epmd forgets the name when it closes); PORT_PLEASE2 finds a peer's port.
 */
#ifndef OTPC_DIST_EPMD_H
#define OTPC_DIST_EPMD_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define OTPC__EPMD_PORT 4369

int otpc__epmd_alive2_req(otpc__buf_t *out, uint16_t port, int published, const char *alive);
/* 1 complete (result in *ok, creation in *creation), 0 need more, <0 malformed. */
int otpc__epmd_alive2_resp(const char *d, size_t len, int *ok, uint32_t *creation);
int otpc__epmd_port_req(otpc__buf_t *out, const char *alive);
/* 1 complete with *port (0 when the name is unknown), 0 need more, <0 malformed. */
int otpc__epmd_port_resp(const char *d, size_t len, uint16_t *port, uint16_t *highest);

#endif
