/*
 * avro_source.c - the avro source (Flume's org.apache.flume.source.AvroSource):
 * an Avro IPC server over Netty framing (spec/wire.md b-e) that accepts the
 * AvroSourceProtocol calls append and appendBatch from Flume avro sinks, the
 * Flume client SDK, `flume-ng avro-client` and flumen's own avro sink.
 *
 * Threads: start() binds on the agent's thread, then runs a private uv_loop
 * on a thread of its own (one per source instance), exactly as the netcat
 * source.  Everything else runs on that loop thread: accepting, IP filtering,
 * inflating, framing, decoding, the puts into the channel processor (one
 * appendBatch = one put = one transaction per required channel) and the
 * replies.  `threads` is accepted and ignored, as in Flume 1.11.
 *
 * Ownership: struct av_src owns the loop, listener, connection list and the
 * handshake hash cache; each struct av_conn owns its framer, zlib streams and
 * reply buffers and is freed by its close callback.  Decoded events are
 * handed to flm_processor_put, which always consumes them.
 *
 * Replies: a Status is sent only after the put committed (OK) or failed
 * (FAILED: channel full / closed).  Replies keep request order, each echoing
 * its request's serial.  Bad input (garbage, bad frames, absurd lengths, a
 * handshake that cannot be decoded, unknown messages, undecodable params)
 * gets an Avro error reply where the protocol has one, then the connection
 * is closed with a WARN line naming the peer and the reason; the source keeps
 * serving everyone else.  Memory per connection is bounded by the frame cap
 * (max-frame-bytes, far smaller until the handshake) and the reply cap.
 *
 * TLS (ssl = true): OpenSSL over memory BIOs (src/rpc/avro_tls.c), layered as
 * Flume does: socket bytes = zlib(TLS(frames)) when both are on.  A failed
 * TLS handshake closes that connection with a WARN line naming the peer.
 */
#include "core/component.h"
#include "core/net.h"
#include "core/uvnet.h"
#include "rpc/avro_codec.h"
#include "rpc/avro_tls.h"

#include <arpa/inet.h>
#include <fnmatch.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <uv.h>

#include "core/buf.h"

#define AV_OUT_MAX (4u << 20)     /* bytes of replies pending before we drop a peer */
#define AV_PRE_MAX (64u * 1024)   /* bytes allowed before a handshake is decodable */
#define AV_ZBUF (64u * 1024)      /* inflate step */
#define AV_BACKLOG 128
#define AV_LOG_BURST 20          /* connection-close lines per second */

enum { AV_COMP_NONE, AV_COMP_DEFLATE };
static const char *const av_comp_choices[] = {"none", "deflate", NULL};

struct av_conf {
    char *bind;
    int port;
    int threads;
    int compression;
    bool ssl;
    char *keystore, *keystore_password, *keystore_type;
    char *exclude_protocols, *include_protocols, *exclude_ciphers, *include_ciphers;
    bool ip_filter;
    char *ip_filter_rules;
    long long max_frame;
};

static const struct flm_prop av_props[] = {
    {.name = "bind", .type = FLM_P_STR, .off = FLM_OFF(struct av_conf, bind),
     .flags = FLM_P_REQUIRED, .doc = "Host name or IP address to listen on."},
    {.name = "port", .type = FLM_P_INT, .off = FLM_OFF(struct av_conf, port),
     .flags = FLM_P_REQUIRED, .min = 1, .max = 65535, .doc = "TCP port to listen on."},
    {.name = "threads", .type = FLM_P_INT, .off = FLM_OFF(struct av_conf, threads), .def = "0",
     .flags = FLM_P_IGNORED | FLM_P_LENIENT,
     .doc = "Worker threads; ignored as in Flume 1.11 (one event loop serves all clients)."},
    {.name = "compression-type", .type = FLM_P_ENUM,
     .off = FLM_OFF(struct av_conf, compression), .def = "none", .choices = av_comp_choices,
     .doc = "none or deflate (the whole stream is one zlib stream per direction); must match "
            "the sender."},
    {.name = "ssl", .type = FLM_P_BOOL, .off = FLM_OFF(struct av_conf, ssl), .def = "false",
     .doc = "Enable TLS."},
    {.name = "keystore", .type = FLM_P_STR, .off = FLM_OFF(struct av_conf, keystore),
     .doc = "Server key and certificate chain: a PKCS#12 file (keystore-type PKCS12) or a PEM "
            "file with both (keystore-type PEM); JKS must be converted to PKCS12. Falls back "
            "to FLUME_SSL_KEYSTORE_PATH."},
    {.name = "keystore-password", .type = FLM_P_STR,
     .off = FLM_OFF(struct av_conf, keystore_password), .flags = FLM_P_SECRET,
     .doc = "Password of the keystore."},
    {.name = "keystore-type", .type = FLM_P_STR, .off = FLM_OFF(struct av_conf, keystore_type),
     .doc = "PKCS12 or PEM; unset: FLUME_SSL_KEYSTORE_TYPE, else JKS (Flume's default), which "
            "cannot be read: convert it."},
    {.name = "exclude-protocols", .type = FLM_P_STR,
     .off = FLM_OFF(struct av_conf, exclude_protocols),
     .doc = "Space-separated TLS protocols to disable; unset: FLUME_SSL_EXCLUDE_PROTOCOLS (SSLv3 is never enabled)."},
    {.name = "include-protocols", .type = FLM_P_STR,
     .off = FLM_OFF(struct av_conf, include_protocols),
     .doc = "Space-separated TLS protocols to allow (empty: all supported)."},
    {.name = "exclude-cipher-suites", .type = FLM_P_STR,
     .off = FLM_OFF(struct av_conf, exclude_ciphers), .doc = "Space-separated cipher suites to disable."},
    {.name = "include-cipher-suites", .type = FLM_P_STR,
     .off = FLM_OFF(struct av_conf, include_ciphers),
     .doc = "Space-separated cipher suites to allow (empty: all)."},
    {.name = "ipFilter", .type = FLM_P_BOOL, .off = FLM_OFF(struct av_conf, ip_filter),
     .def = "false", .doc = "Apply ipFilterRules to every new connection."},
    {.name = "ipFilterRules", .type = FLM_P_STR, .off = FLM_OFF(struct av_conf, ip_filter_rules),
     .doc = "Comma-separated allow|deny:ip|name:<glob> rules; the first match wins, no match "
            "allows."},
    {.name = "max-frame-bytes", .type = FLM_P_LONG, .off = FLM_OFF(struct av_conf, max_frame),
     .def = "67108864", .min = 1024, .max = 2147483647LL,
     .doc = "flumen: largest request accepted, in bytes; larger ones close the connection "
            "(64 KiB until the handshake)."},
    FLM_PROPS_END,
};

struct av_rule {
    bool allow;
    bool by_name;
    char *glob;
};

struct av_src;

struct av_conn {
    uv_tcp_t tcp;
    struct av_src *as;
    struct av_conn *prev, *next;
    char peer[64];
    struct flm_avro_framer fr;
    bool established;
    bool deflate;
    struct flm_avro_zin zin;
    struct flm_avro_zout zout;
    uint8_t *zbuf;              /* inflated bytes of one step */
    uint8_t *in;                /* read buffer */
    size_t in_cap;
    struct flm_buf out, wout;   /* replies pending / in flight */
    struct flm_buf frame;       /* one reply frame before compression */
    uv_write_t wreq;
    bool writing, closing;
    bool close_after;           /* a fatal reply is queued: close once written */
    bool seen_first, zlib_hint; /* the stream started like a zlib header */
    bool tls;
    struct flm_avro_tls t;
    uint8_t *tbuf;              /* decrypted bytes of one step */
    struct flm_buf net;         /* TLS records waiting for deflate/queueing */
};

struct av_src {
    struct flm_source *src;
    struct av_rule *rules;
    size_t nrules;
    SSL_CTX *ssl_ctx;             /* NULL without ssl */
    struct flm_avro_server srv;
    struct flm_err perr;
    char where[80];
    uv_loop_t loop;
    uv_tcp_t server;
    uv_async_t stop_async;
    pthread_t thread;
    bool running;
    struct av_conn *conns;
    size_t nconns;
    uint64_t log_window;          /* mono ms: start of the current log burst window */
    unsigned log_count, log_suppressed;
};

/* --------------------------------------------------------------- helpers */

static void fmt_addr(const struct sockaddr_storage *ss, char *buf, size_t cap, char *ip,
                     size_t ipcap)
{
    char tmp[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        uv_ip4_name(a, tmp, sizeof(tmp));
        snprintf(buf, cap, "%s:%d", tmp, ntohs(a->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(a, tmp, sizeof(tmp));
        snprintf(buf, cap, "[%s]:%d", tmp, ntohs(a->sin6_port));
    } else {
        snprintf(buf, cap, "?");
    }
    if (ip != NULL)
        snprintf(ip, ipcap, "%s", tmp);
}

static void free_rules(struct av_rule *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(r[i].glob);
    free(r);
}

/* Parses Flume's ipFilterRules: "allow:ip:127.*,deny:name:*.example.com". */
static int parse_rules(const char *text, struct av_rule **out, size_t *nout, char *why,
                       size_t whycap)
{
    struct av_rule *rules = NULL;
    size_t n = 0;
    const char *p = text ? text : "";
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len > 0) {
            char *rule = strndup(p, len);
            char *c1 = rule ? strchr(rule, ':') : NULL;
            char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
            if (rule == NULL || c1 == NULL || c2 == NULL || c2[1] == '\0') {
                snprintf(why, whycap, "rule '%.*s' is not allow|deny:ip|name:<pattern>",
                         (int)len, p);
                free(rule);
                free_rules(rules, n);
                return FLM_ERR;
            }
            *c1 = *c2 = '\0';
            bool allow = strcasecmp(rule, "allow") == 0, deny = strcasecmp(rule, "deny") == 0;
            bool ip = strcasecmp(c1 + 1, "ip") == 0, name = strcasecmp(c1 + 1, "name") == 0;
            if ((!allow && !deny) || (!ip && !name)) {
                snprintf(why, whycap, "rule '%.*s' is not allow|deny:ip|name:<pattern>",
                         (int)len, p);
                free(rule);
                free_rules(rules, n);
                return FLM_ERR;
            }
            struct av_rule *nr = realloc(rules, (n + 1) * sizeof(*nr));
            char *glob = strdup(c2 + 1);
            free(rule);
            if (nr == NULL || glob == NULL) {
                free(glob);
                free_rules(nr ? nr : rules, n);
                snprintf(why, whycap, "out of memory");
                return FLM_ENOMEM;
            }
            rules = nr;
            rules[n].allow = allow;
            rules[n].by_name = name;
            rules[n].glob = glob;
            n++;
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    *out = rules;
    *nout = n;
    return FLM_OK;
}

/* The first rule matching the peer decides; none matching allows. */
static bool peer_allowed(const struct av_src *as, const struct sockaddr_storage *ss,
                         const char *ip, int *which)
{
    char host[NI_MAXHOST] = "";
    bool resolved = false;
    *which = -1;
    for (size_t i = 0; i < as->nrules; i++) {
        const struct av_rule *r = &as->rules[i];
        const char *subject = ip;
        if (r->by_name) {
            if (!resolved) {
                resolved = true;
                socklen_t sl = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                                        : sizeof(struct sockaddr_in6);
                if (getnameinfo((const struct sockaddr *)ss, sl, host, sizeof(host), NULL, 0,
                                NI_NAMEREQD) != 0)
                    host[0] = '\0';
            }
            if (host[0] == '\0')
                continue;
            subject = host;
        }
        if (fnmatch(r->glob, subject, FNM_CASEFOLD) == 0) {
            *which = (int)i;
            return r->allow;
        }
    }
    return true;
}

/* ----------------------------------------------------------- connections */

static void conn_free(uv_handle_t *h)
{
    struct av_conn *c = h->data;
    struct av_src *as = c->as;
    if (c->prev)
        c->prev->next = c->next;
    else
        as->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    as->nconns--;
    flm_ctr_set(&as->src->c.ctr, FLM_SRC_OPEN_CONNECTION, as->nconns);
    flm_avro_framer_free(&c->fr);
    flm_avro_zin_end(&c->zin);
    flm_avro_zout_end(&c->zout);
    free(c->zbuf);
    free(c->in);
    flm_buf_free(&c->out);
    flm_buf_free(&c->wout);
    flm_buf_free(&c->frame);
    flm_buf_free(&c->net);
    flm_avro_tls_free(&c->t);
    free(c->tbuf);
    free(c);
}

static void conn_close(struct av_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, conn_free);
}

/* Logs why a peer is dropped and closes (after queued replies when asked). */
static void conn_fail(struct av_conn *c, bool after_reply, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void conn_flush(struct av_conn *c);

static void conn_fail(struct av_conn *c, bool after_reply, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* Burst-limited (loop thread only): a flood of bad peers cannot flood
     * the log, but each of a few bad connections is named. */
    struct av_src *as = c->as;
    uint64_t now = flm_mono_ms();
    if (now - as->log_window >= 1000) {
        as->log_window = now;
        as->log_count = 0;
    }
    if (as->log_count < AV_LOG_BURST) {
        as->log_count++;
        if (as->log_suppressed > 0)
            flm_warn(&as->src->c.log, "%s: closing connection: %s (%u similar line(s) "
                     "suppressed before)", c->peer, msg, as->log_suppressed);
        else
            flm_warn(&as->src->c.log, "%s: closing connection: %s", c->peer, msg);
        as->log_suppressed = 0;
    } else {
        as->log_suppressed++;
    }
    if (after_reply && (c->out.len > 0 || c->writing)) {
        c->close_after = true;
        conn_flush(c);
    } else {
        conn_close(c);
    }
}

static void on_write(uv_write_t *req, int status)
{
    struct av_conn *c = req->data;
    c->writing = false;
    c->wout.len = 0;
    if (c->closing)
        return;
    if (status < 0) {
        conn_fail(c, false, "write failed (%s: %s)", uv_err_name(status), uv_strerror(status));
        return;
    }
    conn_flush(c);
}

static void conn_flush(struct av_conn *c)
{
    if (c->closing || c->writing)
        return;
    if (c->out.len == 0) {
        if (c->close_after)
            conn_close(c);
        return;
    }
    struct flm_buf t = c->wout;
    c->wout = c->out;
    c->out = t;
    uv_buf_t b = uv_buf_init((char *)c->wout.p, (unsigned)c->wout.len);
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        c->wout.len = 0;
        conn_fail(c, false, "write failed (%s: %s)", uv_err_name(rc), uv_strerror(rc));
        return;
    }
    c->writing = true;
}

/* Queues network bytes (compressed when deflate). */
static int conn_send_net(struct av_conn *c, const uint8_t *p, size_t n)
{
    int rc;
    if (n == 0)
        return FLM_OK;
    if (c->deflate)
        rc = flm_avro_zout_write(&c->zout, p, n, &c->out);
    else
        rc = flm_buf_append(&c->out, p, n);
    if (rc != FLM_OK) {
        conn_fail(c, false, "peer is not reading replies (%zu bytes pending)",
                  c->out.len + c->wout.len);
        return rc;
    }
    return FLM_OK;
}

/* Moves what TLS produced (handshake records, encrypted replies) out. */
static int conn_tls_flush(struct av_conn *c)
{
    c->net.len = 0;
    int rc = flm_avro_tls_drain(&c->t, &c->net);
    if (rc != FLM_OK) {
        conn_fail(c, false, "peer is not reading TLS records");
        return rc;
    }
    return conn_send_net(c, c->net.p, c->net.len);
}

/* Queues c->frame (encrypted when TLS, compressed when deflate). */
static int conn_queue_frame(struct av_conn *c)
{
    int rc;
    if (c->tls) {
        char why[300];
        rc = flm_avro_tls_write(&c->t, c->frame.p, c->frame.len, why, sizeof(why));
        c->frame.len = 0;
        if (rc != FLM_OK) {
            conn_fail(c, false, "TLS write failed: %s", why);
            return rc;
        }
        return conn_tls_flush(c);
    }
    rc = conn_send_net(c, c->frame.p, c->frame.len);
    c->frame.len = 0;
    return rc;
}

/* Runs one decoded call; returns the Status to answer. */
static int run_call(struct av_conn *c, struct flm_avro_request *req)
{
    struct av_src *as = c->as;
    struct flm_counters *ctr = &as->src->c.ctr;
    size_t n = req->nevs;
    bool batch = req->msg == FLM_AVRO_MSG_APPEND_BATCH;
    flm_ctr_add(ctr, batch ? FLM_SRC_APPEND_BATCH_RECEIVED : FLM_SRC_APPEND_RECEIVED, 1);
    flm_ctr_add(ctr, FLM_SRC_EVENT_RECEIVED, n);
    int rc = FLM_OK;
    if (n > 0) {
        as->perr.msg[0] = '\0';
        rc = flm_processor_put(as->src->proc, req->evs, n, &as->perr);
        req->nevs = 0;   /* consumed either way */
    }
    if (rc != FLM_OK) {
        flm_ctr_add(ctr, FLM_SRC_CHANNEL_WRITE_FAIL, 1);
        flm_log_limited(FLM_LOG_WARN, &as->src->c.log, 0,
                        "%s: %s of %zu event(s) answered FAILED: %s", c->peer,
                        batch ? "appendBatch" : "append", n,
                        as->perr.msg[0] ? as->perr.msg : flm_strerror(rc));
        return FLM_AVRO_FAILED;
    }
    flm_ctr_add(ctr, batch ? FLM_SRC_APPEND_BATCH_ACCEPTED : FLM_SRC_APPEND_ACCEPTED, 1);
    flm_ctr_add(ctr, FLM_SRC_EVENT_ACCEPTED, n);
    return FLM_AVRO_OK;
}

/* Handles one complete frame; false when the connection is being closed. */
static bool handle_frame(struct av_conn *c)
{
    struct av_src *as = c->as;
    struct flm_avro_request req;
    uint32_t serial = c->fr.serial;
    bool was = c->established;
    int rc = flm_avro_server_decode(&as->srv, c->fr.msg.p, c->fr.msg.len, &c->established, &req);
    flm_avro_framer_next(&c->fr);
    flm_avro_framer_gate(&c->fr, !c->established, AV_PRE_MAX);
    if (!was && c->established)
        flm_debug(&as->src->c.log, "%s: handshake done (%s)", c->peer,
                  req.match == FLM_AVRO_BOTH ? "BOTH" : "CLIENT");

    bool fatal = false;
    const char *err = NULL;
    int status = FLM_AVRO_OK;
    if (rc != FLM_OK) {
        if (!req.has_hs && !was) {
            flm_avro_request_clear(&req);
            conn_fail(c, false, "undecodable handshake request");
            return false;
        }
        err = req.why;
        fatal = true;
    } else if (req.hs_error) {
        err = req.why;
        fatal = true;
    } else if (req.has_hs && req.match == FLM_AVRO_NONE) {
        flm_debug(&as->src->c.log, "%s: unknown client protocol hash; answered NONE", c->peer);
    } else if (req.msg < 0) {
        err = req.why;
        fatal = true;
    } else if (req.msg != FLM_AVRO_MSG_PING) {
        status = run_call(c, &req);
    }
    int wr = flm_avro_server_reply(&c->frame, serial, &req, status, err);
    char why[sizeof(req.why) + 128];
    if (rc != FLM_OK)
        snprintf(why, sizeof(why), "undecodable parameters of '%s' (%s)", req.name, req.why);
    else if (req.hs_error)
        snprintf(why, sizeof(why), "bad client protocol in the handshake (%s)", req.why);
    else
        snprintf(why, sizeof(why), "%s", req.why);
    flm_avro_request_clear(&req);
    if (wr != FLM_OK || conn_queue_frame(c) != FLM_OK) {
        if (!c->closing)
            conn_fail(c, false, "cannot build a reply");
        return false;
    }
    if (fatal) {
        conn_fail(c, true, "%s", why);
        return false;
    }
    return true;
}

/* Feeds plain (inflated) bytes to the framer and handles complete frames. */
static bool feed_plain(struct av_conn *c, const uint8_t *p, size_t n)
{
    while (n > 0 && !c->closing && !c->close_after) {
        size_t used = 0;
        char why[160];
        int rc = flm_avro_framer_feed(&c->fr, p, n, &used, why, sizeof(why));
        p += used;
        n -= used;
        if (rc == FLM_EAGAIN)
            return true;
        if (rc != FLM_OK) {
            conn_fail(c, false, "%s%s", why,
                      c->zlib_hint ? " (the peer looks like compression-type = deflate; this "
                                     "source has none)" : "");
            return false;
        }
        if (!handle_frame(c))
            return false;
    }
    return !c->closing;
}

/* Bytes after the zlib layer: through TLS when on, then to the framer. */
static bool feed_net(struct av_conn *c, const uint8_t *p, size_t n)
{
    if (!c->tls)
        return feed_plain(c, p, n);
    char why[300];
    if (flm_avro_tls_feed(&c->t, p, n) != FLM_OK) {
        conn_fail(c, false, "out of memory for TLS input");
        return false;
    }
    int rc = flm_avro_tls_handshake(&c->t, why, sizeof(why));
    if (conn_tls_flush(c) != FLM_OK)
        return false;
    if (rc == FLM_EAGAIN)
        return true;
    if (rc != FLM_OK) {
        conn_fail(c, true, "%s", why);
        return false;
    }
    for (;;) {
        size_t got = 0;
        rc = flm_avro_tls_read(&c->t, c->tbuf, AV_ZBUF, &got, why, sizeof(why));
        if (rc == FLM_OK) {
            if (!feed_plain(c, c->tbuf, got))
                return false;
            continue;
        }
        if (conn_tls_flush(c) != FLM_OK)
            return false;
        if (rc == FLM_EAGAIN)
            return true;
        if (rc == FLM_ECLOSED) {
            flm_debug(&c->as->src->c.log, "%s: TLS session closed by peer", c->peer);
            c->close_after = true;
            return false;
        }
        conn_fail(c, false, "TLS error: %s", why);
        return false;
    }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct av_conn *c = h->data;
    (void)hint;
    if (c->in == NULL) {
        c->in_cap = 64 * 1024;
        c->in = malloc(c->in_cap);
        if (c->in == NULL)
            c->in_cap = 0;
    }
    *buf = uv_buf_init((char *)c->in, (unsigned)c->in_cap);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct av_conn *c = st->data;
    struct av_src *as = c->as;
    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        if (nread == UV_EOF) {
            if (!flm_avro_framer_idle(&c->fr))
                flm_warn(&as->src->c.log, "%s: connection closed in the middle of a frame",
                         c->peer);
            else
                flm_debug(&as->src->c.log, "%s: connection closed by peer", c->peer);
            if (c->out.len > 0 || c->writing) {
                c->close_after = true;
                conn_flush(c);
            } else {
                conn_close(c);
            }
        } else {
            conn_fail(c, false, "read failed (%s: %s)", uv_err_name((int)nread),
                      uv_strerror((int)nread));
        }
        return;
    }
    if (c->close_after)
        return;   /* discarding after a fatal reply */
    const uint8_t *p = (const uint8_t *)buf->base;
    size_t n = (size_t)nread;
    if (!c->seen_first && n >= 2) {
        c->seen_first = true;
        /* RFC 1950 header: CMF 0x78 and (CMF*256 + FLG) % 31 == 0. */
        c->zlib_hint = p[0] == 0x78 && ((0x78u << 8) | p[1]) % 31 == 0;
    }
    if (!c->deflate) {
        feed_net(c, p, n);
    } else {
        while (n > 0 && !c->closing && !c->close_after) {
            size_t got = 0;
            char why[160];
            size_t before = n;
            if (flm_avro_zin_step(&c->zin, &p, &n, c->zbuf, AV_ZBUF, &got, why, sizeof(why)) !=
                FLM_OK) {
                conn_fail(c, false, "%s (is the sender's compression-type deflate?)", why);
                return;
            }
            if (got > 0 && !feed_net(c, c->zbuf, got))
                return;
            if (got == 0 && n == before)
                break;
        }
    }
    conn_flush(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct av_src *as = server->data;
    struct flm_logctx *log = &as->src->c.log;
    const struct av_conf *conf = as->src->c.conf;
    if (status < 0) {
        flm_log_limited(FLM_LOG_WARN, log, 0, "%s: accept failed (%s: %s)", as->where,
                        uv_err_name(status), uv_strerror(status));
        return;
    }
    struct av_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        flm_log_limited(FLM_LOG_ERROR, log, 0, "%s: out of memory accepting a connection",
                        as->where);
        return;
    }
    c->as = as;
    uv_tcp_init(&as->loop, &c->tcp);
    c->tcp.data = c;
    c->next = as->conns;
    if (as->conns)
        as->conns->prev = c;
    as->conns = c;
    as->nconns++;
    flm_ctr_set(&as->src->c.ctr, FLM_SRC_OPEN_CONNECTION, as->nconns);
    snprintf(c->peer, sizeof(c->peer), "?");
    flm_avro_framer_init(&c->fr, (size_t)conf->max_frame);
    flm_avro_framer_gate(&c->fr, true, AV_PRE_MAX);
    flm_buf_init(&c->out, AV_OUT_MAX);
    flm_buf_init(&c->wout, AV_OUT_MAX);
    flm_buf_init(&c->frame, AV_OUT_MAX);
    int rc = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (rc < 0) {
        flm_log_limited(FLM_LOG_WARN, log, 0, "%s: accept failed (%s: %s)", as->where,
                        uv_err_name(rc), uv_strerror(rc));
        conn_close(c);
        return;
    }
    struct sockaddr_storage ss;
    char ip[INET6_ADDRSTRLEN] = "";
    int sl = (int)sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0)
        fmt_addr(&ss, c->peer, sizeof(c->peer), ip, sizeof(ip));
    if (conf->ip_filter) {
        int which;
        if (!peer_allowed(as, &ss, ip, &which)) {
            flm_log_limited(FLM_LOG_WARN, log, 0,
                            "%s: connection refused by ipFilterRules (rule %d: deny:%s:%s)",
                            c->peer, which + 1, as->rules[which].by_name ? "name" : "ip",
                            as->rules[which].glob);
            conn_close(c);
            return;
        }
    }
    if (conf->compression == AV_COMP_DEFLATE) {
        c->deflate = true;
        c->zbuf = malloc(AV_ZBUF);
        if (c->zbuf == NULL || flm_avro_zin_init(&c->zin) != FLM_OK ||
            flm_avro_zout_init(&c->zout, 6) != FLM_OK) {
            conn_fail(c, false, "out of memory for the deflate streams");
            return;
        }
    }
    if (as->ssl_ctx != NULL) {
        c->tls = true;
        flm_buf_init(&c->net, AV_OUT_MAX);
        c->tbuf = malloc(AV_ZBUF);
        if (c->tbuf == NULL || flm_avro_tls_new(&c->t, as->ssl_ctx, true) != FLM_OK) {
            conn_fail(c, false, "out of memory for TLS");
            return;
        }
    }
    uv_tcp_nodelay(&c->tcp, 1);
    rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0) {
        conn_fail(c, false, "cannot read (%s: %s)", uv_err_name(rc), uv_strerror(rc));
        return;
    }
    flm_debug(log, "%s: connection accepted on %s", c->peer, as->where);
}

/* ------------------------------------------------------------ loop thread */

static void on_stop(uv_async_t *a)
{
    struct av_src *as = a->data;
    if (as->nconns > 0)
        flm_info(&as->src->c.log, "closing %zu connection(s)", as->nconns);
    for (struct av_conn *c = as->conns; c != NULL; c = c->next)
        conn_close(c);
    if (!uv_is_closing((uv_handle_t *)&as->server))
        uv_close((uv_handle_t *)&as->server, flm_uv_close_noop);
    uv_close((uv_handle_t *)&as->stop_async, flm_uv_close_noop);
}

static void *av_thread(void *arg)
{
    struct av_src *as = arg;
    uv_run(&as->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void loop_teardown(struct av_src *as)
{
    uv_close((uv_handle_t *)&as->server, flm_uv_close_noop);
    uv_close((uv_handle_t *)&as->stop_async, flm_uv_close_noop);
    uv_run(&as->loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&as->loop);
}

/* ------------------------------------------------------------- lifecycle */

static int av_validate(void *conf, const char *comp, struct flm_diag *d)
{
    const struct av_conf *c = conf;
    if (c->ip_filter) {
        struct av_rule *r = NULL;
        size_t n = 0;
        char why[200];
        if (c->ip_filter_rules == NULL || c->ip_filter_rules[0] == '\0') {
            flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "ipFilterRules",
                         "ipFilter = true needs ipFilterRules (allow|deny:ip|name:<pattern>, "
                         "comma-separated)");
            return FLM_ERR;
        }
        if (parse_rules(c->ip_filter_rules, &r, &n, why, sizeof(why)) != FLM_OK) {
            flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "ipFilterRules", "%s", why);
            return FLM_ERR;
        }
        free_rules(r, n);
    }
    return FLM_OK;
}

static int av_init(struct flm_source *src, struct flm_err *err)
{
    const struct av_conf *conf = src->c.conf;
    struct av_src *as = calloc(1, sizeof(*as));
    if (as == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    as->src = src;
    src->c.ctx = as;
    if (conf->ssl) {
        struct flm_avro_tls_conf tc = {
            .keystore = conf->keystore, .keystore_password = conf->keystore_password,
            .keystore_type = conf->keystore_type, .include_protocols = conf->include_protocols,
            .exclude_protocols = conf->exclude_protocols, .include_ciphers = conf->include_ciphers,
            .exclude_ciphers = conf->exclude_ciphers};
        int rc = flm_avro_tls_ctx(&as->ssl_ctx, true, &tc, err);
        if (rc != FLM_OK)
            return rc;
    }
    if (conf->ip_filter) {
        char why[200];
        if (parse_rules(conf->ip_filter_rules, &as->rules, &as->nrules, why, sizeof(why)) !=
            FLM_OK)
            return flm_err_set(err, FLM_ERR, "ipFilterRules: %s", why);
        if (as->nrules == 0)
            return flm_err_set(err, FLM_ERR, "ipFilter = true needs ipFilterRules");
    }
    return FLM_OK;
}

static int av_start(struct flm_source *src, struct flm_err *err)
{
    struct av_src *as = src->c.ctx;
    const struct av_conf *conf = src->c.conf;
    if (as->running)
        return FLM_OK;
    int rc = uv_loop_init(&as->loop);
    if (rc < 0)
        return flm_err_set(err, FLM_ERR, "cannot create event loop (%s: %s)", uv_err_name(rc),
                           uv_strerror(rc));
    uv_async_init(&as->loop, &as->stop_async, on_stop);
    as->stop_async.data = as;
    uv_tcp_init(&as->loop, &as->server);
    as->server.data = as;
    rc = flm_uv_listen(&as->server, conf->bind, conf->port, AV_BACKLOG, on_connection, as->where,
                       sizeof(as->where), err);
    if (rc != FLM_OK) {
        loop_teardown(as);
        return rc;
    }
    char tname[16];
    snprintf(tname, sizeof(tname), "avro-%.10s", src->c.name);
    rc = flm_thread_start(&as->thread, av_thread, as, tname);
    if (rc != 0) {
        loop_teardown(as);
        flm_err_set(err, FLM_ERR, "cannot start the source thread");
        if (err != NULL)
            err->sys = rc;
        return FLM_ERR;
    }
    as->running = true;
    flm_info(&src->c.log, "listening on %s (compression-type %s%s%s)", as->where,
             conf->compression == AV_COMP_DEFLATE ? "deflate" : "none",
             conf->ip_filter ? ", ipFilter on" : "", conf->ssl ? ", TLS" : "");
    return FLM_OK;
}

static void av_stop(struct flm_source *src)
{
    struct av_src *as = src->c.ctx;
    if (as == NULL || !as->running)
        return;
    flm_uv_thread_stop(&as->stop_async, as->thread, &as->loop, &src->c.log, as->where);
    as->running = false;
}

static void av_destroy(struct flm_source *src)
{
    struct av_src *as = src->c.ctx;
    if (as == NULL)
        return;
    av_stop(src);
    free_rules(as->rules, as->nrules);
    if (as->ssl_ctx != NULL)
        SSL_CTX_free(as->ssl_ctx);
    free(as);
    src->c.ctx = NULL;
}

static const struct flm_source_ops av_ops = {
    .init = av_init,
    .start = av_start,
    .process = NULL,
    .stop = av_stop,
    .destroy = av_destroy,
};

const struct flm_type flm_source_avro = {
    .kind = FLM_SOURCE,
    .alias = "avro",
    .klass = "org.apache.flume.source.AvroSource",
    .summary = "Avro RPC server: receives append/appendBatch from Flume avro sinks and clients.",
    .props = av_props,
    .conf_size = sizeof(struct av_conf),
    .validate = av_validate,
    .batch_key = NULL,
    .no_counters = false,
    .ops = &av_ops,
};
