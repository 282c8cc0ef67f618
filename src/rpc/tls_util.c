/*
 * tls_util.c - FLUME_SSL_* fallbacks and diagnostics for the thrift source
 * and sink (see tls_util.h).  Called on the agent's thread at init (lists)
 * and on a connection's own thread (verify result); no state of its own.
 */
#include "rpc/tls_util.h"

#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

const char *flm_tls_env_or(const char *v, const char *env)
{
    if (v != NULL && v[0] != '\0')
        return v;
    const char *e = getenv(env);
    return e != NULL && e[0] != '\0' ? e : NULL;
}

/* A copy of the property, else of the env list with commas as spaces;
 * *out NULL when neither is set. */
static int one_list(const char *prop, const char *env, const char **out)
{
    *out = NULL;
    const char *v = flm_tls_env_or(prop, env);
    if (v == NULL)
        return FLM_OK;
    char *d = strdup(v);
    if (d == NULL)
        return FLM_ENOMEM;
    if (v != prop)
        for (char *p = d; *p; p++)
            if (*p == ',')
                *p = ' ';
    *out = d;
    return FLM_OK;
}

int flm_tls_lists(struct flm_avro_tls_conf *c, const char *inc_proto, const char *exc_proto,
                  const char *inc_ciph, const char *exc_ciph)
{
    c->include_protocols = c->exclude_protocols = NULL;
    c->include_ciphers = c->exclude_ciphers = NULL;
    if (one_list(inc_proto, "FLUME_SSL_INCLUDE_PROTOCOLS", &c->include_protocols) != FLM_OK ||
        one_list(exc_proto, "FLUME_SSL_EXCLUDE_PROTOCOLS", &c->exclude_protocols) != FLM_OK ||
        one_list(inc_ciph, "FLUME_SSL_INCLUDE_CIPHERSUITES", &c->include_ciphers) != FLM_OK ||
        one_list(exc_ciph, "FLUME_SSL_EXCLUDE_CIPHERSUITES", &c->exclude_ciphers) != FLM_OK) {
        flm_tls_lists_free(c);
        return FLM_ENOMEM;
    }
    return FLM_OK;
}

void flm_tls_lists_free(struct flm_avro_tls_conf *c)
{
    free((char *)c->include_protocols);
    free((char *)c->exclude_protocols);
    free((char *)c->include_ciphers);
    free((char *)c->exclude_ciphers);
    c->include_protocols = c->exclude_protocols = NULL;
    c->include_ciphers = c->exclude_ciphers = NULL;
}

const char *flm_tls_verify_error(const struct flm_avro_tls *t)
{
    if (t->ssl == NULL)
        return NULL;
    long v = SSL_get_verify_result(t->ssl);
    if (v == X509_V_OK)
        return NULL;
    return X509_verify_cert_error_string(v);
}
