/*
 * load_balancing.c - the load-balancing channel selector (behaviours.md 4):
 * each event goes to exactly one of the source's channels, chosen round-robin
 * over a shared counter or at random; there are no optional channels.
 *
 * Owns: the counter / PRNG state in its ctx.  select() runs on the source's
 * thread; the counter is atomic anyway so a source with several threads
 * stays correct, and the PRNG state is per selector (a race there only costs
 * randomness, never memory safety, but no current source calls it from two
 * threads).
 */
#include "core/component.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

struct lbsel_conf {
    int policy;               /* index into lbsel_policies */
};

static const char *const lbsel_policies[] = {"round_robin", "random", NULL};

static const struct flm_prop lbsel_props[] = {
    {"policy", FLM_P_ENUM, FLM_OFF(struct lbsel_conf, policy), "round_robin", 0, 0, 0,
     lbsel_policies, NULL, "round_robin or random: how the one channel of each event is chosen."},
    FLM_PROPS_END,
};

struct lbsel_ctx {
    _Atomic uint64_t next;    /* round_robin: events routed so far */
    uint64_t rng;             /* random: xorshift64* state, never 0 */
};

static int lbsel_init(struct flm_selector *sel, struct flm_diag *d)
{
    struct lbsel_ctx *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return FLM_ENOMEM;
    if (getrandom(&x->rng, sizeof(x->rng), GRND_NONBLOCK) != (ssize_t)sizeof(x->rng)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        x->rng = (uint64_t)ts.tv_nsec * 2654435761u + (uint64_t)ts.tv_sec;
    }
    x->rng |= 1;
    sel->c.ctx = x;
    uint64_t all = sel->nchans >= 64 ? ~0ull : ((1ull << sel->nchans) - 1);
    sel->req_mask = all;   /* informational only: select() decides per event */
    sel->opt_mask = 0;
    return FLM_OK;
}

static void lbsel_select(struct flm_selector *sel, struct flm_event *const *evs, size_t n,
                         uint64_t *req, uint64_t *opt)
{
    const struct lbsel_conf *c = sel->c.conf;
    struct lbsel_ctx *x = sel->c.ctx;
    (void)evs;
    uint64_t next = c->policy == 0 ? atomic_fetch_add_explicit(&x->next, n, memory_order_relaxed)
                                   : 0;
    for (size_t k = 0; k < n; k++) {
        uint64_t i;
        if (c->policy == 0) {
            i = (next + k) % sel->nchans;
        } else {
            x->rng ^= x->rng >> 12;
            x->rng ^= x->rng << 25;
            x->rng ^= x->rng >> 27;
            i = ((x->rng * 2685821657736338717ull) >> 32) % sel->nchans;
        }
        req[k] = 1ull << i;
        opt[k] = 0;
    }
}

static void lbsel_destroy(struct flm_selector *sel)
{
    free(sel->c.ctx);
    sel->c.ctx = NULL;
}

static const struct flm_selector_ops lbsel_ops = {
    .init = lbsel_init,
    .select = lbsel_select,
    .destroy = lbsel_destroy,
};

const struct flm_type flm_selector_load_balancing = {
    .kind = FLM_SELECTOR,
    .alias = "load_balancing",
    .klass = "org.apache.flume.channel.LoadBalancingChannelSelector",
    .summary = "Sends each event to exactly one of the source's channels (round_robin or random).",
    .props = lbsel_props,
    .conf_size = sizeof(struct lbsel_conf),
    .ops = &lbsel_ops,
};
