/*
 * metrics_http.c - the /metrics HTTP server (spec/metrics.md 1), behaving
 * as Flume's Jetty-based HTTPMetricsServer.
 *
 * Sections:
 *   1. request-head parser and response builder: pure functions over
 *      buffers (http_parse.h), fuzzed by tests/fuzz/fuzz_http_request.c;
 *   2. connections: libuv read/write/shutdown state machine;
 *   3. server lifetime: start (bind + listen on the caller's thread, then a
 *      thread runs the loop), stop (uv_async -> the loop closes its own
 *      handles -> join -> uv_loop_close).
 *
 * Threads: flm_metrics_http_start/stop run on the agent's thread; everything
 * else, including every call of the render callback, runs on the server's
 * own thread, which owns the uv_loop and every handle on it.  The only
 * cross-thread touch after start is uv_async_send at stop.
 *
 * Connection invariants: a struct conn embeds its uv_tcp_t and is freed only
 * in its close callback.  Each request gets its whole response queued at
 * once (Content-Length always set).  Heads are capped at FLM_HTTP_MAX_HEAD
 * (431 then close), malformed input gets a 400 then close, request bodies
 * are read and discarded (up to BODY_CAP; longer or chunked bodies end the
 * connection after the response).  An orderly close shuts the write side
 * down and keeps reading (discarding) until the peer's EOF, LINGER_MS or
 * LINGER_CAP, so the peer never sees a reset before our response.  Idle
 * connections are closed after IDLE_MS; at most MAX_CONNS are open.
 */
#include "core/http_parse.h"

#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#define BODY_CAP (1u << 20)        /* bytes of request body read and discarded */
#define LINGER_CAP (1u << 20)      /* bytes discarded while lingering */
#define LINGER_MS 2000u            /* ms to wait for the peer's EOF after ours */
#define IDLE_MS 30000u             /* ms without traffic before a connection is closed */
#define SWEEP_MS 1000u             /* ms between idle/linger checks */
#define MAX_CONNS 1024u            /* open connections; more are accepted and closed */
#define MAX_REQS_PER_CONN 1000u    /* keep-alive requests before we close */
#define MAX_WRITE_QUEUE (8u << 20) /* bytes queued to a peer that does not read */
#define READ_CHUNK 16384u          /* bytes per read callback */

/* ============================================================ 1. parsing */

static bool is_tchar(uint8_t ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static int hexval(uint8_t ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static bool ieq(const uint8_t *s, size_t n, const char *lit)
{
    size_t m = strlen(lit);
    return n == m && strncasecmp((const char *)s, lit, m) == 0;
}

/* Decodes the request target t[0..n) into req->path (origin-form,
 * absolute-form or "*"); query and fragment dropped.  FLM_ERR if invalid. */
static int parse_target(const uint8_t *t, size_t n, struct flm_http_req *req)
{
    size_t i = 0;
    if (n >= 7 && (strncasecmp((const char *)t, "http://", 7) == 0 ||
                   (n >= 8 && strncasecmp((const char *)t, "https://", 8) == 0))) {
        i = t[4] == ':' ? 7 : 8;
        while (i < n && t[i] != '/' && t[i] != '?' && t[i] != '#')
            i++;
        if (i == n || t[i] != '/') {
            req->path[0] = '/';
            req->path[1] = '\0';
            return FLM_OK;
        }
    } else if (n == 1 && t[0] == '*') {
        req->path[0] = '*';
        req->path[1] = '\0';
        return FLM_OK;
    } else if (n == 0 || t[0] != '/') {
        return FLM_ERR;
    }
    size_t o = 0;
    for (; i < n && t[i] != '?' && t[i] != '#'; i++) {
        uint8_t ch = t[i];
        if (ch == '%') {
            int hi = i + 2 < n ? hexval(t[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(t[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return FLM_ERR;
            ch = (uint8_t)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 < FLM_HTTP_PATH_MAX)
            req->path[o++] = (char)ch;
        else
            req->path_truncated = true;
    }
    req->path[o] = '\0';
    return FLM_OK;
}

/* Handles one header line (name n[0..nl), value v[0..vl), trimmed). */
static int parse_header(const uint8_t *n, size_t nl, const uint8_t *v, size_t vl,
                        struct flm_http_req *req, bool *seen_cl, bool *conn_close, bool *conn_ka)
{
    if (ieq(n, nl, "content-length")) {
        if (vl == 0 || vl > 18)
            return FLM_ERR; /* > 18 digits could overflow; no real client sends that */
        uint64_t cl = 0;
        for (size_t i = 0; i < vl; i++) {
            if (v[i] < '0' || v[i] > '9')
                return FLM_ERR;
            cl = cl * 10 + (uint64_t)(v[i] - '0');
        }
        if (*seen_cl && cl != req->content_length)
            return FLM_ERR;
        *seen_cl = true;
        req->content_length = cl;
    } else if (ieq(n, nl, "transfer-encoding")) {
        req->body_until_close = true;
    } else if (ieq(n, nl, "connection")) {
        size_t i = 0;
        while (i < vl) {
            while (i < vl && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
                i++;
            size_t s = i;
            while (i < vl && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
                i++;
            if (ieq(v + s, i - s, "close"))
                *conn_close = true;
            else if (ieq(v + s, i - s, "keep-alive"))
                *conn_ka = true;
        }
    }
    return FLM_OK;
}

int flm_http_parse_head(const uint8_t *buf, size_t len, struct flm_http_req *req)
{
    memset(req, 0, sizeof(*req));
    size_t lim = len < FLM_HTTP_MAX_HEAD ? len : FLM_HTTP_MAX_HEAD;

    /* RFC 9112 2.2: ignore empty lines before the request line. */
    size_t start = 0;
    while (start < lim && (buf[start] == '\r' || buf[start] == '\n'))
        start++;

    /* End of head: an empty line ("\n\n" or "\n\r\n"; bare LF tolerated). */
    size_t end = 0;
    for (size_t j = start; j < lim && end == 0; j++) {
        if (buf[j] != '\n')
            continue;
        if (j + 1 < lim && buf[j + 1] == '\n')
            end = j + 2;
        else if (j + 2 < lim && buf[j + 1] == '\r' && buf[j + 2] == '\n')
            end = j + 3;
    }
    if (end == 0) {
        /* Fail early on bytes no head may hold (a TLS hello, binary junk)
         * instead of waiting for a blank line that never comes. */
        size_t i = start;
        while (i < lim && is_tchar(buf[i]))
            i++;
        if (i < lim && buf[i] != ' ')
            return FLM_ERR;
        for (; i < lim; i++)
            if ((buf[i] < 0x20 && buf[i] != '\t' && buf[i] != '\r' && buf[i] != '\n') ||
                buf[i] == 0x7f)
                return FLM_ERR;
        return len >= FLM_HTTP_MAX_HEAD ? FLM_EFULL : FLM_EAGAIN;
    }
    req->head_len = end;

    bool seen_cl = false, conn_close = false, conn_ka = false, first = true;
    size_t pos = start;
    for (;;) {
        const uint8_t *nl = memchr(buf + pos, '\n', end - pos);
        if (nl == NULL)
            return FLM_ERR; /* cannot happen: end follows a '\n' */
        size_t ll = (size_t)(nl - (buf + pos));
        const uint8_t *line = buf + pos;
        pos += ll + 1;
        if (ll > 0 && line[ll - 1] == '\r')
            ll--;
        for (size_t i = 0; i < ll; i++)
            if ((line[i] < 0x20 && line[i] != '\t') || line[i] == 0x7f)
                return FLM_ERR; /* CR, NUL and other controls inside a line */
        if (first) {
            /* METHOD SP request-target SP HTTP/1.x */
            first = false;
            size_t i = 0;
            while (i < ll && is_tchar(line[i]))
                i++;
            if (i == 0 || i >= ll || line[i] != ' ')
                return FLM_ERR;
            req->method_off = (size_t)(line - buf);
            req->method_len = i;
            size_t ts = ++i;
            while (i < ll && line[i] != ' ' && line[i] != '\t')
                i++;
            if (i >= ll || line[i] != ' ' || i == ts)
                return FLM_ERR;
            if (parse_target(line + ts, i - ts, req) != FLM_OK)
                return FLM_ERR;
            i++;
            if (ll - i != 8 || memcmp(line + i, "HTTP/1.", 7) != 0 || line[i + 7] < '0' ||
                line[i + 7] > '9')
                return FLM_ERR;
            req->minor = line[i + 7] - '0';
            req->head_only = req->method_len == 4 && memcmp(buf + req->method_off, "HEAD", 4) == 0;
            continue;
        }
        if (ll == 0)
            break; /* the blank line */
        if (line[0] == ' ' || line[0] == '\t')
            return FLM_ERR; /* obsolete line folding */
        size_t i = 0;
        while (i < ll && is_tchar(line[i]))
            i++;
        if (i == 0 || i >= ll || line[i] != ':')
            return FLM_ERR;
        size_t vs = i + 1, ve = ll;
        while (vs < ve && (line[vs] == ' ' || line[vs] == '\t'))
            vs++;
        while (ve > vs && (line[ve - 1] == ' ' || line[ve - 1] == '\t'))
            ve--;
        if (parse_header(line, i, line + vs, ve - vs, req, &seen_cl, &conn_close, &conn_ka) !=
            FLM_OK)
            return FLM_ERR;
    }
    if (seen_cl && req->body_until_close)
        return FLM_ERR; /* both framings: a smuggling attempt */
    req->keep_alive = req->minor >= 1 ? !conn_close : conn_ka && !conn_close;
    return FLM_OK;
}

enum flm_http_route flm_http_route(const uint8_t *buf, const struct flm_http_req *req)
{
    const uint8_t *m = buf + req->method_off;
    if (ieq(m, req->method_len, "TRACE") || ieq(m, req->method_len, "OPTIONS"))
        return FLM_HTTP_ROUTE_FORBIDDEN;
    if (req->path_truncated)
        return FLM_HTTP_ROUTE_NOT_FOUND;
    if (strcmp(req->path, "/") == 0)
        return FLM_HTTP_ROUTE_ROOT;
    if (strcasecmp(req->path, "/metrics") == 0)
        return FLM_HTTP_ROUTE_METRICS;
    if (strcasecmp(req->path, "/prometheus") == 0)
        return FLM_HTTP_ROUTE_PROMETHEUS;
    return FLM_HTTP_ROUTE_NOT_FOUND;
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    default:
        return "Error";
    }
}

#define CT_HTML_ERR "text/html;charset=iso-8859-1"
#define CT_HTML "text/html;charset=utf-8"
#define CT_JSON "application/json;charset=utf-8"
#define CT_PROM "text/plain; version=0.0.4; charset=utf-8"

static const char root_page[] =
    "<html><body>Agent metrics: <a href=\"./metrics\">./metrics</a></body></html>\n";

/* conn_hdr: 0 none, 1 "close", 2 "keep-alive" (HTTP/1.0 clients asking for it). */
static int emit(struct flm_buf *out, int status, const char *ctype, const void *body, size_t blen,
                bool head_only, int conn_hdr)
{
    int rc =
        flm_buf_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n",
                       status, reason(status), ctype, blen,
                       conn_hdr == 1   ? "Connection: close\r\n"
                       : conn_hdr == 2 ? "Connection: keep-alive\r\n"
                                       : "");
    if (rc == FLM_OK && !head_only)
        rc = flm_buf_append(out, body, blen);
    return rc;
}

static int error_page(int status, bool head_only, int conn_hdr, struct flm_buf *out)
{
    char body[200];
    int n = snprintf(body, sizeof(body),
                     "<html><head><title>Error %d %s</title></head>"
                     "<body><h2>HTTP ERROR %d %s</h2></body></html>\n",
                     status, reason(status), status, reason(status));
    return emit(out, status, CT_HTML_ERR, body, (size_t)n, head_only, conn_hdr);
}

int flm_http_error(int status, bool head_only, bool close, struct flm_buf *out)
{
    return error_page(status, head_only, close ? 1 : 0, out);
}

int flm_http_respond(const uint8_t *buf, const struct flm_http_req *req, bool close,
                     flm_metrics_render_fn render, void *arg, struct flm_buf *out)
{
    int conn_hdr = close ? 1 : req->minor == 0 ? 2 : 0;
    switch (flm_http_route(buf, req)) {
    case FLM_HTTP_ROUTE_FORBIDDEN:
        return error_page(403, req->head_only, conn_hdr, out);
    case FLM_HTTP_ROUTE_NOT_FOUND:
        return error_page(404, req->head_only, conn_hdr, out);
    case FLM_HTTP_ROUTE_ROOT:
        return emit(out, 200, CT_HTML, root_page, sizeof(root_page) - 1, req->head_only, conn_hdr);
    case FLM_HTTP_ROUTE_METRICS:
    case FLM_HTTP_ROUTE_PROMETHEUS:
        break;
    }
    bool prom = flm_http_route(buf, req) == FLM_HTTP_ROUTE_PROMETHEUS;
    struct flm_buf body;
    flm_buf_init(&body, FLM_HTTP_MAX_RESPONSE);
    int rc = render != NULL ? render(&body, prom ? 1 : 0, arg) : FLM_ERR;
    if (rc == FLM_OK)
        rc = emit(out, 200, prom ? CT_PROM : CT_JSON, body.p, body.len, req->head_only, conn_hdr);
    else
        rc = error_page(500, req->head_only, conn_hdr, out);
    flm_buf_free(&body);
    return rc;
}

/* ======================================================== 2. connections */

struct flm_metrics_http {
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_timer_t sweep;
    uv_async_t stop_async;
    pthread_t thread;
    bool loop_ok, listener_ok, sweep_ok, async_ok, thread_ok;
    bool stopping; /* server thread only */
    flm_metrics_render_fn render;
    void *arg;
    struct conn *conns; /* doubly linked, server thread only */
    unsigned nconns;
    int port;      /* bound port */
    char addr[80]; /* "host:port" for messages */
    struct flm_logctx log;
};

enum conn_state { C_HEAD, C_BODY, C_LINGER };

struct conn {
    uv_tcp_t tcp; /* first: the handle pointer is the conn pointer */
    struct flm_metrics_http *srv;
    struct conn *prev, *next;
    enum conn_state state;
    struct flm_buf in;  /* unparsed head bytes, max FLM_HTTP_MAX_HEAD */
    uint64_t body_left; /* bytes of request body still to discard */
    uint64_t last_ms;   /* loop time of the last traffic */
    uint64_t linger_ms; /* loop time lingering started */
    size_t lingered;    /* bytes discarded while lingering */
    unsigned nreq;      /* requests answered */
    unsigned pending;   /* writes queued */
    bool shutting;      /* uv_shutdown issued: no more requests */
    bool eof;           /* peer sent EOF */
    uv_shutdown_t sreq;
    char peer[64]; /* "ip:port" */
    char rbuf[READ_CHUNK];
};

struct wreq {
    uv_write_t req;
    struct flm_buf data;
};

static void on_conn_close(uv_handle_t *h)
{
    struct conn *c = (struct conn *)h;
    struct flm_metrics_http *m = c->srv;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        m->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    m->nconns--;
    flm_buf_free(&c->in);
    free(c);
}

static void conn_close(struct conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_conn_close);
}

static bool conn_dead(struct conn *c)
{
    return uv_is_closing((uv_handle_t *)&c->tcp);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;
    if (conn_dead(c))
        return;
    if (status < 0 || c->eof) {
        conn_close(c);
        return;
    }
    c->state = C_LINGER;
    c->linger_ms = uv_now(c->tcp.loop);
}

/* Orderly end: send FIN once queued writes are out, then linger. */
static void conn_finish(struct conn *c)
{
    if (c->shutting || conn_dead(c))
        return;
    c->shutting = true;
    c->sreq.data = c;
    if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
        conn_close(c);
}

static void on_write(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct conn *c = (struct conn *)req->handle;
    c->pending--;
    flm_buf_free(&w->data);
    free(w);
    if (conn_dead(c))
        return;
    c->last_ms = uv_now(c->tcp.loop);
    if (status < 0) {
        flm_debug(&c->srv->log, "%s: closing: write failed (%s)", c->peer, uv_strerror(status));
        conn_close(c);
    }
}

/* Queues the bytes of out (taken over: out is reset). */
static void conn_send(struct conn *c, struct flm_buf *out)
{
    struct wreq *w = malloc(sizeof(*w));
    if (w == NULL) {
        flm_buf_free(out);
        conn_close(c);
        return;
    }
    w->data = *out;
    flm_buf_init(out, out->max);
    uv_buf_t b = uv_buf_init((char *)w->data.p, (unsigned)w->data.len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
        flm_buf_free(&w->data);
        free(w);
        conn_close(c);
        return;
    }
    c->pending++;
}

static void send_error(struct conn *c, int status)
{
    struct flm_buf out;
    flm_buf_init(&out, 4096);
    if (flm_http_error(status, false, true, &out) == FLM_OK)
        conn_send(c, &out);
    flm_buf_free(&out);
}

/* Answers every complete request in c->in. */
static void process_in(struct conn *c)
{
    struct flm_metrics_http *m = c->srv;
    while (c->in.len > 0 && c->state == C_HEAD && !c->shutting && !conn_dead(c)) {
        struct flm_http_req req;
        int rc = flm_http_parse_head(c->in.p, c->in.len, &req);
        if (rc == FLM_EAGAIN)
            return;
        if (rc != FLM_OK) {
            flm_debug(&m->log, "%s: closing: %s", c->peer,
                      rc == FLM_EFULL ? "request head over 16384 bytes" : "malformed request head");
            send_error(c, rc == FLM_EFULL ? 431 : 400);
            conn_finish(c);
            return;
        }
        c->nreq++;
        bool close = !req.keep_alive || req.body_until_close || req.content_length > BODY_CAP ||
                     c->nreq >= MAX_REQS_PER_CONN || m->stopping;
        struct flm_buf out;
        flm_buf_init(&out, FLM_HTTP_MAX_RESPONSE + 4096);
        rc = flm_http_respond(c->in.p, &req, close, m->render, m->arg, &out);
        if (rc != FLM_OK) {
            flm_buf_free(&out);
            flm_warn(&m->log, "%s: cannot build the response (%s)", c->peer, flm_strerror(rc));
            flm_buf_init(&out, 4096);
            close = true;
            rc = flm_http_error(500, req.head_only, true, &out);
        }
        if (rc == FLM_OK)
            conn_send(c, &out);
        flm_buf_free(&out);
        flm_buf_consume(&c->in, req.head_len);
        if (close) {
            conn_finish(c);
            return;
        }
        size_t drop = c->in.len < req.content_length ? c->in.len : (size_t)req.content_length;
        flm_buf_consume(&c->in, drop);
        c->body_left = req.content_length - drop;
        if (c->body_left > 0)
            c->state = C_BODY;
        if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > MAX_WRITE_QUEUE) {
            flm_debug(&m->log, "%s: closing: peer does not read its responses", c->peer);
            conn_close(c);
            return;
        }
    }
}

/* Takes n received bytes: discards body bytes, buffers and answers heads. */
static void feed(struct conn *c, const uint8_t *p, size_t n)
{
    while (n > 0 && !c->shutting && !conn_dead(c)) {
        if (c->state == C_BODY) {
            size_t take = n < c->body_left ? n : (size_t)c->body_left;
            c->body_left -= take;
            p += take;
            n -= take;
            if (c->body_left == 0)
                c->state = C_HEAD;
            continue;
        }
        size_t room = FLM_HTTP_MAX_HEAD - c->in.len;
        if (FLM_NEVER(room == 0)) { /* the parser reports a full head as EFULL */
            conn_close(c);
            return;
        }
        size_t take = n < room ? n : room;
        if (flm_buf_append(&c->in, p, take) != FLM_OK) {
            conn_close(c);
            return;
        }
        p += take;
        n -= take;
        process_in(c);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct conn *c = (struct conn *)h;
    (void)suggested;
    *b = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct conn *c = (struct conn *)s;
    if (nread == 0 || conn_dead(c))
        return;
    if (nread < 0) {
        if (nread != UV_EOF)
            flm_debug(&c->srv->log, "%s: closing: read failed (%s)", c->peer,
                      uv_strerror((int)nread));
        c->eof = true;
        /* Let queued responses go out before closing. */
        if (nread == UV_EOF && c->pending > 0 && c->state != C_LINGER) {
            conn_finish(c); /* or already finishing: on_shutdown closes, seeing eof */
            return;
        }
        conn_close(c);
        return;
    }
    c->last_ms = uv_now(s->loop);
    if (c->state == C_LINGER || c->shutting) {
        c->lingered += (size_t)nread;
        if (c->lingered > LINGER_CAP)
            conn_close(c);
        return;
    }
    feed(c, (const uint8_t *)b->base, (size_t)nread);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct flm_metrics_http *m = server->data;
    if (status < 0) {
        flm_debug(&m->log, "accept failed (%s)", uv_strerror(status));
        return;
    }
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return;
    c->srv = m;
    flm_buf_init(&c->in, FLM_HTTP_MAX_HEAD);
    if (uv_tcp_init(&m->loop, &c->tcp) != 0) {
        free(c);
        return;
    }
    c->next = m->conns;
    if (m->conns != NULL)
        m->conns->prev = c;
    m->conns = c;
    m->nconns++;
    c->last_ms = uv_now(&m->loop);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    struct sockaddr_storage sa;
    int salen = sizeof(sa);
    char ip[48] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &salen) == 0) {
        if (sa.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&sa, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&sa, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
        }
    }
    snprintf(c->peer, sizeof(c->peer), "%s:%d", ip, port);
    if (m->nconns > MAX_CONNS || m->stopping) {
        flm_debug(&m->log, "%s: closing: over %u connections", c->peer, MAX_CONNS);
        conn_close(c);
        return;
    }
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        conn_close(c);
}

static void on_sweep(uv_timer_t *t)
{
    struct flm_metrics_http *m = t->data;
    uint64_t now = uv_now(&m->loop);
    for (struct conn *c = m->conns; c != NULL; c = c->next) {
        if (conn_dead(c))
            continue;
        if (c->state == C_LINGER && now - c->linger_ms > LINGER_MS)
            conn_close(c);
        else if (now - c->last_ms > IDLE_MS) {
            flm_debug(&m->log, "%s: closing: idle", c->peer);
            conn_close(c);
        }
    }
}

/* ==================================================== 3. server lifetime */

static void close_if(bool ok, uv_handle_t *h)
{
    if (ok && !uv_is_closing(h))
        uv_close(h, NULL);
}

/* On the loop's thread: closes every handle so uv_run returns. */
static void close_all(struct flm_metrics_http *m)
{
    m->stopping = true;
    close_if(m->listener_ok, (uv_handle_t *)&m->listener);
    close_if(m->sweep_ok, (uv_handle_t *)&m->sweep);
    close_if(m->async_ok, (uv_handle_t *)&m->stop_async);
    for (struct conn *c = m->conns; c != NULL; c = c->next)
        conn_close(c);
}

static void on_stop(uv_async_t *a)
{
    close_all(a->data);
}

static void *server_main(void *arg)
{
    struct flm_metrics_http *m = arg;
    uv_run(&m->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Closes the loop (the thread is joined or never ran); returns
 * uv_loop_close's first result and frees m. */
static int teardown(struct flm_metrics_http *m)
{
    int rc = 0;
    if (m->loop_ok) {
        if (!m->thread_ok) {
            /* Never ran: close our handles on this thread. */
            close_all(m);
            uv_run(&m->loop, UV_RUN_DEFAULT);
        }
        rc = uv_loop_close(&m->loop);
        if (rc != 0) {
            flm_error(&m->log, "metrics server on %s: event loop not closed cleanly (%s)", m->addr,
                      uv_strerror(rc));
            uv_walk(&m->loop, walk_close, NULL);
            uv_run(&m->loop, UV_RUN_DEFAULT);
            (void)uv_loop_close(&m->loop);
        }
    }
    free(m);
    return rc;
}

int flm_metrics_http_start(const char *host, int port, flm_metrics_render_fn render, void *arg,
                           struct flm_metrics_http **out, struct flm_err *err)
{
    *out = NULL;
    if (host == NULL || host[0] == '\0')
        host = "0.0.0.0";
    if (port < 0 || port > 65535)
        return flm_err_set(err, FLM_ERR, "metrics server: invalid port %d (0..65535)", port);
    struct flm_metrics_http *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return flm_err_set(err, FLM_ENOMEM, "metrics server: out of memory");
    m->render = render;
    m->arg = arg;
    flm_logctx_init(&m->log, "metrics", "http");
    snprintf(m->addr, sizeof(m->addr), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);

    struct sockaddr_storage sa;
    int rc;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&sa) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&sa) != 0) {
        rc = flm_err_set(err, FLM_ERR,
                         "metrics server: cannot listen on %s: not a numeric IP address", m->addr);
        goto fail;
    }
    if ((rc = uv_loop_init(&m->loop)) != 0)
        goto uvfail;
    m->loop_ok = true;
    if ((rc = uv_tcp_init(&m->loop, &m->listener)) != 0)
        goto uvfail;
    m->listener_ok = true;
    m->listener.data = m;
    if ((rc = uv_timer_init(&m->loop, &m->sweep)) != 0)
        goto uvfail;
    m->sweep_ok = true;
    m->sweep.data = m;
    if ((rc = uv_async_init(&m->loop, &m->stop_async, on_stop)) != 0)
        goto uvfail;
    m->async_ok = true;
    m->stop_async.data = m;
    /* libuv sets SO_REUSEADDR on Unix, as Flume's Jetty connector does;
     * EADDRINUSE may surface from bind or only from listen. */
    if ((rc = uv_tcp_bind(&m->listener, (const struct sockaddr *)&sa, 0)) != 0)
        goto uvfail;
    if ((rc = uv_listen((uv_stream_t *)&m->listener, 128, on_connection)) != 0)
        goto uvfail;
    int salen = sizeof(sa);
    if ((rc = uv_tcp_getsockname(&m->listener, (struct sockaddr *)&sa, &salen)) != 0)
        goto uvfail;
    m->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                             : ((struct sockaddr_in *)&sa)->sin_port);
    snprintf(m->addr, sizeof(m->addr), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, m->port);
    if ((rc = uv_timer_start(&m->sweep, on_sweep, SWEEP_MS, SWEEP_MS)) != 0)
        goto uvfail;

    /* The server thread takes no asynchronous signals (SIGPIPE included:
     * a write to a vanished peer then fails with EPIPE instead). */
    sigset_t all, old;
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    sigdelset(&all, SIGABRT);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int prc = pthread_create(&m->thread, NULL, server_main, m);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (prc != 0) {
        rc = flm_err_set(err, FLM_ERR, "metrics server on %s: cannot start its thread (%s)",
                         m->addr, uv_strerror(-prc));
        if (err != NULL)
            err->sys = prc;
        goto fail;
    }
    m->thread_ok = true;
    flm_info(&m->log, "metrics server listening on %s", m->addr);
    *out = m;
    return FLM_OK;

uvfail:
    if (err != NULL) {
        flm_err_set(err, FLM_EIO, "metrics server: cannot listen on %s: %s (%s)", m->addr,
                    uv_strerror(rc), uv_err_name(rc));
        err->sys = -rc;
    }
    rc = FLM_EIO;
fail:
    teardown(m);
    return rc;
}

int flm_metrics_http_stop_checked(struct flm_metrics_http *m)
{
    if (m == NULL)
        return 0;
    if (m->thread_ok) {
        uv_async_send(&m->stop_async);
        pthread_join(m->thread, NULL);
    }
    return teardown(m);
}

void flm_metrics_http_stop(struct flm_metrics_http *m)
{
    (void)flm_metrics_http_stop_checked(m);
}

int flm_metrics_http_port(const struct flm_metrics_http *m)
{
    return m != NULL ? m->port : -1;
}
