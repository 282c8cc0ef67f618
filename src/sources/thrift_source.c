/*
 * thrift_source.c - the thrift source (Flume's org.apache.flume.source.ThriftSource):
 * serves Flume's ThriftSourceProtocol (append, appendBatch -> Status) over
 * the framed transport, compact protocol by default, binary with
 * `protocol = binary` (spec/wire.md (f), components.md 1.2).
 *
 * Threads: start() resolves and binds on the agent's thread, then hands the
 * listener to a thread of its own running a private uv_loop; accepting,
 * reading, decoding (src/rpc/thrift_proto.c), the puts into the channel
 * processor and the replies all run on that loop thread.  stop() wakes the
 * loop with a uv_async, which closes every handle, and joins the thread.
 *
 * Ownership: struct ts_src owns the loop, the listener and the connection
 * list; each struct ts_conn owns its input buffer and reply buffers and is
 * freed by its close callback.  Decoded events go to flm_processor_put,
 * which always consumes them.
 *
 * Semantics (as Flume): one call = one channel transaction (appendBatch is
 * one transaction for all its events); Status OK is sent only after the
 * commit; a failed put (channel full, transaction too large) answers FAILED
 * so the client retries.  Counters: Append*, AppendBatch*, Event*,
 * ChannelWriteFail (metrics.md).
 *
 * Bad input: a frame length of 0, negative or over max-frame-size is
 * rejected before anything is allocated for it; garbage, truncated or
 * malformed calls close that connection with a WARN line naming the peer and
 * the reason.  An unknown method name is answered with a Thrift
 * TApplicationException (UNKNOWN_METHOD, as Thrift servers do) and the
 * connection is then closed.  The input buffer grows with the bytes that
 * really arrive (a client announcing 64 MiB and sending 10 bytes costs 64
 * KiB) and shrinks back after a big frame.
 *
 * Better than Flume: the protocol of each connection is taken from its first
 * byte (0x82 compact, 0x80/0x00 binary), so compact and binary clients are
 * both served whatever `protocol` says; Flume answers a client of the other
 * protocol with nothing.  `protocol` is still validated as Flume does.
 *
 * Back-pressure: puts run on the loop thread and may block up to the
 * channel's keep-alive; the loop then reads from no connection, and TCP flow
 * control pushes back on the clients.
 *
 * TLS (ssl = true): as Flume's TSSLTransportFactory, plain TLS around the
 * framed transport: the bytes inside TLS are exactly the framed protocol.
 * OpenSSL runs over memory BIOs (src/rpc/avro_tls.c, shared with the avro
 * source: PKCS12/PEM keystores, Java protocol and cipher names, FLUME_SSL_*
 * fallbacks); the context is built at init on the agent's thread, each
 * connection's SSL object lives on the loop thread.  Decrypted bytes land in
 * the same input buffer as plain ones, so framing, limits and replies are
 * shared; replies are encrypted into a capped ciphertext buffer.  A failed
 * handshake (a plain client, an untrusted or unsupported peer) closes that
 * connection with a WARN line naming the peer and the reason.  With
 * ssl = false nothing of this runs.
 */
#include "core/buf.h"
#include "core/component.h"
#include "core/net.h"
#include "core/uvnet.h"
#include "rpc/avro_tls.h"
#include "rpc/tls_util.h"
#include "rpc/thrift_proto.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <uv.h>

#define TS_OUT_MAX (1u << 20)      /* bytes of replies pending before a peer is dropped */
#define TS_IN_MIN (64u * 1024)     /* bytes: input buffer kept per connection */
#define TS_IN_MINFREE (16u * 1024) /* bytes: grow when less room than this is left */
#define TS_BACKLOG 128
#define TS_NET (64u * 1024)        /* TLS: bytes of ciphertext read at a time */
#define TS_TOUT_MAX (TS_OUT_MAX + TS_OUT_MAX / 8 + 64u * 1024) /* TLS: ciphertext pending */

struct ts_conf {
    char *bind;
    int port;
    int threads;
    char *protocol;
    bool ssl;
    char *keystore;
    char *keystore_password;
    char *keystore_type;
    char *exclude_protocols;
    char *include_protocols;
    char *exclude_cipher_suites;
    char *include_cipher_suites;
    bool kerberos;
    char *agent_principal;
    char *agent_keytab;
    long long max_frame;
};

static const struct flm_prop ts_props[] = {
    {.name = "bind", .type = FLM_P_STR, .off = FLM_OFF(struct ts_conf, bind),
     .flags = FLM_P_REQUIRED, .doc = "Host name or IP address to listen on."},
    {.name = "port", .type = FLM_P_INT, .off = FLM_OFF(struct ts_conf, port),
     .flags = FLM_P_REQUIRED, .min = 1, .max = 65535, .doc = "TCP port to listen on."},
    {.name = "threads", .type = FLM_P_INT, .off = FLM_OFF(struct ts_conf, threads), .def = "0",
     .flags = FLM_P_IGNORED,
     .doc = "Worker threads in Flume (0 = unbounded); flumen serves every connection from one "
            "event-loop thread."},
    {.name = "protocol", .type = FLM_P_STR, .off = FLM_OFF(struct ts_conf, protocol),
     .def = "compact",
     .doc = "compact or binary (checked case-insensitively; only lower-case 'binary' selects "
            "binary, as Flume).  Clients of either protocol are served: each connection's "
            "protocol is detected from its first byte."},
    {.name = "ssl", .type = FLM_P_BOOL, .off = FLM_OFF(struct ts_conf, ssl), .def = "false",
     .doc = "Enable TLS (plain TLS around the framed transport, as Flume)."},
    {.name = "keystore", .type = FLM_P_STR, .off = FLM_OFF(struct ts_conf, keystore),
     .doc = "Server key and certificate chain: a PKCS#12 file (keystore-type PKCS12) or a PEM "
            "file with both (keystore-type PEM); JKS must be converted to PKCS12. Falls back "
            "to FLUME_SSL_KEYSTORE_PATH."},
    {.name = "keystore-password", .type = FLM_P_STR,
     .off = FLM_OFF(struct ts_conf, keystore_password), .flags = FLM_P_SECRET,
     .doc = "Password of the keystore (falls back to FLUME_SSL_KEYSTORE_PASSWORD)."},
    {.name = "keystore-type", .type = FLM_P_STR, .off = FLM_OFF(struct ts_conf, keystore_type),
     .doc = "PKCS12 or PEM.  Unset: FLUME_SSL_KEYSTORE_TYPE, else JKS (Flume's default), which "
            "OpenSSL cannot read: convert it to PKCS12."},
    {.name = "exclude-protocols", .type = FLM_P_STR,
     .off = FLM_OFF(struct ts_conf, exclude_protocols),
     .doc = "Space-separated TLS protocols to disable (SSLv3 always is; unset: "
            "FLUME_SSL_EXCLUDE_PROTOCOLS, a comma list)."},
    {.name = "include-protocols", .type = FLM_P_STR,
     .off = FLM_OFF(struct ts_conf, include_protocols),
     .doc = "Space-separated TLS protocols to allow (Java names, e.g. TLSv1.2 TLSv1.3; empty: "
            "all supported; falls back to FLUME_SSL_INCLUDE_PROTOCOLS)."},
    {.name = "exclude-cipher-suites", .type = FLM_P_STR,
     .off = FLM_OFF(struct ts_conf, exclude_cipher_suites),
     .doc = "Space-separated cipher suites to disable (standard names; falls back to "
            "FLUME_SSL_EXCLUDE_CIPHERSUITES)."},
    {.name = "include-cipher-suites", .type = FLM_P_STR,
     .off = FLM_OFF(struct ts_conf, include_cipher_suites),
     .doc = "Space-separated cipher suites to allow (standard names such as "
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256; empty: all; falls back to "
            "FLUME_SSL_INCLUDE_CIPHERSUITES)."},
    {.name = "kerberos", .type = FLM_P_BOOL, .off = FLM_OFF(struct ts_conf, kerberos),
     .def = "false",
     .doc = "SASL/GSSAPI authentication; not supported by flumen (true is a configuration "
            "error)."},
    {.name = "agent-principal", .type = FLM_P_STR,
     .off = FLM_OFF(struct ts_conf, agent_principal),
     .doc = "Kerberos principal (not supported)."},
    {.name = "agent-keytab", .type = FLM_P_STR, .off = FLM_OFF(struct ts_conf, agent_keytab),
     .doc = "Kerberos keytab (not supported)."},
    {.name = "max-frame-size", .type = FLM_P_LONG, .off = FLM_OFF(struct ts_conf, max_frame),
     .def = "67108864", .min = 64, .max = 0x7fffffff,
     .doc = "flumen extension: largest frame (one call) accepted, in bytes; a client announcing "
            "more is disconnected before anything is allocated."},
    FLM_PROPS_END,
};

struct ts_src;

struct ts_conn {
    uv_tcp_t tcp;                 /* tcp.data = this */
    struct ts_src *ts;
    struct ts_conn *prev, *next;
    char peer[64];
    uint8_t *in;
    size_t in_len, in_cap;
    int proto;                    /* enum flm_thrift_protocol; -1 until the first frame */
    struct flm_buf out;           /* replies not yet handed to libuv */
    struct flm_buf wout;          /* replies of the write in flight */
    uv_write_t wreq;
    bool writing;
    bool close_after_write;       /* a final reply is queued: close once written */
    bool closing;
    /* TLS only (ts->ssl_ctx != NULL) */
    bool tls;
    bool tls_up;                  /* handshake finished */
    bool tls_first;               /* first network bytes seen */
    uint8_t tls_byte0;            /* first byte the peer sent (0x16 = TLS handshake) */
    struct flm_avro_tls t;
    uint8_t *net;                 /* libuv reads ciphertext here */
    struct flm_buf tout;          /* ciphertext not yet handed to libuv */
};

struct ts_src {
    struct flm_source *src;
    int proto;                    /* configured protocol */
    size_t max_frame;
    struct flm_err perr;
    char where[80];
    uv_loop_t loop;
    uv_tcp_t server;
    uv_async_t stop_async;
    pthread_t thread;
    bool running;
    struct ts_conn *conns;
    size_t nconns;
    SSL_CTX *ssl_ctx;             /* NULL without ssl; read-only after init */
};

/* Flume's rule: valid = compact|binary in any case; binary only when the
 * value is exactly "binary".  -1 when invalid. */
static int conf_protocol(const char *v)
{
    if (v == NULL)
        return FLM_THRIFT_COMPACT;
    if (strcmp(v, "binary") == 0)
        return FLM_THRIFT_BINARY;
    if (strcasecmp(v, "binary") == 0 || strcasecmp(v, "compact") == 0)
        return FLM_THRIFT_COMPACT;
    return -1;
}

static const char *proto_name(int p)
{
    return p == FLM_THRIFT_BINARY ? "binary" : "compact";
}

/* ----------------------------------------------------------- connections */

static void conn_free(uv_handle_t *h)
{
    struct ts_conn *c = h->data;
    struct ts_src *ts = c->ts;
    if (c->prev)
        c->prev->next = c->next;
    else
        ts->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ts->nconns--;
    free(c->in);
    flm_buf_free(&c->out);
    flm_buf_free(&c->wout);
    if (c->tls) {
        flm_avro_tls_free(&c->t);
        free(c->net);
        flm_buf_free(&c->tout);
    }
    free(c);
}

static void conn_close(struct ts_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, conn_free);
}

static void conn_flush(struct ts_conn *c);

static void on_write(uv_write_t *req, int status)
{
    struct ts_conn *c = req->data;
    c->writing = false;
    c->wout.len = 0;
    if (c->closing)
        return;
    if (status < 0) {
        flm_warn(&c->ts->src->c.log, "%s: closing connection: write failed (%s: %s)", c->peer,
                 uv_err_name(status), uv_strerror(status));
        conn_close(c);
        return;
    }
    conn_flush(c);
}

/* TLS: encrypts the queued plaintext replies (once the handshake is done)
 * and moves every pending TLS record (handshake, alerts, replies) into
 * c->tout.  false when the connection was closed. */
static bool tls_seal(struct ts_conn *c)
{
    char why[300];
    if (c->tls_up && c->out.len > 0) {
        int rc = flm_avro_tls_write(&c->t, c->out.p, c->out.len, why, sizeof(why));
        c->out.len = 0;
        if (rc != FLM_OK) {
            flm_warn(&c->ts->src->c.log, "%s: closing connection: TLS write failed: %s",
                     c->peer, why);
            conn_close(c);
            return false;
        }
    }
    if (flm_avro_tls_drain(&c->t, &c->tout) != FLM_OK) {
        flm_warn(&c->ts->src->c.log,
                 "%s: closing connection: peer is not reading replies (%zu TLS bytes pending)",
                 c->peer, c->tout.len + c->wout.len);
        conn_close(c);
        return false;
    }
    return true;
}

/* Hands queued replies to libuv, one write at a time; closes the connection
 * once a final reply is written.  With TLS the queue is the ciphertext. */
static void conn_flush(struct ts_conn *c)
{
    if (c->closing)
        return;
    if (c->tls && !tls_seal(c))
        return;
    if (c->writing)
        return;
    struct flm_buf *q = c->tls ? &c->tout : &c->out;
    if (q->len == 0) {
        if (c->close_after_write)
            conn_close(c);
        return;
    }
    struct flm_buf t = c->wout;
    c->wout = *q;
    *q = t;
    uv_buf_t b = uv_buf_init((char *)c->wout.p, (unsigned)c->wout.len);
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        flm_warn(&c->ts->src->c.log, "%s: closing connection: write failed (%s: %s)", c->peer,
                 uv_err_name(rc), uv_strerror(rc));
        c->wout.len = 0;
        conn_close(c);
        return;
    }
    c->writing = true;
}

static void reply_status(struct ts_conn *c, const struct flm_thrift_call *call, int status)
{
    if (call->msgtype == FLM_THRIFT_ONEWAY)
        return;
    int rc = flm_thrift_encode_reply(c->proto, call->name, call->name_len, call->seqid, status,
                                     &c->out);
    if (rc == FLM_OK)
        return;
    flm_warn(&c->ts->src->c.log,
             "%s: closing connection: peer is not reading replies (%zu bytes pending)", c->peer,
             c->out.len + c->wout.len);
    conn_close(c);
}

/* One complete frame payload: decode, put, reply.  Returns false when the
 * connection is being closed. */
static bool handle_frame(struct ts_conn *c, const uint8_t *p, size_t n)
{
    struct ts_src *ts = c->ts;
    struct flm_source *src = ts->src;
    struct flm_logctx *log = &src->c.log;

    if (c->proto < 0) {
        if (p[0] == 0x82)
            c->proto = FLM_THRIFT_COMPACT;
        else if (p[0] == 0x80 || p[0] == 0x00)
            c->proto = FLM_THRIFT_BINARY;
        else
            c->proto = ts->proto;
        if (c->proto != ts->proto)
            flm_debug(log, "%s: client speaks the %s protocol (configured: %s); answering in %s",
                      c->peer, proto_name(c->proto), proto_name(ts->proto),
                      proto_name(c->proto));
    }
    struct flm_thrift_call call;
    char why[256];
    int rc = flm_thrift_decode_call(c->proto, p, n, &call, why, sizeof(why));
    if (rc != FLM_OK) {
        if (rc == FLM_ENOMEM) {
            flm_log_limited(FLM_LOG_ERROR, log, 0,
                            "%s: closing connection: out of memory decoding a %zu-byte call",
                            c->peer, n);
            conn_close(c);
            return false;
        }
        /* one line per connection at most: not rate-limited, so that every
         * peer that misbehaves is named */
        flm_warn(log, "%s: closing connection: %s (%s protocol)", c->peer, why,
                 proto_name(c->proto));
        if (call.header_ok && call.method == FLM_THRIFT_M_UNKNOWN &&
            call.msgtype == FLM_THRIFT_CALL) {
            char msg[128];
            snprintf(msg, sizeof(msg), "Invalid method name: '%s'", call.name);
            if (flm_thrift_encode_exception(c->proto, call.name, call.name_len, call.seqid,
                                            FLM_THRIFT_AX_UNKNOWN_METHOD, msg, &c->out) ==
                FLM_OK) {
                c->close_after_write = true;
                return false;
            }
        }
        conn_close(c);
        return false;
    }

    size_t nev = call.nevs;
    bool batch = call.method == FLM_THRIFT_M_APPEND_BATCH;
    struct flm_counters *ctr = &src->c.ctr;
    flm_ctr_add(ctr, batch ? FLM_SRC_APPEND_BATCH_RECEIVED : FLM_SRC_APPEND_RECEIVED, 1);
    flm_ctr_add(ctr, FLM_SRC_EVENT_RECEIVED, nev);
    rc = FLM_OK;
    if (nev > 0) {
        ts->perr.msg[0] = '\0';
        rc = flm_processor_put(src->proc, call.evs, nev, &ts->perr);
        call.nevs = 0; /* consumed in every case */
    }
    flm_thrift_call_clear(&call);
    if (rc == FLM_OK) {
        flm_ctr_add(ctr, batch ? FLM_SRC_APPEND_BATCH_ACCEPTED : FLM_SRC_APPEND_ACCEPTED, 1);
        flm_ctr_add(ctr, FLM_SRC_EVENT_ACCEPTED, nev);
        reply_status(c, &call, FLM_THRIFT_OK);
    } else {
        flm_ctr_add(ctr, FLM_SRC_CHANNEL_WRITE_FAIL, 1);
        flm_log_limited(FLM_LOG_WARN, log, 0,
                        "%s: %s of %zu event(s) answered FAILED (the client will retry): %s",
                        c->peer, call.name, nev,
                        ts->perr.msg[0] ? ts->perr.msg : flm_strerror(rc));
        reply_status(c, &call, FLM_THRIFT_FAILED);
    }
    return !c->closing;
}

/* Handles every complete frame in c->in; keeps the incomplete one. */
static void conn_process(struct ts_conn *c)
{
    struct ts_src *ts = c->ts;
    size_t off = 0;
    while (!c->closing && !c->close_after_write) {
        size_t flen;
        char why[160];
        int rc = flm_thrift_frame_len(c->in + off, c->in_len - off, ts->max_frame, &flen, why,
                                      sizeof(why));
        if (rc == FLM_EAGAIN)
            break;
        if (rc != FLM_OK) {
            flm_warn(&ts->src->c.log, "%s: closing connection: %s", c->peer, why);
            conn_close(c);
            return;
        }
        if (c->in_len - off - 4 < flen)
            break;
        if (!handle_frame(c, c->in + off + 4, flen))
            break;
        off += 4 + flen;
    }
    if (c->closing)
        return;
    if (c->close_after_write) {
        c->in_len = 0;
        return;
    }
    if (off > 0) {
        c->in_len -= off;
        if (c->in_len > 0)
            memmove(c->in, c->in + off, c->in_len);
    }
    /* memory stays bounded: give back what a big frame needed */
    if (c->in_cap > 4 * TS_IN_MIN && c->in_len <= TS_IN_MIN / 2) {
        uint8_t *p = realloc(c->in, TS_IN_MIN);
        if (p != NULL) {
            c->in = p;
            c->in_cap = TS_IN_MIN;
        }
    }
}

/* Grows c->in (up to one maximal frame plus slack) when little room is left;
 * returns the free room. */
static size_t in_reserve(struct ts_conn *c)
{
    size_t limit = c->ts->max_frame + 4 + TS_IN_MIN;
    if (c->in_cap - c->in_len < TS_IN_MINFREE && c->in_cap < limit) {
        size_t ncap = c->in_cap ? c->in_cap * 2 : TS_IN_MIN;
        if (ncap > limit)
            ncap = limit;
        uint8_t *p = realloc(c->in, ncap);
        if (p != NULL) {
            c->in = p;
            c->in_cap = ncap;
        }
    }
    return c->in_cap - c->in_len;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct ts_conn *c = h->data;
    (void)hint;
    if (c->close_after_write)
        c->in_len = 0; /* discarding */
    if (c->tls) {
        *buf = uv_buf_init((char *)c->net, TS_NET);
        return;
    }
    size_t room = in_reserve(c);
    if (room > UINT_MAX)
        room = UINT_MAX;
    *buf = uv_buf_init((char *)c->in + c->in_len, (unsigned)room);
}

/* TLS: n ciphertext bytes arrived in c->net.  Drives the handshake, then
 * decrypts into c->in and processes every complete frame.  A failed
 * handshake queues OpenSSL's alert and closes once it is written. */
static void tls_input(struct ts_conn *c, size_t n)
{
    struct flm_logctx *log = &c->ts->src->c.log;
    char why[320];
    if (!c->tls_first) {
        c->tls_first = true;
        c->tls_byte0 = c->net[0];
    }
    if (flm_avro_tls_feed(&c->t, c->net, n) != FLM_OK) {
        flm_log_limited(FLM_LOG_ERROR, log, 0, "%s: closing connection: out of memory for TLS",
                        c->peer);
        conn_close(c);
        return;
    }
    if (!c->tls_up) {
        int rc = flm_avro_tls_handshake(&c->t, why, sizeof(why));
        if (rc == FLM_EAGAIN)
            return;
        if (rc != FLM_OK) {
            if (c->tls_byte0 != 0x16)
                flm_warn(log, "%s: closing connection: TLS handshake failed: the client does "
                         "not speak TLS (first byte 0x%02x; a plain Thrift client?)", c->peer,
                         c->tls_byte0);
            else
                flm_warn(log, "%s: closing connection: %s", c->peer, why);
            c->close_after_write = true; /* after OpenSSL's alert, if any */
            c->in_len = 0;
            return;
        }
        c->tls_up = true;
        flm_debug(log, "%s: TLS established (%s, %s)", c->peer, SSL_get_version(c->t.ssl),
                  SSL_get_cipher_name(c->t.ssl));
    }
    while (!c->closing && !c->close_after_write) {
        size_t room = in_reserve(c);
        size_t got = 0;
        int rc = room == 0 ? FLM_ENOMEM
                           : flm_avro_tls_read(&c->t, c->in + c->in_len, room, &got, why,
                                               sizeof(why));
        if (rc == FLM_EAGAIN)
            break;
        if (rc == FLM_ECLOSED) {
            if (c->in_len > 0)
                flm_warn(log, "%s: TLS session closed in the middle of a frame (%zu bytes "
                         "dropped)", c->peer, c->in_len);
            else
                flm_debug(log, "%s: TLS session closed by peer", c->peer);
            c->close_after_write = true; /* replies already queued still go out */
            c->in_len = 0;
            break;
        }
        if (rc == FLM_ENOMEM) {
            flm_log_limited(FLM_LOG_ERROR, log, 0,
                            "%s: closing connection: out of memory for input", c->peer);
            conn_close(c);
            return;
        }
        if (rc != FLM_OK) {
            flm_warn(log, "%s: closing connection: TLS error: %s", c->peer, why);
            conn_close(c);
            return;
        }
        c->in_len += got;
        conn_process(c);
    }
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct ts_conn *c = st->data;
    struct ts_src *ts = c->ts;
    (void)buf;
    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        if (nread == UV_EOF) {
            if (c->tls && !c->tls_up && c->tls_first && !c->close_after_write)
                flm_warn(&ts->src->c.log, "%s: connection closed during the TLS handshake",
                         c->peer);
            else if (c->in_len > 0 && !c->close_after_write)
                flm_warn(&ts->src->c.log,
                         "%s: connection closed in the middle of a frame (%zu bytes dropped)",
                         c->peer, c->in_len);
            else
                flm_debug(&ts->src->c.log, "%s: connection closed by peer", c->peer);
        } else {
            flm_warn(&ts->src->c.log, "%s: closing connection: read failed (%s: %s)", c->peer,
                     uv_err_name((int)nread), uv_strerror((int)nread));
        }
        conn_close(c);
        return;
    }
    if (c->close_after_write) {
        c->in_len = 0;
        return;
    }
    if (c->tls) {
        tls_input(c, (size_t)nread);
    } else {
        c->in_len += (size_t)nread;
        conn_process(c);
    }
    conn_flush(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct ts_src *ts = server->data;
    struct flm_logctx *log = &ts->src->c.log;
    if (status < 0) {
        flm_log_limited(FLM_LOG_WARN, log, 0, "%s: accept failed (%s: %s)", ts->where,
                        uv_err_name(status), uv_strerror(status));
        return;
    }
    struct ts_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        flm_log_limited(FLM_LOG_ERROR, log, 0, "%s: out of memory accepting a connection",
                        ts->where);
        return;
    }
    bool tls_oom = false;
    c->ts = ts;
    c->proto = -1;
    uv_tcp_init(&ts->loop, &c->tcp);
    c->tcp.data = c;
    c->next = ts->conns;
    if (ts->conns)
        ts->conns->prev = c;
    ts->conns = c;
    ts->nconns++;
    snprintf(c->peer, sizeof(c->peer), "?");
    flm_buf_init(&c->out, TS_OUT_MAX);
    flm_buf_init(&c->wout, TS_OUT_MAX);
    if (ts->ssl_ctx != NULL) {
        /* c->tout and c->wout are swapped: the same cap for both */
        c->tls = true;
        flm_buf_init(&c->tout, TS_TOUT_MAX);
        flm_buf_init(&c->wout, TS_TOUT_MAX);
        c->net = malloc(TS_NET);
        if (c->net == NULL || flm_avro_tls_new(&c->t, ts->ssl_ctx, true) != FLM_OK)
            tls_oom = true;
    }
    int rc = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (rc < 0) {
        flm_log_limited(FLM_LOG_WARN, log, 0, "%s: accept failed (%s: %s)", ts->where,
                        uv_err_name(rc), uv_strerror(rc));
        conn_close(c);
        return;
    }
    struct sockaddr_storage ss;
    int sl = (int)sizeof(ss);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0)
        flm_net_fmt_addr(&ss, c->peer, sizeof(c->peer));
    if (tls_oom) {
        flm_log_limited(FLM_LOG_ERROR, log, 0, "%s: closing connection: out of memory for TLS",
                        c->peer);
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0) {
        flm_warn(log, "%s: closing connection: cannot read (%s: %s)", c->peer, uv_err_name(rc),
                 uv_strerror(rc));
        conn_close(c);
        return;
    }
    flm_debug(log, "%s: connection accepted on %s", c->peer, ts->where);
}

/* ------------------------------------------------------------ loop thread */

static void on_stop(uv_async_t *a)
{
    struct ts_src *ts = a->data;
    if (ts->nconns > 0)
        flm_info(&ts->src->c.log, "closing %zu connection(s)", ts->nconns);
    for (struct ts_conn *c = ts->conns; c != NULL; c = c->next)
        conn_close(c);
    if (!uv_is_closing((uv_handle_t *)&ts->server))
        uv_close((uv_handle_t *)&ts->server, flm_uv_close_noop);
    uv_close((uv_handle_t *)&ts->stop_async, flm_uv_close_noop);
}

static void *ts_thread(void *arg)
{
    struct ts_src *ts = arg;
    uv_run(&ts->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void loop_teardown(struct ts_src *ts)
{
    uv_close((uv_handle_t *)&ts->server, flm_uv_close_noop);
    uv_close((uv_handle_t *)&ts->stop_async, flm_uv_close_noop);
    uv_run(&ts->loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&ts->loop);
}

/* ------------------------------------------------------------- lifecycle */

static int ts_validate(void *conf, const char *comp, struct flm_diag *d)
{
    const struct ts_conf *c = conf;
    int rc = FLM_OK;
    if (conf_protocol(c->protocol) < 0) {
        flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "protocol",
                     "invalid protocol '%s' (use compact or binary)", c->protocol);
        rc = FLM_ERR;
    } else if (c->protocol != NULL && strcasecmp(c->protocol, "binary") == 0 &&
               strcmp(c->protocol, "binary") != 0) {
        flm_diag_add(d, FLM_SEV_WARN, NULL, 0, comp, "protocol",
                     "'%s' selects the compact protocol, as in Flume (only lower-case 'binary' "
                     "selects binary); binary clients are still served (detected per "
                     "connection)", c->protocol);
    }
    if (c->ssl) {
        /* what init would find, said at check time (files are read at init) */
        const char *ks = flm_tls_env_or(c->keystore, "FLUME_SSL_KEYSTORE_PATH");
        const char *type = flm_tls_env_or(c->keystore_type, "FLUME_SSL_KEYSTORE_TYPE");
        if (ks == NULL) {
            flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "keystore",
                         "ssl = true needs a keystore (property or FLUME_SSL_KEYSTORE_PATH)");
            rc = FLM_ERR;
        } else if (type == NULL || (strcasecmp(type, "PKCS12") != 0 &&
                                    strcasecmp(type, "PEM") != 0)) {
            flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "keystore-type",
                         "%s keystores cannot be read by flumen; convert with `keytool "
                         "-importkeystore -srckeystore %s -destkeystore ks.p12 -deststoretype "
                         "PKCS12` and set keystore-type = PKCS12 (or use PEM)",
                         type ? type : "JKS (the default)", ks);
            rc = FLM_ERR;
        }
    }
    if (c->kerberos) {
        flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "kerberos",
                     "kerberos = true: SASL/Kerberos authentication is not supported by flumen");
        rc = FLM_ERR;
    } else if (c->agent_principal != NULL || c->agent_keytab != NULL) {
        flm_diag_add(d, FLM_SEV_WARN, NULL, 0, comp,
                     c->agent_principal != NULL ? "agent-principal" : "agent-keytab",
                     "ignored: Kerberos is not supported by flumen (and kerberos is false)");
    }
    return rc;
}

static int ts_init(struct flm_source *src, struct flm_err *err)
{
    const struct ts_conf *conf = src->c.conf;
    int pr = conf_protocol(conf->protocol);
    if (pr < 0)
        return flm_err_set(err, FLM_ERR, "protocol: invalid value '%s' (use compact or binary)",
                           conf->protocol);
    if (conf->kerberos)
        return flm_err_set(err, FLM_ERR, "kerberos: Kerberos is not supported by flumen");
    struct ts_src *ts = calloc(1, sizeof(*ts));
    if (ts == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    ts->src = src;
    ts->proto = pr;
    ts->max_frame = conf->max_frame > 0 ? (size_t)conf->max_frame : FLM_THRIFT_FRAME_MAX_DEFAULT;
    src->c.ctx = ts;
    if (conf->ssl) {
        struct flm_avro_tls_conf tc = {
            .keystore = conf->keystore, .keystore_password = conf->keystore_password,
            .keystore_type = conf->keystore_type};
        int rc = flm_tls_lists(&tc, conf->include_protocols, conf->exclude_protocols,
                               conf->include_cipher_suites, conf->exclude_cipher_suites);
        if (rc == FLM_OK)
            rc = flm_avro_tls_ctx(&ts->ssl_ctx, true, &tc, err);
        else
            flm_err_set(err, rc, "out of memory");
        flm_tls_lists_free(&tc);
        if (rc != FLM_OK)
            return rc;
    }
    return FLM_OK;
}

/* Binds and listens (clients can connect when this returns), then starts the
 * loop thread.  FLM_ERR (resolve), FLM_EIO (bind/listen; errno in err->sys). */
static int ts_start(struct flm_source *src, struct flm_err *err)
{
    struct ts_src *ts = src->c.ctx;
    const struct ts_conf *conf = src->c.conf;
    if (ts->running)
        return FLM_OK;
    int rc = uv_loop_init(&ts->loop);
    if (rc < 0)
        return flm_err_set(err, FLM_ERR, "cannot create event loop (%s: %s)", uv_err_name(rc),
                           uv_strerror(rc));
    uv_async_init(&ts->loop, &ts->stop_async, on_stop);
    ts->stop_async.data = ts;
    uv_tcp_init(&ts->loop, &ts->server);
    ts->server.data = ts;
    rc = flm_uv_listen(&ts->server, conf->bind, conf->port, TS_BACKLOG, on_connection, ts->where,
                       sizeof(ts->where), err);
    if (rc != FLM_OK) {
        loop_teardown(ts);
        return rc;
    }

    char tname[16];
    snprintf(tname, sizeof(tname), "th-%.12s", src->c.name);
    rc = flm_thread_start(&ts->thread, ts_thread, ts, tname);
    if (rc != 0) {
        loop_teardown(ts);
        flm_err_set(err, FLM_ERR, "cannot start the source thread");
        if (err != NULL)
            err->sys = rc;
        return FLM_ERR;
    }
    ts->running = true;
    flm_info(&src->c.log, "listening on %s (Thrift framed, %s protocol, max-frame-size %zu%s)",
             ts->where, proto_name(ts->proto), ts->max_frame, ts->ssl_ctx ? ", TLS" : "");
    return FLM_OK;
}

static void ts_stop(struct flm_source *src)
{
    struct ts_src *ts = src->c.ctx;
    if (ts == NULL || !ts->running)
        return;
    flm_uv_thread_stop(&ts->stop_async, ts->thread, &ts->loop, &src->c.log, ts->where);
    ts->running = false;
}

static void ts_destroy(struct flm_source *src)
{
    struct ts_src *ts = src->c.ctx;
    if (ts == NULL)
        return;
    ts_stop(src);
    if (ts->ssl_ctx != NULL)
        SSL_CTX_free(ts->ssl_ctx);
    free(ts);
    src->c.ctx = NULL;
}

static const struct flm_source_ops ts_ops = {
    .init = ts_init,
    .start = ts_start,
    .process = NULL,
    .stop = ts_stop,
    .destroy = ts_destroy,
};

const struct flm_type flm_source_thrift = {
    .kind = FLM_SOURCE,
    .alias = "thrift",
    .klass = "org.apache.flume.source.ThriftSource",
    .summary = "Receives events from Flume Thrift clients and thrift sinks (append, appendBatch; "
               "framed, compact or binary protocol).",
    .props = ts_props,
    .conf_size = sizeof(struct ts_conf),
    .validate = ts_validate,
    .batch_key = NULL,
    .no_counters = false,
    .ops = &ts_ops,
};
