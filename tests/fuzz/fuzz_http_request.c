/*
 * fuzz_http_request.c - libFuzzer target for the metrics server's request
 * handling (src/core/http_parse.h): the input is a byte stream as a client
 * would send it.  Like the server, it parses heads one after another,
 * answers each with flm_http_respond (fake render), skips the declared body
 * and answers a malformed or oversized head with an error page.  Checks:
 * no crash or sanitizer report, head_len within the input, every proper
 * prefix of a complete head is "need more", and every response is framed
 * correctly (status line, one Content-Length matching the body).
 * Single-threaded.
 */
#include "core/http_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "fuzz_http_request: check failed: %s\n", #x);                          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int fake_render(struct flm_buf *out, int what, void *arg)
{
    const uint8_t *first = arg;
    if (first != NULL && *first == 'X')
        return -1; /* exercise the 500 path */
    return what == 0 ? flm_buf_printf(out, "{\"SOURCE.r1\":{\"Type\":\"SOURCE\"}}")
                     : flm_buf_printf(out, "flume_source_x{component=\"r1\"} 1\n");
}

/* The response in out must be one correctly framed HTTP/1.1 message. */
static void check_response(const struct flm_buf *out, bool head_only)
{
    CHECK(out->len > 12 && memcmp(out->p, "HTTP/1.1 ", 9) == 0);
    const uint8_t *end = memmem(out->p, out->len, "\r\n\r\n", 4);
    CHECK(end != NULL);
    size_t hlen = (size_t)(end - out->p) + 4;
    const char *cl = memmem(out->p, hlen, "\r\nContent-Length: ", 18);
    CHECK(cl != NULL);
    CHECK(memmem(cl + 18, hlen - (size_t)((const uint8_t *)cl + 18 - out->p), "Content-Length",
                 14) == NULL);
    size_t n = strtoul(cl + 18, NULL, 10);
    CHECK(out->len == hlen + (head_only ? 0 : n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    int requests = 0;
    while (off < size && requests < 64) {
        struct flm_http_req req;
        const uint8_t *p = data + off;
        size_t n = size - off;
        int rc = flm_http_parse_head(p, n, &req);
        CHECK(rc == 0 || rc == -4 /* EAGAIN */ || rc == -3 /* EFULL */ || rc == -1);
        struct flm_buf out;
        flm_buf_init(&out, FLM_HTTP_MAX_RESPONSE);
        if (rc != 0) {
            if (rc == -4)
                CHECK(n < FLM_HTTP_MAX_HEAD);
            if (rc != -4) {
                CHECK(flm_http_error(rc == -3 ? 431 : 400, false, true, &out) == 0);
                check_response(&out, false);
            }
            flm_buf_free(&out);
            break;
        }
        CHECK(req.head_len > 0 && req.head_len <= n && req.head_len <= FLM_HTTP_MAX_HEAD);
        CHECK(req.method_off + req.method_len <= req.head_len && req.method_len > 0);
        CHECK(strlen(req.path) < FLM_HTTP_PATH_MAX);
        CHECK(req.minor >= 0 && req.minor <= 9);
        if (req.head_len <= 2048)
            for (size_t k = 0; k < req.head_len; k++) {
                struct flm_http_req r2;
                CHECK(flm_http_parse_head(p, k, &r2) == -4);
            }
        enum flm_http_route route = flm_http_route(p, &req);
        CHECK(route <= FLM_HTTP_ROUTE_FORBIDDEN);
        CHECK(flm_http_respond(p, &req, !req.keep_alive, fake_render, (void *)p, &out) == 0);
        check_response(&out, req.head_only);
        flm_buf_free(&out);
        off += req.head_len;
        if (req.body_until_close)
            break;
        size_t left = size - off;
        off += req.content_length < left ? (size_t)req.content_length : left;
        requests++;
    }
    return 0;
}
