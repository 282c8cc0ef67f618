/*
 * properties_test.c - flm_properties_parse / flm_properties_load_file against
 * the java.util.Properties rules of spec/config.md section 1 (separators,
 * comments, continuations, escapes, line ends, trimming, Latin-1 -> UTF-8,
 * \uXXXX and surrogates, malformed \u, last-wins with line numbers) and the
 * file loader's errors.  Single-threaded; temp files under $TMPDIR or /tmp.
 */
/* cmocka.h needs the four headers before it. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include "core/config/properties.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ helpers */

static int parse_n(const char *text, size_t len, struct flm_kvs *kvs, struct flm_err *err)
{
    flm_kvs_init(kvs);
    memset(err, 0, sizeof(*err));
    return flm_properties_parse(text, len, "t.properties", kvs, err);
}

/* Parses NUL-terminated text that must be valid. */
static void parse_ok(const char *text, struct flm_kvs *kvs)
{
    struct flm_err err;
    int rc = parse_n(text, strlen(text), kvs, &err);
    if (rc != FLM_OK)
        fail_msg("parse failed: %s", err.msg);
}

static void assert_kv(const struct flm_kvs *kvs, const char *key, const char *val, int line)
{
    struct flm_kv *kv = flm_kvs_find(kvs, key);
    if (kv == NULL)
        fail_msg("key [%s] missing", key);
    assert_string_equal(kv->val, val);
    if (line > 0)
        assert_int_equal(kv->line, line);
    assert_string_equal(kv->file, "t.properties");
}

/* Parses text and checks it yields exactly one pair. */
static void assert_single(const char *text, const char *key, const char *val)
{
    struct flm_kvs kvs;
    parse_ok(text, &kvs);
    if (kvs.n != 1)
        fail_msg("[%s]: %zu pairs, first key [%s]", text, kvs.n, kvs.n ? kvs.v[0].key : "");
    assert_string_equal(kvs.v[0].key, key);
    assert_string_equal(kvs.v[0].val, val);
    flm_kvs_free(&kvs);
}

static void assert_malformed(const char *text, const char *msg)
{
    struct flm_kvs kvs;
    struct flm_err err;
    int rc = parse_n(text, strlen(text), &kvs, &err);
    assert_int_equal(rc, FLM_ERR);
    assert_int_equal(err.rc, FLM_ERR);
    assert_string_equal(err.msg, msg);
    assert_int_equal(kvs.n, 0);
    flm_kvs_free(&kvs);
}

/* -------------------------------------------------------------- tests */

static void every_separator_form_gives_the_same_pair(void **state)
{
    (void)state;
    const char *forms[] = {"k=v",     "k:v",   "k v",     "k = v",   "k : v",  "k\tv",  "k\fv",
                           "k  =  v", "  k=v", "k\t=\tv", "k \f: v", "k=v   ", "k    v"};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
        assert_single(forms[i], "k", "v");
}

static void only_one_separator_char_is_consumed(void **state)
{
    (void)state;
    assert_single("k =: v", "k", ": v");
    assert_single("k:=v", "k", "=v");
    assert_single("k==v", "k", "=v");
    assert_single("k v = w", "k", "v = w");
    assert_single("k = a:b=c", "k", "a:b=c");
    assert_single("a.b.c=x y z", "a.b.c", "x y z");
}

static void key_without_value_has_empty_value(void **state)
{
    (void)state;
    struct flm_kvs kvs;
    parse_ok("lonely\nspaced   \nwith_eq=\nwith_colon :  \n", &kvs);
    assert_int_equal(kvs.n, 4);
    assert_kv(&kvs, "lonely", "", 1);
    assert_kv(&kvs, "spaced", "", 2);
    assert_kv(&kvs, "with_eq", "", 3);
    assert_kv(&kvs, "with_colon", "", 4);
    flm_kvs_free(&kvs);
}

static void comment_lines_are_skipped_even_with_leading_whitespace(void **state)
{
    (void)state;
    struct flm_kvs kvs;
    parse_ok("# hash\n! bang\n   !x = 1\n\t#y = 2\n \f # z\na = 1\n#b = 2\n", &kvs);
    assert_int_equal(kvs.n, 1);
    assert_kv(&kvs, "a", "1", 6);
    flm_kvs_free(&kvs);
}

static void there_are_no_trailing_comments(void **state)
{
    (void)state;
    assert_single("v1 = v1  # not a comment", "v1", "v1  # not a comment");
    assert_single("k = a ! b", "k", "a ! b");
    /* '#' starting a key after an escape is data, not a comment. */
    assert_single("\\#k = 1", "#k", "1");
}

static void comment_line_ending_in_backslash_is_not_continued(void **state)
{
    (void)state;
    struct flm_kvs kvs;
    parse_ok("# comment \\\nk = v\n", &kvs);
    assert_int_equal(kvs.n, 1);
    assert_kv(&kvs, "k", "v", 2);
    flm_kvs_free(&kvs);
}

static void blank_and_whitespace_lines_are_ignored(void **state)
{
    (void)state;
    struct flm_kvs kvs;
    parse_ok("\n   \n\t\f\n\na = 1\n\n \nb = 2", &kvs);
    assert_int_equal(kvs.n, 2);
    assert_kv(&kvs, "a", "1", 5);
    assert_kv(&kvs, "b", "2", 8);
    flm_kvs_free(&kvs);

    parse_ok("", &kvs);
    assert_int_equal(kvs.n, 0);
    parse_ok("  \n# only comments\n\n", &kvs);
    assert_int_equal(kvs.n, 0);
    struct flm_err err;
    assert_int_equal(parse_n(NULL, 0, &kvs, &err), FLM_OK);
    assert_int_equal(kvs.n, 0);
}

static void odd_backslashes_continue_the_line(void **state)
{
    (void)state;
    /* Verified on Flume 1.11.0. */
    assert_single("s = s1 \\\n     s3 s4 s5", "s", "s1 s3 s4 s5");
    /* Three backslashes: one escaped pair plus a continuation. */
    assert_single("k = x\\\\\\\n   y", "k", "x\\y");
    /* Several continuations; the key line is the first one. */
    struct flm_kvs kvs;
    parse_ok("a = 1 \\\n  2 \\\n\t3\nb = 4\n", &kvs);
    assert_int_equal(kvs.n, 2);
    assert_kv(&kvs, "a", "1 2 3", 1);
    assert_kv(&kvs, "b", "4", 4);
    flm_kvs_free(&kvs);
}

static void even_backslashes_do_not_continue(void **state)
{
    (void)state;
    struct flm_kvs kvs;
    parse_ok("a = x\\\\\nb = y\\\\\\\\\nc = z\n", &kvs);
    assert_int_equal(kvs.n, 3);
    assert_kv(&kvs, "a", "x\\", 1);
    assert_kv(&kvs, "b", "y\\\\", 2);
    assert_kv(&kvs, "c", "z", 3);
    flm_kvs_free(&kvs);
}

static void continuation_edge_cases(void **state)
{
    (void)state;
    /* The key itself can be split. */
    assert_single("ke\\\n   y = v", "key", "v");
    /* A continued line's '#' is data. */
    assert_single("a = 1\\\n#2", "a", "1#2");
    /* An empty continuation line ends the logical line. */
    struct flm_kvs kvs;
    parse_ok("a = 1\\\n\nb = 2", &kvs);
    assert_int_equal(kvs.n, 2);
    assert_kv(&kvs, "a", "1", 1);
    assert_kv(&kvs, "b", "2", 3);
    flm_kvs_free(&kvs);
    /* JDK 9+: after a continuation that left nothing, '#' starts a comment. */
    parse_ok("\\\n# c = 1\nk = v", &kvs);
    assert_int_equal(kvs.n, 1);
    assert_kv(&kvs, "k", "v", 3);
    flm_kvs_free(&kvs);
    /* A backslash at end of input is dropped. */
    assert_single("a = b\\", "a", "b");
    assert_single("a = b\\\n", "a", "b");
    /* Continuation across \r\n and \r line ends. */
    assert_single("a = 1\\\r\n  2", "a", "12");
    assert_single("a = 1\\\r  2", "a", "12");
}

static void all_line_terminators_count_lines(void **state)
{
    (void)state;
    struct flm_kvs kvs;
    parse_ok("a=1\rb=2\r\nc=3\nd=4\r\r\ne=5\n\r\nf=6", &kvs);
    assert_int_equal(kvs.n, 6);
    assert_kv(&kvs, "a", "1", 1);
    assert_kv(&kvs, "b", "2", 2);
    assert_kv(&kvs, "c", "3", 3);
    assert_kv(&kvs, "d", "4", 4);
    assert_kv(&kvs, "e", "5", 6);
    assert_kv(&kvs, "f", "6", 8);
    flm_kvs_free(&kvs);
    /* Line numbers stay right after a continuation over \r\n. */
    parse_ok("a = 1 \\\r\n 2\r\nb = 3\r\n", &kvs);
    assert_kv(&kvs, "a", "1 2", 1);
    assert_kv(&kvs, "b", "3", 3);
    flm_kvs_free(&kvs);
}

static void escapes_in_keys(void **state)
{
    (void)state;
    /* Verified on Flume 1.11.0. */
    assert_single("k\\u0041\\ x = v", "kA x", "v");
    assert_single("a\\=b = c", "a=b", "c");
    assert_single("a\\:b:c", "a:b", "c");
    assert_single("a\\ b c", "a b", "c");
    assert_single("t\\tab = 1", "t\tab", "1");
}

static void escapes_in_values(void **state)
{
    (void)state;
    /* Verified on Flume 1.11.0. */
    assert_single("k = a\\=b\\:c\\\\d\\qe", "k", "a=b:c\\dqe");
    assert_single("k = a\\tb\\nc\\rd\\fe", "k", "a\tb\nc\rd\fe");
    assert_single("k = \\b\\#\\!\\ x", "k", "b#! x");
    assert_single("k = \\u0048\\u0069", "k", "Hi");
    assert_single("k = \\u00e9\\u00C9", "k", "\xc3\xa9\xc3\x89");
    assert_single("k = \\u20ac", "k", "\xe2\x82\xac");
}

static void key_and_value_are_java_trimmed(void **state)
{
    (void)state;
    /* trim() strips every char <= U+0020, escaped ones included. */
    assert_single("k = \\u0020v\\t\\n ", "k", "v");
    assert_single("\\u0001k\\u0002 = \\u001fv\\u0007", "k", "v");
    assert_single("k = \\ \\ ", "k", "");
    /* Inside the value they stay. */
    assert_single("k = a\\u0001b", "k",
                  "a\x01"
                  "b");
    /* Characters above U+0020 are not trimmed. */
    assert_single("k = \\u00a0v\\u00a0", "k", "\xc2\xa0v\xc2\xa0");
}

static void latin1_bytes_become_utf8(void **state)
{
    (void)state;
    assert_single("k=\xfc", "k", "\xc3\xbc");
    assert_single("\xe9t\xe9 = gr\xfcn \xff", "\xc3\xa9t\xc3\xa9", "gr\xc3\xbcn \xc3\xbf");
    assert_single("k = \x80\xa0x", "k", "\xc2\x80\xc2\xa0x");
}

static void surrogate_pairs_combine_and_lone_ones_are_replaced(void **state)
{
    (void)state;
    assert_single("k = \\ud83d\\ude00", "k", "\xf0\x9f\x98\x80");
    assert_single("k = \\uD83D\\uDE00!", "k", "\xf0\x9f\x98\x80!");
    assert_single("k = a\\ud83db", "k",
                  "a\xef\xbf\xbd"
                  "b");
    assert_single("k = \\ude00\\ud83d", "k", "\xef\xbf\xbd\xef\xbf\xbd");
    assert_single("k = \\ud83d", "k", "\xef\xbf\xbd");
}

static void nul_inside_a_value_is_replaced_not_truncated(void **state)
{
    (void)state;
    static const char text[] = "k = a\0b\nz = \\u0000c\\u0000";
    struct flm_kvs kvs;
    struct flm_err err;
    assert_int_equal(parse_n(text, sizeof(text) - 1, &kvs, &err), FLM_OK);
    assert_kv(&kvs, "k",
              "a\xef\xbf\xbd"
              "b",
              1);
    assert_kv(&kvs, "z", "c", 2); /* U+0000 at the ends is trimmed */
    flm_kvs_free(&kvs);
}

static void malformed_unicode_escape_rejects_the_whole_file(void **state)
{
    (void)state;
    assert_malformed("a = 1\nb = \\u12G4\n", "t.properties:2: malformed \\uxxxx encoding");
    assert_malformed("a = \\u12", "t.properties:1: malformed \\uxxxx encoding");
    assert_malformed("\n\nk\\u00 = v", "t.properties:3: malformed \\uxxxx encoding");
    assert_malformed("a = \\u", "t.properties:1: malformed \\uxxxx encoding");
    /* The line is the physical line of the bad escape. */
    assert_malformed("a = x \\\n  y \\\n \\uZZZZ\n", "t.properties:3: malformed \\uxxxx encoding");
    /* The four digits must be inside the value: bytes of a longer earlier
     * line (JDK 8 read them) do not count. */
    assert_malformed("a = 0123456789\nb = \\u00", "t.properties:2: malformed \\uxxxx encoding");
    /* Four digits must be in the key: the separator ends the key region. */
    assert_malformed("\\u004=1", "t.properties:1: malformed \\uxxxx encoding");
}

static void malformed_file_empties_out(void **state)
{
    (void)state;
    struct flm_kvs kvs;
    struct flm_err err = {0};
    flm_kvs_init(&kvs);
    assert_int_equal(flm_kvs_set(&kvs, "earlier", "x", NULL, 0), FLM_OK);
    assert_int_equal(flm_properties_parse("a=1\nb=\\uXYZW", 12, "f", &kvs, &err), FLM_ERR);
    assert_int_equal(kvs.n, 0);
    assert_string_equal(err.msg, "f:2: malformed \\uxxxx encoding");
    flm_kvs_free(&kvs);
}

static void unicode_escape_spanning_a_continuation_is_joined(void **state)
{
    (void)state;
    assert_single("k = \\u00\\\n   41", "k", "A");
}

static void duplicate_keys_last_wins_with_its_line(void **state)
{
    (void)state;
    struct flm_kvs kvs;
    /* Verified on Flume 1.11.0: batchSize = 500 then batchSize = 1 -> 1. */
    parse_ok("batchSize = 500\nother = x\n\nbatchSize = 1\n", &kvs);
    assert_int_equal(kvs.n, 2);
    assert_string_equal(kvs.v[0].key, "batchSize");
    assert_kv(&kvs, "batchSize", "1", 4);
    assert_kv(&kvs, "other", "x", 2);
    flm_kvs_free(&kvs);
    /* Keys differing only after escapes/trim collide too. */
    parse_ok("k\\u0041 = 1\nkA = 2\n  kA\t= 3", &kvs);
    assert_int_equal(kvs.n, 1);
    assert_kv(&kvs, "kA", "3", 3);
    flm_kvs_free(&kvs);
}

static void parsing_merges_into_an_existing_list(void **state)
{
    (void)state;
    struct flm_kvs kvs;
    struct flm_err err;
    flm_kvs_init(&kvs);
    assert_int_equal(flm_properties_parse("a=1\nb=2", 7, "one", &kvs, &err), FLM_OK);
    assert_int_equal(flm_properties_parse("b=3\nc=4", 7, "two", &kvs, &err), FLM_OK);
    assert_int_equal(kvs.n, 3);
    struct flm_kv *b = flm_kvs_find(&kvs, "b");
    assert_string_equal(b->val, "3");
    assert_string_equal(b->file, "two");
    assert_int_equal(b->line, 1);
    assert_string_equal(flm_kvs_find(&kvs, "a")->file, "one");
    flm_kvs_free(&kvs);
}

/* ---------------------------------------------------------- file I/O */

static char *write_temp(const char *content, size_t len)
{
    const char *dir = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof(tmpl), "%s/props_test_XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    close(fd);
    return strdup(tmpl);
}

static void load_file_reads_and_names_the_file(void **state)
{
    (void)state;
    const char text[] = "# agent\na1.sources = r1\na1.channels = c1 \\\n   c2\n";
    char *path = write_temp(text, sizeof(text) - 1);
    char *path2 = write_temp("a1.channels = c9\n", strlen("a1.channels = c9\n"));
    struct flm_kvs kvs;
    struct flm_err err = {0};
    flm_kvs_init(&kvs);
    assert_int_equal(flm_properties_load_file(path, &kvs, &err), FLM_OK);
    assert_int_equal(kvs.n, 2);
    struct flm_kv *kv = flm_kvs_find(&kvs, "a1.channels");
    assert_string_equal(kv->val, "c1 c2");
    assert_string_equal(kv->file, path);
    assert_int_equal(kv->line, 3);
    /* A later file overrides. */
    assert_int_equal(flm_properties_load_file(path2, &kvs, &err), FLM_OK);
    kv = flm_kvs_find(&kvs, "a1.channels");
    assert_string_equal(kv->val, "c9");
    assert_string_equal(kv->file, path2);
    assert_int_equal(kv->line, 1);
    assert_string_equal(flm_kvs_get(&kvs, "a1.sources"), "r1");
    flm_kvs_free(&kvs);
    unlink(path);
    unlink(path2);
    free(path);
    free(path2);
}

static void load_file_reports_path_and_errno(void **state)
{
    (void)state;
    struct flm_kvs kvs;
    struct flm_err err = {0};
    flm_kvs_init(&kvs);
    int rc = flm_properties_load_file("/nonexistent/dir/flume.conf", &kvs, &err);
    assert_int_equal(rc, FLM_EIO);
    assert_int_equal(err.rc, FLM_EIO);
    assert_int_equal(err.sys, ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/flume.conf"));
    assert_non_null(strstr(err.msg, "No such file or directory"));

    memset(&err, 0, sizeof(err));
    rc = flm_properties_load_file("/", &kvs, &err);
    assert_int_equal(rc, FLM_EIO);
    assert_int_equal(err.sys, EISDIR);
    assert_non_null(strstr(err.msg, "cannot read /:"));
    assert_int_equal(kvs.n, 0);
    flm_kvs_free(&kvs);
}

static void load_file_malformed_names_file_and_line(void **state)
{
    (void)state;
    const char *text = "a = 1\n\n  b = \\u00zz\n";
    char *path = write_temp(text, strlen(text));
    struct flm_kvs kvs;
    struct flm_err err = {0};
    flm_kvs_init(&kvs);
    assert_int_equal(flm_properties_load_file(path, &kvs, &err), FLM_ERR);
    char want[600];
    snprintf(want, sizeof(want), "%s:3: malformed \\uxxxx encoding", path);
    assert_string_equal(err.msg, want);
    assert_int_equal(kvs.n, 0);
    flm_kvs_free(&kvs);
    unlink(path);
    free(path);
}

static void load_file_keeps_latin1_semantics(void **state)
{
    (void)state;
    const char *text = "k = M\xfcnchen\r\n";
    char *path = write_temp(text, strlen(text));
    struct flm_kvs kvs;
    struct flm_err err = {0};
    flm_kvs_init(&kvs);
    assert_int_equal(flm_properties_load_file(path, &kvs, &err), FLM_OK);
    assert_string_equal(flm_kvs_get(&kvs, "k"), "M\xc3\xbcnchen");
    flm_kvs_free(&kvs);
    unlink(path);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_separator_form_gives_the_same_pair),
        cmocka_unit_test(only_one_separator_char_is_consumed),
        cmocka_unit_test(key_without_value_has_empty_value),
        cmocka_unit_test(comment_lines_are_skipped_even_with_leading_whitespace),
        cmocka_unit_test(there_are_no_trailing_comments),
        cmocka_unit_test(comment_line_ending_in_backslash_is_not_continued),
        cmocka_unit_test(blank_and_whitespace_lines_are_ignored),
        cmocka_unit_test(odd_backslashes_continue_the_line),
        cmocka_unit_test(even_backslashes_do_not_continue),
        cmocka_unit_test(continuation_edge_cases),
        cmocka_unit_test(all_line_terminators_count_lines),
        cmocka_unit_test(escapes_in_keys),
        cmocka_unit_test(escapes_in_values),
        cmocka_unit_test(key_and_value_are_java_trimmed),
        cmocka_unit_test(latin1_bytes_become_utf8),
        cmocka_unit_test(surrogate_pairs_combine_and_lone_ones_are_replaced),
        cmocka_unit_test(nul_inside_a_value_is_replaced_not_truncated),
        cmocka_unit_test(malformed_unicode_escape_rejects_the_whole_file),
        cmocka_unit_test(malformed_file_empties_out),
        cmocka_unit_test(unicode_escape_spanning_a_continuation_is_joined),
        cmocka_unit_test(duplicate_keys_last_wins_with_its_line),
        cmocka_unit_test(parsing_merges_into_an_existing_list),
        cmocka_unit_test(load_file_reads_and_names_the_file),
        cmocka_unit_test(load_file_reports_path_and_errno),
        cmocka_unit_test(load_file_malformed_names_file_and_line),
        cmocka_unit_test(load_file_keeps_latin1_semantics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
