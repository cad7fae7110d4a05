/*
 * erl's TLS distribution options for the node program, so one options file or one set
 * of flags serves the BEAM nodes and the C nodes of a cluster alike:
 *
 *   -proto_dist inet_tls
 *   -ssl_dist_opt server_certfile F server_keyfile F server_cacertfile F
 *                 server_verify verify_peer server_fail_if_no_peer_cert true
 *                 client_certfile F client_keyfile F client_cacertfile F
 *                 client_verify verify_peer
 *   -ssl_dist_optfile F    ([{server, [{certfile, "F"}, ...]}, {client, [...]}].)
 *
 * Options that would change what is verified and that this node cannot honour
 * (verify_fun, CRLs, key passwords, cipher lists) are refused, never ignored: a node
 * that quietly checked less than its configuration says would be worse than none.
 * Options that only tune OTP's own implementation are accepted and ignored.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "main/dist_opts.h"
#include "proto/term.h"
#include "proto/term_text.h"

/* Tuning knobs of OTP's ssl application with no meaning here. (`versions` is read by
 * the options file's reader; -ssl_dist_opt has no form of it, as in OTP.) */
static const char *const ignored[] = {
    "secure_renegotiate", "reuse_sessions", "hibernate_after",        "depth", "key_update_at",
    "log_level",          "log_alert",      "server_name_indication", NULL};

static int in(const char *const *set, const char *s)
{
    for (; *set; set++)
        if (!strcmp(*set, s))
            return 1;
    return 0;
}

static int boolean(const char *v, int *out)
{
    if (!strcmp(v, "true") || !strcmp(v, "false")) {
        *out = v[0] == 't';
        return 0;
    }
    return -1;
}

int otpc__dist_opt(otpc_tls_opts_t *side, int server, const char *key, const char *val, char *err,
                   size_t cap)
{
    if (!strcmp(key, "certfile")) {
        side->certfile = val;
    } else if (!strcmp(key, "keyfile")) {
        side->keyfile = val;
    } else if (!strcmp(key, "cacertfile")) {
        side->cacertfile = val;
    } else if (!strcmp(key, "verify")) {
        if (strcmp(val, "verify_peer") && strcmp(val, "verify_none"))
            goto bad_value;
        side->verify_peer = !strcmp(val, "verify_peer");
    } else if (server && !strcmp(key, "fail_if_no_peer_cert")) {
        if (boolean(val, &side->fail_if_no_peer_cert))
            goto bad_value;
    } else if (!in(ignored, key)) {
        snprintf(err, cap, "%s option %s is not supported by this node",
                 server ? "server" : "client", key);
        return -1;
    }
    return 0;
bad_value:
    snprintf(err, cap, "bad value for %s option %s: %s", server ? "server" : "client", key, val);
    return -1;
}

int otpc__ssl_dist_opt(otpc_node_opts_t *o, const char *key, const char *val, char *err, size_t cap)
{
    if (!strncmp(key, "server_", 7))
        return otpc__dist_opt(&o->tls_server, 1, key + 7, val, err, cap);
    if (!strncmp(key, "client_", 7))
        return otpc__dist_opt(&o->tls_client, 0, key + 7, val, err, cap);
    snprintf(err, cap, "-ssl_dist_opt %s: options start with server_ or client_", key);
    return -1;
}

int otpc__dist_opts_check(const otpc_node_opts_t *o, char *err, size_t cap)
{
    if (!o->tls_dist)
        return 0;
    if (!o->tls_server.certfile) {
        snprintf(err, cap,
                 "-proto_dist inet_tls needs a server certificate "
                 "(-ssl_dist_opt server_certfile F, or -ssl_dist_optfile F)");
        return -1;
    }
    if ((o->tls_server.verify_peer || o->tls_server.fail_if_no_peer_cert) &&
        !o->tls_server.cacertfile) {
        snprintf(err, cap, "server_verify verify_peer needs server_cacertfile");
        return -1;
    }
    if (o->tls_client.verify_peer && !o->tls_client.cacertfile) {
        snprintf(err, cap, "client_verify verify_peer needs client_cacertfile");
        return -1;
    }
    return 0;
}

/* ---- -ssl_dist_optfile --------------------------------------------------------------- */

#define OPTFILE_MAX (1 << 20)

/* The strings of an options file live as long as the program (the node reads the
 * files they name again at every reload). */
static char *keep(const char *s, size_t len)
{
    char *c = malloc(len + 1);
    if (c) {
        memcpy(c, s, len);
        c[len] = 0;
    }
    return c;
}

/* cp as UTF-8 at out + *n, within cap (a NUL still fits after it). */
static int put_utf8(char *out, size_t cap, size_t *n, unsigned long cp)
{
    char tmp[4];
    if (cp > 0x10FFFF)
        return -1;
    size_t k = otpc__utf8_put((uint32_t)cp, tmp);
    if (*n + k >= cap)
        return -1;
    memcpy(out + *n, tmp, k);
    *n += k;
    return 0;
}

/* An option's value as text: an atom, a string (code points, written as UTF-8 as
 * Erlang names files), a binary, or an integer. 0, or -1 for anything else. */
static int value_text(const char *b, int *i, char *out, size_t cap)
{
    int type, size;
    size_t n = 0;
    if (ei_get_type(b, i, &type, &size) || (size_t)size >= cap)
        return -1;
    switch (type) {
    case ERL_ATOM_EXT:
    case ERL_SMALL_ATOM_EXT:
    case ERL_ATOM_UTF8_EXT:
    case ERL_SMALL_ATOM_UTF8_EXT:
        return ei_decode_atom(b, i, out) ? -1 : 0;
    case ERL_NIL_EXT:
        out[0] = 0;
        return ei_decode_list_header(b, i, &size) ? -1 : 0;
    case ERL_STRING_EXT: {
        unsigned char *tmp = malloc((size_t)size + 1);
        int rc = !tmp || ei_decode_string(b, i, (char *)tmp) ? -1 : 0;
        for (int k = 0; !rc && k < size; k++)
            rc = put_utf8(out, cap, &n, tmp[k]);
        free(tmp);
        out[rc ? 0 : n] = 0;
        return rc;
    }
    case ERL_LIST_EXT: {
        int arity;
        if (ei_decode_list_header(b, i, &arity))
            return -1;
        for (int k = 0; k < arity; k++) {
            unsigned long cp;
            if (ei_decode_ulong(b, i, &cp) || put_utf8(out, cap, &n, cp))
                return -1;
        }
        out[n] = 0;
        return ei_decode_list_header(b, i, &arity) || arity != 0 ? -1 : 0;
    }
    case ERL_BINARY_EXT: {
        long len;
        if (ei_decode_binary(b, i, out, &len) || memchr(out, 0, (size_t)len))
            return -1;
        out[len] = 0;
        return 0;
    }
    case ERL_SMALL_INTEGER_EXT:
    case ERL_INTEGER_EXT: {
        long v;
        if (ei_decode_long(b, i, &v))
            return -1;
        snprintf(out, cap, "%ld", v);
        return 0;
    }
    default:
        return -1;
    }
}

/* {versions, ['tlsv1.2', 'tlsv1.3']}: the ones this node speaks, and only those. */
static int versions(otpc_tls_opts_t *side, const char *b, int *i, char *err, size_t cap)
{
    int arity;
    char v[MAXATOMLEN_UTF8];
    side->versions = 0;
    if (ei_decode_list_header(b, i, &arity) || arity == 0)
        goto bad;
    for (int k = 0; k < arity; k++) {
        if (ei_decode_atom(b, i, v))
            goto bad;
        if (!strcmp(v, "tlsv1.2"))
            side->versions |= OTPC_TLS_V12;
        else if (!strcmp(v, "tlsv1.3"))
            side->versions |= OTPC_TLS_V13;
        else {
            snprintf(err, cap, "versions: %s is not supported (tlsv1.2, tlsv1.3)", v);
            return -1;
        }
    }
    if (!ei_decode_list_header(b, i, &arity) && arity == 0)
        return 0;
bad:
    snprintf(err, cap, "versions must be a list of atoms");
    return -1;
}

/* One side's list of {Key, Value}. */
static int side_opts(otpc_tls_opts_t *side, int server, const char *b, int *i, char *err,
                     size_t cap)
{
    int n, arity;
    if (ei_decode_list_header(b, i, &n))
        goto bad;
    for (int k = 0; k < n; k++) {
        char key[MAXATOMLEN_UTF8], val[4096];
        if (ei_decode_tuple_header(b, i, &arity) || arity != 2 || ei_decode_atom(b, i, key))
            goto bad;
        if (!strcmp(key, "versions")) {
            if (versions(side, b, i, err, cap))
                return -1;
            continue;
        }
        int at = *i;
        if (value_text(b, i, val, sizeof val)) {
            /* a value we cannot read as text: fine for an option we ignore anyway */
            *i = at;
            if (otpc__dist_opt(side, server, key, "", err, cap) || ei_skip_term(b, i))
                return -1;
            continue;
        }
        char *kept = keep(val, strlen(val));
        if (!kept || otpc__dist_opt(side, server, key, kept, err, cap))
            return -1; /* on failure `kept` may be referenced: the program exits */
    }
    if (n && (ei_decode_list_header(b, i, &n) || n != 0))
        goto bad;
    return 0;
bad:
    snprintf(err, cap, "%s options must be a list of {Key, Value}", server ? "server" : "client");
    return -1;
}

static int read_file(const char *path, char **text, size_t *len, char *err, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, cap, "%s", strerror(errno));
        return -1;
    }
    char *buf = malloc(OPTFILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, OPTFILE_MAX + 1, f) : 0;
    int rc = !buf ? -1 : ferror(f) ? -1 : n > OPTFILE_MAX ? -2 : 0;
    fclose(f);
    if (rc) {
        snprintf(err, cap, "%s", rc == -2 ? "larger than 1 MiB" : "cannot read it");
        free(buf);
        return -1;
    }
    *text = buf;
    *len = n;
    return 0;
}

int otpc__ssl_dist_optfile(otpc_node_opts_t *o, const char *path, char *err, size_t cap)
{
    char *text = NULL;
    size_t len;
    ei_x_buff x = {0};
    int rc = -1, n, arity, i = 0;
    if (read_file(path, &text, &len, err, cap))
        return -1;
    if (ei_x_new_with_version(&x) || otpc__term_text_parse(text, len, &x, err, cap))
        goto out;
    if (ei_decode_version(x.buff, &i, NULL) || ei_decode_list_header(x.buff, &i, &n)) {
        snprintf(err, cap, "expected [{server, Opts}, {client, Opts}]");
        goto out;
    }
    for (int k = 0; k < n; k++) {
        char side[MAXATOMLEN_UTF8];
        if (ei_decode_tuple_header(x.buff, &i, &arity) || arity != 2 ||
            ei_decode_atom(x.buff, &i, side) ||
            (strcmp(side, "server") && strcmp(side, "client"))) {
            snprintf(err, cap, "expected {server, Opts} or {client, Opts}");
            goto out;
        }
        int server = side[0] == 's';
        if (side_opts(server ? &o->tls_server : &o->tls_client, server, x.buff, &i, err, cap))
            goto out;
    }
    rc = 0;
out:
    ei_x_free(&x);
    free(text);
    return rc;
}
