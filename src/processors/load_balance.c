/*
 * load_balance.c - the load-balancing sink processor (behaviours.md 5).
 * Each process() call orders the available sinks (round_robin: the start
 * moves one place per call; random: a fresh permutation) and tries them in
 * that order until one returns READY or BACKOFF, which is returned as is.  A
 * sink that fails (negative code: it has rolled back, nothing is lost) is
 * skipped for this call; with backoff=true it is also left out of later calls
 * until now + min(selector.maxTimeOut, 2^k s), k growing (up to 16) while
 * failures come within the previous back-off + 1 hour, else back to 1.  When
 * every sink failed or none is available the call fails ("All configured
 * sinks have failed") and the runner sleeps 5 s.
 *
 * Owns: the per-sink back-off state and the order scratch array in the
 * group's ctx.  init runs on the main thread at start; process() only on the
 * group's runner thread.
 */
#include "processors/sinkproc.h"

#include "core/component.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/random.h>

#define LB_SEQUENTIAL_RANGE_MS 3600000ull   /* Flume's CONSIDER_SEQUENTIAL_RANGE */
#define LB_MAX_EXP 16                       /* Flume's EXP_BACKOFF_COUNTER_LIMIT */

struct lb_conf {
    int selector;             /* 0 round_robin, 1 random */
    bool backoff;
    long long max_timeout;    /* ms */
};

static const char *const lb_selectors[] = {"round_robin", "random", NULL};

static const struct flm_prop lb_props[] = {
    {"selector", FLM_P_ENUM, FLM_OFF(struct lb_conf, selector), "round_robin", 0, 0, 0,
     lb_selectors, NULL,
     "round_robin or random: the order sinks are tried in (custom selector classes are not "
     "supported)."},
    {"backoff", FLM_P_BOOL, FLM_OFF(struct lb_conf, backoff), "false", 0, 0, 0, NULL, NULL,
     "Leave a failed sink out for an exponentially growing time."},
    {"selector.maxTimeOut", FLM_P_LONG, FLM_OFF(struct lb_conf, max_timeout), "30000", 0, 0,
     LLONG_MAX, NULL, NULL, "Longest back-off of a failed sink, ms."},
    FLM_PROPS_END,
};

struct lb_state {
    unsigned seq_fails;
    uint64_t last_fail;       /* ms */
    uint64_t restore;         /* ms: available again when restore < now */
};

struct lb_ctx {
    struct lb_state *st;      /* per sink, same index as g->sinks */
    size_t *order;            /* scratch: indices tried this call */
    size_t next_head;         /* round_robin */
    uint64_t rng;             /* random: xorshift64 state, never 0 */
};

static void lb_destroy(struct flm_sinkgroup *g)
{
    struct lb_ctx *x = g->c.ctx;
    if (x != NULL) {
        free(x->st);
        free(x->order);
    }
    free(x);
    g->c.ctx = NULL;
}

static int lb_init(struct flm_sinkgroup *g, struct flm_err *err)
{
    if (g->nsinks < 2)
        return flm_err_set(err, FLM_ERR,
                           "a load_balance sink group needs at least two working sinks, has %zu",
                           g->nsinks);
    lb_destroy(g);
    struct lb_ctx *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    g->c.ctx = x;
    x->st = calloc(g->nsinks, sizeof(*x->st));
    x->order = calloc(g->nsinks, sizeof(*x->order));
    if (x->st == NULL || x->order == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    if (getrandom(&x->rng, sizeof(x->rng), GRND_NONBLOCK) != (ssize_t)sizeof(x->rng))
        x->rng = flm_sinkproc_clock() * 0x9E3779B97F4A7C15ull;
    x->rng |= 1;
    return FLM_OK;
}

static uint64_t lb_rand(struct lb_ctx *x)
{
    x->rng ^= x->rng << 13;
    x->rng ^= x->rng >> 7;
    x->rng ^= x->rng << 17;
    return x->rng;
}

static void lb_failed(struct flm_sinkgroup *g, const struct lb_conf *c, struct lb_ctx *x,
                      size_t i)
{
    flm_log_limited(FLM_LOG_WARN, &g->c.log, 0,
                    "Sink %s failed to consume event. Attempting next sink if available.",
                    g->sinks[i]->c.name);
    if (!c->backoff)
        return;
    struct lb_state *s = &x->st[i];
    uint64_t now = flm_sinkproc_clock();
    uint64_t delta = now - s->last_fail;
    uint64_t last_len = flm_sinkproc_penalty(s->seq_fails, (uint64_t)c->max_timeout);
    if (s->last_fail != 0 && delta < last_len + LB_SEQUENTIAL_RANGE_MS) {
        if (s->seq_fails < LB_MAX_EXP)
            s->seq_fails++;
    } else {
        s->seq_fails = 1;
    }
    s->last_fail = now;
    s->restore = now + flm_sinkproc_penalty(s->seq_fails, (uint64_t)c->max_timeout);
}

/* Reverses v[a..b). */
static void lb_reverse(size_t *v, size_t a, size_t b)
{
    while (a + 1 < b) {
        size_t t = v[a];
        v[a++] = v[--b];
        v[b] = t;
    }
}

static int lb_process(struct flm_sinkgroup *g)
{
    const struct lb_conf *c = g->c.conf;
    struct lb_ctx *x = g->c.ctx;
    uint64_t now = flm_sinkproc_clock();
    size_t n = 0;
    for (size_t i = 0; i < g->nsinks; i++)
        if (!c->backoff || x->st[i].restore < now)
            x->order[n++] = i;
    if (c->selector == 0 && n > 0) {
        /* Rotate the available list so each call starts one place later. */
        if (x->next_head >= n)
            x->next_head = 0;
        size_t begin = x->next_head++;
        if (x->next_head == n)
            x->next_head = 0;
        lb_reverse(x->order, 0, begin);
        lb_reverse(x->order, begin, n);
        lb_reverse(x->order, 0, n);
    } else if (n > 1) {
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = (size_t)(lb_rand(x) % (i + 1));
            size_t t = x->order[i];
            x->order[i] = x->order[j];
            x->order[j] = t;
        }
    }
    for (size_t k = 0; k < n; k++) {
        struct flm_sink *s = g->sinks[x->order[k]];
        const struct flm_sink_ops *ops = s->c.type->ops;
        int rc = ops->process(s);
        if (rc >= 0)
            return rc;
        lb_failed(g, c, x, x->order[k]);
    }
    flm_log_limited(FLM_LOG_ERROR, &g->c.log, 0, "All configured sinks have failed%s",
                    n == 0 ? " (every sink is backed off)" : "");
    return FLM_ERR;
}

static const struct flm_sinkproc_ops lb_ops = {
    .init = lb_init,
    .process = lb_process,
    .destroy = lb_destroy,
};

const struct flm_type flm_sinkproc_load_balance = {
    .kind = FLM_SINKPROC,
    .alias = "load_balance",
    .klass = "org.apache.flume.sink.LoadBalancingSinkProcessor",
    .summary = "Spreads process() calls over its sinks (round_robin or random), skipping and "
               "optionally backing off failed ones.",
    .props = lb_props,
    .conf_size = sizeof(struct lb_conf),
    .ops = &lb_ops,
};
