/*
 * config_test.c - independent tests of Flume's configuration cascade as
 * implemented by flm_agent_build (src/core/agent_build.c): every row of the
 * validation table in spec/config.md section 3, the batch-size check of
 * behaviours.md 8, config filters (config.md 5b) and the replicating
 * selector's `optional` list (behaviours.md 4).
 *
 * Each test writes properties into an in-memory flm_kvs (file "t.conf",
 * line = position in the test's list), builds agent a1, and asserts on the
 * struct flm_diag entries (severity, file:line, component, message text) and
 * on the flow printed by flm_agent_print_flow.  Single-threaded; nothing is
 * started here except in the runner tests at the end, which start a built
 * agent whose sink type is swapped for an instrumented one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/agent.h"
#include "core/agent_internal.h"
#include "core/component.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------- fixture */

struct fx {
    struct flm_kvs kv;
    struct flm_diag d;
    struct flm_agent *a;
    int rc;
    char flow[4096];     /* print_flow output, runs of spaces collapsed */
};

static const char *FILE_NAME;

/* "key = value" -> kvs entry at line `line`; "key =" gives an empty value. */
static void put_line(struct flm_kvs *kv, const char *s, int line)
{
    const char *eq = strchr(s, '=');
    assert_non_null(eq);
    char key[512], val[512];
    size_t kl = (size_t)(eq - s);
    while (kl > 0 && isspace((unsigned char)s[kl - 1]))
        kl--;
    memcpy(key, s, kl);
    key[kl] = '\0';
    const char *v = eq + 1;
    while (*v && isspace((unsigned char)*v))
        v++;
    snprintf(val, sizeof(val), "%s", v);
    size_t vl = strlen(val);
    while (vl > 0 && isspace((unsigned char)val[vl - 1]))
        val[--vl] = '\0';
    assert_int_equal(flm_kvs_set(kv, key, val, FILE_NAME, line), FLM_OK);
}

/* Builds agent `name` from a NULL-terminated list of "key = value" lines. */
static void build_named(struct fx *f, const char *name, const char *const *lines)
{
    memset(f, 0, sizeof(*f));
    if (FILE_NAME == NULL)
        FILE_NAME = flm_intern("t.conf");
    flm_kvs_init(&f->kv);
    flm_diag_init(&f->d);
    for (int i = 0; lines[i]; i++)
        put_line(&f->kv, lines[i], i + 1);
    f->rc = flm_agent_build(&f->kv, name, NULL, &f->d, &f->a);
    if (f->rc == FLM_OK) {
        assert_non_null(f->a);
        char *buf = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&buf, &len);
        assert_non_null(m);
        flm_agent_print_flow(f->a, m);
        fclose(m);
        size_t o = 0;
        for (size_t i = 0; buf[i] && o + 1 < sizeof(f->flow); i++) {
            if (buf[i] == ' ' && o > 0 && f->flow[o - 1] == ' ')
                continue;
            f->flow[o++] = buf[i];
        }
        f->flow[o] = '\0';
        free(buf);
    } else {
        assert_null(f->a);
    }
}

static void build(struct fx *f, const char *const *lines)
{
    build_named(f, "a1", lines);
}

static void fx_free(struct fx *f)
{
    flm_agent_free(f->a);
    flm_diag_free(&f->d);
    flm_kvs_free(&f->kv);
}

static void dump_diag(const struct fx *f)
{
    char line[1024];
    for (size_t i = 0; i < f->d.n; i++) {
        flm_diag_format(&f->d.v[i], line, sizeof(line));
        print_message("  diag[%zu] %s %s\n", i, f->d.v[i].sev == FLM_SEV_ERROR ? "E" : "W",
                      line);
    }
    print_message("  flow:\n%s", f->flow);
}

/* The diag entry of severity sev whose message contains text, or fail. */
static const struct flm_diag_item *diag_find(const struct fx *f, enum flm_sev sev,
                                             const char *text)
{
    for (size_t i = 0; i < f->d.n; i++)
        if (f->d.v[i].sev == sev && strstr(f->d.v[i].msg, text) != NULL)
            return &f->d.v[i];
    print_message("no %s diag containing \"%s\"\n", sev == FLM_SEV_ERROR ? "ERROR" : "WARN", text);
    dump_diag(f);
    fail();
    return NULL;
}

static bool diag_has(const struct fx *f, const char *text)
{
    for (size_t i = 0; i < f->d.n; i++)
        if (strstr(f->d.v[i].msg, text) != NULL)
            return true;
    return false;
}

static void assert_where(const struct flm_diag_item *it, int line, const char *comp)
{
    assert_non_null(it->file);
    assert_string_equal(it->file, "t.conf");
    assert_int_equal(it->line, line);
    if (comp != NULL)
        assert_string_equal(it->comp, comp);
}

static void flow_has(const struct fx *f, const char *text)
{
    if (strstr(f->flow, text) == NULL) {
        print_message("flow lacks \"%s\"\n", text);
        dump_diag(f);
        fail();
    }
}

static void flow_lacks(const struct fx *f, const char *text)
{
    if (strstr(f->flow, text) != NULL) {
        print_message("flow unexpectedly has \"%s\"\n", text);
        dump_diag(f);
        fail();
    }
}

static void no_errors(const struct fx *f)
{
    if (f->d.nerr != 0) {
        dump_diag(f);
        fail();
    }
}

/* ------------------------------------------------------------ the basics */

static void valid_flow_builds_without_problems_and_prints_flow(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1",
                  "a1.channels = c1",
                  "a1.sinks = k1",
                  "a1.sources.r1.type = seq",
                  "a1.sources.r1.channels = c1",
                  "a1.channels.c1.type = memory",
                  "a1.sinks.k1.type = null",
                  "a1.sinks.k1.channel = c1",
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    assert_int_equal(f.d.n, 0);
    assert_false(flm_agent_empty(f.a));
    flow_has(&f, "agent a1:");
    flow_has(&f, "source r1 (seq) -> c1\n");
    flow_has(&f, "channel c1 (memory) transactionCapacity=100\n");
    flow_has(&f, "sink k1 (null) <- c1\n");
    fx_free(&f);
}

static void types_resolve_by_flume_class_name_and_alias_case(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1",
                  "a1.channels = c1",
                  "a1.sinks = k1",
                  "a1.sources.r1.type = org.apache.flume.source.SequenceGeneratorSource",
                  "a1.sources.r1.channels = c1",
                  "a1.sources.r1.selector.type = org.apache.flume.channel.ReplicatingChannelSelector",
                  "a1.channels.c1.type = MEMORY",
                  "a1.sinks.k1.type = org.apache.flume.sink.LoggerSink",
                  "a1.sinks.k1.channel = c1",
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    no_errors(&f);
    flow_has(&f, "source r1 (seq) -> c1");
    flow_has(&f, "channel c1 (memory)");
    flow_has(&f, "sink k1 (logger) <- c1");
    fx_free(&f);
}

static void other_agents_keys_are_ignored_silently(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a2.sources = x",
                  "a2.sources.x.type = nosuch",
                  "a1.sources = r1",
                  "a1.channels = c1",
                  "a1.sources.r1.type = seq",
                  "a1.sources.r1.channels = c1",
                  "a1.channels.c1.type = memory",
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    assert_int_equal(f.d.n, 0);
    flow_has(&f, "source r1 (seq) -> c1");
    fx_free(&f);
}

/* Row 1: agent name absent. */
static void agent_absent_from_file_gives_empty_agent(void **state)
{
    (void)state;
    struct fx f;
    build_named(&f, "a9",
                (const char *const[]){"a1.channels = c1", "a1.channels.c1.type = memory", NULL});
    assert_int_equal(f.rc, FLM_OK);
    assert_true(flm_agent_empty(f.a));
    diag_find(&f, FLM_SEV_ERROR, "No configuration found for this host:a9");
    flow_has(&f, "agent a9: nothing to run");
    fx_free(&f);
}

/* Row 2: no channels list. */
static void no_channels_list_gives_empty_agent(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1",
                  "a1.sinks = k1",
                  "a1.sources.r1.type = seq",
                  "a1.sources.r1.channels = c1",
                  "a1.channels.c1.type = memory",
                  "a1.sinks.k1.type = null",
                  "a1.sinks.k1.channel = c1",
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    assert_true(flm_agent_empty(f.a));
    assert_true(f.d.nerr >= 1);
    const struct flm_diag_item *it = diag_find(&f, FLM_SEV_ERROR, "channels");
    assert_string_equal(it->comp, "a1");
    flow_has(&f, "nothing to run");
    fx_free(&f);
}

/* Row 2: none of the listed channels is valid. */
static void no_valid_channel_gives_empty_agent(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1",
                  "a1.channels = c1",
                  "a1.sources.r1.type = seq",
                  "a1.sources.r1.channels = c1",
                  "a1.channels.c1.type = memory",
                  "a1.channels.c1.capacity = 10",
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    assert_true(flm_agent_empty(f.a));
    diag_find(&f, FLM_SEV_ERROR, "no valid channel");
    fx_free(&f);
}

/* Row 3 + row 14: listed but unconfigured, for every section. */
static void listed_but_unconfigured_components_are_dropped_with_flume_text(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1 r2",               /* 1 */
                  "a1.channels = c1 c2",              /* 2 */
                  "a1.sinks = k1 k2",                 /* 3 */
                  "a1.sources.r1.type = seq",         /* 4 */
                  "a1.sources.r1.channels = c1",      /* 5 */
                  "a1.channels.c1.type = memory",     /* 6 */
                  "a1.sinks.k1.type = null",          /* 7 */
                  "a1.sinks.k1.channel = c1",         /* 8 */
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    const struct flm_diag_item *it = diag_find(&f, FLM_SEV_WARN, "Configuration empty for: r2.");
    assert_where(it, 1, "a1.sources.r2");
    assert_non_null(strstr(it->msg, "Removed."));
    it = diag_find(&f, FLM_SEV_WARN, "Configuration empty for: c2.");
    assert_where(it, 2, "a1.channels.c2");
    it = diag_find(&f, FLM_SEV_WARN, "Configuration empty for: k2.");
    assert_where(it, 3, "a1.sinks.k2");
    flow_has(&f, "source r1 (seq) -> c1\n");
    flow_lacks(&f, "r2");
    flow_lacks(&f, "c2");
    flow_lacks(&f, "k2");
    fx_free(&f);
}

/* Row 14: configured but unlisted (Flume is silent; we warn, never error). */
static void configured_but_unlisted_components_are_ignored_with_a_warning(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1",
                  "a1.channels = c1",
                  "a1.sources.r1.type = seq",
                  "a1.sources.r1.channels = c1",
                  "a1.channels.c1.type = memory",
                  "a1.sources.r9.type = seq",         /* 6 */
                  "a1.sources.r9.channels = c1",
                  "a1.sinks.k9.type = null",          /* 8 */
                  "a1.sinks.k9.channel = c1",
                  "a1.channels.c9.type = memory",     /* 10 */
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    assert_int_equal(f.d.nerr, 0);
    const struct flm_diag_item *it = diag_find(&f, FLM_SEV_WARN, "'r9' is configured but not listed");
    assert_where(it, 6, "a1.sources.r9");
    it = diag_find(&f, FLM_SEV_WARN, "'k9' is configured but not listed");
    assert_where(it, 8, "a1.sinks.k9");
    it = diag_find(&f, FLM_SEV_WARN, "'c9' is configured but not listed");
    assert_where(it, 10, "a1.channels.c9");
    flow_lacks(&f, "r9");
    flow_lacks(&f, "k9");
    flow_lacks(&f, "c9");
    fx_free(&f);
}

/* Row 4: no type. */
static void component_without_type_is_dropped(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1",
                  "a1.channels = c1 c2",
                  "a1.sinks = k1",
                  "a1.sources.r1.type = seq",
                  "a1.sources.r1.channels = c1",
                  "a1.channels.c1.type = memory",
                  "a1.channels.c2.capacity = 10",     /* 7: c2 has no type */
                  "a1.sinks.k1.channel = c1",         /* 8: k1 has no type */
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    const struct flm_diag_item *it = diag_find(&f, FLM_SEV_ERROR, "Component has no type");
    /* Both: each names the component's first line. */
    size_t seen = 0;
    for (size_t i = 0; i < f.d.n; i++) {
        it = &f.d.v[i];
        if (strstr(it->msg, "Component has no type") == NULL)
            continue;
        if (strcmp(it->comp, "a1.channels.c2") == 0)
            assert_where(it, 7, NULL), seen |= 1;
        else if (strcmp(it->comp, "a1.sinks.k1") == 0)
            assert_where(it, 8, NULL), seen |= 2;
    }
    assert_int_equal(seen, 3);
    flow_has(&f, "source r1 (seq) -> c1");
    flow_lacks(&f, "k1");
    flow_lacks(&f, "c2");
    fx_free(&f);
}

/* Row 13: unknown source/channel/sink type aborts the whole load. */
static void unknown_source_channel_or_sink_type_is_fatal(void **state)
{
    (void)state;
    static const char *const which[][2] = {
        {"a1.sources.r1.type = nosuchsource", "Unable to load source type: nosuchsource"},
        {"a1.channels.c1.type = nosuchchannel", "Unable to load channel type: nosuchchannel"},
        {"a1.sinks.k1.type = nosuchsink", "Unable to load sink type: nosuchsink"},
    };
    for (size_t w = 0; w < 3; w++) {
        const char *lines[] = {
            "a1.sources = r1",
            "a1.channels = c1 c2",
            "a1.sinks = k1 k2",
            "a1.sources.r1.type = seq",
            "a1.sources.r1.channels = c1 c2",
            "a1.channels.c1.type = memory",
            "a1.channels.c2.type = memory",
            "a1.sinks.k1.type = null",
            "a1.sinks.k1.channel = c1",
            "a1.sinks.k2.type = null",
            "a1.sinks.k2.channel = c2",
            which[w][0],                          /* 12: overrides one type */
            NULL,
        };
        struct fx f;
        build(&f, lines);
        if (f.rc != FLM_ERR) {
            print_message("case %zu: rc %d, expected FLM_ERR\n", w, f.rc);
            dump_diag(&f);
        }
        assert_int_equal(f.rc, FLM_ERR);
        assert_null(f.a);
        const struct flm_diag_item *it = diag_find(&f, FLM_SEV_ERROR, which[w][1]);
        assert_where(it, 12, NULL);
        assert_string_equal(it->key, "type");
        fx_free(&f);
    }
}

/* Row 13b: unknown selector type drops only that source. */
static void unknown_selector_type_drops_only_the_source(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1 r2",
                  "a1.channels = c1",
                  "a1.sinks = k1",
                  "a1.sources.r1.type = seq",
                  "a1.sources.r1.channels = c1",
                  "a1.sources.r1.selector.type = nosuchselector",
                  "a1.sources.r2.type = seq",
                  "a1.sources.r2.channels = c1",
                  "a1.channels.c1.type = memory",
                  "a1.sinks.k1.type = null",
                  "a1.sinks.k1.channel = c1",
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    const struct flm_diag_item *it =
        diag_find(&f, FLM_SEV_ERROR, "Unable to load selector type: nosuchselector");
    assert_where(it, 6, NULL);
    it = diag_find(&f, FLM_SEV_ERROR,
                   "Source r1 has been removed due to an error during configuration");
    assert_string_equal(it->comp, "a1.sources.r1");
    flow_lacks(&f, "source r1 ");
    flow_has(&f, "source r2 (seq) -> c1");
    flow_has(&f, "sink k1 (null) <- c1");
    fx_free(&f);
}

/* Row 13b: unknown interceptor type drops only that source. */
static void unknown_interceptor_type_drops_only_the_source(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1 r2",
                  "a1.channels = c1",
                  "a1.sources.r1.type = seq",
                  "a1.sources.r1.channels = c1",
                  "a1.sources.r1.interceptors = i1",
                  "a1.sources.r1.interceptors.i1.type = nosuchinterceptor",
                  "a1.sources.r2.type = seq",
                  "a1.sources.r2.channels = c1",
                  "a1.channels.c1.type = memory",
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    diag_find(&f, FLM_SEV_ERROR, "Unable to load interceptor type: nosuchinterceptor");
    diag_find(&f, FLM_SEV_ERROR, "Source r1 has been removed");
    flow_lacks(&f, "source r1 ");
    flow_has(&f, "source r2 (seq) -> c1");
    fx_free(&f);
}

/* Row 5: source with no channels key / no valid channel / some invalid. */
static void source_without_valid_channels_is_dropped(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1 r2 r3",            /* 1 */
                  "a1.channels = c1",                 /* 2 */
                  "a1.sources.r1.type = seq",         /* 3: no channels key */
                  "a1.sources.r2.type = seq",         /* 4 */
                  "a1.sources.r2.channels = cx cy",   /* 5: none valid */
                  "a1.sources.r3.type = seq",         /* 6 */
                  "a1.sources.r3.channels = cz c1",   /* 7: one valid */
                  "a1.channels.c1.type = memory",
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    const struct flm_diag_item *it = diag_find(&f, FLM_SEV_ERROR, "No channels set for r1");
    assert_where(it, 3, "a1.sources.r1");
    it = diag_find(&f, FLM_SEV_ERROR, "No channels set for r2");
    assert_where(it, 5, "a1.sources.r2");
    it = diag_find(&f, FLM_SEV_WARN, "channel 'cx' is not an active channel");
    assert_where(it, 5, "a1.sources.r2");
    it = diag_find(&f, FLM_SEV_WARN, "channel 'cz' is not an active channel");
    assert_where(it, 7, "a1.sources.r3");
    assert_false(diag_has(&f, "Source r3 has been removed"));
    flow_lacks(&f, "source r1 ");
    flow_lacks(&f, "source r2 ");
    flow_has(&f, "source r3 (seq) -> c1\n");
    fx_free(&f);
}

/* Row 6: sink whose channel is missing or not valid. */
static void sink_with_missing_channel_is_dropped_with_flume_text(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1",
                  "a1.channels = c1",
                  "a1.sinks = k1 k2 k3",
                  "a1.sources.r1.type = seq",
                  "a1.sources.r1.channels = c1",
                  "a1.channels.c1.type = memory",
                  "a1.sinks.k1.type = null",          /* 7 */
                  "a1.sinks.k1.channel = cx",         /* 8 */
                  "a1.sinks.k2.type = null",          /* 9: no channel key */
                  "a1.sinks.k3.type = logger",
                  "a1.sinks.k3.channel = c1",
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    const struct flm_diag_item *it = diag_find(
        &f, FLM_SEV_ERROR, "Could not configure sink k1 due to: Channel cx not in active set.");
    assert_where(it, 8, "a1.sinks.k1");
    assert_string_equal(it->key, "channel");
    it = diag_find(&f, FLM_SEV_ERROR, "Could not configure sink k2 due to: Channel");
    assert_where(it, 9, "a1.sinks.k2");
    flow_lacks(&f, "sink k1 ");
    flow_lacks(&f, "sink k2 ");
    flow_has(&f, "sink k3 (logger) <- c1\n");
    fx_free(&f);
}

/* Row 12: channel with no users removed; one with only a source kept. */
static void channel_without_users_is_removed_and_source_only_channel_kept(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1",
                  "a1.channels = c1 c2 c3",
                  "a1.sinks = k3",
                  "a1.sources.r1.type = seq",
                  "a1.sources.r1.channels = c1",
                  "a1.channels.c1.type = memory",
                  "a1.channels.c2.type = memory",
                  "a1.channels.c3.type = memory",
                  "a1.sinks.k3.type = null",
                  "a1.sinks.k3.channel = c3",
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    const struct flm_diag_item *it = diag_find(
        &f, FLM_SEV_WARN, "Channel c2 has no components connected and has been removed.");
    assert_string_equal(it->comp, "a1.channels.c2");
    flow_has(&f, "channel c1 (memory)");   /* only a source: kept */
    flow_lacks(&f, "channel c2 ");
    flow_has(&f, "channel c3 (memory)");   /* only a sink: kept */
    flow_has(&f, "sink k3 (null) <- c3\n");
    flow_has(&f, "source r1 (seq) -> c1\n");
    fx_free(&f);
}

/* Row 7: no valid sources and no valid sinks. */
static void no_sources_and_no_sinks_gives_empty_agent(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1",
                  "a1.channels = c1",
                  "a1.sinks = k1",
                  "a1.sources.r1.type = seq",        /* no channels -> dropped */
                  "a1.channels.c1.type = memory",
                  "a1.sinks.k1.type = null",
                  "a1.sinks.k1.channel = nope",      /* dropped */
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    assert_true(flm_agent_empty(f.a));
    diag_find(&f, FLM_SEV_ERROR, "no valid sources and no valid sinks");
    flow_has(&f, "agent a1: nothing to run");
    fx_free(&f);

    /* No source or sink lists at all. */
    build(&f, (const char *const[]){"a1.channels = c1", "a1.channels.c1.type = memory", NULL});
    assert_int_equal(f.rc, FLM_OK);
    assert_true(flm_agent_empty(f.a));
    flow_has(&f, "nothing to run");
    fx_free(&f);
}

/* Row 9 + behaviours.md 2: capacity 50 with the default transactionCapacity
 * 100 rejects the channel, and everything bound only to it goes too. */
static void memory_capacity_below_default_txcap_rejects_channel_and_cascades(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1 r2",
                  "a1.channels = c1 c2",
                  "a1.sinks = k1 k2",
                  "a1.sources.r1.type = seq",
                  "a1.sources.r1.channels = c1 c2",   /* keeps c2 */
                  "a1.sources.r2.type = seq",
                  "a1.sources.r2.channels = c1",      /* only c1: removed */
                  "a1.channels.c1.type = memory",     /* 8 */
                  "a1.channels.c1.capacity = 50",     /* 9 */
                  "a1.channels.c2.type = memory",
                  "a1.sinks.k1.type = null",
                  "a1.sinks.k1.channel = c1",         /* 12: removed */
                  "a1.sinks.k2.type = null",
                  "a1.sinks.k2.channel = c2",
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    const struct flm_diag_item *it = diag_find(
        &f, FLM_SEV_ERROR,
        "Transaction Capacity of Memory Channel cannot be higher than the capacity.");
    assert_string_equal(it->comp, "a1.channels.c1");
    it = diag_find(&f, FLM_SEV_ERROR,
                   "Channel c1 removed due to an error during configuration");
    assert_where(it, 8, "a1.channels.c1");
    it = diag_find(&f, FLM_SEV_ERROR, "No channels set for r2");
    assert_string_equal(it->comp, "a1.sources.r2");
    it = diag_find(&f, FLM_SEV_ERROR,
                   "Could not configure sink k1 due to: Channel c1 not in active set.");
    assert_where(it, 12, "a1.sinks.k1");
    flow_has(&f, "source r1 (seq) -> c2\n");
    flow_lacks(&f, "source r2 ");
    flow_lacks(&f, "channel c1 ");
    flow_lacks(&f, "sink k1 ");
    flow_has(&f, "sink k2 (null) <- c2\n");
    fx_free(&f);
}

static void memory_capacity_50_with_txcap_50_is_accepted(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1",
                  "a1.channels = c1",
                  "a1.sources.r1.type = seq",
                  "a1.sources.r1.channels = c1",
                  "a1.channels.c1.type = memory",
                  "a1.channels.c1.capacity = 50",
                  "a1.channels.c1.transactionCapacity = 50",
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    no_errors(&f);
    flow_has(&f, "channel c1 (memory) transactionCapacity=50");
    fx_free(&f);
}

/* Row 11 + behaviours.md 8, with Flume's exact texts. */
static void batch_size_above_txcap_removes_source_and_sink_with_flume_text(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1 r2",
                  "a1.channels = c1",
                  "a1.sinks = k1 k2",
                  "a1.sources.r1.type = seq",         /* 4 */
                  "a1.sources.r1.channels = c1",
                  "a1.sources.r1.batchSize = 200",
                  "a1.sources.r2.type = seq",
                  "a1.sources.r2.channels = c1",
                  "a1.sources.r2.batchSize = 100",    /* equal: fine */
                  "a1.channels.c1.type = memory",
                  "a1.sinks.k1.type = null",
                  "a1.sinks.k1.channel = c1",
                  "a1.sinks.k1.batchSize = 100",
                  "a1.sinks.k2.type = null",          /* 14 */
                  "a1.sinks.k2.channel = c1",
                  "a1.sinks.k2.batchSize = 500",
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    const struct flm_diag_item *it =
        diag_find(&f, FLM_SEV_ERROR,
                  "Incompatible source and channel settings defined. source's batch size is "
                  "greater than the channels transaction capacity. Source: r1, batch size = 200, "
                  "channel c1, transaction capacity = 100");
    assert_string_equal(it->comp, "a1.sources.r1");
    assert_non_null(it->file);
    assert_non_null(strstr(it->msg, "Source r1 has been removed"));
    it = diag_find(&f, FLM_SEV_ERROR,
                   "Incompatible sink and channel settings defined. sink's batch size is greater "
                   "than the channels transaction capacity. Sink: k2, batch size = 500, channel "
                   "c1, transaction capacity = 100");
    assert_string_equal(it->comp, "a1.sinks.k2");
    flow_lacks(&f, "source r1 ");
    flow_has(&f, "source r2 (seq) -> c1\n");
    flow_has(&f, "sink k1 (null) <- c1\n");
    flow_lacks(&f, "sink k2 ");
    fx_free(&f);
}

/* A source bound to two channels must fit the smaller one. */
static void batch_size_is_checked_against_every_channel_of_a_source(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1",
                  "a1.channels = c1 c2",
                  "a1.sinks = k1",
                  "a1.sources.r1.type = seq",
                  "a1.sources.r1.channels = c1 c2",
                  "a1.sources.r1.batchSize = 150",
                  "a1.channels.c1.type = memory",
                  "a1.channels.c1.capacity = 1000",
                  "a1.channels.c1.transactionCapacity = 1000",
                  "a1.channels.c2.type = memory",
                  "a1.sinks.k1.type = null",
                  "a1.sinks.k1.channel = c1",
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    diag_find(&f, FLM_SEV_ERROR, "Source: r1, batch size = 150, channel c2, transaction capacity = 100");
    flow_lacks(&f, "source r1 ");
    /* c2 lost its only user. */
    diag_find(&f, FLM_SEV_WARN, "Channel c2 has no components connected");
    flow_has(&f, "sink k1 (null) <- c1");
    fx_free(&f);
}

/* Row 10: a bad number in a source's table removes the source. */
static void bad_value_in_component_table_removes_component(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1",
                  "a1.channels = c1",
                  "a1.sinks = k1",
                  "a1.sources.r1.type = seq",
                  "a1.sources.r1.channels = c1",
                  "a1.sources.r1.batchSize = 10k",    /* 6 */
                  "a1.channels.c1.type = memory",
                  "a1.sinks.k1.type = null",
                  "a1.sinks.k1.channel = c1",
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    const struct flm_diag_item *it = diag_find(&f, FLM_SEV_ERROR, "'10k' is not a valid int");
    assert_where(it, 6, "a1.sources.r1");
    assert_string_equal(it->key, "batchSize");
    diag_find(&f, FLM_SEV_ERROR, "Source r1 has been removed due to an error during configuration");
    flow_lacks(&f, "source r1 ");
    fx_free(&f);
}

/* Memory channel numbers are lenient: a bad capacity is 100 with a warning. */
static void lenient_memory_capacity_falls_back_to_100_with_warning(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1",
                  "a1.channels = c1",
                  "a1.sources.r1.type = seq",
                  "a1.sources.r1.channels = c1",
                  "a1.channels.c1.type = memory",
                  "a1.channels.c1.capacity = lots",        /* 6 */
                  "a1.channels.c1.transactionCapacity = 0", /* 7 */
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    no_errors(&f);
    const struct flm_diag_item *it = diag_find(&f, FLM_SEV_WARN, "'lots' is not a valid int");
    assert_where(it, 6, "a1.channels.c1");
    it = diag_find(&f, FLM_SEV_WARN, "0 is out of range");
    assert_where(it, 7, "a1.channels.c1");
    flow_has(&f, "channel c1 (memory) transactionCapacity=100");
    fx_free(&f);
}

/* ------------------------------------------------------------ sink groups */

static void sink_groups_drop_unknown_and_shared_members_and_empty_groups(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1",                       /* 1 */
                  "a1.channels = c1",                      /* 2 */
                  "a1.sinks = k1 k2 k3",                   /* 3 */
                  "a1.sinkgroups = g1 g2 g3 g4",           /* 4 */
                  "a1.sources.r1.type = seq",
                  "a1.sources.r1.channels = c1",
                  "a1.channels.c1.type = memory",
                  "a1.sinks.k1.type = null",
                  "a1.sinks.k1.channel = c1",
                  "a1.sinks.k2.type = null",
                  "a1.sinks.k2.channel = c1",
                  "a1.sinks.k3.type = null",
                  "a1.sinks.k3.channel = c1",
                  "a1.sinkgroups.g1.sinks = k1 kx",        /* 14: kx unknown */
                  "a1.sinkgroups.g2.sinks = k1 k2",        /* 15: k1 taken by g1 */
                  "a1.sinkgroups.g3.sinks = ky",           /* 16: nothing usable */
                  NULL});                                  /* g4: no properties */
    assert_int_equal(f.rc, FLM_OK);
    const struct flm_diag_item *it =
        diag_find(&f, FLM_SEV_WARN, "sink 'kx' is not an active sink; removed from group g1");
    assert_where(it, 14, "a1.sinkgroups.g1");
    it = diag_find(&f, FLM_SEV_WARN, "sink 'k1' already belongs to another sink group");
    assert_where(it, 15, "a1.sinkgroups.g2");
    it = diag_find(&f, FLM_SEV_ERROR, "sink group g3 has no usable sinks; removed");
    assert_where(it, 16, "a1.sinkgroups.g3");
    it = diag_find(&f, FLM_SEV_WARN, "Configuration empty for: g4. Removed.");
    assert_where(it, 4, "a1.sinkgroups.g4");
    flow_has(&f, "sink k1 (null) <- c1 [group g1: default]\n");
    flow_has(&f, "sink k2 (null) <- c1 [group g2: default]\n");
    flow_has(&f, "sink k3 (null) <- c1\n");   /* ungrouped: its own runner */
    flow_lacks(&f, "g3");
    flow_lacks(&f, "g4");
    fx_free(&f);
}

static void sink_in_a_dropped_group_still_runs_alone(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1",
                  "a1.channels = c1",
                  "a1.sinks = k1",
                  "a1.sinkgroups = g1",
                  "a1.sources.r1.type = seq",
                  "a1.sources.r1.channels = c1",
                  "a1.channels.c1.type = memory",
                  "a1.sinks.k1.type = null",
                  "a1.sinks.k1.channel = c1",
                  "a1.sinkgroups.g1.sinks = k1",
                  "a1.sinkgroups.g1.processor.type = nosuchprocessor",
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    diag_find(&f, FLM_SEV_ERROR, "Unable to load sink processor type: nosuchprocessor");
    diag_find(&f, FLM_SEV_ERROR, "sink group g1 removed");
    flow_has(&f, "sink k1 (null) <- c1\n");
    flow_lacks(&f, "group g1");
    fx_free(&f);
}

/* ------------------------------------------------- keys and their values */

static void empty_values_are_warned_and_ignored(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1",
                  "a1.channels = c1",
                  "a1.sources.r1.type = seq",
                  "a1.sources.r1.channels = c1",
                  "a1.sources.r1.batchSize =",               /* 5 */
                  "a1.channels.c1.type = memory",
                  "a1.channels.c1.transactionCapacity = ",   /* 7 */
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    no_errors(&f);
    size_t n = 0;
    for (size_t i = 0; i < f.d.n; i++) {
        if (strstr(f.d.v[i].msg, "empty value") == NULL)
            continue;
        assert_int_equal(f.d.v[i].sev, FLM_SEV_WARN);
        assert_true(f.d.v[i].line == 5 || f.d.v[i].line == 7);
        n++;
    }
    assert_int_equal(n, 2);
    flow_has(&f, "source r1 (seq) -> c1");
    flow_has(&f, "transactionCapacity=100");
    fx_free(&f);
}

static void invalid_key_shapes_are_warned_and_ignored(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1",
                  "a1.channels = c1",
                  "a1.sources.r1.type = seq",
                  "a1.sources.r1.channels = c1",
                  "a1.channels.c1.type = memory",
                  "nodot = x",                   /* 6: no agent prefix */
                  ".x = y",                      /* 7: empty agent name */
                  "a1.bogus = 1",                /* 8: unknown agent key */
                  "a1.sources.r1 = seq",         /* 9: no component key */
                  "a1.sources..type = seq",      /* 10: empty component name */
                  "a1.channels.c1. = 5",         /* 11: empty key */
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    no_errors(&f);
    for (int line = 6; line <= 11; line++) {
        bool found = false;
        for (size_t i = 0; i < f.d.n; i++)
            if (f.d.v[i].line == line && f.d.v[i].sev == FLM_SEV_WARN &&
                strstr(f.d.v[i].msg, "Invalid property specified") != NULL)
                found = true;
        if (!found) {
            print_message("line %d: no 'Invalid property specified' warning\n", line);
            dump_diag(&f);
        }
        assert_true(found);
    }
    flow_has(&f, "source r1 (seq) -> c1");
    fx_free(&f);
}

static void unknown_component_keys_are_warned_with_did_you_mean(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1",
                  "a1.channels = c1",
                  "a1.sinks = k1",
                  "a1.sources.r1.type = seq",
                  "a1.sources.r1.channels = c1",
                  "a1.sources.r1.batchsize = 5",          /* 6: wrong case */
                  "a1.channels.c1.type = memory",
                  "a1.channels.c1.capacty = 1000",        /* 8 */
                  "a1.sinks.k1.type = null",
                  "a1.sinks.k1.channel = c1",
                  "a1.sinks.k1.zzzzzzzzzzzz = 1",         /* 11: nothing close */
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    no_errors(&f);
    const struct flm_diag_item *it = diag_find(
        &f, FLM_SEV_WARN, "unknown property 'capacty' ignored; did you mean 'capacity'?");
    assert_where(it, 8, "a1.channels.c1");
    assert_string_equal(it->key, "capacty");
    /* Keys are case-sensitive, as Java Properties. */
    it = diag_find(&f, FLM_SEV_WARN,
                   "unknown property 'batchsize' ignored; did you mean 'batchSize'?");
    assert_where(it, 6, "a1.sources.r1");
    it = diag_find(&f, FLM_SEV_WARN, "unknown property 'zzzzzzzzzzzz' ignored");
    assert_where(it, 11, "a1.sinks.k1");
    assert_null(strstr(it->msg, "did you mean"));
    fx_free(&f);
}

static void env_config_filter_substitutes_component_values(void **state)
{
    (void)state;
    setenv("FLM_CT_TXCAP", "300", 1);
    setenv("FLM_CT_ZERO", "0", 1);
    setenv("FLM_CT_CAP", "1000", 1);
    unsetenv("FLM_CT_UNSET");
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.configfilters = f1",
                  "a1.configfilters.f1.type = env",
                  "a1.sources = r1 r2",
                  "a1.channels = c1 c2",
                  "a1.sources.r1.type = seq",
                  "a1.sources.r1.channels = c1",
                  "a1.sources.r1.batchSize = 2${f1[FLM_CT_ZERO]}${f1[\"FLM_CT_ZERO\"]}",
                  "a1.sources.r2.type = seq",
                  "a1.sources.r2.channels = c2",
                  "a1.channels.c1.type = memory",
                  "a1.channels.c1.capacity = ${f1['FLM_CT_CAP']}",
                  "a1.channels.c1.transactionCapacity = ${f1['FLM_CT_TXCAP']}",
                  "a1.channels.c2.type = memory",
                  "a1.channels.c2.transactionCapacity = ${f1['FLM_CT_UNSET']}",  /* 14 */
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    no_errors(&f);
    flow_has(&f, "channel c1 (memory) transactionCapacity=300");
    /* batchSize "200" <= 300: r1 survives; had the filter not applied,
     * "2${...}" would not parse and r1 would be gone. */
    flow_has(&f, "source r1 (seq) -> c1");
    /* An unresolved reference is left as written (then the lenient int
     * falls back to its default with a warning naming the literal text). */
    const struct flm_diag_item *it = diag_find(&f, FLM_SEV_WARN, "${f1['FLM_CT_UNSET']}");
    assert_where(it, 14, "a1.channels.c2");
    flow_has(&f, "channel c2 (memory) transactionCapacity=100");
    fx_free(&f);
}

static void config_filter_is_not_applied_to_agent_lists_or_unknown_filters(void **state)
{
    (void)state;
    setenv("FLM_CT_NAME", "r1", 1);
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.configfilters = f1",
                  "a1.configfilters.f1.type = env",
                  "a1.sources = ${f1['FLM_CT_NAME']}",      /* 3: not substituted */
                  "a1.channels = c1",
                  "a1.sinks = k1",
                  "a1.sources.r1.type = seq",
                  "a1.sources.r1.channels = c1",
                  "a1.channels.c1.type = memory",
                  "a1.sinks.k1.type = null",
                  "a1.sinks.k1.channel = c1",
                  "a1.sinks.k1.batchSize = ${f9['FLM_CT_NAME']}",   /* 11: no filter f9 */
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    flow_lacks(&f, "source r1 ");
    diag_find(&f, FLM_SEV_WARN, "Configuration empty for: ${f1['FLM_CT_NAME']}");
    const struct flm_diag_item *it = diag_find(&f, FLM_SEV_ERROR, "${f9['FLM_CT_NAME']}");
    assert_where(it, 11, "a1.sinks.k1");
    fx_free(&f);
}

/* --------------------------------------------------- replicating selector */

static void selector_optional_naming_foreign_channel_drops_the_source(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1 r2",
                  "a1.channels = c1 c2 c3",
                  "a1.sinks = k1",
                  "a1.sources.r1.type = seq",
                  "a1.sources.r1.channels = c1 c2",
                  "a1.sources.r1.selector.optional = c3",   /* 6: not r1's */
                  "a1.sources.r2.type = seq",
                  "a1.sources.r2.channels = c1 c2",
                  "a1.sources.r2.selector.type = replicating",
                  "a1.sources.r2.selector.optional = c2",   /* fine */
                  "a1.channels.c1.type = memory",
                  "a1.channels.c2.type = memory",
                  "a1.channels.c3.type = memory",
                  "a1.sinks.k1.type = null",
                  "a1.sinks.k1.channel = c3",
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    const struct flm_diag_item *it =
        diag_find(&f, FLM_SEV_ERROR, "optional channel 'c3' is not one of the source's channels");
    assert_string_equal(it->comp, "a1.sources.r1.selector");
    diag_find(&f, FLM_SEV_ERROR, "Source r1 has been removed due to an error during configuration");
    flow_lacks(&f, "source r1 ");
    flow_has(&f, "source r2 (seq) -> c1 c2\n");
    assert_false(diag_has(&f, "Source r2 has been removed"));
    fx_free(&f);
}

static void duplicate_names_in_lists_are_built_once(void **state)
{
    (void)state;
    struct fx f;
    build(&f, (const char *const[]){
                  "a1.sources = r1 r1",
                  "a1.channels = c1   c1",
                  "a1.sinks = k1\tk1",
                  "a1.sources.r1.type = seq",
                  "a1.sources.r1.channels = c1 c1",
                  "a1.channels.c1.type = memory",
                  "a1.sinks.k1.type = null",
                  "a1.sinks.k1.channel = c1",
                  NULL});
    assert_int_equal(f.rc, FLM_OK);
    no_errors(&f);
    assert_int_equal(f.a->nsrcs, 1);
    assert_int_equal(f.a->nchans, 1);
    assert_int_equal(f.a->nsinks, 1);
    flow_has(&f, "source r1 (seq) -> c1\n");
    fx_free(&f);
}

/* --------------------------------------- runners (behaviours.md 5 and 6) */

/* An instrumented sink: a copy of the null sink's type whose process()
 * records call times and returns a scripted status. */
#define MAXCALLS 32
static struct {
    uint64_t t[MAXCALLS];
    _Atomic int n;
    int script[MAXCALLS];   /* status per call; past the end: last entry */
    int nscript;
} rec;

static int rec_process(struct flm_sink *s)
{
    (void)s;
    int i = atomic_fetch_add(&rec.n, 1);
    if (i < MAXCALLS)
        rec.t[i] = flm_mono_ms();
    return rec.script[i < rec.nscript ? i : rec.nscript - 1];
}

static const struct flm_sink_ops rec_ops = {.process = rec_process};

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static struct flm_type rec_type;

/* Builds k1 (null) on c1 and swaps the sink's type for the recorder. */
static void build_recorded(struct fx *f)
{
    build(f, (const char *const[]){
                 "a1.channels = c1",
                 "a1.sinks = k1",
                 "a1.channels.c1.type = memory",
                 "a1.sinks.k1.type = null",
                 "a1.sinks.k1.channel = c1",
                 NULL});
    assert_int_equal(f->rc, FLM_OK);
    assert_int_equal(f->a->nsinks, 1);
    extern const struct flm_type flm_sink_null;
    rec_type = flm_sink_null;   /* same props and conf layout */
    rec_type.ops = &rec_ops;
    f->a->sinks[0].sink->c.type = &rec_type;
    atomic_store(&rec.n, 0);
}

static void sink_runner_backs_off_one_then_two_seconds_and_ready_resets(void **state)
{
    (void)state;
    struct fx f;
    build_recorded(&f);
    /* BACKOFF, BACKOFF, READY, BACKOFF, BACKOFF ... */
    rec.nscript = 4;
    rec.script[0] = FLM_BACKOFF;
    rec.script[1] = FLM_BACKOFF;
    rec.script[2] = FLM_READY;
    rec.script[3] = FLM_BACKOFF;
    struct flm_err err = {0};
    assert_int_equal(flm_agent_start(f.a, &err), FLM_OK);
    uint64_t t0 = flm_mono_ms();
    while (atomic_load(&rec.n) < 5 && flm_mono_ms() - t0 < 8000)
        sleep_ms(20);
    flm_agent_stop(f.a, false, 0);
    assert_true(atomic_load(&rec.n) >= 5);
    long g1 = (long)(rec.t[1] - rec.t[0]);   /* after 1st BACKOFF: 1000 */
    long g2 = (long)(rec.t[2] - rec.t[1]);   /* after 2nd BACKOFF: 2000 */
    long g3 = (long)(rec.t[3] - rec.t[2]);   /* after READY: at once */
    long g4 = (long)(rec.t[4] - rec.t[3]);   /* count was reset: 1000 */
    print_message("gaps %ld %ld %ld %ld ms\n", g1, g2, g3, g4);
    assert_true(g1 >= 950 && g1 <= 1500);
    assert_true(g2 >= 1950 && g2 <= 2500);
    assert_true(g3 <= 200);
    assert_true(g4 >= 950 && g4 <= 1500);
    fx_free(&f);
}

static void sink_runner_sleeps_five_seconds_after_an_error_and_stop_wakes_it(void **state)
{
    (void)state;
    struct fx f;
    build_recorded(&f);
    rec.nscript = 1;
    rec.script[0] = FLM_ERR;
    struct flm_err err = {0};
    assert_int_equal(flm_agent_start(f.a, &err), FLM_OK);
    uint64_t t0 = flm_mono_ms();
    while (atomic_load(&rec.n) < 1 && flm_mono_ms() - t0 < 3000)
        sleep_ms(10);
    sleep_ms(1500);
    assert_int_equal(atomic_load(&rec.n), 1);   /* still asleep after 1.5 s */
    uint64_t s0 = flm_mono_ms();
    flm_agent_stop(f.a, false, 0);               /* must not wait out the 5 s */
    long stop_ms = (long)(flm_mono_ms() - s0);
    print_message("stop took %ld ms\n", stop_ms);
    assert_true(stop_ms < 1000);
    fx_free(&f);
}

static void drain_stop_runs_sink_until_it_reports_nothing_left(void **state)
{
    (void)state;
    struct fx f;
    build_recorded(&f);
    /* Backing off (1 s, then 2 s...) when the drain starts: the drain must
     * wake it and keep calling while it reports READY. */
    rec.nscript = 8;
    for (int i = 0; i < 8; i++)
        rec.script[i] = FLM_BACKOFF;
    rec.script[2] = rec.script[3] = rec.script[4] = FLM_READY;   /* "3 events left" */
    struct flm_err err = {0};
    assert_int_equal(flm_agent_start(f.a, &err), FLM_OK);
    uint64_t t0 = flm_mono_ms();
    while (atomic_load(&rec.n) < 2 && flm_mono_ms() - t0 < 4000)
        sleep_ms(10);
    assert_int_equal(atomic_load(&rec.n), 2);    /* now sleeping 2 s */
    uint64_t s0 = flm_mono_ms();
    flm_agent_stop(f.a, true, 5000);
    long stop_ms = (long)(flm_mono_ms() - s0);
    /* calls 3,4,5 READY, call 6 BACKOFF ends the drain */
    assert_int_equal(atomic_load(&rec.n), 6);
    assert_true(stop_ms < 1000);
    fx_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_flow_builds_without_problems_and_prints_flow),
        cmocka_unit_test(types_resolve_by_flume_class_name_and_alias_case),
        cmocka_unit_test(other_agents_keys_are_ignored_silently),
        cmocka_unit_test(agent_absent_from_file_gives_empty_agent),
        cmocka_unit_test(no_channels_list_gives_empty_agent),
        cmocka_unit_test(no_valid_channel_gives_empty_agent),
        cmocka_unit_test(listed_but_unconfigured_components_are_dropped_with_flume_text),
        cmocka_unit_test(configured_but_unlisted_components_are_ignored_with_a_warning),
        cmocka_unit_test(component_without_type_is_dropped),
        cmocka_unit_test(unknown_source_channel_or_sink_type_is_fatal),
        cmocka_unit_test(unknown_selector_type_drops_only_the_source),
        cmocka_unit_test(unknown_interceptor_type_drops_only_the_source),
        cmocka_unit_test(source_without_valid_channels_is_dropped),
        cmocka_unit_test(sink_with_missing_channel_is_dropped_with_flume_text),
        cmocka_unit_test(channel_without_users_is_removed_and_source_only_channel_kept),
        cmocka_unit_test(no_sources_and_no_sinks_gives_empty_agent),
        cmocka_unit_test(memory_capacity_below_default_txcap_rejects_channel_and_cascades),
        cmocka_unit_test(memory_capacity_50_with_txcap_50_is_accepted),
        cmocka_unit_test(batch_size_above_txcap_removes_source_and_sink_with_flume_text),
        cmocka_unit_test(batch_size_is_checked_against_every_channel_of_a_source),
        cmocka_unit_test(bad_value_in_component_table_removes_component),
        cmocka_unit_test(lenient_memory_capacity_falls_back_to_100_with_warning),
        cmocka_unit_test(sink_groups_drop_unknown_and_shared_members_and_empty_groups),
        cmocka_unit_test(sink_in_a_dropped_group_still_runs_alone),
        cmocka_unit_test(empty_values_are_warned_and_ignored),
        cmocka_unit_test(invalid_key_shapes_are_warned_and_ignored),
        cmocka_unit_test(unknown_component_keys_are_warned_with_did_you_mean),
        cmocka_unit_test(env_config_filter_substitutes_component_values),
        cmocka_unit_test(config_filter_is_not_applied_to_agent_lists_or_unknown_filters),
        cmocka_unit_test(selector_optional_naming_foreign_channel_drops_the_source),
        cmocka_unit_test(duplicate_names_in_lists_are_built_once),
        cmocka_unit_test(sink_runner_backs_off_one_then_two_seconds_and_ready_resets),
        cmocka_unit_test(sink_runner_sleeps_five_seconds_after_an_error_and_stop_wakes_it),
        cmocka_unit_test(drain_stop_runs_sink_until_it_reports_nothing_left),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
