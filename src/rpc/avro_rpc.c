/*
 * avro_rpc.c - blocking Avro RPC client connection (see avro_rpc.h).  Runs
 * on the caller's thread (a sink runner, the avro-client CLI, a bench
 * thread); owns its socket, zlib streams and buffers.  Sockets are
 * non-blocking and waited on with poll() in slices of at most 100 ms so an
 * abort flag (sink stop) is honoured promptly.
 */
#include "rpc/avro_rpc.h"

#include "core/net.h"

#include "core/counters.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RBUF (256u * 1024)
#define RESP_MAX (1u << 20)   /* a response is tiny; anything bigger is an error */

static bool aborted(const struct flm_avro_conn *c)
{
    return c->abort != NULL && atomic_load_explicit(c->abort, memory_order_relaxed);
}

/* Waits for ev on fd until deadline (mono ms).  FLM_OK, FLM_EAGAIN on
 * timeout, FLM_ECLOSED on abort, FLM_EIO on error. */
static int wait_fd(struct flm_avro_conn *c, short ev, uint64_t deadline)
{
    for (;;) {
        if (aborted(c))
            return FLM_ECLOSED;
        uint64_t now = flm_mono_ms();
        if (now >= deadline)
            return FLM_EAGAIN;
        uint64_t slice = deadline - now;
        if (slice > 100)
            slice = 100;
        struct pollfd p = {.fd = c->fd, .events = ev};
        int r = poll(&p, 1, (int)slice);
        if (r > 0)
            return FLM_OK;
        if (r < 0 && errno != EINTR)
            return FLM_EIO;
    }
}

/* flm_net_connect's wait: the connect in progress, cut short by abort. */
static int connect_wait(void *arg, int fd, short ev, uint64_t *deadline)
{
    struct flm_avro_conn *c = arg;
    int saved = c->fd;
    c->fd = fd;
    int r = wait_fd(c, ev, *deadline);
    c->fd = saved;
    return r;
}

void flm_avro_close(struct flm_avro_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    flm_avro_zout_end(&c->zout);
    flm_avro_zin_end(&c->zin);
    flm_buf_free(&c->req);
    flm_buf_free(&c->wire);
    flm_avro_framer_free(&c->fr);
    free(c->rbuf);
    free(c->zbuf);
    c->rbuf = c->zbuf = NULL;
    flm_avro_tls_free(&c->t);
    flm_buf_free(&c->net);
    free(c->tbuf);
    c->tbuf = NULL;
    c->tls = false;
    c->established = false;
}

static int tls_handshake(struct flm_avro_conn *c, uint64_t deadline, struct flm_err *err);

int flm_avro_connect(struct flm_avro_conn *c, const char *host, int port, int timeout_ms,
                     int level, const _Atomic bool *abort, struct flm_err *err)
{
    return flm_avro_connect_tls(c, host, port, timeout_ms, level, NULL, abort, err);
}

int flm_avro_connect_tls(struct flm_avro_conn *c, const char *host, int port, int timeout_ms,
                         int level, SSL_CTX *ctx, const _Atomic bool *abort,
                         struct flm_err *err)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->abort = abort;
    snprintf(c->peer, sizeof(c->peer), "%s:%d", host, port);
    flm_buf_init(&c->req, (size_t)1 << 31);
    flm_buf_init(&c->wire, (size_t)1 << 31);
    flm_avro_framer_init(&c->fr, RESP_MAX);
    c->rbuf = malloc(RBUF);
    if (c->rbuf == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    if (level >= 0) {
        c->deflate = true;
        c->zbuf = malloc(RBUF);
        if (c->zbuf == NULL || flm_avro_zout_init(&c->zout, level) != FLM_OK ||
            flm_avro_zin_init(&c->zin) != FLM_OK) {
            flm_avro_close(c);
            return flm_err_set(err, FLM_ENOMEM, "out of memory");
        }
    }

    uint64_t deadline = flm_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 1);
    char why[160];
    int sys = 0;
    int rc = flm_net_connect(host, port, &deadline, connect_wait, c, &c->fd, &sys, why,
                             sizeof(why));
    if (rc != FLM_OK) {
        flm_avro_close(c);
        flm_err_set(err, FLM_EIO, "cannot connect to %s: %s", c->peer, why);
        if (err != NULL)
            err->sys = sys;
        return FLM_EIO;
    }
    if (ctx != NULL) {
        c->tls = true;
        flm_buf_init(&c->net, (size_t)1 << 31);
        c->tbuf = malloc(RBUF);
        if (c->tbuf == NULL || flm_avro_tls_new(&c->t, ctx, false) != FLM_OK) {
            flm_avro_close(c);
            return flm_err_set(err, FLM_ENOMEM, "out of memory");
        }
        rc = tls_handshake(c, deadline, err);
        if (rc != FLM_OK) {
            flm_avro_close(c);
            return rc;
        }
    }
    return FLM_OK;
}

static int send_all(struct flm_avro_conn *c, const uint8_t *p, size_t n, uint64_t deadline,
                    struct flm_err *err)
{
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            int e = errno;
            flm_err_set(err, FLM_EIO, "%s: send failed: %s", c->peer, strerror(e));
            return FLM_EIO;
        }
        int r = wait_fd(c, POLLOUT, deadline);
        if (r == FLM_EAGAIN)
            return flm_err_set(err, FLM_EIO, "%s: request timed out while sending", c->peer);
        if (r != FLM_OK)
            return flm_err_set(err, r, "%s: %s", c->peer,
                               r == FLM_ECLOSED ? "stopping" : "poll failed");
    }
    return FLM_OK;
}

/* Sends bytes that are already past the TLS layer (compressing them). */
static int send_net(struct flm_avro_conn *c, const uint8_t *p, size_t n, uint64_t deadline,
                    struct flm_err *err)
{
    if (!c->deflate)
        return send_all(c, p, n, deadline, err);
    c->wire.len = 0;
    int rc = flm_avro_zout_write(&c->zout, p, n, &c->wire);
    if (rc != FLM_OK)
        return flm_err_set(err, rc, "%s: compression failed", c->peer);
    return send_all(c, c->wire.p, c->wire.len, deadline, err);
}

/* Sends what TLS has produced. */
static int tls_flush(struct flm_avro_conn *c, uint64_t deadline, struct flm_err *err)
{
    c->net.len = 0;
    if (flm_avro_tls_drain(&c->t, &c->net) != FLM_OK)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    return c->net.len ? send_net(c, c->net.p, c->net.len, deadline, err) : FLM_OK;
}

/* Reads some bytes and pushes them through zlib into TLS (handshake). */
static int recv_into_tls(struct flm_avro_conn *c, uint64_t deadline, struct flm_err *err)
{
    for (;;) {
        ssize_t r = recv(c->fd, c->rbuf, RBUF, 0);
        if (r == 0)
            return flm_err_set(err, FLM_EIO, "%s: connection closed by the server during the "
                               "TLS handshake", c->peer);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                int w = wait_fd(c, POLLIN, deadline);
                if (w == FLM_EAGAIN)
                    return flm_err_set(err, FLM_EIO, "%s: TLS handshake timed out", c->peer);
                if (w != FLM_OK)
                    return flm_err_set(err, w, "%s: %s", c->peer,
                                       w == FLM_ECLOSED ? "stopping" : "poll failed");
                continue;
            }
            int e = errno;
            return flm_err_set(err, FLM_EIO, "%s: receive failed: %s", c->peer, strerror(e));
        }
        const uint8_t *p = c->rbuf;
        size_t n = (size_t)r;
        char why[160];
        while (n > 0) {
            const uint8_t *q = p;
            size_t qn = n;
            if (c->deflate) {
                size_t before = n;
                if (flm_avro_zin_step(&c->zin, &p, &n, c->zbuf, RBUF, &qn, why, sizeof(why)) !=
                    FLM_OK)
                    return flm_err_set(err, FLM_ECORRUPT, "%s: %s", c->peer, why);
                q = c->zbuf;
                if (qn == 0 && n == before)
                    break;
            } else {
                n = 0;
            }
            if (flm_avro_tls_feed(&c->t, q, qn) != FLM_OK)
                return flm_err_set(err, FLM_ENOMEM, "out of memory");
        }
        return FLM_OK;
    }
}

static int tls_handshake(struct flm_avro_conn *c, uint64_t deadline, struct flm_err *err)
{
    for (;;) {
        char why[300];
        int rc = flm_avro_tls_handshake(&c->t, why, sizeof(why));
        int fr = tls_flush(c, deadline, err);
        if (fr != FLM_OK)
            return fr;
        if (rc == FLM_OK)
            return FLM_OK;
        if (rc != FLM_EAGAIN)
            return flm_err_set(err, FLM_EIO, "%s: %s", c->peer, why);
        if ((rc = recv_into_tls(c, deadline, err)) != FLM_OK)
            return rc;
    }
}

/* Feeds bytes past the zlib layer to TLS (when on) and the framer.  FLM_OK:
 * a frame is complete; FLM_EAGAIN: need more. */
static int push_net(struct flm_avro_conn *c, const uint8_t *q, size_t qn, bool more,
                    struct flm_err *err)
{
    char why[300];
    if (c->tls) {
        if (flm_avro_tls_feed(&c->t, q, qn) != FLM_OK)
            return flm_err_set(err, FLM_ENOMEM, "out of memory");
        for (;;) {
            size_t got;
            int rc = flm_avro_tls_read(&c->t, c->tbuf, RBUF, &got, why, sizeof(why));
            if (rc == FLM_EAGAIN)
                return FLM_EAGAIN;
            if (rc == FLM_ECLOSED)
                return flm_err_set(err, FLM_EIO, "%s: TLS session closed by the server",
                                   c->peer);
            if (rc != FLM_OK)
                return flm_err_set(err, FLM_EIO, "%s: TLS error: %s", c->peer, why);
            size_t used;
            int fr = flm_avro_framer_feed(&c->fr, c->tbuf, got, &used, why, sizeof(why));
            if (fr == FLM_OK) {
                if (used < got)
                    return flm_err_set(err, FLM_ECORRUPT, "%s: unexpected bytes after the "
                                       "response", c->peer);
                return FLM_OK;
            }
            if (fr != FLM_EAGAIN)
                return flm_err_set(err, FLM_ECORRUPT, "%s: bad response frame: %s", c->peer,
                                   why);
        }
    }
    while (qn > 0) {
        size_t used;
        int fr = flm_avro_framer_feed(&c->fr, q, qn, &used, why, sizeof(why));
        q += used;
        qn -= used;
        if (fr == FLM_OK) {
            if (qn > 0 || more)
                return flm_err_set(err, FLM_ECORRUPT, "%s: unexpected bytes after the "
                                   "response", c->peer);
            return FLM_OK;
        }
        if (fr != FLM_EAGAIN)
            return flm_err_set(err, FLM_ECORRUPT, "%s: bad response frame: %s", c->peer, why);
    }
    return FLM_EAGAIN;
}

/* Reads until one complete response frame is in c->fr. */
static int recv_frame(struct flm_avro_conn *c, uint64_t deadline, struct flm_err *err)
{
    for (;;) {
        ssize_t r = recv(c->fd, c->rbuf, RBUF, 0);
        if (r == 0)
            return flm_err_set(err, FLM_EIO, "%s: connection closed by the server", c->peer);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                int w = wait_fd(c, POLLIN, deadline);
                if (w == FLM_EAGAIN)
                    return flm_err_set(err, FLM_EIO, "%s: no response within the request "
                                       "timeout", c->peer);
                if (w != FLM_OK)
                    return flm_err_set(err, w, "%s: %s", c->peer,
                                       w == FLM_ECLOSED ? "stopping" : "poll failed");
                continue;
            }
            int e = errno;
            return flm_err_set(err, FLM_EIO, "%s: receive failed: %s", c->peer, strerror(e));
        }
        const uint8_t *p = c->rbuf;
        size_t n = (size_t)r;
        char why[160];
        while (n > 0) {
            const uint8_t *q = p;
            size_t qn = n;
            if (c->deflate) {
                size_t before = n;
                if (flm_avro_zin_step(&c->zin, &p, &n, c->zbuf, RBUF, &qn, why, sizeof(why)) !=
                    FLM_OK)
                    return flm_err_set(err, FLM_ECORRUPT, "%s: %s (is the server's "
                                       "compression-type deflate?)", c->peer, why);
                q = c->zbuf;
                if (qn == 0 && n == before)
                    break;
            } else {
                n = 0;
            }
            int pr = push_net(c, q, qn, n > 0, err);
            if (pr != FLM_EAGAIN)
                return pr;
        }
    }
}

int flm_avro_call(struct flm_avro_conn *c, int msg, struct flm_event *const *evs, size_t n,
                  int timeout_ms, int *status, struct flm_err *err)
{
    uint64_t deadline = flm_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 1);
    for (int attempt = 0; attempt < 2; attempt++) {
        bool hs = !c->established;
        size_t mark;
        c->req.len = 0;
        c->serial++;
        int rc = flm_avro_frame_begin(&c->req, &mark);
        if (rc == FLM_OK && hs)
            rc = flm_avro_put_hsreq(&c->req, c->have_server_hash ? c->server_hash : NULL);
        if (rc == FLM_OK)
            rc = flm_avro_put_call(&c->req, msg, evs, n);
        if (rc == FLM_OK)
            rc = flm_avro_frame_end(&c->req, mark, c->serial);
        if (rc != FLM_OK)
            return flm_err_set(err, rc, "%s: cannot encode a request of %zu event(s)", c->peer,
                               n);
        if (c->tls) {
            char why[300];
            if (flm_avro_tls_write(&c->t, c->req.p, c->req.len, why, sizeof(why)) != FLM_OK)
                return flm_err_set(err, FLM_EIO, "%s: TLS write failed: %s", c->peer, why);
            rc = tls_flush(c, deadline, err);
        } else {
            rc = send_net(c, c->req.p, c->req.len, deadline, err);
        }
        if (rc != FLM_OK)
            return rc;
        flm_avro_framer_next(&c->fr);
        if ((rc = recv_frame(c, deadline, err)) != FLM_OK)
            return rc;
        if (c->fr.serial != c->serial)
            return flm_err_set(err, FLM_ECORRUPT, "%s: response serial %u does not match "
                               "request %u", c->peer, c->fr.serial, c->serial);
        struct flm_avro_rd r;
        struct flm_avro_hsresp h;
        bool has;
        char etext[400];
        flm_avro_rd_init(&r, c->fr.msg.p, c->fr.msg.len);
        rc = flm_avro_get_response(&r, hs, &h, &has, status, etext, sizeof(etext));
        if (rc != FLM_OK) {
            /* A server whose handshake failed answers with an error only. */
            if (hs) {
                flm_avro_rd_init(&r, c->fr.msg.p, c->fr.msg.len);
                if (flm_avro_get_response(&r, false, &h, &has, status, etext, sizeof(etext)) ==
                        FLM_OK && has && *status < 0)
                    return flm_err_set(err, FLM_ERR, "%s: handshake refused: %s", c->peer,
                                       etext);
            }
            return flm_err_set(err, FLM_ECORRUPT, "%s: undecodable response", c->peer);
        }
        if (hs) {
            if (h.has_hash) {
                memcpy(c->server_hash, h.server_hash, 16);
                c->have_server_hash = true;
            }
            if (h.match == FLM_AVRO_NONE)
                continue;   /* resend; our protocol text travels with every handshake */
            c->established = true;
        }
        if (!has)
            return flm_err_set(err, FLM_ECORRUPT, "%s: response without a result", c->peer);
        if (*status < 0)
            return flm_err_set(err, FLM_ERR, "%s: server error: %s", c->peer, etext);
        return FLM_OK;
    }
    return flm_err_set(err, FLM_ECORRUPT, "%s: the server does not accept the "
                       "AvroSourceProtocol (handshake answered NONE twice)", c->peer);
}
