/*
 * avro_tls.h - TLS for the avro source and sink over OpenSSL memory BIOs, so
 * the TLS layer composes with the deflate layer in Flume's order (bytes on
 * the socket = zlib(TLS(frames)), spec/wire.md e) and with any I/O model
 * (libuv on the source, blocking poll() on the sink).
 *
 * Key material (spec/wire.md g, mapped onto OpenSSL files):
 *  - keystore-type PKCS12: a PKCS#12 file (what `keytool -importkeystore
 *    -deststoretype PKCS12` writes) with the key and certificate chain,
 *    opened with keystore-password;
 *  - keystore-type PEM (flumen): one PEM file holding the certificate chain
 *    and the private key (encrypted keys use keystore-password);
 *  - keystore-type JKS (Flume's default) cannot be read by OpenSSL: a clear
 *    configuration error asks for a PKCS12 conversion.
 *  - truststore: PEM file of CA certificates (any truststore-type other than
 *    PKCS12), or a PKCS#12 file whose certificates are trusted.
 * Protocol and cipher-suite lists use Java names (TLSv1.2, TLSv1.3,
 * TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256), space-separated; SSLv3 is never
 * enabled.
 *
 * A struct flm_avro_tls belongs to one connection and one thread at a time.
 */
#ifndef FLM_AVRO_TLS_H
#define FLM_AVRO_TLS_H

#include "core/buf.h"
#include "core/err.h"

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct flm_avro_tls_conf {
    const char *keystore, *keystore_password, *keystore_type;        /* server */
    const char *truststore, *truststore_password, *truststore_type;  /* client */
    bool trust_all;                                                  /* client */
    const char *include_protocols, *exclude_protocols;
    const char *include_ciphers, *exclude_ciphers;
};

/* Builds a server (keystore required) or client context.  err says which
 * property is wrong and why. */
int flm_avro_tls_ctx(SSL_CTX **out, bool server, const struct flm_avro_tls_conf *c,
                     struct flm_err *err);

struct flm_avro_tls {
    SSL *ssl;
    BIO *rbio, *wbio;   /* network side: bytes in / bytes out */
};

int flm_avro_tls_new(struct flm_avro_tls *t, SSL_CTX *ctx, bool server);
void flm_avro_tls_free(struct flm_avro_tls *t);
/* Network bytes received from the peer. */
int flm_avro_tls_feed(struct flm_avro_tls *t, const uint8_t *p, size_t n);
/* Decrypted bytes: FLM_OK with *got > 0, FLM_EAGAIN when more network bytes
 * are needed, FLM_ECLOSED at a TLS close, FLM_EIO on a TLS error (why). */
int flm_avro_tls_read(struct flm_avro_tls *t, uint8_t *out, size_t cap, size_t *got, char *why,
                      size_t whycap);
/* Encrypts plaintext (after the handshake; before it, data is queued by
 * OpenSSL only once the handshake is done, so call after tls_done). */
int flm_avro_tls_write(struct flm_avro_tls *t, const uint8_t *p, size_t n, char *why,
                       size_t whycap);
/* Drives the handshake: FLM_OK when done, FLM_EAGAIN when it needs peer
 * bytes, FLM_EIO on failure (why). */
int flm_avro_tls_handshake(struct flm_avro_tls *t, char *why, size_t whycap);
/* Moves pending network bytes (to send) into out. */
int flm_avro_tls_drain(struct flm_avro_tls *t, struct flm_buf *out);

#endif
