/*
 * metrics_http_test.c - the metrics HTTP server over loopback with a raw
 * socket client (Flume's Jetty behaviour, spec/metrics.md 1), and the pure
 * request-head parser behind it.  The server runs on its own thread; the
 * test thread is the client.  Every socket read has a 5 s timeout so a
 * server bug fails the test instead of hanging it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/http_parse.h"
#include "core/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------ fixtures */

static const struct flm_type fake_src_type = {.kind = FLM_SOURCE, .alias = "fakesrc"};
static struct flm_source fake_src;
static _Atomic int render_calls;
static _Atomic int render_fail;
static _Atomic int render_big; /* bytes of filler to render instead */

static int render(struct flm_buf *out, int what, void *arg)
{
    struct flm_component *comps[] = {&fake_src.c};
    (void)arg;
    atomic_fetch_add(&render_calls, 1);
    if (atomic_load(&render_fail))
        return FLM_ERR;
    if (atomic_load(&render_big) > 0) {
        int rc = flm_buf_reserve(out, (size_t)atomic_load(&render_big));
        if (rc == FLM_OK) {
            memset(out->p + out->len, 'a', (size_t)atomic_load(&render_big));
            out->len += (size_t)atomic_load(&render_big);
        }
        return rc;
    }
    return what == 0 ? flm_metrics_json(out, comps, 1) : flm_metrics_prometheus(out, comps, 1);
}

struct fx {
    struct flm_metrics_http *m;
    int port;
};

static int setup(void **state)
{
    static struct fx fx;
    memset(&fake_src, 0, sizeof(fake_src));
    fake_src.c.type = &fake_src_type;
    snprintf(fake_src.c.name, sizeof(fake_src.c.name), "r1");
    fake_src.c.ctr.visible = true;
    flm_ctr_set(&fake_src.c.ctr, FLM_SRC_EVENT_RECEIVED, 12);
    atomic_store(&render_fail, 0);
    atomic_store(&render_big, 0);
    struct flm_err err = {0};
    assert_int_equal(flm_metrics_http_start("127.0.0.1", 0, render, NULL, &fx.m, &err), FLM_OK);
    fx.port = flm_metrics_http_port(fx.m);
    assert_true(fx.port > 0);
    *state = &fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(flm_metrics_http_stop_checked(fx->m), 0);
    atomic_store(&render_fail, 0);
    atomic_store(&render_big, 0);
    return 0;
}

/* ------------------------------------------------------ client helpers */

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        c += w;
        n -= (size_t)w;
    }
}

/* Reads until EOF; fails the test on a timeout. Returns bytes, buf NUL-terminated. */
static size_t read_to_eof(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r == 0)
            break;
        if (r < 0 && errno == ECONNRESET)
            break;
        assert_true(r > 0); /* a timeout here means the server did not close */
        n += (size_t)r;
        assert_true(n < cap - 1);
    }
    buf[n] = '\0';
    return n;
}

struct resp {
    int status;
    char ctype[128];
    char conn[32];
    long clen;
    const char *body;
    size_t blen;
    size_t total; /* bytes of this response */
};

/* Parses one response at buf (len bytes); head_only: no body follows. */
static int parse_resp(const char *buf, size_t len, bool head_only, struct resp *r)
{
    memset(r, 0, sizeof(*r));
    r->clen = -1;
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (end == NULL || sscanf(buf, "HTTP/1.1 %d ", &r->status) != 1)
        return -1;
    for (const char *l = strstr(buf, "\r\n") + 2; l < end; l = strstr(l, "\r\n") + 2) {
        if (strncasecmp(l, "Content-Type: ", 14) == 0)
            sscanf(l + 14, "%127[^\r]", r->ctype);
        else if (strncasecmp(l, "Content-Length: ", 16) == 0)
            r->clen = strtol(l + 16, NULL, 10);
        else if (strncasecmp(l, "Connection: ", 12) == 0)
            sscanf(l + 12, "%31[^\r]", r->conn);
    }
    r->body = end + 4;
    r->blen = head_only ? 0 : (size_t)(r->clen < 0 ? 0 : r->clen);
    r->total = (size_t)(r->body - buf) + r->blen;
    return r->total <= len ? 0 : -1;
}

static char rbuf[1 << 20];

/* One request on a fresh connection, read to EOF, exactly one response. */
static struct resp roundtrip(int port, const char *req, bool head_only)
{
    int fd = dial(port);
    send_all(fd, req, strlen(req));
    size_t n = read_to_eof(fd, rbuf, sizeof(rbuf));
    close(fd);
    struct resp r;
    assert_int_equal(parse_resp(rbuf, n, head_only, &r), 0);
    assert_int_equal(r.total, n);
    assert_true(r.clen >= 0);
    return r;
}

static void get_status(int port, const char *method, const char *target, int want,
                       const char *ctype)
{
    char req[512];
    snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", method,
             target);
    struct resp r = roundtrip(port, req, strcmp(method, "HEAD") == 0);
    if (r.status != want)
        fail_msg("%s %s: status %d, want %d", method, target, r.status, want);
    if (ctype != NULL)
        assert_string_equal(r.ctype, ctype);
}

/* ------------------------------------------------------ server tests */

static void get_metrics_returns_flume_json(void **state)
{
    struct fx *fx = *state;
    struct resp r =
        roundtrip(fx->port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "application/json;charset=utf-8");
    assert_string_equal(r.conn, "close");
    struct flm_buf want;
    struct flm_component *comps[] = {&fake_src.c};
    flm_buf_init(&want, 1 << 20);
    assert_int_equal(flm_metrics_json(&want, comps, 1), FLM_OK);
    assert_int_equal(r.blen, want.len);
    assert_memory_equal(r.body, want.p, want.len);
    assert_non_null(strstr(r.body, "\"SOURCE.r1\":{\"Type\":\"SOURCE\""));
    assert_non_null(strstr(r.body, "\"EventReceivedCount\":\"12\""));
    flm_buf_free(&want);
}

static void metrics_path_is_case_insensitive_and_ignores_query(void **state)
{
    struct fx *fx = *state;
    const char *json = "application/json;charset=utf-8";
    get_status(fx->port, "GET", "/METRICS", 200, json);
    get_status(fx->port, "GET", "/Metrics?x=1", 200, json);
    get_status(fx->port, "GET", "/metrics?x=1", 200, json);
    get_status(fx->port, "GET", "/%6detrics", 200, json);
    get_status(fx->port, "GET", "http://localhost:1/metrics", 200, json);
    get_status(fx->port, "GET", "/metrics/", 404, "text/html;charset=iso-8859-1");
    get_status(fx->port, "GET", "/foo", 404, "text/html;charset=iso-8859-1");
    get_status(fx->port, "GET", "/metricsx", 404, NULL);
}

static void every_method_but_trace_and_options_is_served(void **state)
{
    struct fx *fx = *state;
    const char *json = "application/json;charset=utf-8";
    get_status(fx->port, "POST", "/metrics", 200, json);
    get_status(fx->port, "PUT", "/metrics", 200, json);
    get_status(fx->port, "DELETE", "/metrics", 200, json);
    get_status(fx->port, "PATCH", "/metrics", 200, json);
    get_status(fx->port, "TRACE", "/metrics", 403, "text/html;charset=iso-8859-1");
    get_status(fx->port, "OPTIONS", "/metrics", 403, NULL);
    get_status(fx->port, "OPTIONS", "*", 403, NULL);
    get_status(fx->port, "trace", "/", 403, NULL);
    get_status(fx->port, "TRACE", "/foo", 403, NULL);
}

static void root_serves_a_page_linking_metrics(void **state)
{
    struct fx *fx = *state;
    struct resp r = roundtrip(fx->port, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/html;charset=utf-8");
    assert_non_null(strstr(r.body, "href=\"./metrics\""));
    assert_non_null(memchr(r.body, '\n', r.blen));
    assert_ptr_equal(memchr(r.body, '\n', r.blen), r.body + r.blen - 1); /* one line */
}

static void head_gets_headers_without_body(void **state)
{
    struct fx *fx = *state;
    struct resp r =
        roundtrip(fx->port, "HEAD /metrics HTTP/1.1\r\nConnection: close\r\n\r\n", true);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "application/json;charset=utf-8");
    assert_true(r.clen > 10); /* the length a GET would get */
    get_status(fx->port, "HEAD", "/nothing", 404, NULL);
}

static void prometheus_path_serves_text(void **state)
{
    struct fx *fx = *state;
    struct resp r =
        roundtrip(fx->port, "GET /prometheus HTTP/1.1\r\nConnection: close\r\n\r\n", false);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(strstr(r.body, "flume_source_event_received_count{component=\"r1\"} 12\n"));
}

static void render_failure_gives_500(void **state)
{
    struct fx *fx = *state;
    atomic_store(&render_fail, 1);
    get_status(fx->port, "GET", "/metrics", 500, NULL);
}

static void keep_alive_serves_pipelined_requests_and_discards_bodies(void **state)
{
    struct fx *fx = *state;
    int fd = dial(fx->port);
    const char *reqs = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
                       "POST /metrics HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world"
                       "GET /foo HTTP/1.1\r\n\r\n"
                       "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                       "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n";
    /* in small pieces, so heads and bodies straddle reads */
    for (size_t i = 0, n = strlen(reqs); i < n; i += 7) {
        send_all(fd, reqs + i, n - i < 7 ? n - i : 7);
        usleep(200);
    }
    size_t n = read_to_eof(fd, rbuf, sizeof(rbuf));
    close(fd);
    int want[] = {200, 200, 404, 200, 200};
    size_t off = 0;
    for (size_t i = 0; i < 5; i++) {
        struct resp r;
        assert_int_equal(parse_resp(rbuf + off, n - off, false, &r), 0);
        assert_int_equal(r.status, want[i]);
        if (i == 3)
            assert_string_equal(r.conn, "keep-alive");
        if (i == 4)
            assert_string_equal(r.conn, "close");
        off += r.total;
    }
    assert_int_equal(off, n);
}

static void http10_without_keep_alive_is_closed(void **state)
{
    struct fx *fx = *state;
    struct resp r = roundtrip(fx->port, "GET /metrics HTTP/1.0\r\n\r\n", false);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.conn, "close");
}

static void garbage_gets_400_and_close(void **state)
{
    struct fx *fx = *state;
    static const char *const bad[] = {
        "\x16\x03\x01\x02\r\n\r\n",
        "GET /metrics\r\n\r\n",
        "GET /metrics HTTP/2.0\r\n\r\n",
        "GET metrics HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nno colon\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "GET /%zz HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct resp r = roundtrip(fx->port, bad[i], false);
        assert_int_equal(r.status, 400);
        assert_string_equal(r.conn, "close");
    }
    /* binary junk is refused at once, without waiting for a blank line */
    static const char tls[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    static const char ctl[] = "GET /metr\x00";
    static const char json[] = "{\"a\":1}";
    const char *const early[] = {tls, ctl, json};
    size_t lens[] = {sizeof(tls) - 1, sizeof(ctl) - 1, sizeof(json) - 1};
    for (size_t i = 0; i < 3; i++) {
        int fd = dial(fx->port);
        send_all(fd, early[i], lens[i]);
        size_t n = read_to_eof(fd, rbuf, sizeof(rbuf));
        close(fd);
        struct resp r;
        assert_int_equal(parse_resp(rbuf, n, false, &r), 0);
        assert_int_equal(r.status, 400);
    }
}

static void oversized_head_gets_431_and_close(void **state)
{
    struct fx *fx = *state;
    size_t big = FLM_HTTP_MAX_HEAD + 4096;
    char *req = malloc(big + 64);
    assert_non_null(req);
    int n = snprintf(req, 64, "GET /metrics HTTP/1.1\r\nX-Big: ");
    memset(req + n, 'a', big);
    req[n + (int)big] = '\0';
    int fd = dial(fx->port);
    send_all(fd, req, strlen(req)); /* never ends the head */
    size_t got = read_to_eof(fd, rbuf, sizeof(rbuf));
    close(fd);
    free(req);
    struct resp r;
    assert_int_equal(parse_resp(rbuf, got, false, &r), 0);
    assert_int_equal(r.status, 431);
}

static void request_with_huge_body_is_answered_then_closed(void **state)
{
    struct fx *fx = *state;
    int fd = dial(fx->port);
    const char *h = "POST /metrics HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n";
    send_all(fd, h, strlen(h));
    char chunk[4096];
    memset(chunk, 'b', sizeof(chunk));
    send_all(fd, chunk, sizeof(chunk));
    size_t n = read_to_eof(fd, rbuf, sizeof(rbuf));
    struct resp r;
    assert_int_equal(parse_resp(rbuf, n, false, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.conn, "close");
    /* The server lingers: more body is still accepted (no reset) until our EOF. */
    for (int i = 0; i < 128; i++) {
        send_all(fd, chunk, sizeof(chunk));
        usleep(1000);
    }
    shutdown(fd, SHUT_WR);
    assert_int_equal(read_to_eof(fd, rbuf, sizeof(rbuf)), 0);
    close(fd);
}

static void body_sent_after_the_response_is_discarded(void **state)
{
    struct fx *fx = *state;
    int fd = dial(fx->port);
    const char *h = "PUT /metrics HTTP/1.1\r\nContent-Length: 10000\r\n\r\n";
    send_all(fd, h, strlen(h));
    /* the answer comes before the body */
    char buf[8192];
    ssize_t got = recv(fd, buf, sizeof(buf) - 1, 0);
    assert_true(got > 0);
    struct resp r;
    assert_int_equal(parse_resp(buf, (size_t)got, false, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.conn, "");
    char body[10000];
    memset(body, 'G', sizeof(body)); /* looks like a request if not skipped */
    for (size_t i = 0; i < sizeof(body); i += 1000) {
        send_all(fd, body + i, 1000);
        usleep(500);
    }
    const char *next = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
    send_all(fd, next, strlen(next));
    size_t n = read_to_eof(fd, rbuf, sizeof(rbuf));
    close(fd);
    assert_int_equal(parse_resp(rbuf, n, false, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/html;charset=utf-8");
    assert_int_equal(r.total, n);
}

static void client_half_close_still_gets_a_large_response(void **state)
{
    struct fx *fx = *state;
    size_t big = 8u << 20;
    atomic_store(&render_big, (int)big);
    char *all = malloc(big + 4096);
    assert_non_null(all);
    static const char *const reqs[] = {
        "GET /metrics HTTP/1.1\r\n\r\n",                      /* keep-alive, then EOF */
        "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n", /* close, EOF meanwhile */
    };
    for (size_t k = 0; k < 2; k++) {
        int fd = dial(fx->port);
        send_all(fd, reqs[k], strlen(reqs[k]));
        shutdown(fd, SHUT_WR);
        usleep(100000); /* let the EOF reach the server while the write is pending */
        size_t n = 0;
        for (;;) {
            ssize_t r = recv(fd, all + n, big + 4096 - n, 0);
            assert_true(r >= 0);
            if (r == 0)
                break;
            n += (size_t)r;
        }
        close(fd);
        struct resp r;
        assert_int_equal(parse_resp(all, n, false, &r), 0);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.blen, big);
        assert_int_equal(r.total, n);
    }
    free(all);
}

#define NCLIENTS 64

static void many_concurrent_clients_are_served(void **state)
{
    struct fx *fx = *state;
    int fds[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++)
        fds[i] = dial(fx->port);
    const char *req = "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n";
    for (int i = NCLIENTS - 1; i >= 0; i--)
        send_all(fds[i], req, strlen(req));
    for (int i = 0; i < NCLIENTS; i++) {
        size_t n = read_to_eof(fds[i], rbuf, sizeof(rbuf));
        close(fds[i]);
        struct resp r;
        assert_int_equal(parse_resp(rbuf, n, false, &r), 0);
        assert_int_equal(r.status, 200);
    }
}

static void stop_closes_the_loop_with_clients_connected(void **state)
{
    (void)state;
    struct flm_metrics_http *m;
    struct flm_err err = {0};
    assert_int_equal(flm_metrics_http_start("127.0.0.1", 0, render, NULL, &m, &err), FLM_OK);
    int idle = dial(flm_metrics_http_port(m));
    int partial = dial(flm_metrics_http_port(m));
    send_all(partial, "GET /met", 8);
    int served = dial(flm_metrics_http_port(m));
    send_all(served, "GET / HTTP/1.1\r\n\r\n", 18);
    struct resp r;
    char buf[4096];
    ssize_t got = recv(served, buf, sizeof(buf) - 1, 0);
    assert_true(got > 0);
    buf[got] = '\0';
    assert_int_equal(parse_resp(buf, (size_t)got, false, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(flm_metrics_http_stop_checked(m), 0);
    /* every connection was closed by the stop */
    assert_int_equal(read_to_eof(idle, buf, sizeof(buf)), 0);
    assert_int_equal(read_to_eof(partial, buf, sizeof(buf)), 0);
    assert_int_equal(read_to_eof(served, buf, sizeof(buf)), 0);
    close(idle);
    close(partial);
    close(served);
    flm_metrics_http_stop(NULL);
}

static void port_in_use_error_names_the_address(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 1), 0);
    socklen_t len = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    int port = ntohs(sa.sin_port);

    struct flm_metrics_http *m = (struct flm_metrics_http *)&fd; /* must be reset */
    struct flm_err err = {0};
    assert_int_equal(flm_metrics_http_start("127.0.0.1", port, render, NULL, &m, &err), FLM_EIO);
    assert_null(m);
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.1:%d", port);
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, "address already in use"));
    assert_int_equal(err.sys, EADDRINUSE);
    close(fd);

    /* and once free, the same port works */
    assert_int_equal(flm_metrics_http_start("127.0.0.1", port, render, NULL, &m, &err), FLM_OK);
    get_status(port, "GET", "/metrics", 200, NULL);
    assert_int_equal(flm_metrics_http_stop_checked(m), 0);
}

static void bad_address_or_port_is_refused(void **state)
{
    (void)state;
    struct flm_metrics_http *m;
    struct flm_err err = {0};
    assert_int_equal(flm_metrics_http_start("not-an-ip", 41414, render, NULL, &m, &err), FLM_ERR);
    assert_non_null(strstr(err.msg, "not-an-ip:41414"));
    assert_int_equal(flm_metrics_http_start("127.0.0.1", 70000, render, NULL, &m, &err), FLM_ERR);
    assert_non_null(strstr(err.msg, "70000"));
}

/* ------------------------------------------------------ parser tests */

static int parse(const char *s, struct flm_http_req *req)
{
    return flm_http_parse_head((const uint8_t *)s, strlen(s), req);
}

static void parser_waits_for_the_blank_line(void **state)
{
    (void)state;
    struct flm_http_req req;
    assert_int_equal(parse("", &req), FLM_EAGAIN);
    assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n", &req), FLM_EAGAIN);
    assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r", &req), FLM_EAGAIN);
    const char *full = "\r\nGET /metrics?a=b HTTP/1.1\r\nHost: x\r\n\r\nNEXT";
    assert_int_equal(parse(full, &req), FLM_OK);
    assert_int_equal(req.head_len, strlen(full) - 4);
    assert_string_equal(req.path, "/metrics");
    assert_int_equal(req.minor, 1);
    assert_true(req.keep_alive);
    assert_false(req.head_only);
}

static void parser_accepts_bare_lf_and_reads_framing_headers(void **state)
{
    (void)state;
    struct flm_http_req req;
    assert_int_equal(
        parse("HEAD /x HTTP/1.0\ncontent-LENGTH:  42 \nConnection: Keep-Alive\n\n", &req), FLM_OK);
    assert_true(req.head_only);
    assert_int_equal(req.content_length, 42);
    assert_true(req.keep_alive);
    assert_int_equal(parse("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n", &req), FLM_OK);
    /* no blank line yet, but already not HTTP */
    assert_int_equal(parse("{\"json\":", &req), FLM_ERR);
    assert_int_equal(parse("GET /x\x01", &req), FLM_ERR);
    assert_int_equal(parse("GET /x HTTP/1.1\r\nHost: a\tb\r\n", &req), FLM_EAGAIN);
    assert_false(req.keep_alive);
    assert_int_equal(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &req), FLM_OK);
    assert_true(req.body_until_close);
}

static void parser_rejects_malformed_heads(void **state)
{
    (void)state;
    struct flm_http_req req;
    static const char *const bad[] = {
        "GET  /metrics HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/1.1 \r\n\r\n",
        "GET /met\rrics HTTP/1.1\r\n\r\n",
        "G(T / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\n folded: x\r\n\r\n",
        "GET / HTTP/1.1\r\n: novalue\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "GET /%00 HTTP/1.1\r\n\r\n",
        "GET /%4 HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parse(bad[i], &req) != FLM_ERR)
            fail_msg("accepted: %s", bad[i]);
}

static void parser_caps_the_head(void **state)
{
    (void)state;
    size_t n = FLM_HTTP_MAX_HEAD;
    uint8_t *buf = malloc(n + 4);
    assert_non_null(buf);
    memcpy(buf, "GET / HTTP/1.1\r\nX: ", 19);
    memset(buf + 19, 'a', n - 19);
    struct flm_http_req req;
    assert_int_equal(flm_http_parse_head(buf, n - 1, &req), FLM_EAGAIN);
    assert_int_equal(flm_http_parse_head(buf, n, &req), FLM_EFULL);
    /* a head ending beyond the cap is still too large */
    memcpy(buf + n, "\r\n\r\n", 4);
    assert_int_equal(flm_http_parse_head(buf, n + 4, &req), FLM_EFULL);
    /* a long path is kept truncated and never matches a route */
    char longreq[600];
    int k = snprintf(longreq, sizeof(longreq), "GET /metrics");
    memset(longreq + k, 'x', 400);
    snprintf(longreq + k + 400, sizeof(longreq) - (size_t)k - 400, " HTTP/1.1\r\n\r\n");
    assert_int_equal(parse(longreq, &req), FLM_OK);
    assert_true(req.path_truncated);
    assert_int_equal(flm_http_route((const uint8_t *)longreq, &req), FLM_HTTP_ROUTE_NOT_FOUND);
    free(buf);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(get_metrics_returns_flume_json, setup, teardown),
        cmocka_unit_test_setup_teardown(metrics_path_is_case_insensitive_and_ignores_query, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(every_method_but_trace_and_options_is_served, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(root_serves_a_page_linking_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(head_gets_headers_without_body, setup, teardown),
        cmocka_unit_test_setup_teardown(prometheus_path_serves_text, setup, teardown),
        cmocka_unit_test_setup_teardown(render_failure_gives_500, setup, teardown),
        cmocka_unit_test_setup_teardown(keep_alive_serves_pipelined_requests_and_discards_bodies,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(http10_without_keep_alive_is_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(garbage_gets_400_and_close, setup, teardown),
        cmocka_unit_test_setup_teardown(oversized_head_gets_431_and_close, setup, teardown),
        cmocka_unit_test_setup_teardown(request_with_huge_body_is_answered_then_closed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(many_concurrent_clients_are_served, setup, teardown),
        cmocka_unit_test_setup_teardown(body_sent_after_the_response_is_discarded, setup, teardown),
        cmocka_unit_test_setup_teardown(client_half_close_still_gets_a_large_response, setup,
                                        teardown),
        cmocka_unit_test(stop_closes_the_loop_with_clients_connected),
        cmocka_unit_test(port_in_use_error_names_the_address),
        cmocka_unit_test(bad_address_or_port_is_refused),
        cmocka_unit_test(parser_waits_for_the_blank_line),
        cmocka_unit_test(parser_accepts_bare_lf_and_reads_framing_headers),
        cmocka_unit_test(parser_rejects_malformed_heads),
        cmocka_unit_test(parser_caps_the_head),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
