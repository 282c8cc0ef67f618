/*
 * headers.c - the interceptors that only set or remove headers: timestamp,
 * host, static, remove_header and UUID (components.md 7).
 *
 * Threads: init/destroy on the main thread at start/stop; intercept() on the
 * source's thread, one batch at a time (the per-instance scratch state needs
 * no lock).  Owns: per-instance state in c.ctx (the host text, the
 * remove_header name list and compiled regex with its match data).
 *
 * Allocation: an event is rebuilt (flm_event_set_header, which may move it;
 * the new pointer is written back into the batch) only when a header is set;
 * with preserveExisting and the header present, remove_header with nothing
 * to remove, nothing is allocated.  If memory runs out the event goes on
 * unchanged and the failure is logged (an interceptor cannot fail a batch).
 *
 * Differences from Flume (docs/compatibility.md): the host interceptor skips
 * the header when the local address cannot be resolved (Flume puts a null
 * value); `uuid` is also accepted as an alias of Flume's UUIDInterceptor class
 * name; UUIDs come from getrandom(2) (version-4 layout, as Java's
 * randomUUID).
 */
#include "core/component.h"
#include "interceptors/jregex.h"

#include "core/counters.h"

#include <netdb.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* Sets key=val on *evp (writing back the moved pointer); logs on ENOMEM. */
static void ic_set(struct flm_interceptor *ic, struct flm_event **evp, const char *key,
                   size_t klen, const char *val, size_t vlen)
{
    if (flm_event_set_header_n(evp, key, klen, val, vlen) != FLM_OK)
        flm_log_limited(FLM_LOG_ERROR, &ic->c.log, 0,
                        "out of memory setting header %s; event passed on unchanged", key);
}

/* Sets key = val on every event, or (preserve) on those lacking key. */
static void ic_set_all(struct flm_interceptor *ic, struct flm_event **evs, size_t n,
                       const char *key, const char *val, bool preserve)
{
    size_t klen = strlen(key), vlen = strlen(val);
    for (size_t i = 0; i < n; i++) {
        if (preserve && flm_event_header_n(evs[i], key, klen, NULL) != NULL)
            continue;
        ic_set(ic, &evs[i], key, klen, val, vlen);
    }
}

/* ------------------------------------------------------------- timestamp */

struct ts_conf {
    char *header;
    bool preserve;
};

#define TS_BUF 24   /* epoch milliseconds as text, NUL included */

static const struct flm_prop ts_props[] = {
    {"headerName", FLM_P_STR, FLM_OFF(struct ts_conf, header), "timestamp", 0, 0, 0, NULL, NULL,
     "Header that receives the agent's time in epoch milliseconds."},
    {"preserveExisting", FLM_P_BOOL, FLM_OFF(struct ts_conf, preserve), "false", 0, 0, 0, NULL,
     NULL, "Keep the header when the event already has it."},
    FLM_PROPS_END,
};

/* The agent's time as epoch-ms text, in the interceptor's scratch buffer.
 * The clock is read once per batch: a batch is what the source read
 * together, so its events share one millisecond (Flume reads it per event;
 * at most the batch's own read time apart). */
static const char *ts_text(struct flm_interceptor *ic)
{
    char *buf = ic->c.ctx;
    uint64_t ms = flm_now_ms();
    char *p = buf + TS_BUF - 1;
    *p = '\0';
    do {
        *--p = (char)('0' + ms % 10);
        ms /= 10;
    } while (ms != 0);
    return p;
}

static int ts_init(struct flm_interceptor *ic, struct flm_err *err)
{
    if ((ic->c.ctx = calloc(1, TS_BUF)) == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    return FLM_OK;
}

static size_t ts_intercept(struct flm_interceptor *ic, struct flm_event **evs, size_t n)
{
    const struct ts_conf *c = ic->c.conf;
    ic_set_all(ic, evs, n, c->header, ts_text(ic), c->preserve);
    return n;
}

static bool ts_const(struct flm_interceptor *ic, struct flm_hdr *h)
{
    const struct ts_conf *c = ic->c.conf;
    *h = flm_hdr_str(c->header, ts_text(ic));
    return true;
}

static void free_ctx(struct flm_interceptor *ic)
{
    free(ic->c.ctx);
    ic->c.ctx = NULL;
}

static const struct flm_interceptor_ops ts_ops = {
    .init = ts_init, .intercept = ts_intercept, .const_header = ts_const, .destroy = free_ctx};

const struct flm_type flm_interceptor_timestamp = {
    .kind = FLM_INTERCEPTOR,
    .alias = "timestamp",
    .klass = "org.apache.flume.interceptor.TimestampInterceptor$Builder",
    .summary = "Sets a header to the time the event passed the source (epoch ms).",
    .props = ts_props,
    .conf_size = sizeof(struct ts_conf),
    .ops = &ts_ops,
};

/* ------------------------------------------------------------------ host */

struct host_conf {
    bool use_ip;
    char *header;
    bool preserve;
};

static const struct flm_prop host_props[] = {
    {"useIP", FLM_P_BOOL, FLM_OFF(struct host_conf, use_ip), "true", 0, 0, 0, NULL, NULL,
     "true: the agent's IP address; false: its canonical host name."},
    {"hostHeader", FLM_P_STR, FLM_OFF(struct host_conf, header), "host", 0, 0, 0, NULL, NULL,
     "Header that receives the address or name."},
    {"preserveExisting", FLM_P_BOOL, FLM_OFF(struct host_conf, preserve), "false", 0, 0, 0, NULL,
     NULL, "Keep the header when the event already has it."},
    FLM_PROPS_END,
};

/* Java's InetAddress.getLocalHost(): the host name resolved, IPv4 first;
 * then getHostAddress() or getCanonicalHostName() (reverse lookup, the
 * address text when that fails).  Blocking DNS: main thread, at start. */
static int host_lookup(bool use_ip, char *out, size_t cap)
{
    char name[256];
    if (gethostname(name, sizeof(name)) != 0)
        return FLM_ERR;
    name[sizeof(name) - 1] = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *pick = NULL;
    if (getaddrinfo(name, NULL, &hints, &res) != 0 || res == NULL)
        return FLM_ERR;
    for (struct addrinfo *a = res; a != NULL && pick == NULL; a = a->ai_next)
        if (a->ai_family == AF_INET)
            pick = a;
    if (pick == NULL)
        pick = res;
    int rc = getnameinfo(pick->ai_addr, pick->ai_addrlen, out, (socklen_t)cap, NULL, 0,
                         NI_NUMERICHOST);
    if (rc == 0 && !use_ip) {
        char canon[NI_MAXHOST];
        if (getnameinfo(pick->ai_addr, pick->ai_addrlen, canon, sizeof(canon), NULL, 0,
                        NI_NAMEREQD) == 0)
            snprintf(out, cap, "%s", canon);
    }
    freeaddrinfo(res);
    return rc == 0 ? FLM_OK : FLM_ERR;
}

static int host_init(struct flm_interceptor *ic, struct flm_err *err)
{
    const struct host_conf *c = ic->c.conf;
    char *h = calloc(1, NI_MAXHOST);
    if (h == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    if (host_lookup(c->use_ip, h, NI_MAXHOST) != FLM_OK) {
        flm_warn(&ic->c.log, "Could not get local host address; header %s will not be set",
                 c->header);
        free(h);
        h = NULL;
    }
    ic->c.ctx = h;
    return FLM_OK;
}

static size_t host_intercept(struct flm_interceptor *ic, struct flm_event **evs, size_t n)
{
    const struct host_conf *c = ic->c.conf;
    if (ic->c.ctx != NULL)
        ic_set_all(ic, evs, n, c->header, ic->c.ctx, c->preserve);
    return n;
}

static bool host_const(struct flm_interceptor *ic, struct flm_hdr *h)
{
    const struct host_conf *c = ic->c.conf;
    if (ic->c.ctx == NULL)
        return false;
    *h = flm_hdr_str(c->header, ic->c.ctx);
    return true;
}

static const struct flm_interceptor_ops host_ops = {
    .init = host_init, .intercept = host_intercept, .const_header = host_const,
    .destroy = free_ctx};

const struct flm_type flm_interceptor_host = {
    .kind = FLM_INTERCEPTOR,
    .alias = "host",
    .klass = "org.apache.flume.interceptor.HostInterceptor$Builder",
    .summary = "Sets a header to the agent's IP address or host name.",
    .props = host_props,
    .conf_size = sizeof(struct host_conf),
    .ops = &host_ops,
};

/* ---------------------------------------------------------------- static */

struct static_conf {
    char *key;
    char *value;
    bool preserve;
};

static const struct flm_prop static_props[] = {
    {"key", FLM_P_STR, FLM_OFF(struct static_conf, key), "key", 0, 0, 0, NULL, NULL,
     "Header name."},
    {"value", FLM_P_STR, FLM_OFF(struct static_conf, value), "value", 0, 0, 0, NULL, NULL,
     "Header value."},
    {"preserveExisting", FLM_P_BOOL, FLM_OFF(struct static_conf, preserve), "true", 0, 0, 0,
     NULL, NULL, "Keep the header when the event already has it."},
    FLM_PROPS_END,
};

static size_t static_intercept(struct flm_interceptor *ic, struct flm_event **evs, size_t n)
{
    const struct static_conf *c = ic->c.conf;
    size_t klen = strlen(c->key), vlen = strlen(c->value);
    for (size_t i = 0; i < n; i++) {
        size_t have;
        const char *v = flm_event_header_n(evs[i], c->key, klen, &have);
        if (v != NULL && (c->preserve || (have == vlen && memcmp(v, c->value, vlen) == 0)))
            continue; /* kept, or already this value: nothing to rebuild */
        ic_set(ic, &evs[i], c->key, klen, c->value, vlen);
    }
    return n;
}

static bool static_const(struct flm_interceptor *ic, struct flm_hdr *h)
{
    const struct static_conf *c = ic->c.conf;
    *h = flm_hdr_str(c->key, c->value);
    return true;
}

static const struct flm_interceptor_ops static_ops = {.intercept = static_intercept,
                                                      .const_header = static_const};

const struct flm_type flm_interceptor_static = {
    .kind = FLM_INTERCEPTOR,
    .alias = "static",
    .klass = "org.apache.flume.interceptor.StaticInterceptor$Builder",
    .summary = "Sets one fixed header on every event.",
    .props = static_props,
    .conf_size = sizeof(struct static_conf),
    .ops = &static_ops,
};

/* --------------------------------------------------------- remove_header */

struct rmh_conf {
    char *with_name;
    char *from_list;
    char *separator;
    char *matching;
};

static const struct flm_prop rmh_props[] = {
    {"withName", FLM_P_STR, FLM_OFF(struct rmh_conf, with_name), NULL, 0, 0, 0, NULL, NULL,
     "Exact name of a header to remove."},
    {"fromList", FLM_P_STR, FLM_OFF(struct rmh_conf, from_list), NULL, 0, 0, 0, NULL, NULL,
     "Header names to remove, split by fromListSeparator."},
    {"fromListSeparator", FLM_P_STR, FLM_OFF(struct rmh_conf, separator), "\\s*,\\s*", 0, 0, 0,
     NULL, NULL, "Java regex that separates the names in fromList."},
    {"matching", FLM_P_STR, FLM_OFF(struct rmh_conf, matching), NULL, 0, 0, 0, NULL, NULL,
     "Java regex; headers whose whole name matches are removed."},
    FLM_PROPS_END,
};

struct rmh_ctx {
    char **names;             /* fromList, split */
    size_t nnames;
    pcre2_code *re;           /* matching, or NULL */
    pcre2_match_data *md;
};

static int rmh_validate(void *conf, const char *comp, struct flm_diag *d)
{
    const struct rmh_conf *c = conf;
    const struct {
        const char *key, *pat;
    } pats[] = {{"fromListSeparator", c->separator}, {"matching", c->matching}};
    int rc = FLM_OK;
    for (size_t i = 0; i < 2; i++) {
        pcre2_code *re;
        char why[256];
        if (pats[i].pat == NULL)
            continue;
        if (flm_jregex_compile(pats[i].pat, FLM_JRX_UTF, &re, why, sizeof(why)) != FLM_OK) {
            flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, pats[i].key, "%s: %s", pats[i].pat,
                         why);
            rc = FLM_ERR;
            continue;
        }
        pcre2_code_free(re);
    }
    return rc;
}

static void rmh_destroy(struct flm_interceptor *ic)
{
    struct rmh_ctx *x = ic->c.ctx;
    if (x == NULL)
        return;
    for (size_t i = 0; i < x->nnames; i++)
        free(x->names[i]);
    free(x->names);
    pcre2_match_data_free(x->md);
    pcre2_code_free(x->re);
    free(x);
    ic->c.ctx = NULL;
}

/* Java's Pattern.split(s): pieces between matches; a zero-width match at
 * the start makes no leading empty piece; trailing empty pieces dropped. */
static int rmh_split(struct rmh_ctx *x, const char *sep, const char *s, char *why, size_t cap)
{
    pcre2_code *re;
    if (flm_jregex_compile(sep, FLM_JRX_UTF, &re, why, cap) != FLM_OK)
        return FLM_ERR;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    size_t len = strlen(s), pos = 0;
    x->names = calloc(len + 2, sizeof(char *));
    if (md == NULL || x->names == NULL) {
        pcre2_match_data_free(md);
        pcre2_code_free(re);
        return FLM_ENOMEM;
    }
    size_t index = 0;
    int rc = FLM_OK;
    while (pos <= len && pcre2_match(re, (PCRE2_SPTR)s, len, pos, 0, md, NULL) >= 0) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        pos = me == ms ? me + 1 : me;   /* Matcher.find() after an empty match */
        if (index == 0 && ms == 0 && me == 0)
            continue;
        if ((x->names[x->nnames] = strndup(s + index, ms - index)) == NULL) {
            rc = FLM_ENOMEM;
            break;
        }
        x->nnames++;
        index = me;
    }
    if (rc == FLM_OK) {
        if ((x->names[x->nnames] = strndup(s + index, len - index)) == NULL)
            rc = FLM_ENOMEM;
        else
            x->nnames++;
    }
    while (x->nnames > 0 && x->names[x->nnames - 1][0] == '\0')
        free(x->names[--x->nnames]);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    if (rc != FLM_OK)
        snprintf(why, cap, "out of memory");
    return rc;
}

static int rmh_init(struct flm_interceptor *ic, struct flm_err *err)
{
    const struct rmh_conf *c = ic->c.conf;
    struct rmh_ctx *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    ic->c.ctx = x;
    char why[256];
    if (c->from_list != NULL &&
        rmh_split(x, c->separator, c->from_list, why, sizeof(why)) != FLM_OK)
        return flm_err_set(err, FLM_ERR, "fromListSeparator: %s", why);
    if (c->matching != NULL) {
        if (flm_jregex_compile(c->matching, FLM_JRX_UTF, &x->re, why, sizeof(why)) != FLM_OK)
            return flm_err_set(err, FLM_ERR, "matching: %s", why);
        if ((x->md = pcre2_match_data_create_from_pattern(x->re, NULL)) == NULL)
            return flm_err_set(err, FLM_ENOMEM, "out of memory");
    }
    return FLM_OK;
}

static size_t rmh_intercept(struct flm_interceptor *ic, struct flm_event **evs, size_t n)
{
    const struct rmh_conf *c = ic->c.conf;
    struct rmh_ctx *x = ic->c.ctx;
    for (size_t i = 0; i < n; i++) {
        struct flm_event *ev = evs[i];
        if (c->with_name != NULL)
            flm_event_remove_header(ev, c->with_name);
        for (size_t k = 0; k < x->nnames; k++)
            flm_event_remove_header(ev, x->names[k]);
        if (x->re != NULL)
            for (uint32_t h = 0; h < ev->nhdr;) {
                /* Whole-name match, as Java's Matcher.matches(). */
                int rc = pcre2_match(x->re, (PCRE2_SPTR)ev->hdr[h].key, ev->hdr[h].klen, 0,
                                     PCRE2_ANCHORED | PCRE2_ENDANCHORED, x->md, NULL);
                if (rc >= 0)
                    flm_event_remove_header(ev, ev->hdr[h].key);
                else
                    h++;
            }
    }
    return n;
}

static const struct flm_interceptor_ops rmh_ops = {
    .init = rmh_init, .intercept = rmh_intercept, .destroy = rmh_destroy};

const struct flm_type flm_interceptor_remove_header = {
    .kind = FLM_INTERCEPTOR,
    .alias = "remove_header",
    .klass = "org.apache.flume.interceptor.RemoveHeaderInterceptor$Builder",
    .summary = "Removes headers by name, by list or by regex.",
    .props = rmh_props,
    .conf_size = sizeof(struct rmh_conf),
    .validate = rmh_validate,
    .ops = &rmh_ops,
};

/* ------------------------------------------------------------------ uuid */

struct uuid_conf {
    char *header;
    bool preserve;
    char *prefix;
};

static const struct flm_prop uuid_props[] = {
    {"headerName", FLM_P_STR, FLM_OFF(struct uuid_conf, header), "id", 0, 0, 0, NULL, NULL,
     "Header that receives the UUID."},
    {"preserveExisting", FLM_P_BOOL, FLM_OFF(struct uuid_conf, preserve), "true", 0, 0, 0, NULL,
     NULL, "Keep the header when the event already has it."},
    {"prefix", FLM_P_STR, FLM_OFF(struct uuid_conf, prefix), "", 0, 0, 0, NULL, NULL,
     "Text put before the 36-character UUID."},
    FLM_PROPS_END,
};

/* A random (version 4) UUID in its 36-character form after prefix. */
static void uuid_make(const char *prefix, char *out, size_t cap)
{
    uint8_t b[16];
    size_t got = 0;
    while (got < sizeof(b)) {
        ssize_t r = getrandom(b + got, sizeof(b) - got, 0);
        if (r > 0)
            got += (size_t)r;
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    char u[37];
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            u[o++] = '-';
        u[o++] = hex[b[i] >> 4];
        u[o++] = hex[b[i] & 15];
    }
    u[o] = '\0';
    snprintf(out, cap, "%s%s", prefix, u);
}

static size_t uuid_intercept(struct flm_interceptor *ic, struct flm_event **evs, size_t n)
{
    const struct uuid_conf *c = ic->c.conf;
    char buf[512];
    size_t klen = strlen(c->header);
    for (size_t i = 0; i < n; i++) {
        if (c->preserve && flm_event_header_n(evs[i], c->header, klen, NULL) != NULL)
            continue;
        uuid_make(c->prefix, buf, sizeof(buf));
        ic_set(ic, &evs[i], c->header, klen, buf, strlen(buf));
    }
    return n;
}

static int uuid_validate(void *conf, const char *comp, struct flm_diag *d)
{
    const struct uuid_conf *c = conf;
    if (strlen(c->prefix) > 400) {
        flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "prefix",
                     "prefix longer than 400 bytes is not supported");
        return FLM_ERR;
    }
    return FLM_OK;
}

static const struct flm_interceptor_ops uuid_ops = {.intercept = uuid_intercept};

const struct flm_type flm_interceptor_uuid = {
    .kind = FLM_INTERCEPTOR,
    .alias = "uuid",
    .klass = "org.apache.flume.sink.solr.morphline.UUIDInterceptor$Builder",
    .summary = "Sets a header to a random UUID (for downstream de-duplication).",
    .props = uuid_props,
    .conf_size = sizeof(struct uuid_conf),
    .validate = uuid_validate,
    .ops = &uuid_ops,
};
