/*
 * transport.c - libflumen-client's two transports (the flm_client_ops of
 * client_int.h): Avro RPC over flumen's blocking Avro connection
 * (src/rpc/avro_rpc.c: handshake, framing, deflate), and Thrift
 * (ThriftSourceProtocol, framed transport, compact or binary protocol) over
 * a socket handled here with poll() deadlines, using the codec of
 * src/rpc/thrift_proto.c.  Thrift over TLS (ssl = true) is plain TLS around
 * the framed transport, as Flume's TSSLTransportFactory and flumen's thrift
 * sink: OpenSSL over memory BIOs (src/rpc/avro_tls.c) with the context
 * client.c built from the properties; the handshake is part of the connect
 * and of connect-timeout; the host name is sent as SNI but, as Flume's
 * Thrift client, not matched against the certificate.
 *
 * Owns: one heap object per open connection (returned as the opaque conn).
 * Threads: the caller's; a connection is used by one thread at a time.
 */
#include "client_int.h"

#include "core/buf.h"
#include "core/counters.h"
#include "core/err.h"
#include "core/net.h"
#include "rpc/avro_rpc.h"
#include "rpc/avro_tls.h"
#include "rpc/thrift_proto.h"
#include "rpc/tls_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TR_REPLY_MAX (1u << 20)   /* a Thrift Status reply is ~30 bytes */
#define TR_NET (64u * 1024)        /* TLS: ciphertext read at a time */
#define TR_TLS_SLICE (256u * 1024) /* TLS: plaintext encrypted and sent at a time */

/* ------------------------------------------------------------------ Avro */

struct av_conn {
    struct flm_avro_conn c;
    bool first;   /* the first call carries the handshake: connect-timeout covers it */
};

static int avro_open(void *arg, const struct flm_client_conf *conf,
                     const struct flm_client_host *h, void **conn, char *why, size_t whycap)
{
    (void)arg;
    struct av_conn *a = malloc(sizeof(*a));
    if (a == NULL) {
        snprintf(why, whycap, "out of memory");
        return FLUMEN_ENOMEM;
    }
    struct flm_err err = {0};
    int rc = flm_avro_connect_tls(&a->c, h->host, h->port, conf->connect_timeout, conf->level,
                                  conf->ssl_ctx, NULL, &err);
    if (rc != FLM_OK) {
        free(a);   /* flm_avro_connect_tls closed what it opened */
        snprintf(why, whycap, "%s", err.msg);
        return rc == FLM_ENOMEM ? FLUMEN_ENOMEM : FLUMEN_ECONNECT;
    }
    a->first = true;
    *conn = a;
    return FLUMEN_OK;
}

static int avro_call(void *arg, const struct flm_client_conf *conf, void *conn, int msg,
                     struct flm_event *const *evs, size_t n, char *why, size_t whycap)
{
    (void)arg;
    struct av_conn *a = conn;
    struct flm_avro_conn *c = &a->c;
    struct flm_err err = {0};
    int status = FLM_AVRO_UNKNOWN;
    int m = msg == FLM_CLIENT_APPEND ? FLM_AVRO_MSG_APPEND : FLM_AVRO_MSG_APPEND_BATCH;
    int timeout = conf->request_timeout;
    if (a->first && conf->connect_timeout > timeout)
        timeout = conf->connect_timeout;
    a->first = false;
    int rc = flm_avro_call(c, m, evs, n, timeout, &status, &err);
    if (rc == FLM_OK) {
        if (status == FLM_AVRO_OK)
            return FLUMEN_OK;
        snprintf(why, whycap, "%s: the source answered %s for %zu event(s)", c->peer,
                 status == FLM_AVRO_FAILED ? "FAILED" : "UNKNOWN", n);
        return FLUMEN_EREFUSED;
    }
    snprintf(why, whycap, "%s", err.msg);
    switch (rc) {
    case FLM_ENOMEM: return FLUMEN_ENOMEM;
    case FLM_ERR:
    case FLM_ECORRUPT: return FLUMEN_EPROTO;
    default: return FLUMEN_EIO;
    }
}

static void avro_close(void *arg, void *conn)
{
    (void)arg;
    struct av_conn *a = conn;
    flm_avro_close(&a->c);
    free(a);
}

const struct flm_client_ops flm_client_avro_ops = {
    .open = avro_open, .call = avro_call, .close = avro_close,
};

/* ---------------------------------------------------------------- Thrift */

struct tr_conn {
    int fd;
    int32_t seqid;
    char peer[300];
    struct flm_buf out, in;
    bool tls;            /* t holds the connection's SSL */
    struct flm_avro_tls t;
    struct flm_buf net;  /* TLS: records to send */
    uint8_t *rbuf;       /* TLS: ciphertext received (TR_NET bytes) */
};

/* Waits for ev on fd until deadline (monotonic ms).  FLM_OK, FLM_EAGAIN on
 * timeout, FLM_EIO (errno set) on poll failure. */
static int tr_wait(int fd, short ev, uint64_t deadline)
{
    for (;;) {
        uint64_t now = flm_mono_ms();
        if (now >= deadline)
            return FLM_EAGAIN;
        uint64_t left = deadline - now;
        struct pollfd p = {.fd = fd, .events = ev};
        int r = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
        if (r > 0)
            return FLM_OK;
        if (r < 0 && errno != EINTR)
            return FLM_EIO;
    }
}

/* flm_net_connect's wait: the client has no stop of its own. */
static int tr_connect_wait(void *arg, int fd, short ev, uint64_t *deadline)
{
    (void)arg;
    return tr_wait(fd, ev, *deadline);
}

static void tr_free(struct tr_conn *t)
{
    if (t->fd >= 0)
        close(t->fd);
    if (t->tls)
        flm_avro_tls_free(&t->t);
    flm_buf_free(&t->out);
    flm_buf_free(&t->in);
    flm_buf_free(&t->net);
    free(t->rbuf);
    free(t);
}

static int tr_send_raw(struct tr_conn *t, const uint8_t *p, size_t n, uint64_t deadline,
                       char *why, size_t whycap);

/* TLS: sends every record OpenSSL has produced. */
static int tr_tls_flush(struct tr_conn *t, uint64_t deadline, char *why, size_t whycap)
{
    t->net.len = 0;
    if (flm_avro_tls_drain(&t->t, &t->net) != FLM_OK) {
        snprintf(why, whycap, "%s: out of memory for TLS records", t->peer);
        return FLUMEN_ENOMEM;
    }
    int rc = t->net.len == 0 ? FLUMEN_OK : tr_send_raw(t, t->net.p, t->net.len, deadline, why,
                                                       whycap);
    t->net.len = 0;
    return rc;
}

/* TLS: receives some ciphertext (waiting until the deadline) and feeds it to
 * OpenSSL.  FLUMEN_OK, or FLUMEN_EIO / FLUMEN_ENOMEM with why naming the
 * peer and saying what failed during `what`; *timed_out tells a timeout. */
static int tr_tls_recv_some(struct tr_conn *t, uint64_t deadline, const char *what,
                            bool *timed_out, char *why, size_t whycap)
{
    char eb[128];
    *timed_out = false;
    for (;;) {
        ssize_t r = recv(t->fd, t->rbuf, TR_NET, 0);
        if (r > 0) {
            if (flm_avro_tls_feed(&t->t, t->rbuf, (size_t)r) != FLM_OK) {
                snprintf(why, whycap, "%s: out of memory for TLS input", t->peer);
                return FLUMEN_ENOMEM;
            }
            return FLUMEN_OK;
        }
        if (r == 0) {
            snprintf(why, whycap, "%s: connection closed by the server %s", t->peer, what);
            return FLUMEN_EIO;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            snprintf(why, whycap, "%s: receive failed %s: %s", t->peer, what,
                     strerror_r(errno, eb, sizeof(eb)));
            return FLUMEN_EIO;
        }
        int w = tr_wait(t->fd, POLLIN, deadline);
        if (w == FLM_EAGAIN) {
            *timed_out = true;
            snprintf(why, whycap, "%s: timed out %s", t->peer, what);
            return FLUMEN_EIO;
        }
        if (w != FLM_OK) {
            snprintf(why, whycap, "%s: poll failed: %s", t->peer,
                     strerror_r(errno, eb, sizeof(eb)));
            return FLUMEN_EIO;
        }
    }
}

/* TLS client handshake on the connected t->fd, finished before deadline.
 * FLUMEN_OK, or FLUMEN_ECONNECT / FLUMEN_ENOMEM with the reason (for a
 * refused certificate, the verification error and what to set) in why. */
static int tr_tls_open(struct tr_conn *t, SSL_CTX *ctx, const char *host, uint64_t deadline,
                       char *why, size_t whycap)
{
    if (flm_avro_tls_new(&t->t, ctx, false) != FLM_OK) {
        snprintf(why, whycap, "%s: out of memory for TLS", t->peer);
        return FLUMEN_ENOMEM;
    }
    t->tls = true;   /* tr_free releases the SSL from here on */
    if ((t->rbuf = malloc(TR_NET)) == NULL) {
        snprintf(why, whycap, "%s: out of memory for TLS", t->peer);
        return FLUMEN_ENOMEM;
    }
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a6) != 1 && inet_pton(AF_INET6, host, &a6) != 1)
        (void)SSL_set_tlsext_host_name(t->t.ssl, host);
    for (;;) {
        char hw[320];
        int hs = flm_avro_tls_handshake(&t->t, hw, sizeof(hw));
        int fr = tr_tls_flush(t, deadline, why, whycap); /* records, or the alert */
        if (hs == FLM_OK)
            return fr == FLUMEN_OK ? FLUMEN_OK : FLUMEN_ECONNECT;
        if (hs != FLM_EAGAIN) {
            const char *ve = flm_tls_verify_error(&t->t);
            if (ve != NULL)
                snprintf(why, whycap, "%s: TLS handshake failed: %.200s (server certificate "
                         "not trusted: %.80s; set truststore to its CA, or trust-all-certs = "
                         "true)", t->peer, hw, ve);
            else
                snprintf(why, whycap, "%s: TLS handshake failed: %s", t->peer, hw);
            return FLUMEN_ECONNECT;
        }
        if (fr != FLUMEN_OK)
            return fr == FLUMEN_ENOMEM ? fr : FLUMEN_ECONNECT;
        bool to;
        int rc = tr_tls_recv_some(t, deadline, "during the TLS handshake (is it a TLS server?)",
                                  &to, why, whycap);
        if (rc != FLUMEN_OK)
            return rc == FLUMEN_ENOMEM ? rc : FLUMEN_ECONNECT;
    }
}

static int thrift_open(void *arg, const struct flm_client_conf *conf,
                       const struct flm_client_host *h, void **conn, char *why, size_t whycap)
{
    (void)arg;
    struct tr_conn *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        snprintf(why, whycap, "out of memory");
        return FLUMEN_ENOMEM;
    }
    t->fd = -1;
    snprintf(t->peer, sizeof(t->peer), "%s:%d", h->host, h->port);
    flm_buf_init(&t->out, (size_t)0x7fffffff);
    flm_buf_init(&t->in, TR_REPLY_MAX + 4);
    flm_buf_init(&t->net, 2 * TR_TLS_SLICE + TR_NET);

    uint64_t deadline = flm_mono_ms() + (uint64_t)conf->connect_timeout;
    char reason[160];
    int sys;
    int rc = flm_net_connect(h->host, h->port, &deadline, tr_connect_wait, NULL, &t->fd, &sys,
                             reason, sizeof(reason));
    if (rc != FLM_OK) {
        if (rc == FLM_EAGAIN)
            snprintf(why, whycap, "cannot connect to %s: timed out after %d ms", t->peer,
                     conf->connect_timeout);
        else
            snprintf(why, whycap, "cannot connect to %s: %s", t->peer, reason);
        tr_free(t);
        return FLUMEN_ECONNECT;
    }
    if (conf->ssl_ctx != NULL) {
        rc = tr_tls_open(t, conf->ssl_ctx, h->host, deadline, why, whycap);
        if (rc != FLUMEN_OK) {
            tr_free(t);
            return rc;
        }
    }
    *conn = t;
    return FLUMEN_OK;
}

/* Writes p[0..n) to the socket before deadline. */
static int tr_send_raw(struct tr_conn *t, const uint8_t *p, size_t n, uint64_t deadline,
                       char *why, size_t whycap)
{
    char eb[128];
    while (n > 0) {
        ssize_t w = send(t->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int r = tr_wait(t->fd, POLLOUT, deadline);
            if (r == FLM_EAGAIN) {
                snprintf(why, whycap, "%s: request timed out while sending", t->peer);
                return FLUMEN_EIO;
            }
            if (r != FLM_OK) {
                snprintf(why, whycap, "%s: poll failed: %s", t->peer,
                         strerror_r(errno, eb, sizeof(eb)));
                return FLUMEN_EIO;
            }
            continue;
        }
        snprintf(why, whycap, "%s: send failed: %s", t->peer, strerror_r(errno, eb, sizeof(eb)));
        return FLUMEN_EIO;
    }
    return FLUMEN_OK;
}

/* Sends t->out: as is, or (TLS) encrypted in slices, so a big batch is not
 * held twice more in memory. */
static int tr_send(struct tr_conn *t, uint64_t deadline, char *why, size_t whycap)
{
    if (!t->tls)
        return tr_send_raw(t, t->out.p, t->out.len, deadline, why, whycap);
    int rc = FLUMEN_OK;
    for (size_t off = 0; off < t->out.len && rc == FLUMEN_OK; off += TR_TLS_SLICE) {
        size_t k = t->out.len - off < TR_TLS_SLICE ? t->out.len - off : TR_TLS_SLICE;
        char tw[300];
        if (flm_avro_tls_write(&t->t, t->out.p + off, k, tw, sizeof(tw)) != FLM_OK) {
            snprintf(why, whycap, "%s: TLS write failed: %s", t->peer, tw);
            return FLUMEN_EIO;
        }
        rc = tr_tls_flush(t, deadline, why, whycap);
    }
    return rc;
}

/* TLS: decrypts until t->in holds at least want bytes. */
static int tr_tls_recv(struct tr_conn *t, size_t want, uint64_t deadline, char *why,
                       size_t whycap)
{
    while (t->in.len < want) {
        if (flm_buf_reserve(&t->in, want - t->in.len) != FLM_OK) {
            snprintf(why, whycap, "%s: out of memory", t->peer);
            return FLUMEN_ENOMEM;
        }
        size_t got = 0;
        char tw[300];
        int rc = flm_avro_tls_read(&t->t, t->in.p + t->in.len, t->in.cap - t->in.len, &got, tw,
                                   sizeof(tw));
        if (rc == FLM_OK) {
            t->in.len += got;
            continue;
        }
        if (rc == FLM_ECLOSED) {
            snprintf(why, whycap, "%s: TLS session closed by the server before the reply",
                     t->peer);
            return FLUMEN_EIO;
        }
        if (rc != FLM_EAGAIN) {
            snprintf(why, whycap, "%s: TLS error: %s", t->peer, tw);
            return FLUMEN_EIO;
        }
        /* OpenSSL may have something to send first (e.g. a key update) */
        if ((rc = tr_tls_flush(t, deadline, why, whycap)) != FLUMEN_OK)
            return rc;
        bool to;
        rc = tr_tls_recv_some(t, deadline, "before the reply", &to, why, whycap);
        if (rc != FLUMEN_OK) {
            if (to)
                snprintf(why, whycap, "%s: no reply within request-timeout", t->peer);
            return rc;
        }
    }
    return FLUMEN_OK;
}

/* Reads until t->in holds at least want bytes. */
static int tr_recv(struct tr_conn *t, size_t want, uint64_t deadline, char *why, size_t whycap)
{
    char eb[128];
    if (t->tls)
        return tr_tls_recv(t, want, deadline, why, whycap);
    while (t->in.len < want) {
        if (flm_buf_reserve(&t->in, want - t->in.len) != FLM_OK) {
            snprintf(why, whycap, "%s: out of memory", t->peer);
            return FLUMEN_ENOMEM;
        }
        ssize_t r = recv(t->fd, t->in.p + t->in.len, t->in.cap - t->in.len, 0);
        if (r > 0) {
            t->in.len += (size_t)r;
            continue;
        }
        if (r == 0) {
            snprintf(why, whycap, "%s: connection closed by the server before the reply",
                     t->peer);
            return FLUMEN_EIO;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int w = tr_wait(t->fd, POLLIN, deadline);
            if (w == FLM_EAGAIN) {
                snprintf(why, whycap, "%s: no reply within request-timeout", t->peer);
                return FLUMEN_EIO;
            }
            if (w != FLM_OK) {
                snprintf(why, whycap, "%s: poll failed: %s", t->peer,
                         strerror_r(errno, eb, sizeof(eb)));
                return FLUMEN_EIO;
            }
            continue;
        }
        snprintf(why, whycap, "%s: receive failed: %s", t->peer,
                 strerror_r(errno, eb, sizeof(eb)));
        return FLUMEN_EIO;
    }
    return FLUMEN_OK;
}

static int thrift_call(void *arg, const struct flm_client_conf *conf, void *conn, int msg,
                       struct flm_event *const *evs, size_t n, char *why, size_t whycap)
{
    (void)arg;
    struct tr_conn *t = conn;
    enum flm_thrift_protocol pr = conf->thrift_binary ? FLM_THRIFT_BINARY : FLM_THRIFT_COMPACT;
    enum flm_thrift_method m =
        msg == FLM_CLIENT_APPEND ? FLM_THRIFT_M_APPEND : FLM_THRIFT_M_APPEND_BATCH;
    const char *mname = m == FLM_THRIFT_M_APPEND ? "append" : "appendBatch";
    t->out.len = 0;
    t->in.len = 0;
    if (t->seqid == INT32_MAX)
        t->seqid = 0;
    int32_t seq = ++t->seqid;
    int rc = flm_thrift_encode_call(pr, m, seq, evs, n, &t->out);
    if (rc != FLM_OK) {
        snprintf(why, whycap, "%s: cannot encode %zu event(s): %s", t->peer, n,
                 flm_strerror(rc));
        return rc == FLM_ENOMEM ? FLUMEN_ENOMEM : FLUMEN_EINVAL;
    }
    uint64_t deadline = flm_mono_ms() + (uint64_t)conf->request_timeout;
    if ((rc = tr_send(t, deadline, why, whycap)) != FLUMEN_OK)
        return rc;
    if ((rc = tr_recv(t, 4, deadline, why, whycap)) != FLUMEN_OK)
        return rc;
    size_t flen;
    char fwhy[160];
    if (flm_thrift_frame_len(t->in.p, t->in.len, TR_REPLY_MAX, &flen, fwhy, sizeof(fwhy)) !=
        FLM_OK) {
        snprintf(why, whycap, "%s: bad reply: %s", t->peer, fwhy);
        return FLUMEN_EPROTO;
    }
    if ((rc = tr_recv(t, 4 + flen, deadline, why, whycap)) != FLUMEN_OK)
        return rc;
    if (t->in.len != 4 + flen) {
        snprintf(why, whycap, "%s: %zu unexpected bytes after the reply", t->peer,
                 t->in.len - 4 - flen);
        return FLUMEN_EPROTO;
    }
    struct flm_thrift_reply rep;
    char dwhy[200];
    if (flm_thrift_decode_reply(pr, t->in.p + 4, flen, &rep, dwhy, sizeof(dwhy)) != FLM_OK) {
        snprintf(why, whycap, "%s: bad reply (%s protocol; does the source use the same?): %s",
                 t->peer, pr == FLM_THRIFT_BINARY ? "binary" : "compact", dwhy);
        return FLUMEN_EPROTO;
    }
    if (rep.msgtype == FLM_THRIFT_EXCEPTION) {
        snprintf(why, whycap, "%s: the server answered an exception (type %d): %s", t->peer,
                 rep.ex_type, rep.ex_msg);
        return FLUMEN_EPROTO;
    }
    if (rep.seqid != seq || strcmp(rep.name, mname) != 0) {
        snprintf(why, whycap, "%s: reply %s seqid %d does not match the call %s seqid %d",
                 t->peer, rep.name, rep.seqid, mname, seq);
        return FLUMEN_EPROTO;
    }
    if (rep.status != FLM_THRIFT_OK) {
        snprintf(why, whycap, "%s: the source answered %s for %zu event(s)", t->peer,
                 flm_thrift_status_name(rep.status), n);
        return FLUMEN_EREFUSED;
    }
    return FLUMEN_OK;
}

static void thrift_close(void *arg, void *conn)
{
    (void)arg;
    tr_free(conn);
}

const struct flm_client_ops flm_client_thrift_ops = {
    .open = thrift_open, .call = thrift_call, .close = thrift_close,
};
