/*
 * A deterministic TLS server and client for fuzz_tls and for the program that records
 * its seeds (fuzz/seeds.c).
 *
 * Random input never gets past a TLS handshake: the client's Finished depends on the
 * server's random, key share and signature, and the server's on the client's. So
 * OpenSSL's randomness is replaced by fixed pseudo-random streams, one for the server,
 * one for the client and one for the certificates of servers a client must refuse,
 * and the certificates are made from them with fixed dates. The server then answers a
 * given ClientHello with the same bytes on every run, and the client sends the same
 * ClientHello (and, with a certificate, the same Certificate and CertificateVerify):
 * a recorded peer's bytes (hello, Finished, application data, close_notify) complete
 * the handshake again when replayed to either, so the fuzzer reaches established
 * connections and their records in both roles. Only as long as OpenSSL itself does not
 * change: after an upgrade, regenerate the seeds (make -C c_src fuzz-seeds).
 *
 * Never link this into anything but the fuzzers: it makes OpenSSL's keys predictable.
 */
#ifndef OTPC_FUZZ_TLS_FIXTURE_H
#define OTPC_FUZZ_TLS_FIXTURE_H

#include <openssl/x509.h>

#include "transport/tls.h"

typedef enum { FX_SERVER, FX_CLIENT, FX_ROGUE } fx_stream_t;

/* Replace OpenSSL's randomness (idempotent), restart every stream and draw from the
 * server's. */
void fx_rand_install(void);

/* Restart one stream from its fixed seed, or only choose the stream OpenSSL draws
 * from next. */
void fx_rand_select(fx_stream_t s);
void fx_rand_restart(fx_stream_t s);

/* A server context with the fixture's EC P-256 key and self-signed certificate (made
 * on the first call from the restarted server stream, kept for the process). With
 * mtls, clients must present a certificate that the server's own certificate, also a
 * CA, has signed. NULL with a reason on stderr. */
otpc__tls_ctx_t *fx_server_ctx(int mtls);

/* A client key and certificate from the current stream: signed by the server's key
 * (trusted by an mtls server) or self-signed (refused by it). Call fx_ca (or
 * fx_server_ctx) first. The caller frees both; 0 or -1. */
int fx_client_cert(int trusted, X509 **cert, EVP_PKEY **key);

/* A new server connection on ctx, from the restarted server stream: call it at the
 * same point of every run. */
otpc__tls_t *fx_server_conn(otpc__tls_ctx_t *ctx);

/* The fixture's CA: the server's self-signed certificate (borrowed, kept for the
 * process), made on first use as by fx_server_ctx. NULL if it could not be made. */
X509 *fx_ca(void);

/* A client context (TLS distribution's, otpc__tls_conf_t.client): with verify, the
 * server's certificate must chain to fx_ca() and name the host; with cert, the client
 * presents a certificate signed by the CA (trusted by an mtls server), made once from
 * the restarted client stream so that it is the same in every process. NULL with a
 * reason on stderr. */
otpc__tls_ctx_t *fx_client_ctx(int verify, int cert);

/* A server context that a verifying client must refuse: wrong_host 0, a self-signed
 * certificate naming localhost (not the CA's); 1, one signed by the CA naming
 * otherhost. Keys from the restarted rogue stream. NULL with a reason on stderr. */
otpc__tls_ctx_t *fx_rogue_server_ctx(int wrong_host);

/* A new client connection on ctx naming "localhost", from the restarted client stream:
 * call it at the same point of every run. Its ClientHello waits for
 * otpc__tls_handshake. */
otpc__tls_t *fx_client_conn(otpc__tls_ctx_t *ctx);

#endif
