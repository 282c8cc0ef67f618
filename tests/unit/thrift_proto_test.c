/*
 * thrift_proto_test.c - unit tests for the Thrift codec (src/rpc/thrift_proto.c):
 * the recorded Apache Flume fixtures (tests/fixtures/wire/thrift-*) decode to
 * the calls they carry and our encoders reproduce them byte for byte (calls
 * and replies, compact and binary); spec examples (append, FAILED, long list
 * headers); and hostile input (every truncation, garbage, absurd lengths,
 * unknown methods, missing required fields, header and nesting limits).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/component.h"
#include "core/err.h"
#include "rpc/thrift_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct flm_type flm_source_thrift;
extern const struct flm_type flm_sink_thrift;

/* ------------------------------------------------------------- helpers */

/* Reads tests/fixtures/wire/<name> (found next to this source file). */
static uint8_t *fixture(const char *name, size_t *len)
{
    char path[1024];
    const char *me = __FILE__;
    const char *cut = strstr(me, "unit/thrift_proto_test.c");
    assert_non_null(cut);
    snprintf(path, sizeof(path), "%.*sfixtures/wire/%s", (int)(cut - me), me, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open fixture %s", path);
    uint8_t *buf = malloc(1 << 16);
    assert_non_null(buf);
    *len = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

/* The three events of the thrift fixtures: header origin=seq, bodies 0,1,2. */
static void fixture_events(struct flm_event *evs[3])
{
    struct flm_hdr h = flm_hdr_str("origin", "seq");
    for (int i = 0; i < 3; i++) {
        char b = (char)('0' + i);
        evs[i] = flm_event_new(&b, 1, &h, 1);
        assert_non_null(evs[i]);
    }
}

static void check_fixture_call(const struct flm_thrift_call *c)
{
    assert_int_equal(c->method, FLM_THRIFT_M_APPEND_BATCH);
    assert_int_equal(c->msgtype, FLM_THRIFT_CALL);
    assert_int_equal(c->seqid, 1);
    assert_string_equal(c->name, "appendBatch");
    assert_int_equal(c->nevs, 3);
    for (size_t i = 0; i < 3; i++) {
        const struct flm_event *ev = c->evs[i];
        assert_int_equal(ev->nhdr, 1);
        assert_string_equal(flm_event_header(ev, "origin"), "seq");
        assert_int_equal(ev->body_len, 1);
        assert_int_equal(ev->body[0], '0' + (int)i);
    }
}

static void decode_fixture(const char *file, enum flm_thrift_protocol pr)
{
    size_t n, flen;
    uint8_t *p = fixture(file, &n);
    assert_int_equal(flm_thrift_frame_len(p, n, FLM_THRIFT_FRAME_MAX_DEFAULT, &flen, NULL, 0),
                     FLM_OK);
    assert_int_equal(flen + 4, n);
    struct flm_thrift_call c;
    char why[256];
    int rc = flm_thrift_decode_call(pr, p + 4, flen, &c, why, sizeof(why));
    if (rc != FLM_OK)
        fail_msg("%s: %s", file, why);
    check_fixture_call(&c);
    flm_thrift_call_clear(&c);
    free(p);
}

static void encode_matches(const char *file, enum flm_thrift_protocol pr)
{
    size_t n;
    uint8_t *want = fixture(file, &n);
    struct flm_event *evs[3];
    fixture_events(evs);
    struct flm_buf b;
    flm_buf_init(&b, 1 << 20);
    assert_int_equal(flm_thrift_encode_call(pr, FLM_THRIFT_M_APPEND_BATCH, 1, evs, 3, &b), FLM_OK);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.p, want, n);
    flm_buf_free(&b);
    for (int i = 0; i < 3; i++)
        flm_event_free(evs[i]);
    free(want);
}

static void reply_matches(const char *file, enum flm_thrift_protocol pr)
{
    size_t n;
    uint8_t *want = fixture(file, &n);
    struct flm_buf b;
    flm_buf_init(&b, 1 << 20);
    assert_int_equal(flm_thrift_encode_reply(pr, "appendBatch", 11, 1, FLM_THRIFT_OK, &b),
                     FLM_OK);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.p, want, n);
    /* and the sink side reads the recorded reply */
    struct flm_thrift_reply r;
    char why[200];
    assert_int_equal(flm_thrift_decode_reply(pr, want + 4, n - 4, &r, why, sizeof(why)), FLM_OK);
    assert_int_equal(r.msgtype, FLM_THRIFT_REPLY);
    assert_int_equal(r.seqid, 1);
    assert_int_equal(r.status, FLM_THRIFT_OK);
    assert_string_equal(r.name, "appendBatch");
    flm_buf_free(&b);
    free(want);
}

/* Decodes a payload expecting failure; returns the reason. */
static const char *decode_bad(enum flm_thrift_protocol pr, const uint8_t *p, size_t n)
{
    static char why[256];
    struct flm_thrift_call c;
    int rc = flm_thrift_decode_call(pr, p, n, &c, why, sizeof(why));
    assert_int_equal(rc, FLM_ECORRUPT);
    assert_true(why[0] != '\0');
    assert_null(c.evs);
    flm_thrift_call_clear(&c);
    return why;
}

/* ------------------------------------------------------------ fixtures */

static void compact_fixture_decodes_to_three_events(void **state)
{
    (void)state;
    decode_fixture("thrift-compact-framed.c2s.bin", FLM_THRIFT_COMPACT);
}

static void binary_fixture_decodes_to_three_events(void **state)
{
    (void)state;
    decode_fixture("thrift-binary-framed.c2s.bin", FLM_THRIFT_BINARY);
}

static void compact_call_encodes_like_flume_sink(void **state)
{
    (void)state;
    encode_matches("thrift-compact-framed.c2s.bin", FLM_THRIFT_COMPACT);
}

static void binary_call_encodes_like_flume_sink(void **state)
{
    (void)state;
    encode_matches("thrift-binary-framed.c2s.bin", FLM_THRIFT_BINARY);
}

static void compact_reply_matches_flume_source(void **state)
{
    (void)state;
    reply_matches("thrift-compact-framed.s2c.bin", FLM_THRIFT_COMPACT);
}

static void binary_reply_matches_flume_source(void **state)
{
    (void)state;
    reply_matches("thrift-binary-framed.s2c.bin", FLM_THRIFT_BINARY);
}

/* ---------------------------------------------------------- spec layouts */

static void append_reply_and_failed_status_match_spec(void **state)
{
    (void)state;
    struct flm_buf b;
    flm_buf_init(&b, 4096);
    /* wire.md (f): reply: 00 00 00 0E | 82 41 01 06 "append" | 05 00 | 00 | 00 */
    static const uint8_t ok[] = {0, 0, 0, 0x0e, 0x82, 0x41, 0x01, 0x06, 'a', 'p', 'p', 'e', 'n',
                                 'd', 0x05, 0x00, 0x00, 0x00};
    assert_int_equal(flm_thrift_encode_reply(FLM_THRIFT_COMPACT, "append", 6, 1, FLM_THRIFT_OK,
                                             &b), FLM_OK);
    assert_int_equal(b.len, sizeof(ok));
    assert_memory_equal(b.p, ok, sizeof(ok));
    b.len = 0;
    assert_int_equal(flm_thrift_encode_reply(FLM_THRIFT_COMPACT, "append", 6, 1,
                                             FLM_THRIFT_FAILED, &b), FLM_OK);
    assert_int_equal(b.p[16], 0x02); /* zigzag 1 */
    /* observed binary reply to append */
    static const uint8_t bin[] = {0x80, 1, 0, 2, 0, 0, 0, 6, 'a', 'p', 'p', 'e', 'n', 'd',
                                  0, 0, 0, 1, 0x08, 0, 0, 0, 0, 0, 0, 0};
    b.len = 0;
    assert_int_equal(flm_thrift_encode_reply(FLM_THRIFT_BINARY, "append", 6, 1, FLM_THRIFT_OK,
                                             &b), FLM_OK);
    assert_int_equal(b.len, 4 + sizeof(bin));
    assert_memory_equal(b.p + 4, bin, sizeof(bin));
    flm_buf_free(&b);
}

static void append_call_round_trips_with_headers_in_both_protocols(void **state)
{
    (void)state;
    for (int pr = FLM_THRIFT_COMPACT; pr <= FLM_THRIFT_BINARY; pr++) {
        struct flm_hdr h[2] = {flm_hdr_str("app", "checkout"), flm_hdr_str("host", "web01")};
        struct flm_event *ev = flm_event_new("third: \xc3\xbc", 10, h, 2);
        struct flm_buf b;
        flm_buf_init(&b, 4096);
        assert_int_equal(flm_thrift_encode_call(pr, FLM_THRIFT_M_APPEND, 77, &ev, 1, &b), FLM_OK);
        if (pr == FLM_THRIFT_COMPACT) {
            /* 82 21 <seqid 77> 06 "append" 1C (field 1 struct) 1B 02 88 (map of 2) */
            assert_int_equal(b.p[4], 0x82);
            assert_int_equal(b.p[5], 0x21);
            assert_int_equal(b.p[6], 77);
            assert_int_equal(b.p[14], 0x1c);
            assert_int_equal(b.p[15], 0x1b);
            assert_int_equal(b.p[16], 0x02);
            assert_int_equal(b.p[17], 0x88);
        }
        struct flm_thrift_call c;
        char why[256];
        assert_int_equal(flm_thrift_decode_call(pr, b.p + 4, b.len - 4, &c, why, sizeof(why)),
                         FLM_OK);
        assert_int_equal(c.method, FLM_THRIFT_M_APPEND);
        assert_int_equal(c.seqid, 77);
        assert_int_equal(c.nevs, 1);
        assert_string_equal(flm_event_header(c.evs[0], "app"), "checkout");
        assert_string_equal(flm_event_header(c.evs[0], "host"), "web01");
        assert_int_equal(c.evs[0]->body_len, 10);
        assert_memory_equal(c.evs[0]->body, "third: \xc3\xbc", 10);
        flm_thrift_call_clear(&c);
        flm_event_free(ev);
        flm_buf_free(&b);
    }
}

static void long_batch_uses_long_list_header_and_round_trips(void **state)
{
    (void)state;
    enum { N = 300 };
    struct flm_event *evs[N];
    for (int i = 0; i < N; i++) {
        char body[16];
        int n = snprintf(body, sizeof(body), "e%d", i);
        evs[i] = flm_event_new(body, (size_t)n, NULL, 0);
    }
    for (int pr = FLM_THRIFT_COMPACT; pr <= FLM_THRIFT_BINARY; pr++) {
        struct flm_buf b;
        flm_buf_init(&b, 1 << 20);
        assert_int_equal(flm_thrift_encode_call(pr, FLM_THRIFT_M_APPEND_BATCH, 5, evs, N, &b),
                         FLM_OK);
        if (pr == FLM_THRIFT_COMPACT) {
            /* header 82 21 05 0b "appendBatch" 19 FC ac 02 (varint 300) */
            assert_int_equal(b.p[4 + 15], 0x19);
            assert_int_equal(b.p[4 + 16], 0xfc);
            assert_int_equal(b.p[4 + 17], 0xac);
            assert_int_equal(b.p[4 + 18], 0x02);
        }
        struct flm_thrift_call c;
        char why[256];
        assert_int_equal(flm_thrift_decode_call(pr, b.p + 4, b.len - 4, &c, why, sizeof(why)),
                         FLM_OK);
        assert_int_equal(c.nevs, N);
        assert_int_equal(c.evs[N - 1]->body_len, 4);
        assert_memory_equal(c.evs[N - 1]->body, "e299", 4);
        assert_int_equal(c.evs[0]->nhdr, 0);
        flm_thrift_call_clear(&c);
        flm_buf_free(&b);
    }
    for (int i = 0; i < N; i++)
        flm_event_free(evs[i]);
}

static void empty_batch_decodes_to_zero_events(void **state)
{
    (void)state;
    struct flm_buf b;
    flm_buf_init(&b, 4096);
    assert_int_equal(flm_thrift_encode_call(FLM_THRIFT_COMPACT, FLM_THRIFT_M_APPEND_BATCH, 1,
                                            NULL, 0, &b), FLM_OK);
    struct flm_thrift_call c;
    char why[128];
    assert_int_equal(flm_thrift_decode_call(FLM_THRIFT_COMPACT, b.p + 4, b.len - 4, &c, why,
                                            sizeof(why)), FLM_OK);
    assert_int_equal(c.method, FLM_THRIFT_M_APPEND_BATCH);
    assert_int_equal(c.nevs, 0);
    flm_thrift_call_clear(&c);
    flm_buf_free(&b);
}

static void old_non_strict_binary_header_is_accepted(void **state)
{
    (void)state;
    size_t n;
    uint8_t *p = fixture("thrift-binary-framed.c2s.bin", &n);
    /* strict: 80 01 00 01 | 00 00 00 0b name | seqid; non-strict: len name | type | seqid */
    uint8_t q[256];
    size_t k = 0;
    memcpy(q + k, p + 8, 4 + 11);
    k += 15;
    q[k++] = FLM_THRIFT_CALL;
    memcpy(q + k, p + 4 + 4 + 4 + 11, n - (4 + 4 + 4 + 11));
    k += n - (4 + 4 + 4 + 11);
    struct flm_thrift_call c;
    char why[256];
    int rc = flm_thrift_decode_call(FLM_THRIFT_BINARY, q, k, &c, why, sizeof(why));
    if (rc != FLM_OK)
        fail_msg("%s", why);
    check_fixture_call(&c);
    flm_thrift_call_clear(&c);
    free(p);
}

static void unknown_fields_are_skipped(void **state)
{
    (void)state;
    /* compact append whose event has an extra field 5 (list<i32>{1,2}) and an
     * extra bool field 6 before the body, and whose args have field 9 (i64) */
    static const uint8_t p[] = {0x82, 0x21, 0x01, 0x06, 'a', 'p', 'p', 'e', 'n', 'd',
                                0x1c,                 /* field 1 struct */
                                0x1b, 0x00,           /* headers: empty map */
                                0x49, 0x25, 0x02, 0x04, /* field 5 list of 2 i32 */
                                0x11,                 /* field 6 bool true */
                                0x08, 0x04, 0x02, 'h', 'i', /* field 2 (long form) binary */
                                0x00,                 /* end event */
                                0x86, 0x80, 0x01,     /* field 9 i64 (delta 8) */
                                0x00};
    struct flm_thrift_call c;
    char why[256];
    int rc = flm_thrift_decode_call(FLM_THRIFT_COMPACT, p, sizeof(p), &c, why, sizeof(why));
    if (rc != FLM_OK)
        fail_msg("%s", why);
    assert_int_equal(c.nevs, 1);
    assert_int_equal(c.evs[0]->body_len, 2);
    assert_memory_equal(c.evs[0]->body, "hi", 2);
    flm_thrift_call_clear(&c);
}

static void exception_encodes_and_decodes(void **state)
{
    (void)state;
    for (int pr = FLM_THRIFT_COMPACT; pr <= FLM_THRIFT_BINARY; pr++) {
        struct flm_buf b;
        flm_buf_init(&b, 4096);
        assert_int_equal(flm_thrift_encode_exception(pr, "nope", 4, 9,
                                                     FLM_THRIFT_AX_UNKNOWN_METHOD,
                                                     "Invalid method name: 'nope'", &b),
                         FLM_OK);
        struct flm_thrift_reply r;
        char why[200];
        assert_int_equal(flm_thrift_decode_reply(pr, b.p + 4, b.len - 4, &r, why, sizeof(why)),
                         FLM_OK);
        assert_int_equal(r.msgtype, FLM_THRIFT_EXCEPTION);
        assert_int_equal(r.seqid, 9);
        assert_int_equal(r.ex_type, FLM_THRIFT_AX_UNKNOWN_METHOD);
        assert_string_equal(r.ex_msg, "Invalid method name: 'nope'");
        flm_buf_free(&b);
    }
}

/* ------------------------------------------------------------- bad input */

static void frame_lengths_are_checked_before_allocation(void **state)
{
    (void)state;
    size_t len;
    char why[160];
    static const uint8_t zero[] = {0, 0, 0, 0}, neg[] = {0x80, 0, 0, 1},
                         big[] = {0x04, 0, 0, 1}, ok[] = {0, 0, 1, 0}, http[] = {'G', 'E', 'T', ' '};
    assert_int_equal(flm_thrift_frame_len(ok, 3, 100, &len, why, sizeof(why)), FLM_EAGAIN);
    assert_int_equal(flm_thrift_frame_len(ok, 4, 1000, &len, why, sizeof(why)), FLM_OK);
    assert_int_equal(len, 256);
    assert_int_equal(flm_thrift_frame_len(ok, 4, 255, &len, why, sizeof(why)), FLM_ECORRUPT);
    assert_non_null(strstr(why, "exceeds the limit of 255"));
    assert_int_equal(flm_thrift_frame_len(zero, 4, 100, &len, why, sizeof(why)), FLM_ECORRUPT);
    assert_int_equal(flm_thrift_frame_len(neg, 4, 100, &len, why, sizeof(why)), FLM_ECORRUPT);
    assert_non_null(strstr(why, "invalid frame length"));
    assert_int_equal(flm_thrift_frame_len(big, 4, FLM_THRIFT_FRAME_MAX_DEFAULT, &len, why,
                                          sizeof(why)), FLM_ECORRUPT);
    /* an HTTP request: "GET " = 1195725856 bytes > 64 MiB */
    assert_int_equal(flm_thrift_frame_len(http, 4, FLM_THRIFT_FRAME_MAX_DEFAULT, &len, why,
                                          sizeof(why)), FLM_ECORRUPT);
}

static void every_truncation_of_the_fixtures_is_rejected(void **state)
{
    (void)state;
    const char *files[2] = {"thrift-compact-framed.c2s.bin", "thrift-binary-framed.c2s.bin"};
    for (int pr = 0; pr < 2; pr++) {
        size_t n;
        uint8_t *p = fixture(files[pr], &n);
        for (size_t k = 0; k < n - 4; k++) {
            uint8_t *q = malloc(k + 1); /* exact size: ASan catches over-reads */
            memcpy(q, p + 4, k);
            (void)decode_bad(pr, q, k);
            free(q);
        }
        free(p);
    }
}

static void trailing_bytes_are_rejected(void **state)
{
    (void)state;
    size_t n;
    uint8_t *p = fixture("thrift-compact-framed.c2s.bin", &n);
    uint8_t q[128];
    memcpy(q, p + 4, n - 4);
    q[n - 4] = 0;
    assert_non_null(strstr(decode_bad(FLM_THRIFT_COMPACT, q, n - 3), "unexpected bytes"));
    free(p);
}

static void wrong_protocol_is_rejected_with_a_hint(void **state)
{
    (void)state;
    size_t n;
    uint8_t *p = fixture("thrift-binary-framed.c2s.bin", &n);
    assert_non_null(strstr(decode_bad(FLM_THRIFT_COMPACT, p + 4, n - 4), "binary"));
    free(p);
    p = fixture("thrift-compact-framed.c2s.bin", &n);
    assert_non_null(strstr(decode_bad(FLM_THRIFT_BINARY, p + 4, n - 4), "version"));
    free(p);
}

static void unknown_method_keeps_name_and_seqid(void **state)
{
    (void)state;
    static const uint8_t p[] = {0x82, 0x21, 0x07, 0x04, 'p', 'i', 'n', 'g', 0x00};
    struct flm_thrift_call c;
    char why[256];
    assert_int_equal(flm_thrift_decode_call(FLM_THRIFT_COMPACT, p, sizeof(p), &c, why,
                                            sizeof(why)), FLM_ECORRUPT);
    assert_true(c.header_ok);
    assert_int_equal(c.method, FLM_THRIFT_M_UNKNOWN);
    assert_int_equal(c.seqid, 7);
    assert_string_equal(c.name, "ping");
    assert_non_null(strstr(why, "unknown method 'ping'"));
}

static void missing_required_fields_are_rejected(void **state)
{
    (void)state;
    /* append(event{headers only}) */
    static const uint8_t nobody[] = {0x82, 0x21, 0x01, 0x06, 'a', 'p', 'p', 'e', 'n', 'd',
                                     0x1c, 0x1b, 0x00, 0x00, 0x00};
    assert_non_null(strstr(decode_bad(FLM_THRIFT_COMPACT, nobody, sizeof(nobody)), "body"));
    /* append(event{body only}) */
    static const uint8_t nohdr[] = {0x82, 0x21, 0x01, 0x06, 'a', 'p', 'p', 'e', 'n', 'd',
                                    0x1c, 0x28, 0x01, 'x', 0x00, 0x00};
    assert_non_null(strstr(decode_bad(FLM_THRIFT_COMPACT, nohdr, sizeof(nohdr)), "headers"));
    /* appendBatch() without its list */
    static const uint8_t noarg[] = {0x82, 0x21, 0x01, 0x0b, 'a', 'p', 'p', 'e', 'n', 'd', 'B',
                                    'a', 't', 'c', 'h', 0x00};
    assert_non_null(strstr(decode_bad(FLM_THRIFT_COMPACT, noarg, sizeof(noarg)), "argument"));
}

static void absurd_counts_fail_without_allocating(void **state)
{
    (void)state;
    /* appendBatch with a list announcing 2^31-1 structs in 5 bytes */
    static const uint8_t list[] = {0x82, 0x21, 0x01, 0x0b, 'a', 'p', 'p', 'e', 'n', 'd', 'B',
                                   'a', 't', 'c', 'h', 0x19, 0xfc, 0xff, 0xff, 0xff, 0xff,
                                   0x07};
    assert_non_null(strstr(decode_bad(FLM_THRIFT_COMPACT, list, sizeof(list)), "cannot fit"));
    /* a string announcing 2 GiB */
    static const uint8_t str[] = {0x82, 0x21, 0x01, 0x06, 'a', 'p', 'p', 'e', 'n', 'd', 0x1c,
                                  0x1b, 0x00, 0x18, 0xff, 0xff, 0xff, 0xff, 0x07};
    assert_non_null(strstr(decode_bad(FLM_THRIFT_COMPACT, str, sizeof(str)), "left"));
    /* an over-long varint */
    static const uint8_t var[] = {0x82, 0x21, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_non_null(strstr(decode_bad(FLM_THRIFT_COMPACT, var, sizeof(var)), "varint"));
}

static void header_limit_and_nesting_limit_hold(void **state)
{
    (void)state;
    /* an event with FLM_THRIFT_MAX_HEADERS + 1 headers */
    size_t nh = FLM_THRIFT_MAX_HEADERS + 1;
    uint8_t *p = malloc(64 + nh * 8);
    size_t k = 0;
    static const uint8_t head[] = {0x82, 0x21, 0x01, 0x06, 'a', 'p', 'p', 'e', 'n', 'd', 0x1c,
                                   0x1b};
    memcpy(p, head, sizeof(head));
    k = sizeof(head);
    p[k++] = (uint8_t)(0x80 | (nh & 0x7f));
    p[k++] = (uint8_t)(nh >> 7);
    p[k++] = 0x88;
    for (size_t i = 0; i < nh; i++) {
        p[k++] = 2;
        p[k++] = (uint8_t)('a' + i % 26);
        p[k++] = (uint8_t)('a' + i / 26 % 26);
        p[k++] = 0;
    }
    p[k++] = 0x18;
    p[k++] = 0;
    p[k++] = 0;
    p[k++] = 0;
    assert_non_null(strstr(decode_bad(FLM_THRIFT_COMPACT, p, k), "headers (limit"));
    free(p);

    /* an unknown args field nesting lists 100 deep */
    uint8_t d[200];
    static const uint8_t h2[] = {0x82, 0x21, 0x01, 0x06, 'a', 'p', 'p', 'e', 'n', 'd', 0x29};
    memcpy(d, h2, sizeof(h2));
    k = sizeof(h2);
    for (int i = 0; i < 100; i++)
        d[k++] = 0x19; /* list of 1 list */
    d[k++] = 0x00;
    assert_non_null(strstr(decode_bad(FLM_THRIFT_COMPACT, d, k), "nesting"));
}

static void reply_mismatches_are_reported(void **state)
{
    (void)state;
    struct flm_thrift_reply r;
    char why[200];
    /* a reply struct without field 0 */
    static const uint8_t nores[] = {0x82, 0x41, 0x01, 0x06, 'a', 'p', 'p', 'e', 'n', 'd', 0x00};
    assert_int_equal(flm_thrift_decode_reply(FLM_THRIFT_COMPACT, nores, sizeof(nores), &r, why,
                                             sizeof(why)), FLM_ECORRUPT);
    assert_non_null(strstr(why, "no result"));
    /* a call where a reply is expected */
    static const uint8_t call[] = {0x82, 0x21, 0x01, 0x06, 'a', 'p', 'p', 'e', 'n', 'd', 0x00};
    assert_int_equal(flm_thrift_decode_reply(FLM_THRIFT_COMPACT, call, sizeof(call), &r, why,
                                             sizeof(why)), FLM_ECORRUPT);
}

/* -------------------------------------------------------------- types */

static void types_declare_flume_keys_and_class_names(void **state)
{
    (void)state;
    assert_string_equal(flm_source_thrift.klass, "org.apache.flume.source.ThriftSource");
    assert_string_equal(flm_sink_thrift.klass, "org.apache.flume.sink.ThriftSink");
    const char *skeys[] = {"bind", "port", "threads", "protocol", "ssl", "keystore",
                           "keystore-password", "keystore-type", "exclude-protocols",
                           "include-protocols", "exclude-cipher-suites", "include-cipher-suites",
                           "kerberos", "agent-principal", "agent-keytab"};
    for (size_t i = 0; i < sizeof(skeys) / sizeof(skeys[0]); i++) {
        const struct flm_prop *p = flm_source_thrift.props;
        while (p->name && strcmp(p->name, skeys[i]) != 0)
            p++;
        if (p->name == NULL)
            fail_msg("source key %s missing", skeys[i]);
    }
    const char *kkeys[] = {"hostname", "port", "batch-size", "connect-timeout", "request-timeout",
                           "reset-connection-interval", "protocol", "ssl", "truststore",
                           "truststore-password", "truststore-type", "exclude-protocols",
                           "kerberos"};
    for (size_t i = 0; i < sizeof(kkeys) / sizeof(kkeys[0]); i++) {
        const struct flm_prop *p = flm_sink_thrift.props;
        while (p->name && strcmp(p->name, kkeys[i]) != 0)
            p++;
        if (p->name == NULL)
            fail_msg("sink key %s missing", kkeys[i]);
    }
}

/* Loads a source conf from "k=v" pairs and runs its validator. */
static int load_and_validate(const struct flm_type *t, const char *const *kv, size_t nkv,
                             struct flm_diag *d, void *conf)
{
    struct flm_kvs kvs;
    flm_kvs_init(&kvs);
    for (size_t i = 0; i + 1 < nkv; i += 2)
        flm_kvs_set(&kvs, kv[i], kv[i + 1], NULL, 0);
    int rc = flm_props_load(t->props, &kvs, conf, "a1.sources.r1", d);
    if (rc == FLM_OK)
        rc = t->validate(conf, "a1.sources.r1", d);
    flm_kvs_free(&kvs);
    return rc;
}

static void ssl_kerberos_and_bad_protocol_are_config_errors(void **state)
{
    (void)state;
    struct {
        const char *k, *v;
        int want;
    } cases[] = {
        {"protocol", "compact", FLM_OK}, {"protocol", "binary", FLM_OK},
        {"protocol", "BINARY", FLM_OK},  {"protocol", "json", FLM_ERR},
        {"ssl", "true", FLM_ERR},        {"kerberos", "TRUE", FLM_ERR},
    };
    /* ssl = true is supported now: without a keystore (or with the default
     * JKS type) the error names the keystore key */
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *kv[] = {"bind", "127.0.0.1", "port", "4141", cases[i].k, cases[i].v};
        struct flm_diag d;
        flm_diag_init(&d);
        void *conf = calloc(1, flm_source_thrift.conf_size);
        int rc = load_and_validate(&flm_source_thrift, kv, 6, &d, conf);
        if (rc != cases[i].want)
            fail_msg("%s=%s: rc %d", cases[i].k, cases[i].v, rc);
        if (rc != FLM_OK)
            assert_true(d.nerr > 0 &&
                        strstr(d.v[0].key, strcmp(cases[i].k, "ssl") == 0 ? "keystore"
                                                                            : cases[i].k) != NULL);
        if (strcmp(cases[i].v, "BINARY") == 0)
            assert_true(d.nwarn > 0);
        flm_props_free(flm_source_thrift.props, conf);
        free(conf);
        flm_diag_free(&d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(compact_fixture_decodes_to_three_events),
        cmocka_unit_test(binary_fixture_decodes_to_three_events),
        cmocka_unit_test(compact_call_encodes_like_flume_sink),
        cmocka_unit_test(binary_call_encodes_like_flume_sink),
        cmocka_unit_test(compact_reply_matches_flume_source),
        cmocka_unit_test(binary_reply_matches_flume_source),
        cmocka_unit_test(append_reply_and_failed_status_match_spec),
        cmocka_unit_test(append_call_round_trips_with_headers_in_both_protocols),
        cmocka_unit_test(long_batch_uses_long_list_header_and_round_trips),
        cmocka_unit_test(empty_batch_decodes_to_zero_events),
        cmocka_unit_test(old_non_strict_binary_header_is_accepted),
        cmocka_unit_test(unknown_fields_are_skipped),
        cmocka_unit_test(exception_encodes_and_decodes),
        cmocka_unit_test(frame_lengths_are_checked_before_allocation),
        cmocka_unit_test(every_truncation_of_the_fixtures_is_rejected),
        cmocka_unit_test(trailing_bytes_are_rejected),
        cmocka_unit_test(wrong_protocol_is_rejected_with_a_hint),
        cmocka_unit_test(unknown_method_keeps_name_and_seqid),
        cmocka_unit_test(missing_required_fields_are_rejected),
        cmocka_unit_test(absurd_counts_fail_without_allocating),
        cmocka_unit_test(header_limit_and_nesting_limit_hold),
        cmocka_unit_test(reply_mismatches_are_reported),
        cmocka_unit_test(types_declare_flume_keys_and_class_names),
        cmocka_unit_test(ssl_kerberos_and_bad_protocol_are_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
