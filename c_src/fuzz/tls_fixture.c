/* The deterministic TLS server of the fuzzers; see tls_fixture.h. */
#define OPENSSL_SUPPRESS_DEPRECATED /* RAND_set_rand_method: the one way to replace it */

#include "fuzz/tls_fixture.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- two pseudo-random streams (splitmix64) --------------------------------------- */

static const uint64_t seeds[2] = {0x6f747063u, 0x636c6e74u};
static uint64_t state[2];
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
    fx_rand_select(FX_SERVER);
}

/* ---- the server's key and certificate ---------------------------------------------- */

static X509 *self_signed(EVP_PKEY *key)
{
    X509 *x = X509_new();
    if (!x)
        return NULL;
    X509_NAME *name = X509_get_subject_name(x);
    int ok = X509_set_version(x, 2) && ASN1_INTEGER_set(X509_get_serialNumber(x), 1) &&
             ASN1_TIME_set_string_X509(X509_getm_notBefore(x), "20240101000000Z") &&
             ASN1_TIME_set_string_X509(X509_getm_notAfter(x), "20991231235959Z") &&
             X509_set_pubkey(x, key) &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                        (const unsigned char *)"localhost", -1, -1, 0) &&
             X509_set_issuer_name(x, name) && X509_sign(x, key, EVP_sha256());
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

otpc__tls_ctx_t *fx_server_ctx(void)
{
    char dir[] = "/tmp/otpc_fuzz_tls_XXXXXX", file[64], err[200] = "";
    otpc__tls_ctx_t *ctx = NULL;
    fx_rand_install();
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *cert = key ? self_signed(key) : NULL;
    if (!cert || !mkdtemp(dir)) {
        fprintf(stderr, "fx_server_ctx: no key, certificate or directory\n");
        goto out;
    }
    /* otpc__tls_conf_t takes file names: certificate and key in one PEM file */
    snprintf(file, sizeof file, "%s/server.pem", dir);
    FILE *fp = fopen(file, "w");
    int ok = fp && PEM_write_X509(fp, cert) &&
             PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL);
    if (fp && fclose(fp) != 0)
        ok = 0;
    otpc__tls_conf_t conf = {.certfile = file};
    if (ok)
        ctx = otpc__tls_ctx_new(&conf, err, sizeof err);
    if (!ctx)
        fprintf(stderr, "fx_server_ctx: %s\n", err[0] ? err : "cannot write the PEM file");
    unlink(file);
    rmdir(dir);
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    ERR_clear_error();
    return ctx;
}

otpc__tls_t *fx_server_conn(otpc__tls_ctx_t *ctx)
{
    fx_rand_restart(FX_SERVER);
    fx_rand_select(FX_SERVER);
    return otpc__tls_new(ctx);
}
