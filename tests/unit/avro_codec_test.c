/*
 * avro_codec_test.c - unit tests for src/rpc/avro_codec.c against the byte
 * fixtures recorded from Apache Flume 1.11 (tests/fixtures/wire/, copied from
 * the spec's fixtures): every client-to-server file decodes to the recorded
 * calls and our server answers bytes equivalent to the server-to-client file;
 * the zigzag/varint examples of spec/wire.md; framing over any split; caps
 * enforced before allocation; handshake NONE/CLIENT/BOTH; deflate streams.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rpc/avro_codec.h"
#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- helpers */

static uint8_t *load_fixture(const char *name, size_t *len)
{
    char path[1024];
    const char *f = __FILE__;
    const char *cut = strstr(f, "unit/avro_codec_test.c");
    assert_non_null(cut);
    snprintf(path, sizeof(path), "%.*sfixtures/wire/%s", (int)(cut - f), f, name);
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        fail_msg("cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n + 1);
    assert_int_equal(fread(p, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return p;
}

/* Decodes one complete frame from p (all of it); returns the payload copy. */
static void one_frame(const uint8_t *p, size_t n, uint32_t *serial, struct flm_buf *payload)
{
    struct flm_avro_framer f;
    char why[128];
    size_t used = 0;
    flm_avro_framer_init(&f, 1 << 20);
    assert_int_equal(flm_avro_framer_feed(&f, p, n, &used, why, sizeof(why)), FLM_OK);
    assert_int_equal(used, n);
    *serial = f.serial;
    flm_buf_init(payload, 1 << 20);
    flm_buf_append(payload, f.msg.p, f.msg.len);
    flm_avro_framer_free(&f);
}

static const char *hdr(const struct flm_event *ev, const char *k)
{
    return flm_event_header(ev, k);
}

/* ------------------------------------------------------- binary encoding */

static void varint_examples_from_spec(void **state)
{
    (void)state;
    struct { int64_t v; const char *hex; } ex[] = {
        {0, "00"}, {-1, "01"}, {1, "02"}, {-2, "03"}, {63, "7e"}, {64, "8001"}, {300, "d804"},
    };
    for (size_t i = 0; i < sizeof(ex) / sizeof(ex[0]); i++) {
        struct flm_buf b;
        flm_buf_init(&b, 64);
        flm_avro_put_long(&b, ex[i].v);
        char hex[32] = "";
        for (size_t k = 0; k < b.len; k++)
            snprintf(hex + 2 * k, 3, "%02x", b.p[k]);
        assert_string_equal(hex, ex[i].hex);
        struct flm_avro_rd r;
        int64_t back;
        flm_avro_rd_init(&r, b.p, b.len);
        assert_int_equal(flm_avro_get_long(&r, &back), FLM_OK);
        assert_int_equal(back, ex[i].v);
        flm_buf_free(&b);
    }
    int64_t extremes[] = {INT64_MAX, INT64_MIN, 1LL << 40};
    for (size_t i = 0; i < 3; i++) {
        struct flm_buf b;
        flm_buf_init(&b, 64);
        flm_avro_put_long(&b, extremes[i]);
        assert_true(b.len <= 10);
        struct flm_avro_rd r;
        int64_t back;
        flm_avro_rd_init(&r, b.p, b.len);
        assert_int_equal(flm_avro_get_long(&r, &back), FLM_OK);
        assert_true(back == extremes[i]);
        flm_buf_free(&b);
    }
}

static void overlong_varint_is_corrupt(void **state)
{
    (void)state;
    uint8_t bad[11];
    memset(bad, 0xff, sizeof(bad));
    struct flm_avro_rd r;
    int64_t v;
    flm_avro_rd_init(&r, bad, sizeof(bad));
    assert_int_equal(flm_avro_get_long(&r, &v), FLM_ECORRUPT);
    flm_avro_rd_init(&r, bad, 3);
    assert_int_equal(flm_avro_get_long(&r, &v), FLM_EAGAIN);
}

static void protocol_text_is_valid_and_hash_known(void **state)
{
    (void)state;
    char why[200];
    assert_int_equal(flm_avro_check_protocol(flm_avro_protocol_json,
                                             strlen(flm_avro_protocol_json), why, sizeof(why)),
                     FLM_OK);
    uint8_t h[16];
    flm_avro_protocol_md5(h);
    assert_true(flm_avro_known_hash(h));
    uint8_t other[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    assert_false(flm_avro_known_hash(other));
    assert_int_equal(flm_avro_check_protocol("{\"protocol\":", 12, why, sizeof(why)),
                     FLM_ECORRUPT);
    assert_non_null(strstr(why, "SchemaParseException"));
    const char *wrong = "{\"protocol\":\"Other\",\"messages\":{}}";
    assert_int_equal(flm_avro_check_protocol(wrong, strlen(wrong), why, sizeof(why)),
                     FLM_ECORRUPT);
}

/* ------------------------------------------------------------- fixtures */

static void java_client_appendbatch_decodes_and_reply_matches(void **state)
{
    (void)state;
    size_t n, rn;
    uint8_t *c2s = load_fixture("avro-appendbatch-headers.c2s.bin", &n);
    uint8_t *s2c = load_fixture("avro-appendbatch-headers.s2c.bin", &rn);
    uint32_t serial;
    struct flm_buf msg;
    one_frame(c2s, n, &serial, &msg);
    assert_int_equal(serial, 1);

    struct flm_avro_server srv = {0};
    struct flm_avro_request req;
    bool est = false;
    assert_int_equal(flm_avro_server_decode(&srv, msg.p, msg.len, &est, &req), FLM_OK);
    assert_true(est);
    assert_true(req.has_hs);
    assert_int_equal(req.match, FLM_AVRO_BOTH);
    assert_int_equal(req.msg, FLM_AVRO_MSG_APPEND_BATCH);
    assert_int_equal(req.nevs, 3);
    const char *bodies[] = {"hello flume", "second line", "third: \xc3\xbc"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(req.evs[i]->body_len, strlen(bodies[i]));
        assert_memory_equal(req.evs[i]->body, bodies[i], strlen(bodies[i]));
        assert_string_equal(hdr(req.evs[i], "app"), "checkout");
        assert_string_equal(hdr(req.evs[i], "host"), "web01");
        assert_int_equal(req.evs[i]->nhdr, 2);
    }

    /* Our reply: one buffer instead of three, same serial and payload. */
    struct flm_buf out;
    flm_buf_init(&out, 1 << 20);
    assert_int_equal(flm_avro_server_reply(&out, serial, &req, FLM_AVRO_OK, NULL), FLM_OK);
    uint32_t rs;
    struct flm_buf want, got;
    one_frame(s2c, rn, &rs, &want);
    one_frame(out.p, out.len, &serial, &got);
    assert_int_equal(rs, serial);
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.p, want.p, want.len);

    flm_avro_request_clear(&req);
    flm_buf_free(&out);
    flm_buf_free(&want);
    flm_buf_free(&got);
    flm_buf_free(&msg);
    free(c2s);
    free(s2c);
}

static void unknown_hash_gets_none_with_protocol_then_both(void **state)
{
    (void)state;
    size_t n, rn;
    uint8_t *c2s = load_fixture("avro-unknown-hash.c2s-first.bin", &n);
    uint8_t *s2c = load_fixture("avro-after-protocol-sent.s2c.bin", &rn);
    uint32_t serial;
    struct flm_buf msg;
    one_frame(c2s, n, &serial, &msg);

    struct flm_avro_server srv = {0};
    struct flm_avro_request req;
    bool est = false;
    assert_int_equal(flm_avro_server_decode(&srv, msg.p, msg.len, &est, &req), FLM_OK);
    assert_false(est);
    assert_int_equal(req.match, FLM_AVRO_NONE);
    assert_int_equal(req.nevs, 0);

    struct flm_buf out;
    flm_buf_init(&out, 1 << 20);
    assert_int_equal(flm_avro_server_reply(&out, serial, &req, FLM_AVRO_OK, NULL), FLM_OK);
    struct flm_buf resp;
    uint32_t rs;
    one_frame(out.p, out.len, &rs, &resp);
    assert_int_equal(rs, 1);
    struct flm_avro_rd r;
    struct flm_avro_hsresp hs;
    flm_avro_rd_init(&r, resp.p, resp.len);
    assert_int_equal(flm_avro_get_hsresp(&r, &hs), FLM_OK);
    assert_int_equal(hs.match, FLM_AVRO_NONE);
    assert_true(hs.has_proto && hs.has_hash);
    uint8_t own[16];
    flm_avro_protocol_md5(own);
    assert_memory_equal(hs.server_hash, own, 16);
    char why[200];
    assert_int_equal(flm_avro_check_protocol((const char *)hs.proto, hs.proto_len, why,
                                             sizeof(why)), FLM_OK);
    assert_int_equal(flm_avro_rd_left(&r), 0);   /* nothing after a NONE */
    flm_avro_request_clear(&req);

    /* The client resends with our protocol text and hash: BOTH, call runs. */
    struct flm_buf again;
    flm_buf_init(&again, 1 << 20);
    flm_buf_append(&again, msg.p, 16);   /* same unknown client hash */
    flm_buf_append(&again, "\x02", 1);
    flm_avro_put_bytes(&again, flm_avro_protocol_json, strlen(flm_avro_protocol_json));
    flm_buf_append(&again, own, 16);
    flm_buf_append(&again, "\x00", 1);
    flm_buf_append(&again, msg.p + 16 + 1 + 16 + 1, msg.len - 34);   /* the call */
    assert_int_equal(flm_avro_server_decode(&srv, again.p, again.len, &est, &req), FLM_OK);
    assert_true(est);
    assert_int_equal(req.match, FLM_AVRO_BOTH);
    assert_int_equal(req.msg, FLM_AVRO_MSG_APPEND_BATCH);
    assert_int_equal(req.nevs, 0);
    out.len = 0;
    flm_avro_server_reply(&out, 2, &req, FLM_AVRO_OK, NULL);
    struct flm_buf want, got;
    one_frame(s2c, rn, &rs, &want);
    one_frame(out.p, out.len, &serial, &got);
    assert_int_equal(rs, 2);
    assert_int_equal(serial, 2);
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.p, want.p, want.len);
    flm_avro_request_clear(&req);

    /* Learnt: a new connection with that hash and no protocol gets CLIENT or BOTH. */
    bool est2 = false;
    assert_int_equal(flm_avro_server_decode(&srv, msg.p, msg.len, &est2, &req), FLM_OK);
    assert_true(est2);
    assert_int_not_equal(req.match, FLM_AVRO_NONE);
    flm_avro_request_clear(&req);

    flm_buf_free(&again);
    flm_buf_free(&want);
    flm_buf_free(&got);
    flm_buf_free(&resp);
    flm_buf_free(&out);
    flm_buf_free(&msg);
    free(c2s);
    free(s2c);
}

/* Inflates a whole recorded direction. */
static void inflate_all(const uint8_t *p, size_t n, struct flm_buf *out)
{
    struct flm_avro_zin z;
    char why[128];
    assert_int_equal(flm_avro_zin_init(&z), FLM_OK);
    flm_buf_init(out, 1 << 20);
    while (n > 0) {
        uint8_t tmp[7];   /* tiny output steps: exercises partial inflates */
        size_t got;
        assert_int_equal(flm_avro_zin_step(&z, &p, &n, tmp, sizeof(tmp), &got, why, sizeof(why)),
                         FLM_OK);
        flm_buf_append(out, tmp, got);
        if (got == 0 && n > 0)
            fail_msg("inflate stalled");
    }
    flm_avro_zin_end(&z);
}

static void deflate_fixture_decodes_and_reply_roundtrips(void **state)
{
    (void)state;
    size_t n, rn;
    uint8_t *c2s = load_fixture("avro-deflate.c2s.bin", &n);
    uint8_t *s2c = load_fixture("avro-deflate.s2c.bin", &rn);
    assert_int_equal(c2s[0], 0x78);
    struct flm_buf plain;
    inflate_all(c2s, n, &plain);
    uint32_t serial;
    struct flm_buf msg;
    one_frame(plain.p, plain.len, &serial, &msg);
    struct flm_avro_server srv = {0};
    struct flm_avro_request req;
    bool est = false;
    assert_int_equal(flm_avro_server_decode(&srv, msg.p, msg.len, &est, &req), FLM_OK);
    assert_int_not_equal(req.match, FLM_AVRO_NONE);
    assert_int_equal(req.nevs, 3);
    for (size_t i = 0; i < 3; i++) {
        char b[2] = {(char)('0' + i), 0};
        assert_int_equal(req.evs[i]->body_len, 1);
        assert_memory_equal(req.evs[i]->body, b, 1);
        assert_string_equal(hdr(req.evs[i], "origin"), "seq");
    }
    /* Server's recorded answer, inflated, is a valid response to this call. */
    struct flm_buf rplain, rmsg;
    inflate_all(s2c, rn, &rplain);
    uint32_t rs;
    one_frame(rplain.p, rplain.len, &rs, &rmsg);
    assert_int_equal(rs, serial);
    struct flm_avro_rd r;
    struct flm_avro_hsresp hs;
    bool has;
    int status;
    char et[64];
    flm_avro_rd_init(&r, rmsg.p, rmsg.len);
    assert_int_equal(flm_avro_get_response(&r, true, &hs, &has, &status, et, sizeof(et)), FLM_OK);
    assert_true(has);
    assert_int_equal(status, FLM_AVRO_OK);

    /* Our compressed reply inflates to an equivalent response. */
    struct flm_buf fr, z;
    flm_buf_init(&fr, 1 << 20);
    flm_buf_init(&z, 1 << 20);
    flm_avro_server_reply(&fr, serial, &req, FLM_AVRO_OK, NULL);
    struct flm_avro_zout zo;
    flm_avro_zout_init(&zo, 6);
    assert_int_equal(flm_avro_zout_write(&zo, fr.p, fr.len, &z), FLM_OK);
    assert_int_equal(z.p[0], 0x78);
    assert_memory_equal(z.p + z.len - 4, "\x00\x00\xff\xff", 4);
    struct flm_buf back;
    inflate_all(z.p, z.len, &back);
    assert_int_equal(back.len, fr.len);
    assert_memory_equal(back.p, fr.p, fr.len);
    flm_avro_zout_end(&zo);

    flm_avro_request_clear(&req);
    flm_buf_free(&plain);
    flm_buf_free(&msg);
    flm_buf_free(&rplain);
    flm_buf_free(&rmsg);
    flm_buf_free(&fr);
    flm_buf_free(&z);
    flm_buf_free(&back);
    free(c2s);
    free(s2c);
}

/* ------------------------------------------------------------- framing */

static void framer_accepts_any_split(void **state)
{
    (void)state;
    size_t n;
    uint8_t *c2s = load_fixture("avro-appendbatch-headers.c2s.bin", &n);
    for (size_t step = 1; step <= n; step++) {
        struct flm_avro_framer f;
        char why[128];
        flm_avro_framer_init(&f, 1 << 20);
        size_t off = 0;
        int rc = FLM_EAGAIN;
        while (off < n) {
            size_t k = step < n - off ? step : n - off, used;
            rc = flm_avro_framer_feed(&f, c2s + off, k, &used, why, sizeof(why));
            off += used;
            if (rc == FLM_OK)
                break;
            assert_int_equal(rc, FLM_EAGAIN);
        }
        assert_int_equal(rc, FLM_OK);
        assert_int_equal(off, n);
        assert_int_equal(f.msg.len, 48 + 114);
        flm_avro_framer_free(&f);
    }
    free(c2s);
}

static void framer_two_frames_in_one_read(void **state)
{
    (void)state;
    struct flm_buf b;
    flm_buf_init(&b, 1024);
    size_t m;
    flm_avro_frame_begin(&b, &m);
    flm_buf_append(&b, "abc", 3);
    flm_avro_frame_end(&b, m, 5);
    flm_avro_frame_begin(&b, &m);
    flm_avro_frame_end(&b, m, 6);   /* one empty buffer */
    struct flm_avro_framer f;
    char why[128];
    size_t used;
    flm_avro_framer_init(&f, 1024);
    assert_int_equal(flm_avro_framer_feed(&f, b.p, b.len, &used, why, sizeof(why)), FLM_OK);
    assert_int_equal(f.serial, 5);
    assert_int_equal(f.msg.len, 3);
    flm_avro_framer_next(&f);
    size_t used2;
    assert_int_equal(flm_avro_framer_feed(&f, b.p + used, b.len - used, &used2, why, sizeof(why)),
                     FLM_OK);
    assert_int_equal(f.serial, 6);
    assert_int_equal(f.msg.len, 0);
    assert_int_equal(used + used2, b.len);
    flm_avro_framer_free(&f);
    flm_buf_free(&b);
}

static void framer_refuses_absurd_lengths_before_allocating(void **state)
{
    (void)state;
    char why[128];
    size_t used;
    struct flm_avro_framer f;
    /* Buffer count 0, negative count, huge count, negative and huge length. */
    const uint8_t zero[] = {0, 0, 0, 1, 0, 0, 0, 0};
    const uint8_t neg[] = {0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff};
    const uint8_t many[] = {0, 0, 0, 1, 0x10, 0, 0, 0};
    const uint8_t negl[] = {0, 0, 0, 1, 0, 0, 0, 1, 0x80, 0, 0, 0};
    const uint8_t bigl[] = {0, 0, 0, 1, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff};
    struct { const uint8_t *p; size_t n; int rc; } cases[] = {
        {zero, sizeof(zero), FLM_ECORRUPT}, {neg, sizeof(neg), FLM_ECORRUPT},
        {many, sizeof(many), FLM_EFULL},    {negl, sizeof(negl), FLM_ECORRUPT},
        {bigl, sizeof(bigl), FLM_EFULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        flm_avro_framer_init(&f, 4096);
        assert_int_equal(flm_avro_framer_feed(&f, cases[i].p, cases[i].n, &used, why,
                                              sizeof(why)), cases[i].rc);
        assert_true(f.msg.cap <= 4096);   /* nothing big was allocated */
        flm_avro_framer_free(&f);
    }
}

static void gated_framer_needs_a_handshake_before_growing(void **state)
{
    (void)state;
    char why[128];
    size_t used;
    struct flm_avro_framer f;
    /* Announces one 1 MB buffer, then sends 4 KB of zeros: the hash fits,
     * but union index 0 then a 16-byte hash then meta 00 parse: handshake
     * OK; so use 0xff bytes (an overlong varint) instead. */
    uint8_t *junk = malloc(4096 + 12);
    memcpy(junk, "\0\0\0\1\0\0\0\1\0\x10\0\0", 12);
    memset(junk + 12, 0xff, 4096);
    flm_avro_framer_init(&f, 64 << 20);
    flm_avro_framer_gate(&f, true, 1024);
    assert_int_equal(flm_avro_framer_feed(&f, junk, 4096 + 12, &used, why, sizeof(why)),
                     FLM_ECORRUPT);
    assert_true(f.msg.cap < 8192);   /* grew with the bytes seen, not the announced 1 MB */
    flm_avro_framer_free(&f);

    /* A handshake that never completes (protocol text of 1 GB announced). */
    struct flm_buf b;
    flm_buf_init(&b, 1 << 20);
    flm_buf_append(&b, "\0\0\0\1\0\0\0\1\x00\x10\x00\x00", 12);
    uint8_t h[16] = {0};
    flm_buf_append(&b, h, 16);
    flm_buf_append(&b, "\x02", 1);
    flm_avro_put_long(&b, 1LL << 30);
    uint8_t pad[4000];
    memset(pad, 'x', sizeof(pad));
    flm_buf_append(&b, pad, sizeof(pad));
    flm_avro_framer_init(&f, 64 << 20);
    flm_avro_framer_gate(&f, true, 1024);
    assert_int_equal(flm_avro_framer_feed(&f, b.p, b.len, &used, why, sizeof(why)), FLM_EFULL);
    flm_avro_framer_free(&f);

    /* Ungated (established), the same bytes are just a partial frame. */
    flm_avro_framer_init(&f, 64 << 20);
    assert_int_equal(flm_avro_framer_feed(&f, b.p, b.len, &used, why, sizeof(why)), FLM_EAGAIN);
    flm_avro_framer_free(&f);
    flm_buf_free(&b);
    free(junk);
}

static void huge_array_count_is_refused_without_allocation(void **state)
{
    (void)state;
    /* appendBatch with an array block count of 2^40 in a 20-byte message. */
    struct flm_buf b;
    flm_buf_init(&b, 1024);
    flm_avro_put_hsreq(&b, NULL);
    flm_buf_append(&b, "\x00", 1);
    flm_avro_put_str(&b, "appendBatch");
    flm_avro_put_long(&b, 1LL << 40);
    flm_buf_append(&b, "\x00\x00", 2);
    struct flm_avro_server srv = {0};
    struct flm_avro_request req;
    bool est = false;
    assert_int_equal(flm_avro_server_decode(&srv, b.p, b.len, &est, &req), FLM_ECORRUPT);
    assert_true(est);                 /* handshake done even though the call failed */
    assert_int_equal(req.match, FLM_AVRO_BOTH);
    assert_null(req.evs);
    /* The error reply carries the handshake, then the EOFException text. */
    struct flm_buf out;
    flm_buf_init(&out, 1 << 16);
    flm_avro_server_reply(&out, 1, &req, 0, req.why);
    struct flm_avro_rd r;
    flm_avro_rd_init(&r, out.p + 12, out.len - 12);
    struct flm_avro_hsresp hs;
    bool has;
    int status;
    char et[128];
    assert_int_equal(flm_avro_get_response(&r, true, &hs, &has, &status, et, sizeof(et)), FLM_OK);
    assert_int_equal(hs.match, FLM_AVRO_BOTH);
    assert_true(has);
    assert_int_equal(status, -1);
    assert_string_equal(et, "java.io.EOFException");
    flm_avro_request_clear(&req);
    flm_buf_free(&out);
    flm_buf_free(&b);
}

/* ------------------------------------------------------------- client side */

static void client_request_roundtrips_through_server(void **state)
{
    (void)state;
    struct flm_hdr h[2] = {flm_hdr_str("k", "v"), flm_hdr_str("host", "web01")};
    struct flm_event *evs[2] = {flm_event_new("one", 3, h, 2), flm_event_new("", 0, NULL, 0)};
    struct flm_buf b;
    flm_buf_init(&b, 1 << 16);
    flm_avro_put_hsreq(&b, NULL);
    flm_avro_put_call(&b, FLM_AVRO_MSG_APPEND_BATCH, evs, 2);
    struct flm_avro_server srv = {0};
    struct flm_avro_request req;
    bool est = false;
    assert_int_equal(flm_avro_server_decode(&srv, b.p, b.len, &est, &req), FLM_OK);
    assert_int_equal(req.match, FLM_AVRO_BOTH);
    assert_int_equal(req.nevs, 2);
    assert_string_equal(hdr(req.evs[0], "host"), "web01");
    assert_int_equal(req.evs[1]->body_len, 0);
    flm_avro_request_clear(&req);

    /* A wrong guess of the server hash: CLIENT, and the call still runs. */
    size_t call_at;
    uint8_t guess[16] = {1, 2, 3};
    bool est3 = false;
    b.len = 0;
    flm_avro_put_hsreq(&b, guess);
    call_at = b.len;
    flm_avro_put_call(&b, FLM_AVRO_MSG_APPEND, evs, 1);
    assert_true(call_at > 0);
    assert_int_equal(flm_avro_server_decode(&srv, b.p, b.len, &est3, &req), FLM_OK);
    assert_int_equal(req.match, FLM_AVRO_CLIENT);
    assert_int_equal(req.nevs, 1);
    assert_true(est3);
    flm_avro_request_clear(&req);

    /* Established: an append without handshake. */
    b.len = 0;
    flm_avro_put_call(&b, FLM_AVRO_MSG_APPEND, evs, 1);
    assert_int_equal(flm_avro_server_decode(&srv, b.p, b.len, &est, &req), FLM_OK);
    assert_false(req.has_hs);
    assert_int_equal(req.msg, FLM_AVRO_MSG_APPEND);
    assert_int_equal(req.nevs, 1);
    flm_avro_request_clear(&req);

    /* Unknown message name: FLM_OK with msg -1 and Java's error text. */
    b.len = 0;
    flm_buf_append(&b, "\x00", 1);
    flm_avro_put_str(&b, "nosuch");
    assert_int_equal(flm_avro_server_decode(&srv, b.p, b.len, &est, &req), FLM_OK);
    assert_int_equal(req.msg, -1);
    assert_string_equal(req.why, "org.apache.avro.AvroRuntimeException: No such remote message: nosuch");
    flm_avro_request_clear(&req);

    flm_event_free(evs[0]);
    flm_event_free(evs[1]);
    flm_buf_free(&b);
}

static void bad_protocol_text_gives_error_without_handshake(void **state)
{
    (void)state;
    struct flm_buf b;
    flm_buf_init(&b, 1 << 16);
    uint8_t unknown[16] = {9};
    flm_buf_append(&b, unknown, 16);
    flm_buf_append(&b, "\x02", 1);
    flm_avro_put_str(&b, "not json");
    flm_buf_append(&b, unknown, 16);
    flm_buf_append(&b, "\x00\x00", 2);
    flm_avro_put_str(&b, "append");
    struct flm_avro_server srv = {0};
    struct flm_avro_request req;
    bool est = false;
    assert_int_equal(flm_avro_server_decode(&srv, b.p, b.len, &est, &req), FLM_OK);
    assert_true(req.hs_error);
    assert_false(est);
    struct flm_buf out;
    flm_buf_init(&out, 1 << 16);
    flm_avro_server_reply(&out, 3, &req, 0, req.why);
    /* meta 00, flag 01, union 00, string */
    assert_memory_equal(out.p + 12, "\x00\x01\x00", 3);
    flm_avro_request_clear(&req);
    flm_buf_free(&out);
    flm_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(varint_examples_from_spec),
        cmocka_unit_test(overlong_varint_is_corrupt),
        cmocka_unit_test(protocol_text_is_valid_and_hash_known),
        cmocka_unit_test(java_client_appendbatch_decodes_and_reply_matches),
        cmocka_unit_test(unknown_hash_gets_none_with_protocol_then_both),
        cmocka_unit_test(deflate_fixture_decodes_and_reply_roundtrips),
        cmocka_unit_test(framer_accepts_any_split),
        cmocka_unit_test(framer_two_frames_in_one_read),
        cmocka_unit_test(framer_refuses_absurd_lengths_before_allocating),
        cmocka_unit_test(gated_framer_needs_a_handshake_before_growing),
        cmocka_unit_test(huge_array_count_is_refused_without_allocation),
        cmocka_unit_test(client_request_roundtrips_through_server),
        cmocka_unit_test(bad_protocol_text_gives_error_without_handshake),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
