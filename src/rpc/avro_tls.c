/*
 * avro_tls.c - OpenSSL contexts from Flume's TLS properties and memory-BIO
 * TLS connections (see avro_tls.h).  Contexts are built on the agent's
 * thread at init and shared read-only; each connection's SSL object is used
 * by one thread (the source loop or the sink runner).
 */
#include "rpc/avro_tls.h"

#include "core/kv.h"

#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void ossl_why(char *why, size_t cap)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "unknown TLS error";
    if (e != 0)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    snprintf(why, cap, "%s", buf);
}

static const struct {
    const char *name;
    int version;
} versions[] = {
    {"TLSv1", TLS1_VERSION}, {"TLSv1.1", TLS1_1_VERSION}, {"TLSv1.2", TLS1_2_VERSION},
    {"TLSv1.3", TLS1_3_VERSION},
};
#define NVERS (sizeof(versions) / sizeof(versions[0]))

/* Splits a protocol or cipher list: spaces (properties) or commas
 * (Flume's FLUME_SSL_* environment lists). */
static int split_list(struct flm_strv *sv, const char *s)
{
    char *t = strdup(s ? s : "");
    if (t == NULL)
        return FLM_ENOMEM;
    for (char *q = t; *q; q++)
        if (*q == ',')
            *q = ' ';
    int rc = flm_strv_split(sv, t);
    free(t);
    return rc;
}

/* Enabled protocol range from include/exclude lists (Java names). */
static int set_protocols(SSL_CTX *ctx, const char *inc, const char *exc, struct flm_err *err)
{
    struct flm_strv iv, ev;
    bool on[NVERS];
    if (split_list(&iv, inc) != FLM_OK)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    if (split_list(&ev, exc) != FLM_OK) {
        flm_strv_free(&iv);
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    }
    int lo = -1, hi = -1;
    for (size_t i = 0; i < NVERS; i++) {
        on[i] = (iv.n == 0 || flm_strv_has(&iv, versions[i].name)) &&
                !flm_strv_has(&ev, versions[i].name);
        if (on[i]) {
            if (lo < 0)
                lo = (int)i;
            hi = (int)i;
        }
    }
    flm_strv_free(&iv);
    flm_strv_free(&ev);
    if (lo < 0)
        return flm_err_set(err, FLM_ERR, "include-protocols/exclude-protocols leave no TLS "
                           "protocol enabled (known: TLSv1 TLSv1.1 TLSv1.2 TLSv1.3)");
    SSL_CTX_set_min_proto_version(ctx, versions[lo].version);
    SSL_CTX_set_max_proto_version(ctx, versions[hi].version);
    long opts = 0;
    for (int i = lo; i <= hi; i++) {
        if (on[i])
            continue;
        if (versions[i].version == TLS1_1_VERSION)
            opts |= SSL_OP_NO_TLSv1_1;
        else if (versions[i].version == TLS1_2_VERSION)
            opts |= SSL_OP_NO_TLSv1_2;
    }
    SSL_CTX_set_options(ctx, opts);
    return FLM_OK;
}

/* Cipher suites by their standard (IANA/Java) names. */
static int set_ciphers(SSL_CTX *ctx, const char *inc, const char *exc, struct flm_err *err)
{
    if ((inc == NULL || inc[0] == '\0') && (exc == NULL || exc[0] == '\0'))
        return FLM_OK;
    struct flm_strv iv, ev;
    if (split_list(&iv, inc) != FLM_OK)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    if (split_list(&ev, exc) != FLM_OK) {
        flm_strv_free(&iv);
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    }
    struct flm_buf l12, l13;
    flm_buf_init(&l12, 1 << 16);
    flm_buf_init(&l13, 1 << 16);
    STACK_OF(SSL_CIPHER) *all = SSL_CTX_get_ciphers(ctx);
    for (int i = 0; i < sk_SSL_CIPHER_num(all); i++) {
        const SSL_CIPHER *c = sk_SSL_CIPHER_value(all, i);
        const char *std = SSL_CIPHER_standard_name(c);
        if (std == NULL)
            continue;
        if ((iv.n > 0 && !flm_strv_has(&iv, std)) || flm_strv_has(&ev, std))
            continue;
        bool v13 = strcmp(SSL_CIPHER_get_version(c), "TLSv1.3") == 0;
        struct flm_buf *b = v13 ? &l13 : &l12;
        if (b->len > 0)
            flm_buf_append(b, ":", 1);
        const char *nm = v13 ? std : SSL_CIPHER_get_name(c);
        flm_buf_append(b, nm, strlen(nm));
    }
    flm_buf_append(&l12, "", 1);
    flm_buf_append(&l13, "", 1);
    int rc = FLM_OK;
    if (l12.p[0] == '\0' && l13.p[0] == '\0')
        rc = flm_err_set(err, FLM_ERR, "include-cipher-suites/exclude-cipher-suites leave no "
                         "cipher suite enabled (use standard names such as "
                         "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)");
    else if ((l12.p[0] != '\0' && SSL_CTX_set_cipher_list(ctx, (char *)l12.p) != 1) ||
             SSL_CTX_set_ciphersuites(ctx, (char *)l13.p) != 1)
        rc = flm_err_set(err, FLM_ERR, "cannot apply the cipher suite lists");
    if (rc == FLM_OK && l12.p[0] == '\0')
        SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    flm_buf_free(&l12);
    flm_buf_free(&l13);
    flm_strv_free(&iv);
    flm_strv_free(&ev);
    return rc;
}

static int pem_pass(char *buf, int size, int rwflag, void *u)
{
    (void)rwflag;
    const char *pw = u ? u : "";
    int n = (int)strlen(pw);
    if (n > size)
        n = size;
    memcpy(buf, pw, (size_t)n);
    return n;
}

static int load_pkcs12(const char *path, const char *pw, EVP_PKEY **key, X509 **cert,
                       STACK_OF(X509) **ca, char *why, size_t whycap)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(why, whycap, "cannot open %s", path);
        return FLM_ERR;
    }
    PKCS12 *p12 = d2i_PKCS12_fp(f, NULL);
    fclose(f);
    if (p12 == NULL) {
        snprintf(why, whycap, "%s is not a PKCS#12 file", path);
        ERR_clear_error();
        return FLM_ERR;
    }
    int ok = PKCS12_parse(p12, pw ? pw : "", key, cert, ca);
    PKCS12_free(p12);
    if (ok != 1) {
        snprintf(why, whycap, "cannot open PKCS#12 file %s (wrong password?)", path);
        ERR_clear_error();
        return FLM_ERR;
    }
    return FLM_OK;
}

static const char *env_or(const char *v, const char *env)
{
    if (v != NULL && v[0] != '\0')
        return v;
    const char *e = getenv(env);
    return e != NULL && e[0] != '\0' ? e : NULL;
}

int flm_avro_tls_ctx(SSL_CTX **out, bool server, const struct flm_avro_tls_conf *c,
                     struct flm_err *err)
{
    char why[300];
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (ctx == NULL)
        return flm_err_set(err, FLM_ENOMEM, "cannot create a TLS context");
    int rc = set_protocols(ctx, env_or(c->include_protocols, "FLUME_SSL_INCLUDE_PROTOCOLS"),
                           env_or(c->exclude_protocols, "FLUME_SSL_EXCLUDE_PROTOCOLS"), err);
    if (rc == FLM_OK)
        rc = set_ciphers(ctx, env_or(c->include_ciphers, "FLUME_SSL_INCLUDE_CIPHERSUITES"),
                         env_or(c->exclude_ciphers, "FLUME_SSL_EXCLUDE_CIPHERSUITES"), err);
    if (rc != FLM_OK) {
        SSL_CTX_free(ctx);
        return rc;
    }
    if (server) {
        const char *ks = env_or(c->keystore, "FLUME_SSL_KEYSTORE_PATH");
        const char *pw = env_or(c->keystore_password, "FLUME_SSL_KEYSTORE_PASSWORD");
        const char *type = env_or(c->keystore_type, "FLUME_SSL_KEYSTORE_TYPE");
        if (type == NULL)
            type = "JKS";
        if (ks == NULL) {
            SSL_CTX_free(ctx);
            return flm_err_set(err, FLM_ERR, "keystore: ssl = true needs a keystore (property "
                               "or FLUME_SSL_KEYSTORE_PATH)");
        }
        if (strcasecmp(type, "PKCS12") == 0) {
            EVP_PKEY *key = NULL;
            X509 *cert = NULL;
            STACK_OF(X509) *ca = NULL;
            if (load_pkcs12(ks, pw, &key, &cert, &ca, why, sizeof(why)) != FLM_OK) {
                SSL_CTX_free(ctx);
                return flm_err_set(err, FLM_ERR, "keystore: %s", why);
            }
            int ok = SSL_CTX_use_cert_and_key(ctx, cert, key, ca, 1);
            EVP_PKEY_free(key);
            X509_free(cert);
            sk_X509_pop_free(ca, X509_free);
            if (ok != 1) {
                ossl_why(why, sizeof(why));
                SSL_CTX_free(ctx);
                return flm_err_set(err, FLM_ERR, "keystore: %s: %s", ks, why);
            }
        } else if (strcasecmp(type, "PEM") == 0) {
            SSL_CTX_set_default_passwd_cb(ctx, pem_pass);
            SSL_CTX_set_default_passwd_cb_userdata(ctx, (void *)(uintptr_t)(pw ? pw : ""));
            if (SSL_CTX_use_certificate_chain_file(ctx, ks) != 1 ||
                SSL_CTX_use_PrivateKey_file(ctx, ks, SSL_FILETYPE_PEM) != 1) {
                ossl_why(why, sizeof(why));
                SSL_CTX_free(ctx);
                return flm_err_set(err, FLM_ERR, "keystore: %s: %s", ks, why);
            }
            SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
        } else {
            SSL_CTX_free(ctx);
            return flm_err_set(err, FLM_ERR, "keystore-type: %s keystores cannot be read by "
                               "flumen; convert with `keytool -importkeystore -srckeystore %s "
                               "-destkeystore ks.p12 -deststoretype PKCS12` and set "
                               "keystore-type = PKCS12 (or use PEM)", type, ks);
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            SSL_CTX_free(ctx);
            return flm_err_set(err, FLM_ERR, "keystore: the private key does not match the "
                               "certificate in %s", ks);
        }
    } else if (c->trust_all) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        const char *ts = env_or(c->truststore, "FLUME_SSL_TRUSTSTORE_PATH");
        const char *pw = env_or(c->truststore_password, "FLUME_SSL_TRUSTSTORE_PASSWORD");
        const char *type = env_or(c->truststore_type, "FLUME_SSL_TRUSTSTORE_TYPE");
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (ts == NULL) {
            SSL_CTX_set_default_verify_paths(ctx);
        } else if (type != NULL && strcasecmp(type, "PKCS12") == 0) {
            EVP_PKEY *key = NULL;
            X509 *cert = NULL;
            STACK_OF(X509) *ca = NULL;
            if (load_pkcs12(ts, pw, &key, &cert, &ca, why, sizeof(why)) != FLM_OK) {
                SSL_CTX_free(ctx);
                return flm_err_set(err, FLM_ERR, "truststore: %s", why);
            }
            X509_STORE *st = SSL_CTX_get_cert_store(ctx);
            if (cert != NULL)
                X509_STORE_add_cert(st, cert);
            for (int i = 0; ca != NULL && i < sk_X509_num(ca); i++)
                X509_STORE_add_cert(st, sk_X509_value(ca, i));
            EVP_PKEY_free(key);
            X509_free(cert);
            sk_X509_pop_free(ca, X509_free);
        } else if (SSL_CTX_load_verify_locations(ctx, ts, NULL) != 1) {
            ossl_why(why, sizeof(why));
            SSL_CTX_free(ctx);
            return flm_err_set(err, FLM_ERR, "truststore: %s is not a PEM file of CA "
                               "certificates (%s); JKS truststores must be converted", ts, why);
        }
    }
    *out = ctx;
    return FLM_OK;
}

int flm_avro_tls_new(struct flm_avro_tls *t, SSL_CTX *ctx, bool server)
{
    memset(t, 0, sizeof(*t));
    t->ssl = SSL_new(ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
        SSL_free(t->ssl);
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        memset(t, 0, sizeof(*t));
        return FLM_ENOMEM;
    }
    SSL_set_bio(t->ssl, t->rbio, t->wbio);   /* the SSL owns both now */
    if (server)
        SSL_set_accept_state(t->ssl);
    else
        SSL_set_connect_state(t->ssl);
    return FLM_OK;
}

void flm_avro_tls_free(struct flm_avro_tls *t)
{
    if (t->ssl != NULL)
        SSL_free(t->ssl);
    memset(t, 0, sizeof(*t));
}

int flm_avro_tls_feed(struct flm_avro_tls *t, const uint8_t *p, size_t n)
{
    while (n > 0) {
        int k = BIO_write(t->rbio, p, n > INT32_MAX ? INT32_MAX : (int)n);
        if (k <= 0)
            return FLM_ENOMEM;
        p += k;
        n -= (size_t)k;
    }
    return FLM_OK;
}

static int ssl_result(struct flm_avro_tls *t, int r, char *why, size_t whycap)
{
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return FLM_EAGAIN;
    if (e == SSL_ERROR_ZERO_RETURN)
        return FLM_ECLOSED;
    ossl_why(why, whycap);
    return FLM_EIO;
}

int flm_avro_tls_handshake(struct flm_avro_tls *t, char *why, size_t whycap)
{
    if (SSL_is_init_finished(t->ssl))
        return FLM_OK;
    int r = SSL_do_handshake(t->ssl);
    if (r == 1)
        return FLM_OK;
    int rc = ssl_result(t, r, why, whycap);
    if (rc == FLM_ECLOSED) {
        snprintf(why, whycap, "TLS handshake: peer closed");
        rc = FLM_EIO;
    } else if (rc == FLM_EIO) {
        char tmp[300];
        snprintf(tmp, sizeof(tmp), "TLS handshake failed: %s", why);
        snprintf(why, whycap, "%s", tmp);
    }
    return rc;
}

int flm_avro_tls_read(struct flm_avro_tls *t, uint8_t *out, size_t cap, size_t *got, char *why,
                      size_t whycap)
{
    *got = 0;
    int r = SSL_read(t->ssl, out, cap > INT32_MAX ? INT32_MAX : (int)cap);
    if (r > 0) {
        *got = (size_t)r;
        return FLM_OK;
    }
    return ssl_result(t, r, why, whycap);
}

int flm_avro_tls_write(struct flm_avro_tls *t, const uint8_t *p, size_t n, char *why,
                       size_t whycap)
{
    while (n > 0) {
        int r = SSL_write(t->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
        if (r <= 0)
            return ssl_result(t, r, why, whycap) == FLM_EAGAIN ? FLM_EAGAIN : FLM_EIO;
        p += r;
        n -= (size_t)r;
    }
    return FLM_OK;
}

int flm_avro_tls_drain(struct flm_avro_tls *t, struct flm_buf *out)
{
    size_t pend;
    while ((pend = BIO_ctrl_pending(t->wbio)) > 0) {
        int rc = flm_buf_reserve(out, pend);
        if (rc != FLM_OK)
            return rc;
        int k = BIO_read(t->wbio, out->p + out->len, (int)pend);
        if (k <= 0)
            break;
        out->len += (size_t)k;
    }
    return FLM_OK;
}
