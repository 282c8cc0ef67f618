/*
 * interp_test.c - flm_interpolate / flm_interpolate_str (spec/config.md 5a:
 * env:, sys:, date:, ${NAME} config keys, :-defaults, $${x} escapes,
 * nesting, unresolvable left as is, cycles and size limits) and
 * flm_filter_substitute (5b: ${f['k']}, ${f["k"]}, ${f[k]}, mixed text).
 * The environment is a fake table passed through the ctx.  Single-threaded.
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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------ helpers */

static const char *const fake_env[][2] = {
    {"HOME", "/home/flume"}, {"V", "vee"},        {"AUDIT_VAR", "audit"}, {"PORT", "4141"},
    {"WHICH", "HOME"},       {"DOLLAR", "cost$"}, {NULL, NULL},
};

static int env_calls;

static const char *fake_getenv(const char *name, void *arg)
{
    (void)arg;
    env_calls++;
    for (size_t i = 0; fake_env[i][0] != NULL; i++)
        if (strcmp(fake_env[i][0], name) == 0)
            return fake_env[i][1];
    return NULL;
}

struct fixture {
    struct flm_kvs conf; /* config keys for ${NAME} */
    struct flm_kvs sys;  /* -D system properties */
    struct flm_interp_ctx ctx;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    flm_kvs_init(&f->conf);
    flm_kvs_init(&f->sys);
    flm_kvs_set(&f->conf, "a1.channels.c1.type", "memory", "f", 1);
    flm_kvs_set(&f->conf, "x", "y", "f", 2);
    flm_kvs_set(&f->conf, "y", "deep", "f", 3);
    flm_kvs_set(&f->conf, "k", "kval", "f", 4);
    flm_kvs_set(&f->conf, "chain1", "${chain2}!", "f", 5);
    flm_kvs_set(&f->conf, "chain2", "${env:V}", "f", 6);
    flm_kvs_set(&f->sys, "which", "V", NULL, 0);
    flm_kvs_set(&f->sys, "flume.home", "/opt/flume", NULL, 0);
    f->ctx = (struct flm_interp_ctx){.sys = &f->sys, .getenv_fn = fake_getenv, .arg = NULL};
    env_calls = 0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    flm_kvs_free(&f->conf);
    flm_kvs_free(&f->sys);
    free(f);
    return 0;
}

static void assert_interp(struct fixture *f, const char *in, const char *want)
{
    char *got = flm_interpolate_str(in, &f->conf, &f->ctx);
    assert_non_null(got);
    if (strcmp(got, want) != 0)
        fail_msg("[%s] -> [%s], want [%s]", in, got, want);
    free(got);
}

/* -------------------------------------------------------- interpolation */

static void env_lookup_uses_the_ctx_getenv(void **state)
{
    struct fixture *f = *state;
    assert_interp(f, "${env:HOME}", "/home/flume");
    assert_interp(f, "port=${env:PORT}/x", "port=4141/x");
    assert_interp(f, "${env:HOME}${env:V}", "/home/flumevee");
    assert_true(env_calls >= 4);
    /* The prefix is case-insensitive (Commons Text lowercases it). */
    assert_interp(f, "${ENV:V}", "vee");
}

static void sys_lookup_reads_system_properties(void **state)
{
    struct fixture *f = *state;
    assert_interp(f, "${sys:flume.home}/conf", "/opt/flume/conf");
    assert_interp(f, "${sys:unset}", "${sys:unset}");
    /* No sys list at all: unresolved. */
    f->ctx.sys = NULL;
    assert_interp(f, "${sys:flume.home}", "${sys:flume.home}");
}

static void bare_name_is_a_config_key_not_an_env_var(void **state)
{
    struct fixture *f = *state;
    assert_interp(f, "${a1.channels.c1.type}", "memory");
    /* Verified: ${AUDIT_VAR} stays literal with AUDIT_VAR in the env. */
    assert_interp(f, "${AUDIT_VAR}", "${AUDIT_VAR}");
}

static void env_fallback_resolves_bare_names_from_env(void **state)
{
    struct fixture *f = *state;
    f->ctx.env_fallback = 1;
    assert_interp(f, "${AUDIT_VAR}", "audit");
    /* A config key still wins. */
    assert_interp(f, "${k}", "kval");
    assert_interp(f, "${NOPE}", "${NOPE}");
}

static void default_value_applies_when_unresolved(void **state)
{
    struct fixture *f = *state;
    /* Verified on Flume: ${env:UNSET:-fallback} -> fallback. */
    assert_interp(f, "${env:UNSET:-fallback}", "fallback");
    assert_interp(f, "${env:V:-fallback}", "vee");
    assert_interp(f, "${missing:-}", "");
    assert_interp(f, "${missing:-a:-b}", "a:-b");
    /* The default is interpolated too. */
    assert_interp(f, "${missing:-${env:HOME}}", "/home/flume");
    assert_interp(f, "${missing:-${alsomissing}}", "${alsomissing}");
}

static void double_dollar_escapes_a_reference(void **state)
{
    struct fixture *f = *state;
    /* Verified on Flume: $${env:V} -> ${env:V}. */
    assert_interp(f, "$${env:V}", "${env:V}");
    assert_interp(f, "a$${x}b", "a${x}b");
    assert_interp(f, "$$${x}", "$${x}");
    assert_interp(f, "$${x}${x}", "${x}y");
    /* A lone or doubled $ without a brace is plain text. */
    assert_interp(f, "$$ and $ and $x", "$$ and $ and $x");
}

static void unresolvable_references_are_left_unchanged(void **state)
{
    struct fixture *f = *state;
    /* Verified on Flume: a${env:UNSET}b stays as is. */
    assert_interp(f, "a${env:UNSET}b", "a${env:UNSET}b");
    assert_interp(f, "${nope} and ${k}", "${nope} and kval");
    assert_interp(f, "${}", "${}");
    assert_interp(f, "no refs at all", "no refs at all");
    assert_interp(f, "", "");
}

static void unterminated_reference_is_plain_text(void **state)
{
    struct fixture *f = *state;
    assert_interp(f, "${abc", "${abc");
    assert_interp(f, "${k} ${abc", "kval ${abc");
    assert_interp(f, "x}${", "x}${");
}

static void nested_references_resolve_inside_out(void **state)
{
    struct fixture *f = *state;
    assert_interp(f, "${${x}}", "deep");
    assert_interp(f, "${env:${sys:which}}", "vee");
    assert_interp(f, "${env:${env:WHICH}}", "/home/flume");
    assert_interp(f, "${${missing}}", "${${missing}}");
    assert_interp(f, "${${x}:-d}", "deep");
    assert_interp(f, "${${k}:-d}", "d");
}

static void config_key_values_are_interpolated_recursively(void **state)
{
    struct fixture *f = *state;
    assert_interp(f, "<${chain1}>", "<vee!>");
}

static void reference_cycles_are_left_unresolved(void **state)
{
    struct fixture *f = *state;
    flm_kvs_set(&f->conf, "ca", "1${cb}", "f", 10);
    flm_kvs_set(&f->conf, "cb", "2${ca}", "f", 11);
    flm_kvs_set(&f->conf, "self", "${self}", "f", 12);
    flm_kvs_set(&f->conf, "nm", "${${nm}}", "f", 13);
    assert_interp(f, "${ca}", "12${ca}");
    assert_interp(f, "${self}", "${self}");
    char *r = flm_interpolate_str("${nm}", &f->conf, &f->ctx);
    assert_non_null(r); /* any result, but it terminates */
    free(r);
}

static void unknown_prefix_falls_back_to_the_name_after_it(void **state)
{
    struct fixture *f = *state;
    /* Commons Text interpolator: an unknown or unanswered prefix retries
     * the default lookup with the part after ':'. */
    assert_interp(f, "${foo:k}", "kval");
    assert_interp(f, "${env:k}", "kval");
    assert_interp(f, "${java:version}", "${java:version}");
}

static void date_lookup_formats_current_local_time(void **state)
{
    struct fixture *f = *state;
    char want1[64], want2[64];
    for (int attempt = 0; attempt < 3; attempt++) {
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(want1, sizeof(want1), "%Y-%m-%d %H", &tm);
        char *got = flm_interpolate_str("${date:yyyy-MM-dd HH}", &f->conf, &f->ctx);
        t = time(NULL);
        localtime_r(&t, &tm);
        strftime(want2, sizeof(want2), "%Y-%m-%d %H", &tm);
        assert_non_null(got);
        int same = strcmp(want1, want2) == 0;
        if (same)
            assert_string_equal(got, want1);
        free(got);
        if (same)
            break;
    }
    assert_interp(f, "${date:'at' '''x'''}", "at 'x'");
    /* Text fields have the right shape. */
    char *got = flm_interpolate_str("${date:EEE MMM a}", &f->conf, &f->ctx);
    assert_non_null(got);
    assert_int_equal(strlen(got), 10);
    assert_true(strstr(got, " AM") != NULL || strstr(got, " PM") != NULL);
    free(got);
    got = flm_interpolate_str("${date:yy.SSS}", &f->conf, &f->ctx);
    assert_int_equal(strlen(got), 6);
    free(got);
    /* Unsupported letters and unterminated quotes leave it unresolved. */
    assert_interp(f, "${date:GGG}", "${date:GGG}");
    assert_interp(f, "${date:'oops}", "${date:'oops}");
}

static void null_ctx_and_null_kvs_are_accepted(void **state)
{
    (void)state;
    char *r = flm_interpolate_str("${a}-$${b}", NULL, NULL);
    assert_string_equal(r, "${a}-${b}");
    free(r);
}

static void interpolate_rewrites_values_but_never_keys(void **state)
{
    struct fixture *f = *state;
    struct flm_kvs kvs;
    flm_kvs_init(&kvs);
    flm_kvs_set(&kvs, "${env:V}", "${env:V}", "f", 1);
    flm_kvs_set(&kvs, "home", "${env:HOME}/data", "f", 2);
    flm_kvs_set(&kvs, "ref", "${home}/x", "f", 3);
    flm_kvs_set(&kvs, "esc", "$${env:HOME}", "f", 4);
    flm_kvs_set(&kvs, "late", "${home}", "f", 5);
    assert_int_equal(flm_interpolate(&kvs, &f->ctx), FLM_OK);
    assert_int_equal(kvs.n, 5);
    assert_string_equal(kvs.v[0].key, "${env:V}");
    assert_string_equal(kvs.v[0].val, "vee");
    assert_string_equal(flm_kvs_get(&kvs, "home"), "/home/flume/data");
    assert_string_equal(flm_kvs_get(&kvs, "ref"), "/home/flume/data/x");
    assert_string_equal(flm_kvs_get(&kvs, "esc"), "${env:HOME}");
    assert_string_equal(flm_kvs_get(&kvs, "late"), "/home/flume/data");
    /* File and line survive. */
    assert_int_equal(flm_kvs_find(&kvs, "ref")->line, 3);
    flm_kvs_free(&kvs);

    flm_kvs_init(&kvs);
    assert_int_equal(flm_interpolate(&kvs, &f->ctx), FLM_OK);
}

static void exponential_expansion_is_bounded(void **state)
{
    struct fixture *f = *state;
    struct flm_kvs kvs;
    flm_kvs_init(&kvs);
    char key[16], val[64];
    /* e0 doubles 40 times: 2^40 bytes if unbounded. */
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "e%d", i);
        snprintf(val, sizeof(val), "${e%d}${e%d}", i + 1, i + 1);
        flm_kvs_set(&kvs, key, val, "f", i + 1);
    }
    flm_kvs_set(&kvs, "e40", "xx", "f", 41);
    flm_kvs_set(&kvs, "small", "${e36}", "f", 42);
    assert_int_equal(flm_interpolate(&kvs, &f->ctx), FLM_OK);
    /* Too big: kept exactly as written. */
    assert_string_equal(flm_kvs_get(&kvs, "e0"), "${e1}${e1}");
    /* Small enough: fully expanded (2^4 * 2 bytes). */
    assert_int_equal(strlen(flm_kvs_get(&kvs, "small")), 32);
    flm_kvs_free(&kvs);

    /* 2^40 lookups that produce nothing: only the lookup budget stops it. */
    flm_kvs_init(&kvs);
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "z%d", i);
        snprintf(val, sizeof(val), "${z%d}${z%d}", i + 1, i + 1);
        flm_kvs_set(&kvs, key, val, "f", i + 1);
    }
    flm_kvs_set(&kvs, "z40", "", "f", 41);
    flm_kvs_set(&kvs, "small", "[${z30}]", "f", 42);
    assert_int_equal(flm_interpolate(&kvs, &f->ctx), FLM_OK);
    assert_string_equal(flm_kvs_get(&kvs, "z0"), "${z1}${z1}");
    assert_string_equal(flm_kvs_get(&kvs, "small"), "[]");
    flm_kvs_free(&kvs);
}

static void oversized_expansion_keeps_the_value_as_written(void **state)
{
    struct fixture *f = *state;
    size_t n = 600 * 1024;
    char *big = malloc(n + 1);
    memset(big, 'x', n);
    big[n] = '\0';
    flm_kvs_set(&f->conf, "big", big, "f", 20);
    /* 1.2 MB from two lookups: over the 1 MiB cap. */
    assert_interp(f, "${big}${big}", "${big}${big}");
    char *r = flm_interpolate_str("<${big}>", &f->conf, &f->ctx);
    assert_non_null(r);
    assert_int_equal(strlen(r), n + 2);
    free(r);
    free(big);
}

static void deep_nesting_does_not_recurse_without_bound(void **state)
{
    struct fixture *f = *state;
    size_t depth = 5000;
    char *s = malloc(depth * 3 + 2);
    size_t n = 0;
    for (size_t i = 0; i < depth; i++) {
        s[n++] = '$';
        s[n++] = '{';
    }
    s[n++] = 'k';
    for (size_t i = 0; i < depth; i++)
        s[n++] = '}';
    s[n] = '\0';
    char *r = flm_interpolate_str(s, &f->conf, &f->ctx);
    assert_non_null(r);
    assert_string_equal(r, s); /* too deep: left as written */
    free(r);
    free(s);
    /* An unresolved outer name keeps the whole reference as written. */
    assert_interp(f, "${${${${k}}}}", "${${${${k}}}}");
    /* A chain of references deeper than the limit terminates. */
    char key[16], val[32];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "d%d", i);
        snprintf(val, sizeof(val), "${d%d}", i + 1);
        flm_kvs_set(&f->conf, key, val, "f", i + 1);
    }
    r = flm_interpolate_str("${d0}", &f->conf, &f->ctx);
    assert_non_null(r);
    assert_non_null(strstr(r, "${d"));
    free(r);
}

/* --------------------------------------------------- config filters */

static int lookups;

static char *fake_filter(const char *filter, const char *key, void *arg)
{
    (void)arg;
    lookups++;
    char buf[128];
    if (strcmp(filter, "f1") == 0 && strcmp(key, "null") != 0) {
        snprintf(buf, sizeof(buf), "<%s>", key);
        return strdup(buf);
    }
    if (filter[0] == '\0')
        return strdup("EMPTY"); /* never asked: names are non-empty */
    if (strcmp(filter, "other-f") == 0) {
        snprintf(buf, sizeof(buf), "(%s)", key);
        return strdup(buf);
    }
    return NULL;
}

static void assert_filter(const char *in, const char *want)
{
    char *got = flm_filter_substitute(in, fake_filter, NULL);
    assert_non_null(got);
    if (strcmp(got, want) != 0)
        fail_msg("[%s] -> [%s], want [%s]", in, got, want);
    free(got);
}

static void filter_accepts_single_double_and_no_quotes(void **state)
{
    (void)state;
    assert_filter("${f1['KEY']}", "<KEY>");
    assert_filter("${f1[\"KEY\"]}", "<KEY>");
    assert_filter("${f1[KEY]}", "<KEY>");
    assert_filter("${f1['a-b_C9']}", "<a-b_C9>");
    assert_filter("${other-f[k]}", "(k)");
}

static void filter_needs_matching_quotes_and_a_plain_key(void **state)
{
    (void)state;
    assert_filter("${f1['KEY\"]}", "${f1['KEY\"]}");
    assert_filter("${f1['KEY]}", "${f1['KEY]}");
    assert_filter("${f1[KEY']}", "${f1[KEY']}");
    assert_filter("${f1['']}", "${f1['']}");
    assert_filter("${f1[a b]}", "${f1[a b]}");
    assert_filter("${f1[a.b]}", "${f1[a.b]}");
    assert_filter("${f1[KEY]", "${f1[KEY]");
    assert_filter("${[KEY]}", "${[KEY]}");
    assert_filter("$f1[KEY]}", "$f1[KEY]}");
}

static void filter_replaces_every_occurrence_among_literal_text(void **state)
{
    (void)state;
    lookups = 0;
    assert_filter("user=${f1['u']}, pass=${f1[\"p\"]}; again ${f1[u]}!",
                  "user=<u>, pass=<p>; again <u>!");
    assert_int_equal(lookups, 3);
    assert_filter("${f1[a]}${f1[b]}", "<a><b>");
    assert_filter("$${f1[a]}", "$<a>");
    assert_filter("${f1[${f1[a]}]}", "${f1[<a>]}");
}

static void filter_leaves_unresolved_references(void **state)
{
    (void)state;
    assert_filter("${unknown['k']} and ${f1['null']} and ${f1['k']}",
                  "${unknown['k']} and ${f1['null']} and <k>");
    assert_filter("plain text", "plain text");
    assert_filter("", "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(env_lookup_uses_the_ctx_getenv, setup, teardown),
        cmocka_unit_test_setup_teardown(sys_lookup_reads_system_properties, setup, teardown),
        cmocka_unit_test_setup_teardown(bare_name_is_a_config_key_not_an_env_var, setup, teardown),
        cmocka_unit_test_setup_teardown(env_fallback_resolves_bare_names_from_env, setup, teardown),
        cmocka_unit_test_setup_teardown(default_value_applies_when_unresolved, setup, teardown),
        cmocka_unit_test_setup_teardown(double_dollar_escapes_a_reference, setup, teardown),
        cmocka_unit_test_setup_teardown(unresolvable_references_are_left_unchanged, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(unterminated_reference_is_plain_text, setup, teardown),
        cmocka_unit_test_setup_teardown(nested_references_resolve_inside_out, setup, teardown),
        cmocka_unit_test_setup_teardown(config_key_values_are_interpolated_recursively, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(reference_cycles_are_left_unresolved, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_prefix_falls_back_to_the_name_after_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(date_lookup_formats_current_local_time, setup, teardown),
        cmocka_unit_test(null_ctx_and_null_kvs_are_accepted),
        cmocka_unit_test_setup_teardown(interpolate_rewrites_values_but_never_keys, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(exponential_expansion_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(oversized_expansion_keeps_the_value_as_written, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(deep_nesting_does_not_recurse_without_bound, setup,
                                        teardown),
        cmocka_unit_test(filter_accepts_single_double_and_no_quotes),
        cmocka_unit_test(filter_needs_matching_quotes_and_a_plain_key),
        cmocka_unit_test(filter_replaces_every_occurrence_among_literal_text),
        cmocka_unit_test(filter_leaves_unresolved_references),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
