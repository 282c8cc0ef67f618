/*
 * sinkproc_routing_test.c - the failover and load_balance sink processors
 * (src/processors/) against scripted fake sinks and a fake clock
 * (flm_sinkproc_clock): which sink runs, penalties 2 s, 4 s, ... capped,
 * retry order and outcomes, priorities (explicit, unset, duplicate), round
 * robin rotation over available sinks, back-off windows and their growth,
 * "all sinks failed".  behaviours.md 5 is the oracle.  Single-threaded: the
 * test plays the group's runner thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/component.h"
#include "processors/sinkproc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ fake sinks */

struct fake {
    int next;        /* what process() returns: FLM_READY, FLM_BACKOFF or FLM_ERR */
    int calls;
};

static char call_log[4096];  /* names of the sinks called, in order */

static int fake_process(struct flm_sink *s)
{
    struct fake *f = s->c.ctx;
    f->calls++;
    size_t l = strlen(call_log);
    snprintf(call_log + l, sizeof(call_log) - l, "%s%s", l ? "," : "", s->c.name);
    return f->next;
}

static const struct flm_sink_ops fake_ops = {.process = fake_process};
static const struct flm_prop no_props[] = {FLM_PROPS_END};
static const struct flm_type fake_sink_type = {
    .kind = FLM_SINK, .alias = "fake", .props = no_props, .conf_size = 1, .ops = &fake_ops,
};

static uint64_t fake_now = 1000000;
static uint64_t fake_clock(void)
{
    return fake_now;
}

struct grp {
    struct flm_sinkgroup g;
    struct flm_sink sinks[8];
    struct flm_sink *ptrs[8];
    struct fake f[8];
};

/* Builds a group of sinks named by the space-separated list `names` with
 * processor `alias` and "key=value" properties (NULL-terminated).  Returns
 * props-load/validate status; on FLM_OK also runs init (asserted OK unless
 * init_rc_out is given). */
static int grp_new(struct grp *G, const char *alias, const char *names, const char *const *kvs,
                   struct flm_diag *d, int *init_rc_out)
{
    memset(G, 0, sizeof(*G));
    call_log[0] = '\0';
    fake_now = 1000000;
    flm_sinkproc_clock = fake_clock;
    const struct flm_type *t = flm_registry_find(FLM_SINKPROC, alias);
    assert_non_null(t);
    struct flm_strv sv;
    assert_int_equal(flm_strv_split(&sv, names), FLM_OK);
    size_t n = 0;
    for (size_t k = 0; k < sv.n; k++) {
        struct flm_sink *s = &G->sinks[n];
        snprintf(s->c.name, sizeof(s->c.name), "%s", sv.v[k]);
        s->c.type = &fake_sink_type;
        s->c.ctx = &G->f[n];
        G->f[n].next = FLM_READY;
        G->ptrs[n++] = s;
    }
    flm_strv_free(&sv);
    G->g.sinks = G->ptrs;
    G->g.nsinks = n;
    G->g.c.type = t;
    snprintf(G->g.c.path, sizeof(G->g.c.path), "a1.sinkgroups.g1");
    flm_logctx_init(&G->g.c.log, G->g.c.path, alias);
    G->g.c.conf = calloc(1, t->conf_size);
    struct flm_kvs kv;
    flm_kvs_init(&kv);
    for (size_t i = 0; kvs && kvs[i]; i++) {
        char k[128];
        const char *eq = strchr(kvs[i], '=');
        snprintf(k, sizeof(k), "%.*s", (int)(eq - kvs[i]), kvs[i]);
        flm_kvs_set(&kv, k, eq + 1, "g.conf", (int)i + 1);
    }
    int rc = flm_props_load(t->props, &kv, G->g.c.conf, G->g.c.path, d);
    flm_kvs_free(&kv);
    if (rc == FLM_OK && t->validate)
        rc = t->validate(G->g.c.conf, G->g.c.path, d);
    if (rc != FLM_OK)
        return rc;
    const struct flm_sinkproc_ops *ops = t->ops;
    struct flm_err err = {0};
    int irc = ops->init(&G->g, &err);
    if (init_rc_out)
        *init_rc_out = irc;
    else
        assert_int_equal(irc, FLM_OK);
    return FLM_OK;
}

static void grp_free(struct grp *G)
{
    const struct flm_sinkproc_ops *ops = G->g.c.type->ops;
    ops->destroy(&G->g);
    flm_props_free(G->g.c.type->props, G->g.c.conf);
    free(G->g.c.conf);
    flm_sinkproc_clock = flm_mono_ms;
}

static int run(struct grp *G)
{
    const struct flm_sinkproc_ops *ops = G->g.c.type->ops;
    return ops->process(&G->g);
}

/* Runs one process() call and checks its result and the sinks it called. */
#define STEP(G, want_rc, want_calls)                                                    \
    do {                                                                                \
        call_log[0] = '\0';                                                             \
        assert_int_equal(run(G), (want_rc));                                            \
        assert_string_equal(call_log, (want_calls));                                    \
    } while (0)

static bool diag_has(const struct flm_diag *d, enum flm_sev sev, const char *key,
                     const char *text)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->v[i].sev == sev && strcmp(d->v[i].key, key) == 0 &&
            strstr(d->v[i].msg, text) != NULL)
            return true;
    return false;
}

/* -------------------------------------------------------------- failover */

static const char *const FO3[] = {"priority.k1=5", "priority.k2=10", "priority.k3=1", NULL};

static void failover_uses_the_highest_priority_sink(void **state)
{
    (void)state;
    struct grp G;
    struct flm_diag d;
    flm_diag_init(&d);
    assert_int_equal(grp_new(&G, "failover", "k1 k2 k3", FO3, &d, NULL), FLM_OK);
    STEP(&G, FLM_READY, "k2");
    G.f[1].next = FLM_BACKOFF; /* BACKOFF is passed through, no failover */
    STEP(&G, FLM_BACKOFF, "k2");
    grp_free(&G);
    flm_diag_free(&d);
}

static void failover_moves_to_next_sink_in_the_same_call_and_retries_after_penalty(void **state)
{
    (void)state;
    struct grp G;
    struct flm_diag d;
    flm_diag_init(&d);
    assert_int_equal(grp_new(&G, "failover", "k1 k2 k3", FO3, &d, NULL), FLM_OK);
    G.f[1].next = FLM_ERR;
    STEP(&G, FLM_READY, "k2,k1");           /* k2 fails at t0: cool-down 2 s */
    fake_now += 2000;                        /* refresh < now is strict */
    STEP(&G, FLM_READY, "k1");
    fake_now += 1;
    STEP(&G, FLM_READY, "k2,k1");           /* retried, fails again: 4 s from now */
    fake_now += 4000;
    STEP(&G, FLM_READY, "k1");
    fake_now += 1;
    G.f[1].next = FLM_READY;
    STEP(&G, FLM_READY, "k2");              /* recovered: READY returned at once */
    STEP(&G, FLM_READY, "k2");              /* and preferred again */
    /* A new failure after recovery starts again at 2 s. */
    G.f[1].next = FLM_ERR;
    STEP(&G, FLM_READY, "k2,k1");
    fake_now += 2001;
    G.f[1].next = FLM_READY;
    STEP(&G, FLM_READY, "k2");
    grp_free(&G);
    flm_diag_free(&d);
}

static void failover_retried_sink_that_backs_off_stays_failed(void **state)
{
    (void)state;
    struct grp G;
    struct flm_diag d;
    flm_diag_init(&d);
    assert_int_equal(grp_new(&G, "failover", "k1 k2 k3", FO3, &d, NULL), FLM_OK);
    G.f[1].next = FLM_ERR;
    STEP(&G, FLM_READY, "k2,k1");
    fake_now += 2001;
    G.f[1].next = FLM_BACKOFF;
    STEP(&G, FLM_BACKOFF, "k2");            /* returned as is; active not run */
    STEP(&G, FLM_BACKOFF, "k2");            /* still failed, still expired: retried */
    G.f[1].next = FLM_READY;
    STEP(&G, FLM_READY, "k2");
    STEP(&G, FLM_READY, "k2");
    grp_free(&G);
    flm_diag_free(&d);
}

static void failover_retries_expired_sinks_in_order_of_earliest_cooldown_end(void **state)
{
    (void)state;
    struct grp G;
    struct flm_diag d;
    flm_diag_init(&d);
    assert_int_equal(grp_new(&G, "failover", "k1 k2 k3", FO3, &d, NULL), FLM_OK);
    G.f[1].next = FLM_ERR;
    STEP(&G, FLM_READY, "k2,k1");           /* k2 refresh t0+2000 */
    fake_now += 500;
    G.f[0].next = FLM_ERR;
    STEP(&G, FLM_READY, "k1,k3");           /* k1 refresh t0+2500 */
    fake_now += 3000;
    /* Both expired: k2 first (earlier end), fails -> k1, fails -> active k3. */
    STEP(&G, FLM_READY, "k2,k1,k3");
    grp_free(&G);
    flm_diag_free(&d);
}

static void failover_all_sinks_failed_is_an_error_and_penalties_cap_at_maxpenalty(void **state)
{
    (void)state;
    struct grp G;
    struct flm_diag d;
    flm_diag_init(&d);
    const char *const kv[] = {"priority.k1=2", "priority.k2=1", "maxpenalty=5000", NULL};
    assert_int_equal(grp_new(&G, "failover", "k1 k2", kv, &d, NULL), FLM_OK);
    G.f[0].next = FLM_ERR;
    G.f[1].next = FLM_ERR;
    STEP(&G, FLM_ERR, "k1,k2");             /* both penalised 2 s */
    STEP(&G, FLM_ERR, "");                  /* nothing left to fail over to */
    /* Penalties of k1: 2 s (done), 4 s, 5 s (cap), 5 s. */
    const unsigned waits[] = {2000, 4000, 5000, 5000};
    for (int i = 0; i < 3; i++) {
        fake_now += waits[i];
        STEP(&G, FLM_ERR, "");               /* not yet: strict < */
        fake_now += 1;
        STEP(&G, FLM_ERR, "k1,k2");          /* both retried, both fail again */
    }
    fake_now += waits[3] + 1;
    G.f[1].next = FLM_READY;
    STEP(&G, FLM_READY, "k1,k2");           /* k1 fails again, k2 recovers */
    grp_free(&G);
    flm_diag_free(&d);
}

static void failover_unset_priorities_follow_list_order_and_skip_taken_values(void **state)
{
    (void)state;
    struct grp G;
    struct flm_diag d;
    flm_diag_init(&d);
    assert_int_equal(grp_new(&G, "failover", "k1 k2 k3", NULL, &d, NULL), FLM_OK);
    STEP(&G, FLM_READY, "k1");              /* -1, -2, -3 */
    grp_free(&G);
    const char *const kv[] = {"priority.k2=-1", NULL};
    assert_int_equal(grp_new(&G, "failover", "k1 k2 k3", kv, &d, NULL), FLM_OK);
    STEP(&G, FLM_READY, "k2");              /* k2 -1; k1 -2; k3 -3 */
    G.f[1].next = FLM_ERR;
    STEP(&G, FLM_READY, "k2,k1");
    grp_free(&G);
    flm_diag_free(&d);
}

static void failover_duplicate_priority_is_a_config_error_and_bad_number_a_warning(void **state)
{
    (void)state;
    struct grp G;
    struct flm_diag d;
    flm_diag_init(&d);
    const char *const dup[] = {"priority.k1=5", "priority.k2=5", NULL};
    assert_int_equal(grp_new(&G, "failover", "k1 k2", dup, &d, NULL), FLM_ERR);
    assert_true(diag_has(&d, FLM_SEV_ERROR, "priority.k2", "k1"));
    flm_props_free(G.g.c.type->props, G.g.c.conf);
    free(G.g.c.conf);
    flm_diag_free(&d);

    flm_diag_init(&d);
    const char *const bad[] = {"priority.k1=high", "priority.k2=3", NULL};
    assert_int_equal(grp_new(&G, "failover", "k1 k2", bad, &d, NULL), FLM_OK);
    assert_true(diag_has(&d, FLM_SEV_WARN, "priority.k1", "high"));
    STEP(&G, FLM_READY, "k2");
    grp_free(&G);
    flm_diag_free(&d);
}

/* ---------------------------------------------------------- load_balance */

static void load_balance_round_robin_rotates_the_start(void **state)
{
    (void)state;
    struct grp G;
    struct flm_diag d;
    flm_diag_init(&d);
    assert_int_equal(grp_new(&G, "load_balance", "a b c", NULL, &d, NULL), FLM_OK);
    for (int i = 0; i < 2; i++) {
        STEP(&G, FLM_READY, "a");
        STEP(&G, FLM_READY, "b");
        STEP(&G, FLM_READY, "c");
    }
    /* BACKOFF from the chosen sink is returned; the others are not tried. */
    G.f[0].next = FLM_BACKOFF;
    STEP(&G, FLM_BACKOFF, "a");
    grp_free(&G);
    flm_diag_free(&d);
}

static void load_balance_without_backoff_keeps_trying_a_failed_sink(void **state)
{
    (void)state;
    struct grp G;
    struct flm_diag d;
    flm_diag_init(&d);
    assert_int_equal(grp_new(&G, "load_balance", "a b c", NULL, &d, NULL), FLM_OK);
    G.f[1].next = FLM_ERR;
    STEP(&G, FLM_READY, "a");
    STEP(&G, FLM_READY, "b,c");
    STEP(&G, FLM_READY, "c");
    STEP(&G, FLM_READY, "a");
    STEP(&G, FLM_READY, "b,c");
    grp_free(&G);
    flm_diag_free(&d);
}

static void load_balance_backoff_excludes_a_failed_sink_for_growing_times(void **state)
{
    (void)state;
    struct grp G;
    struct flm_diag d;
    flm_diag_init(&d);
    const char *const kv[] = {"backoff=true", "selector.maxTimeOut=6000", NULL};
    assert_int_equal(grp_new(&G, "load_balance", "a b c", kv, &d, NULL), FLM_OK);
    G.f[1].next = FLM_ERR;
    STEP(&G, FLM_READY, "a");
    STEP(&G, FLM_READY, "b,c");             /* b out until t0 + 2000 */
    /* Available [a, c]; the head index (2) wrapped to 0. */
    STEP(&G, FLM_READY, "a");
    STEP(&G, FLM_READY, "c");
    STEP(&G, FLM_READY, "a");
    fake_now += 2000;
    STEP(&G, FLM_READY, "c");               /* restore < now is strict */
    fake_now += 1;
    /* b is back: available [a, b, c], head 0 */
    STEP(&G, FLM_READY, "a");
    STEP(&G, FLM_READY, "b,c");             /* second failure within range: 4 s */
    fake_now += 4000;
    STEP(&G, FLM_READY, "a");
    fake_now += 1;
    STEP(&G, FLM_READY, "b,c");             /* third: 8 s capped at 6 s */
    fake_now += 6000;
    for (int i = 0; i < 4; i++) {
        call_log[0] = '\0';
        assert_int_equal(run(&G), FLM_READY);
        assert_null(strstr(call_log, "b"));
    }
    fake_now += 1;
    G.f[1].next = FLM_READY;
    int saw_b = 0;
    for (int i = 0; i < 3; i++) {
        call_log[0] = '\0';
        assert_int_equal(run(&G), FLM_READY);
        saw_b += strcmp(call_log, "b") == 0;
    }
    assert_int_equal(saw_b, 1);
    grp_free(&G);
    flm_diag_free(&d);
}

static void load_balance_all_failed_or_backed_off_is_an_error(void **state)
{
    (void)state;
    struct grp G;
    struct flm_diag d;
    flm_diag_init(&d);
    const char *const kv[] = {"backoff=true", NULL};
    assert_int_equal(grp_new(&G, "load_balance", "a b", kv, &d, NULL), FLM_OK);
    G.f[0].next = FLM_ERR;
    G.f[1].next = FLM_ERR;
    STEP(&G, FLM_ERR, "a,b");
    STEP(&G, FLM_ERR, "");                  /* all backed off: none tried */
    fake_now += 2001;
    G.f[1].next = FLM_READY;
    call_log[0] = '\0';
    assert_int_equal(run(&G), FLM_READY);
    assert_non_null(strstr(call_log, "b"));
    grp_free(&G);
    flm_diag_free(&d);
}

static void load_balance_needs_two_sinks_and_a_known_selector(void **state)
{
    (void)state;
    struct grp G;
    struct flm_diag d;
    flm_diag_init(&d);
    int irc = FLM_OK;
    assert_int_equal(grp_new(&G, "load_balance", "a", NULL, &d, &irc), FLM_OK);
    assert_int_equal(irc, FLM_ERR);
    grp_free(&G);
    const char *const kv[] = {"selector=com.example.MySelector", NULL};
    assert_int_equal(grp_new(&G, "load_balance", "a b", kv, &d, NULL), FLM_ERR);
    assert_true(diag_has(&d, FLM_SEV_ERROR, "selector", "com.example.MySelector"));
    flm_props_free(G.g.c.type->props, G.g.c.conf);
    free(G.g.c.conf);
    flm_diag_free(&d);
}

static void load_balance_random_calls_one_sink_per_call_and_spreads(void **state)
{
    (void)state;
    struct grp G;
    struct flm_diag d;
    flm_diag_init(&d);
    const char *const kv[] = {"selector=RANDOM", NULL};
    assert_int_equal(grp_new(&G, "load_balance", "a b c", kv, &d, NULL), FLM_OK);
    for (int i = 0; i < 300; i++) {
        call_log[0] = '\0';
        assert_int_equal(run(&G), FLM_READY);
        assert_int_equal(strlen(call_log), 1);
    }
    for (int i = 0; i < 3; i++)
        assert_true(G.f[i].calls > 50); /* expected 100 each */
    grp_free(&G);
    flm_diag_free(&d);
}

static void processor_class_names_resolve(void **state)
{
    (void)state;
    const struct flm_type *t =
        flm_registry_find(FLM_SINKPROC, "org.apache.flume.sink.FailoverSinkProcessor");
    assert_non_null(t);
    assert_string_equal(t->alias, "failover");
    t = flm_registry_find(FLM_SINKPROC, "org.apache.flume.sink.LoadBalancingSinkProcessor");
    assert_non_null(t);
    assert_string_equal(t->alias, "load_balance");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(failover_uses_the_highest_priority_sink),
        cmocka_unit_test(
            failover_moves_to_next_sink_in_the_same_call_and_retries_after_penalty),
        cmocka_unit_test(failover_retried_sink_that_backs_off_stays_failed),
        cmocka_unit_test(failover_retries_expired_sinks_in_order_of_earliest_cooldown_end),
        cmocka_unit_test(
            failover_all_sinks_failed_is_an_error_and_penalties_cap_at_maxpenalty),
        cmocka_unit_test(failover_unset_priorities_follow_list_order_and_skip_taken_values),
        cmocka_unit_test(
            failover_duplicate_priority_is_a_config_error_and_bad_number_a_warning),
        cmocka_unit_test(load_balance_round_robin_rotates_the_start),
        cmocka_unit_test(load_balance_without_backoff_keeps_trying_a_failed_sink),
        cmocka_unit_test(load_balance_backoff_excludes_a_failed_sink_for_growing_times),
        cmocka_unit_test(load_balance_all_failed_or_backed_off_is_an_error),
        cmocka_unit_test(load_balance_needs_two_sinks_and_a_known_selector),
        cmocka_unit_test(load_balance_random_calls_one_sink_per_call_and_spreads),
        cmocka_unit_test(processor_class_names_resolve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
