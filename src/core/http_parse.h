/*
 * http_parse.h - internal to the metrics server (metrics_http.c): the pure
 * HTTP/1.x request-head parser and response builder, exposed so that the
 * fuzzer (tests/fuzz/fuzz_http_request.c) and unit tests can drive them
 * over plain buffers, plus two test hooks for the server.
 */
#ifndef FLM_HTTP_PARSE_H
#define FLM_HTTP_PARSE_H

#include "core/buf.h"
#include "core/metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLM_HTTP_MAX_HEAD 16384u          /* bytes: request line + headers + blank line */
#define FLM_HTTP_PATH_MAX 256u            /* decoded path bytes kept (longer: truncated) */
#define FLM_HTTP_MAX_RESPONSE (64u << 20) /* bytes: cap on one rendered response */

enum flm_http_route {
    FLM_HTTP_ROUTE_ROOT,       /* "/" -> HTML page */
    FLM_HTTP_ROUTE_METRICS,    /* "/metrics" any case -> JSON */
    FLM_HTTP_ROUTE_PROMETHEUS, /* "/prometheus" any case -> text (ours) */
    FLM_HTTP_ROUTE_NOT_FOUND,  /* 404 */
    FLM_HTTP_ROUTE_FORBIDDEN,  /* TRACE/OPTIONS (any case, any path) -> 403 */
};

/* A parsed request head.  Offsets point into the parsed buffer. */
struct flm_http_req {
    size_t head_len;               /* bytes of the head, final blank line included */
    size_t method_off, method_len; /* the method token */
    char path[FLM_HTTP_PATH_MAX];  /* percent-decoded path, query removed, NUL-terminated */
    bool path_truncated;           /* path longer than the array (never a known route) */
    int minor;                     /* HTTP/1.<minor> (0..9) */
    uint64_t content_length;       /* body bytes; 0 when absent */
    bool body_until_close;         /* Transfer-Encoding present: body length unknown */
    bool keep_alive;               /* version default adjusted by Connection */
    bool head_only;                /* HEAD: headers without the body */
};

/*
 * Parses the request head at buf[0..len).  Pure: reads only the buffer.
 * FLM_OK: a complete head, *req filled (req->head_len <= len).
 * FLM_EAGAIN: no complete head yet and len < FLM_HTTP_MAX_HEAD; read more.
 * FLM_EFULL: no complete head within FLM_HTTP_MAX_HEAD bytes (reply 431).
 * FLM_ERR: malformed (reply 400 and close).
 */
int flm_http_parse_head(const uint8_t *buf, size_t len, struct flm_http_req *req);

/* Route of a parsed request (buf is the buffer req was parsed from). */
enum flm_http_route flm_http_route(const uint8_t *buf, const struct flm_http_req *req);

/*
 * Appends the complete response for a parsed request to out: status line,
 * Content-Type, Content-Length, Connection, and the body unless HEAD.  The
 * body of /metrics and /prometheus comes from render (called once, on the
 * calling thread); a render failure gives a 500.  `close` adds
 * "Connection: close".  Returns FLM_OK or the flm_buf error of out.
 */
int flm_http_respond(const uint8_t *buf, const struct flm_http_req *req, bool close,
                     flm_metrics_render_fn render, void *arg, struct flm_buf *out);

/* Appends a complete error response (400, 403, 404, 431, 500...) with an
 * HTML body and "Connection: close" when close is set. */
int flm_http_error(int status, bool head_only, bool close, struct flm_buf *out);

/* Test hooks.  The bound port (useful after asking for port 0). */
int flm_metrics_http_port(const struct flm_metrics_http *m);
/* flm_metrics_http_stop that returns uv_loop_close()'s result (0 when every
 * handle was closed cleanly). */
int flm_metrics_http_stop_checked(struct flm_metrics_http *m);

#endif
