/*
 * metrics_test.c - flm_metrics_json and flm_metrics_prometheus over
 * hand-built source/channel/sink instances with fake types: Flume's JSON
 * shape (every value a string, the 13-key SOURCE/SINK sets, channel
 * size/capacity/fill in Java double text, type extras), hidden components,
 * escaping, and the Prometheus mapping.  Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------- a tiny JSON checker */
/* Accepts exactly {"k":{"a":"v",...},...}: an object of objects of strings
 * (anything else, e.g. a number value, is a parse failure). */

#define JMAX_OBJ 16
#define JMAX_PAIR 32

struct jpair {
    char key[128];
    char val[256];
};
struct jobj {
    char key[160];
    struct jpair pairs[JMAX_PAIR];
    size_t n;
};
struct jdoc {
    struct jobj objs[JMAX_OBJ];
    size_t n;
};

static void j_ws(const char **p)
{
    while (**p == ' ' || **p == '\n' || **p == '\t' || **p == '\r')
        (*p)++;
}

static void j_utf8(char *out, size_t *o, size_t cap, unsigned cp)
{
    unsigned char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp, n = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xc0 | (cp >> 6)), b[1] = (unsigned char)(0x80 | (cp & 0x3f)), n = 2;
    } else {
        b[0] = (unsigned char)(0xe0 | (cp >> 12)),
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp & 0x3f)), n = 3;
    }
    for (size_t i = 0; i < n && *o + 1 < cap; i++)
        out[(*o)++] = (char)b[i];
}

static int j_str(const char **p, char *out, size_t cap)
{
    size_t o = 0;
    if (**p != '"')
        return -1;
    (*p)++;
    while (**p != '"') {
        unsigned char ch = (unsigned char)**p;
        if (ch == '\0' || ch < 0x20)
            return -1;
        if (ch == '\\') {
            (*p)++;
            char e = **p;
            const char *map = "\"\"\\\\//b\bf\fn\nr\rt\t";
            const char *m = e != '\0' ? strchr(map, e) : NULL;
            if (e == 'u') {
                char hex[5] = {0};
                for (int i = 0; i < 4; i++) {
                    (*p)++;
                    if (!((**p >= '0' && **p <= '9') || (**p >= 'a' && **p <= 'f') ||
                          (**p >= 'A' && **p <= 'F')))
                        return -1;
                    hex[i] = **p;
                }
                j_utf8(out, &o, cap, (unsigned)strtoul(hex, NULL, 16));
            } else if (m != NULL && (m - map) % 2 == 0) {
                if (o + 1 < cap)
                    out[o++] = m[1];
            } else {
                return -1;
            }
            (*p)++;
            continue;
        }
        if (o + 1 < cap)
            out[o++] = (char)ch;
        (*p)++;
    }
    (*p)++;
    out[o] = '\0';
    return 0;
}

static int j_parse(const char *s, struct jdoc *d)
{
    const char *p = s;
    memset(d, 0, sizeof(*d));
    j_ws(&p);
    if (*p++ != '{')
        return -1;
    j_ws(&p);
    if (*p == '}')
        return *(p + 1) == '\0' ? 0 : -1;
    for (;;) {
        if (d->n == JMAX_OBJ)
            return -1;
        struct jobj *o = &d->objs[d->n++];
        j_ws(&p);
        if (j_str(&p, o->key, sizeof(o->key)) != 0)
            return -1;
        j_ws(&p);
        if (*p++ != ':')
            return -1;
        j_ws(&p);
        if (*p++ != '{')
            return -1;
        j_ws(&p);
        if (*p != '}') {
            for (;;) {
                if (o->n == JMAX_PAIR)
                    return -1;
                struct jpair *pr = &o->pairs[o->n++];
                j_ws(&p);
                if (j_str(&p, pr->key, sizeof(pr->key)) != 0)
                    return -1;
                j_ws(&p);
                if (*p++ != ':')
                    return -1;
                j_ws(&p);
                if (j_str(&p, pr->val, sizeof(pr->val)) != 0)
                    return -1; /* not a string: Flume's values always are */
                j_ws(&p);
                if (*p == ',') {
                    p++;
                    continue;
                }
                break;
            }
        }
        if (*p++ != '}')
            return -1;
        j_ws(&p);
        if (*p == ',') {
            p++;
            continue;
        }
        break;
    }
    if (*p++ != '}')
        return -1;
    j_ws(&p);
    return *p == '\0' ? 0 : -1;
}

static const struct jobj *j_obj(const struct jdoc *d, const char *key)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->objs[i].key, key) == 0)
            return &d->objs[i];
    return NULL;
}

static const char *j_get(const struct jdoc *d, const char *obj, const char *key)
{
    const struct jobj *o = j_obj(d, obj);
    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->pairs[i].key, key) == 0)
            return o->pairs[i].val;
    return NULL;
}

/* ------------------------------------------------------------ fixtures */

static uint64_t fake_size;

static uint64_t fake_size_fn(struct flm_channel *ch)
{
    (void)ch;
    return fake_size;
}

static const struct flm_channel_ops fake_ch_ops = {.size = fake_size_fn};
static const struct flm_ctr_extra fake_extras[] = {
    {.name = "Open", .is_bool = true},
    {.name = "Unhealthy", .is_bool = false},
    {.name = NULL},
};
static const struct flm_type fake_src_type = {.kind = FLM_SOURCE, .alias = "fakesrc"};
static const struct flm_type fake_ch_type = {
    .kind = FLM_CHANNEL, .alias = "fakech", .ops = &fake_ch_ops};
static const struct flm_type fake_xch_type = {
    .kind = FLM_CHANNEL, .alias = "fakexch", .extra_ctrs = fake_extras, .ops = &fake_ch_ops};
static const struct flm_type fake_sink_type = {.kind = FLM_SINK, .alias = "fakesink"};
static const struct flm_type fake_ic_type = {.kind = FLM_INTERCEPTOR, .alias = "fakeic"};

static void setup_comp(struct flm_component *c, const struct flm_type *t, const char *name,
                       const char *group)
{
    memset(c, 0, sizeof(*c));
    c->type = t;
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->ctr.group = group;
    c->ctr.visible = true;
    atomic_store(&c->ctr.start_time, 1700000000000ull);
    atomic_store(&c->ctr.stop_time, 0);
}

static char *render_json(struct flm_component *const *comps, size_t n)
{
    struct flm_buf b;
    flm_buf_init(&b, 1 << 20);
    assert_int_equal(flm_metrics_json(&b, comps, n), FLM_OK);
    assert_int_equal(flm_buf_append(&b, "", 1), FLM_OK);
    return (char *)b.p;
}

static char *render_prom(struct flm_component *const *comps, size_t n)
{
    struct flm_buf b;
    flm_buf_init(&b, 1 << 20);
    assert_int_equal(flm_metrics_prometheus(&b, comps, n), FLM_OK);
    assert_int_equal(flm_buf_append(&b, "", 1), FLM_OK);
    return (char *)b.p;
}

/* --------------------------------------------------------------- tests */

static void json_source_has_the_13_standard_keys_all_strings(void **state)
{
    (void)state;
    struct flm_source src;
    setup_comp(&src.c, &fake_src_type, "r1", "SOURCE");
    for (int i = 0; i < FLM_SRC_NCTR; i++)
        flm_ctr_set(&src.c.ctr, i, (uint64_t)(100 + i));
    flm_ctr_set(&src.c.ctr, FLM_SRC_EVENT_RECEIVED, 12);
    struct flm_component *comps[] = {&src.c};
    char *s = render_json(comps, 1);
    struct jdoc d;
    assert_int_equal(j_parse(s, &d), 0);
    assert_int_equal(d.n, 1);
    const struct jobj *o = j_obj(&d, "SOURCE.r1");
    assert_non_null(o);
    assert_int_equal(o->n, 13);
    assert_string_equal(j_get(&d, "SOURCE.r1", "Type"), "SOURCE");
    assert_string_equal(j_get(&d, "SOURCE.r1", "StartTime"), "1700000000000");
    assert_string_equal(j_get(&d, "SOURCE.r1", "StopTime"), "0");
    assert_string_equal(j_get(&d, "SOURCE.r1", "EventReceivedCount"), "12");
    assert_string_equal(j_get(&d, "SOURCE.r1", "EventAcceptedCount"), "101");
    assert_string_equal(j_get(&d, "SOURCE.r1", "GenericProcessingFail"), "109");
    for (int i = 0; i < FLM_SRC_NCTR; i++)
        assert_non_null(j_get(&d, "SOURCE.r1", flm_src_ctr_names[i]));
    /* compact, as Gson: no spaces or newlines */
    assert_null(strchr(s, ' '));
    assert_null(strchr(s, '\n'));
    free(s);
}

static void json_sink_has_the_13_standard_keys(void **state)
{
    (void)state;
    struct flm_sink k;
    setup_comp(&k.c, &fake_sink_type, "k1", "SINK");
    flm_ctr_set(&k.c.ctr, FLM_SINK_EVENT_DRAIN_SUCCESS, 30);
    atomic_store(&k.c.ctr.stop_time, 1700000000999ull);
    struct flm_component *comps[] = {&k.c};
    char *s = render_json(comps, 1);
    struct jdoc d;
    assert_int_equal(j_parse(s, &d), 0);
    assert_int_equal(j_obj(&d, "SINK.k1")->n, 13);
    assert_string_equal(j_get(&d, "SINK.k1", "Type"), "SINK");
    assert_string_equal(j_get(&d, "SINK.k1", "EventDrainSuccessCount"), "30");
    assert_string_equal(j_get(&d, "SINK.k1", "StopTime"), "1700000000999");
    for (int i = 0; i < FLM_SINK_NCTR; i++)
        assert_string_equal(j_get(&d, "SINK.k1", flm_sink_ctr_names[i]), i == 7 ? "30" : "0");
    free(s);
}

static void json_channel_fill_percentage_is_java_double_text(void **state)
{
    (void)state;
    static const struct {
        uint64_t size, cap;
        const char *size_text, *cap_text, *fill;
    } cases[] = {
        {0, 100, "0", "100", "0.0"},
        {5, 100, "5", "100", "5.0"},
        {1, 3, "1", "3", "33.33333333333333"},
        {2, 2, "2", "2", "100.0"},
        {0, 0, "0", "0", "1.7976931348623157E308"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct flm_channel ch;
        setup_comp(&ch.c, &fake_ch_type, "c1", "CHANNEL");
        ch.capacity = cases[i].cap;
        fake_size = cases[i].size;
        flm_ctr_set(&ch.c.ctr, FLM_CH_TAKE_ATTEMPT, 3);
        struct flm_component *comps[] = {&ch.c};
        char *s = render_json(comps, 1);
        struct jdoc d;
        assert_int_equal(j_parse(s, &d), 0);
        assert_int_equal(j_obj(&d, "CHANNEL.c1")->n, 10);
        assert_string_equal(j_get(&d, "CHANNEL.c1", "Type"), "CHANNEL");
        assert_string_equal(j_get(&d, "CHANNEL.c1", "ChannelSize"), cases[i].size_text);
        assert_string_equal(j_get(&d, "CHANNEL.c1", "ChannelCapacity"), cases[i].cap_text);
        assert_string_equal(j_get(&d, "CHANNEL.c1", "ChannelFillPercentage"), cases[i].fill);
        assert_string_equal(j_get(&d, "CHANNEL.c1", "EventTakeAttemptCount"), "3");
        assert_string_equal(j_get(&d, "CHANNEL.c1", "EventPutSuccessCount"), "0");
        free(s);
    }
}

static void json_type_extras_follow_the_standard_set(void **state)
{
    (void)state;
    struct flm_channel ch;
    setup_comp(&ch.c, &fake_xch_type, "fc", "CHANNEL");
    ch.capacity = 1000000;
    fake_size = 0;
    flm_ctr_set(&ch.c.ctr, FLM_CH_NCTR + 0, 1); /* Open */
    flm_ctr_set(&ch.c.ctr, FLM_CH_NCTR + 1, 1); /* Unhealthy */
    struct flm_component *comps[] = {&ch.c};
    char *s = render_json(comps, 1);
    struct jdoc d;
    assert_int_equal(j_parse(s, &d), 0);
    assert_int_equal(j_obj(&d, "CHANNEL.fc")->n, 12);
    assert_string_equal(j_get(&d, "CHANNEL.fc", "Open"), "true");
    assert_string_equal(j_get(&d, "CHANNEL.fc", "Unhealthy"), "1");
    free(s);
    flm_ctr_set(&ch.c.ctr, FLM_CH_NCTR + 0, 0);
    s = render_json(comps, 1);
    assert_int_equal(j_parse(s, &d), 0);
    assert_string_equal(j_get(&d, "CHANNEL.fc", "Open"), "false");
    free(s);
}

static void json_hidden_and_non_counter_components_are_absent(void **state)
{
    (void)state;
    struct flm_source shown, hidden;
    struct flm_interceptor ic;
    setup_comp(&shown.c, &fake_src_type, "seq", "SOURCE");
    setup_comp(&hidden.c, &fake_src_type, "nc", "SOURCE");
    hidden.c.ctr.visible = false;
    setup_comp(&ic.c, &fake_ic_type, "i1", "INTERCEPTOR");
    struct flm_component *comps[] = {&hidden.c, &shown.c, &ic.c};
    char *s = render_json(comps, 3);
    struct jdoc d;
    assert_int_equal(j_parse(s, &d), 0);
    assert_int_equal(d.n, 1);
    assert_non_null(j_obj(&d, "SOURCE.seq"));
    assert_null(strstr(s, "nc"));
    assert_null(strstr(s, "i1"));
    free(s);
    s = render_json(comps, 0);
    assert_string_equal(s, "{}");
    free(s);
}

static void json_escapes_component_names_as_gson(void **state)
{
    (void)state;
    struct flm_sink k;
    setup_comp(&k.c, &fake_sink_type, "a\"b\\c<d>&='\n\t\x01\xc3\xa9\xe2\x80\xa8", "SINK");
    struct flm_sink bad;
    setup_comp(&bad.c, &fake_sink_type,
               "x\xff"
               "y",
               "SINK");
    struct flm_component *comps[] = {&k.c, &bad.c};
    char *s = render_json(comps, 2);
    assert_non_null(strstr(s, "\"SINK.a\\\"b\\\\c\\u003cd\\u003e\\u0026\\u003d\\u0027\\n\\t\\u0001"
                              "\xc3\xa9\\u2028\""));
    assert_non_null(strstr(s, "\"SINK.x\\ufffdy\""));
    struct jdoc d;
    assert_int_equal(j_parse(s, &d), 0);
    assert_non_null(j_obj(&d, "SINK.a\"b\\c<d>&='\n\t\x01\xc3\xa9\xe2\x80\xa8"));
    free(s);
}

static void json_full_buffer_returns_efull(void **state)
{
    (void)state;
    struct flm_source src;
    setup_comp(&src.c, &fake_src_type, "r1", "SOURCE");
    struct flm_component *comps[] = {&src.c};
    struct flm_buf b;
    flm_buf_init(&b, 40);
    assert_int_equal(flm_metrics_json(&b, comps, 1), FLM_EFULL);
    flm_buf_free(&b);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void prometheus_groups_samples_under_one_type_line(void **state)
{
    (void)state;
    struct flm_source r1, r2, hidden;
    struct flm_channel c1;
    struct flm_sink k1;
    setup_comp(&r1.c, &fake_src_type, "r1", "SOURCE");
    setup_comp(&r2.c, &fake_src_type, "r\"2\\\n", "SOURCE");
    setup_comp(&hidden.c, &fake_src_type, "hid", "SOURCE");
    hidden.c.ctr.visible = false;
    setup_comp(&c1.c, &fake_xch_type, "c1", "CHANNEL");
    setup_comp(&k1.c, &fake_sink_type, "k1", "SINK");
    c1.capacity = 3;
    fake_size = 1;
    flm_ctr_set(&r1.c.ctr, FLM_SRC_EVENT_RECEIVED, 12);
    flm_ctr_set(&r2.c.ctr, FLM_SRC_EVENT_RECEIVED, 7);
    flm_ctr_set(&r1.c.ctr, FLM_SRC_OPEN_CONNECTION, 2);
    flm_ctr_set(&c1.c.ctr, FLM_CH_NCTR + 0, 5); /* Open, a boolean */
    flm_ctr_set(&k1.c.ctr, FLM_SINK_BATCH_COMPLETE, 4);
    struct flm_component *comps[] = {&r1.c, &hidden.c, &c1.c, &r2.c, &k1.c};
    char *s = render_prom(comps, 5);
    assert_non_null(strstr(s,
                           "# TYPE flume_source_event_received_count counter\n"
                           "flume_source_event_received_count{component=\"r1\"} 12\n"
                           "flume_source_event_received_count{component=\"r\\\"2\\\\\\n\"} 7\n"));
    assert_int_equal(count(s, "# TYPE flume_source_event_received_count "), 1);
    assert_non_null(strstr(s, "# TYPE flume_source_open_connection_count gauge\n"
                              "flume_source_open_connection_count{component=\"r1\"} 2\n"));
    assert_non_null(strstr(s, "# TYPE flume_source_start_time gauge\n"
                              "flume_source_start_time{component=\"r1\"} 1700000000000\n"));
    assert_non_null(strstr(s, "# TYPE flume_source_generic_processing_fail counter\n"));
    assert_non_null(strstr(s, "# TYPE flume_channel_channel_fill_percentage gauge\n"
                              "flume_channel_channel_fill_percentage{component=\"c1\"} "
                              "33.33333333333333\n"));
    assert_non_null(strstr(s, "flume_channel_channel_capacity{component=\"c1\"} 3\n"));
    assert_non_null(strstr(s, "flume_channel_channel_size{component=\"c1\"} 1\n"));
    assert_non_null(
        strstr(s, "# TYPE flume_channel_open gauge\nflume_channel_open{component=\"c1\"} 1\n"));
    assert_non_null(strstr(s, "flume_channel_unhealthy{component=\"c1\"} 0\n"));
    assert_non_null(strstr(s, "# TYPE flume_sink_batch_complete_count counter\n"
                              "flume_sink_batch_complete_count{component=\"k1\"} 4\n"));
    assert_null(strstr(s, "hid"));
    assert_null(strstr(s, "type{"));
    /* every sample line is "name{component="..."} value" */
    for (char *line = s; *line != '\0';) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        if (line[0] != '#') {
            assert_true(strncmp(line, "flume_", 6) == 0);
            assert_non_null(strstr(line, "{component=\""));
        }
        line = nl + 1;
    }
    free(s);
}

static void prometheus_extras_of_two_channels_share_one_type_line(void **state)
{
    (void)state;
    struct flm_channel a, b;
    setup_comp(&a.c, &fake_xch_type, "a", "CHANNEL");
    setup_comp(&b.c, &fake_xch_type, "b", "CHANNEL");
    struct flm_component *comps[] = {&a.c, &b.c};
    char *s = render_prom(comps, 2);
    assert_int_equal(count(s, "# TYPE flume_channel_open "), 1);
    assert_non_null(
        strstr(s, "# TYPE flume_channel_open gauge\nflume_channel_open{component=\"a\"} 0\n"
                  "flume_channel_open{component=\"b\"} 0\n"));
    free(s);
    s = render_prom(comps, 0);
    assert_string_equal(s, "");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_source_has_the_13_standard_keys_all_strings),
        cmocka_unit_test(json_sink_has_the_13_standard_keys),
        cmocka_unit_test(json_channel_fill_percentage_is_java_double_text),
        cmocka_unit_test(json_type_extras_follow_the_standard_set),
        cmocka_unit_test(json_hidden_and_non_counter_components_are_absent),
        cmocka_unit_test(json_escapes_component_names_as_gson),
        cmocka_unit_test(json_full_buffer_returns_efull),
        cmocka_unit_test(prometheus_groups_samples_under_one_type_line),
        cmocka_unit_test(prometheus_extras_of_two_channels_share_one_type_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
