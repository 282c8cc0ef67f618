/*
 * agent.c - the lifecycle of a built agent (behaviours.md 6): start channels,
 * then sinks (one runner thread per sink group), then sources (their own
 * thread, or a runner thread for pollable ones); stop in reverse, with a
 * bounded drain on shutdown.
 *
 * Threads: start/stop/free run on the main thread.  Each runner owns one
 * thread; event-driven sources own theirs.  The agent's structures are never
 * mutated while its threads run, except runner flags (atomics).
 */
#include "core/agent_internal.h"

#include "core/processor.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------- 4. runners */

static void runner_sleep(struct runner *r, unsigned ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->mu);
    while (!atomic_load(&r->stop) && !atomic_load(&r->drain)) {
        if (pthread_cond_timedwait(&r->cv, &r->mu, &ts) != 0)
            break;
    }
    pthread_mutex_unlock(&r->mu);
}

static void *runner_main(void *arg)
{
    struct runner *r = arg;
    unsigned nback = 0;
    unsigned incr = r->src ? r->src->backoff_incr_ms : 1000;
    unsigned maxb = r->src ? r->src->backoff_max_ms : 5000;

    for (;;) {
        if (atomic_load(&r->stop))
            break;
        bool draining = atomic_load(&r->drain);
        if (draining && flm_mono_ms() >= atomic_load(&r->deadline))
            break;
        int rc;
        if (r->src != NULL) {
            const struct flm_source_ops *ops = r->src->c.type->ops;
            rc = ops->process(r->src);
        } else {
            const struct flm_sinkproc_ops *ops = r->grp->c.type->ops;
            rc = ops->process(r->grp);
        }
        if (rc == FLM_READY) {
            nback = 0;
            continue;
        }
        if (draining)
            break; /* channel empty, or the next hop is down: stop draining */
        unsigned ms;
        if (rc == FLM_BACKOFF) {
            nback++;
            ms = nback * incr < maxb ? nback * incr : maxb;
        } else {
            flm_log_limited(FLM_LOG_ERROR, r->log, 0, "%s failed (%s); retrying in %u ms",
                            r->src ? "process()" : "Unable to deliver event:", flm_strerror(rc),
                            maxb);
            ms = maxb;
        }
        runner_sleep(r, ms);
    }
    return NULL;
}

static struct runner *runner_start(struct flm_source *src, struct flm_sinkgroup *grp,
                                   struct flm_logctx *log)
{
    struct runner *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    r->src = src;
    r->grp = grp;
    r->log = log;
    if (pthread_create(&r->th, NULL, runner_main, r) != 0) {
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        free(r);
        return NULL;
    }
    r->started = true;
    return r;
}

static void runner_signal(struct runner *r, bool drain, uint64_t deadline)
{
    pthread_mutex_lock(&r->mu);
    if (drain) {
        atomic_store(&r->deadline, deadline);
        atomic_store(&r->drain, true);
    } else {
        atomic_store(&r->stop, true);
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void runner_join(struct runner *r)
{
    if (r == NULL)
        return;
    if (r->started)
        pthread_join(r->th, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* ------------------------------------------------------- 5. lifecycle */

static void counters_begin(struct flm_component *c, const char *group)
{
    c->ctr.group = group;
    c->ctr.visible = !c->type->no_counters;
    flm_counters_start(&c->ctr);
}

static void counters_end(struct flm_component *c)
{
    flm_counters_stop(&c->ctr);
    char line[1024];
    size_t n = 0;
    const char *const *names = NULL;
    int cnt = 0;
    if (c->type->kind == FLM_SOURCE) {
        names = flm_src_ctr_names;
        cnt = FLM_SRC_NCTR;
    } else if (c->type->kind == FLM_CHANNEL) {
        names = flm_ch_ctr_names;
        cnt = FLM_CH_NCTR;
    } else if (c->type->kind == FLM_SINK) {
        names = flm_sink_ctr_names;
        cnt = FLM_SINK_NCTR;
    }
    line[0] = '\0';
    for (int i = 0; i < cnt && n < sizeof(line); i++)
        n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s=%llu", i ? ", " : "", names[i],
                              (unsigned long long)flm_ctr_get(&c->ctr, i));
    if (c->type->no_counters)   /* Flume keeps no counter group for these */
        flm_info(&c->log, "Component type: %s, name: %s stopped", c->ctr.group, c->name);
    else
        flm_info(&c->log, "Component type: %s, name: %s stopped. Metrics: %s", c->ctr.group,
                 c->name, line);
}

/* Tells a sink group's runner and its sinks to stop now: a sink blocked in
 * network I/O watches `stopping` to give up early (and roll back). */
static void group_stop_now(struct group_slot *gs)
{
    for (size_t k = 0; k < gs->g->nsinks; k++)
        atomic_store(&gs->g->sinks[k]->stopping, true);
    runner_signal(gs->r, false, 0);
}

bool flm_agent_empty(const struct flm_agent *a)
{
    return a == NULL || (a->nsrcs == 0 && a->nsinks == 0);
}

int flm_agent_start(struct flm_agent *a, struct flm_err *err)
{
    int rc_all = FLM_OK;
    struct flm_err e;

    /* Channels first. */
    for (size_t i = 0; i < a->nchans; i++) {
        struct chan_slot *cs = &a->chans[i];
        struct flm_channel *ch = cs->ch;
        const struct flm_channel_ops *ops = ch->c.type->ops;
        e.msg[0] = '\0';
        if (cs->reused) {
            atomic_store(&ch->nowait, false);
            if (ops->reconfigure(ch, cs->newconf, &e) == FLM_OK) {
                flm_comp_release(&ch->c);
                ch->c.conf = cs->newconf;
            } else {
                flm_warn(&ch->c.log, "keeping the previous settings: %s", e.msg);
                flm_props_free(ch->c.type->props, cs->newconf);
                free(cs->newconf);
            }
            cs->newconf = NULL;
            cs->live = true;
        } else if (ops->init(ch, &e) == FLM_OK) {
            cs->live = true;
        } else {
            flm_error(&ch->c.log, "channel failed to start: %s", e.msg);
            rc_all = flm_err_set(err, FLM_ERR, "channel %s failed to start: %s", ch->c.name, e.msg);
            continue;
        }
        counters_begin(&ch->c, "CHANNEL");
        flm_info(&ch->c.log, "Channel %s started%s", ch->c.name, cs->reused ? " (kept over reload with its events)" : "");
    }

    /* Then sinks and their runners. */
    for (size_t i = 0; i < a->nsinks; i++) {
        struct sink_slot *ss = &a->sinks[i];
        struct flm_sink *s = ss->sink;
        const struct flm_sink_ops *ops = s->c.type->ops;
        e.msg[0] = '\0';
        if (!a->chans[ss->chan].live) {
            flm_error(&s->c.log, "not started: its channel %s is not running",
                      a->chans[ss->chan].ch->c.name);
            continue;
        }
        atomic_store(&s->stopping, false);
        counters_begin(&s->c, "SINK");
        if ((ops->init && ops->init(s, &e) != FLM_OK) || (ops->start && ops->start(s, &e) != FLM_OK)) {
            flm_error(&s->c.log, "sink failed to start: %s", e.msg);
            rc_all = flm_err_set(err, FLM_ERR, "sink %s failed to start: %s", s->c.name, e.msg);
            continue;
        }
        ss->live = true;
    }
    for (size_t i = 0; i < a->ngroups; i++) {
        struct group_slot *gs = &a->groups[i];
        size_t live = 0;
        for (size_t k = 0; k < gs->nmembers; k++)
            if (a->sinks[gs->members[k]].live)
                gs->g->sinks[live++] = a->sinks[gs->members[k]].sink;
        gs->g->nsinks = live;
        if (live == 0)
            continue;
        const struct flm_sinkproc_ops *ops = gs->g->c.type->ops;
        e.msg[0] = '\0';
        if (ops->init && ops->init(gs->g, &e) != FLM_OK) {
            flm_error(&gs->g->c.log, "sink processor failed to start: %s", e.msg);
            rc_all = flm_err_set(err, FLM_ERR, "sink group %s failed to start: %s", gs->g->c.name,
                                 e.msg);
            continue;
        }
        gs->r = runner_start(NULL, gs->g, &gs->g->c.log);
        if (gs->r == NULL) {
            rc_all = flm_err_set(err, FLM_ERR, "cannot start a thread for %s", gs->g->c.name);
            continue;
        }
        gs->live = true;
    }

    /* Sources last. */
    for (size_t i = 0; i < a->nsrcs; i++) {
        struct src_slot *ss = &a->srcs[i];
        struct flm_source *src = ss->src;
        const struct flm_source_ops *ops = src->c.type->ops;
        bool chans_ok = true;
        for (size_t k = 0; k < ss->nchan; k++)
            chans_ok &= a->chans[ss->chan[k]].live;
        if (!chans_ok) {
            flm_error(&src->c.log, "not started: one of its channels is not running");
            continue;
        }
        e.msg[0] = '\0';
        int rc = FLM_OK;
        for (size_t k = 0; k < ss->nics && rc == FLM_OK; k++) {
            const struct flm_interceptor_ops *iops = ss->ics[k]->c.type->ops;
            if (iops->init)
                rc = iops->init(ss->ics[k], &e);
        }
        if (rc == FLM_OK && src->proc == NULL) {
            rc = flm_processor_new(ss->sel, ss->ics, ss->nics, &src->proc);
            if (rc == FLM_OK) {
                ss->sel = NULL;
                ss->ics = NULL;
                ss->nics = 0;
            }
        }
        src->backoff_incr_ms = 1000;
        src->backoff_max_ms = 5000;
        atomic_store(&src->stopping, false);
        counters_begin(&src->c, "SOURCE");
        if (rc == FLM_OK && ops->init)
            rc = ops->init(src, &e);
        if (rc == FLM_OK && ops->start)
            rc = ops->start(src, &e);
        if (rc == FLM_OK && ops->process) {
            ss->r = runner_start(src, NULL, &src->c.log);
            if (ss->r == NULL)
                rc = flm_err_set(&e, FLM_ERR, "cannot start a thread");
        }
        if (rc != FLM_OK) {
            flm_error(&src->c.log, "source failed to start: %s", e.msg);
            rc_all = flm_err_set(err, FLM_ERR, "source %s failed to start: %s", src->c.name, e.msg);
            if (ops->stop && ops->start)
                ops->stop(src);
            continue;
        }
        ss->live = true;
    }
    a->started = true;
    return rc_all;
}

void flm_agent_stop(struct flm_agent *a, bool drain, unsigned drain_ms)
{
    if (a == NULL || !a->started)
        return;
    /* Sources first: nothing new comes in.  Channels stop blocking right
     * away (a source may be waiting in a commit for space that a stopped sink
     * will never make), including channels the next agent takes over. */
    for (size_t i = 0; i < a->nsrcs; i++) {
        struct src_slot *ss = &a->srcs[i];
        if (!ss->live)
            continue;
        atomic_store(&ss->src->stopping, true);
        if (ss->r != NULL)
            runner_signal(ss->r, false, 0);
    }
    for (size_t i = 0; i < a->nchans; i++) {
        if (!a->chans[i].live)
            continue;
        atomic_store(&a->chans[i].ch->nowait, true);
        const struct flm_channel_ops *ops = a->chans[i].ch->c.type->ops;
        if (ops->interrupt)
            ops->interrupt(a->chans[i].ch);
    }
    for (size_t i = 0; i < a->nsrcs; i++) {
        struct src_slot *ss = &a->srcs[i];
        if (!ss->live)
            continue;
        const struct flm_source_ops *ops = ss->src->c.type->ops;
        runner_join(ss->r);
        ss->r = NULL;
        if (ops->stop)
            ops->stop(ss->src);
        counters_end(&ss->src->c);
        ss->live = false;
    }
    /* Sinks: drain what the channels hold (bounded), or stop after the
     * current batch; takes no longer wait (nowait is set above). */
    uint64_t deadline = flm_mono_ms() + drain_ms;
    for (size_t i = 0; i < a->ngroups; i++)
        if (a->groups[i].live)
            runner_signal(a->groups[i].r, drain, deadline);
    if (drain) {
        /* A sink stuck on a dead next hop must not hold shutdown past the bound. */
        for (size_t i = 0; i < a->ngroups; i++) {
            if (!a->groups[i].live)
                continue;
            struct runner *r = a->groups[i].r;
            for (;;) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 50000000L;
                if (ts.tv_nsec >= 1000000000L) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000L;
                }
                if (pthread_timedjoin_np(r->th, NULL, &ts) == 0) {
                    r->started = false;
                    break;
                }
                if (flm_mono_ms() >= deadline)
                    group_stop_now(&a->groups[i]);
            }
        }
    } else {
        for (size_t i = 0; i < a->ngroups; i++)
            if (a->groups[i].live)
                group_stop_now(&a->groups[i]);
    }
    for (size_t i = 0; i < a->ngroups; i++) {
        if (!a->groups[i].live)
            continue;
        runner_join(a->groups[i].r);
        a->groups[i].r = NULL;
        a->groups[i].live = false;
    }
    for (size_t i = 0; i < a->nsinks; i++) {
        struct sink_slot *ss = &a->sinks[i];
        if (!ss->live)
            continue;
        const struct flm_sink_ops *ops = ss->sink->c.type->ops;
        atomic_store(&ss->sink->stopping, true);
        if (ops->stop)
            ops->stop(ss->sink);
        counters_end(&ss->sink->c);
        ss->live = false;
    }
    for (size_t i = 0; i < a->nchans; i++) {
        struct chan_slot *cs = &a->chans[i];
        if (!cs->live)
            continue;
        uint64_t left = flm_channel_size(cs->ch);
        counters_end(&cs->ch->c);
        if (left > 0 && !cs->moved)
            flm_warn(&cs->ch->c.log, "stopping with %llu event(s) still in the channel",
                     (unsigned long long)left);
        atomic_store(&cs->ch->nowait, false);
    }
    a->started = false;
}

void flm_src_slot_free(struct src_slot *s)
{
    if (s->src != NULL) {
        const struct flm_source_ops *ops = s->src->c.type ? s->src->c.type->ops : NULL;
        if (ops && ops->destroy)
            ops->destroy(s->src);
        flm_processor_free(s->src->proc);
        flm_comp_release(&s->src->c);
        free(s->src);
    }
    flm_selector_free(s->sel);
    for (size_t i = 0; i < s->nics; i++)
        flm_interceptor_free(s->ics[i]);
    free(s->ics);
    free(s->chan);
    memset(s, 0, sizeof(*s));
}

void flm_agent_free(struct flm_agent *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->nsrcs; i++)
        flm_src_slot_free(&a->srcs[i]);
    free(a->srcs);
    for (size_t i = 0; i < a->ngroups; i++) {
        struct flm_sinkgroup *g = a->groups[i].g;
        const struct flm_sinkproc_ops *ops = g->c.type->ops;
        if (ops->destroy)
            ops->destroy(g);
        flm_comp_release(&g->c);
        free(g->sinks);
        free(g);
        free(a->groups[i].members);
    }
    free(a->groups);
    for (size_t i = 0; i < a->nsinks; i++) {
        struct flm_sink *s = a->sinks[i].sink;
        const struct flm_sink_ops *ops = s->c.type->ops;
        if (ops->destroy)
            ops->destroy(s);
        flm_comp_release(&s->c);
        free(s);
    }
    free(a->sinks);
    for (size_t i = 0; i < a->nchans; i++) {
        struct chan_slot *cs = &a->chans[i];
        if (cs->moved || cs->ch == NULL)
            continue;
        const struct flm_channel_ops *ops = cs->ch->c.type->ops;
        /* destroy accepts a never-initialised channel (ctx NULL). */
        if (ops->destroy)
            ops->destroy(cs->ch);
        if (cs->newconf) {
            flm_props_free(cs->ch->c.type->props, cs->newconf);
            free(cs->newconf);
        }
        flm_comp_release(&cs->ch->c);
        free(cs->ch);
    }
    free(a->chans);
    free(a);
}

void flm_agent_print_flow(const struct flm_agent *a, FILE *f)
{
    if (flm_agent_empty(a)) {
        fprintf(f, "agent %s: nothing to run\n", a ? a->name : "?");
        return;
    }
    fprintf(f, "agent %s:\n", a->name);
    for (size_t i = 0; i < a->nsrcs; i++) {
        const struct src_slot *s = &a->srcs[i];
        fprintf(f, "  source  %-12s (%s) ->", s->src->c.name, s->src->c.type->alias);
        for (size_t k = 0; k < s->nchan; k++)
            fprintf(f, " %s", a->chans[s->chan[k]].ch->c.name);
        for (size_t k = 0; k < s->nics; k++)
            fprintf(f, "%s%s", k == 0 ? "  [interceptors:" : " ", s->ics[k]->c.type->alias);
        fprintf(f, "%s\n", s->nics ? "]" : "");
    }
    for (size_t i = 0; i < a->nchans; i++) {
        const struct flm_channel *ch = a->chans[i].ch;
        long long tc = flm_props_int_value(ch->c.type, ch->c.conf ? ch->c.conf : a->chans[i].newconf,
                                           ch->c.type->batch_key);
        fprintf(f, "  channel %-12s (%s)", ch->c.name, ch->c.type->alias);
        if (tc >= 0)
            fprintf(f, " transactionCapacity=%lld", tc);
        fprintf(f, "\n");
    }
    for (size_t i = 0; i < a->ngroups; i++) {
        const struct group_slot *g = &a->groups[i];
        for (size_t k = 0; k < g->nmembers; k++) {
            const struct sink_slot *s = &a->sinks[g->members[k]];
            fprintf(f, "  sink    %-12s (%s) <- %s", s->sink->c.name, s->sink->c.type->alias,
                    a->chans[s->chan].ch->c.name);
            if (!g->implicit)
                fprintf(f, "  [group %s: %s]", g->g->c.name, g->g->c.type->alias);
            fprintf(f, "\n");
        }
    }
}

size_t flm_agent_components(struct flm_agent *a, struct flm_component **out, size_t cap)
{
    size_t n = 0;
    if (a == NULL)
        return 0;
    for (size_t i = 0; i < a->nsrcs && n < cap; i++)
        if (a->srcs[i].live)
            out[n++] = &a->srcs[i].src->c;
    for (size_t i = 0; i < a->nchans && n < cap; i++)
        if (a->chans[i].live && !a->chans[i].moved)
            out[n++] = &a->chans[i].ch->c;
    for (size_t i = 0; i < a->nsinks && n < cap; i++)
        if (a->sinks[i].live)
            out[n++] = &a->sinks[i].sink->c;
    return n;
}

