/*
 * client.c - libflumen-client's public API (include/flumen/client.h): the
 * RpcClient property table and its validation, the client object, event
 * conversion and chunking into batch-size calls, and the host policies of
 * Flume's default, failover and load-balancing clients.  The bytes on the
 * wire are transport.c's business.
 *
 * Owns: struct flumen_client (its parsed configuration, one connection slot
 * per host, per-host backoff state, scratch arrays of converted events).
 * Threads: runs entirely on the caller's thread; a client is used by one
 * thread at a time (the header says so); no globals are written.
 */
#include "client_int.h"

#include "core/config/properties.h"
#include "core/counters.h"
#include "core/diag.h"
#include "core/err.h"
#include "core/props.h"
#include "rpc/avro_tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CL_BACKOFF_CAP_MS 30000LL   /* Flume OrderSelector's maximum when maxBackoff is 0 */
#define CL_BACKOFF_MAX_SHIFT 16     /* 2^16 s: beyond any sane cap */

/* ------------------------------------------------------------ properties */

struct cl_props {
    int type;
    struct flm_strv hosts;
    char *hostname;
    int port;
    int batch_size;
    int connect_timeout;
    int request_timeout;
    int max_attempts;
    int selector;
    bool backoff;
    long long max_backoff;
    int compression;
    int level;
    char *protocol;
    bool ssl;
    bool trust_all;
    char *truststore, *truststore_password, *truststore_type;
    char *exclude_protocols, *include_protocols, *exclude_ciphers, *include_ciphers;
    bool kerberos;
    int max_connections;
    int max_io_workers;
};

static const char *const cl_types[] = {"default", "default_failover", "default_loadbalance",
                                       "thrift", NULL};
static const char *const cl_selectors[] = {"round_robin", "random", NULL};
static const char *const cl_compressions[] = {"none", "deflate", NULL};

static const struct flm_prop cl_props_tbl[] = {
    {.name = "client.type", .type = FLM_P_ENUM, .off = FLM_OFF(struct cl_props, type),
     .def = "default", .choices = cl_types,
     .doc = "default (Avro), default_failover, default_loadbalance or thrift."},
    {.name = "hosts", .type = FLM_P_LIST, .off = FLM_OFF(struct cl_props, hosts),
     .doc = "Space-separated host aliases; each needs hosts.<alias> = host:port."},
    {.name = "hostname", .type = FLM_P_STR, .off = FLM_OFF(struct cl_props, hostname),
     .doc = "Shortcut for one host when hosts is not set (with port)."},
    {.name = "port", .type = FLM_P_INT, .off = FLM_OFF(struct cl_props, port), .min = 1,
     .max = 65535, .doc = "Port for the hostname shortcut."},
    {.name = "batch-size", .type = FLM_P_INT, .off = FLM_OFF(struct cl_props, batch_size),
     .def = "100", .min = 1, .max = 1000000, .doc = "Events per appendBatch call."},
    {.name = "connect-timeout", .type = FLM_P_INT,
     .off = FLM_OFF(struct cl_props, connect_timeout), .def = "20000", .min = 1,
     .max = 0x7fffffff, .doc = "Milliseconds allowed to connect."},
    {.name = "request-timeout", .type = FLM_P_INT,
     .off = FLM_OFF(struct cl_props, request_timeout), .def = "20000", .min = 1,
     .max = 0x7fffffff, .doc = "Milliseconds allowed for one call."},
    {.name = "max-attempts", .type = FLM_P_INT, .off = FLM_OFF(struct cl_props, max_attempts),
     .min = 1, .max = 1000000,
     .doc = "Failover: tries per batch across the hosts (default: the number of hosts)."},
    {.name = "host-selector", .type = FLM_P_ENUM, .off = FLM_OFF(struct cl_props, selector),
     .def = "round_robin", .choices = cl_selectors,
     .doc = "Load balancing: round_robin or random."},
    {.name = "backoff", .type = FLM_P_BOOL, .off = FLM_OFF(struct cl_props, backoff),
     .def = "false", .doc = "Load balancing: leave failed hosts out for a growing time."},
    {.name = "maxBackoff", .type = FLM_P_LONG, .off = FLM_OFF(struct cl_props, max_backoff),
     .def = "0", .min = 0, .max = 0x7fffffffffffffffLL,
     .doc = "Load balancing: cap of a host's backoff in ms (0: 30000)."},
    {.name = "compression-type", .type = FLM_P_ENUM,
     .off = FLM_OFF(struct cl_props, compression), .def = "none", .choices = cl_compressions,
     .doc = "Avro: none or deflate (must match the source)."},
    {.name = "compression-level", .type = FLM_P_INT, .off = FLM_OFF(struct cl_props, level),
     .def = "6", .min = 0, .max = 9, .doc = "Avro deflate level 0-9."},
    {.name = "protocol", .type = FLM_P_STR, .off = FLM_OFF(struct cl_props, protocol),
     .def = "compact", .doc = "Thrift: compact or binary (only lower-case binary selects it)."},
    {.name = "ssl", .type = FLM_P_BOOL, .off = FLM_OFF(struct cl_props, ssl), .def = "false",
     .doc = "TLS: Avro (under deflate) or Thrift (around the framed transport)."},
    {.name = "trust-all-certs", .type = FLM_P_BOOL, .off = FLM_OFF(struct cl_props, trust_all),
     .def = "false", .doc = "TLS: do not check the server's certificate."},
    {.name = "truststore", .type = FLM_P_STR, .off = FLM_OFF(struct cl_props, truststore),
     .doc = "TLS: CA certificates, a PEM file (or PKCS#12 with truststore-type PKCS12); "
            "unset: FLUME_SSL_TRUSTSTORE_PATH, else the system's."},
    {.name = "truststore-password", .type = FLM_P_STR,
     .off = FLM_OFF(struct cl_props, truststore_password), .flags = FLM_P_SECRET,
     .doc = "TLS: password of a PKCS#12 truststore (unset: FLUME_SSL_TRUSTSTORE_PASSWORD)."},
    /* no defaults below: an unset key falls back to its FLUME_SSL_* variable
     * (Flume's JKS default reads as PEM anyway; SSLv3 is never enabled) */
    {.name = "truststore-type", .type = FLM_P_STR,
     .off = FLM_OFF(struct cl_props, truststore_type),
     .doc = "TLS: PKCS12, or anything else (Flume's default JKS included) for a PEM file; "
            "unset: FLUME_SSL_TRUSTSTORE_TYPE."},
    {.name = "exclude-protocols", .type = FLM_P_STR,
     .off = FLM_OFF(struct cl_props, exclude_protocols),
     .doc = "TLS: space-separated protocols to disable (SSLv3 always is; unset: "
            "FLUME_SSL_EXCLUDE_PROTOCOLS, a comma list)."},
    {.name = "include-protocols", .type = FLM_P_STR,
     .off = FLM_OFF(struct cl_props, include_protocols),
     .doc = "TLS: space-separated protocols to allow (empty: all supported; unset: "
            "FLUME_SSL_INCLUDE_PROTOCOLS)."},
    {.name = "exclude-cipher-suites", .type = FLM_P_STR,
     .off = FLM_OFF(struct cl_props, exclude_ciphers),
     .doc = "TLS: space-separated cipher suites to disable (unset: "
            "FLUME_SSL_EXCLUDE_CIPHERSUITES)."},
    {.name = "include-cipher-suites", .type = FLM_P_STR,
     .off = FLM_OFF(struct cl_props, include_ciphers),
     .doc = "TLS: space-separated cipher suites to allow (unset: "
            "FLUME_SSL_INCLUDE_CIPHERSUITES)."},
    {.name = "kerberos", .type = FLM_P_BOOL, .off = FLM_OFF(struct cl_props, kerberos),
     .def = "false", .doc = "Thrift SASL/Kerberos; not supported (true is refused)."},
    {.name = "maxConnections", .type = FLM_P_INT,
     .off = FLM_OFF(struct cl_props, max_connections), .def = "5", .min = 1,
     .max = 0x7fffffff, .flags = FLM_P_IGNORED,
     .doc = "Thrift pool size in Flume; one connection per host here."},
    {.name = "maxIoWorkers", .type = FLM_P_INT, .off = FLM_OFF(struct cl_props, max_io_workers),
     .min = 1, .max = 0x7fffffff, .flags = FLM_P_IGNORED,
     .doc = "Netty I/O threads in Flume; the client runs on the caller's thread."},
    FLM_PROPS_END,
};

/* Splits "host:port" or "[v6]:port".  FLM_OK or FLM_ERR. */
static int parse_hostport(const char *s, char **host, int *port)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s || colon[1] == '\0')
        return FLM_ERR;
    const char *h = s;
    size_t hl = (size_t)(colon - s);
    if (h[0] == '[') {
        if (hl < 3 || h[hl - 1] != ']')
            return FLM_ERR;
        h++;
        hl -= 2;
    }
    long long p;
    if (flm_parse_long(colon + 1, &p) != 0 || p < 1 || p > 65535)
        return FLM_ERR;
    *host = strndup(h, hl);
    if (*host == NULL)
        return FLM_ENOMEM;
    *port = (int)p;
    return FLM_OK;
}

static int add_host(struct flm_client_conf *conf, const char *alias, const char *hostport,
                    char *why, size_t whycap)
{
    struct flm_client_host *h = &conf->hosts[conf->nhosts];
    memset(h, 0, sizeof(*h));
    int rc = parse_hostport(hostport, &h->host, &h->port);
    if (rc == FLM_ENOMEM) {
        snprintf(why, whycap, "out of memory");
        return rc;
    }
    if (rc != FLM_OK) {
        snprintf(why, whycap, "hosts.%s: '%s' is not host:port (port 1-65535)", alias,
                 hostport);
        return FLM_ERR;
    }
    h->alias = strdup(alias);
    if (h->alias == NULL) {
        free(h->host);
        snprintf(why, whycap, "out of memory");
        return FLM_ENOMEM;
    }
    conf->nhosts++;
    return FLM_OK;
}

void flm_client_conf_free(struct flm_client_conf *conf)
{
    for (size_t i = 0; i < conf->nhosts; i++) {
        free(conf->hosts[i].alias);
        free(conf->hosts[i].host);
    }
    free(conf->hosts);
    if (conf->ssl_ctx != NULL)
        SSL_CTX_free(conf->ssl_ctx);
    memset(conf, 0, sizeof(*conf));
}

static int conf_from_props(const struct cl_props *p, struct flm_kvs *kv,
                           struct flm_client_conf *conf, char *why, size_t whycap)
{
    if (p->kerberos) {
        snprintf(why, whycap, "kerberos = true: Kerberos is not supported by libflumen-client");
        return FLM_ERR;
    }
    conf->type = p->type;
    conf->batch_size = p->batch_size;
    conf->connect_timeout = p->connect_timeout;
    conf->request_timeout = p->request_timeout;
    conf->selector = p->selector;
    conf->backoff = p->backoff;
    conf->max_backoff = p->max_backoff > 0 ? p->max_backoff : CL_BACKOFF_CAP_MS;
    conf->level = p->compression == 1 ? p->level : -1;
    conf->thrift_binary = p->protocol != NULL && strcmp(p->protocol, "binary") == 0;
    if (conf->type == FLM_CLIENT_THRIFT && conf->level >= 0) {
        snprintf(why, whycap, "compression-type = deflate is only supported by the Avro "
                 "clients, not client.type = thrift");
        return FLM_ERR;
    }
    if (p->ssl) {
        /* one client context for both transports: Avro (TLS under deflate,
         * avro_rpc.c) and Thrift (TLS around the framed transport,
         * transport.c).  Unset keys fall back to FLUME_SSL_* (avro_tls.c). */
        struct flm_avro_tls_conf tc = {
            .truststore = p->truststore, .truststore_password = p->truststore_password,
            .truststore_type = p->truststore_type, .trust_all = p->trust_all,
            .include_protocols = p->include_protocols, .exclude_protocols = p->exclude_protocols,
            .include_ciphers = p->include_ciphers, .exclude_ciphers = p->exclude_ciphers};
        struct flm_err err = {0};
        int rc = flm_avro_tls_ctx(&conf->ssl_ctx, false, &tc, &err);
        if (rc != FLM_OK) {
            conf->ssl_ctx = NULL;
            snprintf(why, whycap, "ssl: %s", err.msg);
            return rc == FLM_ENOMEM ? FLM_ENOMEM : FLM_ERR;
        }
    }

    size_t want = p->hosts.n > 0 ? p->hosts.n : 1;
    conf->hosts = calloc(want, sizeof(*conf->hosts));
    if (conf->hosts == NULL) {
        snprintf(why, whycap, "out of memory");
        return FLM_ENOMEM;
    }
    if (p->hosts.n > 0) {
        for (size_t i = 0; i < p->hosts.n; i++) {
            const char *alias = p->hosts.v[i];
            for (size_t j = 0; j < i; j++)
                if (strcmp(p->hosts.v[j], alias) == 0) {
                    snprintf(why, whycap, "hosts: alias '%s' is listed twice", alias);
                    return FLM_ERR;
                }
            char key[300];
            snprintf(key, sizeof(key), "hosts.%s", alias);
            const char *v = flm_kvs_get(kv, key);
            if (v == NULL || v[0] == '\0') {
                snprintf(why, whycap, "hosts: alias '%s' has no %s = host:port", alias, key);
                return FLM_ERR;
            }
            int rc = add_host(conf, alias, v, why, whycap);
            if (rc != FLM_OK)
                return rc;
        }
    } else if (p->hostname != NULL && p->hostname[0] != '\0') {
        if (p->port == 0) {
            snprintf(why, whycap, "hostname '%s' is set but port is missing", p->hostname);
            return FLM_ERR;
        }
        char hp[600];
        bool v6 = strchr(p->hostname, ':') != NULL;
        snprintf(hp, sizeof(hp), v6 ? "[%s]:%d" : "%s:%d", p->hostname, p->port);
        int rc = add_host(conf, "h1", hp, why, whycap);
        if (rc != FLM_OK)
            return rc;
    } else {
        snprintf(why, whycap, "hosts: no host given (set hosts = h1 and hosts.h1 = host:port, "
                 "or hostname and port)");
        return FLM_ERR;
    }
    /* Flume's failover client defaults max-attempts to the number of hosts */
    conf->max_attempts = p->max_attempts > 0 ? p->max_attempts : (int)conf->nhosts;
    return FLM_OK;
}

int flm_client_conf_parse(struct flm_kvs *kv, struct flm_client_conf *conf, char *why,
                          size_t whycap)
{
    struct cl_props p;
    struct flm_diag d;
    memset(&p, 0, sizeof(p));
    memset(conf, 0, sizeof(*conf));
    flm_diag_init(&d);
    int rc = flm_props_load(cl_props_tbl, kv, &p, "rpc client", &d);
    if (rc != FLM_OK) {
        /* the first error names the key */
        const struct flm_diag_item *it = NULL;
        for (size_t i = 0; i < d.n && it == NULL; i++)
            if (d.v[i].sev == FLM_SEV_ERROR)
                it = &d.v[i];
        if (it != NULL)
            snprintf(why, whycap, "%s%s%s", it->key, it->key[0] ? ": " : "", it->msg);
        else
            snprintf(why, whycap, "invalid RPC client properties");
        rc = FLM_ERR;
    } else {
        rc = conf_from_props(&p, kv, conf, why, whycap);
        if (rc != FLM_OK)
            flm_client_conf_free(conf);
    }
    flm_props_free(cl_props_tbl, &p);
    flm_diag_free(&d);
    return rc;
}

/* ------------------------------------------------------------ the client */

struct cl_host {
    void *conn;            /* NULL when not connected */
    uint64_t restore_ms;   /* backoff: not used before this time */
    unsigned fails;        /* consecutive failures */
};

struct flumen_client {
    struct flm_client_conf conf;
    struct flm_client_ops ops;
    struct cl_host *hs;
    size_t cur;            /* failover: the host in use */
    size_t rr;             /* load balancing: next start */
    uint64_t rnd;          /* xorshift64 state for host-selector random */
    size_t *order;         /* nhosts scratch */
    struct flm_event **evs;    /* batch-size scratch */
    struct flm_hdr *hdrs;      /* header scratch */
    size_t hdrcap;
    size_t delivered;
    char errtext[512];
};

static uint64_t real_now(void *arg)
{
    (void)arg;
    return flm_mono_ms();
}

int flm_client_new_kvs(struct flumen_client **out, struct flm_kvs *kv,
                       const struct flm_client_ops *ops, char *errbuf, size_t errcap)
{
    char why[512];
    *out = NULL;
    struct flumen_client *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        if (errbuf != NULL && errcap > 0)
            snprintf(errbuf, errcap, "out of memory");
        return FLUMEN_ENOMEM;
    }
    int rc = flm_client_conf_parse(kv, &c->conf, why, sizeof(why));
    if (rc != FLM_OK) {
        if (errbuf != NULL && errcap > 0)
            snprintf(errbuf, errcap, "%s", why);
        free(c);
        return rc == FLM_ENOMEM ? FLUMEN_ENOMEM : FLUMEN_EINVAL;
    }
    if (ops == NULL)
        ops = c->conf.type == FLM_CLIENT_THRIFT ? &flm_client_thrift_ops : &flm_client_avro_ops;
    c->ops = *ops;
    if (c->ops.now_ms == NULL)
        c->ops.now_ms = real_now;
    c->hs = calloc(c->conf.nhosts, sizeof(*c->hs));
    c->order = calloc(c->conf.nhosts, sizeof(*c->order));
    c->evs = calloc((size_t)c->conf.batch_size, sizeof(*c->evs));
    if (c->hs == NULL || c->order == NULL || c->evs == NULL) {
        flumen_client_free(c);
        if (errbuf != NULL && errcap > 0)
            snprintf(errbuf, errcap, "out of memory");
        return FLUMEN_ENOMEM;
    }
    c->rnd = (flm_mono_ms() << 17) ^ (uint64_t)(uintptr_t)c ^ 0x9e3779b97f4a7c15ULL;
    if (c->rnd == 0)
        c->rnd = 1;
    *out = c;
    return FLUMEN_OK;
}

int flumen_client_new(struct flumen_client **out, const char *const *props, char *errbuf,
                      size_t errcap)
{
    if (out == NULL) {
        if (errbuf != NULL && errcap > 0)
            snprintf(errbuf, errcap, "out is NULL");
        return FLUMEN_EINVAL;
    }
    *out = NULL;
    struct flm_kvs kv;
    flm_kvs_init(&kv);
    size_t i = 0;
    for (; props != NULL && props[i] != NULL; i += 2) {
        if (props[i + 1] == NULL) {
            flm_kvs_free(&kv);
            if (errbuf != NULL && errcap > 0)
                snprintf(errbuf, errcap, "property '%s' has no value (props must be key, "
                         "value pairs ending with NULL)", props[i]);
            return FLUMEN_EINVAL;
        }
        if (flm_kvs_set(&kv, props[i], props[i + 1], NULL, 0) != FLM_OK) {
            flm_kvs_free(&kv);
            if (errbuf != NULL && errcap > 0)
                snprintf(errbuf, errcap, "out of memory");
            return FLUMEN_ENOMEM;
        }
    }
    int rc = flm_client_new_kvs(out, &kv, NULL, errbuf, errcap);
    flm_kvs_free(&kv);
    return rc;
}

int flumen_client_new_from_file(struct flumen_client **out, const char *path, char *errbuf,
                                size_t errcap)
{
    if (out == NULL || path == NULL) {
        if (errbuf != NULL && errcap > 0)
            snprintf(errbuf, errcap, "out or path is NULL");
        return FLUMEN_EINVAL;
    }
    *out = NULL;
    struct flm_kvs kv;
    struct flm_err err = {0};
    flm_kvs_init(&kv);
    int rc = flm_properties_load_file(path, &kv, &err);
    if (rc != FLM_OK) {
        flm_kvs_free(&kv);
        if (errbuf != NULL && errcap > 0)
            snprintf(errbuf, errcap, "%s", err.msg);
        return rc == FLM_EIO ? FLUMEN_EIO : rc == FLM_ENOMEM ? FLUMEN_ENOMEM : FLUMEN_EINVAL;
    }
    char why[512];
    rc = flm_client_new_kvs(out, &kv, NULL, why, sizeof(why));
    if (rc != FLUMEN_OK && errbuf != NULL && errcap > 0)
        snprintf(errbuf, errcap, "%s: %s", path, why);
    flm_kvs_free(&kv);
    return rc;
}

void flumen_client_free(struct flumen_client *c)
{
    if (c == NULL)
        return;
    if (c->hs != NULL)
        for (size_t i = 0; i < c->conf.nhosts; i++)
            if (c->hs[i].conn != NULL)
                c->ops.close(c->ops.arg, c->hs[i].conn);
    free(c->hs);
    free(c->order);
    free(c->evs);
    free(c->hdrs);
    flm_client_conf_free(&c->conf);
    free(c);
}

const struct flm_client_conf *flm_client_get_conf(const struct flumen_client *c)
{
    return &c->conf;
}

/* ------------------------------------------------------- host policies */

static uint64_t cl_random(struct flumen_client *c)
{
    uint64_t x = c->rnd;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c->rnd = x;
    return x;
}

static void host_failed(struct flumen_client *c, size_t i)
{
    struct cl_host *h = &c->hs[i];
    if (h->fails < 1000)
        h->fails++;
    if (c->conf.type == FLM_CLIENT_LOADBALANCE && c->conf.backoff) {
        unsigned shift = h->fails - 1 < CL_BACKOFF_MAX_SHIFT ? h->fails - 1 : CL_BACKOFF_MAX_SHIFT;
        long long ms = 1000LL << shift;
        if (ms > c->conf.max_backoff)
            ms = c->conf.max_backoff;
        h->restore_ms = c->ops.now_ms(c->ops.arg) + (uint64_t)ms;
    }
}

/* One call on host i: connects if needed.  FLUMEN_* code; why set on error. */
static int try_host(struct flumen_client *c, size_t i, int msg, size_t n, char *why,
                    size_t whycap)
{
    struct cl_host *h = &c->hs[i];
    const struct flm_client_host *ch = &c->conf.hosts[i];
    int rc;
    if (h->conn == NULL) {
        rc = c->ops.open(c->ops.arg, &c->conf, ch, &h->conn, why, whycap);
        if (rc != FLUMEN_OK) {
            h->conn = NULL;
            host_failed(c, i);
            return rc;
        }
    }
    rc = c->ops.call(c->ops.arg, &c->conf, h->conn, msg, c->evs, n, why, whycap);
    if (rc == FLUMEN_OK) {
        h->fails = 0;
        h->restore_ms = 0;
        return rc;
    }
    if (rc != FLUMEN_EREFUSED) {
        c->ops.close(c->ops.arg, h->conn);
        h->conn = NULL;
    }
    host_failed(c, i);
    return rc;
}

/* Sends c->evs[0..n) under the client type's policy. */
static int send_chunk(struct flumen_client *c, int msg, size_t n)
{
    char why[400];
    size_t nh = c->conf.nhosts;
    int rc;
    switch (c->conf.type) {
    case FLM_CLIENT_FAILOVER: {
        rc = FLUMEN_ECONNECT;
        char all[512];
        size_t used = 0;
        all[0] = '\0';
        for (int a = 0; a < c->conf.max_attempts; a++) {
            size_t i = c->cur;
            rc = try_host(c, i, msg, n, why, sizeof(why));
            if (rc == FLUMEN_OK)
                return rc;
            if (used < sizeof(all)) {
                int w = snprintf(all + used, sizeof(all) - used, "%s%s", used ? "; " : "", why);
                used += w > 0 ? (size_t)w : 0;
            }
            c->cur = (i + 1) % nh;   /* skip it: the next one is used from now on */
        }
        snprintf(c->errtext, sizeof(c->errtext), "failover: %d attempt(s) failed: %.440s",
                 c->conf.max_attempts, all);
        return rc;
    }
    case FLM_CLIENT_LOADBALANCE: {
        for (size_t k = 0; k < nh; k++)
            c->order[k] = k;
        if (c->conf.selector == FLM_CLIENT_RANDOM) {
            for (size_t k = nh; k > 1; k--) {
                size_t j = (size_t)(cl_random(c) % k);
                size_t t = c->order[k - 1];
                c->order[k - 1] = c->order[j];
                c->order[j] = t;
            }
        } else {
            size_t start = c->rr % nh;
            c->rr = (start + 1) % nh;
            for (size_t k = 0; k < nh; k++)
                c->order[k] = (start + k) % nh;
        }
        uint64_t now = c->ops.now_ms(c->ops.arg);
        int tried = 0;
        rc = FLUMEN_EUNAVAILABLE;
        char all[512];
        size_t used = 0;
        all[0] = '\0';
        for (size_t k = 0; k < nh; k++) {
            size_t i = c->order[k];
            if (c->conf.backoff && c->hs[i].restore_ms > now)
                continue;
            tried++;
            rc = try_host(c, i, msg, n, why, sizeof(why));
            if (rc == FLUMEN_OK)
                return rc;
            if (used < sizeof(all)) {
                int w = snprintf(all + used, sizeof(all) - used, "%s%s", used ? "; " : "", why);
                used += w > 0 ? (size_t)w : 0;
            }
        }
        if (tried == 0)
            snprintf(c->errtext, sizeof(c->errtext), "load balancing: all %zu host(s) are "
                     "backing off after failures; retry later", nh);
        else
            snprintf(c->errtext, sizeof(c->errtext), "load balancing: no host accepted the "
                     "call: %.440s", all);
        return rc;
    }
    default:
        rc = try_host(c, 0, msg, n, why, sizeof(why));
        if (rc != FLUMEN_OK)
            snprintf(c->errtext, sizeof(c->errtext), "%s", why);
        return rc;
    }
}

/* ------------------------------------------------------------- appends */

static void free_evs(struct flumen_client *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        flm_event_free(c->evs[i]);
        c->evs[i] = NULL;
    }
}

/* Converts ev into a core event at c->evs[i]. */
static int convert(struct flumen_client *c, const struct flumen_event *ev, size_t i)
{
    if ((ev->body == NULL && ev->body_len > 0) || ev->body_len > UINT32_MAX ||
        (ev->headers == NULL && ev->nheaders > 0) || ev->nheaders > UINT32_MAX) {
        snprintf(c->errtext, sizeof(c->errtext), "event %zu: NULL body/headers or over 4 GiB",
                 i);
        return FLUMEN_EINVAL;
    }
    if (ev->nheaders > c->hdrcap) {
        struct flm_hdr *nh = realloc(c->hdrs, ev->nheaders * sizeof(*nh));
        if (nh == NULL) {
            snprintf(c->errtext, sizeof(c->errtext), "out of memory");
            return FLUMEN_ENOMEM;
        }
        c->hdrs = nh;
        c->hdrcap = ev->nheaders;
    }
    for (size_t k = 0; k < ev->nheaders; k++) {
        const struct flumen_header *h = &ev->headers[k];
        if (h->key == NULL || h->value == NULL) {
            snprintf(c->errtext, sizeof(c->errtext), "event %zu: header %zu has a NULL key or "
                     "value", i, k);
            return FLUMEN_EINVAL;
        }
        size_t kl = strlen(h->key), vl = strlen(h->value);
        if (kl > UINT32_MAX || vl > UINT32_MAX) {
            snprintf(c->errtext, sizeof(c->errtext), "event %zu: header too long", i);
            return FLUMEN_EINVAL;
        }
        c->hdrs[k] = (struct flm_hdr){h->key, h->value, (uint32_t)kl, (uint32_t)vl};
    }
    c->evs[i] = flm_event_new(ev->body_len > 0 ? ev->body : "", ev->body_len, c->hdrs,
                              ev->nheaders);
    if (c->evs[i] == NULL) {
        snprintf(c->errtext, sizeof(c->errtext), "out of memory");
        return FLUMEN_ENOMEM;
    }
    return FLUMEN_OK;
}

static int append_n(struct flumen_client *c, int msg, const struct flumen_event *evs, size_t n)
{
    c->delivered = 0;
    c->errtext[0] = '\0';
    size_t bs = (size_t)c->conf.batch_size;
    for (size_t off = 0; off < n; off += bs) {
        size_t m = n - off < bs ? n - off : bs;
        for (size_t i = 0; i < m; i++) {
            int rc = convert(c, &evs[off + i], i);
            if (rc != FLUMEN_OK) {
                free_evs(c, i);
                return rc;
            }
        }
        int rc = send_chunk(c, msg, m);
        free_evs(c, m);
        if (rc != FLUMEN_OK)
            return rc;
        c->delivered += m;
    }
    return FLUMEN_OK;
}

int flumen_append(struct flumen_client *c, const struct flumen_event *ev)
{
    if (c == NULL)
        return FLUMEN_EINVAL;
    if (ev == NULL) {
        snprintf(c->errtext, sizeof(c->errtext), "event is NULL");
        return FLUMEN_EINVAL;
    }
    return append_n(c, FLM_CLIENT_APPEND, ev, 1);
}

int flumen_append_batch(struct flumen_client *c, const struct flumen_event *evs, size_t n)
{
    if (c == NULL)
        return FLUMEN_EINVAL;
    if (evs == NULL && n > 0) {
        snprintf(c->errtext, sizeof(c->errtext), "events is NULL");
        return FLUMEN_EINVAL;
    }
    return append_n(c, FLM_CLIENT_APPEND_BATCH, evs, n);
}

size_t flumen_client_delivered(const struct flumen_client *c)
{
    return c != NULL ? c->delivered : 0;
}

int flumen_client_batch_size(const struct flumen_client *c)
{
    return c != NULL ? c->conf.batch_size : 0;
}

const char *flumen_client_error(const struct flumen_client *c)
{
    return c != NULL ? c->errtext : "client is NULL";
}

const char *flumen_strerror(int rc)
{
    switch (rc) {
    case FLUMEN_OK: return "success";
    case FLUMEN_EINVAL: return "invalid argument or property";
    case FLUMEN_ENOMEM: return "out of memory";
    case FLUMEN_ECONNECT: return "cannot connect";
    case FLUMEN_EIO: return "I/O error or timeout";
    case FLUMEN_EPROTO: return "protocol error";
    case FLUMEN_EREFUSED: return "the source refused the events (FAILED)";
    case FLUMEN_EUNAVAILABLE: return "no host available";
    default: return "unknown error";
    }
}

const char *flumen_version(void)
{
    return FLM_VERSION;
}
