/*
 * serializer_test.c - the event serializers (src/serializers/): exact bytes
 * of text and header_and_text, lookup by alias and Flume class name, option
 * validation, and avro_event container files read back with avro-c's own
 * reader (an independent decoder) for the null, deflate and snappy codecs,
 * with one block per flush and syncIntervalBytes splitting blocks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "serializers/serializer.h"

#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct flm_serializer *make(const char *name, const char *const *kv)
{
    struct flm_kvs kvs;
    flm_kvs_init(&kvs);
    for (size_t i = 0; kv && kv[i]; i += 2)
        flm_kvs_set(&kvs, kv[i], kv[i + 1], "t.conf", 1);
    struct flm_serializer *s = flm_serializer_new(name, &kvs);
    flm_kvs_free(&kvs);
    assert_non_null(s);
    return s;
}

static struct flm_event *ev2(const char *body)
{
    struct flm_hdr h[2] = {flm_hdr_str("k1", "v=1, x}"), flm_hdr_str("k2", "v2")};
    return flm_event_new(body, strlen(body), h, 2);
}

/* Concatenates the iovecs of out into dst; returns the bytes. */
static size_t gather(struct flm_sout *out, uint8_t *dst)
{
    const struct iovec *iov;
    int n = flm_sout_iov(out, &iov);
    assert_true(n >= 0);
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        assert_true(iov[i].iov_len > 0);
        memcpy(dst + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    return len;
}

static void sout_gaps_are_skipped_by_iov_and_flatten(void **state)
{
    (void)state;
    struct flm_sout out;
    flm_sout_init(&out, 1 << 20);
    assert_int_equal(flm_buf_append(&out.buf, "GGaaXXbbbYcc", 12), FLM_OK);
    assert_int_equal(flm_sout_gap(&out, 0, 2), FLM_OK);
    assert_int_equal(flm_sout_gap(&out, 4, 2), FLM_OK);
    assert_int_equal(flm_sout_gap(&out, 9, 0), FLM_OK);   /* empty: ignored */
    assert_int_equal(flm_sout_gap(&out, 9, 1), FLM_OK);
    assert_int_equal(out.ngap, 3);
    assert_int_equal(flm_sout_len(&out), 7);
    const struct iovec *iov;
    assert_int_equal(flm_sout_iov(&out, &iov), 3);
    assert_int_equal(iov[0].iov_len, 2);
    assert_memory_equal(iov[0].iov_base, "aa", 2);
    assert_int_equal(iov[1].iov_len, 3);
    assert_memory_equal(iov[1].iov_base, "bbb", 3);
    assert_int_equal(iov[2].iov_len, 2);
    assert_memory_equal(iov[2].iov_base, "cc", 2);
    /* A gap at the very end gives no empty trailing piece. */
    assert_int_equal(flm_buf_append(&out.buf, "ZZ", 2), FLM_OK);
    assert_int_equal(flm_sout_gap(&out, 12, 2), FLM_OK);
    assert_int_equal(flm_sout_iov(&out, &iov), 3);
    out.hold = 13; /* held bytes move with the flattening */
    flm_sout_flatten(&out);
    assert_int_equal(out.ngap, 0);
    assert_int_equal(out.buf.len, 7);
    assert_memory_equal(out.buf.p, "aabbbcc", 7);
    assert_int_equal(out.hold, 13 - 7);
    flm_sout_reset(&out);
    assert_int_equal(flm_sout_len(&out), 0);
    assert_false(flm_sout_held(&out));
    assert_int_equal(flm_sout_iov(&out, &iov), 0);
    flm_sout_free(&out);
}

static void text_writes_body_and_newline_and_drops_headers(void **state)
{
    (void)state;
    struct flm_serializer *s = make("TEXT", NULL);
    struct flm_sout out;
    flm_sout_init(&out, 1 << 20);
    assert_int_equal(flm_serializer_begin(s, &out), FLM_OK);
    struct flm_event *a = ev2("0"), *b = ev2("line\nwith newline");
    assert_int_equal(flm_serializer_write(s, a, &out), FLM_OK);
    assert_int_equal(flm_serializer_write(s, b, &out), FLM_OK);
    assert_int_equal(flm_serializer_flush(s, &out), FLM_OK);
    assert_int_equal(out.buf.len, 20);
    assert_memory_equal(out.buf.p, "0\nline\nwith newline\n", 20);
    flm_event_free(a);
    flm_event_free(b);
    flm_sout_free(&out);
    flm_serializer_free(s);
}

static void text_without_newline_when_append_newline_false(void **state)
{
    (void)state;
    const char *kv[] = {"appendNewline", "false", NULL};
    struct flm_serializer *s = make("text", kv);
    struct flm_sout out;
    flm_sout_init(&out, 1 << 20);
    struct flm_event *a = ev2("ab");
    flm_serializer_write(s, a, &out);
    flm_serializer_write(s, a, &out);
    assert_int_equal(out.buf.len, 4);
    assert_memory_equal(out.buf.p, "abab", 4);
    flm_event_free(a);
    flm_sout_free(&out);
    flm_serializer_free(s);
}

static void header_and_text_matches_flume_verified_bytes(void **state)
{
    (void)state;
    struct flm_serializer *s =
        make("org.apache.flume.serialization.HeaderAndBodyTextEventSerializer$Builder", NULL);
    assert_string_equal(s->type->alias, "header_and_text");
    struct flm_sout out;
    flm_sout_init(&out, 1 << 20);
    struct flm_event *a = ev2("0"), *b = ev2("1");
    struct flm_event *none = flm_event_new("x", 1, NULL, 0);
    flm_serializer_write(s, a, &out);
    flm_serializer_write(s, b, &out);
    flm_serializer_write(s, none, &out);
    const char want[] = "{k1=v=1, x}, k2=v2} 0\n{k1=v=1, x}, k2=v2} 1\n{} x\n";
    assert_int_equal(out.buf.len, sizeof(want) - 1);
    assert_memory_equal(out.buf.p, want, sizeof(want) - 1);
    flm_event_free(a);
    flm_event_free(b);
    flm_event_free(none);
    flm_sout_free(&out);
    flm_serializer_free(s);
}

static void unknown_serializer_and_bad_option_are_config_errors(void **state)
{
    (void)state;
    struct flm_diag d;
    flm_diag_init(&d);
    struct flm_kvs kvs;
    flm_kvs_init(&kvs);
    assert_int_equal(flm_serializer_validate("com.example.Custom", &kvs, "a1.sinks.k1", &d),
                     FLM_ERR);
    assert_int_equal(d.nerr, 1);
    assert_non_null(strstr(d.v[0].msg, "com.example.Custom"));
    flm_kvs_set(&kvs, "syncIntervalBytes", "lots", "t.conf", 3);
    assert_int_equal(flm_serializer_validate("avro_event", &kvs, "a1.sinks.k1.serializer", &d),
                     FLM_ERR);
    assert_int_equal(d.nerr, 2);
    flm_kvs_free(&kvs);
    /* An unknown avro codec is only a warning (Flume falls back to null). */
    flm_kvs_init(&kvs);
    flm_kvs_set(&kvs, "compressionCodec", "lzma9", "t.conf", 4);
    flm_kvs_set(&kvs, "appendNewLine", "true", "t.conf", 5);
    assert_int_equal(flm_serializer_validate("avro_event", &kvs, "a1.sinks.k1.serializer", &d),
                     FLM_OK);
    assert_int_equal(d.nerr, 2);
    assert_true(d.nwarn >= 2);
    flm_kvs_free(&kvs);
    flm_diag_free(&d);
}

/* Writes `n` events through avro_event (flushing every `per_flush`) to a
 * temp file, then reads it back with avro-c: every record's headers and
 * body must match.  Returns the number of blocks counted in the file. */
static void avro_roundtrip(const char *codec, const char *sync, size_t n, size_t per_flush)
{
    const char *kv[] = {"compressionCodec", codec, "syncIntervalBytes", sync, NULL};
    struct flm_serializer *s = make("avro_event", kv);
    struct flm_sout out;
    flm_sout_init(&out, 1 << 26);
    assert_int_equal(flm_serializer_begin(s, &out), FLM_OK);
    for (size_t i = 0; i < n; i++) {
        char body[64], hv[32];
        snprintf(body, sizeof(body), "event body %zu", i);
        snprintf(hv, sizeof(hv), "%zu", i * 7);
        struct flm_hdr h[2] = {flm_hdr_str("seq", hv), flm_hdr_str("host", "h\xc3\xa9")};
        struct flm_event *ev = flm_event_new(body, strlen(body), h, i % 3 == 0 ? 0 : 2);
        assert_int_equal(flm_serializer_write(s, ev, &out), FLM_OK);
        flm_event_free(ev);
        if ((i + 1) % per_flush == 0)
            assert_int_equal(flm_serializer_flush(s, &out), FLM_OK);
    }
    assert_int_equal(flm_serializer_flush(s, &out), FLM_OK);
    assert_false(flm_sout_held(&out));
    /* What a sink writes with writev (the pieces between the gaps) is what
     * flattening gives. */
    uint8_t *gathered = malloc(flm_sout_len(&out) + 1);
    assert_non_null(gathered);
    size_t glen = gather(&out, gathered);
    assert_int_equal(glen, flm_sout_len(&out));
    flm_sout_flatten(&out);
    assert_int_equal(out.buf.len, glen);
    assert_memory_equal(out.buf.p, gathered, glen);
    free(gathered);
    char path[] = "/tmp/flm-sertest-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, out.buf.p, out.buf.len), (ssize_t)out.buf.len);
    close(fd);

    avro_file_reader_t r;
    assert_int_equal(avro_file_reader(path, &r), 0);
    avro_schema_t sch = avro_file_reader_get_writer_schema(r);
    avro_value_iface_t *iface = avro_generic_class_from_schema(sch);
    avro_value_t rec;
    avro_generic_value_new(iface, &rec);
    size_t got = 0;
    while (avro_file_reader_read_value(r, &rec) == 0) {
        avro_value_t hdrs, body;
        assert_int_equal(avro_value_get_by_name(&rec, "headers", &hdrs, NULL), 0);
        assert_int_equal(avro_value_get_by_name(&rec, "body", &body, NULL), 0);
        const void *bp;
        size_t bl = 0;
        avro_value_get_bytes(&body, &bp, &bl);
        char want[64];
        snprintf(want, sizeof(want), "event body %zu", got);
        assert_int_equal(bl, strlen(want));
        assert_memory_equal(bp, want, bl);
        size_t nh = 0;
        avro_value_get_size(&hdrs, &nh);
        assert_int_equal(nh, got % 3 == 0 ? 0 : 2);
        if (nh == 2) {
            avro_value_t v;
            const char *name, *str;
            size_t sl;
            avro_value_get_by_index(&hdrs, 1, &v, &name);
            assert_string_equal(name, "host");
            avro_value_get_string(&v, &str, &sl);
            assert_string_equal(str, "h\xc3\xa9");
        }
        got++;
        avro_value_reset(&rec);
    }
    assert_int_equal(got, n);
    avro_value_decref(&rec);
    avro_value_iface_decref(iface);
    avro_file_reader_close(r);
    avro_schema_decref(sch); /* the reader keeps a reference it never drops */
    unlink(path);
    flm_sout_free(&out);
    flm_serializer_free(s);
}

static void avro_event_null_codec_reads_back_with_avro_c(void **state)
{
    (void)state;
    avro_roundtrip("null", "2048000", 250, 100);
}

static void avro_event_deflate_reads_back_with_avro_c(void **state)
{
    (void)state;
    avro_roundtrip("deflate", "2048000", 250, 100);
}

static void avro_event_snappy_reads_back_with_avro_c(void **state)
{
    (void)state;
    avro_roundtrip("snappy", "2048000", 250, 100);
}

static void avro_sync_interval_splits_blocks_and_flush_ends_one(void **state)
{
    (void)state;
    avro_roundtrip("null", "100", 50, 1000);
    /* Count blocks: the 16-byte sync marker appears once after the header
     * and once after each block. */
    const char *kv[] = {"syncIntervalBytes", "100", NULL};
    struct flm_serializer *s = make("avro_event", kv);
    struct flm_sout out;
    flm_sout_init(&out, 1 << 20);
    flm_serializer_begin(s, &out);
    size_t hdr_len = out.buf.len;
    assert_memory_equal(out.buf.p, "Obj\x01", 4);
    const uint8_t *sync = out.buf.p + hdr_len - 16;
    uint8_t marker[16];
    memcpy(marker, sync, 16);
    for (int i = 0; i < 10; i++) {
        struct flm_event *ev = flm_event_new("0123456789012345678901234567890123456789", 40, NULL,
                                             0);
        flm_serializer_write(s, ev, &out);
        flm_event_free(ev);
    }
    /* 42-byte records: a block each time 100 bytes are reached -> 3 blocks of
     * 3 records, one record still buffered (held) until flush. */
    assert_true(flm_sout_held(&out));
    assert_int_equal(out.ngap, 3);
    flm_sout_flatten(&out);
    size_t blocks = 0;
    for (size_t i = hdr_len; i + 16 <= out.buf.len; i++)
        if (memcmp(out.buf.p + i, marker, 16) == 0)
            blocks++;
    assert_int_equal(blocks, 3);
    flm_serializer_flush(s, &out);
    assert_false(flm_sout_held(&out));
    flm_sout_flatten(&out);
    blocks = 0;
    for (size_t i = hdr_len; i + 16 <= out.buf.len; i++)
        if (memcmp(out.buf.p + i, marker, 16) == 0)
            blocks++;
    assert_int_equal(blocks, 4);
    /* An empty flush writes no empty block. */
    size_t len = flm_sout_len(&out);
    flm_serializer_flush(s, &out);
    assert_int_equal(flm_sout_len(&out), len);
    flm_sout_free(&out);
    flm_serializer_free(s);
}

/* The exact bytes of a null-codec block, encoded here by hand: the block
 * written in place (count and size in the end of its room, the rest of the
 * room a gap) is byte for byte what the previous copying writer produced. */
static void avro_null_block_bytes_are_exact_and_held_until_flush(void **state)
{
    (void)state;
    struct flm_serializer *s = make("avro_event", NULL);
    struct flm_sout out;
    flm_sout_init(&out, 1 << 20);
    assert_int_equal(flm_serializer_begin(s, &out), FLM_OK);
    assert_false(flm_sout_held(&out));
    size_t hdr_len = out.buf.len;
    uint8_t marker[16];
    memcpy(marker, out.buf.p + hdr_len - 16, 16);
    struct flm_hdr h = flm_hdr_str("k", "v");
    struct flm_event *a = flm_event_new("hi", 2, NULL, 0), *b = flm_event_new("xyz", 3, &h, 1);
    assert_int_equal(flm_serializer_write(s, a, &out), FLM_OK);
    assert_true(flm_sout_held(&out));
    assert_int_equal(out.hold, hdr_len);
    assert_int_equal(flm_serializer_write(s, b, &out), FLM_OK);
    assert_true(flm_sout_held(&out));
    assert_int_equal(flm_serializer_flush(s, &out), FLM_OK);
    assert_false(flm_sout_held(&out));
    assert_int_equal(out.ngap, 1);
    static const uint8_t block[] = {
        0x04, 0x1c,                                           /* count 2, size 14 */
        0x00, 0x04, 'h', 'i',                                 /* {}, "hi" */
        0x02, 0x02, 'k', 0x02, 'v', 0x00, 0x06, 'x', 'y', 'z' /* {k: v}, "xyz" */
    };
    uint8_t got[256];
    size_t n = gather(&out, got);
    assert_int_equal(n, hdr_len + sizeof(block) + 16);
    assert_memory_equal(got + hdr_len, block, sizeof(block));
    assert_memory_equal(got + hdr_len + sizeof(block), marker, 16);
    /* A sink writes and empties the output; the next block starts a new
     * room at offset 0 and ends the same way. */
    flm_sout_reset(&out);
    assert_int_equal(flm_serializer_write(s, a, &out), FLM_OK);
    assert_int_equal(out.hold, 0);
    assert_int_equal(flm_serializer_flush(s, &out), FLM_OK);
    n = gather(&out, got);
    static const uint8_t block2[] = {0x02, 0x08, 0x00, 0x04, 'h', 'i'};
    assert_int_equal(n, sizeof(block2) + 16);
    assert_memory_equal(got, block2, sizeof(block2));
    assert_memory_equal(got + sizeof(block2), marker, 16);
    flm_event_free(a);
    flm_event_free(b);
    flm_sout_free(&out);
    flm_serializer_free(s);
}

static void avro_header_has_flume_schema_and_codec(void **state)
{
    (void)state;
    struct flm_serializer *s = make("avro_event", NULL);
    struct flm_sout out;
    flm_sout_init(&out, 1 << 20);
    flm_serializer_begin(s, &out);
    const char schema[] = "{\"type\":\"record\",\"name\":\"Event\",\"fields\":[{\"name\":\"headers\","
                          "\"type\":{\"type\":\"map\",\"values\":\"string\"}},{\"name\":\"body\","
                          "\"type\":\"bytes\"}]}";
    assert_non_null(memmem(out.buf.p, out.buf.len, schema, sizeof(schema) - 1));
    assert_non_null(memmem(out.buf.p, out.buf.len, "\x14" "avro.codec\x08null", 16));
    /* metadata map: count 2 (zig-zag 4), ..., terminated by 0 then sync */
    assert_int_equal(out.buf.p[4], 4);
    assert_int_equal(out.buf.p[out.buf.len - 17], 0);
    flm_sout_free(&out);
    flm_serializer_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sout_gaps_are_skipped_by_iov_and_flatten),
        cmocka_unit_test(avro_null_block_bytes_are_exact_and_held_until_flush),
        cmocka_unit_test(text_writes_body_and_newline_and_drops_headers),
        cmocka_unit_test(text_without_newline_when_append_newline_false),
        cmocka_unit_test(header_and_text_matches_flume_verified_bytes),
        cmocka_unit_test(unknown_serializer_and_bad_option_are_config_errors),
        cmocka_unit_test(avro_event_null_codec_reads_back_with_avro_c),
        cmocka_unit_test(avro_event_deflate_reads_back_with_avro_c),
        cmocka_unit_test(avro_event_snappy_reads_back_with_avro_c),
        cmocka_unit_test(avro_sync_interval_splits_blocks_and_flush_ends_one),
        cmocka_unit_test(avro_header_has_flume_schema_and_codec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
