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

static void text_writes_body_and_newline_and_drops_headers(void **state)
{
    (void)state;
    struct flm_serializer *s = make("TEXT", NULL);
    struct flm_buf out;
    flm_buf_init(&out, 1 << 20);
    assert_int_equal(flm_serializer_begin(s, &out), FLM_OK);
    struct flm_event *a = ev2("0"), *b = ev2("line\nwith newline");
    assert_int_equal(flm_serializer_write(s, a, &out), FLM_OK);
    assert_int_equal(flm_serializer_write(s, b, &out), FLM_OK);
    assert_int_equal(flm_serializer_flush(s, &out), FLM_OK);
    assert_int_equal(out.len, 20);
    assert_memory_equal(out.p, "0\nline\nwith newline\n", 20);
    flm_event_free(a);
    flm_event_free(b);
    flm_buf_free(&out);
    flm_serializer_free(s);
}

static void text_without_newline_when_append_newline_false(void **state)
{
    (void)state;
    const char *kv[] = {"appendNewline", "false", NULL};
    struct flm_serializer *s = make("text", kv);
    struct flm_buf out;
    flm_buf_init(&out, 1 << 20);
    struct flm_event *a = ev2("ab");
    flm_serializer_write(s, a, &out);
    flm_serializer_write(s, a, &out);
    assert_int_equal(out.len, 4);
    assert_memory_equal(out.p, "abab", 4);
    flm_event_free(a);
    flm_buf_free(&out);
    flm_serializer_free(s);
}

static void header_and_text_matches_flume_verified_bytes(void **state)
{
    (void)state;
    struct flm_serializer *s =
        make("org.apache.flume.serialization.HeaderAndBodyTextEventSerializer$Builder", NULL);
    assert_string_equal(s->type->alias, "header_and_text");
    struct flm_buf out;
    flm_buf_init(&out, 1 << 20);
    struct flm_event *a = ev2("0"), *b = ev2("1");
    struct flm_event *none = flm_event_new("x", 1, NULL, 0);
    flm_serializer_write(s, a, &out);
    flm_serializer_write(s, b, &out);
    flm_serializer_write(s, none, &out);
    const char want[] = "{k1=v=1, x}, k2=v2} 0\n{k1=v=1, x}, k2=v2} 1\n{} x\n";
    assert_int_equal(out.len, sizeof(want) - 1);
    assert_memory_equal(out.p, want, sizeof(want) - 1);
    flm_event_free(a);
    flm_event_free(b);
    flm_event_free(none);
    flm_buf_free(&out);
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
    struct flm_buf out;
    flm_buf_init(&out, 1 << 26);
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
    char path[] = "/tmp/flm-sertest-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, out.p, out.len), (ssize_t)out.len);
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
    flm_buf_free(&out);
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
    struct flm_buf out;
    flm_buf_init(&out, 1 << 20);
    flm_serializer_begin(s, &out);
    size_t hdr_len = out.len;
    assert_memory_equal(out.p, "Obj\x01", 4);
    const uint8_t *sync = out.p + hdr_len - 16;
    uint8_t marker[16];
    memcpy(marker, sync, 16);
    for (int i = 0; i < 10; i++) {
        struct flm_event *ev = flm_event_new("0123456789012345678901234567890123456789", 40, NULL,
                                             0);
        flm_serializer_write(s, ev, &out);
        flm_event_free(ev);
    }
    /* 42-byte records: a block each time 100 bytes are reached -> 3 blocks of
     * 3 records, one record still buffered until flush. */
    size_t blocks = 0;
    for (size_t i = hdr_len; i + 16 <= out.len; i++)
        if (memcmp(out.p + i, marker, 16) == 0)
            blocks++;
    assert_int_equal(blocks, 3);
    flm_serializer_flush(s, &out);
    blocks = 0;
    for (size_t i = hdr_len; i + 16 <= out.len; i++)
        if (memcmp(out.p + i, marker, 16) == 0)
            blocks++;
    assert_int_equal(blocks, 4);
    /* An empty flush writes no empty block. */
    size_t len = out.len;
    flm_serializer_flush(s, &out);
    assert_int_equal(out.len, len);
    flm_buf_free(&out);
    flm_serializer_free(s);
}

static void avro_header_has_flume_schema_and_codec(void **state)
{
    (void)state;
    struct flm_serializer *s = make("avro_event", NULL);
    struct flm_buf out;
    flm_buf_init(&out, 1 << 20);
    flm_serializer_begin(s, &out);
    const char schema[] = "{\"type\":\"record\",\"name\":\"Event\",\"fields\":[{\"name\":\"headers\","
                          "\"type\":{\"type\":\"map\",\"values\":\"string\"}},{\"name\":\"body\","
                          "\"type\":\"bytes\"}]}";
    assert_non_null(memmem(out.p, out.len, schema, sizeof(schema) - 1));
    assert_non_null(memmem(out.p, out.len, "\x14" "avro.codec\x08null", 16));
    /* metadata map: count 2 (zig-zag 4), ..., terminated by 0 then sync */
    assert_int_equal(out.p[4], 4);
    assert_int_equal(out.p[out.len - 17], 0);
    flm_buf_free(&out);
    flm_serializer_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
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
