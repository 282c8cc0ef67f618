/*
 * failover.c - the failover sink processor (behaviours.md 5).  The active
 * sink is the live sink with the highest priority; a sink whose process()
 * fails (a negative code: Flume's exception; the sink has rolled back, so
 * nothing is lost) goes to the failed pool with a cool-down of
 * min(maxpenalty, 2^k s), k = consecutive failures from 1, and the next live
 * sink is tried in the same call.  At the start of every call, failed sinks
 * whose cool-down has ended are retried, earliest end first: READY brings the
 * sink back (and READY is returned), BACKOFF leaves it failed without a new
 * penalty (and BACKOFF is returned), a failure raises k and moves on.
 *
 * Owns: the per-sink state array in the group's ctx.  init runs on the main
 * thread at start; process() runs only on the group's runner thread.
 *
 * Differences from Flume (docs/compatibility.md): unset priorities are
 * -1, -2, ... in the order of the group's `sinks` list (Flume: hash order),
 * skipping values another sink set explicitly; two sinks with the same
 * explicit priority are a configuration error (Flume drops one of them with
 * a warning and its channel is then never drained by the group).
 */
#include "processors/sinkproc.h"

#include "core/component.h"
#include "core/counters.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

uint64_t (*flm_sinkproc_clock)(void) = flm_mono_ms;

struct fo_conf {
    struct flm_kvs priority;  /* "priority.<sink>" with the prefix stripped */
    long long maxpenalty;     /* ms */
};

static const struct flm_prop fo_props[] = {
    {"priority.", FLM_P_PREFIX, FLM_OFF(struct fo_conf, priority), NULL, 0, 0, 0, NULL, NULL,
     "priority.<sink> = integer; the live sink with the largest value is used (unset: -1, -2, "
     "... in list order)."},
    {"maxpenalty", FLM_P_LONG, FLM_OFF(struct fo_conf, maxpenalty), "30000", 0, 0, LLONG_MAX,
     NULL, NULL, "Longest cool-down of a failed sink, ms (penalties are 2 s, 4 s, 8 s, ...)."},
    FLM_PROPS_END,
};

struct fo_sink {
    struct flm_sink *s;
    int prio;
    bool failed;
    unsigned fails;           /* consecutive failures while in the failed pool */
    uint64_t refresh;         /* ms (flm_sinkproc_clock): retry after this */
};

struct fo_ctx {
    struct fo_sink *v;        /* sorted by priority, highest first */
    size_t n;
};

/* Java Integer.parseInt; false when the text is not an int. */
static bool fo_parse_prio(const char *s, int *out)
{
    long long v;
    if (flm_parse_long(s, &v) != 0 || v < INT_MIN || v > INT_MAX)
        return false;
    *out = (int)v;
    return true;
}

static int fo_validate(void *conf, const char *comp, struct flm_diag *d)
{
    const struct fo_conf *c = conf;
    int rc = FLM_OK;
    for (size_t i = 0; i < c->priority.n; i++) {
        const struct flm_kv *kv = &c->priority.v[i];
        char key[160];
        snprintf(key, sizeof(key), "priority.%s", kv->key);
        int p;
        if (!fo_parse_prio(kv->val, &p)) {
            flm_diag_add(d, FLM_SEV_WARN, kv->file, kv->line, comp, key,
                         "'%s' is not an integer; sink %s gets an automatic (negative) priority",
                         kv->val, kv->key);
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            int q;
            if (fo_parse_prio(c->priority.v[j].val, &q) && q == p) {
                flm_diag_add(d, FLM_SEV_ERROR, kv->file, kv->line, comp, key,
                             "priority %d is also the priority of sink %s: each sink of a "
                             "failover group needs its own priority",
                             p, c->priority.v[j].key);
                rc = FLM_ERR;
            }
        }
    }
    return rc;
}

static int fo_cmp(const void *a, const void *b)
{
    const struct fo_sink *x = a, *y = b;
    return x->prio < y->prio ? 1 : x->prio > y->prio ? -1 : 0;
}

static void fo_destroy(struct flm_sinkgroup *g)
{
    struct fo_ctx *x = g->c.ctx;
    if (x != NULL)
        free(x->v);
    free(x);
    g->c.ctx = NULL;
}

static int fo_init(struct flm_sinkgroup *g, struct flm_err *err)
{
    const struct fo_conf *c = g->c.conf;
    fo_destroy(g); /* a restart of the group starts with every sink live */
    struct fo_ctx *x = calloc(1, sizeof(*x));
    if (x == NULL || (x->v = calloc(g->nsinks + 1, sizeof(*x->v))) == NULL) {
        free(x);
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    }
    g->c.ctx = x;
    x->n = g->nsinks;
    bool *set = calloc(g->nsinks + 1, sizeof(bool));
    if (set == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    for (size_t i = 0; i < g->nsinks; i++) {
        x->v[i].s = g->sinks[i];
        const char *pv = flm_kvs_get(&c->priority, g->sinks[i]->c.name);
        set[i] = pv != NULL && fo_parse_prio(pv, &x->v[i].prio);
    }
    int next = 0;
    for (size_t i = 0; i < g->nsinks; i++) {
        if (set[i])
            continue;
        for (;;) {
            bool taken = false;
            --next;
            for (size_t j = 0; j < g->nsinks; j++)
                taken |= set[j] && x->v[j].prio == next;
            if (!taken)
                break;
        }
        x->v[i].prio = next;
    }
    free(set);
    /* Stable for equal priorities (cannot happen after validate, but keep
     * list order if it ever does). */
    for (size_t i = 1; i < x->n; i++)
        for (size_t j = i; j > 0 && fo_cmp(&x->v[j - 1], &x->v[j]) > 0; j--) {
            struct fo_sink t = x->v[j];
            x->v[j] = x->v[j - 1];
            x->v[j - 1] = t;
        }
    for (size_t i = 0; i < x->n; i++)
        flm_debug(&g->c.log, "sink %s has priority %d", x->v[i].s->c.name, x->v[i].prio);
    return FLM_OK;
}

static void fo_penalise(struct flm_sinkgroup *g, const struct fo_conf *c, struct fo_sink *fs)
{
    fs->failed = true;
    fs->fails++;
    uint64_t pen = flm_sinkproc_penalty(fs->fails, (uint64_t)c->maxpenalty);
    fs->refresh = flm_sinkproc_clock() + pen;
    flm_log_limited(FLM_LOG_WARN, &g->c.log, 0,
                    "Sink %s failed and has been sent to failover list (failure %u; retried "
                    "after %llu ms)",
                    fs->s->c.name, fs->fails, (unsigned long long)pen);
}

static int fo_process(struct flm_sinkgroup *g)
{
    const struct fo_conf *c = g->c.conf;
    struct fo_ctx *x = g->c.ctx;
    uint64_t now = flm_sinkproc_clock();

    /* Failed sinks whose cool-down ended, earliest end first. */
    for (;;) {
        struct fo_sink *best = NULL;
        for (size_t i = 0; i < x->n; i++) {
            struct fo_sink *fs = &x->v[i];
            if (fs->failed && fs->refresh < now && (best == NULL || fs->refresh < best->refresh))
                best = fs;
        }
        if (best == NULL)
            break;
        const struct flm_sink_ops *ops = best->s->c.type->ops;
        int rc = ops->process(best->s);
        if (rc == FLM_READY) {
            best->failed = false;
            best->fails = 0;
            flm_info(&g->c.log, "Sink %s was recovered from the fail list", best->s->c.name);
            return FLM_READY;
        }
        if (rc == FLM_BACKOFF)
            return FLM_BACKOFF;
        fo_penalise(g, c, best);
    }

    for (size_t i = 0; i < x->n; i++) {
        struct fo_sink *fs = &x->v[i];
        if (fs->failed)
            continue;
        const struct flm_sink_ops *ops = fs->s->c.type->ops;
        int rc = ops->process(fs->s);
        if (rc >= 0)
            return rc;
        fo_penalise(g, c, fs);
    }
    flm_log_limited(FLM_LOG_ERROR, &g->c.log, 0,
                    "All sinks failed to process, nothing left to failover to");
    return FLM_ERR;
}

static const struct flm_sinkproc_ops fo_ops = {
    .init = fo_init,
    .process = fo_process,
    .destroy = fo_destroy,
};

const struct flm_type flm_sinkproc_failover = {
    .kind = FLM_SINKPROC,
    .alias = "failover",
    .klass = "org.apache.flume.sink.FailoverSinkProcessor",
    .summary = "Sends through the highest-priority working sink; failed sinks cool down "
               "(2 s, 4 s, ... up to maxpenalty) before they are retried.",
    .props = fo_props,
    .conf_size = sizeof(struct fo_conf),
    .validate = fo_validate,
    .ops = &fo_ops,
};
