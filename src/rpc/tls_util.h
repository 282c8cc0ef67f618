/*
 * tls_util.h - small helpers around avro_tls.h for components that take
 * Flume's TLS properties (the thrift source and sink): global FLUME_SSL_*
 * fallbacks resolved the way spec/config.md says (component value, else the
 * environment variable; env lists are comma-separated, property lists
 * space-separated).
 */
#ifndef FLM_TLS_UTIL_H
#define FLM_TLS_UTIL_H

#include "rpc/avro_tls.h"

/* v when set and non-empty, else getenv(env) when non-empty, else NULL. */
const char *flm_tls_env_or(const char *v, const char *env);

/* Fills the four list fields of c: each property when set, else its
 * FLUME_SSL_* variable with commas turned into spaces.  The strings are owned
 * by c until flm_tls_lists_free.  FLM_OK or FLM_ENOMEM. */
int flm_tls_lists(struct flm_avro_tls_conf *c, const char *inc_proto, const char *exc_proto,
                  const char *inc_ciph, const char *exc_ciph);
void flm_tls_lists_free(struct flm_avro_tls_conf *c);

/* After a failed client handshake: the certificate-verification result in
 * words ("self-signed certificate", ...), or NULL when the chain was not
 * the problem. */
const char *flm_tls_verify_error(const struct flm_avro_tls *t);

#endif
