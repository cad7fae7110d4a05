/*
 * Peers: the scheduler's view of other nodes, and every packet it sends them.
 *
 * A peer exists from the first send to (or EV_UP from) a node until its connection is
 * gone. While the connection is being set up, frames wait in the peer's buffer. Frames
 * are encoded so that they are valid whatever the peer announces (SEND, not SEND_SENDER;
 * EXIT, not PAYLOAD_EXIT), which is what lets them be queued before the handshake.
 *
 * Frames accumulate in the peer's buffer during a scheduler turn and are handed to the
 * I/O thread once per turn (otpc__peer_flush), usually by swapping buffers: one
 * wake-up and one write() carry every reply produced in that turn.
 */
#include <stdlib.h>
#include <string.h>

#include "proc/node_int.h"
#include "util/log.h"

#define PASS_THROUGH 'p'

static int grow_peers(otpc_node_t *n, uint32_t atom)
{
    if (atom < n->peers_cap)
        return 0;
    uint32_t cap = n->peers_cap ? n->peers_cap : 64;
    while (cap <= atom)
        cap *= 2;
    otpc__peer_t **p = realloc(n->peers, cap * sizeof *p);
    if (!p)
        return OTPC_ENOMEM;
    memset(p + n->peers_cap, 0, (cap - n->peers_cap) * sizeof *p);
    n->peers = p;
    n->peers_cap = cap;
    return 0;
}

static void mark_dirty(otpc_node_t *n, otpc__peer_t *p)
{
    if (p->dirty || !p->conn || !p->obuf.len)
        return;
    p->dirty = 1;
    p->dirty_next = n->dirty;
    n->dirty = p;
}

static otpc__peer_t *peer_new(otpc_node_t *n, uint32_t atom)
{
    otpc__peer_t *p = grow_peers(n, atom) ? NULL : calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->node = atom;
    n->peers[atom] = p;
    return p;
}

otpc__peer_t *otpc__peer_get(otpc_node_t *n, uint32_t atom, int connect)
{
    if (atom < n->peers_cap && n->peers[atom])
        return n->peers[atom];
    otpc__peer_t *p = connect && !n->stopping ? peer_new(n, atom) : NULL;
    if (!p)
        return NULL;
    const char *name = otpc__atom_name(&n->atoms, atom);
    otpc__io_command(n->io, CMD_CONNECT, NULL, name, (uint32_t)strlen(name));
    return p;
}

static void peer_remove(otpc_node_t *n, otpc__peer_t *p)
{
    for (otpc__peer_t **pp = &n->dirty; *pp; pp = &(*pp)->dirty_next) {
        if (*pp == p) {
            *pp = p->dirty_next;
            break;
        }
    }
    n->peers[p->node] = NULL;
    if (p->conn)
        otpc__conn_unref(p->conn);
    otpc__buf_free(&p->obuf);
    free(p);
}

int otpc__ctl_begin(otpc_node_t *n, int arity, long op)
{
    ei_x_buff *x = &n->scratch;
    x->index = 0;
    if (ei_x_encode_version(x) || ei_x_encode_tuple_header(x, arity) || ei_x_encode_long(x, op))
        return OTPC_ENOMEM;
    return 0;
}

int otpc__peer_send(otpc_node_t *n, uint32_t node, const ei_x_buff *ctl, const char *payload,
                    size_t plen)
{
    if (node == n->self_atom)
        return OTPC_EINVAL;
    otpc__peer_t *p = otpc__peer_get(n, node, 1);
    if (!p)
        return n->stopping ? 0 : OTPC_ENOMEM;
    size_t len = 1 + (size_t)ctl->index + plen;
    if (len > UINT32_MAX)
        return OTPC_ETOOBIG;
    char hdr[5];
    otpc__put_u32(hdr, (uint32_t)len);
    hdr[4] = PASS_THROUGH;
    if (otpc__buf_reserve(&p->obuf, 5 + len))
        return OTPC_ENOMEM;
    otpc__buf_append(&p->obuf, hdr, 5);
    otpc__buf_append(&p->obuf, ctl->buff, (size_t)ctl->index);
    otpc__buf_append(&p->obuf, payload, plen);
    mark_dirty(n, p);
    return 0;
}

void otpc__peer_flush(otpc_node_t *n)
{
    while (n->dirty) {
        otpc__peer_t *p = n->dirty;
        n->dirty = p->dirty_next;
        p->dirty = 0;
        if (otpc__conn_append(p->conn, &p->obuf)) {
            otpc__conn_ref(p->conn); /* the command's reference */
            otpc__io_command(n->io, CMD_WRITE, p->conn, NULL, 0);
        }
    }
}

void otpc__peer_up(otpc_node_t *n, otpc__conn_t *conn, uint64_t flags)
{
    const char *name = otpc__conn_peer(conn);
    uint32_t atom = otpc__atom(&n->atoms, name, strlen(name));
    otpc__peer_t *p = atom ? otpc__peer_get(n, atom, 0) : NULL;
    if (!p && atom)
        p = peer_new(n, atom);
    if (!p) {
        otpc__io_command(n->io, CMD_CLOSE, conn, "out of memory", 13);
        return; /* the command took the EV_UP reference */
    }
    if (p->conn) /* cannot happen: the I/O thread reports the old one down first */
        otpc__conn_unref(p->conn);
    p->conn = conn;
    p->flags = flags;
    mark_dirty(n, p);
}

otpc__peer_t *otpc__peer_of_conn(otpc_node_t *n, otpc__conn_t *conn)
{
    const char *name = otpc__conn_peer(conn);
    uint32_t atom = otpc__atom_find(&n->atoms, name, strlen(name));
    otpc__peer_t *p = atom && atom < n->peers_cap ? n->peers[atom] : NULL;
    return p && p->conn == conn ? p : NULL;
}

void otpc__peer_down(otpc_node_t *n, otpc__conn_t *conn, const char *reason)
{
    (void)reason;
    otpc__peer_t *p = otpc__peer_of_conn(n, conn);
    if (!p) {
        otpc__conn_unref(conn);
        return;
    }
    uint32_t atom = p->node;
    peer_remove(n, p); /* drops the scheduler's reference */
    otpc__node_lost(n, atom);
}

void otpc__peer_failed(otpc_node_t *n, const char *node, const char *reason)
{
    uint32_t atom = otpc__atom_find(&n->atoms, node, strlen(node));
    otpc__peer_t *p = atom && atom < n->peers_cap ? n->peers[atom] : NULL;
    if (!p || p->conn)
        return;
    LOG_INFO("dist", "cannot reach %s: %s", node, reason);
    peer_remove(n, p);
    otpc__node_lost(n, atom);
}

void otpc__peer_close(otpc_node_t *n, otpc__peer_t *p, const char *reason)
{
    (void)n;
    if (!p->conn)
        return;
    otpc__conn_ref(p->conn);
    otpc__io_command(n->io, CMD_CLOSE, p->conn, reason, (uint32_t)strlen(reason));
}

void otpc__peers_free(otpc_node_t *n)
{
    for (uint32_t i = 0; i < n->peers_cap; i++)
        if (n->peers[i])
            peer_remove(n, n->peers[i]);
    free(n->peers);
    n->peers = NULL;
    n->peers_cap = 0;
}
