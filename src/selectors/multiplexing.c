/*
 * multiplexing.c - the multiplexing channel selector (behaviours.md 4): an
 * event's required channels are selector.mapping.<v> where v is the value of
 * the header selector.header; a missing, blank (Java trim()-empty) or
 * unmapped value takes selector.default.  Optional channels are
 * selector.optional.<v> minus the channels already required for v (for an
 * unmapped v: minus the default channels); a missing header has none.
 *
 * Owns: a small open-addressing table from header value to (required,
 * optional) channel masks, built at config time by init; select() only reads
 * it, so it is safe on the source's thread without a lock.
 *
 * Config errors (the source is dropped, as in Flume): a mapping with no
 * channels, a channel name that is not one of the source's channels.
 * Differences from Flume (docs/compatibility.md): an empty optional.<v> is
 * ignored with a warning (Flume substitutes the default list and then edits
 * it in place, changing the defaults of every value); no selector.default
 * while mappings exist is warned about, because unmapped events are dropped.
 */
#include "core/component.h"

#include <stdlib.h>
#include <string.h>

struct mux_conf {
    char *header;
    struct flm_strv deflt;
    struct flm_kvs mapping;   /* "mapping.<v>" with the prefix stripped */
    struct flm_kvs optional;  /* "optional.<v>" */
};

static const struct flm_prop mux_props[] = {
    {"header", FLM_P_STR, FLM_OFF(struct mux_conf, header), "flume.selector.header", 0, 0, 0,
     NULL, NULL, "Event header whose value chooses the channels."},
    {"default", FLM_P_LIST, FLM_OFF(struct mux_conf, deflt), NULL, 0, 0, 0, NULL, NULL,
     "Space-separated required channels when the header is missing, blank or unmapped "
     "(empty: such events are written nowhere)."},
    {"mapping.", FLM_P_PREFIX, FLM_OFF(struct mux_conf, mapping), NULL, 0, 0, 0, NULL, NULL,
     "mapping.<value> = space-separated required channels for that exact header value."},
    {"optional.", FLM_P_PREFIX, FLM_OFF(struct mux_conf, optional), NULL, 0, 0, 0, NULL, NULL,
     "optional.<value> = space-separated optional channels (failures logged and ignored)."},
    FLM_PROPS_END,
};

struct mux_ent {
    const char *val;     /* points into the conf's kvs (lives as long as the selector) */
    uint64_t req, opt;
};

struct mux_ctx {
    struct mux_ent *tab; /* open addressing, size a power of two, val NULL = empty */
    size_t mask;
    uint64_t deflt;
    size_t hlen;         /* strlen of the selector.header name */
};

static uint64_t mux_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static struct mux_ent *mux_slot(const struct mux_ctx *x, const char *val)
{
    for (size_t i = mux_hash(val) & x->mask;; i = (i + 1) & x->mask) {
        struct mux_ent *e = &x->tab[i];
        if (e->val == NULL || strcmp(e->val, val) == 0)
            return e;
    }
}

/* Resolves a space-separated channel list to a mask over sel->chans.
 * Unknown names are errors on key (with the kv's file:line). */
static int mux_mask(struct flm_selector *sel, const struct flm_kv *kv, const char *key,
                    const struct flm_strv *names, uint64_t *out, struct flm_diag *d)
{
    int rc = FLM_OK;
    *out = 0;
    for (size_t i = 0; i < names->n; i++) {
        size_t j;
        for (j = 0; j < sel->nchans; j++)
            if (strcmp(sel->chans[j]->c.name, names->v[i]) == 0)
                break;
        if (j == sel->nchans) {
            flm_diag_add(d, FLM_SEV_ERROR, kv ? kv->file : NULL, kv ? kv->line : 0, sel->c.path,
                         key, "Selector channel not found: %s (not one of the source's channels)",
                         names->v[i]);
            rc = FLM_ERR;
            continue;
        }
        *out |= 1ull << j;
    }
    return rc;
}

static void mux_destroy(struct flm_selector *sel)
{
    struct mux_ctx *x = sel->c.ctx;
    if (x != NULL)
        free(x->tab);
    free(x);
    sel->c.ctx = NULL;
}

static int mux_init(struct flm_selector *sel, struct flm_diag *d)
{
    const struct mux_conf *c = sel->c.conf;
    struct mux_ctx *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return FLM_ENOMEM;
    sel->c.ctx = x;
    size_t want = 2 * (c->mapping.n + c->optional.n) + 1, size = 4;
    while (size < want)
        size *= 2;
    if ((x->tab = calloc(size, sizeof(*x->tab))) == NULL)
        return FLM_ENOMEM;
    x->mask = size - 1;
    x->hlen = strlen(c->header);
    sel->route_key = c->header;
    sel->route_klen = x->hlen;

    int rc = mux_mask(sel, NULL, "default", &c->deflt, &x->deflt, d);
    for (size_t i = 0; i < c->mapping.n; i++) {
        const struct flm_kv *kv = &c->mapping.v[i];
        char key[160];
        snprintf(key, sizeof(key), "mapping.%s", kv->key);
        struct flm_strv names;
        if (flm_strv_split(&names, kv->val) != FLM_OK)
            return FLM_ENOMEM;
        uint64_t m;
        if (names.n == 0) {
            flm_diag_add(d, FLM_SEV_ERROR, kv->file, kv->line, sel->c.path, key,
                         "No channel configured for when header value is: %s", kv->key);
            rc = FLM_ERR;
        } else if (mux_mask(sel, kv, key, &names, &m, d) != FLM_OK) {
            rc = FLM_ERR;
        } else {
            struct mux_ent *e = mux_slot(x, kv->key);
            e->val = kv->key; /* values are unique: the properties file keeps the last */
            e->req = m;
        }
        flm_strv_free(&names);
    }
    for (size_t i = 0; i < c->optional.n; i++) {
        const struct flm_kv *kv = &c->optional.v[i];
        char key[160];
        snprintf(key, sizeof(key), "optional.%s", kv->key);
        struct flm_strv names;
        if (flm_strv_split(&names, kv->val) != FLM_OK)
            return FLM_ENOMEM;
        uint64_t m;
        if (names.n == 0) {
            flm_diag_add(d, FLM_SEV_WARN, kv->file, kv->line, sel->c.path, key,
                         "no channels listed; ignored");
        } else if (mux_mask(sel, kv, key, &names, &m, d) != FLM_OK) {
            rc = FLM_ERR;
        } else {
            struct mux_ent *e = mux_slot(x, kv->key);
            if (e->val == NULL) {  /* optional only: required is the default */
                e->val = kv->key;
                e->req = x->deflt;
            }
            e->opt = m & ~e->req;
        }
        flm_strv_free(&names);
    }
    if (rc == FLM_OK && c->deflt.n == 0 && c->mapping.n > 0)
        flm_diag_add(d, FLM_SEV_WARN, NULL, 0, sel->c.path, "default",
                     "no default channels: events whose header '%s' is missing, blank or "
                     "unmapped are dropped",
                     c->header);
    return rc;
}

/* Java's String.trim() removes every char <= ' ' at both ends. */
static bool java_blank(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s > ' ')
            return false;
    return true;
}

/* The choice for a present header value v. */
static void mux_choose(const struct mux_ctx *x, const char *v, uint64_t *req, uint64_t *opt)
{
    const struct mux_ent *e = mux_slot(x, v);
    *req = x->deflt;
    *opt = 0;
    if (e->val == NULL)
        return;
    /* A blank value takes the default channels but (as in Flume) still
     * looks up its optional channels. */
    if (!java_blank(v))
        *req = e->req;
    *opt = e->opt & ~*req;
}

/* Batches usually carry runs of one value (one producer, a static header):
 * the last value's choice is reused while the next event's value is the
 * same bytes, so the table is looked up once per run, not per event. */
static void mux_select(struct flm_selector *sel, struct flm_event *const *evs, size_t n,
                       uint64_t *req, uint64_t *opt)
{
    const struct mux_conf *c = sel->c.conf;
    const struct mux_ctx *x = sel->c.ctx;
    const char *last = NULL;
    size_t lastlen = 0;
    uint64_t lreq = 0, lopt = 0;
    for (size_t i = 0; i < n; i++) {
        size_t vlen;
        const char *v = flm_event_header_n(evs[i], c->header, x->hlen, &vlen);
        if (v == NULL) {
            req[i] = x->deflt;
            opt[i] = 0;
            continue;
        }
        if (last == NULL || vlen != lastlen || !flm_bytes_eq(v, last, vlen)) {
            mux_choose(x, v, &lreq, &lopt);
            last = v;
            lastlen = vlen;
        }
        req[i] = lreq;
        opt[i] = lopt;
    }
}

static const struct flm_selector_ops mux_ops = {
    .init = mux_init,
    .select = mux_select,
    .destroy = mux_destroy,
};

const struct flm_type flm_selector_multiplexing = {
    .kind = FLM_SELECTOR,
    .alias = "multiplexing",
    .klass = "org.apache.flume.channel.MultiplexingChannelSelector",
    .summary = "Routes each event by the value of one header (mapping.<value>, optional.<value>, "
               "default).",
    .props = mux_props,
    .conf_size = sizeof(struct mux_conf),
    .ops = &mux_ops,
};
