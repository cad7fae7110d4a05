/*
 * The distribution handshake (version 6, OTP 23+), as a pure state machine.
 *
 * It consumes whole handshake messages (the 2-byte length already removed by the
 * framing) and appends the messages to send, framed, to an output buffer. It never does
 * I/O, so both directions and every refusal are unit-tested without sockets.
 * Invariants: a failed handshake has `error` set to a one-line reason and never
 * continues; DONE means both digests were verified and the peer has every flag in
 * OTPC__DF_REQUIRED.
 */
#ifndef OTPC_DIST_HANDSHAKE_H
#define OTPC_DIST_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define OTPC__NODE_NAME_MAX 255

typedef enum {
    OTPC__HS_INIT,
    /* initiator */
    OTPC__HS_RECV_STATUS,
    OTPC__HS_RECV_CHALLENGE,
    OTPC__HS_RECV_ACK,
    /* acceptor */
    OTPC__HS_RECV_NAME,
    OTPC__HS_RECV_COMPLEMENT,
    OTPC__HS_RECV_ALIVE_ANSWER, /* we said "alive"; the peer answers "true" or "false" */
    OTPC__HS_RECV_REPLY,
    OTPC__HS_DONE,
    OTPC__HS_FAILED
} otpc__hs_state_t;

/* What an acceptor answers a peer's name with: the text of the 's' status message.
 * "ok" to continue, "ok_simultaneous" when our own attempt to it gives way, "nok" when
 * the peer must wait for ours, "alive" when we already have a connection to it. */
typedef const char *(*otpc__hs_check_fn)(void *ctx, const char *peer_name);
/* "alive" follow-ups. Initiator, told "alive": 1 to answer "true" (our side has no
 * connection to it, so replace theirs), 0 for "false". Acceptor, told "true": called
 * only once the peer's challenge reply proved the cookie, to drop the old connection
 * (return value ignored). */
typedef int (*otpc__hs_alive_fn)(void *ctx, const char *peer_name, int initiator);

typedef struct {
    otpc__hs_state_t state;
    int initiator;
    /* ours */
    const char *cookie;
    const char *name;
    uint64_t flags;
    uint32_t creation;
    uint32_t challenge;      /* the one we sent */
    otpc__hs_check_fn check; /* acceptor only; NULL means "ok" */
    otpc__hs_alive_fn alive; /* NULL: never replace a connection */
    void *check_ctx;
    /* theirs */
    char peer_name[OTPC__NODE_NAME_MAX + 1];
    uint64_t peer_flags;
    uint32_t peer_creation;
    int told_nok;  /* initiator: the peer's own attempt to us wins; wait for it */
    int old_name;  /* acceptor: the peer used the old 'n' name (a complement follows) */
    int replaces;  /* acceptor: answered "true" to "alive"; replace once authenticated */
    int len_bytes; /* length prefix of each message: 2, or 4 over TLS (set after init) */
    char error[400];
} otpc__hs_t;

/* Set up; the strings are borrowed and must outlive the handshake. The challenge comes
 * from the caller so that tests are deterministic (the node uses OpenSSL's RAND). */
void otpc__hs_init(otpc__hs_t *hs, int initiator, const char *name, const char *cookie,
                   uint64_t flags, uint32_t creation, uint32_t challenge);

/* Initiator: append send_name to out (the peer name is set by the caller beforehand in
 * hs->peer_name). Acceptor: nothing to send; waits for the name. */
int otpc__hs_start(otpc__hs_t *hs, otpc__buf_t *out);

/* Feed one received message. Returns 0 to continue, 1 when done, or a negative OTPC_E*
 * code with hs->error set (the connection must then be closed, after flushing out:
 * refusals may have queued an 's' status for the peer). */
int otpc__hs_feed(otpc__hs_t *hs, const char *msg, size_t len, otpc__buf_t *out);

/* MD5(cookie ++ decimal(challenge)), the digest both sides prove the cookie with. */
void otpc__hs_digest(const char *cookie, uint32_t challenge, unsigned char out[16]);

#endif
