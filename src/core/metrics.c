/*
 * metrics.c - renders the per-component counters as Flume's /metrics JSON
 * (spec/metrics.md 2-3) and as Prometheus text.  Owns nothing: both
 * renderers borrow the component array and only read atomics, so they may
 * run on any thread (the metrics server thread in practice) while sources,
 * sinks and channels bump their counters.  The caller keeps the components
 * alive for the duration of the call (the agent's lock).
 *
 * JSON (as Flume's Gson output): one compact object, one member per visible
 * SOURCE/CHANNEL/SINK component keyed "<GROUP>.<name>", whose values are all
 * JSON strings: Type, StartTime, StopTime, the group's standard counters in
 * enum order, for channels ChannelSize, ChannelCapacity and
 * ChannelFillPercentage (Java Double.toString text), then the type's extra
 * attributes (type->extra_ctrs, stored in ctr.v[] right after the standard
 * set; booleans "true"/"false").  Strings are escaped as Gson does by
 * default: \" \\ \b \f \n \r \t, other controls and the HTML-sensitive
 * characters < > & = ' as \u00xx, U+2028/U+2029 as \u2028/\u2029; bytes
 * that are not valid UTF-8 become \ufffd so the output is always valid JSON.
 *
 * Prometheus mapping (text exposition format 0.0.4):
 *   metric name  = "flume_" + lower-case group + "_" + snake_case(attribute)
 *                  where snake_case splits CamelCase words ("EventReceivedCount"
 *                  -> "event_received_count", "ChannelFillPercentage" ->
 *                  "channel_fill_percentage", "StartTime" -> "start_time") and
 *                  any character outside [A-Za-z0-9_] becomes '_';
 *   labels       = {component="<name>"} with \\, \" and \n escaped;
 *   value        = the same number as in the JSON (booleans as 1/0; the fill
 *                  percentage in Java double text, which Prometheus parses);
 *   # TYPE       = "counter" for cumulative attributes (names ending in
 *                  Count, Fail or Timer, except OpenConnectionCount), "gauge"
 *                  for everything else (sizes, capacities, times, booleans).
 * All samples of one metric are grouped under its single # TYPE line; a
 * metric with no visible component is not printed.  "Type" has no metric.
 */
#include "core/metrics.h"

#include "core/err.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Standard attribute names and count of a group; NULL names for others. */
static const char *const *std_names(enum flm_kind kind, size_t *n)
{
    switch (kind) {
    case FLM_SOURCE:
        *n = FLM_SRC_NCTR;
        return flm_src_ctr_names;
    case FLM_CHANNEL:
        *n = FLM_CH_NCTR;
        return flm_ch_ctr_names;
    case FLM_SINK:
        *n = FLM_SINK_NCTR;
        return flm_sink_ctr_names;
    default:
        *n = 0;
        return NULL;
    }
}

static const char *group_name(enum flm_kind kind)
{
    switch (kind) {
    case FLM_SOURCE:
        return "SOURCE";
    case FLM_CHANNEL:
        return "CHANNEL";
    case FLM_SINK:
        return "SINK";
    default:
        return NULL;
    }
}

static const char *group_lower(enum flm_kind kind)
{
    switch (kind) {
    case FLM_SOURCE:
        return "source";
    case FLM_CHANNEL:
        return "channel";
    case FLM_SINK:
        return "sink";
    default:
        return NULL;
    }
}

/* True when c gets an entry: a source/channel/sink with visible counters. */
static bool shown(const struct flm_component *c)
{
    return c != NULL && c->type != NULL && c->ctr.visible && group_name(c->type->kind) != NULL;
}

/* Number of the type's extra attributes that fit in ctr.v[] after nstd. */
static size_t extra_count(const struct flm_component *c, size_t nstd)
{
    size_t n = 0;
    const struct flm_ctr_extra *x = c->type->extra_ctrs;
    if (x == NULL)
        return 0;
    while (x[n].name != NULL && nstd + n < FLM_CTR_MAX)
        n++;
    return n;
}

static uint64_t load_u64(const _Atomic uint64_t *p)
{
    return atomic_load_explicit((_Atomic uint64_t *)p, memory_order_relaxed);
}

/* Channel size, capacity and fill percentage text (Flume's ChannelCounter:
 * (size / (double)capacity) * 100, Double.MAX_VALUE when capacity is 0). */
static void channel_values(const struct flm_component *c, uint64_t *size, uint64_t *cap, char *fill,
                           unsigned fillcap)
{
    struct flm_channel *ch = (struct flm_channel *)c;
    *size = flm_channel_size(ch);
    *cap = ch->capacity;
    double pct = *cap != 0 ? ((double)*size / (double)*cap) * 100 : 1.7976931348623157e308;
    flm_java_double(pct, fill, fillcap);
}

/* ------------------------------------------------------------------ JSON */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid;
 * *cp receives the code point. */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char b = s[0];
    size_t len;
    uint32_t v, min;
    if (b < 0x80) {
        *cp = b;
        return 1;
    } else if ((b & 0xe0) == 0xc0) {
        len = 2, v = b & 0x1f, min = 0x80;
    } else if ((b & 0xf0) == 0xe0) {
        len = 3, v = b & 0x0f, min = 0x800;
    } else if ((b & 0xf8) == 0xf0) {
        len = 4, v = b & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

/* Appends s as a quoted JSON string with Gson's default escaping. */
static int json_str(struct flm_buf *out, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str);
    int rc = flm_buf_append(out, "\"", 1);
    size_t run = 0; /* start of the pending run of bytes copied verbatim */
    size_t i = 0;
    while (rc == FLM_OK && i < n) {
        uint32_t cp;
        size_t len = utf8_seq(s + i, n - i, &cp);
        char esc[12];
        const char *rep = NULL;
        if (len == 0) {
            rep = "\\ufffd";
            len = 1;
        } else if (cp == '"') {
            rep = "\\\"";
        } else if (cp == '\\') {
            rep = "\\\\";
        } else if (cp == '\b') {
            rep = "\\b";
        } else if (cp == '\f') {
            rep = "\\f";
        } else if (cp == '\n') {
            rep = "\\n";
        } else if (cp == '\r') {
            rep = "\\r";
        } else if (cp == '\t') {
            rep = "\\t";
        } else if (cp < 0x20 || cp == '<' || cp == '>' || cp == '&' || cp == '=' || cp == '\'' ||
                   cp == 0x2028 || cp == 0x2029) {
            snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
            rep = esc;
        }
        if (rep != NULL) {
            rc = flm_buf_append(out, s + run, i - run);
            if (rc == FLM_OK)
                rc = flm_buf_append(out, rep, strlen(rep));
            run = i + len;
        }
        i += len;
    }
    if (rc == FLM_OK)
        rc = flm_buf_append(out, s + run, n - run);
    if (rc == FLM_OK)
        rc = flm_buf_append(out, "\"", 1);
    return rc;
}

/* Appends ,"name":"value" (no comma when first). */
static int json_member(struct flm_buf *out, bool first, const char *name, const char *value)
{
    int rc = first ? FLM_OK : flm_buf_append(out, ",", 1);
    if (rc == FLM_OK)
        rc = json_str(out, name);
    if (rc == FLM_OK)
        rc = flm_buf_append(out, ":", 1);
    if (rc == FLM_OK)
        rc = json_str(out, value);
    return rc;
}

static int json_member_u64(struct flm_buf *out, const char *name, uint64_t v)
{
    char num[24];
    snprintf(num, sizeof(num), "%" PRIu64, v);
    return json_member(out, false, name, num);
}

static int json_component(struct flm_buf *out, const struct flm_component *c)
{
    enum flm_kind kind = c->type->kind;
    const char *group = group_name(kind);
    char key[sizeof(c->name) + 16];
    snprintf(key, sizeof(key), "%s.%s", group, c->name);

    int rc = json_str(out, key);
    if (rc == FLM_OK)
        rc = flm_buf_append(out, ":{", 2);
    if (rc == FLM_OK)
        rc = json_member(out, true, "Type", group);
    if (rc == FLM_OK)
        rc = json_member_u64(out, "StartTime", load_u64(&c->ctr.start_time));
    if (rc == FLM_OK)
        rc = json_member_u64(out, "StopTime", load_u64(&c->ctr.stop_time));

    size_t nstd;
    const char *const *names = std_names(kind, &nstd);
    for (size_t i = 0; rc == FLM_OK && i < nstd; i++)
        rc = json_member_u64(out, names[i], flm_ctr_get(&c->ctr, (int)i));

    if (rc == FLM_OK && kind == FLM_CHANNEL) {
        uint64_t size, cap;
        char fill[40];
        channel_values(c, &size, &cap, fill, sizeof(fill));
        rc = json_member_u64(out, "ChannelSize", size);
        if (rc == FLM_OK)
            rc = json_member_u64(out, "ChannelCapacity", cap);
        if (rc == FLM_OK)
            rc = json_member(out, false, "ChannelFillPercentage", fill);
    }

    size_t nx = extra_count(c, nstd);
    for (size_t i = 0; rc == FLM_OK && i < nx; i++) {
        const struct flm_ctr_extra *x = &c->type->extra_ctrs[i];
        uint64_t v = flm_ctr_get(&c->ctr, (int)(nstd + i));
        if (x->is_bool)
            rc = json_member(out, false, x->name, v ? "true" : "false");
        else
            rc = json_member_u64(out, x->name, v);
    }
    if (rc == FLM_OK)
        rc = flm_buf_append(out, "}", 1);
    return rc;
}

int flm_metrics_json(struct flm_buf *out, struct flm_component *const *comps, size_t n)
{
    int rc = flm_buf_append(out, "{", 1);
    bool first = true;
    for (size_t i = 0; rc == FLM_OK && i < n; i++) {
        if (!shown(comps[i]))
            continue;
        if (!first)
            rc = flm_buf_append(out, ",", 1);
        if (rc == FLM_OK)
            rc = json_component(out, comps[i]);
        first = false;
    }
    if (rc == FLM_OK)
        rc = flm_buf_append(out, "}", 1);
    return rc;
}

/* ------------------------------------------------------------ Prometheus */

/* snake_case of a CamelCase attribute name (see the mapping above). */
static void snake(const char *attr, char *dst, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; attr[i] != '\0' && o + 2 < cap; i++) {
        unsigned char ch = (unsigned char)attr[i];
        bool upper = ch >= 'A' && ch <= 'Z';
        bool alnum = upper || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (upper && i > 0 && o > 0 && dst[o - 1] != '_') {
            unsigned char prev = (unsigned char)attr[i - 1];
            unsigned char next = (unsigned char)attr[i + 1];
            bool prev_lower = (prev >= 'a' && prev <= 'z') || (prev >= '0' && prev <= '9');
            bool prev_upper = prev >= 'A' && prev <= 'Z';
            /* a new word: "aB", or the last capital of an acronym "ABc" */
            if (prev_lower || (prev_upper && next >= 'a' && next <= 'z'))
                dst[o++] = '_';
        }
        if (upper)
            dst[o++] = (char)(ch - 'A' + 'a');
        else
            dst[o++] = alnum ? (char)ch : '_';
    }
    dst[o] = '\0';
}

static bool is_counter(const char *attr)
{
    size_t n = strlen(attr);
    if (strcmp(attr, "OpenConnectionCount") == 0)
        return false;
    return (n >= 5 && strcmp(attr + n - 5, "Count") == 0) ||
           (n >= 4 && strcmp(attr + n - 4, "Fail") == 0) ||
           (n >= 5 && strcmp(attr + n - 5, "Timer") == 0);
}

/* Appends the label value with Prometheus escaping. */
static int prom_label(struct flm_buf *out, const char *v)
{
    int rc = FLM_OK;
    for (; rc == FLM_OK && *v != '\0'; v++) {
        if (*v == '\\')
            rc = flm_buf_append(out, "\\\\", 2);
        else if (*v == '"')
            rc = flm_buf_append(out, "\\\"", 2);
        else if (*v == '\n')
            rc = flm_buf_append(out, "\\n", 2);
        else
            rc = flm_buf_append(out, v, 1);
    }
    return rc;
}

/* Attribute selectors for prom_metric: which value of a component to print. */
enum prom_attr { PA_START, PA_STOP, PA_STD, PA_CH_SIZE, PA_CH_CAP, PA_CH_FILL, PA_EXTRA };

/* Value text of attribute (what, idx) for component c, false if c lacks it. */
static bool prom_value(const struct flm_component *c, enum prom_attr what, size_t idx,
                       const char *extra_name, char *val, size_t cap)
{
    size_t nstd;
    (void)std_names(c->type->kind, &nstd);
    uint64_t size, chcap;
    char fill[40];
    switch (what) {
    case PA_START:
        snprintf(val, cap, "%" PRIu64, load_u64(&c->ctr.start_time));
        return true;
    case PA_STOP:
        snprintf(val, cap, "%" PRIu64, load_u64(&c->ctr.stop_time));
        return true;
    case PA_STD:
        snprintf(val, cap, "%" PRIu64, flm_ctr_get(&c->ctr, (int)idx));
        return true;
    case PA_CH_SIZE:
    case PA_CH_CAP:
    case PA_CH_FILL:
        channel_values(c, &size, &chcap, fill, sizeof(fill));
        if (what == PA_CH_SIZE)
            snprintf(val, cap, "%" PRIu64, size);
        else if (what == PA_CH_CAP)
            snprintf(val, cap, "%" PRIu64, chcap);
        else
            snprintf(val, cap, "%s", fill);
        return true;
    case PA_EXTRA: {
        size_t nx = extra_count(c, nstd);
        for (size_t i = 0; i < nx; i++) {
            const struct flm_ctr_extra *x = &c->type->extra_ctrs[i];
            if (strcmp(x->name, extra_name) == 0) {
                uint64_t v = flm_ctr_get(&c->ctr, (int)(nstd + i));
                snprintf(val, cap, "%" PRIu64, x->is_bool ? (uint64_t)(v != 0) : v);
                return true;
            }
        }
        return false;
    }
    }
    return false;
}

/* Prints one metric (# TYPE line and one sample per component of `kind`
 * that has it), starting at component index `from`. */
static int prom_metric(struct flm_buf *out, struct flm_component *const *comps, size_t n,
                       size_t from, enum flm_kind kind, const char *attr, enum prom_attr what,
                       size_t idx)
{
    char mname[160];
    char sn[128];
    snake(attr, sn, sizeof(sn));
    snprintf(mname, sizeof(mname), "flume_%s_%s", group_lower(kind), sn);
    bool typed = false;
    int rc = FLM_OK;
    for (size_t i = from; rc == FLM_OK && i < n; i++) {
        const struct flm_component *c = comps[i];
        char val[48];
        if (!shown(c) || c->type->kind != kind ||
            !prom_value(c, what, idx, what == PA_EXTRA ? attr : NULL, val, sizeof(val)))
            continue;
        if (!typed) {
            rc = flm_buf_printf(out, "# TYPE %s %s\n", mname,
                                is_counter(attr) ? "counter" : "gauge");
            typed = true;
        }
        if (rc == FLM_OK)
            rc = flm_buf_printf(out, "%s{component=\"", mname);
        if (rc == FLM_OK)
            rc = prom_label(out, c->name);
        if (rc == FLM_OK)
            rc = flm_buf_printf(out, "\"} %s\n", val);
    }
    return rc;
}

/* True when an earlier component (index < upto) of kind already has extra
 * attribute `name`, i.e. the metric has been printed. */
static bool extra_seen(struct flm_component *const *comps, size_t upto, enum flm_kind kind,
                       const char *name)
{
    for (size_t i = 0; i < upto; i++) {
        const struct flm_component *c = comps[i];
        if (!shown(c) || c->type->kind != kind)
            continue;
        size_t nstd;
        (void)std_names(kind, &nstd);
        size_t nx = extra_count(c, nstd);
        for (size_t j = 0; j < nx; j++)
            if (strcmp(c->type->extra_ctrs[j].name, name) == 0)
                return true;
    }
    return false;
}

int flm_metrics_prometheus(struct flm_buf *out, struct flm_component *const *comps, size_t n)
{
    static const enum flm_kind kinds[] = {FLM_SOURCE, FLM_CHANNEL, FLM_SINK};
    int rc = FLM_OK;
    for (size_t k = 0; rc == FLM_OK && k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        enum flm_kind kind = kinds[k];
        rc = prom_metric(out, comps, n, 0, kind, "StartTime", PA_START, 0);
        if (rc == FLM_OK)
            rc = prom_metric(out, comps, n, 0, kind, "StopTime", PA_STOP, 0);
        size_t nstd;
        const char *const *names = std_names(kind, &nstd);
        for (size_t i = 0; rc == FLM_OK && i < nstd; i++)
            rc = prom_metric(out, comps, n, 0, kind, names[i], PA_STD, i);
        if (rc == FLM_OK && kind == FLM_CHANNEL) {
            rc = prom_metric(out, comps, n, 0, kind, "ChannelSize", PA_CH_SIZE, 0);
            if (rc == FLM_OK)
                rc = prom_metric(out, comps, n, 0, kind, "ChannelCapacity", PA_CH_CAP, 0);
            if (rc == FLM_OK)
                rc = prom_metric(out, comps, n, 0, kind, "ChannelFillPercentage", PA_CH_FILL, 0);
        }
        /* Extras: each distinct name once, at its first component. */
        for (size_t i = 0; rc == FLM_OK && i < n; i++) {
            const struct flm_component *c = comps[i];
            if (!shown(c) || c->type->kind != kind)
                continue;
            size_t nx = extra_count(c, nstd);
            for (size_t j = 0; rc == FLM_OK && j < nx; j++) {
                const char *name = c->type->extra_ctrs[j].name;
                bool dup = extra_seen(comps, i, kind, name);
                for (size_t m = 0; !dup && m < j; m++)
                    dup = strcmp(c->type->extra_ctrs[m].name, name) == 0;
                if (!dup)
                    rc = prom_metric(out, comps, n, i, kind, name, PA_EXTRA, 0);
            }
        }
    }
    return rc;
}
