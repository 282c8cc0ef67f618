/*
 * avro_sink.c - the avro sink (Flume's org.apache.flume.sink.AvroSink):
 * takes up to batch-size events in one channel transaction, sends them as one
 * appendBatch to the next agent's avro source, and commits the take only when
 * that source answered Status OK (so nothing acknowledged is lost; a failure
 * after the remote commit can only duplicate, as in Flume).
 *
 * Thread: everything runs on the sink runner thread with blocking socket
 * I/O bounded by connect-timeout (connect + first call) and request-timeout
 * (later calls); the stopping flag aborts a wait within 100 ms.  Owns one
 * connection (src/rpc/avro_rpc.c) and the batch array.
 *
 * Failure (connect refused, timeout, FAILED/UNKNOWN status, error reply,
 * protocol error): roll back, EventWriteFail++, connection destroyed
 * (ConnectionClosedCount++), negative return so the runner backs off; the
 * next process() reconnects.  reset-connection-interval closes and reopens
 * the connection periodically.
 *
 * TLS (ssl = true): trust-all-certs, or a truststore (PEM CA file, or PKCS12),
 * else the system trust store; the server certificate chain is verified, the
 * host name is not (as Flume's avro client).  Layered inside deflate.
 */
#include "core/component.h"
#include "rpc/avro_rpc.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum { AK_COMP_NONE, AK_COMP_DEFLATE };
static const char *const ak_comp_choices[] = {"none", "deflate", NULL};

struct ak_conf {
    char *hostname;
    int port;
    int batch_size;
    long long connect_timeout, request_timeout;
    long long reset_interval;
    int compression;
    int level;
    bool ssl, trust_all;
    char *truststore, *truststore_password, *truststore_type;
    char *exclude_protocols, *include_protocols, *exclude_ciphers, *include_ciphers;
    int max_io_workers;
};

static const struct flm_prop ak_props[] = {
    {.name = "hostname", .type = FLM_P_STR, .off = FLM_OFF(struct ak_conf, hostname),
     .flags = FLM_P_REQUIRED, .doc = "Host name or IP address of the next agent's avro source."},
    {.name = "port", .type = FLM_P_INT, .off = FLM_OFF(struct ak_conf, port),
     .flags = FLM_P_REQUIRED, .min = 1, .max = 65535, .doc = "Port of that avro source."},
    {.name = "batch-size", .type = FLM_P_INT, .off = FLM_OFF(struct ak_conf, batch_size),
     .def = "100", .min = 1, .max = 1000000,
     .doc = "Events per appendBatch call and per channel transaction."},
    {.name = "connect-timeout", .type = FLM_P_LONG,
     .off = FLM_OFF(struct ak_conf, connect_timeout), .def = "20000", .min = 1,
     .max = INT_MAX, .doc = "Milliseconds allowed for connecting plus the first (handshake) call."},
    {.name = "request-timeout", .type = FLM_P_LONG,
     .off = FLM_OFF(struct ak_conf, request_timeout), .def = "20000", .min = 1,
     .max = INT_MAX, .doc = "Milliseconds allowed for each later call."},
    {.name = "reset-connection-interval", .type = FLM_P_LONG,
     .off = FLM_OFF(struct ak_conf, reset_interval), .min = 0, .max = INT_MAX,
     .doc = "Seconds after which the connection is closed and reopened (unset or 0: never)."},
    {.name = "compression-type", .type = FLM_P_ENUM,
     .off = FLM_OFF(struct ak_conf, compression), .def = "none", .choices = ak_comp_choices,
     .doc = "none or deflate; must match the receiving avro source."},
    {.name = "compression-level", .type = FLM_P_INT, .off = FLM_OFF(struct ak_conf, level),
     .def = "6", .min = 0, .max = 9, .doc = "Deflate level, 0-9."},
    {.name = "ssl", .type = FLM_P_BOOL, .off = FLM_OFF(struct ak_conf, ssl), .def = "false",
     .doc = "Use TLS."},
    {.name = "trust-all-certs", .type = FLM_P_BOOL, .off = FLM_OFF(struct ak_conf, trust_all),
     .def = "false", .doc = "Skip server certificate checks (TLS)."},
    {.name = "truststore", .type = FLM_P_STR, .off = FLM_OFF(struct ak_conf, truststore),
     .doc = "Trusted CA certificates: a PEM file, or PKCS#12 with truststore-type PKCS12 "
            "(JKS must be converted); unset: the system trust store."},
    {.name = "truststore-password", .type = FLM_P_STR,
     .off = FLM_OFF(struct ak_conf, truststore_password), .flags = FLM_P_SECRET,
     .doc = "Password of the truststore."},
    {.name = "truststore-type", .type = FLM_P_STR,
     .off = FLM_OFF(struct ak_conf, truststore_type),
     .doc = "PKCS12 reads a PKCS#12 file; any other value reads a PEM file."},
    {.name = "exclude-protocols", .type = FLM_P_STR,
     .off = FLM_OFF(struct ak_conf, exclude_protocols),
     .doc = "Space-separated TLS protocols to disable; unset: FLUME_SSL_EXCLUDE_PROTOCOLS (SSLv3 is never enabled)."},
    {.name = "include-protocols", .type = FLM_P_STR,
     .off = FLM_OFF(struct ak_conf, include_protocols), .doc = "Space-separated TLS protocols to allow."},
    {.name = "exclude-cipher-suites", .type = FLM_P_STR,
     .off = FLM_OFF(struct ak_conf, exclude_ciphers), .doc = "Cipher suites to disable."},
    {.name = "include-cipher-suites", .type = FLM_P_STR,
     .off = FLM_OFF(struct ak_conf, include_ciphers), .doc = "Cipher suites to allow."},
    {.name = "maxIoWorkers", .type = FLM_P_INT, .off = FLM_OFF(struct ak_conf, max_io_workers),
     .def = "0", .flags = FLM_P_IGNORED | FLM_P_LENIENT,
     .doc = "Netty I/O threads in Flume; accepted and ignored (I/O runs on the sink thread)."},
    FLM_PROPS_END,
};

struct ak_sink {
    struct flm_sink *sink;
    struct flm_event **evs;
    struct flm_avro_conn conn;
    bool connected;
    bool first_call;          /* next call still covered by connect-timeout */
    uint64_t opened_ms;       /* mono */
    SSL_CTX *ssl_ctx;         /* NULL without ssl */
};

static int ak_init(struct flm_sink *s, struct flm_err *err)
{
    const struct ak_conf *c = s->c.conf;
    struct ak_sink *k = calloc(1, sizeof(*k));
    if (k == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    k->sink = s;
    k->conn.fd = -1;
    k->evs = calloc((size_t)c->batch_size, sizeof(*k->evs));
    s->c.ctx = k;
    if (k->evs == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    if (c->ssl) {
        struct flm_avro_tls_conf tc = {
            .truststore = c->truststore, .truststore_password = c->truststore_password,
            .truststore_type = c->truststore_type, .trust_all = c->trust_all,
            .include_protocols = c->include_protocols, .exclude_protocols = c->exclude_protocols,
            .include_ciphers = c->include_ciphers, .exclude_ciphers = c->exclude_ciphers};
        return flm_avro_tls_ctx(&k->ssl_ctx, false, &tc, err);
    }
    return FLM_OK;
}

static void ak_disconnect(struct ak_sink *k)
{
    if (!k->connected)
        return;
    flm_avro_close(&k->conn);
    k->connected = false;
    flm_ctr_add(&k->sink->c.ctr, FLM_SINK_CONNECTION_CLOSED, 1);
}

static int ak_connect(struct ak_sink *k)
{
    const struct ak_conf *c = k->sink->c.conf;
    struct flm_err err = {0};
    int level = c->compression == AK_COMP_DEFLATE ? c->level : -1;
    int rc = flm_avro_connect_tls(&k->conn, c->hostname, c->port, (int)c->connect_timeout,
                                  level, k->ssl_ctx, &k->sink->stopping, &err);
    if (rc != FLM_OK) {
        flm_ctr_add(&k->sink->c.ctr, FLM_SINK_CONNECTION_FAILED, 1);
        flm_log_limited(FLM_LOG_WARN, &k->sink->c.log, err.sys, "%s", err.msg);
        return rc;
    }
    k->connected = true;
    k->first_call = true;
    k->opened_ms = flm_mono_ms();
    flm_ctr_add(&k->sink->c.ctr, FLM_SINK_CONNECTION_CREATED, 1);
    flm_info(&k->sink->c.log, "connected to %s%s%s", k->conn.peer,
             level >= 0 ? " (deflate)" : "", k->ssl_ctx ? " (TLS)" : "");
    return FLM_OK;
}

static int ak_process(struct flm_sink *s)
{
    struct ak_sink *k = s->c.ctx;
    const struct ak_conf *c = s->c.conf;

    if (k->connected && c->reset_interval > 0 &&
        flm_mono_ms() - k->opened_ms >= (uint64_t)c->reset_interval * 1000) {
        flm_debug(&s->c.log, "reset-connection-interval reached; reconnecting");
        ak_disconnect(k);
    }
    if (!k->connected) {
        int rc = ak_connect(k);
        if (rc != FLM_OK) {
            flm_ctr_add(&s->c.ctr, FLM_SINK_EVENT_WRITE_FAIL, 1);
            return rc;
        }
    }
    struct flm_txn *tx;
    size_t n;
    int rc = flm_sink_take(s, (size_t)c->batch_size, &tx, k->evs, &n);
    if (rc != FLM_OK)
        return FLM_BACKOFF;   /* ChannelException: Flume backs off without an error */
    if (n == 0)
        return FLM_BACKOFF;

    int status = -1;
    struct flm_err err = {0};
    int timeout = (int)(k->first_call ? c->connect_timeout : c->request_timeout);
    rc = flm_avro_call(&k->conn, FLM_AVRO_MSG_APPEND_BATCH, k->evs, n, timeout, &status, &err);
    if (rc == FLM_OK)
        k->first_call = false;
    if (rc != FLM_OK || status != FLM_AVRO_OK) {
        flm_sink_rollback(s, tx);
        flm_ctr_add(&s->c.ctr, FLM_SINK_EVENT_WRITE_FAIL, 1);
        if (rc == FLM_OK)
            flm_log_limited(FLM_LOG_WARN, &s->c.log, 0,
                            "%s answered %s to an appendBatch of %zu event(s); rolled back, "
                            "will retry", k->conn.peer,
                            status == FLM_AVRO_FAILED ? "FAILED" : "UNKNOWN", n);
        else
            flm_log_limited(FLM_LOG_WARN, &s->c.log, 0,
                            "appendBatch of %zu event(s) failed: %s; rolled back, will retry",
                            n, err.msg);
        ak_disconnect(k);
        return rc != FLM_OK ? rc : FLM_EIO;
    }
    rc = flm_sink_commit(s, tx, n);
    if (rc != FLM_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        flm_event_free(k->evs[i]);
    return FLM_READY;
}

static void ak_stop(struct flm_sink *s)
{
    struct ak_sink *k = s->c.ctx;
    if (k != NULL)
        ak_disconnect(k);
}

static void ak_destroy(struct flm_sink *s)
{
    struct ak_sink *k = s->c.ctx;
    if (k == NULL)
        return;
    ak_disconnect(k);
    if (k->ssl_ctx != NULL)
        SSL_CTX_free(k->ssl_ctx);
    free(k->evs);
    free(k);
    s->c.ctx = NULL;
}

static const struct flm_sink_ops ak_ops = {
    .init = ak_init,
    .process = ak_process,
    .stop = ak_stop,
    .destroy = ak_destroy,
};

const struct flm_type flm_sink_avro = {
    .kind = FLM_SINK,
    .alias = "avro",
    .klass = "org.apache.flume.sink.AvroSink",
    .summary = "Sends batches to an avro source (the next agent) with appendBatch; commits on OK.",
    .props = ak_props,
    .conf_size = sizeof(struct ak_conf),
    .validate = NULL,
    .batch_key = "batch-size",
    .no_counters = false,
    .ops = &ak_ops,
};
