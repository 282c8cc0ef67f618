/*
 * netcat_line_test.c - unit tests for the netcat source's pure line logic
 * (src/sources/netcat_line.c): charset names, '\n'-only splitting, Flume's
 * max-line-length rule (characters including the newline, Java UTF-16
 * units), best-effort counting of invalid bytes, streaming over arbitrary
 * read boundaries, the UTF-8 body; plus the source's property table and
 * encoding validation (src/sources/netcat.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/component.h"
#include "sources/netcat_line.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct flm_type flm_source_netcat;

/* ------------------------------------------------------------- helpers */

/* Feeds the whole string at once; returns the result and the line length. */
static int split1(int enc, uint64_t max, const char *s, size_t *len)
{
    struct flm_nc_splitter sp;
    flm_nc_splitter_init(&sp, enc, max);
    return flm_nc_next_line(&sp, (const uint8_t *)s, strlen(s), len);
}

/* Feeds s one byte at a time, as a slow client would, and returns the
 * first result other than NEED_MORE (or NEED_MORE at the end). */
static int split_bytewise(int enc, uint64_t max, const char *s, size_t *len)
{
    struct flm_nc_splitter sp;
    flm_nc_splitter_init(&sp, enc, max);
    size_t n = strlen(s);
    int r = FLM_NC_NEED_MORE;
    for (size_t i = 1; i <= n; i++) {
        r = flm_nc_next_line(&sp, (const uint8_t *)s, i, len);
        if (r != FLM_NC_NEED_MORE)
            return r;
    }
    return r;
}

static uint64_t chars_of(const char *s)
{
    return flm_nc_count_chars(FLM_NC_UTF8, (const uint8_t *)s, strlen(s), NULL);
}

/* ------------------------------------------------------------ encodings */

static void encoding_names_and_java_aliases_are_accepted_in_any_case(void **state)
{
    (void)state;
    assert_int_equal(flm_nc_encoding_parse("utf-8"), FLM_NC_UTF8);
    assert_int_equal(flm_nc_encoding_parse("UTF-8"), FLM_NC_UTF8);
    assert_int_equal(flm_nc_encoding_parse("UTF8"), FLM_NC_UTF8);
    assert_int_equal(flm_nc_encoding_parse("iso-8859-1"), FLM_NC_LATIN1);
    assert_int_equal(flm_nc_encoding_parse("ISO8859_1"), FLM_NC_LATIN1);
    assert_int_equal(flm_nc_encoding_parse("Latin1"), FLM_NC_LATIN1);
    assert_int_equal(flm_nc_encoding_parse("us-ascii"), FLM_NC_ASCII);
    assert_int_equal(flm_nc_encoding_parse("ASCII"), FLM_NC_ASCII);
    assert_string_equal(flm_nc_encoding_name(FLM_NC_LATIN1), "ISO-8859-1");
}

static void unknown_encodings_are_rejected(void **state)
{
    (void)state;
    assert_int_equal(flm_nc_encoding_parse("UTF-16"), -1);
    assert_int_equal(flm_nc_encoding_parse("utf-88"), -1);
    assert_int_equal(flm_nc_encoding_parse(""), -1);
    assert_int_equal(flm_nc_encoding_parse(NULL), -1);
}

/* ------------------------------------------------------------ splitting */

static void line_ends_at_newline_and_keeps_carriage_returns(void **state)
{
    (void)state;
    size_t len = 99;
    assert_int_equal(split1(FLM_NC_UTF8, 512, "wor\rld\r\nnext", &len), FLM_NC_LINE);
    assert_int_equal(len, 7); /* "wor\rld\r" */
}

static void empty_line_is_a_line(void **state)
{
    (void)state;
    size_t len = 99;
    assert_int_equal(split1(FLM_NC_UTF8, 1, "\n", &len), FLM_NC_LINE);
    assert_int_equal(len, 0);
}

static void lines_are_returned_in_order_and_tail_waits(void **state)
{
    (void)state;
    const char *buf = "a\nbc\nde";
    struct flm_nc_splitter sp;
    flm_nc_splitter_init(&sp, FLM_NC_UTF8, 512);
    size_t off = 0, len;
    assert_int_equal(flm_nc_next_line(&sp, (const uint8_t *)buf, 7, &len), FLM_NC_LINE);
    assert_int_equal(len, 1);
    off += len + 1;
    assert_int_equal(flm_nc_next_line(&sp, (const uint8_t *)buf + off, 7 - off, &len),
                     FLM_NC_LINE);
    assert_int_equal(len, 2);
    off += len + 1;
    assert_int_equal(flm_nc_next_line(&sp, (const uint8_t *)buf + off, 7 - off, &len),
                     FLM_NC_NEED_MORE);
}

/* Flume with max-line-length = 20: 19 chars + newline OK, 20 + newline FAILED. */
static void limit_counts_the_newline(void **state)
{
    (void)state;
    size_t len;
    assert_int_equal(split1(FLM_NC_UTF8, 20, "1234567890123456789\n", &len), FLM_NC_LINE);
    assert_int_equal(len, 19);
    assert_int_equal(split1(FLM_NC_UTF8, 20, "12345678901234567890\n", &len), FLM_NC_TOO_LONG);
}

static void too_long_is_reported_before_the_newline_arrives(void **state)
{
    (void)state;
    size_t len;
    assert_int_equal(split1(FLM_NC_UTF8, 20, "1234567890123456789", &len), FLM_NC_NEED_MORE);
    assert_int_equal(split1(FLM_NC_UTF8, 20, "12345678901234567890", &len), FLM_NC_TOO_LONG);
}

static void limit_counts_characters_not_bytes(void **state)
{
    (void)state;
    size_t len;
    /* 4 x U+00E9 = 8 bytes, 4 chars: 5 with the newline. */
    assert_int_equal(split1(FLM_NC_UTF8, 5, "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\n", &len),
                     FLM_NC_LINE);
    assert_int_equal(len, 8);
    assert_int_equal(split1(FLM_NC_UTF8, 5, "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\n", &len),
                     FLM_NC_TOO_LONG);
    /* ISO-8859-1: every byte is a char: 6 bytes + newline are 7 chars,
     * where as UTF-8 they are 3 + 1. */
    assert_int_equal(split1(FLM_NC_UTF8, 5, "\xC3\xA9\xC3\xA9\xC3\xA9\n", &len), FLM_NC_LINE);
    assert_int_equal(split1(FLM_NC_LATIN1, 5, "\xC3\xA9\xC3\xA9\xC3\xA9\n", &len),
                     FLM_NC_TOO_LONG);
}

static void supplementary_characters_count_as_two_like_java(void **state)
{
    (void)state;
    size_t len;
    const char *two_emoji = "\xF0\x9F\x98\x80\xF0\x9F\x98\x80\n";
    assert_int_equal(chars_of("\xF0\x9F\x98\x80"), 2);
    assert_int_equal(split1(FLM_NC_UTF8, 5, two_emoji, &len), FLM_NC_LINE);
    assert_int_equal(split1(FLM_NC_UTF8, 4, two_emoji, &len), FLM_NC_TOO_LONG);
}

static void invalid_bytes_count_one_char_each_and_are_reported(void **state)
{
    (void)state;
    size_t len;
    uint64_t bad = 0;
    assert_int_equal(flm_nc_count_chars(FLM_NC_UTF8, (const uint8_t *)"bad\xFF\xFE", 5, &bad), 5);
    assert_int_equal(bad, 2);
    assert_int_equal(split1(FLM_NC_UTF8, 6, "bad\xFF\xFE\n", &len), FLM_NC_LINE);
    assert_int_equal(len, 5);
    assert_int_equal(split1(FLM_NC_UTF8, 5, "bad\xFF\xFE\n", &len), FLM_NC_TOO_LONG);
}

static void strict_utf8_rules_reject_overlongs_surrogates_and_out_of_range(void **state)
{
    (void)state;
    uint64_t bad = 0;
    /* overlong NUL, a surrogate, above U+10FFFF, a lone continuation */
    assert_int_equal(flm_nc_count_chars(FLM_NC_UTF8, (const uint8_t *)"\xC0\x80", 2, &bad), 2);
    assert_int_equal(flm_nc_count_chars(FLM_NC_UTF8, (const uint8_t *)"\xED\xA0\x80", 3, &bad),
                     3);
    assert_int_equal(
        flm_nc_count_chars(FLM_NC_UTF8, (const uint8_t *)"\xF4\x90\x80\x80", 4, &bad), 4);
    assert_int_equal(flm_nc_count_chars(FLM_NC_UTF8, (const uint8_t *)"\x80", 1, &bad), 1);
    /* 3- and 4-byte overlongs */
    assert_int_equal(flm_nc_count_chars(FLM_NC_UTF8, (const uint8_t *)"\xE0\x9F\xBF", 3, &bad),
                     3);
    assert_int_equal(
        flm_nc_count_chars(FLM_NC_UTF8, (const uint8_t *)"\xF0\x8F\xBF\xBF", 4, &bad), 4);
    assert_int_equal(bad, 17);
    bad = 0;
    /* the largest valid code points of each length */
    assert_int_equal(flm_nc_count_chars(FLM_NC_UTF8, (const uint8_t *)"\x7F\xDF\xBF\xEF\xBF\xBF"
                                                                      "\xF4\x8F\xBF\xBF",
                                        10, &bad),
                     5);
    assert_int_equal(bad, 0);
}

static void truncated_sequence_waits_unless_final(void **state)
{
    (void)state;
    uint64_t chars = 0, bad = 0;
    /* "ab" then the first two bytes of U+20AC */
    assert_int_equal(flm_nc_utf8_count((const uint8_t *)"ab\xE2\x82", 4, false, &chars, &bad), 2);
    assert_int_equal(chars, 2);
    assert_int_equal(bad, 0);
    chars = 0;
    assert_int_equal(flm_nc_utf8_count((const uint8_t *)"ab\xE2\x82", 4, true, &chars, &bad), 4);
    assert_int_equal(chars, 4);
    assert_int_equal(bad, 2);
}

static void byte_by_byte_arrival_gives_the_same_answer(void **state)
{
    (void)state;
    static const struct {
        uint64_t max;
        const char *in;
        int want;
        size_t len;
    } cases[] = {
        {20, "1234567890123456789\n", FLM_NC_LINE, 19},
        {20, "12345678901234567890\n", FLM_NC_TOO_LONG, 0},
        {5, "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\n", FLM_NC_LINE, 8},
        {4, "\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC\n", FLM_NC_LINE, 9},
        {3, "\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC\n", FLM_NC_TOO_LONG, 0},
        {5, "\xF0\x9F\x98\x80\xF0\x9F\x98\x80\n", FLM_NC_LINE, 8},
        {4, "\xF0\x9F\x98\x80\xF0\x9F\x98\x80\n", FLM_NC_TOO_LONG, 0},
        {6, "bad\xFF\xFE\n", FLM_NC_LINE, 5},
        {5, "bad\xFF\xFE\n", FLM_NC_TOO_LONG, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t l1 = 0, l2 = 0;
        int whole = split1(FLM_NC_UTF8, cases[i].max, cases[i].in, &l1);
        int bytes = split_bytewise(FLM_NC_UTF8, cases[i].max, cases[i].in, &l2);
        if (whole != cases[i].want || bytes != cases[i].want)
            fail_msg("case %zu: whole %d bytewise %d want %d", i, whole, bytes, cases[i].want);
        if (cases[i].want == FLM_NC_LINE) {
            assert_int_equal(l1, cases[i].len);
            assert_int_equal(l2, cases[i].len);
        }
    }
}

/* NEED_MORE only while the pending line is within 3 bytes per char, which
 * is what sizes the source's input buffer. */
static void pending_line_never_exceeds_three_bytes_per_char(void **state)
{
    (void)state;
    const uint64_t max = 10;
    uint8_t buf[64];
    for (size_t i = 0; i + 3 <= sizeof(buf); i += 3)
        memcpy(buf + i, "\xE2\x82\xAC", 3);
    struct flm_nc_splitter sp;
    flm_nc_splitter_init(&sp, FLM_NC_UTF8, max);
    size_t len, n;
    int r = FLM_NC_NEED_MORE;
    for (n = 1; n <= sizeof(buf) - sizeof(buf) % 3; n++) {
        r = flm_nc_next_line(&sp, buf, n, &len);
        if (r != FLM_NC_NEED_MORE)
            break;
        assert_true(n <= 3 * max);
    }
    assert_int_equal(r, FLM_NC_TOO_LONG);
    assert_int_equal(n, 3 * max); /* exactly when the 10th char completes */
}

/* -------------------------------------------------------------- bodies */

static void latin1_body_is_converted_to_utf8(void **state)
{
    (void)state;
    const uint8_t in[] = {'c', 'a', 'f', 0xE9, 0xFF};
    size_t bl = flm_nc_body_len(FLM_NC_LATIN1, in, sizeof(in));
    assert_int_equal(bl, 7);
    uint8_t out[8] = {0};
    flm_nc_body_write(FLM_NC_LATIN1, in, sizeof(in), out);
    assert_memory_equal(out, "caf\xC3\xA9\xC3\xBF", 7);
}

static void utf8_and_ascii_bodies_are_kept_byte_exact(void **state)
{
    (void)state;
    const uint8_t in[] = {'b', 'a', 'd', 0xFF, 0xFE, '\r'};
    for (int enc = FLM_NC_UTF8; enc <= FLM_NC_ASCII; enc += 2) {
        assert_int_equal(flm_nc_body_len(enc, in, sizeof(in)), sizeof(in));
        uint8_t out[sizeof(in)];
        flm_nc_body_write(enc, in, sizeof(in), out);
        assert_memory_equal(out, in, sizeof(in));
    }
    uint64_t bad = 0;
    assert_int_equal(flm_nc_count_chars(FLM_NC_ASCII, in, sizeof(in), &bad), 6);
    assert_int_equal(bad, 2);
}

/* ------------------------------------------------------ property table */

static int load(const char *const *kv, struct flm_diag *d, void **confp)
{
    struct flm_kvs kvs;
    flm_kvs_init(&kvs);
    for (size_t i = 0; kv[i]; i += 2)
        assert_int_equal(flm_kvs_set(&kvs, kv[i], kv[i + 1], "t.conf", (int)i + 1), FLM_OK);
    void *conf = calloc(1, flm_source_netcat.conf_size);
    assert_non_null(conf);
    int rc = flm_props_load(flm_source_netcat.props, &kvs, conf, "a1.sources.r1", d);
    if (rc == FLM_OK && flm_source_netcat.validate)
        rc = flm_source_netcat.validate(conf, "a1.sources.r1", d);
    flm_kvs_free(&kvs);
    *confp = conf;
    return rc;
}

static void unload(void *conf)
{
    flm_props_free(flm_source_netcat.props, conf);
    free(conf);
}

static bool diag_names_key(const struct flm_diag *d, const char *key)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->v[i].sev == FLM_SEV_ERROR && strcmp(d->v[i].key, key) == 0)
            return true;
    return false;
}

static void type_descriptor_matches_flume(void **state)
{
    (void)state;
    assert_int_equal(flm_source_netcat.kind, FLM_SOURCE);
    assert_string_equal(flm_source_netcat.alias, "netcat");
    assert_string_equal(flm_source_netcat.klass, "org.apache.flume.source.NetcatSource");
    assert_true(flm_source_netcat.no_counters);
    const struct flm_source_ops *ops = flm_source_netcat.ops;
    assert_non_null(ops);
    assert_non_null(ops->start);
    assert_non_null(ops->stop);
    assert_null(ops->process);
}

static void defaults_load_and_every_encoding_spelling_validates(void **state)
{
    (void)state;
    const char *names[] = {"utf-8", "UTF8", "ISO-8859-1", "latin1", "US-ASCII", NULL};
    for (size_t i = 0; names[i]; i++) {
        const char *kv[] = {"bind", "localhost", "port", "4141", "encoding", names[i], NULL};
        struct flm_diag d;
        flm_diag_init(&d);
        void *conf;
        assert_int_equal(load(kv, &d, &conf), FLM_OK);
        assert_int_equal(d.nerr, 0);
        assert_int_equal(flm_props_int_value(&flm_source_netcat, conf, "max-line-length"), 512);
        assert_int_equal(flm_props_int_value(&flm_source_netcat, conf, "port"), 4141);
        unload(conf);
        flm_diag_free(&d);
    }
}

static void bad_encoding_is_a_config_error_naming_the_key(void **state)
{
    (void)state;
    const char *kv[] = {"bind", "localhost", "port", "4141", "encoding", "UTF-16", NULL};
    struct flm_diag d;
    flm_diag_init(&d);
    void *conf;
    assert_int_equal(load(kv, &d, &conf), FLM_ERR);
    assert_true(diag_names_key(&d, "encoding"));
    unload(conf);
    flm_diag_free(&d);
}

static void missing_bind_and_bad_port_are_config_errors(void **state)
{
    (void)state;
    const char *nobind[] = {"port", "4141", NULL};
    const char *badport[] = {"bind", "0.0.0.0", "port", "65536", NULL};
    struct flm_diag d;
    void *conf;
    flm_diag_init(&d);
    assert_int_equal(load(nobind, &d, &conf), FLM_ERR);
    assert_true(diag_names_key(&d, "bind"));
    unload(conf);
    flm_diag_free(&d);
    flm_diag_init(&d);
    assert_int_equal(load(badport, &d, &conf), FLM_ERR);
    assert_true(diag_names_key(&d, "port"));
    unload(conf);
    flm_diag_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encoding_names_and_java_aliases_are_accepted_in_any_case),
        cmocka_unit_test(unknown_encodings_are_rejected),
        cmocka_unit_test(line_ends_at_newline_and_keeps_carriage_returns),
        cmocka_unit_test(empty_line_is_a_line),
        cmocka_unit_test(lines_are_returned_in_order_and_tail_waits),
        cmocka_unit_test(limit_counts_the_newline),
        cmocka_unit_test(too_long_is_reported_before_the_newline_arrives),
        cmocka_unit_test(limit_counts_characters_not_bytes),
        cmocka_unit_test(supplementary_characters_count_as_two_like_java),
        cmocka_unit_test(invalid_bytes_count_one_char_each_and_are_reported),
        cmocka_unit_test(strict_utf8_rules_reject_overlongs_surrogates_and_out_of_range),
        cmocka_unit_test(truncated_sequence_waits_unless_final),
        cmocka_unit_test(byte_by_byte_arrival_gives_the_same_answer),
        cmocka_unit_test(pending_line_never_exceeds_three_bytes_per_char),
        cmocka_unit_test(latin1_body_is_converted_to_utf8),
        cmocka_unit_test(utf8_and_ascii_bodies_are_kept_byte_exact),
        cmocka_unit_test(type_descriptor_matches_flume),
        cmocka_unit_test(defaults_load_and_every_encoding_spelling_validates),
        cmocka_unit_test(bad_encoding_is_a_config_error_naming_the_key),
        cmocka_unit_test(missing_bind_and_bad_port_are_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
