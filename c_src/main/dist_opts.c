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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "main/dist_opts.h"

/* Tuning knobs of OTP's ssl application with no meaning here. */
static const char *const ignored[] = {
    "secure_renegotiate",     "reuse_sessions", "hibernate_after", "depth", "versions",
    "server_name_indication", "log_level",      "log_alert",       NULL};

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

int otpc__ssl_dist_optfile(otpc_node_opts_t *o, const char *path, char *err, size_t cap)
{
    (void)o;
    (void)path;
    snprintf(err, cap, "TODO");
    return -1;
}
