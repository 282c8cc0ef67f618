/*
 * agent_build.c - building an agent from properties: Flume's validation
 * cascade (spec/config.md 2-3).
 *
 * Sections:
 *   1. collecting keys  - <agent>.<section>.<name>.<key> into per-component lists
 *   2. the cascade      - config filters, channels, sources (selector,
 *                         interceptors), sinks, sink groups, unused channels
 *   3. reload           - taking over recyclable channels from the running agent
 *
 * Runs on the main thread only; builds but never starts anything.
 */
#include "core/agent_internal.h"

#include "core/config/properties.h"
#include "core/processor.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------- 1. collecting */

enum { SEC_SOURCES, SEC_CHANNELS, SEC_SINKS, SEC_SINKGROUPS, SEC_CONFIGFILTERS, SEC_N };
static const char *const sec_names[SEC_N] = {"sources", "channels", "sinks", "sinkgroups",
                                             "configfilters"};

struct compcfg {
    char *name;
    struct flm_kvs kvs;       /* component-relative keys */
    const char *file;         /* where the component first appears */
    int line;
    bool listed;
};

struct collected {
    struct flm_kv *list[SEC_N];   /* the agent-level name lists */
    struct compcfg *comps[SEC_N];
    size_t ncomps[SEC_N];
    size_t nkeys;                 /* keys seen for this agent */
};

static struct compcfg *comp_get(struct collected *col, int sec, const char *name, size_t nlen,
                                bool create)
{
    for (size_t i = 0; i < col->ncomps[sec]; i++)
        if (strlen(col->comps[sec][i].name) == nlen &&
            memcmp(col->comps[sec][i].name, name, nlen) == 0)
            return &col->comps[sec][i];
    if (!create)
        return NULL;
    struct compcfg *nv = realloc(col->comps[sec], (col->ncomps[sec] + 1) * sizeof(*nv));
    if (nv == NULL)
        return NULL;
    col->comps[sec] = nv;
    struct compcfg *c = &nv[col->ncomps[sec]++];
    memset(c, 0, sizeof(*c));
    c->name = strndup(name, nlen);
    flm_kvs_init(&c->kvs);
    return c;
}

static void collected_free(struct collected *col)
{
    for (int s = 0; s < SEC_N; s++) {
        for (size_t i = 0; i < col->ncomps[s]; i++) {
            free(col->comps[s][i].name);
            flm_kvs_free(&col->comps[s][i].kvs);
        }
        free(col->comps[s]);
    }
}

static int collect(const struct flm_kvs *props, const char *agent, struct collected *col,
                   struct flm_diag *d)
{
    size_t alen = strlen(agent);
    memset(col, 0, sizeof(*col));
    for (size_t i = 0; i < props->n; i++) {
        struct flm_kv *kv = &props->v[i];
        const char *dot = strchr(kv->key, '.');
        if (dot == NULL || dot == kv->key) {
            flm_diag_add(d, FLM_SEV_WARN, kv->file, kv->line, "", kv->key,
                         "Invalid property specified: '%s' has no agent name prefix", kv->key);
            continue;
        }
        if ((size_t)(dot - kv->key) != alen || memcmp(kv->key, agent, alen) != 0)
            continue; /* another agent's key */
        col->nkeys++;
        const char *rest = dot + 1;
        if (kv->val[0] == '\0') {
            flm_diag_add(d, FLM_SEV_WARN, kv->file, kv->line, "", kv->key,
                         "property '%s' has an empty value; ignored", kv->key);
            continue;
        }
        int sec;
        for (sec = 0; sec < SEC_N; sec++) {
            size_t sl = strlen(sec_names[sec]);
            if (strncmp(rest, sec_names[sec], sl) != 0)
                continue;
            if (rest[sl] == '\0') {
                col->list[sec] = kv;
                break;
            }
            if (rest[sl] != '.')
                continue;
            const char *name = rest + sl + 1;
            const char *d2 = strchr(name, '.');
            if (d2 == NULL || d2 == name || d2[1] == '\0') {
                flm_diag_add(d, FLM_SEV_WARN, kv->file, kv->line, "", kv->key,
                             "Invalid property specified: '%s' (expected %s.%s.<name>.<key>)",
                             kv->key, agent, sec_names[sec]);
                break;
            }
            struct compcfg *c = comp_get(col, sec, name, (size_t)(d2 - name), true);
            if (c == NULL || c->name == NULL)
                return FLM_ENOMEM;
            if (c->file == NULL || kv->line < c->line) {
                c->file = kv->file;
                c->line = kv->line;
            }
            if (flm_kvs_add(&c->kvs, d2 + 1, kv->val, kv->file, kv->line) != FLM_OK)
                return FLM_ENOMEM;
            break;
        }
        if (sec == SEC_N)
            flm_diag_add(d, FLM_SEV_WARN, kv->file, kv->line, "", kv->key,
                         "Invalid property specified: '%s' is not a known agent key", kv->key);
    }
    return FLM_OK;
}

/* ------------------------------------------------------- 2. the cascade */

struct build {
    struct flm_agent *a;
    struct collected col;
    struct flm_diag *d;
    const char *agent;
    struct flm_configfilter **filters;
    size_t nfilters;
    bool fatal;
};

static void comp_path(char *buf, size_t cap, const char *agent, int sec, const char *name)
{
    snprintf(buf, cap, "%s.%s.%s", agent, sec_names[sec], name);
}

/* Resolves the `type` key of a component.  Returns the type, or NULL after
 * adding the right diagnostic (fatal_unknown: Flume aborts the whole load on
 * an unknown source/channel/sink type). */
static const struct flm_type *resolve_type(struct build *b, enum flm_kind kind,
                                           struct flm_kvs *kvs, const char *key,
                                           const char *path, const char *deflt,
                                           bool fatal_unknown, const char *file, int line)
{
    struct flm_kv *kv = flm_kvs_find(kvs, key);
    const char *tname = kv ? kv->val : deflt;
    if (kv != NULL)
        kv->used = 1;
    if (tname == NULL) {
        flm_diag_add(b->d, FLM_SEV_ERROR, file, line, path, key,
                     "Component has no type; %s %s removed", flm_kind_name(kind), path);
        return NULL;
    }
    const struct flm_type *t = flm_registry_find(kind, tname);
    if (t == NULL) {
        flm_diag_add(b->d, FLM_SEV_ERROR, kv ? kv->file : file, kv ? kv->line : line, path, key,
                     "Unable to load %s type: %s (not a known alias or Flume class name; see "
                     "`flumen help`)%s",
                     flm_kind_name(kind), tname,
                     fatal_unknown ? "; the configuration cannot be loaded" : "");
        if (fatal_unknown)
            b->fatal = true;
    }
    return t;
}

/* Allocates and parses a component's typed conf.  kvs: its relative keys,
 * with the keys the core consumes already marked used. */
static int comp_setup(struct flm_component *c, const struct flm_type *t, const char *path,
                      const char *name, struct flm_kvs *kvs, struct flm_diag *d)
{
    size_t first = d->n;
    snprintf(c->name, sizeof(c->name), "%s", name);
    snprintf(c->path, sizeof(c->path), "%s", path);
    c->type = t;
    flm_logctx_init(&c->log, path, t->alias);
    c->conf = calloc(1, t->conf_size ? t->conf_size : 1);
    if (c->conf == NULL)
        return FLM_ENOMEM;
    int rc = flm_props_load(t->props, kvs, c->conf, path, d);
    if (rc == FLM_OK && t->validate != NULL)
        rc = t->validate(c->conf, path, d);
    flm_props_warn_unused(t->props, kvs, path, d);
    /* Problems without a line of their own (a missing required key, a
     * cross-field rule) point at the component's first line. */
    const char *file = NULL;
    int line = 0;
    for (size_t i = 0; i < kvs->n; i++)
        if (kvs->v[i].file != NULL && (line == 0 || kvs->v[i].line < line)) {
            file = kvs->v[i].file;
            line = kvs->v[i].line;
        }
    for (size_t i = first; i < d->n; i++)
        if (d->v[i].file == NULL) {
            d->v[i].file = file;
            d->v[i].line = line;
        }
    return rc;
}

void flm_comp_release(struct flm_component *c)
{
    if (c->type != NULL)
        flm_props_free(c->type->props, c->conf);
    free(c->conf);
    c->conf = NULL;
}

static char *filter_lookup(const char *fname, const char *key, void *arg)
{
    struct build *b = arg;
    for (size_t i = 0; i < b->nfilters; i++) {
        struct flm_configfilter *f = b->filters[i];
        if (strcmp(f->c.name, fname) == 0) {
            const struct flm_configfilter_ops *ops = f->c.type->ops;
            return ops->lookup(f, key);
        }
    }
    return NULL;
}

static void filters_free(struct build *b)
{
    for (size_t i = 0; i < b->nfilters; i++) {
        struct flm_configfilter *f = b->filters[i];
        const struct flm_configfilter_ops *ops = f->c.type->ops;
        if (ops->destroy)
            ops->destroy(f);
        flm_comp_release(&f->c);
        free(f);
    }
    free(b->filters);
}

static int build_filters(struct build *b)
{
    struct flm_kv *lst = b->col.list[SEC_CONFIGFILTERS];
    if (lst == NULL)
        return FLM_OK;
    struct flm_strv names;
    if (flm_strv_split(&names, lst->val) != FLM_OK)
        return FLM_ENOMEM;
    b->filters = calloc(names.n + 1, sizeof(*b->filters));
    for (size_t i = 0; b->filters && i < names.n; i++) {
        char path[128];
        comp_path(path, sizeof(path), b->agent, SEC_CONFIGFILTERS, names.v[i]);
        struct compcfg *cc = comp_get(&b->col, SEC_CONFIGFILTERS, names.v[i], strlen(names.v[i]),
                                      false);
        if (cc == NULL) {
            flm_diag_add(b->d, FLM_SEV_WARN, lst->file, lst->line, path, "",
                         "Configuration empty for: %s. Removed.", names.v[i]);
            continue;
        }
        cc->listed = true;
        const struct flm_type *t = resolve_type(b, FLM_CONFIGFILTER, &cc->kvs, "type", path,
                                                NULL, false, cc->file, cc->line);
        if (t == NULL)
            continue;
        struct flm_configfilter *f = calloc(1, sizeof(*f));
        struct flm_err err = {0};
        const struct flm_configfilter_ops *ops = t->ops;
        if (f == NULL || comp_setup(&f->c, t, path, names.v[i], &cc->kvs, b->d) != FLM_OK ||
            (ops->init && ops->init(f, &err) != FLM_OK)) {
            if (err.msg[0])
                flm_diag_add(b->d, FLM_SEV_ERROR, cc->file, cc->line, path, "", "%s", err.msg);
            flm_diag_add(b->d, FLM_SEV_ERROR, cc->file, cc->line, path, "",
                         "config filter %s could not be created; skipped", names.v[i]);
            if (f) {
                flm_comp_release(&f->c);
                free(f);
            }
            continue;
        }
        b->filters[b->nfilters++] = f;
    }
    flm_strv_free(&names);
    if (b->filters == NULL)
        return FLM_ENOMEM;
    /* Substitute in sources, channels, sinks and sink groups (not in the
     * agent lists nor in the filters' own configs). */
    int secs[] = {SEC_SOURCES, SEC_CHANNELS, SEC_SINKS, SEC_SINKGROUPS};
    for (size_t s = 0; s < 4; s++)
        for (size_t i = 0; i < b->col.ncomps[secs[s]]; i++) {
            struct flm_kvs *kvs = &b->col.comps[secs[s]][i].kvs;
            for (size_t k = 0; k < kvs->n; k++) {
                if (strstr(kvs->v[k].val, "${") == NULL)
                    continue;
                char *nv = flm_filter_substitute(kvs->v[k].val, filter_lookup, b);
                if (nv == NULL)
                    return FLM_ENOMEM;
                free(kvs->v[k].val);
                kvs->v[k].val = nv;
            }
        }
    return FLM_OK;
}

/* Names from an agent-level list, each resolved to its config; unlisted
 * configs get a warning (Flume ignores them silently). */
static int listed_comps(struct build *b, int sec, struct flm_strv *names)
{
    struct flm_kv *lst = b->col.list[sec];
    names->v = NULL;
    names->n = 0;
    if (lst != NULL && flm_strv_split(names, lst->val) != FLM_OK)
        return FLM_ENOMEM;
    if (lst == NULL && flm_strv_split(names, "") != FLM_OK)
        return FLM_ENOMEM;
    for (size_t i = 0; i < b->col.ncomps[sec]; i++) {
        struct compcfg *cc = &b->col.comps[sec][i];
        if (!flm_strv_has(names, cc->name)) {
            char path[128];
            comp_path(path, sizeof(path), b->agent, sec, cc->name);
            flm_diag_add(b->d, FLM_SEV_WARN, cc->file, cc->line, path, "",
                         "%s '%s' is configured but not listed in %s.%s; ignored",
                         sec_names[sec], cc->name, b->agent, sec_names[sec]);
        } else {
            cc->listed = true;
        }
    }
    return FLM_OK;
}

static struct compcfg *listed_cfg(struct build *b, int sec, const char *name)
{
    struct compcfg *cc = comp_get(&b->col, sec, name, strlen(name), false);
    if (cc == NULL) {
        struct flm_kv *lst = b->col.list[sec];
        char path[128];
        comp_path(path, sizeof(path), b->agent, sec, name);
        flm_diag_add(b->d, FLM_SEV_WARN, lst ? lst->file : NULL, lst ? lst->line : 0, path, "",
                     "Configuration empty for: %s. Removed.", name);
    }
    return cc;
}

/* The i-th name of a section's list, if it should be built: skips a name
 * listed twice and one with no configuration (warned), then resolves its
 * type (an unknown type is fatal for sources, channels and sinks).  Fills
 * path; NULL when there is nothing to build. */
static struct compcfg *listed_typed(struct build *b, int sec, enum flm_kind kind,
                                    const struct flm_strv *names, size_t i, char *path,
                                    size_t pcap, const struct flm_type **t)
{
    if (i > 0 && flm_strv_has(&(struct flm_strv){names->v, i}, names->v[i]))
        return NULL; /* listed twice */
    comp_path(path, pcap, b->agent, sec, names->v[i]);
    struct compcfg *cc = listed_cfg(b, sec, names->v[i]);
    if (cc == NULL)
        return NULL;
    *t = resolve_type(b, kind, &cc->kvs, "type", path, NULL, true, cc->file, cc->line);
    return *t ? cc : NULL;
}

static long long chan_txcap(const struct flm_channel *ch)
{
    return flm_props_int_value(ch->c.type, ch->c.conf, ch->c.type->batch_key);
}

static int build_channels(struct build *b)
{
    struct flm_strv names;
    if (listed_comps(b, SEC_CHANNELS, &names) != FLM_OK)
        return FLM_ENOMEM;
    struct flm_agent *a = b->a;
    a->chans = calloc(names.n + 1, sizeof(*a->chans));
    if (a->chans == NULL) {
        flm_strv_free(&names);
        return FLM_ENOMEM;
    }
    for (size_t i = 0; i < names.n; i++) {
        char path[128];
        const struct flm_type *t;
        struct compcfg *cc = listed_typed(b, SEC_CHANNELS, FLM_CHANNEL, &names, i, path, sizeof(path), &t);
        if (cc == NULL)
            continue;
        struct flm_channel *ch = calloc(1, sizeof(*ch));
        if (ch == NULL) {
            flm_strv_free(&names);
            return FLM_ENOMEM;
        }
        if (comp_setup(&ch->c, t, path, names.v[i], &cc->kvs, b->d) != FLM_OK) {
            flm_diag_add(b->d, FLM_SEV_ERROR, cc->file, cc->line, path, "",
                         "Channel %s removed due to an error during configuration", names.v[i]);
            flm_comp_release(&ch->c);
            free(ch);
            continue;
        }
        a->chans[a->nchans++].ch = ch;
    }
    flm_strv_free(&names);
    return FLM_OK;
}

static ssize_t chan_index(struct flm_agent *a, const char *name)
{
    for (size_t i = 0; i < a->nchans; i++)
        if (strcmp(a->chans[i].ch->c.name, name) == 0)
            return (ssize_t)i;
    return -1;
}

/* Checks a batch size against the transaction capacity of a channel
 * (behaviours.md 8).  Returns false (with Flume's message) when too big. */
static bool batch_fits(struct build *b, bool is_source, const struct flm_component *c,
                       const struct flm_channel *ch, const char *file, int line)
{
    long long bs = flm_props_int_value(c->type, c->conf, c->type->batch_key);
    long long tc = chan_txcap(ch);
    if (bs < 0 || tc < 0 || bs <= tc)
        return true;
    const char *what = is_source ? "source" : "sink", *What = is_source ? "Source" : "Sink";
    flm_diag_add(b->d, FLM_SEV_ERROR, file, line, c->path, c->type->batch_key,
                 "%s %s has been removed: Incompatible %s and channel settings defined. %s's "
                 "batch size is greater than the channels transaction capacity. %s: %s, batch "
                 "size = %lld, channel %s, transaction capacity = %lld",
                 What, c->name, what, what, What, c->name, bs, ch->c.name, tc);
    return false;
}


static int build_sources(struct build *b)
{
    struct flm_strv names;
    if (listed_comps(b, SEC_SOURCES, &names) != FLM_OK)
        return FLM_ENOMEM;
    struct flm_agent *a = b->a;
    a->srcs = calloc(names.n + 1, sizeof(*a->srcs));
    if (a->srcs == NULL) {
        flm_strv_free(&names);
        return FLM_ENOMEM;
    }
    for (size_t i = 0; i < names.n; i++) {
        char path[128];
        const struct flm_type *t;
        struct compcfg *cc = listed_typed(b, SEC_SOURCES, FLM_SOURCE, &names, i, path, sizeof(path), &t);
        if (cc == NULL)
            continue;
        struct src_slot slot = {0};
        bool ok = true;

        /* Channels: keep the valid ones (Flume silently drops the others; we say so). */
        struct flm_kv *chkv = flm_kvs_find(&cc->kvs, "channels");
        struct flm_strv chn = {0};
        if (chkv != NULL) {
            chkv->used = 1;
            if (flm_strv_split(&chn, chkv->val) != FLM_OK)
                return FLM_ENOMEM;
        }
        slot.chan = calloc(chn.n + 1, sizeof(size_t));
        for (size_t k = 0; slot.chan && k < chn.n; k++) {
            ssize_t ci = chan_index(a, chn.v[k]);
            if (ci < 0) {
                flm_diag_add(b->d, FLM_SEV_WARN, chkv->file, chkv->line, path, "channels",
                             "channel '%s' is not an active channel; removed from the list of "
                             "source %s",
                             chn.v[k], names.v[i]);
                continue;
            }
            bool dup = false;
            for (size_t j = 0; j < slot.nchan; j++)
                dup |= slot.chan[j] == (size_t)ci;
            if (!dup && slot.nchan < FLM_MAX_SOURCE_CHANNELS)
                slot.chan[slot.nchan++] = (size_t)ci;
        }
        flm_strv_free(&chn);
        if (slot.nchan == 0) {
            flm_diag_add(b->d, FLM_SEV_ERROR, chkv ? chkv->file : cc->file,
                         chkv ? chkv->line : cc->line, path, "channels",
                         "Could not configure source %s: No channels set for %s", names.v[i],
                         names.v[i]);
            ok = false;
        }

        /* Selector: keys selector.*, type defaulting to replicating. */
        struct flm_kvs selkv;
        flm_kvs_init(&selkv);
        flm_kvs_sub(&cc->kvs, "selector.", &selkv);
        for (size_t k = 0; k < cc->kvs.n; k++)
            if (strncmp(cc->kvs.v[k].key, "selector.", 9) == 0)
                cc->kvs.v[k].used = 1;
        char selpath[160];
        snprintf(selpath, sizeof(selpath), "%s.selector", path);
        const struct flm_type *st = resolve_type(b, FLM_SELECTOR, &selkv, "type", selpath,
                                                 "replicating", false, cc->file, cc->line);
        if (st == NULL) {
            ok = false;
        } else if (ok) {
            slot.sel = calloc(1, sizeof(*slot.sel));
            slot.sel->chans = calloc(slot.nchan + 1, sizeof(struct flm_channel *));
            for (size_t k = 0; k < slot.nchan; k++)
                slot.sel->chans[k] = a->chans[slot.chan[k]].ch;
            slot.sel->nchans = slot.nchan;
            const struct flm_selector_ops *sops = st->ops;
            if (comp_setup(&slot.sel->c, st, selpath, "selector", &selkv, b->d) != FLM_OK ||
                (sops->init && sops->init(slot.sel, b->d) != FLM_OK))
                ok = false;
        }
        flm_kvs_free(&selkv);

        /* Interceptors: the list, then interceptors.<i>.type and keys. */
        struct flm_kv *ickv = flm_kvs_find(&cc->kvs, "interceptors");
        for (size_t k = 0; k < cc->kvs.n; k++)
            if (strncmp(cc->kvs.v[k].key, "interceptors.", 13) == 0)
                cc->kvs.v[k].used = 1;
        if (ickv != NULL) {
            ickv->used = 1;
            struct flm_strv icn;
            if (flm_strv_split(&icn, ickv->val) != FLM_OK)
                return FLM_ENOMEM;
            slot.ics = calloc(icn.n + 1, sizeof(*slot.ics));
            for (size_t k = 0; ok && slot.ics && k < icn.n; k++) {
                char pfx[160], icpath[200];
                snprintf(pfx, sizeof(pfx), "interceptors.%s.", icn.v[k]);
                snprintf(icpath, sizeof(icpath), "%s.interceptors.%s", path, icn.v[k]);
                struct flm_kvs ickvs;
                flm_kvs_init(&ickvs);
                flm_kvs_sub(&cc->kvs, pfx, &ickvs);
                const struct flm_type *it = resolve_type(b, FLM_INTERCEPTOR, &ickvs, "type",
                                                         icpath, NULL, false, ickv->file,
                                                         ickv->line);
                if (it == NULL) {
                    ok = false;
                } else {
                    struct flm_interceptor *ic = calloc(1, sizeof(*ic));
                    if (ic == NULL || comp_setup(&ic->c, it, icpath, icn.v[k], &ickvs, b->d) !=
                                          FLM_OK) {
                        ok = false;
                        if (ic) {
                            flm_comp_release(&ic->c);
                            free(ic);
                        }
                    } else {
                        slot.ics[slot.nics++] = ic;
                    }
                }
                flm_kvs_free(&ickvs);
            }
            flm_strv_free(&icn);
        }

        slot.src = calloc(1, sizeof(*slot.src));
        if (slot.src == NULL || slot.chan == NULL)
            return FLM_ENOMEM;
        if (comp_setup(&slot.src->c, t, path, names.v[i], &cc->kvs, b->d) != FLM_OK)
            ok = false;
        for (size_t k = 0; ok && k < slot.nchan; k++)
            if (!batch_fits(b, true, &slot.src->c, a->chans[slot.chan[k]].ch, cc->file,
                            cc->line))
                ok = false;
        if (!ok) {
            flm_diag_add(b->d, FLM_SEV_ERROR, cc->file, cc->line, path, "",
                         "Source %s has been removed due to an error during configuration",
                         names.v[i]);
            flm_src_slot_free(&slot);
            continue;
        }
        for (size_t k = 0; k < slot.nchan; k++)
            a->chans[slot.chan[k]].nusers++;
        a->srcs[a->nsrcs++] = slot;
    }
    flm_strv_free(&names);
    return FLM_OK;
}

static int build_sinks(struct build *b)
{
    struct flm_strv names;
    if (listed_comps(b, SEC_SINKS, &names) != FLM_OK)
        return FLM_ENOMEM;
    struct flm_agent *a = b->a;
    a->sinks = calloc(names.n + 1, sizeof(*a->sinks));
    if (a->sinks == NULL) {
        flm_strv_free(&names);
        return FLM_ENOMEM;
    }
    for (size_t i = 0; i < names.n; i++) {
        char path[128];
        const struct flm_type *t;
        struct compcfg *cc = listed_typed(b, SEC_SINKS, FLM_SINK, &names, i, path, sizeof(path), &t);
        if (cc == NULL)
            continue;
        struct flm_kv *chkv = flm_kvs_find(&cc->kvs, "channel");
        ssize_t ci = -1;
        if (chkv != NULL) {
            chkv->used = 1;
            ci = chan_index(a, chkv->val);
        }
        struct flm_sink *s = calloc(1, sizeof(*s));
        if (s == NULL)
            return FLM_ENOMEM;
        bool ok = comp_setup(&s->c, t, path, names.v[i], &cc->kvs, b->d) == FLM_OK;
        if (ci < 0) {
            flm_diag_add(b->d, FLM_SEV_ERROR, chkv ? chkv->file : cc->file,
                         chkv ? chkv->line : cc->line, path, "channel",
                         "Could not configure sink %s due to: Channel %s not in active set.",
                         names.v[i], chkv ? chkv->val : "(none: the 'channel' key is missing)");
            ok = false;
        } else if (ok && !batch_fits(b, false, &s->c, a->chans[ci].ch, cc->file, cc->line)) {
            ok = false;
        }
        if (!ok) {
            if (ci >= 0)
                flm_diag_add(b->d, FLM_SEV_ERROR, cc->file, cc->line, path, "",
                             "Sink %s has been removed due to an error during configuration",
                             names.v[i]);
            flm_comp_release(&s->c);
            free(s);
            continue;
        }
        a->chans[ci].nusers++;
        a->sinks[a->nsinks++] = (struct sink_slot){.sink = s, .chan = (size_t)ci};
    }
    flm_strv_free(&names);
    return FLM_OK;
}

static ssize_t sink_index(struct flm_agent *a, const char *name)
{
    for (size_t i = 0; i < a->nsinks; i++)
        if (strcmp(a->sinks[i].sink->c.name, name) == 0)
            return (ssize_t)i;
    return -1;
}

static int add_group(struct flm_agent *a, const struct flm_type *pt, const char *path,
                     const char *name, struct flm_kvs *kvs, size_t *members, size_t n,
                     bool implicit, struct flm_diag *d)
{
    struct flm_sinkgroup *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return FLM_ENOMEM;
    struct flm_kvs empty;
    flm_kvs_init(&empty);
    if (comp_setup(&g->c, pt, path, name, kvs ? kvs : &empty, d) != FLM_OK) {
        flm_comp_release(&g->c);
        free(g);
        free(members);
        return FLM_ERR;
    }
    g->sinks = calloc(n + 1, sizeof(*g->sinks));
    for (size_t i = 0; g->sinks && i < n; i++) {
        g->sinks[i] = a->sinks[members[i]].sink;
        a->sinks[members[i]].grouped = true;
    }
    g->nsinks = n;
    a->groups[a->ngroups++] = (struct group_slot){.g = g, .members = members, .nmembers = n,
                                                  .implicit = implicit};
    return FLM_OK;
}

static int build_groups(struct build *b)
{
    struct flm_strv names;
    if (listed_comps(b, SEC_SINKGROUPS, &names) != FLM_OK)
        return FLM_ENOMEM;
    struct flm_agent *a = b->a;
    a->groups = calloc(names.n + a->nsinks + 1, sizeof(*a->groups));
    if (a->groups == NULL) {
        flm_strv_free(&names);
        return FLM_ENOMEM;
    }
    for (size_t i = 0; i < names.n; i++) {
        char path[128];
        comp_path(path, sizeof(path), b->agent, SEC_SINKGROUPS, names.v[i]);
        struct compcfg *cc = listed_cfg(b, SEC_SINKGROUPS, names.v[i]);
        if (cc == NULL)
            continue;
        struct flm_kv *skv = flm_kvs_find(&cc->kvs, "sinks");
        struct flm_strv sn = {0};
        if (skv != NULL) {
            skv->used = 1;
            if (flm_strv_split(&sn, skv->val) != FLM_OK)
                return FLM_ENOMEM;
        }
        size_t *members = calloc(sn.n + 1, sizeof(size_t));
        size_t nm = 0;
        for (size_t k = 0; members && k < sn.n; k++) {
            ssize_t si = sink_index(a, sn.v[k]);
            if (si < 0) {
                flm_diag_add(b->d, FLM_SEV_WARN, skv->file, skv->line, path, "sinks",
                             "sink '%s' is not an active sink; removed from group %s", sn.v[k],
                             names.v[i]);
                continue;
            }
            if (a->sinks[si].grouped) {
                flm_diag_add(b->d, FLM_SEV_WARN, skv->file, skv->line, path, "sinks",
                             "sink '%s' already belongs to another sink group; removed from "
                             "group %s",
                             sn.v[k], names.v[i]);
                continue;
            }
            bool dup = false;
            for (size_t j = 0; j < nm; j++)
                dup |= members[j] == (size_t)si;
            if (!dup)
                members[nm++] = (size_t)si;
        }
        flm_strv_free(&sn);
        if (nm == 0) {
            flm_diag_add(b->d, FLM_SEV_ERROR, skv ? skv->file : cc->file,
                         skv ? skv->line : cc->line, path, "sinks",
                         "sink group %s has no usable sinks; removed", names.v[i]);
            free(members);
            continue;
        }
        struct flm_kvs pk;
        flm_kvs_init(&pk);
        flm_kvs_sub(&cc->kvs, "processor.", &pk);
        for (size_t k = 0; k < cc->kvs.n; k++)
            if (strncmp(cc->kvs.v[k].key, "processor.", 10) == 0)
                cc->kvs.v[k].used = 1;
        char ppath[160];
        snprintf(ppath, sizeof(ppath), "%s.processor", path);
        const struct flm_type *pt = resolve_type(b, FLM_SINKPROC, &pk, "type", ppath, "default",
                                                 false, cc->file, cc->line);
        flm_props_warn_unused(NULL, &cc->kvs, path, b->d);
        if (pt == NULL) {
            flm_diag_add(b->d, FLM_SEV_ERROR, cc->file, cc->line, path, "",
                         "sink group %s removed", names.v[i]);
            free(members);
            flm_kvs_free(&pk);
            continue;
        }
        int rc = add_group(a, pt, path, names.v[i], &pk, members, nm, false, b->d);
        flm_kvs_free(&pk);
        if (rc == FLM_ENOMEM)
            return rc;
    }
    flm_strv_free(&names);
    /* Every ungrouped sink runs under its own default processor. */
    const struct flm_type *def = flm_registry_find(FLM_SINKPROC, "default");
    for (size_t i = 0; i < a->nsinks; i++) {
        if (a->sinks[i].grouped)
            continue;
        size_t *m = malloc(sizeof(size_t));
        if (m == NULL)
            return FLM_ENOMEM;
        m[0] = i;
        int rc = add_group(a, def, a->sinks[i].sink->c.path, a->sinks[i].sink->c.name, NULL, m,
                           1, true, b->d);
        if (rc == FLM_ENOMEM)
            return rc;
    }
    return FLM_OK;
}

/* Moves recyclable channels over from the previous agent (reload). */
static void adopt_channels(struct flm_agent *a, struct flm_agent *prev)
{
    if (prev == NULL)
        return;
    for (size_t i = 0; i < a->nchans; i++) {
        struct chan_slot *ns = &a->chans[i];
        for (size_t j = 0; j < prev->nchans; j++) {
            struct chan_slot *os = &prev->chans[j];
            if (os->moved || os->ch == NULL || !os->live)
                continue;
            const struct flm_channel_ops *ops = os->ch->c.type->ops;
            if (strcmp(os->ch->c.name, ns->ch->c.name) != 0 || os->ch->c.type != ns->ch->c.type ||
                ops->reconfigure == NULL)
                continue;
            struct flm_channel *fresh = ns->ch;
            ns->newconf = fresh->c.conf;   /* applied at start */
            fresh->c.conf = NULL;
            free(fresh);
            ns->ch = os->ch;
            ns->reused = true;
            os->moved = true;
            /* Re-point selectors and sinks built against the fresh instance. */
            for (size_t s = 0; s < a->nsrcs; s++)
                for (size_t k = 0; k < a->srcs[s].nchan; k++)
                    if (a->srcs[s].chan[k] == i && a->srcs[s].sel != NULL)
                        a->srcs[s].sel->chans[k] = ns->ch;
            for (size_t s = 0; s < a->nsinks; s++)
                if (a->sinks[s].chan == i)
                    a->sinks[s].sink->channel = ns->ch;
            break;
        }
    }
}

int flm_agent_build(const struct flm_kvs *props, const char *name, struct flm_agent *prev,
                    struct flm_diag *d, struct flm_agent **out)
{
    struct build b = {.d = d, .agent = name};
    int rc = FLM_ENOMEM;
    *out = NULL;
    b.a = calloc(1, sizeof(*b.a));
    if (b.a == NULL)
        return FLM_ENOMEM;
    snprintf(b.a->name, sizeof(b.a->name), "%s", name);
    if ((rc = collect(props, name, &b.col, d)) != FLM_OK)
        goto fail;
    if (b.col.nkeys == 0) {
        flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, name, "",
                     "No configuration found for this host:%s", name);
        goto done;
    }
    if ((rc = build_filters(&b)) != FLM_OK)
        goto fail;
    if (b.col.list[SEC_CHANNELS] == NULL) {
        flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, name, "channels",
                     "agent %s has no '%s.channels' list: the agent configuration is invalid "
                     "and nothing will run",
                     name, name);
        goto done;
    }
    if ((rc = build_channels(&b)) != FLM_OK)
        goto fail;
    if (b.fatal)
        goto fatal;
    if (b.a->nchans == 0) {
        flm_diag_add(d, FLM_SEV_ERROR, b.col.list[SEC_CHANNELS]->file,
                     b.col.list[SEC_CHANNELS]->line, name, "channels",
                     "agent %s has no valid channel: the agent configuration is invalid and "
                     "nothing will run",
                     name);
        goto done;
    }
    if ((rc = build_sources(&b)) != FLM_OK)
        goto fail;
    if ((rc = build_sinks(&b)) != FLM_OK)
        goto fail;
    if (b.fatal)
        goto fatal;
    if ((rc = build_groups(&b)) != FLM_OK)
        goto fail;
    /* Channels nobody uses are removed (a channel with only a source stays). */
    for (size_t i = 0; i < b.a->nchans;) {
        if (b.a->chans[i].nusers > 0) {
            i++;
            continue;
        }
        struct flm_channel *ch = b.a->chans[i].ch;
        flm_diag_add(d, FLM_SEV_WARN, NULL, 0, ch->c.path, "",
                     "Channel %s has no components connected and has been removed.", ch->c.name);
        flm_comp_release(&ch->c);
        free(ch);
        /* Fix indexes held by sources and sinks (none refer to i). */
        for (size_t s = 0; s < b.a->nsrcs; s++)
            for (size_t k = 0; k < b.a->srcs[s].nchan; k++)
                if (b.a->srcs[s].chan[k] > i)
                    b.a->srcs[s].chan[k]--;
        for (size_t s = 0; s < b.a->nsinks; s++)
            if (b.a->sinks[s].chan > i)
                b.a->sinks[s].chan--;
        memmove(&b.a->chans[i], &b.a->chans[i + 1], (b.a->nchans - i - 1) * sizeof(b.a->chans[0]));
        b.a->nchans--;
    }
    if (b.a->nsrcs == 0 && b.a->nsinks == 0) {
        flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, name, "",
                     "agent %s has no valid sources and no valid sinks: nothing will run", name);
        flm_agent_free(b.a);
        b.a = calloc(1, sizeof(*b.a));
        if (b.a == NULL) {
            rc = FLM_ENOMEM;
            goto fail;
        }
        snprintf(b.a->name, sizeof(b.a->name), "%s", name);
        goto done;
    }
    for (size_t s = 0; s < b.a->nsinks; s++)
        b.a->sinks[s].sink->channel = b.a->chans[b.a->sinks[s].chan].ch;
    adopt_channels(b.a, prev);
done:
    filters_free(&b);
    collected_free(&b.col);
    *out = b.a;
    return FLM_OK;
fatal:
    rc = FLM_ERR;
fail:
    filters_free(&b);
    collected_free(&b.col);
    flm_agent_free(b.a);
    return rc;
}

