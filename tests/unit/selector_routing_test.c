/*
 * selector_routing_test.c - the multiplexing and load_balancing channel
 * selectors (src/selectors/) through the per-event put path of the channel
 * processor (put_selected in src/core/processor.c) with real memory
 * channels (behaviours.md 3 and 4): header routing with mapping/default/
 * optional, blank and missing headers, config errors that drop the source,
 * optional channels that are full without failing the put, a required
 * channel failing mid-batch, copies per channel, round-robin and random
 * spreading.  Meant to run under ASan too: every path must consume each
 * event exactly once.  Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/component.h"
#include "core/processor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct flm_type flm_channel_memory;

/* ------------------------------------------------------------- fixtures */

static struct flm_channel *chan_new(const char *name, const char *cap, const char *txcap)
{
    struct flm_kvs kv;
    flm_kvs_init(&kv);
    flm_kvs_set(&kv, "capacity", cap, "s.conf", 1);
    flm_kvs_set(&kv, "transactionCapacity", txcap, "s.conf", 2);
    flm_kvs_set(&kv, "keep-alive", "0", "s.conf", 3);
    struct flm_diag d;
    flm_diag_init(&d);
    struct flm_channel *ch = calloc(1, sizeof(*ch));
    assert_non_null(ch);
    ch->c.conf = calloc(1, flm_channel_memory.conf_size);
    snprintf(ch->c.name, sizeof(ch->c.name), "%s", name);
    snprintf(ch->c.path, sizeof(ch->c.path), "a1.channels.%s", name);
    assert_int_equal(flm_props_load(flm_channel_memory.props, &kv, ch->c.conf, ch->c.path, &d),
                     FLM_OK);
    ch->c.type = &flm_channel_memory;
    flm_logctx_init(&ch->c.log, ch->c.path, "memory");
    ch->c.ctr.group = "CHANNEL";
    flm_counters_start(&ch->c.ctr);
    struct flm_err err = {0};
    const struct flm_channel_ops *ops = flm_channel_memory.ops;
    assert_int_equal(ops->init(ch, &err), FLM_OK);
    flm_diag_free(&d);
    flm_kvs_free(&kv);
    return ch;
}

static void chan_free(struct flm_channel *ch)
{
    const struct flm_channel_ops *ops = flm_channel_memory.ops;
    ops->destroy(ch);
    flm_props_free(flm_channel_memory.props, ch->c.conf);
    free(ch->c.conf);
    free(ch);
}

/* A selector of type alias over chans, configured by "key=value" strings
 * (NULL-terminated).  Returns its init result; *out is NULL on error and d
 * keeps the messages. */
static int sel_new(const char *alias, struct flm_channel **chans, size_t n,
                   const char *const *kvs, struct flm_selector **out, struct flm_diag *d)
{
    const struct flm_type *t = flm_registry_find(FLM_SELECTOR, alias);
    assert_non_null(t);
    struct flm_kvs kv;
    flm_kvs_init(&kv);
    for (size_t i = 0; kvs && kvs[i]; i++) {
        char k[128];
        const char *eq = strchr(kvs[i], '=');
        assert_non_null(eq);
        snprintf(k, sizeof(k), "%.*s", (int)(eq - kvs[i]), kvs[i]);
        flm_kvs_set(&kv, k, eq + 1, "s.conf", (int)i + 10);
    }
    struct flm_selector *sel = calloc(1, sizeof(*sel));
    sel->c.type = t;
    snprintf(sel->c.path, sizeof(sel->c.path), "a1.sources.r1.selector");
    flm_logctx_init(&sel->c.log, sel->c.path, alias);
    sel->c.conf = calloc(1, t->conf_size);
    sel->chans = calloc(n + 1, sizeof(*sel->chans));
    memcpy(sel->chans, chans, n * sizeof(*chans));
    sel->nchans = n;
    int rc = flm_props_load(t->props, &kv, sel->c.conf, sel->c.path, d);
    flm_kvs_free(&kv);
    const struct flm_selector_ops *ops = t->ops;
    if (rc == FLM_OK)
        rc = ops->init(sel, d);
    if (rc != FLM_OK) {
        flm_selector_free(sel);
        sel = NULL;
    }
    *out = sel;
    return rc;
}

static struct flm_processor *proc_new(const char *alias, struct flm_channel **chans, size_t n,
                                      const char *const *kvs)
{
    struct flm_diag d;
    flm_diag_init(&d);
    struct flm_selector *sel;
    assert_int_equal(sel_new(alias, chans, n, kvs, &sel, &d), FLM_OK);
    assert_int_equal(d.nerr, 0);
    flm_diag_free(&d);
    struct flm_processor *p;
    assert_int_equal(flm_processor_new(sel, NULL, 0, &p), FLM_OK);
    return p;
}

/* An event with body "<body>" and, if dc != NULL, header datacenter=dc. */
static struct flm_event *ev_dc(const char *body, const char *dc)
{
    struct flm_hdr h[2] = {flm_hdr_str("seq", body), flm_hdr_str("datacenter", dc ? dc : "")};
    struct flm_event *ev = flm_event_new(body, strlen(body), h, dc ? 2 : 1);
    assert_non_null(ev);
    return ev;
}

/* Takes everything from ch and returns the bodies joined by ','
 * (static buffer), freeing the events. */
static const char *drain(struct flm_channel *ch)
{
    static char out[8192];
    size_t len = 0;
    out[0] = '\0';
    for (;;) {
        struct flm_txn *tx;
        struct flm_event *evs[64];
        size_t n = 0;
        assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
        assert_int_equal(flm_txn_take(tx, evs, 64, &n), FLM_OK);
        assert_int_equal(flm_txn_commit(tx), FLM_OK);
        flm_txn_end(tx);
        for (size_t i = 0; i < n; i++) {
            len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s", len ? "," : "",
                                    (const char *)evs[i]->body);
            flm_event_free(evs[i]);
        }
        if (n == 0)
            return out;
    }
}

static bool diag_has(const struct flm_diag *d, const char *key, const char *text)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->v[i].key, key) == 0 && strstr(d->v[i].msg, text) != NULL)
            return true;
    return false;
}

/* ------------------------------------------------------------------ tests */

static const char *const DC_CONF[] = {
    "header=datacenter",  "mapping.east=c1",   "mapping.west=c2 c1", "default=c3",
    "optional.east=c1 c4", "optional.other=c4 c3", NULL,
};

static void multiplexing_routes_by_header_value_with_default_and_optional(void **state)
{
    (void)state;
    struct flm_channel *c[4] = {chan_new("c1", "100", "100"), chan_new("c2", "100", "100"),
                                chan_new("c3", "100", "100"), chan_new("c4", "100", "100")};
    struct flm_processor *p = proc_new("multiplexing", c, 4, DC_CONF);
    struct flm_event *evs[] = {
        ev_dc("e1", "east"), ev_dc("w1", "west"), ev_dc("o1", "other"), ev_dc("n1", NULL),
        ev_dc("b1", "  "),   ev_dc("x1", "East"), ev_dc("e2", "east"),  ev_dc("u1", "unknown"),
    };
    struct flm_err err = {0};
    assert_int_equal(flm_processor_put(p, evs, 8, &err), FLM_OK);
    /* east -> c1 (+ optional c4; c1 is required so not optional too);
     * west -> c2 c1; other is unmapped -> default c3, optional c4 (c3 removed);
     * missing, blank, wrong case, unknown -> default c3. */
    assert_string_equal(drain(c[0]), "e1,w1,e2");
    assert_string_equal(drain(c[1]), "w1");
    assert_string_equal(drain(c[2]), "o1,n1,b1,x1,u1");
    assert_string_equal(drain(c[3]), "e1,o1,e2");
    flm_processor_free(p);
    for (int i = 0; i < 4; i++)
        chan_free(c[i]);
}

/* A channel that is required for some events of a batch and optional for
 * others gets both sets (two transactions, as in Flume): here c3 is the
 * default for unmapped values and optional for east. */
static void channel_required_for_some_and_optional_for_others_gets_both(void **state)
{
    (void)state;
    static const char *const conf[] = {"header=datacenter", "mapping.east=c1",
                                       "optional.east=c3", "default=c3", NULL};
    struct flm_channel *c[3] = {chan_new("c1", "100", "100"), chan_new("c2", "100", "100"),
                                chan_new("c3", "100", "100")};
    struct flm_processor *p = proc_new("multiplexing", c, 3, conf);
    struct flm_event *evs[] = {ev_dc("u1", "unknown"), ev_dc("e1", "east"), ev_dc("n1", NULL),
                               ev_dc("e2", "east")};
    struct flm_err err = {0};
    assert_int_equal(flm_processor_put(p, evs, 4, &err), FLM_OK);
    assert_string_equal(drain(c[0]), "e1,e2");
    assert_string_equal(drain(c[1]), "");
    /* required ones first (u1, n1), then the optional transaction (e1, e2) */
    assert_string_equal(drain(c[2]), "u1,n1,e1,e2");
    flm_processor_free(p);
    for (int i = 0; i < 3; i++)
        chan_free(c[i]);
}

static void multiplexing_full_optional_channel_does_not_fail_the_put(void **state)
{
    (void)state;
    struct flm_channel *c[4] = {chan_new("c1", "100", "100"), chan_new("c2", "100", "100"),
                                chan_new("c3", "100", "100"), chan_new("c4", "1", "1")};
    struct flm_processor *p = proc_new("multiplexing", c, 4, DC_CONF);
    struct flm_event *evs[] = {ev_dc("e1", "east"), ev_dc("e2", "east"), ev_dc("w1", "west")};
    struct flm_err err = {0};
    /* c4 (optional for east) takes one event per transaction: its put of
     * two fails, is logged, and the call still succeeds. */
    assert_int_equal(flm_processor_put(p, evs, 3, &err), FLM_OK);
    assert_string_equal(drain(c[0]), "e1,e2,w1");
    assert_string_equal(drain(c[1]), "w1");
    assert_string_equal(drain(c[3]), "");
    flm_processor_free(p);
    for (int i = 0; i < 4; i++)
        chan_free(c[i]);
}

static void multiplexing_full_required_channel_fails_and_earlier_channels_keep_events(void **state)
{
    (void)state;
    struct flm_channel *c[4] = {chan_new("c1", "100", "100"), chan_new("c2", "1", "1"),
                                chan_new("c3", "100", "100"), chan_new("c4", "100", "100")};
    struct flm_processor *p = proc_new("multiplexing", c, 4, DC_CONF);
    /* Required channel order is first appearance: c1 (e1), c2 (w1), c3 (n1);
     * c2 gets two events in one transaction of capacity 1 and fails. */
    struct flm_event *evs[] = {ev_dc("e1", "east"), ev_dc("w1", "west"), ev_dc("w2", "west"),
                               ev_dc("n1", NULL)};
    struct flm_err err = {0};
    assert_int_equal(flm_processor_put(p, evs, 4, &err), FLM_EFULL);
    assert_true(strlen(err.msg) > 0);
    assert_string_equal(drain(c[0]), "e1,w1,w2"); /* committed before the failure */
    assert_string_equal(drain(c[1]), "");
    assert_string_equal(drain(c[2]), "");          /* never reached */
    assert_string_equal(drain(c[3]), "");          /* optional: after required ones */
    flm_processor_free(p);
    for (int i = 0; i < 4; i++)
        chan_free(c[i]);
}

static void multiplexing_without_default_drops_unmapped_events(void **state)
{
    (void)state;
    struct flm_channel *c[2] = {chan_new("c1", "100", "100"), chan_new("c2", "100", "100")};
    struct flm_diag d;
    flm_diag_init(&d);
    struct flm_selector *sel;
    const char *const kv[] = {"header=datacenter", "mapping.east=c1", NULL};
    assert_int_equal(sel_new("multiplexing", c, 2, kv, &sel, &d), FLM_OK);
    assert_true(diag_has(&d, "default", "dropped"));
    flm_diag_free(&d);
    struct flm_processor *p;
    assert_int_equal(flm_processor_new(sel, NULL, 0, &p), FLM_OK);
    struct flm_event *evs[] = {ev_dc("u1", "west"), ev_dc("e1", "east"), ev_dc("n1", NULL)};
    struct flm_err err = {0};
    assert_int_equal(flm_processor_put(p, evs, 3, &err), FLM_OK);
    assert_string_equal(drain(c[0]), "e1");
    assert_string_equal(drain(c[1]), "");
    /* All routed nowhere: freed, call succeeds (ASan checks the frees). */
    struct flm_event *evs2[] = {ev_dc("u2", "x"), ev_dc("u3", NULL)};
    assert_int_equal(flm_processor_put(p, evs2, 2, &err), FLM_OK);
    flm_processor_free(p);
    for (int i = 0; i < 2; i++)
        chan_free(c[i]);
}

static void multiplexing_default_header_name_is_flume_selector_header(void **state)
{
    (void)state;
    struct flm_channel *c[2] = {chan_new("c1", "100", "100"), chan_new("c2", "100", "100")};
    const char *const kv[] = {"mapping.a=c1", "default=c2", NULL};
    struct flm_processor *p = proc_new("multiplexing", c, 2, kv);
    struct flm_hdr h = flm_hdr_str("flume.selector.header", "a");
    struct flm_event *evs[] = {flm_event_new("x", 1, &h, 1), ev_dc("y", "a")};
    struct flm_err err = {0};
    assert_int_equal(flm_processor_put(p, evs, 2, &err), FLM_OK);
    assert_string_equal(drain(c[0]), "x");
    assert_string_equal(drain(c[1]), "y");
    flm_processor_free(p);
    for (int i = 0; i < 2; i++)
        chan_free(c[i]);
}

static void multiplexing_blank_header_value_takes_default_even_if_mapped(void **state)
{
    (void)state;
    struct flm_channel *c[2] = {chan_new("c1", "100", "100"), chan_new("c2", "100", "100")};
    /* "mapping." maps the empty value; Flume trims the value first and sends
     * blank values to the default channels anyway. */
    const char *const kv[] = {"header=datacenter", "mapping.=c1", "default=c2", NULL};
    struct flm_processor *p = proc_new("multiplexing", c, 2, kv);
    struct flm_event *evs[] = {ev_dc("empty", ""), ev_dc("tab", "\t")};
    struct flm_err err = {0};
    assert_int_equal(flm_processor_put(p, evs, 2, &err), FLM_OK);
    assert_string_equal(drain(c[0]), "");
    assert_string_equal(drain(c[1]), "empty,tab");
    flm_processor_free(p);
    for (int i = 0; i < 2; i++)
        chan_free(c[i]);
}

static void multiplexing_config_errors_name_the_key(void **state)
{
    (void)state;
    struct flm_channel *c[2] = {chan_new("c1", "100", "100"), chan_new("c2", "100", "100")};
    struct {
        const char *kv[4];
        const char *key, *text;
    } cases[] = {
        {{"mapping.east=", "default=c1", NULL}, "mapping.east", "No channel configured"},
        {{"mapping.east=c1 c9", "default=c1", NULL}, "mapping.east", "c9"},
        {{"mapping.east=c1", "default=c7", NULL}, "default", "c7"},
        {{"mapping.east=c1", "optional.east=c5", NULL}, "optional.east", "c5"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct flm_diag d;
        flm_diag_init(&d);
        struct flm_selector *sel = (void *)1;
        assert_int_equal(sel_new("multiplexing", c, 2, cases[i].kv, &sel, &d), FLM_ERR);
        assert_null(sel);
        if (!diag_has(&d, cases[i].key, cases[i].text))
            fail_msg("case %zu: no error on %s mentioning %s", i, cases[i].key, cases[i].text);
        flm_diag_free(&d);
    }
    for (int i = 0; i < 2; i++)
        chan_free(c[i]);
}

static void multiplexing_class_name_resolves(void **state)
{
    (void)state;
    const struct flm_type *t =
        flm_registry_find(FLM_SELECTOR, "org.apache.flume.channel.MultiplexingChannelSelector");
    assert_non_null(t);
    assert_string_equal(t->alias, "multiplexing");
    assert_ptr_equal(flm_registry_find(FLM_SELECTOR, "MULTIPLEXING"), t);
    t = flm_registry_find(FLM_SELECTOR, "org.apache.flume.channel.LoadBalancingChannelSelector");
    assert_non_null(t);
    assert_string_equal(t->alias, "load_balancing");
}

static void load_balancing_round_robin_alternates_one_channel_per_event(void **state)
{
    (void)state;
    struct flm_channel *c[3] = {chan_new("c1", "100", "100"), chan_new("c2", "100", "100"),
                                chan_new("c3", "100", "100")};
    struct flm_processor *p = proc_new("load_balancing", c, 3, NULL);
    struct flm_event *evs[7];
    const char *names[] = {"a", "b", "c", "d", "e", "f", "g"};
    for (int i = 0; i < 7; i++)
        evs[i] = ev_dc(names[i], NULL);
    struct flm_err err = {0};
    assert_int_equal(flm_processor_put(p, evs, 4, &err), FLM_OK);
    /* The counter is shared across batches. */
    assert_int_equal(flm_processor_put(p, evs + 4, 3, &err), FLM_OK);
    assert_string_equal(drain(c[0]), "a,d,g");
    assert_string_equal(drain(c[1]), "b,e");
    assert_string_equal(drain(c[2]), "c,f");
    flm_processor_free(p);
    for (int i = 0; i < 3; i++)
        chan_free(c[i]);
}

static void load_balancing_random_sends_every_event_exactly_once(void **state)
{
    (void)state;
    enum { N = 600 };
    struct flm_channel *c[2] = {chan_new("c1", "1000", "1000"), chan_new("c2", "1000", "1000")};
    const char *const kv[] = {"policy=random", NULL};
    struct flm_processor *p = proc_new("load_balancing", c, 2, kv);
    struct flm_event **evs = calloc(N, sizeof(*evs));
    for (int i = 0; i < N; i++)
        evs[i] = flm_event_new("r", 1, NULL, 0);
    struct flm_err err = {0};
    assert_int_equal(flm_processor_put(p, evs, N, &err), FLM_OK);
    uint64_t n1 = flm_channel_size(c[0]), n2 = flm_channel_size(c[1]);
    assert_int_equal(n1 + n2, N);
    assert_true(n1 > N / 4 && n2 > N / 4); /* fails with probability ~1e-35 */
    drain(c[0]);
    drain(c[1]);
    free(evs);
    struct flm_diag d;
    flm_diag_init(&d);
    struct flm_selector *sel;
    const char *const bad[] = {"policy=sticky", NULL};
    assert_int_equal(sel_new("load_balancing", c, 2, bad, &sel, &d), FLM_ERR);
    assert_true(diag_has(&d, "policy", "sticky"));
    flm_diag_free(&d);
    flm_processor_free(p);
    for (int i = 0; i < 2; i++)
        chan_free(c[i]);
}

/* Many batches of random routing over 5 channels, some small enough to fail
 * (required c4, optional c5): both the success and the failure paths of
 * put_selected run, and ASan proves no event leaks or is freed twice. */
static void put_selected_random_batches_consume_every_event_once(void **state)
{
    (void)state;
    struct flm_channel *c[5];
    for (int i = 0; i < 5; i++) {
        char nm[8];
        snprintf(nm, sizeof(nm), "c%d", i + 1);
        c[i] = chan_new(nm, i == 4 ? "7" : "1000", i == 3 ? "5" : "100");
    }
    const char *const kv[] = {"header=h",          "mapping.a=c1",       "mapping.b=c1 c2 c3",
                              "mapping.c=c4",      "optional.a=c5 c2",   "optional.c=c5",
                              "default=c2",        "optional.d=c4 c5",   NULL};
    struct flm_processor *p = proc_new("multiplexing", c, 5, kv);
    unsigned seed = 12345;
    uint64_t fails = 0, oks = 0;
    for (int round = 0; round < 300; round++) {
        struct flm_event *evs[40];
        size_t n = (size_t)(rand_r(&seed) % 40);
        for (size_t i = 0; i < n; i++) {
            const char *vals[] = {"a", "b", "c", "d", "zz"};
            struct flm_hdr h = flm_hdr_str("h", vals[rand_r(&seed) % 5]);
            evs[i] = flm_event_new("p", 1, &h, rand_r(&seed) % 7 ? 1 : 0);
        }
        struct flm_err err = {0};
        if (flm_processor_put(p, evs, n, &err) == FLM_OK)
            oks++;
        else
            fails++;
        if (round % 3 == 0)
            for (int i = 0; i < 5; i++)
                drain(c[i]);
    }
    assert_true(oks > 0 && fails > 0); /* both paths were exercised */
    for (int i = 0; i < 5; i++) {
        drain(c[i]);
        chan_free(c[i]);
    }
    flm_processor_free(p);
}

/* ------------------------------------------ header templates + routing */

/* The processor's fast path (a run of constant-header interceptors applied
 * as one template, the route chosen once for events the template set the
 * selector's header on) must give exactly what running every interceptor
 * one by one and selecting per event gives.  Twin processors, one with the
 * real interceptors and one with copies of their types whose const_header
 * is hidden, get the same mixed batches (with and without header room,
 * headers already present and preserved or replaced, values routed
 * elsewhere, more than one 64-event slice); every channel must receive the
 * same events with the same headers in the same order. */
static struct flm_interceptor_ops slow_ops[3];
static struct flm_type slow_types[3];

static struct flm_interceptor *ic_make(const char *alias, bool slow, int idx,
                                       const char *const *kvs)
{
    const struct flm_type *t = flm_registry_find(FLM_INTERCEPTOR, alias);
    assert_non_null(t);
    if (slow) {
        slow_ops[idx] = *(const struct flm_interceptor_ops *)t->ops;
        slow_ops[idx].const_header = NULL;
        slow_types[idx] = *t;
        slow_types[idx].ops = &slow_ops[idx];
        t = &slow_types[idx];
    }
    struct flm_kvs kv;
    flm_kvs_init(&kv);
    for (size_t i = 0; kvs[i]; i++) {
        char k[64];
        const char *eq = strchr(kvs[i], '=');
        snprintf(k, sizeof(k), "%.*s", (int)(eq - kvs[i]), kvs[i]);
        flm_kvs_set(&kv, k, eq + 1, "i.conf", (int)i + 1);
    }
    struct flm_interceptor *ic = calloc(1, sizeof(*ic));
    ic->c.type = t;
    snprintf(ic->c.path, sizeof(ic->c.path), "a1.sources.r1.interceptors.i%d", idx);
    flm_logctx_init(&ic->c.log, ic->c.path, alias);
    ic->c.conf = calloc(1, t->conf_size);
    struct flm_diag d;
    flm_diag_init(&d);
    assert_int_equal(flm_props_load(t->props, &kv, ic->c.conf, ic->c.path, &d), FLM_OK);
    flm_diag_free(&d);
    flm_kvs_free(&kv);
    struct flm_err err = {0};
    const struct flm_interceptor_ops *ops = t->ops;
    if (ops->init)
        assert_int_equal(ops->init(ic, &err), FLM_OK);
    return ic;
}

static struct flm_processor *tmpl_proc(struct flm_channel **chans, bool slow)
{
    static const char *const conf[] = {"header=datacenter", "mapping.east=c1",
                                       "mapping.west=c2", "optional.east=c3", "default=c3",
                                       NULL};
    struct flm_diag d;
    flm_diag_init(&d);
    struct flm_selector *sel;
    assert_int_equal(sel_new("multiplexing", chans, 3, conf, &sel, &d), FLM_OK);
    flm_diag_free(&d);
    struct flm_interceptor **ics = calloc(3, sizeof(*ics));
    ics[0] = ic_make("static", slow, 0,
                     (const char *const[]){"key=datacenter", "value=east", NULL});
    ics[1] = ic_make("host", slow, 1, (const char *const[]){"hostHeader=h", NULL});
    ics[2] = ic_make("static", slow, 2,
                     (const char *const[]){"key=k3", "value=v3", "preserveExisting=false",
                                           NULL});
    struct flm_processor *p;
    assert_int_equal(flm_processor_new(sel, ics, 3, &p), FLM_OK);
    return p;
}

/* Event i of the mixed batch. */
static struct flm_event *tmpl_event(size_t i)
{
    char body[32];
    snprintf(body, sizeof(body), "e%zu", i);
    struct flm_hdr h[2];
    size_t nh = 0;
    switch (i % 6) {
    case 2: h[nh++] = flm_hdr_str("datacenter", "west"); break;  /* preserved: to c2 */
    case 3: h[nh++] = flm_hdr_str("k3", "old"); break;          /* replaced */
    case 4: h[nh++] = flm_hdr_str("h", "preset"); h[nh++] = flm_hdr_str("x", "y"); break;
    case 5: h[nh++] = flm_hdr_str("datacenter", " "); break;    /* blank: default */
    default: break;
    }
    /* Every third event has no header room: the template cannot go in. */
    size_t slots = i % 3 == 1 ? 0 : 3, bytes = i % 3 == 1 ? 0 : 128;
    struct flm_event *ev = flm_event_new_room(body, strlen(body), h, nh, slots, bytes);
    assert_non_null(ev);
    return ev;
}

/* Appends "body{k=v,...};" for every event taken from ch to out. */
static void dump_channel(struct flm_channel *ch, char *out, size_t cap)
{
    size_t len = strlen(out);
    for (;;) {
        struct flm_txn *tx;
        struct flm_event *evs[64];
        size_t n = 0;
        assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
        assert_int_equal(flm_txn_take(tx, evs, 64, &n), FLM_OK);
        assert_int_equal(flm_txn_commit(tx), FLM_OK);
        flm_txn_end(tx);
        for (size_t i = 0; i < n; i++) {
            len += (size_t)snprintf(out + len, cap - len, "%s{", (const char *)evs[i]->body);
            for (uint32_t k = 0; k < evs[i]->nhdr; k++)
                len += (size_t)snprintf(out + len, cap - len, "%s=%s,", evs[i]->hdr[k].key,
                                        evs[i]->hdr[k].val);
            len += (size_t)snprintf(out + len, cap - len, "};");
            assert_true(len < cap);
            flm_event_free(evs[i]);
        }
        if (n == 0)
            break;
    }
    len += (size_t)snprintf(out + len, cap - len, "|");
}

static void header_template_and_known_route_match_the_one_by_one_path(void **state)
{
    (void)state;
    enum { N = 150, CAP = 64 * 1024 };
    char *got[2];
    for (int slow = 0; slow < 2; slow++) {
        struct flm_channel *ch[3] = {chan_new("c1", "1000", "1000"),
                                     chan_new("c2", "1000", "1000"),
                                     chan_new("c3", "1000", "1000")};
        struct flm_processor *p = tmpl_proc(ch, slow);
        got[slow] = calloc(1, CAP);
        for (int round = 0; round < 3; round++) { /* later rounds run on learned room */
            struct flm_event *evs[N];
            struct flm_err err = {0};
            if (round < 2 || slow) {
                for (size_t i = 0; i < N; i++)
                    evs[i] = tmpl_event(i);
                assert_int_equal(flm_processor_put(p, evs, N, &err), FLM_OK);
                continue;
            }
            /* As netcat does: prepare every few events as they are made. */
            uint64_t req[N], opt[N];
            size_t n = 0, prep = 0;
            for (size_t i = 0; i < N; i++) {
                evs[n++] = tmpl_event(i);
                if (n - prep == 7)
                    prep = n = flm_processor_prepare(p, evs, prep, n, req, opt);
            }
            n = flm_processor_prepare(p, evs, prep, n, req, opt);
            assert_int_equal(n, N);
            assert_int_equal(flm_processor_put_prepared(p, evs, n, req, opt, &err), FLM_OK);
        }
        for (int c = 0; c < 3; c++)
            dump_channel(ch[c], got[slow], CAP);
        flm_processor_free(p);
        for (int c = 0; c < 3; c++)
            chan_free(ch[c]);
    }
    assert_string_equal(got[0], got[1]);
    /* Spot checks that the path did what the headers say. */
    assert_non_null(strstr(got[0], "e0{datacenter=east,h="));
    assert_non_null(strstr(got[0], "e3{k3=v3,datacenter=east,h="));
    assert_non_null(strstr(got[0], "e2{datacenter=west,h="));
    assert_null(strstr(got[0], "preset"));
    free(got[0]);
    free(got[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(multiplexing_routes_by_header_value_with_default_and_optional),
        cmocka_unit_test(channel_required_for_some_and_optional_for_others_gets_both),
        cmocka_unit_test(multiplexing_full_optional_channel_does_not_fail_the_put),
        cmocka_unit_test(
            multiplexing_full_required_channel_fails_and_earlier_channels_keep_events),
        cmocka_unit_test(multiplexing_without_default_drops_unmapped_events),
        cmocka_unit_test(multiplexing_default_header_name_is_flume_selector_header),
        cmocka_unit_test(multiplexing_blank_header_value_takes_default_even_if_mapped),
        cmocka_unit_test(multiplexing_config_errors_name_the_key),
        cmocka_unit_test(multiplexing_class_name_resolves),
        cmocka_unit_test(load_balancing_round_robin_alternates_one_channel_per_event),
        cmocka_unit_test(load_balancing_random_sends_every_event_exactly_once),
        cmocka_unit_test(put_selected_random_batches_consume_every_event_once),
        cmocka_unit_test(header_template_and_known_route_match_the_one_by_one_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
