/*
 * regex.c - the interceptors that apply a Java regex to the event body:
 * search_replace, regex_filter and regex_extractor (components.md 7), on
 * PCRE2 through jregex.c (which lists the Java/PCRE2 differences handled).
 *
 * Threads: validate at config time (main thread: a bad regex, replacement or
 * date pattern is a config error naming its key and drops the source);
 * init/destroy at start/stop (main thread); intercept() on the source's
 * thread.  Owns: per instance, the compiled regex, its match data and scratch
 * buffers, in c.ctx.  Nothing is allocated for an event that is not changed
 * (no match, or a kept/dropped event).
 *
 * Differences from Flume (docs/compatibility.md):
 *  - search_replace: charset UTF-8 (default), US-ASCII or ISO-8859-1 only;
 *    bytes that are not valid in the charset are kept as they are (Java
 *    decodes them to U+FFFD and writes back EF BF BD or '?'); with a
 *    one-byte charset, searchPattern/replaceString must be ASCII.  An
 *    invalid replacement ($9 with fewer groups, "$x", trailing "\") is a
 *    config error (Java throws on the first matching event).
 *  - regex_extractor: a group that did not take part in the match sets no
 *    header (Flume puts a null value); a millis value that does not parse
 *    sets no header and is logged (Flume throws from the interceptor and the
 *    whole batch fails); serializer type "default" in any case is accepted.
 */
#include "core/component.h"
#include "interceptors/jodatime.h"
#include "interceptors/jregex.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Compiles pat for a validate hook; reports problems on key. */
static int rx_check(const char *pat, unsigned flags, const char *comp, const char *key,
                    struct flm_diag *d, pcre2_code **keep)
{
    pcre2_code *re;
    char why[300];
    int rc = flm_jregex_compile(pat, flags, &re, why, sizeof(why));
    if (rc != FLM_OK) {
        flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, key, "%s: %s", pat, why);
        return FLM_ERR;
    }
    if (keep != NULL)
        *keep = re;
    else
        pcre2_code_free(re);
    return FLM_OK;
}

static bool is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s > 0x7f)
            return false;
    return true;
}

/* ------------------------------------------------------- search_replace */

struct sr_conf {
    char *search;
    char *replace;
    int charset;
};

static const char *const sr_charsets[] = {"UTF-8", "UTF8", "US-ASCII", "ASCII", "ISO-8859-1",
                                          "ISO8859_1", "latin1", NULL};

static const struct flm_prop sr_props[] = {
    {"searchPattern", FLM_P_STR, FLM_OFF(struct sr_conf, search), NULL, FLM_P_REQUIRED, 0, 0,
     NULL, NULL, "Java regex searched for in the body (every match is replaced)."},
    {"replaceString", FLM_P_STR, FLM_OFF(struct sr_conf, replace), NULL, 0, 0, 0, NULL, NULL,
     "Replacement: $n and ${name} insert groups, \\x is a literal x (unset: empty)."},
    {"charset", FLM_P_ENUM, FLM_OFF(struct sr_conf, charset), "UTF-8", 0, 0, 0, sr_charsets,
     NULL, "Charset of the body: UTF-8, US-ASCII or ISO-8859-1."},
    FLM_PROPS_END,
};

struct sr_ctx {
    pcre2_code *re;
    pcre2_match_data *md;
    struct flm_jrepl repl;
    char *out;                /* scratch for the new body */
    size_t cap;
    bool utf;
};

static int sr_validate(void *conf, const char *comp, struct flm_diag *d)
{
    const struct sr_conf *c = conf;
    bool utf = c->charset < 2;
    if (!utf && (!is_ascii(c->search) || (c->replace && !is_ascii(c->replace)))) {
        flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "charset",
                     "searchPattern and replaceString must be ASCII with charset %s",
                     sr_charsets[c->charset]);
        return FLM_ERR;
    }
    pcre2_code *re;
    if (rx_check(c->search, utf ? FLM_JRX_UTF : 0, comp, "searchPattern", d, &re) != FLM_OK)
        return FLM_ERR;
    struct flm_jrepl r;
    char why[300];
    int rc = flm_jrepl_parse(c->replace ? c->replace : "", re, &r, why, sizeof(why));
    pcre2_code_free(re);
    if (rc != FLM_OK) {
        flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "replaceString", "%s", why);
        return FLM_ERR;
    }
    flm_jrepl_free(&r);
    return FLM_OK;
}

static void sr_destroy(struct flm_interceptor *ic)
{
    struct sr_ctx *x = ic->c.ctx;
    if (x == NULL)
        return;
    pcre2_match_data_free(x->md);
    pcre2_code_free(x->re);
    flm_jrepl_free(&x->repl);
    free(x->out);
    free(x);
    ic->c.ctx = NULL;
}

static int sr_init(struct flm_interceptor *ic, struct flm_err *err)
{
    const struct sr_conf *c = ic->c.conf;
    struct sr_ctx *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    ic->c.ctx = x;
    x->utf = c->charset < 2;
    char why[300];
    if (flm_jregex_compile(c->search, x->utf ? FLM_JRX_UTF : 0, &x->re, why, sizeof(why)) !=
        FLM_OK)
        return flm_err_set(err, FLM_ERR, "searchPattern: %s", why);
    if (flm_jrepl_parse(c->replace ? c->replace : "", x->re, &x->repl, why, sizeof(why)) !=
        FLM_OK)
        return flm_err_set(err, FLM_ERR, "replaceString: %s", why);
    if ((x->md = pcre2_match_data_create_from_pattern(x->re, NULL)) == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    return FLM_OK;
}

/* Appends len bytes to x->out at *o, growing it. */
static bool sr_put(struct sr_ctx *x, size_t *o, const void *p, size_t len)
{
    size_t need;
    if (len == 0)
        return true;
    if (flm_size_add(*o, len, &need) != 0)
        return false;
    if (need > x->cap) {
        size_t nc = x->cap ? x->cap : 256;
        while (nc < need)
            nc *= 2;
        char *nb = realloc(x->out, nc);
        if (nb == NULL)
            return false;
        x->out = nb;
        x->cap = nc;
    }
    memcpy(x->out + *o, p, len);
    *o += len;
    return true;
}

/* Java's Matcher.replaceAll over body; the new body in x->out[0..*olen).
 * 0: no match (nothing to do); 1: replaced; -1: out of memory. */
static int sr_replace(struct sr_ctx *x, const uint8_t *s, size_t len, size_t *olen)
{
    size_t pos = 0, last = 0, o = 0;
    bool any = false;
    while (pos <= len) {
        int rc = pcre2_match(x->re, s, len, pos, 0, x->md, NULL);
        if (rc < 0)
            break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(x->md);
        size_t ms = ov[0], me = ov[1];
        any = true;
        if (!sr_put(x, &o, s + last, ms - last))
            return -1;
        for (size_t k = 0; k < x->repl.n; k++) {
            const struct flm_jrepl_part *pt = &x->repl.v[k];
            if (pt->lit != NULL) {
                if (!sr_put(x, &o, pt->lit, pt->len))
                    return -1;
            } else if ((uint32_t)pt->group < (uint32_t)rc && ov[2 * pt->group] != PCRE2_UNSET) {
                if (!sr_put(x, &o, s + ov[2 * pt->group],
                            ov[2 * pt->group + 1] - ov[2 * pt->group]))
                    return -1;
            }
        }
        last = me;
        if (me == ms) {
            /* Java's find() resumes one character after an empty match. */
            if (me >= len)
                break;
            pos = me + 1;
            while (x->utf && pos < len && (s[pos] & 0xC0) == 0x80)
                pos++;
        } else {
            pos = me;
        }
    }
    if (!any)
        return 0;
    if (!sr_put(x, &o, s + last, len - last))
        return -1;
    *olen = o;
    return 1;
}

static size_t sr_intercept(struct flm_interceptor *ic, struct flm_event **evs, size_t n)
{
    struct sr_ctx *x = ic->c.ctx;
    for (size_t i = 0; i < n; i++) {
        struct flm_event *ev = evs[i];
        size_t olen;
        int r = sr_replace(x, ev->body, ev->body_len, &olen);
        if (r == 0)
            continue;
        struct flm_event *nev = r > 0 ? flm_event_new(x->out, olen, ev->hdr, ev->nhdr) : NULL;
        if (nev == NULL) {
            flm_log_limited(FLM_LOG_ERROR, &ic->c.log, 0,
                            "out of memory replacing in an event body; event passed on "
                            "unchanged");
            continue;
        }
        flm_event_free(ev);
        evs[i] = nev;
    }
    return n;
}

static const struct flm_interceptor_ops sr_ops = {
    .init = sr_init, .intercept = sr_intercept, .destroy = sr_destroy};

const struct flm_type flm_interceptor_search_replace = {
    .kind = FLM_INTERCEPTOR,
    .alias = "search_replace",
    .klass = "org.apache.flume.interceptor.SearchAndReplaceInterceptor$Builder",
    .summary = "Replaces every match of a regex in the body.",
    .props = sr_props,
    .conf_size = sizeof(struct sr_conf),
    .validate = sr_validate,
    .ops = &sr_ops,
};

/* ---------------------------------------------------------- regex_filter */

struct rf_conf {
    char *regex;
    bool exclude;
};

static const struct flm_prop rf_props[] = {
    {"regex", FLM_P_STR, FLM_OFF(struct rf_conf, regex), ".*", 0, 0, 0, NULL, NULL,
     "Java regex searched for (find, not whole-body match) in the body."},
    {"excludeEvents", FLM_P_BOOL, FLM_OFF(struct rf_conf, exclude), "false", 0, 0, 0, NULL, NULL,
     "true: drop matching events; false: keep only matching events."},
    FLM_PROPS_END,
};

struct rf_ctx {
    pcre2_code *re;           /* NULL: ".*", which every body contains */
    pcre2_match_data *md;
};

static int rf_validate(void *conf, const char *comp, struct flm_diag *d)
{
    const struct rf_conf *c = conf;
    return rx_check(c->regex, FLM_JRX_UTF, comp, "regex", d, NULL);
}

static void rf_destroy(struct flm_interceptor *ic)
{
    struct rf_ctx *x = ic->c.ctx;
    if (x == NULL)
        return;
    pcre2_match_data_free(x->md);
    pcre2_code_free(x->re);
    free(x);
    ic->c.ctx = NULL;
}

static int rf_init(struct flm_interceptor *ic, struct flm_err *err)
{
    const struct rf_conf *c = ic->c.conf;
    struct rf_ctx *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    ic->c.ctx = x;
    if (strcmp(c->regex, ".*") == 0)
        return FLM_OK;
    char why[300];
    if (flm_jregex_compile(c->regex, FLM_JRX_UTF, &x->re, why, sizeof(why)) != FLM_OK)
        return flm_err_set(err, FLM_ERR, "regex: %s", why);
    /* Only whether it matches is needed: one pair is enough. */
    if ((x->md = pcre2_match_data_create(1, NULL)) == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    return FLM_OK;
}

static size_t rf_intercept(struct flm_interceptor *ic, struct flm_event **evs, size_t n)
{
    const struct rf_conf *c = ic->c.conf;
    struct rf_ctx *x = ic->c.ctx;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct flm_event *ev = evs[i];
        bool match = x->re == NULL ||
                     pcre2_match(x->re, ev->body, ev->body_len, 0, 0, x->md, NULL) >= 0;
        if (match != c->exclude)
            evs[k++] = ev;
        else
            flm_event_free(ev);
    }
    return k;
}

static const struct flm_interceptor_ops rf_ops = {
    .init = rf_init, .intercept = rf_intercept, .destroy = rf_destroy};

const struct flm_type flm_interceptor_regex_filter = {
    .kind = FLM_INTERCEPTOR,
    .alias = "regex_filter",
    .klass = "org.apache.flume.interceptor.RegexFilteringInterceptor$Builder",
    .summary = "Keeps (or with excludeEvents drops) events whose body contains a regex match.",
    .props = rf_props,
    .conf_size = sizeof(struct rf_conf),
    .validate = rf_validate,
    .ops = &rf_ops,
};

/* ------------------------------------------------------- regex_extractor */

#define RX_MILLIS_CLASS "org.apache.flume.interceptor.RegexExtractorInterceptorMillisSerializer"
#define RX_PASSTHROUGH_CLASS \
    "org.apache.flume.interceptor.RegexExtractorInterceptorPassThroughSerializer"

struct rx_conf {
    char *regex;
    struct flm_strv serializers;
    struct flm_kvs sub;       /* "serializers.<s>.<key>" with "serializers." stripped */
};

static const struct flm_prop rx_props[] = {
    {"regex", FLM_P_STR, FLM_OFF(struct rx_conf, regex), NULL, FLM_P_REQUIRED, 0, 0, NULL, NULL,
     "Java regex; its first match in the body gives the groups."},
    {"serializers", FLM_P_LIST, FLM_OFF(struct rx_conf, serializers), NULL, FLM_P_REQUIRED, 0, 0,
     NULL, NULL, "Space-separated serializer names, one per group (1, 2, ...) in order."},
    {"serializers.", FLM_P_PREFIX, FLM_OFF(struct rx_conf, sub), NULL, 0, 0, 0, NULL, NULL,
     "serializers.<s>.name (header, required), .type (DEFAULT or " RX_MILLIS_CLASS
     "), .pattern (Joda date pattern of the millis serializer)."},
    FLM_PROPS_END,
};

struct rx_ser {
    const char *name;         /* points into the conf */
    bool millis;
    struct flm_joda fmt;
};

struct rx_ctx {
    pcre2_code *re;
    pcre2_match_data *md;
    struct rx_ser *ser;
    size_t nser;
    char *val;                /* scratch: one group's text, NUL-terminated */
    size_t cap;
};

static const char *rx_sub(const struct rx_conf *c, const char *s, const char *key)
{
    char k[200];
    snprintf(k, sizeof(k), "%s.%s", s, key);
    return flm_kvs_get(&c->sub, k);
}

static void rx_free_sers(struct rx_ser *ser, size_t n)
{
    for (size_t i = 0; ser && i < n; i++)
        flm_joda_free(&ser[i].fmt);
    free(ser);
}

/* Builds the serializers; errors go to d (config time) or why (start). */
static int rx_build(const struct rx_conf *c, const char *comp, struct flm_diag *d,
                    struct rx_ser **out)
{
    int rc = FLM_OK;
    struct rx_ser *ser = calloc(c->serializers.n + 1, sizeof(*ser));
    if (ser == NULL)
        return FLM_ENOMEM;
    for (size_t i = 0; i < c->serializers.n; i++) {
        const char *s = c->serializers.v[i];
        char key[200];
        const char *name = rx_sub(c, s, "name"), *type = rx_sub(c, s, "type");
        if (name == NULL || name[0] == '\0') {
            snprintf(key, sizeof(key), "serializers.%s.name", s);
            flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, key,
                         "required property '%s' is missing (the header to set)", key);
            rc = FLM_ERR;
            continue;
        }
        ser[i].name = name;
        snprintf(key, sizeof(key), "serializers.%s.type", s);
        if (type == NULL || type[0] == '\0' || strcasecmp(type, "DEFAULT") == 0 ||
            strcmp(type, RX_PASSTHROUGH_CLASS) == 0) {
            if (type != NULL && strcmp(type, "DEFAULT") != 0 && strcasecmp(type, "DEFAULT") == 0)
                flm_diag_add(d, FLM_SEV_WARN, NULL, 0, comp, key,
                             "'%s' taken as DEFAULT (Flume only accepts the upper-case "
                             "spelling)", type);
            continue;
        }
        if (strcmp(type, RX_MILLIS_CLASS) != 0) {
            flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, key,
                         "unknown serializer type '%s' (DEFAULT or %s)", type, RX_MILLIS_CLASS);
            rc = FLM_ERR;
            continue;
        }
        ser[i].millis = true;
        const char *pat = rx_sub(c, s, "pattern");
        snprintf(key, sizeof(key), "serializers.%s.pattern", s);
        char why[200];
        if (pat == NULL || pat[0] == '\0') {
            flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, key,
                         "Must configure with a valid pattern");
            rc = FLM_ERR;
        } else if (flm_joda_compile(pat, &ser[i].fmt, why, sizeof(why)) != FLM_OK) {
            flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, key, "%s: %s", pat, why);
            rc = FLM_ERR;
        }
    }
    if (rc != FLM_OK) {
        rx_free_sers(ser, c->serializers.n);
        return rc;
    }
    *out = ser;
    return FLM_OK;
}

static int rx_validate(void *conf, const char *comp, struct flm_diag *d)
{
    const struct rx_conf *c = conf;
    int rc = rx_check(c->regex, FLM_JRX_UTF, comp, "regex", d, NULL);
    struct rx_ser *ser = NULL;
    if (rx_build(c, comp, d, &ser) != FLM_OK)
        return FLM_ERR;
    rx_free_sers(ser, c->serializers.n);
    return rc;
}

static void rx_destroy(struct flm_interceptor *ic)
{
    struct rx_ctx *x = ic->c.ctx;
    if (x == NULL)
        return;
    pcre2_match_data_free(x->md);
    pcre2_code_free(x->re);
    rx_free_sers(x->ser, x->nser);
    free(x->val);
    free(x);
    ic->c.ctx = NULL;
}

static int rx_init(struct flm_interceptor *ic, struct flm_err *err)
{
    const struct rx_conf *c = ic->c.conf;
    struct rx_ctx *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    ic->c.ctx = x;
    char why[300];
    if (flm_jregex_compile(c->regex, FLM_JRX_UTF, &x->re, why, sizeof(why)) != FLM_OK)
        return flm_err_set(err, FLM_ERR, "regex: %s", why);
    if ((x->md = pcre2_match_data_create_from_pattern(x->re, NULL)) == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    struct flm_diag d;
    flm_diag_init(&d);
    int rc = rx_build(c, ic->c.path, &d, &x->ser);
    if (rc != FLM_OK) {
        char msg[400] = "out of memory";
        if (d.n > 0)
            flm_diag_format(&d.v[0], msg, sizeof(msg));
        flm_diag_free(&d);
        return flm_err_set(err, rc, "%s", msg);
    }
    flm_diag_free(&d);
    x->nser = c->serializers.n;
    return FLM_OK;
}

static size_t rx_intercept(struct flm_interceptor *ic, struct flm_event **evs, size_t n)
{
    struct rx_ctx *x = ic->c.ctx;
    for (size_t i = 0; i < n; i++) {
        int rc = pcre2_match(x->re, evs[i]->body, evs[i]->body_len, 0, 0, x->md, NULL);
        if (rc < 0)
            continue;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(x->md);
        for (size_t g = 1; g < (size_t)rc && g <= x->nser; g++) {
            if (ov[2 * g] == PCRE2_UNSET)
                continue;
            /* Copy the group out first: setting a header moves the event. */
            size_t len = ov[2 * g + 1] - ov[2 * g];
            if (len + 1 > x->cap) {
                char *nb = realloc(x->val, len + 1);
                if (nb == NULL)
                    continue;
                x->val = nb;
                x->cap = len + 1;
            }
            memcpy(x->val, evs[i]->body + ov[2 * g], len);
            x->val[len] = '\0';
            const struct rx_ser *s = &x->ser[g - 1];
            char num[24];
            const char *v = x->val;
            if (s->millis) {
                int64_t ms;
                if (flm_joda_parse(&s->fmt, x->val, len, &ms) != 0) {
                    flm_log_limited(FLM_LOG_WARN, &ic->c.log, 0,
                                    "'%.64s' does not match the date pattern of serializer "
                                    "for header %s; header not set",
                                    x->val, s->name);
                    continue;
                }
                snprintf(num, sizeof(num), "%lld", (long long)ms);
                v = num;
            }
            if (flm_event_set_header(&evs[i], s->name, v) != FLM_OK)
                flm_log_limited(FLM_LOG_ERROR, &ic->c.log, 0,
                                "out of memory setting header %s; event passed on", s->name);
        }
    }
    return n;
}

static const struct flm_interceptor_ops rx_ops = {
    .init = rx_init, .intercept = rx_intercept, .destroy = rx_destroy};

const struct flm_type flm_interceptor_regex_extractor = {
    .kind = FLM_INTERCEPTOR,
    .alias = "regex_extractor",
    .klass = "org.apache.flume.interceptor.RegexExtractorInterceptor$Builder",
    .summary = "Copies the groups of a regex match in the body into headers.",
    .props = rx_props,
    .conf_size = sizeof(struct rx_conf),
    .validate = rx_validate,
    .ops = &rx_ops,
};
