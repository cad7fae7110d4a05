/* The deterministic TLS server and client of the fuzzers; see tls_fixture.h. */
#define OPENSSL_SUPPRESS_DEPRECATED /* RAND_set_rand_method: the one way to replace it */

#include "fuzz/tls_fixture.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- three pseudo-random streams (splitmix64) ------------------------------------- */

static const uint64_t seeds[3] = {0x6f747063u, 0x636c6e74u, 0x726f6775u};
static uint64_t state[3];
static fx_stream_t current;

static uint64_t next64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static int fx_bytes(unsigned char *buf, int num)
{
    for (int i = 0; i < num; i += 8) {
        uint64_t v = next64(&state[current]);
        for (int k = 0; k < 8 && i + k < num; k++)
            buf[i + k] = (unsigned char)(v >> (8 * k));
    }
    return 1;
}

static int fx_seed(const void *buf, int num)
{
    (void)buf;
    (void)num;
    return 1;
}

static int fx_add(const void *buf, int num, double entropy)
{
    (void)buf;
    (void)num;
    (void)entropy;
    return 1;
}

static int fx_status(void)
{
    return 1;
}

static const RAND_METHOD fx_method = {fx_seed, fx_bytes, NULL, fx_add, fx_bytes, fx_status};

void fx_rand_restart(fx_stream_t s)
{
    state[s] = seeds[s];
}

void fx_rand_select(fx_stream_t s)
{
    current = s;
}

void fx_rand_install(void)
{
    RAND_set_rand_method(&fx_method);
    fx_rand_restart(FX_SERVER);
    fx_rand_restart(FX_CLIENT);
    fx_rand_restart(FX_ROGUE);
    fx_rand_select(FX_SERVER);
}

/* ---- keys and certificates ---------------------------------------------------------- */

static EVP_PKEY *srv_key;
static X509 *srv_cert; /* self-signed, CA:TRUE, so that it can vouch for clients */
static EVP_PKEY *cli_key;
static X509 *cli_cert; /* signed by srv_key: the client certificate of fx_client_ctx */

/* A certificate for key, named cn, signed by issuer's key (NULL: self-signed). */
static X509 *certificate(EVP_PKEY *key, const char *cn, int ca, X509 *issuer, EVP_PKEY *issuer_key)
{
    X509 *x = X509_new();
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    if (!x || !bc)
        goto fail;
    bc->ca = ca;
    X509_NAME *name = X509_get_subject_name(x);
    int ok = X509_set_version(x, 2) && ASN1_INTEGER_set(X509_get_serialNumber(x), 1 + !ca) &&
             ASN1_TIME_set_string_X509(X509_getm_notBefore(x), "20240101000000Z") &&
             ASN1_TIME_set_string_X509(X509_getm_notAfter(x), "20991231235959Z") &&
             X509_set_pubkey(x, key) &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                        0) &&
             X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) &&
             X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, 0) == 1 &&
             X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
    if (!ok)
        goto fail;
    BASIC_CONSTRAINTS_free(bc);
    return x;
fail:
    BASIC_CONSTRAINTS_free(bc);
    X509_free(x);
    return NULL;
}

int fx_client_cert(int trusted, X509 **cert, EVP_PKEY **key)
{
    *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    *cert = *key && srv_cert ? certificate(*key, "client", 0, trusted ? srv_cert : NULL,
                                           trusted ? srv_key : NULL)
                             : NULL;
    if (*cert)
        return 0;
    EVP_PKEY_free(*key);
    *key = NULL;
    return -1;
}

/* Write x (and k) as PEM to dir/name into path. */
static int write_pem(char *path, size_t cap, const char *dir, const char *name, X509 *x,
                     EVP_PKEY *k)
{
    snprintf(path, cap, "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    if (!fp)
        return 0;
    int ok =
        PEM_write_X509(fp, x) && (!k || PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL));
    return fclose(fp) == 0 && ok;
}

/* A context from conf with cert and key (if cert) and ca (if ca) in files, since
 * otpc__tls_conf_t takes file names; the files are gone when it returns. */
static otpc__tls_ctx_t *ctx_with(otpc__tls_conf_t conf, X509 *cert, EVP_PKEY *key, X509 *ca,
                                 const char *who)
{
    char dir[] = "/tmp/otpc_fuzz_tls_XXXXXX", certfile[64] = "", cafile[64] = "", err[200] = "";
    otpc__tls_ctx_t *ctx = NULL;
    if (mkdtemp(dir) &&
        (!cert || write_pem(certfile, sizeof certfile, dir, "cert.pem", cert, key)) &&
        (!ca || write_pem(cafile, sizeof cafile, dir, "ca.pem", ca, NULL))) {
        conf.certfile = cert ? certfile : NULL;
        conf.cacertfile = ca ? cafile : NULL;
        ctx = otpc__tls_ctx_new(&conf, err, sizeof err);
    }
    if (!ctx)
        fprintf(stderr, "%s: %s\n", who, err[0] ? err : "no file");
    if (certfile[0])
        unlink(certfile);
    if (cafile[0])
        unlink(cafile);
    rmdir(dir);
    ERR_clear_error();
    return ctx;
}

X509 *fx_ca(void)
{
    if (!srv_cert) {
        fx_rand_install();
        srv_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        srv_cert = srv_key ? certificate(srv_key, "localhost", 1, NULL, NULL) : NULL;
    }
    return srv_cert;
}

otpc__tls_ctx_t *fx_server_ctx(int mtls)
{
    if (!fx_ca()) {
        fprintf(stderr, "fx_server_ctx: no key or certificate\n");
        return NULL;
    }
    fx_rand_restart(FX_SERVER);
    fx_rand_select(FX_SERVER);
    otpc__tls_conf_t conf = {.verify_peer = mtls, .fail_if_no_peer_cert = mtls};
    return ctx_with(conf, srv_cert, srv_key, mtls ? srv_cert : NULL, "fx_server_ctx");
}

otpc__tls_ctx_t *fx_client_ctx(int verify, int cert)
{
    if (!fx_ca()) {
        fprintf(stderr, "fx_client_ctx: no CA\n");
        return NULL;
    }
    if (cert && !cli_cert) {
        fx_rand_restart(FX_CLIENT);
        fx_rand_select(FX_CLIENT);
        if (fx_client_cert(1, &cli_cert, &cli_key)) {
            fprintf(stderr, "fx_client_ctx: no client certificate\n");
            return NULL;
        }
    }
    otpc__tls_conf_t conf = {.verify_peer = verify, .client = 1};
    return ctx_with(conf, cert ? cli_cert : NULL, cli_key, verify ? srv_cert : NULL,
                    "fx_client_ctx");
}

otpc__tls_ctx_t *fx_rogue_server_ctx(int wrong_host)
{
    if (!fx_ca()) {
        fprintf(stderr, "fx_rogue_server_ctx: no CA\n");
        return NULL;
    }
    fx_rand_restart(FX_ROGUE);
    fx_rand_select(FX_ROGUE);
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = !key         ? NULL
              : wrong_host ? certificate(key, "otherhost", 0, srv_cert, srv_key)
                           : certificate(key, "localhost", 0, NULL, NULL);
    otpc__tls_ctx_t *ctx = NULL;
    if (x)
        ctx = ctx_with((otpc__tls_conf_t){0}, x, key, NULL, "fx_rogue_server_ctx");
    else
        fprintf(stderr, "fx_rogue_server_ctx: no key or certificate\n");
    X509_free(x);
    EVP_PKEY_free(key);
    fx_rand_select(FX_SERVER);
    return ctx;
}

otpc__tls_t *fx_server_conn(otpc__tls_ctx_t *ctx)
{
    fx_rand_restart(FX_SERVER);
    fx_rand_select(FX_SERVER);
    return otpc__tls_new(ctx);
}

otpc__tls_t *fx_client_conn(otpc__tls_ctx_t *ctx)
{
    fx_rand_restart(FX_CLIENT);
    fx_rand_select(FX_CLIENT);
    return otpc__tls_new_client(ctx, "localhost");
}
