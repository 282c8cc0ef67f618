/*
 * processor.c - the channel processor every source uses (behaviours.md 3):
 * interceptor chain, then the selector, then one transaction per channel:
 * required channels first (a failure rolls back that channel and fails the
 * call; channels already committed keep their events, as in Flume), then
 * optional channels (failures logged and ignored).
 *
 * Ownership: flm_processor_put always consumes the events.  With one target
 * channel the events themselves move into it; with several, every channel but
 * the last one gets copies.  Runs on the calling source's thread; the
 * processor itself holds no lock (the selector's per-event state is the
 * selector's business).
 *
 * The chain runs over slices of CHAIN_SLICE events (cache locality), and the
 * processor tells sources how much header room the chain wants in each new
 * event (flm_processor_header_room: a per-interceptor default, then what it
 * saw the chain add), so header interceptors set headers in place instead
 * of rebuilding every event.
 *
 * Also the replicating selector (the default) lives here: its choice is
 * static, so the put path needs no per-event work for it.
 */
#include "core/processor.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct flm_processor {
    struct flm_selector *sel;
    struct flm_interceptor **ics;
    size_t nics;
    size_t max_batch;      /* min txcap over the source's channels; 0 = unbounded */
    /* Header room new events get (flm_processor_header_room): the default
     * estimate, replaced by what the chain's events carried once a batch
     * went through it.  Relaxed atomics: written by put, read by the source,
     * normally the same thread. */
    _Atomic size_t room_slots, room_bytes;
    atomic_bool learned;
};

/* Caps on learned header room, so one odd event cannot make every later
 * event carry a large spare block (beyond them the event is rebuilt once). */
#define ROOM_SLOTS_MAX 16
#define ROOM_BYTES_MAX 256
#define ROOM_BYTES_SLACK 16   /* a value a little longer than seen still fits */

int flm_processor_new(struct flm_selector *sel, struct flm_interceptor **ics, size_t nics,
                      struct flm_processor **out)
{
    struct flm_processor *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return FLM_ENOMEM;
    p->sel = sel;
    p->ics = ics;
    p->nics = nics;
    atomic_init(&p->room_slots, nics * FLM_ROOM_SLOTS_PER_IC);
    atomic_init(&p->room_bytes, nics * FLM_ROOM_BYTES_PER_IC);
    atomic_init(&p->learned, false);
    for (size_t i = 0; i < sel->nchans; i++) {
        uint64_t tc = sel->chans[i]->txcap;
        if (tc != 0 && (p->max_batch == 0 || tc < p->max_batch))
            p->max_batch = (size_t)tc;
    }
    *out = p;
    return FLM_OK;
}

void flm_selector_free(struct flm_selector *sel)
{
    if (sel == NULL)
        return;
    const struct flm_selector_ops *ops = sel->c.type ? sel->c.type->ops : NULL;
    if (ops && ops->destroy)
        ops->destroy(sel);
    if (sel->c.type)
        flm_props_free(sel->c.type->props, sel->c.conf);
    free(sel->c.conf);
    free(sel->chans);
    free(sel);
}

void flm_interceptor_free(struct flm_interceptor *ic)
{
    if (ic == NULL)
        return;
    const struct flm_interceptor_ops *ops = ic->c.type->ops;
    if (ops && ops->destroy)
        ops->destroy(ic);
    flm_props_free(ic->c.type->props, ic->c.conf);
    free(ic->c.conf);
    free(ic);
}

void flm_processor_free(struct flm_processor *p)
{
    if (p == NULL)
        return;
    flm_selector_free(p->sel);
    for (size_t i = 0; i < p->nics; i++)
        flm_interceptor_free(p->ics[i]);
    free(p->ics);
    free(p);
}

size_t flm_processor_max_batch(const struct flm_processor *p)
{
    return p->max_batch;
}

size_t flm_processor_header_room(const struct flm_processor *p, size_t *slots)
{
    *slots = atomic_load_explicit(&p->room_slots, memory_order_relaxed);
    return atomic_load_explicit(&p->room_bytes, memory_order_relaxed);
}

/* Records the header room the chain's output needed (all header slots and
 * string bytes of ev, source headers included: an overestimate at worst).
 * The first batch replaces the per-interceptor default; later ones only
 * grow it, up to the caps. */
static void learn_room(struct flm_processor *p, const struct flm_event *ev)
{
    size_t slots = ev->nhdr, bytes = 0;
    for (uint32_t i = 0; i < ev->nhdr; i++)
        bytes += (size_t)ev->hdr[i].klen + ev->hdr[i].vlen + 2;
    if (bytes > 0)
        bytes += ROOM_BYTES_SLACK;
    if (slots > ROOM_SLOTS_MAX)
        slots = ROOM_SLOTS_MAX;
    if (bytes > ROOM_BYTES_MAX)
        bytes = ROOM_BYTES_MAX;
    if (atomic_load_explicit(&p->learned, memory_order_relaxed)) {
        if (slots <= atomic_load_explicit(&p->room_slots, memory_order_relaxed) &&
            bytes <= atomic_load_explicit(&p->room_bytes, memory_order_relaxed))
            return;
        if (slots < atomic_load_explicit(&p->room_slots, memory_order_relaxed))
            slots = atomic_load_explicit(&p->room_slots, memory_order_relaxed);
        if (bytes < atomic_load_explicit(&p->room_bytes, memory_order_relaxed))
            bytes = atomic_load_explicit(&p->room_bytes, memory_order_relaxed);
    }
    atomic_store_explicit(&p->room_slots, slots, memory_order_relaxed);
    atomic_store_explicit(&p->room_bytes, bytes, memory_order_relaxed);
    atomic_store_explicit(&p->learned, true, memory_order_relaxed);
}

static void free_events(struct flm_event **evs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        flm_event_free(evs[i]);
}


/* One transaction putting evs[0..n) into ch.  Always consumes the events:
 * on FLM_OK the channel has them; when the commit fails the channel's
 * rollback frees them; when the put itself fails they are freed here.  The
 * reason (Flume's exception text) goes in err. */
static int put_one_channel(struct flm_channel *ch, struct flm_event **evs, size_t n,
                           struct flm_err *err)
{
    struct flm_txn *tx;
    int rc = flm_txn_begin(ch, &tx);
    if (rc != FLM_OK) {
        free_events(evs, n);
        return flm_err_set(err, rc, "Unable to begin transaction on channel %s: %s", ch->c.name,
                           flm_strerror(rc));
    }
    rc = flm_txn_put(tx, evs, n);
    if (rc != FLM_OK)
        free_events(evs, n);
    else
        rc = flm_txn_commit(tx);
    if (rc != FLM_OK)
        flm_err_set(err, rc, "%s", tx->errmsg[0] ? tx->errmsg : flm_strerror(rc));
    flm_txn_end(tx); /* rolls back (freeing staged puts) when not committed */
    return rc;
}

/* Puts the whole batch into every channel of req (required: the first
 * failure fails the call) and then of opt (failures logged).  The final
 * target channel receives the events themselves, the others copies.
 * Consumes evs in every case. */
static int put_static(struct flm_processor *p, struct flm_event **evs, size_t n, uint64_t req,
                      uint64_t opt, struct flm_err *err)
{
    struct flm_selector *sel = p->sel;
    size_t order[FLM_MAX_SOURCE_CHANNELS];
    size_t nreq = 0, norder = 0;

    for (size_t i = 0; i < sel->nchans; i++)
        if (req & (1ull << i))
            order[norder++] = i;
    nreq = norder;
    for (size_t i = 0; i < sel->nchans; i++)
        if ((opt & ~req) & (1ull << i))
            order[norder++] = i;
    if (norder == 0) {
        free_events(evs, n);
        return FLM_OK;
    }

    struct flm_event *stackcopy[256];
    struct flm_event **copy = n <= 256 ? stackcopy : NULL;
    for (size_t k = 0; k < norder; k++) {
        struct flm_channel *ch = sel->chans[order[k]];
        struct flm_event **batch = evs;
        bool last = k + 1 == norder;
        if (!last) {
            if (copy == NULL && (copy = malloc(n * sizeof(*copy))) == NULL)
                goto nomem;
            size_t j;
            for (j = 0; j < n; j++)
                if ((copy[j] = flm_event_dup(evs[j])) == NULL)
                    break;
            if (j < n) {
                free_events(copy, j);
                goto nomem;
            }
            batch = copy;
        }
        struct flm_err e2;
        e2.msg[0] = '\0';
        int rc = put_one_channel(ch, batch, n, &e2);
        if (rc == FLM_OK)
            continue;
        if (k < nreq) {
            if (!last)
                free_events(evs, n);
            if (copy != stackcopy)
                free(copy);
            if (err != NULL)
                *err = e2;
            return rc;
        }
        flm_log_limited(FLM_LOG_ERROR, &ch->c.log, 0,
                        "Unable to put event on optional channel %s: %s", ch->c.name, e2.msg);
    }
    if (copy != stackcopy)
        free(copy);
    return FLM_OK;
nomem:
    free_events(evs, n);
    if (copy != stackcopy)
        free(copy);
    return flm_err_set(err, FLM_ENOMEM, "out of memory copying events for fan-out");
}

/* Per-event selectors (multiplexing, load_balancing): each event has its own
 * required and optional channel sets, req[i] and opt[i] (the selector's
 * choice, made while the chain had the events in cache).  Channels get one
 * transaction each, required ones first in order of first appearance in the
 * batch, then optional ones likewise (behaviours.md 4).  An event's last
 * target channel receives the event itself, earlier ones copies; an event
 * with no target is freed.  Consumes evs in every case. */
static int put_selected(struct flm_processor *p, struct flm_event **evs, size_t n,
                        uint64_t *req, uint64_t *opt, struct flm_err *err)
{
    struct flm_selector *sel = p->sel;
    bool uniform = true;
    for (size_t i = 0; i < n; i++) {
        opt[i] &= ~req[i];
        uniform = uniform && req[i] == req[0] && opt[i] == opt[0];
    }
    if (uniform) /* one route for the whole batch (a constant header, one producer) */
        return put_static(p, evs, n, req[0], opt[0], err);

    int *lastpos = malloc(n * sizeof(*lastpos));
    struct flm_event **batch = malloc(n * sizeof(*batch));
    /* One entry per (channel, required|optional): a channel required by
     * some events and optional for others gets two transactions, as in
     * Flume (its required and optional queues are separate maps). */
    size_t order[2 * FLM_MAX_SOURCE_CHANNELS];
    bool optional_ch[2 * FLM_MAX_SOURCE_CHANNELS];
    size_t norder = 0;
    int rc = FLM_OK;

    if (lastpos == NULL || batch == NULL) {
        free_events(evs, n);
        rc = flm_err_set(err, FLM_ENOMEM, "out of memory routing events");
        goto out;
    }
    uint64_t seen[2] = {0, 0};
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            uint64_t m = (pass == 0 ? req[i] : opt[i]) & ~seen[pass];
            for (size_t c = 0; m != 0 && c < sel->nchans; c++)
                if (m & (1ull << c)) {
                    seen[pass] |= 1ull << c;
                    optional_ch[norder] = pass == 1;
                    order[norder++] = c;
                    m &= ~(1ull << c);
                }
        }
    for (size_t i = 0; i < n; i++) {
        lastpos[i] = -1;
        for (size_t k = 0; k < norder; k++)
            if ((optional_ch[k] ? opt[i] : req[i]) & (1ull << order[k]))
                lastpos[i] = (int)k;
        if (lastpos[i] < 0) {
            flm_event_free(evs[i]); /* routed nowhere (e.g. empty default) */
            evs[i] = NULL;
        }
    }
    for (size_t k = 0; k < norder; k++) {
        size_t c = order[k], m = 0;
        for (size_t i = 0; i < n; i++) {
            if (evs[i] == NULL || !((optional_ch[k] ? opt[i] : req[i]) & (1ull << c)))
                continue;
            if (lastpos[i] == (int)k) {
                batch[m++] = evs[i];
                continue;
            }
            if ((batch[m] = flm_event_dup(evs[i])) == NULL) {
                free_events(batch, m);
                for (size_t j = 0; j < n; j++)
                    if (evs[j] != NULL && lastpos[j] >= (int)k)
                        flm_event_free(evs[j]);
                rc = flm_err_set(err, FLM_ENOMEM, "out of memory copying events for fan-out");
                goto out;
            }
            m++;
        }
        struct flm_channel *ch = sel->chans[c];
        struct flm_err e2;
        e2.msg[0] = '\0';
        int prc = m ? put_one_channel(ch, batch, m, &e2) : FLM_OK;
        if (prc == FLM_OK)
            continue;
        if (!optional_ch[k]) {
            /* Originals not handed to a channel yet are ours to free. */
            for (size_t j = 0; j < n; j++)
                if (evs[j] != NULL && lastpos[j] > (int)k)
                    flm_event_free(evs[j]);
            if (err != NULL)
                *err = e2;
            rc = prc;
            goto out;
        }
        flm_log_limited(FLM_LOG_ERROR, &ch->c.log, 0,
                        "Unable to put event on optional channel %s: %s", ch->c.name, e2.msg);
    }
out:
    free(lastpos);
    free(batch);
    return rc;
}

/* Events the interceptor chain runs over at a time.  The whole chain runs
 * on one slice before the next, so each event is still in cache for the
 * chain's later interceptors (a 1000-event batch of 200-byte lines does not
 * fit in L2 and every interceptor pass over it missed; measured on the
 * routing benchmark).  Interceptors see smaller batches; none depends on
 * the batch boundaries (Flume's netcat source hands them one event). */
#define CHAIN_SLICE 64   /* <= 64: apply_tmpl reports per-event results in a uint64_t */

/*
 * Runs of consecutive interceptors that each set one header to the same
 * value on every event of this batch (ops->const_header) are applied as one
 * template: one copy of all their strings per event instead of a lookup and
 * a set per interceptor.  Events that already carry one of the run's keys,
 * or lack the room, go through the run's intercept() one by one, so the
 * result is exactly what running the chain in order gives.
 */
#define MAX_TMPL_RUNS 4

struct chain_plan {
    size_t nruns;
    size_t from[MAX_TMPL_RUNS], to[MAX_TMPL_RUNS];   /* interceptor index range */
    struct flm_hdr_tmpl t[MAX_TMPL_RUNS];
    /* The chain ends with a run whose template sets the selector's route
     * key: every event that run's template went into carries the same
     * value, so they share one choice (made for the first of them). */
    bool route_known, route_chosen;
    uint64_t route_req, route_opt;
};

static const struct flm_interceptor_ops *ic_ops(const struct flm_processor *p, size_t i)
{
    return p->ics[i]->c.type->ops;
}

static void plan_chain(struct flm_processor *p, struct chain_plan *plan)
{
    plan->nruns = 0;
    for (size_t i = 0; i < p->nics && plan->nruns < MAX_TMPL_RUNS; i++) {
        size_t r = plan->nruns;
        struct flm_hdr_tmpl *t = &plan->t[r];
        size_t j = i;
        flm_hdr_tmpl_reset(t);
        for (; j < p->nics; j++) {
            struct flm_hdr h;
            if (ic_ops(p, j)->const_header == NULL ||
                !ic_ops(p, j)->const_header(p->ics[j], &h) ||
                !flm_hdr_tmpl_add(t, h.key, h.klen, h.val, h.vlen))
                break;
        }
        if (j > i) {
            plan->from[r] = i;
            plan->to[r] = j;
            plan->nruns++;
            i = j - 1; /* the loop's i++ makes j the next run's first candidate */
        }
    }
    plan->route_known = false;
    plan->route_chosen = false;
    const struct flm_selector *sel = p->sel;
    if (plan->nruns > 0 && plan->to[plan->nruns - 1] == p->nics && sel->route_key != NULL) {
        const struct flm_hdr_tmpl *t = &plan->t[plan->nruns - 1];
        for (uint32_t k = 0; k < t->n; k++)
            if (t->klen[k] == sel->route_klen &&
                memcmp(t->strings + t->koff[k], sel->route_key, sel->route_klen) == 0)
                plan->route_known = true;
    }
}

/* Returns the mask of events (bit i for evs[i]; n <= 64) the template went
 * into whole. */
static uint64_t apply_tmpl(struct flm_processor *p, const struct chain_plan *plan, size_t r,
                           struct flm_event **evs, size_t n)
{
    uint64_t done = 0;
    for (size_t i = 0; i < n; i++) {
        if (flm_event_add_tmpl(evs[i], &plan->t[r])) {
            done |= 1ull << i;
            continue;
        }
        for (size_t k = plan->from[r]; k < plan->to[r]; k++)
            (void)ic_ops(p, k)->intercept(p->ics[k], &evs[i], 1); /* never drops */
    }
    return done;
}

/* The selector over one slice (n <= 64); events in `known` carry the route
 * key's template value. */
static void select_slice(struct flm_processor *p, struct chain_plan *plan, uint64_t known,
                         struct flm_event **evs, size_t n, uint64_t *req, uint64_t *opt)
{
    const struct flm_selector_ops *sops = p->sel->c.type->ops;
    if (known == 0) {
        sops->select(p->sel, evs, n, req, opt);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (!(known & (1ull << i)) || !plan->route_chosen) {
            sops->select(p->sel, evs + i, 1, req + i, opt + i);
            if (known & (1ull << i)) {
                plan->route_chosen = true;
                plan->route_req = req[i];
                plan->route_opt = opt[i];
            }
            continue;
        }
        req[i] = plan->route_req;
        opt[i] = plan->route_opt;
    }
}

/* Runs the interceptor chain over evs[0..n), slice by slice, compacting the
 * events kept to the front, and (req != NULL) the per-event selector over
 * each slice's survivors while they are still in cache.  Returns how many
 * were kept. */
static size_t run_chain(struct flm_processor *p, struct flm_event **evs, size_t n,
                        uint64_t *req, uint64_t *opt)
{
    struct chain_plan plan;
    size_t out = 0;
    plan_chain(p, &plan);
    for (size_t off = 0; off < n; off += CHAIN_SLICE) {
        size_t m = n - off < CHAIN_SLICE ? n - off : CHAIN_SLICE;
        size_t r = 0;
        uint64_t known = 0;
        for (size_t i = 0; i < p->nics && m > 0;) {
            if (r < plan.nruns && plan.from[r] == i) {
                known = apply_tmpl(p, &plan, r, evs + off, m);
                i = plan.to[r++];
                continue;
            }
            m = ic_ops(p, i)->intercept(p->ics[i], evs + off, m);
            i++;
        }
        if (out != off && m > 0)
            memmove(evs + out, evs + off, m * sizeof(*evs));
        /* known describes the slice as the last run left it: that run ends
         * the chain (route_known), so nothing compacted the slice after it. */
        if (req != NULL && m > 0)
            select_slice(p, &plan, plan.route_known ? known : 0, evs + out, m, req + out,
                         opt + out);
        out += m;
    }
    return out;
}

bool flm_processor_routes(const struct flm_processor *p)
{
    const struct flm_selector_ops *sops = p->sel->c.type->ops;
    return sops->select != NULL;
}

size_t flm_processor_prepare(struct flm_processor *p, struct flm_event **evs, size_t from,
                             size_t n, uint64_t *req, uint64_t *opt)
{
    const struct flm_selector_ops *sops = p->sel->c.type->ops;
    if (n <= from)
        return n;
    if (sops->select == NULL)
        req = opt = NULL;
    if (p->nics == 0) {
        if (req != NULL)
            sops->select(p->sel, evs + from, n - from, req + from, opt + from);
        return n;
    }
    size_t kept = run_chain(p, evs + from, n - from, req ? req + from : NULL,
                            opt ? opt + from : NULL);
    if (kept > 0) {
        learn_room(p, evs[from]);
        if (kept > 1)
            learn_room(p, evs[from + kept - 1]);
    }
    return from + kept;
}

int flm_processor_put_prepared(struct flm_processor *p, struct flm_event **evs, size_t n,
                               uint64_t *req, uint64_t *opt, struct flm_err *err)
{
    if (n == 0)
        return FLM_OK;
    if (!flm_processor_routes(p))
        return put_static(p, evs, n, p->sel->req_mask, p->sel->opt_mask, err);
    return put_selected(p, evs, n, req, opt, err);
}

int flm_processor_put(struct flm_processor *p, struct flm_event **evs, size_t n,
                      struct flm_err *err)
{
    uint64_t *req = NULL, *opt = NULL;
    if (n == 0)
        return FLM_OK;
    if (flm_processor_routes(p)) {
        if ((req = malloc(2 * n * sizeof(*req))) == NULL) {
            free_events(evs, n);
            return flm_err_set(err, FLM_ENOMEM, "out of memory routing events");
        }
        opt = req + n;
    }
    n = flm_processor_prepare(p, evs, 0, n, req, opt);
    int rc = flm_processor_put_prepared(p, evs, n, req, opt, err);
    free(req);
    return rc;
}
