/*
 * props_test.c - tests of the property-table engine (src/core/props.c):
 * every ptype, defaults, bounds, LENIENT, REQUIRED, aliases, deprecation,
 * prefix pass-through, enum case-insensitivity, Java Long/Boolean parsing
 * rules, unused-key warnings with did-you-mean, and ownership (run under ASan
 * to prove flm_props_free releases everything and is idempotent).
 * Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/diag.h"
#include "core/err.h"
#include "core/kv.h"
#include "core/props.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tconf {
    char *str;
    int num;
    long long big;
    bool flag;
    int kind;
    struct flm_strv list;
    struct flm_kvs pass;
    int req;
    int lenient;
    int renamed;
    int old;
    char *secret;
};

static const char *const kinds[] = {"SequenceFile", "DataStream", "CompressedStream", NULL};

static const struct flm_prop tbl[] = {
    {"str", FLM_P_STR, FLM_OFF(struct tconf, str), "dflt", 0, 0, 0, NULL, NULL, "A string."},
    {"num", FLM_P_INT, FLM_OFF(struct tconf, num), "7", 0, 1, 100, NULL, NULL, "An int 1..100."},
    {"big", FLM_P_LONG, FLM_OFF(struct tconf, big), "-1", 0, 0, 0, NULL, NULL, "A long."},
    {"flag", FLM_P_BOOL, FLM_OFF(struct tconf, flag), "false", 0, 0, 0, NULL, NULL, "A bool."},
    {"kind", FLM_P_ENUM, FLM_OFF(struct tconf, kind), "SequenceFile", 0, 0, 0, kinds, NULL,
     "An enum."},
    {"list", FLM_P_LIST, FLM_OFF(struct tconf, list), NULL, 0, 0, 0, NULL, NULL, "A list."},
    {"kafka.producer.", FLM_P_PREFIX, FLM_OFF(struct tconf, pass), NULL, 0, 0, 0, NULL, NULL,
     "Pass-through."},
    {"req", FLM_P_INT, FLM_OFF(struct tconf, req), NULL, FLM_P_REQUIRED, 0, 0, NULL, NULL,
     "Required."},
    {"lenient", FLM_P_INT, FLM_OFF(struct tconf, lenient), "100", FLM_P_LENIENT, 1, INT_MAX,
     NULL, NULL, "Lenient."},
    {"newName", FLM_P_INT, FLM_OFF(struct tconf, renamed), "1", 0, 0, 0, NULL, "oldName",
     "Renamed key."},
    {"ancient", FLM_P_INT, FLM_OFF(struct tconf, old), "0", FLM_P_DEPRECATED, 0, 0, NULL, NULL,
     "Deprecated."},
    {"password", FLM_P_STR, FLM_OFF(struct tconf, secret), NULL, FLM_P_SECRET, 0, 0, NULL, NULL,
     "Secret."},
    FLM_PROPS_END,
};

struct pfx {
    struct flm_kvs kv;
    struct flm_diag d;
    struct tconf c;
    int rc;
};

/* Loads NULL-terminated key, value pairs (line = pair index + 1); req=1 is
 * added unless with_req is false. */
static void load(struct pfx *f, bool with_req, const char *const *kv)
{
    memset(f, 0, sizeof(*f));
    flm_kvs_init(&f->kv);
    flm_diag_init(&f->d);
    int line = 1;
    for (size_t i = 0; kv && kv[i]; i += 2)
        assert_int_equal(flm_kvs_set(&f->kv, kv[i], kv[i + 1], "p.conf", line++), FLM_OK);
    if (with_req)
        assert_int_equal(flm_kvs_set(&f->kv, "req", "1", "p.conf", 99), FLM_OK);
    f->rc = flm_props_load(tbl, &f->kv, &f->c, "a1.sinks.k1", &f->d);
}

static void pfree(struct pfx *f)
{
    flm_props_free(tbl, &f->c);
    flm_props_free(tbl, &f->c);   /* idempotent */
    flm_diag_free(&f->d);
    flm_kvs_free(&f->kv);
}

static const struct flm_diag_item *find(const struct pfx *f, enum flm_sev sev, const char *text)
{
    for (size_t i = 0; i < f->d.n; i++)
        if (f->d.v[i].sev == sev && strstr(f->d.v[i].msg, text))
            return &f->d.v[i];
    char buf[600];
    for (size_t i = 0; i < f->d.n; i++) {
        flm_diag_format(&f->d.v[i], buf, sizeof(buf));
        print_message("  %s %s\n", f->d.v[i].sev == FLM_SEV_ERROR ? "E" : "W", buf);
    }
    print_message("missing diag: %s\n", text);
    fail();
    return NULL;
}

/* ---------------------------------------------------------------- parsing */

static void parse_long_follows_java_long_parselong(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int ok;
        long long v;
    } cases[] = {
        {"0", 1, 0},
        {"5", 1, 5},
        {"+5", 1, 5},
        {"-5", 1, -5},
        {"007", 1, 7},
        {"-0", 1, 0},
        {"9223372036854775807", 1, LLONG_MAX},
        {"-9223372036854775808", 1, LLONG_MIN},
        {"9223372036854775808", 0, 0},
        {"-9223372036854775809", 0, 0},
        {"99999999999999999999999", 0, 0},
        {" 5", 0, 0},
        {"5 ", 0, 0},
        {"5k", 0, 0},
        {"", 0, 0},
        {"+", 0, 0},
        {"-", 0, 0},
        {"--5", 0, 0},
        {"+-5", 0, 0},
        {"0x10", 0, 0},
        {"1e3", 0, 0},
        {"1.0", 0, 0},
        {"1_000", 0, 0},
        {"\t5", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long long v = 12345;
        int rc = flm_parse_long(cases[i].s, &v);
        if ((rc == 0) != cases[i].ok)
            print_message("case \"%s\": rc %d\n", cases[i].s, rc);
        assert_int_equal(rc == 0, cases[i].ok);
        if (cases[i].ok)
            assert_true(v == cases[i].v);
        else
            assert_true(v == 12345);   /* untouched on failure */
    }
}

static void parse_bool_follows_java_boolean_parseboolean(void **state)
{
    (void)state;
    assert_true(flm_parse_bool("true"));
    assert_true(flm_parse_bool("TRUE"));
    assert_true(flm_parse_bool("tRuE"));
    assert_false(flm_parse_bool("false"));
    assert_false(flm_parse_bool("yes"));
    assert_false(flm_parse_bool("1"));
    assert_false(flm_parse_bool("on"));
    assert_false(flm_parse_bool(""));
    assert_false(flm_parse_bool(" true"));
    assert_false(flm_parse_bool("true "));
    assert_false(flm_parse_bool("truee"));
}

/* -------------------------------------------------------------- defaults */

static void defaults_apply_when_keys_are_absent(void **state)
{
    (void)state;
    struct pfx f;
    load(&f, true, NULL);
    assert_int_equal(f.rc, FLM_OK);
    assert_int_equal(f.d.n, 0);
    assert_string_equal(f.c.str, "dflt");
    assert_int_equal(f.c.num, 7);
    assert_true(f.c.big == -1);
    assert_false(f.c.flag);
    assert_int_equal(f.c.kind, 0);
    assert_int_equal(f.c.list.n, 0);
    assert_int_equal(f.c.pass.n, 0);
    assert_int_equal(f.c.lenient, 100);
    assert_int_equal(f.c.renamed, 1);
    assert_null(f.c.secret);
    assert_int_equal(f.c.req, 1);
    pfree(&f);
}

static void every_type_parses_and_marks_keys_used(void **state)
{
    (void)state;
    struct pfx f;
    load(&f, true,
         (const char *const[]){"str", "hello world", "num", "100", "big", "-9223372036854775808",
                               "flag", "True", "kind", "CompressedStream", "list",
                               "  c1 \t c2   c3 ", "kafka.producer.acks", "all",
                               "kafka.producer.linger.ms", "5", "password", "s3cret", NULL});
    assert_int_equal(f.rc, FLM_OK);
    assert_int_equal(f.d.n, 0);
    assert_string_equal(f.c.str, "hello world");
    assert_int_equal(f.c.num, 100);
    assert_true(f.c.big == LLONG_MIN);
    assert_true(f.c.flag);
    assert_int_equal(f.c.kind, 2);
    assert_int_equal(f.c.list.n, 3);
    assert_string_equal(f.c.list.v[0], "c1");
    assert_string_equal(f.c.list.v[2], "c3");
    assert_null(f.c.list.v[3]);
    assert_int_equal(f.c.pass.n, 2);
    assert_string_equal(flm_kvs_get(&f.c.pass, "acks"), "all");
    assert_string_equal(flm_kvs_get(&f.c.pass, "linger.ms"), "5");
    assert_string_equal(f.c.secret, "s3cret");
    for (size_t i = 0; i < f.kv.n; i++) {
        if (!f.kv.v[i].used)
            print_message("key %s not marked used\n", f.kv.v[i].key);
        assert_true(f.kv.v[i].used);
    }
    /* Nothing unused: no warning. */
    flm_props_warn_unused(tbl, &f.kv, "a1.sinks.k1", &f.d);
    assert_int_equal(f.d.n, 0);
    pfree(&f);
}

static void int_bounds_are_inclusive_and_errors_name_file_line_key(void **state)
{
    (void)state;
    struct pfx f;
    load(&f, true, (const char *const[]){"num", "1", NULL});
    assert_int_equal(f.rc, FLM_OK);
    assert_int_equal(f.c.num, 1);
    pfree(&f);

    load(&f, true, (const char *const[]){"num", "0", NULL});
    assert_int_equal(f.rc, FLM_ERR);
    const struct flm_diag_item *it = find(&f, FLM_SEV_ERROR, "0 is out of range [1, 100]");
    assert_string_equal(it->file, "p.conf");
    assert_int_equal(it->line, 1);
    assert_string_equal(it->comp, "a1.sinks.k1");
    assert_string_equal(it->key, "num");
    pfree(&f);

    load(&f, true, (const char *const[]){"num", "101", NULL});
    assert_int_equal(f.rc, FLM_ERR);
    find(&f, FLM_SEV_ERROR, "101 is out of range [1, 100]");
    pfree(&f);
}

static void int_and_long_reject_overflow_and_non_java_numbers(void **state)
{
    (void)state;
    static const char *const bad_ints[] = {"2147483648", "-2147483649", "5k", " 5", "0x1",
                                           "1.5", NULL};
    for (size_t i = 0; bad_ints[i]; i++) {
        struct pfx f;
        memset(&f, 0, sizeof(f));
        flm_diag_init(&f.d);
        flm_kvs_init(&f.kv);
        flm_kvs_set(&f.kv, "req", bad_ints[i], "p.conf", 3);
        f.rc = flm_props_load(tbl, &f.kv, &f.c, "a1.sinks.k1", &f.d);
        if (f.rc != FLM_ERR)
            print_message("int \"%s\" accepted\n", bad_ints[i]);
        assert_int_equal(f.rc, FLM_ERR);
        const struct flm_diag_item *it = find(&f, FLM_SEV_ERROR, "is not a valid int");
        assert_int_equal(it->line, 3);
        pfree(&f);
    }
    struct pfx f;
    load(&f, true, (const char *const[]){"num", "+50", "big", "9223372036854775807", NULL});
    assert_int_equal(f.rc, FLM_OK);
    assert_int_equal(f.c.num, 50);
    assert_true(f.c.big == LLONG_MAX);
    pfree(&f);
    load(&f, true, (const char *const[]){"big", "9223372036854775808", NULL});
    assert_int_equal(f.rc, FLM_ERR);
    find(&f, FLM_SEV_ERROR, "is not a valid long");
    pfree(&f);
}

static void bool_values_follow_java(void **state)
{
    (void)state;
    struct pfx f;
    load(&f, true, (const char *const[]){"flag", "TRUE", NULL});
    assert_true(f.c.flag);
    pfree(&f);
    /* Anything but "true" is false, without an error (Boolean.parseBoolean). */
    load(&f, true, (const char *const[]){"flag", "yes", NULL});
    assert_int_equal(f.rc, FLM_OK);
    assert_false(f.c.flag);
    pfree(&f);
}

static void enum_matches_case_insensitively_and_lists_choices(void **state)
{
    (void)state;
    struct pfx f;
    load(&f, true, (const char *const[]){"kind", "datastream", NULL});
    assert_int_equal(f.rc, FLM_OK);
    assert_int_equal(f.c.kind, 1);
    pfree(&f);
    load(&f, true, (const char *const[]){"kind", "SEQUENCEFILE", NULL});
    assert_int_equal(f.c.kind, 0);
    pfree(&f);
    load(&f, true, (const char *const[]){"kind", "Avro", NULL});
    assert_int_equal(f.rc, FLM_ERR);
    const struct flm_diag_item *it = find(&f, FLM_SEV_ERROR, "'Avro' is not one of");
    assert_non_null(strstr(it->msg, "SequenceFile"));
    assert_non_null(strstr(it->msg, "DataStream"));
    assert_non_null(strstr(it->msg, "CompressedStream"));
    pfree(&f);
}

static void lenient_bad_or_out_of_range_values_fall_back_to_default(void **state)
{
    (void)state;
    static const char *const bad[] = {"abc", "0", "-5", "2147483648", NULL};
    for (size_t i = 0; bad[i]; i++) {
        struct pfx f;
        load(&f, true, (const char *const[]){"lenient", bad[i], NULL});
        assert_int_equal(f.rc, FLM_OK);
        assert_int_equal(f.c.lenient, 100);
        assert_int_equal(f.d.nerr, 0);
        const struct flm_diag_item *it = find(&f, FLM_SEV_WARN, "using the default 100");
        assert_int_equal(it->line, 1);
        assert_string_equal(it->key, "lenient");
        pfree(&f);
    }
    struct pfx f;
    load(&f, true, (const char *const[]){"lenient", "250", NULL});
    assert_int_equal(f.c.lenient, 250);
    assert_int_equal(f.d.n, 0);
    pfree(&f);
}

static void required_missing_or_empty_is_an_error(void **state)
{
    (void)state;
    struct pfx f;
    load(&f, false, NULL);
    assert_int_equal(f.rc, FLM_ERR);
    const struct flm_diag_item *it = find(&f, FLM_SEV_ERROR, "required property 'req' is missing");
    assert_string_equal(it->key, "req");
    assert_string_equal(it->comp, "a1.sinks.k1");
    pfree(&f);

    load(&f, false, (const char *const[]){"req", "", NULL});
    assert_int_equal(f.rc, FLM_ERR);
    find(&f, FLM_SEV_ERROR, "required property 'req' has no value");
    pfree(&f);
}

static void empty_value_keeps_the_default_with_a_warning(void **state)
{
    (void)state;
    struct pfx f;
    load(&f, true, (const char *const[]){"num", "", "str", "", NULL});
    assert_int_equal(f.rc, FLM_OK);
    assert_int_equal(f.c.num, 7);
    assert_string_equal(f.c.str, "dflt");
    size_t n = 0;
    for (size_t i = 0; i < f.d.n; i++) {
        const struct flm_diag_item *it = &f.d.v[i];
        assert_int_equal(it->sev, FLM_SEV_WARN);
        assert_non_null(strstr(it->msg, "empty value ignored; using the default"));
        assert_int_equal(it->line, strcmp(it->key, "num") == 0 ? 1 : 2);
        n++;
    }
    assert_int_equal(n, 2);
    pfree(&f);
}

static void alias_is_accepted_with_a_warning_naming_the_new_key(void **state)
{
    (void)state;
    struct pfx f;
    load(&f, true, (const char *const[]){"oldName", "42", NULL});
    assert_int_equal(f.rc, FLM_OK);
    assert_int_equal(f.c.renamed, 42);
    const struct flm_diag_item *it = find(&f, FLM_SEV_WARN, "'oldName' is an old spelling");
    assert_non_null(strstr(it->msg, "newName"));
    assert_true(f.kv.v[0].used);
    pfree(&f);
    /* The new spelling wins when both are given. */
    load(&f, true, (const char *const[]){"oldName", "42", "newName", "43", NULL});
    assert_int_equal(f.c.renamed, 43);
    pfree(&f);
}

static void deprecated_key_is_accepted_with_a_warning(void **state)
{
    (void)state;
    struct pfx f;
    load(&f, true, (const char *const[]){"ancient", "3", NULL});
    assert_int_equal(f.rc, FLM_OK);
    assert_int_equal(f.c.old, 3);
    find(&f, FLM_SEV_WARN, "'ancient' is deprecated");
    pfree(&f);
}

static void unused_keys_get_did_you_mean(void **state)
{
    (void)state;
    struct pfx f;
    load(&f, true, (const char *const[]){"nmu", "3", "lenent", "5", "Str", "x", "qqqqqqqqqq", "1",
                                         NULL});
    assert_int_equal(f.rc, FLM_OK);
    flm_props_warn_unused(tbl, &f.kv, "a1.sinks.k1", &f.d);
    const struct flm_diag_item *it =
        find(&f, FLM_SEV_WARN, "unknown property 'lenent' ignored; did you mean 'lenient'?");
    assert_int_equal(it->line, 2);
    assert_string_equal(it->key, "lenent");
    find(&f, FLM_SEV_WARN, "unknown property 'nmu' ignored; did you mean 'num'?");
    /* Keys are case-sensitive: "Str" is unknown, but close to "str". */
    find(&f, FLM_SEV_WARN, "unknown property 'Str' ignored; did you mean 'str'?");
    it = find(&f, FLM_SEV_WARN, "unknown property 'qqqqqqqqqq' ignored");
    assert_null(strstr(it->msg, "did you mean"));
    assert_string_equal(f.c.str, "dflt");
    pfree(&f);
}

static void edit_distance_basics(void **state)
{
    (void)state;
    assert_int_equal(flm_edit_distance("kitten", "sitting"), 3);
    assert_int_equal(flm_edit_distance("", "abc"), 3);
    assert_int_equal(flm_edit_distance("abc", ""), 3);
    assert_int_equal(flm_edit_distance("same", "same"), 0);
    assert_int_equal(flm_edit_distance("capacty", "capacity"), 1);
}

static void help_rendering_shows_names_defaults_and_flags(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    assert_non_null(m);
    flm_props_print(m, tbl, false);
    fclose(m);
    assert_non_null(strstr(buf, "num"));
    assert_non_null(strstr(buf, "An int 1..100."));
    assert_non_null(strstr(buf, "1..100"));
    assert_non_null(strstr(buf, "REQUIRED"));
    assert_non_null(strstr(buf, "SequenceFile | DataStream | CompressedStream"));
    assert_non_null(strstr(buf, "kafka.producer.*"));
    assert_non_null(strstr(buf, "oldName"));
    free(buf);
    buf = NULL;
    m = open_memstream(&buf, &len);
    flm_props_print(m, tbl, true);
    fclose(m);
    assert_non_null(strstr(buf, "| `num` | int | 7 | no | 1..100 |"));
    assert_non_null(strstr(buf, "| `req` | int | -- | yes |"));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_long_follows_java_long_parselong),
        cmocka_unit_test(parse_bool_follows_java_boolean_parseboolean),
        cmocka_unit_test(defaults_apply_when_keys_are_absent),
        cmocka_unit_test(every_type_parses_and_marks_keys_used),
        cmocka_unit_test(int_bounds_are_inclusive_and_errors_name_file_line_key),
        cmocka_unit_test(int_and_long_reject_overflow_and_non_java_numbers),
        cmocka_unit_test(bool_values_follow_java),
        cmocka_unit_test(enum_matches_case_insensitively_and_lists_choices),
        cmocka_unit_test(lenient_bad_or_out_of_range_values_fall_back_to_default),
        cmocka_unit_test(required_missing_or_empty_is_an_error),
        cmocka_unit_test(empty_value_keeps_the_default_with_a_warning),
        cmocka_unit_test(alias_is_accepted_with_a_warning_naming_the_new_key),
        cmocka_unit_test(deprecated_key_is_accepted_with_a_warning),
        cmocka_unit_test(unused_keys_get_did_you_mean),
        cmocka_unit_test(edit_distance_basics),
        cmocka_unit_test(help_rendering_shows_names_defaults_and_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
