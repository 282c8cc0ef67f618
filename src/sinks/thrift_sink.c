/*
 * thrift_sink.c - the thrift sink (Flume's org.apache.flume.sink.ThriftSink):
 * takes batches from its channel and sends each as one appendBatch call of
 * Flume's ThriftSourceProtocol (framed transport; compact protocol, binary
 * with `protocol = binary`) to a thrift source (spec/wire.md (f),
 * components.md 3.5).
 *
 * Thread: everything runs on the sink's runner thread, with blocking-style
 * socket I/O on a non-blocking fd and poll() deadlines (connect-timeout for
 * the connect, request-timeout for a whole call).  Once the agent stops
 * (the channel's nowait flag) all waits end at most 3 seconds later; an
 * abandoned call is rolled back, never committed.
 *
 * Ownership: struct tk_sink owns the socket, the send and receive buffers and
 * the batch array.  Taken events belong to the transaction until commit
 * (then they are freed here) or rollback (back to the channel).
 *
 * Delivery (as Flume's AbstractRpcSink): connect if needed (before taking),
 * take up to batch-size events, send appendBatch, commit the take only when
 * the reply is Status OK.  Anything else (connect/IO error, timeout,
 * FAILED/ERROR/UNKNOWN status, exception, malformed reply) rolls the take
 * back, counts EventWriteFail, destroys the connection and returns a negative
 * code so the runner backs off.  Nothing is committed that the next hop did
 * not acknowledge; a timeout after the server committed means a duplicate on
 * retry (at-least-once, as Flume).
 *
 * TLS (ssl = true): as Flume's TSSLTransportFactory, plain TLS around the
 * framed transport (the bytes inside TLS are exactly the framed protocol).
 * OpenSSL over memory BIOs (src/rpc/avro_tls.c, shared with the avro sink):
 * the server's chain is verified against truststore (PEM, or PKCS#12 with
 * truststore-type PKCS12; unset: FLUME_SSL_TRUSTSTORE_PATH, else the system
 * store) unless trust-all-certs; the host name is sent as SNI but, as
 * Flume's Thrift client, not matched against the certificate.  The handshake
 * is part of the connect and of connect-timeout; a refused certificate is a
 * failed connect (logged with the verification error) and nothing is taken.
 */
#include "core/buf.h"
#include "core/component.h"
#include "core/net.h"
#include "rpc/avro_tls.h"
#include "rpc/thrift_proto.h"
#include "rpc/tls_util.h"

#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define TK_REPLY_MAX (1u << 20)    /* bytes: a Status reply is ~30; cap what we accept */
#define TK_SLICE_MS 200            /* poll slice, to notice stop requests */
#define TK_STOP_GRACE_MS 3000      /* after a stop request, wait at most this much more */
#define TK_NET (64u * 1024)        /* TLS: ciphertext read at a time */
#define TK_TLS_SLICE (256u * 1024) /* TLS: plaintext encrypted and sent at a time */

struct tk_conf {
    char *hostname;
    int port;
    int batch_size;
    int connect_timeout;
    int request_timeout;
    int reset_interval;
    char *protocol;
    bool ssl;
    bool trust_all;
    char *truststore;
    char *truststore_password;
    char *truststore_type;
    char *exclude_protocols;
    char *include_protocols;
    char *exclude_cipher_suites;
    char *include_cipher_suites;
    bool kerberos;
    char *client_principal;
    char *client_keytab;
    char *server_principal;
    int max_connections;
};

static const struct flm_prop tk_props[] = {
    {.name = "hostname", .type = FLM_P_STR, .off = FLM_OFF(struct tk_conf, hostname),
     .flags = FLM_P_REQUIRED, .doc = "Host name or IP address of the thrift source."},
    {.name = "port", .type = FLM_P_INT, .off = FLM_OFF(struct tk_conf, port),
     .flags = FLM_P_REQUIRED, .min = 1, .max = 65535, .doc = "Port of the thrift source."},
    {.name = "batch-size", .type = FLM_P_INT, .off = FLM_OFF(struct tk_conf, batch_size),
     .def = "100", .min = 1, .max = 1000000,
     .doc = "Events per appendBatch call and per channel transaction."},
    {.name = "connect-timeout", .type = FLM_P_INT,
     .off = FLM_OFF(struct tk_conf, connect_timeout), .def = "20000", .min = 1,
     .max = 0x7fffffff, .doc = "Milliseconds allowed to connect."},
    {.name = "request-timeout", .type = FLM_P_INT,
     .off = FLM_OFF(struct tk_conf, request_timeout), .def = "20000", .min = 1,
     .max = 0x7fffffff, .doc = "Milliseconds allowed for one call (send and reply)."},
    {.name = "reset-connection-interval", .type = FLM_P_INT,
     .off = FLM_OFF(struct tk_conf, reset_interval), .min = 0, .max = 0x7fffffff,
     .alias = "connection-reset-interval",
     .doc = "Seconds after which the connection is closed and re-opened (unset or 0: never)."},
    {.name = "protocol", .type = FLM_P_STR, .off = FLM_OFF(struct tk_conf, protocol),
     .def = "compact",
     .doc = "compact or binary; only lower-case 'binary' selects binary and anything else "
            "runs compact, as Flume."},
    {.name = "ssl", .type = FLM_P_BOOL, .off = FLM_OFF(struct tk_conf, ssl), .def = "false",
     .doc = "Use TLS (plain TLS around the framed transport, as Flume)."},
    {.name = "trust-all-certs", .type = FLM_P_BOOL, .off = FLM_OFF(struct tk_conf, trust_all),
     .def = "false", .doc = "Skip server certificate checks (TLS; as the avro sink)."},
    {.name = "truststore", .type = FLM_P_STR, .off = FLM_OFF(struct tk_conf, truststore),
     .doc = "Trusted CA certificates: a PEM file, or PKCS#12 with truststore-type PKCS12 "
            "(JKS must be converted).  Unset: FLUME_SSL_TRUSTSTORE_PATH, else the system "
            "trust store."},
    {.name = "truststore-password", .type = FLM_P_STR,
     .off = FLM_OFF(struct tk_conf, truststore_password), .flags = FLM_P_SECRET,
     .doc = "Password of the truststore (falls back to FLUME_SSL_TRUSTSTORE_PASSWORD)."},
    {.name = "truststore-type", .type = FLM_P_STR,
     .off = FLM_OFF(struct tk_conf, truststore_type),
     .doc = "PKCS12 reads a PKCS#12 file; any other value (Flume's default JKS included) reads "
            "a PEM file.  Unset: FLUME_SSL_TRUSTSTORE_TYPE."},
    {.name = "exclude-protocols", .type = FLM_P_STR,
     .off = FLM_OFF(struct tk_conf, exclude_protocols),
     .doc = "Space-separated TLS protocols to disable (SSLv3 always is; unset: "
            "FLUME_SSL_EXCLUDE_PROTOCOLS, a comma list)."},
    {.name = "include-protocols", .type = FLM_P_STR,
     .off = FLM_OFF(struct tk_conf, include_protocols),
     .doc = "Space-separated TLS protocols to allow (Java names; empty: all supported; unset: "
            "FLUME_SSL_INCLUDE_PROTOCOLS)."},
    {.name = "exclude-cipher-suites", .type = FLM_P_STR,
     .off = FLM_OFF(struct tk_conf, exclude_cipher_suites),
     .doc = "Space-separated cipher suites to disable (standard names; unset: "
            "FLUME_SSL_EXCLUDE_CIPHERSUITES)."},
    {.name = "include-cipher-suites", .type = FLM_P_STR,
     .off = FLM_OFF(struct tk_conf, include_cipher_suites),
     .doc = "Space-separated cipher suites to allow (standard names; empty: all; unset: "
            "FLUME_SSL_INCLUDE_CIPHERSUITES)."},
    {.name = "kerberos", .type = FLM_P_BOOL, .off = FLM_OFF(struct tk_conf, kerberos),
     .def = "false",
     .doc = "SASL/GSSAPI authentication; not supported by flumen (true is a configuration "
            "error)."},
    {.name = "client-principal", .type = FLM_P_STR,
     .off = FLM_OFF(struct tk_conf, client_principal), .doc = "Kerberos (not supported)."},
    {.name = "client-keytab", .type = FLM_P_STR, .off = FLM_OFF(struct tk_conf, client_keytab),
     .doc = "Kerberos (not supported)."},
    {.name = "server-principal", .type = FLM_P_STR,
     .off = FLM_OFF(struct tk_conf, server_principal), .doc = "Kerberos (not supported)."},
    {.name = "maxConnections", .type = FLM_P_INT,
     .off = FLM_OFF(struct tk_conf, max_connections), .def = "5", .min = 1, .max = 0x7fffffff,
     .flags = FLM_P_IGNORED,
     .doc = "Flume's RPC client pool size; the sink uses one connection (one call at a time)."},
    FLM_PROPS_END,
};

struct tk_sink {
    struct flm_sink *s;
    int proto;
    int fd;                       /* -1 when not connected */
    uint64_t opened_ms;           /* monotonic */
    int32_t seqid;
    uint64_t stop_seen_ms;        /* monotonic ms the agent's stop was first seen; 0 none */
    char peer[300];               /* "host:port" */
    struct flm_event **evs;
    struct flm_buf out;
    struct flm_buf in;
    SSL_CTX *ssl_ctx;             /* NULL without ssl */
    bool tls;                     /* t holds the connection's SSL */
    struct flm_avro_tls t;
    struct flm_buf net;           /* TLS: records to send */
    uint8_t *rbuf;                /* TLS: ciphertext received */
};

static int conf_protocol(const char *v)
{
    return v != NULL && strcmp(v, "binary") == 0 ? FLM_THRIFT_BINARY : FLM_THRIFT_COMPACT;
}

/* -------------------------------------------------------------- socket I/O */

/* Text of errno e (thread-safe: GNU strerror_r). */
static const char *errtext(int e, char *buf, size_t cap)
{
    return strerror_r(e, buf, cap);
}

static void conn_close(struct tk_sink *tk, const char *why)
{
    if (tk->fd < 0)
        return;
    close(tk->fd);
    tk->fd = -1;
    if (tk->tls) {
        flm_avro_tls_free(&tk->t);
        tk->tls = false;
        tk->net.len = 0;
    }
    flm_ctr_add(&tk->s->c.ctr, FLM_SINK_CONNECTION_CLOSED, 1);
    flm_debug(&tk->s->c.log, "closed connection to %s (%s)", tk->peer, why);
}

/* Waits until fd is ready for ev or the deadline (monotonic ms) passes; a
 * stop request shortens the deadline.  FLM_OK, FLM_EAGAIN (timed out) or
 * FLM_EIO (errno set). */
static int wait_fd(struct tk_sink *tk, int fd, short ev, uint64_t *deadline)
{
    for (;;) {
        uint64_t now = flm_mono_ms();
        /* sink->stopping is only set once the runner has returned, so the
         * channel's nowait flag (set when the agent stops) is the signal
         * that reaches us while a call is in flight */
        bool stopping = atomic_load(&tk->s->stopping) ||
                        (tk->s->channel != NULL && atomic_load(&tk->s->channel->nowait));
        if (stopping) {
            /* one grace period per stop, not per wait: later calls of the
             * drain give up at once */
            if (tk->stop_seen_ms == 0)
                tk->stop_seen_ms = now;
            if (*deadline > tk->stop_seen_ms + TK_STOP_GRACE_MS)
                *deadline = tk->stop_seen_ms + TK_STOP_GRACE_MS;
        } else {
            tk->stop_seen_ms = 0;
        }
        if (now >= *deadline)
            return FLM_EAGAIN;
        uint64_t left = *deadline - now;
        struct pollfd p = {.fd = fd, .events = ev};
        int r = poll(&p, 1, (int)(left < TK_SLICE_MS ? left : TK_SLICE_MS));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return FLM_EIO;
        }
        if (r > 0)
            return FLM_OK;
    }
}

static int send_all(struct tk_sink *tk, const uint8_t *p, size_t n, uint64_t *deadline,
                    char *why, size_t whycap);

/* TLS: sends every record OpenSSL has produced. */
static int tls_flush(struct tk_sink *tk, uint64_t *deadline, char *why, size_t whycap)
{
    tk->net.len = 0;
    if (flm_avro_tls_drain(&tk->t, &tk->net) != FLM_OK) {
        snprintf(why, whycap, "out of memory for TLS records");
        return FLM_ENOMEM;
    }
    if (tk->net.len == 0)
        return FLM_OK;
    int rc = send_all(tk, tk->net.p, tk->net.len, deadline, why, whycap);
    tk->net.len = 0;
    return rc;
}

/* TLS: receives some ciphertext (waiting up to the deadline) and feeds it to
 * OpenSSL.  FLM_OK, or FLM_EIO with why saying what happened during `what`. */
static int tls_recv_some(struct tk_sink *tk, uint64_t *deadline, const char *what, char *why,
                         size_t whycap)
{
    char eb[128];
    for (;;) {
        ssize_t r = recv(tk->fd, tk->rbuf, TK_NET, 0);
        if (r > 0) {
            if (flm_avro_tls_feed(&tk->t, tk->rbuf, (size_t)r) != FLM_OK) {
                snprintf(why, whycap, "out of memory for TLS input");
                return FLM_ENOMEM;
            }
            return FLM_OK;
        }
        if (r == 0) {
            snprintf(why, whycap, "connection closed by the server %s", what);
            return FLM_EIO;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            snprintf(why, whycap, "receive failed %s: %s", what, errtext(errno, eb, sizeof(eb)));
            return FLM_EIO;
        }
        int rc = wait_fd(tk, tk->fd, POLLIN, deadline);
        if (rc == FLM_EAGAIN) {
            snprintf(why, whycap, "timed out %s", what);
            return FLM_EIO;
        }
        if (rc != FLM_OK) {
            snprintf(why, whycap, "poll failed: %s", errtext(errno, eb, sizeof(eb)));
            return FLM_EIO;
        }
    }
}

/* TLS client handshake on the connected tk->fd within the connect deadline.
 * FLM_OK, or FLM_EIO / FLM_ENOMEM with the reason (and, for a refused
 * certificate, the verification error) in why. */
static int tls_open(struct tk_sink *tk, uint64_t *deadline, char *why, size_t whycap)
{
    const struct tk_conf *conf = tk->s->c.conf;
    if (flm_avro_tls_new(&tk->t, tk->ssl_ctx, false) != FLM_OK) {
        snprintf(why, whycap, "out of memory for TLS");
        return FLM_ENOMEM;
    }
    tk->tls = true;
    struct in6_addr a6;
    if (inet_pton(AF_INET, conf->hostname, &a6) != 1 &&
        inet_pton(AF_INET6, conf->hostname, &a6) != 1)
        (void)SSL_set_tlsext_host_name(tk->t.ssl, conf->hostname);
    for (;;) {
        char hw[320];
        int hs = flm_avro_tls_handshake(&tk->t, hw, sizeof(hw));
        int fr = tls_flush(tk, deadline, why, whycap); /* records, or the alert */
        if (hs == FLM_OK) {
            if (fr != FLM_OK)
                return fr;
            flm_debug(&tk->s->c.log, "%s: TLS established (%s, %s)", tk->peer,
                      SSL_get_version(tk->t.ssl), SSL_get_cipher_name(tk->t.ssl));
            return FLM_OK;
        }
        if (hs != FLM_EAGAIN) {
            const char *ve = flm_tls_verify_error(&tk->t);
            if (ve != NULL) {
                snprintf(why, whycap, "%.200s (server certificate not trusted: %.80s; set "
                         "truststore to its CA, or trust-all-certs = true)", hw, ve);
            } else
                snprintf(why, whycap, "%s", hw);
            return FLM_EIO;
        }
        if (fr != FLM_OK)
            return fr;
        int rc = tls_recv_some(tk, deadline, "during the TLS handshake (is it a TLS server?)",
                               why, whycap);
        if (rc != FLM_OK)
            return rc;
    }
}

/* flm_net_connect's wait: wait_fd (the stop grace period applies). */
static int connect_wait(void *arg, int fd, short ev, uint64_t *deadline)
{
    return wait_fd(arg, fd, ev, deadline);
}

/* Connects to hostname:port within connect-timeout (TLS handshake included
 * when ssl).  FLM_OK or FLM_EIO with the reason in why. */
static int conn_open(struct tk_sink *tk, char *why, size_t whycap)
{
    const struct tk_conf *conf = tk->s->c.conf;
    uint64_t deadline = flm_mono_ms() + (uint64_t)conf->connect_timeout;
    char reason[160];
    int fd, sys;
    int rc = flm_net_connect(conf->hostname, conf->port, &deadline, connect_wait, tk, &fd, &sys,
                             reason, sizeof(reason));
    if (rc != FLM_OK) {
        if (rc == FLM_EAGAIN)
            snprintf(why, whycap, "connect timed out after %d ms", conf->connect_timeout);
        else if (sys == 0)
            snprintf(why, whycap, "'%s': %s", conf->hostname, reason);
        else
            snprintf(why, whycap, "connect failed: %s", reason);
        return FLM_EIO;
    }
    tk->fd = fd;
    if (tk->ssl_ctx != NULL) {
        rc = tls_open(tk, &deadline, why, whycap);
        if (rc != FLM_OK) {
            flm_avro_tls_free(&tk->t);
            tk->tls = false;
            close(fd);
            tk->fd = -1;
            return rc == FLM_ENOMEM ? FLM_ENOMEM : FLM_EIO;
        }
    }
    tk->opened_ms = flm_mono_ms();
    return FLM_OK;
}

static int send_all(struct tk_sink *tk, const uint8_t *p, size_t n, uint64_t *deadline,
                    char *why, size_t whycap)
{
    char eb[128];
    while (n > 0) {
        ssize_t w = send(tk->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = wait_fd(tk, tk->fd, POLLOUT, deadline);
            if (rc == FLM_EAGAIN) {
                snprintf(why, whycap, "request timed out while sending (%zu bytes unsent)", n);
                return FLM_EIO;
            }
            if (rc != FLM_OK) {
                snprintf(why, whycap, "poll failed: %s", errtext(errno, eb, sizeof(eb)));
                return FLM_EIO;
            }
            continue;
        }
        snprintf(why, whycap, "send failed: %s", errtext(errno, eb, sizeof(eb)));
        return FLM_EIO;
    }
    return FLM_OK;
}

/* TLS: decrypts until tk->in holds at least want bytes. */
static int tls_recv_atleast(struct tk_sink *tk, size_t want, uint64_t *deadline, char *why,
                            size_t whycap)
{
    while (tk->in.len < want) {
        if (flm_buf_reserve(&tk->in, want - tk->in.len) != FLM_OK) {
            snprintf(why, whycap, "out of memory");
            return FLM_ENOMEM;
        }
        size_t got = 0;
        char tw[300];
        int rc = flm_avro_tls_read(&tk->t, tk->in.p + tk->in.len, tk->in.cap - tk->in.len, &got,
                                   tw, sizeof(tw));
        if (rc == FLM_OK) {
            tk->in.len += got;
            continue;
        }
        if (rc == FLM_ECLOSED) {
            snprintf(why, whycap, "TLS session closed by the server before the reply");
            return FLM_EIO;
        }
        if (rc != FLM_EAGAIN) {
            snprintf(why, whycap, "TLS error: %s", tw);
            return FLM_EIO;
        }
        /* OpenSSL may have something to say first (e.g. a key update) */
        if ((rc = tls_flush(tk, deadline, why, whycap)) != FLM_OK)
            return rc;
        rc = tls_recv_some(tk, deadline, "before the reply", why, whycap);
        if (rc != FLM_OK) {
            if (strncmp(why, "timed out", 9) == 0)
                snprintf(why, whycap, "no reply within request-timeout");
            return rc;
        }
    }
    return FLM_OK;
}

/* Reads until tk->in holds at least want bytes. */
static int recv_atleast(struct tk_sink *tk, size_t want, uint64_t *deadline, char *why,
                        size_t whycap)
{
    char eb[128];
    if (tk->tls)
        return tls_recv_atleast(tk, want, deadline, why, whycap);
    while (tk->in.len < want) {
        if (flm_buf_reserve(&tk->in, want - tk->in.len) != FLM_OK) {
            snprintf(why, whycap, "out of memory");
            return FLM_ENOMEM;
        }
        ssize_t r = recv(tk->fd, tk->in.p + tk->in.len, tk->in.cap - tk->in.len, 0);
        if (r > 0) {
            tk->in.len += (size_t)r;
            continue;
        }
        if (r == 0) {
            snprintf(why, whycap, "connection closed by the server before the reply");
            return FLM_EIO;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int rc = wait_fd(tk, tk->fd, POLLIN, deadline);
            if (rc == FLM_EAGAIN) {
                snprintf(why, whycap, "no reply within request-timeout");
                return FLM_EIO;
            }
            if (rc != FLM_OK) {
                snprintf(why, whycap, "poll failed: %s", errtext(errno, eb, sizeof(eb)));
                return FLM_EIO;
            }
            continue;
        }
        snprintf(why, whycap, "receive failed: %s", errtext(errno, eb, sizeof(eb)));
        return FLM_EIO;
    }
    return FLM_OK;
}

/* One appendBatch round trip for evs[0..n).  FLM_OK when the reply is
 * Status OK; otherwise a negative code with the reason in why. */
static int call_batch(struct tk_sink *tk, size_t n, char *why, size_t whycap)
{
    const struct tk_conf *conf = tk->s->c.conf;
    tk->out.len = 0;
    tk->in.len = 0;
    int32_t seq = ++tk->seqid;
    if (tk->seqid == INT32_MAX)
        tk->seqid = 0;
    int rc = flm_thrift_encode_call(tk->proto, FLM_THRIFT_M_APPEND_BATCH, seq, tk->evs, n,
                                    &tk->out);
    if (rc != FLM_OK) {
        snprintf(why, whycap, "cannot encode the batch: %s", flm_strerror(rc));
        return rc;
    }
    uint64_t deadline = flm_mono_ms() + (uint64_t)conf->request_timeout;
    if (tk->tls) {
        /* in slices, so a big batch is not held twice more in memory */
        char tw[300];
        for (size_t off = 0; off < tk->out.len && rc == FLM_OK; off += TK_TLS_SLICE) {
            size_t k = tk->out.len - off < TK_TLS_SLICE ? tk->out.len - off : TK_TLS_SLICE;
            if (flm_avro_tls_write(&tk->t, tk->out.p + off, k, tw, sizeof(tw)) != FLM_OK) {
                snprintf(why, whycap, "TLS write failed: %s", tw);
                return FLM_EIO;
            }
            rc = tls_flush(tk, &deadline, why, whycap);
        }
    } else {
        rc = send_all(tk, tk->out.p, tk->out.len, &deadline, why, whycap);
    }
    if (rc != FLM_OK)
        return rc;
    rc = recv_atleast(tk, 4, &deadline, why, whycap);
    if (rc != FLM_OK)
        return rc;
    size_t flen;
    char fwhy[160];
    rc = flm_thrift_frame_len(tk->in.p, tk->in.len, TK_REPLY_MAX, &flen, fwhy, sizeof(fwhy));
    if (rc != FLM_OK) {
        snprintf(why, whycap, "bad reply: %s", fwhy);
        return FLM_EIO;
    }
    rc = recv_atleast(tk, 4 + flen, &deadline, why, whycap);
    if (rc != FLM_OK)
        return rc;
    if (tk->in.len != 4 + flen) {
        snprintf(why, whycap, "%zu unexpected bytes after the reply", tk->in.len - 4 - flen);
        return FLM_EIO;
    }
    struct flm_thrift_reply rep;
    char dwhy[200];
    rc = flm_thrift_decode_reply(tk->proto, tk->in.p + 4, flen, &rep, dwhy, sizeof(dwhy));
    if (rc != FLM_OK) {
        snprintf(why, whycap, "bad reply (%s protocol): %s",
                 tk->proto == FLM_THRIFT_BINARY ? "binary" : "compact", dwhy);
        return FLM_EIO;
    }
    if (rep.msgtype == FLM_THRIFT_EXCEPTION) {
        snprintf(why, whycap, "server answered with an exception (type %d): %s", rep.ex_type,
                 rep.ex_msg);
        return FLM_EIO;
    }
    if (rep.seqid != seq || strcmp(rep.name, "appendBatch") != 0) {
        snprintf(why, whycap, "reply does not match the call (%s seqid %d, expected appendBatch "
                 "seqid %d)", rep.name, rep.seqid, seq);
        return FLM_EIO;
    }
    if (rep.status != FLM_THRIFT_OK) {
        snprintf(why, whycap, "server answered %s (%d)", flm_thrift_status_name(rep.status),
                 rep.status);
        return FLM_EIO;
    }
    return FLM_OK;
}

/* ------------------------------------------------------------- lifecycle */

static int tk_validate(void *conf, const char *comp, struct flm_diag *d)
{
    const struct tk_conf *c = conf;
    int rc = FLM_OK;
    if (c->protocol != NULL && strcmp(c->protocol, "binary") != 0 &&
        strcmp(c->protocol, "compact") != 0) {
        if (strcasecmp(c->protocol, "binary") == 0)
            flm_diag_add(d, FLM_SEV_WARN, NULL, 0, comp, "protocol",
                         "'%s' runs the compact protocol, as in Flume (only lower-case 'binary' "
                         "selects binary)", c->protocol);
        else if (strcasecmp(c->protocol, "compact") != 0)
            flm_diag_add(d, FLM_SEV_WARN, NULL, 0, comp, "protocol",
                         "invalid protocol '%s'; using compact (as Flume)", c->protocol);
    }
    if (c->kerberos) {
        flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "kerberos",
                     "kerberos = true: SASL/Kerberos authentication is not supported by flumen");
        rc = FLM_ERR;
    }
    return rc;
}

static int tk_init(struct flm_sink *s, struct flm_err *err)
{
    const struct tk_conf *conf = s->c.conf;
    if (conf->kerberos)
        return flm_err_set(err, FLM_ERR, "kerberos: Kerberos is not supported by flumen");
    struct tk_sink *tk = calloc(1, sizeof(*tk));
    if (tk == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    tk->evs = calloc((size_t)conf->batch_size, sizeof(*tk->evs));
    if (tk->evs == NULL) {
        free(tk);
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    }
    tk->s = s;
    tk->fd = -1;
    tk->proto = conf_protocol(conf->protocol);
    snprintf(tk->peer, sizeof(tk->peer), "%s:%d", conf->hostname, conf->port);
    flm_buf_init(&tk->out, (size_t)0x7fffffff);
    flm_buf_init(&tk->in, TK_REPLY_MAX + 4);
    flm_buf_init(&tk->net, 2 * TK_TLS_SLICE + TK_NET);
    s->c.ctx = tk;
    if (conf->ssl) {
        struct flm_avro_tls_conf tc = {
            .truststore = conf->truststore, .truststore_password = conf->truststore_password,
            .truststore_type = conf->truststore_type, .trust_all = conf->trust_all};
        int rc = flm_tls_lists(&tc, conf->include_protocols, conf->exclude_protocols,
                               conf->include_cipher_suites, conf->exclude_cipher_suites);
        if (rc == FLM_OK)
            rc = flm_avro_tls_ctx(&tk->ssl_ctx, false, &tc, err);
        else
            flm_err_set(err, rc, "out of memory");
        flm_tls_lists_free(&tc);
        if (rc == FLM_OK && (tk->rbuf = malloc(TK_NET)) == NULL)
            rc = flm_err_set(err, FLM_ENOMEM, "out of memory");
        if (rc != FLM_OK)
            return rc;
    }
    return FLM_OK;
}

static int tk_start(struct flm_sink *s, struct flm_err *err)
{
    struct tk_sink *tk = s->c.ctx;
    (void)err;
    const struct tk_conf *conf = s->c.conf;
    flm_info(&s->c.log, "sending to %s (Thrift framed, %s protocol, batch-size %d%s)", tk->peer,
             tk->proto == FLM_THRIFT_BINARY ? "binary" : "compact", conf->batch_size,
             tk->ssl_ctx == NULL ? "" : conf->trust_all ? ", TLS trusting all certificates"
                                                        : ", TLS");
    return FLM_OK;
}

static int tk_process(struct flm_sink *s)
{
    struct tk_sink *tk = s->c.ctx;
    const struct tk_conf *conf = s->c.conf;
    char why[400];

    if (tk->fd >= 0 && conf->reset_interval > 0 &&
        flm_mono_ms() - tk->opened_ms >= (uint64_t)conf->reset_interval * 1000u)
        conn_close(tk, "reset-connection-interval reached");
    if (tk->fd < 0) {
        int rc = conn_open(tk, why, sizeof(why));
        if (rc != FLM_OK) {
            flm_ctr_add(&s->c.ctr, FLM_SINK_CONNECTION_FAILED, 1);
            flm_ctr_add(&s->c.ctr, FLM_SINK_EVENT_WRITE_FAIL, 1);
            flm_log_limited(FLM_LOG_WARN, &s->c.log, 0, "%s: %s; will retry", tk->peer, why);
            return rc;
        }
        flm_ctr_add(&s->c.ctr, FLM_SINK_CONNECTION_CREATED, 1);
        flm_info(&s->c.log, "connected to %s%s", tk->peer, tk->tls ? " (TLS)" : "");
    }

    struct flm_txn *tx;
    size_t n;
    int rc = flm_sink_take(s, (size_t)conf->batch_size, &tx, tk->evs, &n);
    if (rc != FLM_OK)
        return rc;
    if (n == 0)
        return FLM_BACKOFF;
    rc = call_batch(tk, n, why, sizeof(why));
    if (rc != FLM_OK) {
        flm_sink_rollback(s, tx);
        flm_ctr_add(&s->c.ctr, FLM_SINK_EVENT_WRITE_FAIL, 1);
        flm_log_limited(FLM_LOG_WARN, &s->c.log, 0,
                        "%s: appendBatch of %zu event(s) failed: %s; rolled back, will retry",
                        tk->peer, n, why);
        conn_close(tk, "failed call");
        return rc == FLM_ENOMEM ? FLM_ENOMEM : FLM_EIO;
    }
    rc = flm_sink_commit(s, tx, n);
    if (rc != FLM_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        flm_event_free(tk->evs[i]);
    return FLM_READY;
}

static void tk_stop(struct flm_sink *s)
{
    struct tk_sink *tk = s->c.ctx;
    if (tk != NULL)
        conn_close(tk, "sink stopped");
}

static void tk_destroy(struct flm_sink *s)
{
    struct tk_sink *tk = s->c.ctx;
    if (tk == NULL)
        return;
    if (tk->fd >= 0)
        close(tk->fd);
    if (tk->tls)
        flm_avro_tls_free(&tk->t);
    if (tk->ssl_ctx != NULL)
        SSL_CTX_free(tk->ssl_ctx);
    flm_buf_free(&tk->out);
    flm_buf_free(&tk->in);
    flm_buf_free(&tk->net);
    free(tk->rbuf);
    free(tk->evs);
    free(tk);
    s->c.ctx = NULL;
}

static const struct flm_sink_ops tk_ops = {
    .init = tk_init,
    .start = tk_start,
    .process = tk_process,
    .stop = tk_stop,
    .destroy = tk_destroy,
};

const struct flm_type flm_sink_thrift = {
    .kind = FLM_SINK,
    .alias = "thrift",
    .klass = "org.apache.flume.sink.ThriftSink",
    .summary = "Sends batches to a thrift source (Flume's appendBatch over framed Thrift, "
               "compact or binary protocol).",
    .props = tk_props,
    .conf_size = sizeof(struct tk_conf),
    .validate = tk_validate,
    .batch_key = "batch-size",
    .no_counters = false,
    .ops = &tk_ops,
};
