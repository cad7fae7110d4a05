/*
 * Version-6 handshake state machine; see handshake.h.
 *
 * Message layouts (after the 2-byte length):
 *   send_name   'N' flags:8 creation:4 nlen:2 name     (old peers: 'n' version:2 flags:4 name)
 *   status      's' text
 *   challenge   'N' flags:8 challenge:4 creation:4 nlen:2 name
 *   complement  'c' flags_high:4 creation:4            (only after an old 'n' send_name)
 *   reply       'r' challenge:4 digest:16
 *   ack         'a' digest:16
 */
#include "proto/handshake.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "proto/flags.h"
#include "otpc.h"

void otpc__hs_digest(const char *cookie, uint32_t challenge, unsigned char out[16])
{
    char num[16];
    int n = snprintf(num, sizeof num, "%u", challenge);
    unsigned int outlen = 16;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_md5(), NULL) ||
        !EVP_DigestUpdate(ctx, cookie, strlen(cookie)) || !EVP_DigestUpdate(ctx, num, (size_t)n) ||
        !EVP_DigestFinal_ex(ctx, out, &outlen))
        memset(out, 0, 16); /* cannot match any peer's digest: the handshake fails */
    EVP_MD_CTX_free(ctx);
}

void otpc__hs_init(otpc__hs_t *hs, int initiator, const char *name, const char *cookie,
                   uint64_t flags, uint32_t creation, uint32_t challenge)
{
    memset(hs, 0, sizeof *hs);
    hs->state = OTPC__HS_INIT;
    hs->initiator = initiator;
    hs->name = name;
    hs->cookie = cookie;
    hs->flags = flags;
    hs->creation = creation;
    hs->challenge = challenge;
    hs->len_bytes = 2;
}

static int fail(otpc__hs_t *hs, int code, const char *why)
{
    hs->state = OTPC__HS_FAILED;
    snprintf(hs->error, sizeof hs->error, "%s", why);
    return code;
}

/* Append one handshake message with its length (2 bytes; 4 over TLS, as
 * inet_tls_dist frames every packet alike). */
static int emit(const otpc__hs_t *hs, otpc__buf_t *out, const char *msg, size_t len)
{
    char hdr[4];
    size_t hlen = hs->len_bytes == 4 ? 4 : 2;
    if (hlen == 4)
        otpc__put_u32(hdr, (uint32_t)len);
    else
        otpc__put_u16(hdr, (uint16_t)len);
    int rc = otpc__buf_append(out, hdr, hlen);
    return rc ? rc : otpc__buf_append(out, msg, len);
}

static int send_status(const otpc__hs_t *hs, otpc__buf_t *out, const char *status)
{
    char msg[32];
    size_t n = strlen(status);
    if (n > sizeof msg - 1)
        n = sizeof msg - 1; /* statuses are short words; never overflow on a bad one */
    msg[0] = 's';
    memcpy(msg + 1, status, n);
    return emit(hs, out, msg, n + 1);
}

static int set_peer_name(otpc__hs_t *hs, const char *p, size_t n)
{
    if (n == 0 || n > OTPC__NODE_NAME_MAX || !memchr(p, '@', n))
        return -1;
    memcpy(hs->peer_name, p, n);
    hs->peer_name[n] = 0;
    return 0;
}

static int check_flags(otpc__hs_t *hs)
{
    uint64_t missing = OTPC__DF_REQUIRED & ~hs->peer_flags;
    if (!missing)
        return 0;
    char why[384];
    snprintf(why, sizeof why,
             "peer %s lacks mandatory distribution flags 0x%llx (needs OTP 25 or later)",
             hs->peer_name[0] ? hs->peer_name : "?", (unsigned long long)missing);
    return fail(hs, OTPC_EPROTO, why);
}

int otpc__hs_start(otpc__hs_t *hs, otpc__buf_t *out)
{
    if (!hs->initiator) {
        hs->state = OTPC__HS_RECV_NAME;
        return 0;
    }
    size_t n = strlen(hs->name);
    char msg[1 + 8 + 4 + 2 + OTPC__NODE_NAME_MAX];
    if (n > OTPC__NODE_NAME_MAX)
        return fail(hs, OTPC_EINVAL, "own node name too long");
    msg[0] = 'N';
    otpc__put_u64(msg + 1, hs->flags);
    otpc__put_u32(msg + 9, hs->creation);
    otpc__put_u16(msg + 13, (uint16_t)n);
    memcpy(msg + 15, hs->name, n);
    hs->state = OTPC__HS_RECV_STATUS;
    return emit(hs, out, msg, 15 + n);
}

static int send_challenge(otpc__hs_t *hs, otpc__buf_t *out)
{
    size_t n = strlen(hs->name);
    char msg[1 + 8 + 4 + 4 + 2 + OTPC__NODE_NAME_MAX];
    msg[0] = 'N';
    otpc__put_u64(msg + 1, hs->flags);
    otpc__put_u32(msg + 9, hs->challenge);
    otpc__put_u32(msg + 13, hs->creation);
    otpc__put_u16(msg + 17, (uint16_t)n);
    memcpy(msg + 19, hs->name, n);
    return emit(hs, out, msg, 19 + n);
}

/* Acceptor: the peer's name ('N', or 'n' from a peer that found us as version 5). */
static int on_name(otpc__hs_t *hs, const char *m, size_t len, otpc__buf_t *out)
{
    if (len >= 15 && m[0] == 'N') {
        size_t n = otpc__get_u16(m + 13);
        if (15 + n != len || set_peer_name(hs, m + 15, n))
            return fail(hs, OTPC_EPROTO, "malformed send_name");
        hs->peer_flags = otpc__get_u64(m + 1);
        hs->peer_creation = otpc__get_u32(m + 9);
    } else if (len >= 7 && m[0] == 'n') {
        if (set_peer_name(hs, m + 7, len - 7))
            return fail(hs, OTPC_EPROTO, "malformed send_name");
        hs->peer_flags = otpc__get_u32(m + 3);
        if (!(hs->peer_flags & OTPC__DF_HANDSHAKE_23))
            return fail(hs, OTPC_EPROTO, "peer speaks only handshake version 5 (pre OTP 23)");
    } else {
        return fail(hs, OTPC_EPROTO, "expected send_name");
    }
    int old = m[0] == 'n';
    /* An old-style name carries only the low 32 flag bits; the rest come in 'c'. */
    if (!old && check_flags(hs)) {
        send_status(hs, out, "not_allowed");
        return OTPC_EPROTO;
    }
    const char *status = hs->check ? hs->check(hs->check_ctx, hs->peer_name) : "ok";
    int rc = send_status(hs, out, status);
    if (rc)
        return rc;
    if (strcmp(status, "alive") == 0) {
        hs->old_name = old;
        hs->state = OTPC__HS_RECV_ALIVE_ANSWER;
        return 0;
    }
    if (strcmp(status, "ok") != 0 && strcmp(status, "ok_simultaneous") != 0) {
        char why[384];
        snprintf(why, sizeof why, "refused %s: %s", hs->peer_name, status);
        return fail(hs, OTPC_ESTATE, why);
    }
    hs->state = old ? OTPC__HS_RECV_COMPLEMENT : OTPC__HS_RECV_REPLY;
    return send_challenge(hs, out);
}

/* Acceptor: "true" means the peer has no connection to us, so ours would be stale.
 * Anyone can say that, knowing only a node name: the old connection is dropped only
 * once this one has proved the cookie (on_reply), as ERTS does. */
static int on_alive_answer(otpc__hs_t *hs, const char *m, size_t len, otpc__buf_t *out)
{
    if (len == 5 && memcmp(m, "strue", 5) == 0) {
        hs->replaces = 1;
        hs->state = hs->old_name ? OTPC__HS_RECV_COMPLEMENT : OTPC__HS_RECV_REPLY;
        return send_challenge(hs, out);
    }
    char why[384];
    snprintf(why, sizeof why, "%s keeps its existing connection", hs->peer_name);
    return fail(hs, OTPC_ESTATE, why);
}

static int on_complement(otpc__hs_t *hs, const char *m, size_t len)
{
    if (len != 9 || m[0] != 'c')
        return fail(hs, OTPC_EPROTO, "expected complement");
    hs->peer_flags |= (uint64_t)otpc__get_u32(m + 1) << 32;
    hs->peer_creation = otpc__get_u32(m + 5);
    if (check_flags(hs))
        return OTPC_EPROTO;
    hs->state = OTPC__HS_RECV_REPLY;
    return 0;
}

static int on_reply(otpc__hs_t *hs, const char *m, size_t len, otpc__buf_t *out)
{
    unsigned char want[16];
    if (len != 21 || m[0] != 'r')
        return fail(hs, OTPC_EPROTO, "expected challenge_reply");
    otpc__hs_digest(hs->cookie, hs->challenge, want);
    if (CRYPTO_memcmp(want, m + 5, 16) != 0) {
        char why[384];
        snprintf(why, sizeof why, "connection from %s refused: wrong cookie", hs->peer_name);
        return fail(hs, OTPC_ECOOKIE, why);
    }
    if (hs->replaces && hs->alive)
        hs->alive(hs->check_ctx, hs->peer_name, 0); /* authenticated: now ours may go */
    char ack[17];
    ack[0] = 'a';
    otpc__hs_digest(hs->cookie, otpc__get_u32(m + 1), (unsigned char *)ack + 1);
    hs->state = OTPC__HS_DONE;
    int rc = emit(hs, out, ack, 17);
    return rc ? rc : 1;
}

static int on_status(otpc__hs_t *hs, const char *m, size_t len, otpc__buf_t *out)
{
    if (len < 1 || m[0] != 's')
        return fail(hs, OTPC_EPROTO, "expected status");
    char st[32];
    size_t n = len - 1 < sizeof st - 1 ? len - 1 : sizeof st - 1;
    memcpy(st, m + 1, n);
    st[n] = 0;
    if (strcmp(st, "ok") == 0 || strcmp(st, "ok_simultaneous") == 0) {
        hs->state = OTPC__HS_RECV_CHALLENGE;
        return 0;
    }
    if (strcmp(st, "alive") == 0) {
        /* The peer thinks it is connected to us. If we are not, its connection is
         * stale (we restarted, or it is half-open): ask it to take this one. */
        int replace = hs->alive && hs->alive(hs->check_ctx, hs->peer_name, 1);
        int rc = send_status(hs, out, replace ? "true" : "false");
        if (rc == 0 && replace) {
            hs->state = OTPC__HS_RECV_CHALLENGE;
            return 0;
        }
    }
    hs->told_nok = strcmp(st, "nok") == 0;
    char why[384];
    snprintf(why, sizeof why, "%s refused the connection: %s", hs->peer_name, st);
    return fail(hs, OTPC_ESTATE, why);
}

static int on_challenge(otpc__hs_t *hs, const char *m, size_t len, otpc__buf_t *out)
{
    if (len < 19 || m[0] != 'N')
        return fail(hs, OTPC_EPROTO, "expected challenge");
    size_t n = otpc__get_u16(m + 17);
    char expect[OTPC__NODE_NAME_MAX + 1];
    snprintf(expect, sizeof expect, "%s", hs->peer_name);
    if (19 + n != len || set_peer_name(hs, m + 19, n))
        return fail(hs, OTPC_EPROTO, "malformed challenge");
    if (strcmp(expect, hs->peer_name) != 0)
        return fail(hs, OTPC_EPROTO, "peer answered with another node name");
    hs->peer_flags = otpc__get_u64(m + 1);
    hs->peer_creation = otpc__get_u32(m + 13);
    if (check_flags(hs))
        return OTPC_EPROTO;
    char reply[21];
    reply[0] = 'r';
    otpc__put_u32(reply + 1, hs->challenge);
    otpc__hs_digest(hs->cookie, otpc__get_u32(m + 9), (unsigned char *)reply + 5);
    hs->state = OTPC__HS_RECV_ACK;
    return emit(hs, out, reply, 21);
}

static int on_ack(otpc__hs_t *hs, const char *m, size_t len)
{
    unsigned char want[16];
    if (len != 17 || m[0] != 'a')
        return fail(hs, OTPC_EPROTO, "expected challenge_ack");
    otpc__hs_digest(hs->cookie, hs->challenge, want);
    if (CRYPTO_memcmp(want, m + 1, 16) != 0) {
        char why[384];
        snprintf(why, sizeof why, "%s answered with a wrong digest: cookies differ", hs->peer_name);
        return fail(hs, OTPC_ECOOKIE, why);
    }
    hs->state = OTPC__HS_DONE;
    return 1;
}

int otpc__hs_feed(otpc__hs_t *hs, const char *msg, size_t len, otpc__buf_t *out)
{
    switch (hs->state) {
    case OTPC__HS_RECV_NAME:
        return on_name(hs, msg, len, out);
    case OTPC__HS_RECV_COMPLEMENT:
        return on_complement(hs, msg, len);
    case OTPC__HS_RECV_ALIVE_ANSWER:
        return on_alive_answer(hs, msg, len, out);
    case OTPC__HS_RECV_REPLY:
        return on_reply(hs, msg, len, out);
    case OTPC__HS_RECV_STATUS:
        return on_status(hs, msg, len, out);
    case OTPC__HS_RECV_CHALLENGE:
        return on_challenge(hs, msg, len, out);
    case OTPC__HS_RECV_ACK:
        return on_ack(hs, msg, len);
    default:
        return fail(hs, OTPC_ESTATE, "handshake message in a finished handshake");
    }
}
