/*
 * exec_test.c - unit tests for the pure parts of the exec source: the line
 * splitter (Java readLine rules, long-line splitting on UTF-8 boundaries),
 * the charset re-encoding, the argv Flume would run, and config validation.
 * The source file is included so its static helpers can be reached; the
 * process/thread side is covered by tests/integration/test_exec.py.
 * Single-threaded.
 */
#include "../../src/sources/exec.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* ------------------------------------------------------- line collection */

#define MAXL 32

struct got {
    char line[MAXL][128];
    size_t len[MAXL];
    size_t n;
    size_t fail_at;   /* callback returns FLM_EFULL on this call (1-based); 0 = never */
};

static int collect(void *arg, const char *line, size_t len)
{
    struct got *g = arg;
    assert_true(g->n < MAXL);
    assert_true(len < sizeof(g->line[0]));
    memcpy(g->line[g->n], line, len);
    g->line[g->n][len] = '\0';
    g->len[g->n] = len;
    g->n++;
    if (g->fail_at != 0 && g->n == g->fail_at)
        return FLM_EFULL;
    return FLM_OK;
}

static void feed_str(struct exec_lines *L, struct got *g, const char *s)
{
    assert_int_equal(flm_exec_lines_feed(L, s, strlen(s), collect, g), FLM_OK);
}

static void lines_end_at_lf_crlf_and_lone_cr_like_java_readline(void **state)
{
    struct exec_lines L;
    struct got g = {0};
    assert_int_equal(flm_exec_lines_init(&L, 64, true), FLM_OK);
    feed_str(&L, &g, "a\nb\r\nc\rd\n\ne");
    assert_int_equal(g.n, 5);
    assert_string_equal(g.line[0], "a");
    assert_string_equal(g.line[1], "b");
    assert_string_equal(g.line[2], "c");
    assert_string_equal(g.line[3], "d");
    assert_string_equal(g.line[4], "");   /* empty line is an (empty) event */
    assert_int_equal(flm_exec_lines_finish(&L, collect, &g), FLM_OK);
    assert_int_equal(g.n, 6);
    assert_string_equal(g.line[5], "e");  /* unterminated last line at EOF */
    flm_exec_lines_free(&L);
}

static void crlf_split_across_reads_is_one_terminator(void **state)
{
    struct exec_lines L;
    struct got g = {0};
    assert_int_equal(flm_exec_lines_init(&L, 64, true), FLM_OK);
    feed_str(&L, &g, "one\r");
    assert_int_equal(g.n, 1);
    feed_str(&L, &g, "\ntwo\r");
    feed_str(&L, &g, "three\n");
    assert_int_equal(g.n, 3);
    assert_string_equal(g.line[0], "one");
    assert_string_equal(g.line[1], "two");
    assert_string_equal(g.line[2], "three");
    assert_int_equal(flm_exec_lines_finish(&L, collect, &g), FLM_OK);
    assert_int_equal(g.n, 3);   /* nothing pending: no extra event */
    flm_exec_lines_free(&L);
}

static void partial_lines_join_across_reads(void **state)
{
    struct exec_lines L;
    struct got g = {0};
    assert_int_equal(flm_exec_lines_init(&L, 64, true), FLM_OK);
    feed_str(&L, &g, "hel");
    feed_str(&L, &g, "lo wo");
    assert_int_equal(g.n, 0);
    feed_str(&L, &g, "rld\nnext");
    assert_int_equal(g.n, 1);
    assert_string_equal(g.line[0], "hello world");
    flm_exec_lines_finish(&L, collect, &g);
    assert_string_equal(g.line[1], "next");
    flm_exec_lines_free(&L);
}

static void long_line_in_one_read_is_split_into_cap_sized_pieces(void **state)
{
    struct exec_lines L;
    struct got g = {0};
    assert_int_equal(flm_exec_lines_init(&L, 4, false), FLM_OK);
    feed_str(&L, &g, "abcdefghij\nxy\n");
    assert_int_equal(g.n, 4);
    assert_string_equal(g.line[0], "abcd");
    assert_string_equal(g.line[1], "efgh");
    assert_string_equal(g.line[2], "ij");
    assert_string_equal(g.line[3], "xy");
    assert_int_equal(L.nsplit, 2);
    flm_exec_lines_free(&L);
}

static void long_line_across_reads_is_split_into_cap_sized_pieces(void **state)
{
    struct exec_lines L;
    struct got g = {0};
    assert_int_equal(flm_exec_lines_init(&L, 4, false), FLM_OK);
    feed_str(&L, &g, "abc");
    feed_str(&L, &g, "defghij");
    feed_str(&L, &g, "\n");
    assert_int_equal(g.n, 3);
    assert_string_equal(g.line[0], "abcd");
    assert_string_equal(g.line[1], "efgh");
    assert_string_equal(g.line[2], "ij");
    flm_exec_lines_free(&L);
}

static void line_of_exactly_cap_bytes_gives_no_empty_extra_event(void **state)
{
    struct exec_lines L;
    struct got g = {0};
    assert_int_equal(flm_exec_lines_init(&L, 4, false), FLM_OK);
    feed_str(&L, &g, "abcd\n");     /* whole line in one read */
    feed_str(&L, &g, "efgh");       /* buffered, then the terminator alone */
    feed_str(&L, &g, "\n");
    feed_str(&L, &g, "ijklmnop\n"); /* exactly two pieces */
    assert_int_equal(g.n, 4);
    assert_string_equal(g.line[0], "abcd");
    assert_string_equal(g.line[1], "efgh");
    assert_string_equal(g.line[2], "ijkl");
    assert_string_equal(g.line[3], "mnop");
    assert_int_equal(L.nsplit, 1);
    flm_exec_lines_free(&L);
}

static void long_utf8_line_is_cut_on_a_character_boundary(void **state)
{
    struct exec_lines L;
    struct got g = {0};
    /* "ab" + EURO SIGN (3 bytes) + "c": a cut at 4 would split the euro. */
    const char *line = "ab\xe2\x82\xac" "c\n";
    assert_int_equal(flm_exec_lines_init(&L, 4, true), FLM_OK);
    feed_str(&L, &g, line);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.line[0], "ab");
    assert_string_equal(g.line[1], "\xe2\x82\xac" "c");
    /* the same bytes one at a time through the buffered path */
    g.n = 0;
    for (const char *p = line; *p; p++)
        assert_int_equal(flm_exec_lines_feed(&L, p, 1, collect, &g), FLM_OK);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.line[0], "ab");
    assert_string_equal(g.line[1], "\xe2\x82\xac" "c");
    flm_exec_lines_free(&L);
}

static void callback_error_stops_the_feed_and_is_returned(void **state)
{
    struct exec_lines L;
    struct got g = {.fail_at = 2};
    assert_int_equal(flm_exec_lines_init(&L, 64, true), FLM_OK);
    const char *s = "1\n2\n3\n4\n";
    assert_int_equal(flm_exec_lines_feed(&L, s, strlen(s), collect, &g), FLM_EFULL);
    assert_int_equal(g.n, 2);
    flm_exec_lines_free(&L);
}

/* ---------------------------------------------------------------- recode */

static void assert_recode(enum exec_charset cs, const char *in, size_t n, const char *want,
                          size_t wlen, bool same)
{
    char out[256];
    size_t olen = 0;
    const char *r = flm_exec_recode(cs, in, n, out, &olen);
    assert_int_equal(olen, wlen);
    assert_memory_equal(r, want, wlen);
    if (same)
        assert_ptr_equal(r, in);
}

static void valid_utf8_is_passed_through_without_copy(void **state)
{
    const char *s = "plain \xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
    assert_recode(EXEC_CS_UTF8, s, strlen(s), s, strlen(s), true);
}

static void malformed_utf8_becomes_one_replacement_per_maximal_subpart(void **state)
{
    /* stray byte */
    assert_recode(EXEC_CS_UTF8, "a\xff" "b", 3, "a\xef\xbf\xbd" "b", 5, false);
    /* truncated 3-byte sequence: one U+FFFD for both bytes */
    assert_recode(EXEC_CS_UTF8, "x\xe2\x82", 3, "x\xef\xbf\xbd", 4, false);
    /* surrogate D800 (ED A0 80): not a maximal subpart, three replacements */
    assert_recode(EXEC_CS_UTF8, "\xed\xa0\x80", 3,
                  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9, false);
    /* overlong NUL (C0 80): two replacements */
    assert_recode(EXEC_CS_UTF8, "\xc0\x80", 2, "\xef\xbf\xbd\xef\xbf\xbd", 6, false);
    /* above U+10FFFF (F4 90 80 80) */
    assert_recode(EXEC_CS_UTF8, "\xf4\x90\x80\x80", 4,
                  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 12, false);
}

static void ascii_charset_maps_high_bytes_to_question_marks(void **state)
{
    assert_recode(EXEC_CS_ASCII, "ok", 2, "ok", 2, true);
    assert_recode(EXEC_CS_ASCII, "\xc3\xa9t\xff", 4, "??t?", 4, false);
}

static void latin1_charset_keeps_every_byte(void **state)
{
    assert_recode(EXEC_CS_LATIN1, "\xe9t\xff", 3, "\xe9t\xff", 3, true);
}

static void charset_names_match_java_aliases_case_insensitively(void **state)
{
    assert_int_equal(flm_exec_charset_parse("utf-8"), EXEC_CS_UTF8);
    assert_int_equal(flm_exec_charset_parse("UTF8"), EXEC_CS_UTF8);
    assert_int_equal(flm_exec_charset_parse("iso-8859-1"), EXEC_CS_LATIN1);
    assert_int_equal(flm_exec_charset_parse("US-ASCII"), EXEC_CS_ASCII);
    assert_int_equal(flm_exec_charset_parse("UTF-16"), -1);
    assert_int_equal(flm_exec_charset_parse(""), -1);
}

/* ------------------------------------------------------------------ argv */

static void command_without_shell_is_split_on_whitespace(void **state)
{
    char **argv = NULL;
    assert_int_equal(exec_build_argv(NULL, "tail  -F\t/var/log/x.log", &argv), FLM_OK);
    assert_string_equal(argv[0], "tail");
    assert_string_equal(argv[1], "-F");
    assert_string_equal(argv[2], "/var/log/x.log");
    assert_null(argv[3]);
    exec_argv_free(argv);
}

static void command_with_shell_is_one_argument_after_the_shell_words(void **state)
{
    char **argv = NULL;
    assert_int_equal(exec_build_argv("/bin/sh  -c", "cat a | grep  'b c'", &argv), FLM_OK);
    assert_string_equal(argv[0], "/bin/sh");
    assert_string_equal(argv[1], "-c");
    assert_string_equal(argv[2], "cat a | grep  'b c'");
    assert_null(argv[3]);
    exec_argv_free(argv);
}

static void blank_command_has_nothing_to_run(void **state)
{
    char **argv = NULL;
    assert_int_equal(exec_build_argv(NULL, " \t ", &argv), FLM_ERR);
    assert_null(argv);
}

/* -------------------------------------------------------------- validate */

static void validate_rejects_unknown_charset_and_blank_command(void **state)
{
    struct exec_conf conf = {.command = "echo hi", .charset = "UTF-8"};
    struct flm_diag d;
    flm_diag_init(&d);
    assert_int_equal(exec_validate(&conf, "a1.sources.r1", &d), FLM_OK);
    assert_int_equal(d.nerr, 0);
    conf.charset = "EBCDIC";
    assert_int_equal(exec_validate(&conf, "a1.sources.r1", &d), FLM_ERR);
    assert_int_equal(d.nerr, 1);
    conf.charset = "UTF-8";
    conf.command = "   ";
    assert_int_equal(exec_validate(&conf, "a1.sources.r1", &d), FLM_ERR);
    assert_int_equal(d.nerr, 2);
    flm_diag_free(&d);
}

static void property_table_declares_flume_defaults(void **state)
{
    struct {
        const char *name, *def;
    } want[] = {{"restart", "false"},   {"restartThrottle", "10000"}, {"logStdErr", "false"},
                {"batchSize", "20"},    {"batchTimeout", "3000"},     {"charset", "UTF-8"}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct flm_prop *p = exec_props;
        while (p->name && strcmp(p->name, want[i].name) != 0)
            p++;
        assert_non_null(p->name);
        assert_string_equal(p->def, want[i].def);
        assert_non_null(p->doc);
    }
    assert_true(exec_props[0].flags & FLM_P_REQUIRED);
    assert_string_equal(flm_source_exec.batch_key, "batchSize");
    assert_string_equal(flm_source_exec.klass, "org.apache.flume.source.ExecSource");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lines_end_at_lf_crlf_and_lone_cr_like_java_readline),
        cmocka_unit_test(crlf_split_across_reads_is_one_terminator),
        cmocka_unit_test(partial_lines_join_across_reads),
        cmocka_unit_test(long_line_in_one_read_is_split_into_cap_sized_pieces),
        cmocka_unit_test(long_line_across_reads_is_split_into_cap_sized_pieces),
        cmocka_unit_test(line_of_exactly_cap_bytes_gives_no_empty_extra_event),
        cmocka_unit_test(long_utf8_line_is_cut_on_a_character_boundary),
        cmocka_unit_test(callback_error_stops_the_feed_and_is_returned),
        cmocka_unit_test(valid_utf8_is_passed_through_without_copy),
        cmocka_unit_test(malformed_utf8_becomes_one_replacement_per_maximal_subpart),
        cmocka_unit_test(ascii_charset_maps_high_bytes_to_question_marks),
        cmocka_unit_test(latin1_charset_keeps_every_byte),
        cmocka_unit_test(charset_names_match_java_aliases_case_insensitively),
        cmocka_unit_test(command_without_shell_is_split_on_whitespace),
        cmocka_unit_test(command_with_shell_is_one_argument_after_the_shell_words),
        cmocka_unit_test(blank_command_has_nothing_to_run),
        cmocka_unit_test(validate_rejects_unknown_charset_and_blank_command),
        cmocka_unit_test(property_table_declares_flume_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
