/*
 * interceptor_routing_test.c - the interceptors of src/interceptors/
 * (components.md 7): each one's properties and defaults, preserveExisting,
 * missing headers, non-matching regexes leaving the event untouched (same
 * pointer: nothing rebuilt), Java replacement and find() semantics, the
 * millis serializer, dropping with compaction, and config errors that name
 * the key (invalid regex, Java-only constructs PCRE2 would read otherwise).
 * Single-threaded: the test plays the source's thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/component.h"
#include "core/counters.h"
#include "core/processor.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------- fixtures */

/* An interceptor of type `type` (alias or class) configured by "k=v"
 * strings.  NULL when config (props/validate) or init fails; d keeps the
 * config messages. */
static struct flm_interceptor *ic_new(const char *type, const char *const *kvs,
                                      struct flm_diag *d)
{
    const struct flm_type *t = flm_registry_find(FLM_INTERCEPTOR, type);
    assert_non_null(t);
    struct flm_kvs kv;
    flm_kvs_init(&kv);
    for (size_t i = 0; kvs && kvs[i]; i++) {
        char k[128];
        const char *eq = strchr(kvs[i], '=');
        assert_non_null(eq);
        snprintf(k, sizeof(k), "%.*s", (int)(eq - kvs[i]), kvs[i]);
        flm_kvs_set(&kv, k, eq + 1, "i.conf", (int)i + 1);
    }
    struct flm_interceptor *ic = calloc(1, sizeof(*ic));
    ic->c.type = t;
    snprintf(ic->c.path, sizeof(ic->c.path), "a1.sources.r1.interceptors.i1");
    flm_logctx_init(&ic->c.log, ic->c.path, t->alias);
    ic->c.conf = calloc(1, t->conf_size);
    int rc = flm_props_load(t->props, &kv, ic->c.conf, ic->c.path, d);
    flm_kvs_free(&kv);
    if (rc == FLM_OK && t->validate)
        rc = t->validate(ic->c.conf, ic->c.path, d);
    const struct flm_interceptor_ops *ops = t->ops;
    struct flm_err err = {0};
    if (rc == FLM_OK && ops->init)
        rc = ops->init(ic, &err);
    if (rc != FLM_OK) {
        flm_interceptor_free(ic);
        return NULL;
    }
    return ic;
}

static struct flm_interceptor *ic_ok(const char *type, const char *const *kvs)
{
    struct flm_diag d;
    flm_diag_init(&d);
    struct flm_interceptor *ic = ic_new(type, kvs, &d);
    if (ic == NULL) {
        for (size_t i = 0; i < d.n; i++)
            fprintf(stderr, "%s: %s\n", d.v[i].key, d.v[i].msg);
        fail_msg("interceptor %s did not configure", type);
    }
    flm_diag_free(&d);
    return ic;
}

/* Expects a config error on key whose message contains text. */
static void ic_bad(const char *type, const char *const *kvs, const char *key, const char *text)
{
    struct flm_diag d;
    flm_diag_init(&d);
    assert_null(ic_new(type, kvs, &d));
    bool found = false;
    for (size_t i = 0; i < d.n; i++)
        found |= d.v[i].sev == FLM_SEV_ERROR && strcmp(d.v[i].key, key) == 0 &&
                 strstr(d.v[i].msg, text) != NULL;
    if (!found) {
        for (size_t i = 0; i < d.n; i++)
            fprintf(stderr, "  got %s: %s\n", d.v[i].key, d.v[i].msg);
        fail_msg("no error on key %s mentioning '%s'", key, text);
    }
    flm_diag_free(&d);
}

static size_t run(struct flm_interceptor *ic, struct flm_event **evs, size_t n)
{
    const struct flm_interceptor_ops *ops = ic->c.type->ops;
    return ops->intercept(ic, evs, n);
}

/* Event with body and headers "k1", "v1", "k2", "v2", ..., NULL. */
static struct flm_event *ev(const char *body, ...)
{
    struct flm_hdr h[8];
    size_t n = 0;
    va_list ap;
    va_start(ap, body);
    for (const char *k; (k = va_arg(ap, const char *)) != NULL && n < 8;) {
        const char *v = va_arg(ap, const char *);
        h[n++] = flm_hdr_str(k, v);
    }
    va_end(ap);
    struct flm_event *e = flm_event_new(body, strlen(body), h, n);
    assert_non_null(e);
    return e;
}

static void free_all(struct flm_event **evs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        flm_event_free(evs[i]);
}

/* ------------------------------------------------------- header setters */

static void timestamp_sets_epoch_ms_and_respects_preserve_existing(void **state)
{
    (void)state;
    struct flm_interceptor *ic = ic_ok("timestamp", NULL);
    struct flm_event *evs[] = {ev("a", NULL), ev("b", "timestamp", "1", NULL)};
    uint64_t before = flm_now_ms();
    assert_int_equal(run(ic, evs, 2), 2);
    uint64_t after = flm_now_ms();
    for (int i = 0; i < 2; i++) {
        long long t = strtoll(flm_event_header(evs[i], "timestamp"), NULL, 10);
        assert_true((uint64_t)t >= before && (uint64_t)t <= after); /* overwritten by default */
    }
    free_all(evs, 2);
    flm_interceptor_free(ic);

    ic = ic_ok("org.apache.flume.interceptor.TimestampInterceptor$Builder",
               (const char *const[]){"headerName=ts", "preserveExisting=true", NULL});
    struct flm_event *keep = ev("c", "ts", "42", NULL), *orig = keep;
    assert_int_equal(run(ic, &keep, 1), 1);
    assert_ptr_equal(keep, orig); /* nothing changed: not rebuilt */
    assert_string_equal(flm_event_header(keep, "ts"), "42");
    flm_event_free(keep);
    flm_interceptor_free(ic);
}

static void host_sets_the_agent_address(void **state)
{
    (void)state;
    struct flm_interceptor *ic = ic_ok("host", NULL);
    struct flm_event *e = ev("x", NULL);
    assert_int_equal(run(ic, &e, 1), 1);
    const char *h = flm_event_header(e, "host");
    if (ic->c.ctx != NULL) { /* the host name resolved */
        assert_non_null(h);
        unsigned char buf[16];
        assert_true(inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1);
    } else {
        assert_null(h);
    }
    flm_event_free(e);
    flm_interceptor_free(ic);
    ic = ic_ok("host", (const char *const[]){"hostHeader=origin", "preserveExisting=true", NULL});
    struct flm_event *k = ev("x", "origin", "mine", NULL), *orig = k;
    assert_int_equal(run(ic, &k, 1), 1);
    assert_ptr_equal(k, orig);
    assert_string_equal(flm_event_header(k, "origin"), "mine");
    flm_event_free(k);
    flm_interceptor_free(ic);
}

static void static_defaults_to_key_value_and_preserves_existing(void **state)
{
    (void)state;
    struct flm_interceptor *ic = ic_ok("static", NULL);
    struct flm_event *evs[] = {ev("a", NULL), ev("b", "key", "old", NULL)};
    struct flm_event *second = evs[1];
    assert_int_equal(run(ic, evs, 2), 2);
    assert_string_equal(flm_event_header(evs[0], "key"), "value");
    assert_string_equal(flm_event_header(evs[1], "key"), "old"); /* preserveExisting true */
    assert_ptr_equal(evs[1], second);
    free_all(evs, 2);
    flm_interceptor_free(ic);
    ic = ic_ok("static", (const char *const[]){"key=datacenter", "value=east",
                                               "preserveExisting=false", NULL});
    struct flm_event *e = ev("c", "datacenter", "west", NULL);
    assert_int_equal(run(ic, &e, 1), 1);
    assert_string_equal(flm_event_header(e, "datacenter"), "east");
    flm_event_free(e);
    flm_interceptor_free(ic);
}

static void uuid_sets_a_random_v4_uuid_with_prefix(void **state)
{
    (void)state;
    struct flm_interceptor *ic = ic_ok("org.apache.flume.sink.solr.morphline.UUIDInterceptor$Builder",
                                       (const char *const[]){"prefix=pre-", NULL});
    struct flm_event *evs[] = {ev("a", NULL), ev("b", NULL), ev("c", "id", "keep", NULL)};
    assert_int_equal(run(ic, evs, 3), 3);
    const char *a = flm_event_header(evs[0], "id"), *b = flm_event_header(evs[1], "id");
    assert_int_equal(strlen(a), 4 + 36);
    assert_memory_equal(a, "pre-", 4);
    assert_int_equal(a[4 + 14], '4');
    assert_int_equal(a[4 + 8], '-');
    assert_string_not_equal(a, b);
    assert_string_equal(flm_event_header(evs[2], "id"), "keep");
    free_all(evs, 3);
    flm_interceptor_free(ic);
}

static void remove_header_by_name_list_and_whole_name_regex(void **state)
{
    (void)state;
    struct flm_interceptor *ic = ic_ok(
        "remove_header", (const char *const[]){"withName=w", "fromList= a , b,c",
                                               "matching=x-.*", NULL});
    struct flm_event *e = ev("body", "w", "1", "a", "2", "b", "3", "c", "4", "x-y", "5", "ax-b",
                             "6", " a", "7", NULL);
    struct flm_event *orig = e;
    assert_int_equal(run(ic, &e, 1), 1);
    assert_ptr_equal(e, orig); /* removal never reallocates */
    assert_int_equal(e->nhdr, 2);
    assert_string_equal(flm_event_header(e, "ax-b"), "6"); /* matches() is whole-name */
    /* Pattern.split("\\s*,\\s*") of " a , b,c" gives " a", "b", "c". */
    assert_null(flm_event_header(e, " a"));
    assert_string_equal(flm_event_header(e, "a"), "2");
    flm_event_free(e);
    flm_interceptor_free(ic);
    ic_bad("remove_header", (const char *const[]){"matching=(", NULL}, "matching", "(");
    ic_bad("remove_header", (const char *const[]){"fromListSeparator=[a", NULL},
           "fromListSeparator", "[a");
}

/* ------------------------------------------------------------ body regex */

static char *body_of(const struct flm_event *e)
{
    return (char *)e->body;
}

static void search_replace_replaces_all_with_java_group_syntax(void **state)
{
    (void)state;
    struct flm_interceptor *ic = ic_ok(
        "search_replace", (const char *const[]){"searchPattern=(?<n>\\d+)(x)?",
                                                "replaceString=<$1|${n}|$2|\\$>", NULL});
    struct flm_event *evs[] = {ev("a12b3", "h", "v", NULL), ev("none", NULL)};
    struct flm_event *untouched = evs[1];
    assert_int_equal(run(ic, evs, 2), 2);
    assert_string_equal(body_of(evs[0]), "a<12|12||$>b<3|3||$>");
    assert_string_equal(flm_event_header(evs[0], "h"), "v"); /* headers kept */
    assert_ptr_equal(evs[1], untouched);                      /* no match: not rebuilt */
    free_all(evs, 2);
    flm_interceptor_free(ic);

    /* Java's empty-match stepping: "abc".replaceAll("b*", "-") = "-a--c-". */
    ic = ic_ok("search_replace", (const char *const[]){"searchPattern=b*", "replaceString=-", NULL});
    struct flm_event *e = ev("abc", NULL);
    run(ic, &e, 1);
    assert_string_equal(body_of(e), "-a--c-");
    flm_event_free(e);
    flm_interceptor_free(ic);

    /* Unset replaceString deletes; UTF-8 is stepped by character. */
    ic = ic_ok("search_replace", (const char *const[]){"searchPattern=x?", NULL});
    e = ev("\xc3\xa9x\xc3\xa9", NULL);
    run(ic, &e, 1);
    assert_string_equal(body_of(e), "\xc3\xa9\xc3\xa9");
    flm_event_free(e);
    flm_interceptor_free(ic);

    /* "$12" with one group is group 1 then '2', as in Java. */
    ic = ic_ok("search_replace",
               (const char *const[]){"searchPattern=(a)", "replaceString=$12", NULL});
    e = ev("bab", NULL);
    run(ic, &e, 1);
    assert_string_equal(body_of(e), "ba2b");
    flm_event_free(e);
    flm_interceptor_free(ic);
}

static void search_replace_config_errors(void **state)
{
    (void)state;
    ic_bad("search_replace", NULL, "searchPattern", "missing");
    ic_bad("search_replace", (const char *const[]){"searchPattern=a(", NULL}, "searchPattern",
           "a(");
    ic_bad("search_replace", (const char *const[]){"searchPattern=(a)", "replaceString=$2", NULL},
           "replaceString", "No group 2");
    ic_bad("search_replace", (const char *const[]){"searchPattern=a", "replaceString=$x", NULL},
           "replaceString", "Illegal group reference");
    ic_bad("search_replace", (const char *const[]){"searchPattern=a", "replaceString=a\\", NULL},
           "replaceString", "escaped");
    ic_bad("search_replace", (const char *const[]){"searchPattern=a", "charset=EBCDIC", NULL},
           "charset", "EBCDIC");
    ic_bad("search_replace",
           (const char *const[]){"searchPattern=\xc3\xa9", "charset=ISO-8859-1", NULL}, "charset",
           "ASCII");
}

static void regex_filter_keeps_or_drops_matches_and_compacts(void **state)
{
    (void)state;
    struct flm_interceptor *ic = ic_ok("regex_filter", (const char *const[]){"regex=err", NULL});
    struct flm_event *evs[] = {ev("an error", NULL), ev("fine", NULL), ev("err2", NULL),
                               ev("ok", NULL)};
    struct flm_event *e0 = evs[0], *e2 = evs[2];
    assert_int_equal(run(ic, evs, 4), 2); /* find(), not matches() */
    assert_ptr_equal(evs[0], e0);
    assert_ptr_equal(evs[1], e2);
    free_all(evs, 2);
    flm_interceptor_free(ic);

    ic = ic_ok("regex_filter",
               (const char *const[]){"regex=^DEBUG", "excludeEvents=true", NULL});
    struct flm_event *ev2[] = {ev("DEBUG x", NULL), ev("INFO y", NULL), ev("DEBUG z", NULL)};
    assert_int_equal(run(ic, ev2, 3), 1);
    assert_string_equal(body_of(ev2[0]), "INFO y");
    free_all(ev2, 1);
    flm_interceptor_free(ic);

    /* The default ".*" keeps everything, even an empty body. */
    ic = ic_ok("regex_filter", NULL);
    struct flm_event *ev3[] = {ev("", NULL), ev("x", NULL)};
    assert_int_equal(run(ic, ev3, 2), 2);
    free_all(ev3, 2);
    flm_interceptor_free(ic);
}

static void java_only_regex_constructs_are_config_errors_naming_the_key(void **state)
{
    (void)state;
    const char *bad[][2] = {
        {"regex=[a[bc]]", "inside a character class"},
        {"regex=[[:alpha:]]", "inside a character class"},
        {"regex=[a-z&&[^b]]", "intersection"},
        {"regex=a{", "quantifier"},
        {"regex=a{,3}", "quantifier"},
        {"regex=(?U)\\w+", "inline flag U"},
        {"regex=(?x)a b", "inline flag x"},
        {"regex=\\N", "\\N"},
        {"regex=\\u12", "four hex"},
        {"regex=\\p{javaLowerCase}", "invalid regex"},
        {"regex=(unclosed", "invalid regex"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ic_bad("regex_filter", (const char *const[]){bad[i][0], NULL}, "regex", bad[i][1]);
    /* What both read alike is accepted, \uHHHH is translated. */
    struct flm_interceptor *ic = ic_ok(
        "regex_filter", (const char *const[]){"regex=^\\u0041[]x]{2,}\\Q[{\\E(?i:z)$", NULL});
    struct flm_event *evs[] = {ev("A]x[{Z", NULL), ev("A]x[{Z\n", NULL), ev("Ax", NULL)};
    assert_int_equal(run(ic, evs, 3), 2); /* '$' before a final line terminator too */
    free_all(evs, 2);
    flm_interceptor_free(ic);
}

static void regex_extractor_sets_headers_from_groups(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    struct flm_interceptor *ic = ic_ok(
        "regex_extractor",
        (const char *const[]){"regex=^(\\d\\d\\d\\d-\\d\\d-\\d\\d \\d\\d:\\d\\d)(?: (\\w+))?(?: (\\d+))?",
                              "serializers=s1 s2",
                              "serializers.s1.name=timestamp",
                              "serializers.s1.type="
                              "org.apache.flume.interceptor.RegexExtractorInterceptorMillisSerializer",
                              "serializers.s1.pattern=yyyy-MM-dd HH:mm",
                              "serializers.s2.name=level", NULL});
    struct flm_event *evs[] = {ev("2012-10-17 14:34 WARN 7 rest", NULL),
                               ev("2012-10-17 14:35", NULL), ev("no date", NULL),
                               ev("2012-13-40 99:99 INFO", NULL)};
    struct flm_event *nomatch = evs[2];
    assert_int_equal(run(ic, evs, 4), 4);
    assert_string_equal(flm_event_header(evs[0], "timestamp"), "1350484440000");
    assert_string_equal(flm_event_header(evs[0], "level"), "WARN");
    assert_int_equal(evs[0]->nhdr, 2); /* group 3 has no serializer */
    assert_string_equal(flm_event_header(evs[1], "timestamp"), "1350484500000");
    assert_null(flm_event_header(evs[1], "level")); /* group 2 did not take part */
    assert_ptr_equal(evs[2], nomatch);
    assert_null(flm_event_header(evs[3], "timestamp")); /* not a date: not set */
    assert_string_equal(flm_event_header(evs[3], "level"), "INFO");
    free_all(evs, 4);
    flm_interceptor_free(ic);
}

static void regex_extractor_config_errors(void **state)
{
    (void)state;
    ic_bad("regex_extractor", (const char *const[]){"serializers=s1", "serializers.s1.name=h", NULL},
           "regex", "missing");
    ic_bad("regex_extractor", (const char *const[]){"regex=(a)", "serializers=s1", NULL},
           "serializers.s1.name", "missing");
    ic_bad("regex_extractor",
           (const char *const[]){"regex=(a)", "serializers=s1", "serializers.s1.name=h",
                                 "serializers.s1.type=com.example.Ser", NULL},
           "serializers.s1.type", "com.example.Ser");
    ic_bad("regex_extractor",
           (const char *const[]){
               "regex=(a)", "serializers=s1", "serializers.s1.name=h",
               "serializers.s1.type="
               "org.apache.flume.interceptor.RegexExtractorInterceptorMillisSerializer",
               "serializers.s1.pattern=yyyy-ww", NULL},
           "serializers.s1.pattern", "'w'");
    ic_bad("regex_extractor",
           (const char *const[]){"regex=a[b", "serializers=s1", "serializers.s1.name=h", NULL},
           "regex", "a[b");
}

static void all_interceptor_class_names_resolve(void **state)
{
    (void)state;
    const char *const classes[][2] = {
        {"org.apache.flume.interceptor.TimestampInterceptor$Builder", "timestamp"},
        {"org.apache.flume.interceptor.HostInterceptor$Builder", "host"},
        {"org.apache.flume.interceptor.StaticInterceptor$Builder", "static"},
        {"org.apache.flume.interceptor.RemoveHeaderInterceptor$Builder", "remove_header"},
        {"org.apache.flume.sink.solr.morphline.UUIDInterceptor$Builder", "uuid"},
        {"org.apache.flume.interceptor.SearchAndReplaceInterceptor$Builder", "search_replace"},
        {"org.apache.flume.interceptor.RegexFilteringInterceptor$Builder", "regex_filter"},
        {"org.apache.flume.interceptor.RegexExtractorInterceptor$Builder", "regex_extractor"},
    };
    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
        const struct flm_type *t = flm_registry_find(FLM_INTERCEPTOR, classes[i][0]);
        assert_non_null(t);
        assert_string_equal(t->alias, classes[i][1]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timestamp_sets_epoch_ms_and_respects_preserve_existing),
        cmocka_unit_test(host_sets_the_agent_address),
        cmocka_unit_test(static_defaults_to_key_value_and_preserves_existing),
        cmocka_unit_test(uuid_sets_a_random_v4_uuid_with_prefix),
        cmocka_unit_test(remove_header_by_name_list_and_whole_name_regex),
        cmocka_unit_test(search_replace_replaces_all_with_java_group_syntax),
        cmocka_unit_test(search_replace_config_errors),
        cmocka_unit_test(regex_filter_keeps_or_drops_matches_and_compacts),
        cmocka_unit_test(java_only_regex_constructs_are_config_errors_naming_the_key),
        cmocka_unit_test(regex_extractor_sets_headers_from_groups),
        cmocka_unit_test(regex_extractor_config_errors),
        cmocka_unit_test(all_interceptor_class_names_resolve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
