/*
 * processor_test.c - tests of the channel processor (src/core/processor.c)
 * with the replicating selector and the real memory channel
 * (behaviours.md 3 and 4): fan-out copies, required-channel failures with
 * Flume's texts and no cross-channel atomicity, optional channels whose
 * failures are only logged, interceptors that drop or replace events, and
 * the rule that flm_processor_put always consumes its events.  Run under
 * ASan to prove there is no leak or double free on any path.
 * Single-threaded (the source's thread is the test's).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/component.h"
#include "core/processor.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const struct flm_type flm_channel_memory;
extern const struct flm_type flm_selector_replicating;

static const char MSG_QUEUE_FULL[] =
    "Space for commit to queue couldn't be acquired. Sinks are likely not keeping up with "
    "sources, or the buffer size is too tight";

/* ------------------------------------------------------------- fixtures */

static struct flm_channel *chan_new(const char *name, const char *cap, const char *txcap)
{
    struct flm_kvs kv;
    flm_kvs_init(&kv);
    flm_kvs_set(&kv, "capacity", cap, "p.conf", 1);
    flm_kvs_set(&kv, "transactionCapacity", txcap, "p.conf", 2);
    flm_kvs_set(&kv, "keep-alive", "0", "p.conf", 3);   /* fail at once when full */
    struct flm_diag d;
    flm_diag_init(&d);
    struct flm_channel *ch = calloc(1, sizeof(*ch));
    assert_non_null(ch);
    ch->c.conf = calloc(1, flm_channel_memory.conf_size);
    assert_non_null(ch->c.conf);
    snprintf(ch->c.name, sizeof(ch->c.name), "%s", name);
    snprintf(ch->c.path, sizeof(ch->c.path), "a1.channels.%s", name);
    assert_int_equal(flm_props_load(flm_channel_memory.props, &kv, ch->c.conf, ch->c.path, &d),
                     FLM_OK);
    assert_int_equal(flm_channel_memory.validate(ch->c.conf, ch->c.path, &d), FLM_OK);
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

/* A replicating selector over chans with selector.optional = optional (or
 * none).  Returns FLM_OK/FLM_ERR of its init; *out NULL on FLM_ERR. */
static int sel_new(struct flm_channel **chans, size_t n, const char *optional,
                   struct flm_selector **out, struct flm_diag *d)
{
    struct flm_kvs kv;
    flm_kvs_init(&kv);
    if (optional)
        flm_kvs_set(&kv, "optional", optional, "p.conf", 9);
    struct flm_selector *sel = calloc(1, sizeof(*sel));
    assert_non_null(sel);
    sel->c.type = &flm_selector_replicating;
    snprintf(sel->c.path, sizeof(sel->c.path), "a1.sources.r1.selector");
    sel->c.conf = calloc(1, flm_selector_replicating.conf_size);
    sel->chans = calloc(n + 1, sizeof(*sel->chans));
    assert_non_null(sel->chans);
    memcpy(sel->chans, chans, n * sizeof(*chans));
    sel->nchans = n;
    assert_int_equal(flm_props_load(flm_selector_replicating.props, &kv, sel->c.conf,
                                    sel->c.path, d),
                     FLM_OK);
    flm_kvs_free(&kv);
    const struct flm_selector_ops *ops = flm_selector_replicating.ops;
    int rc = ops->init(sel, d);
    if (rc != FLM_OK) {
        flm_selector_free(sel);
        sel = NULL;
    }
    *out = sel;
    return rc;
}

static struct flm_processor *proc_new(struct flm_channel **chans, size_t n, const char *optional)
{
    struct flm_diag d;
    flm_diag_init(&d);
    struct flm_selector *sel;
    assert_int_equal(sel_new(chans, n, optional, &sel, &d), FLM_OK);
    assert_int_equal(d.nerr, 0);
    flm_diag_free(&d);
    struct flm_processor *p;
    assert_int_equal(flm_processor_new(sel, NULL, 0, &p), FLM_OK);
    return p;
}

/* n fresh events with bodies "<prefix><i>" and a header seq=<i>. */
static void make_events(struct flm_event **evs, size_t n, const char *prefix)
{
    for (size_t i = 0; i < n; i++) {
        char body[64], v[24];
        int bl = snprintf(body, sizeof(body), "%s%zu", prefix, i);
        snprintf(v, sizeof(v), "%zu", i);
        struct flm_hdr h = flm_hdr_str("seq", v);
        evs[i] = flm_event_new(body, (size_t)bl, &h, 1);
        assert_non_null(evs[i]);
    }
}

/* Takes everything committed in ch into out (cap max), in as many
 * transactions as its transaction capacity needs. */
static size_t take_all(struct flm_channel *ch, struct flm_event **out, size_t max)
{
    size_t total = 0;
    for (;;) {
        struct flm_txn *tx;
        size_t n = 0;
        assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
        assert_int_equal(flm_txn_take(tx, out + total, max - total, &n), FLM_OK);
        assert_int_equal(flm_txn_commit(tx), FLM_OK);
        flm_txn_end(tx);
        total += n;
        if (n == 0 || total == max)
            return total;
    }
}

static void free_events(struct flm_event **evs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        flm_event_free(evs[i]);
}

static void assert_bodies(struct flm_event **evs, size_t n, const char *prefix, size_t first)
{
    for (size_t i = 0; i < n; i++) {
        char want[64];
        snprintf(want, sizeof(want), "%s%zu", prefix, first + i);
        assert_int_equal(evs[i]->body_len, strlen(want));
        assert_memory_equal(evs[i]->body, want, strlen(want));
        char v[24];
        snprintf(v, sizeof(v), "%zu", first + i);
        assert_string_equal(flm_event_header(evs[i], "seq"), v);
    }
}

/* Captures what the code under test writes to stderr (fd 2). */
struct capture {
    int saved;
    char path[64];
};

static void capture_begin(struct capture *c)
{
    snprintf(c->path, sizeof(c->path), "/tmp/processor_test_%d.log", (int)getpid());
    int fd = open(c->path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    assert_true(fd >= 0);
    fflush(stderr);
    c->saved = dup(2);
    dup2(fd, 2);
    close(fd);
}

/* Returns the captured text (malloc'd) and restores stderr. */
static char *capture_end(struct capture *c)
{
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    FILE *f = fopen(c->path, "r");
    assert_non_null(f);
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    unlink(c->path);
    return buf;
}

/* ------------------------------------------------------------------ tests */

static void single_channel_receives_the_batch_in_order(void **state)
{
    (void)state;
    struct flm_channel *c1 = chan_new("c1", "100", "100");
    struct flm_processor *p = proc_new((struct flm_channel *[]){c1}, 1, NULL);
    struct flm_event *evs[10], *got[20];
    make_events(evs, 10, "e");
    struct flm_err err = {0};
    assert_int_equal(flm_processor_put(p, evs, 10, &err), FLM_OK);
    assert_int_equal(flm_channel_size(c1), 10);
    assert_int_equal(take_all(c1, got, 20), 10);
    assert_bodies(got, 10, "e", 0);
    free_events(got, 10);
    assert_int_equal(flm_processor_max_batch(p), 100);
    /* An empty batch is a no-op. */
    assert_int_equal(flm_processor_put(p, evs, 0, &err), FLM_OK);
    flm_processor_free(p);
    chan_free(c1);
}

static void fan_out_gives_each_channel_its_own_copy(void **state)
{
    (void)state;
    struct flm_channel *c1 = chan_new("c1", "100", "50");
    struct flm_channel *c2 = chan_new("c2", "100", "20");
    struct flm_channel *c3 = chan_new("c3", "100", "100");
    struct flm_processor *p = proc_new((struct flm_channel *[]){c1, c2, c3}, 3, NULL);
    assert_int_equal(flm_processor_max_batch(p), 20);
    struct flm_event *evs[5], *g1[8], *g2[8], *g3[8];
    make_events(evs, 5, "body-");
    struct flm_err err = {0};
    assert_int_equal(flm_processor_put(p, evs, 5, &err), FLM_OK);
    assert_int_equal(take_all(c1, g1, 8), 5);
    assert_int_equal(take_all(c2, g2, 8), 5);
    assert_int_equal(take_all(c3, g3, 8), 5);
    assert_bodies(g1, 5, "body-", 0);
    assert_bodies(g2, 5, "body-", 0);
    assert_bodies(g3, 5, "body-", 0);
    for (size_t i = 0; i < 5; i++) {
        assert_ptr_not_equal(g1[i], g2[i]);
        assert_ptr_not_equal(g1[i], g3[i]);
        assert_ptr_not_equal(g2[i], g3[i]);
    }
    /* Changing one copy leaves the others alone. */
    assert_int_equal(flm_event_set_header(&g1[0], "seq", "changed"), FLM_OK);
    assert_string_equal(flm_event_header(g2[0], "seq"), "0");
    assert_string_equal(flm_event_header(g3[0], "seq"), "0");
    /* Freeing all three sets must not double free (ASan). */
    free_events(g1, 5);
    free_events(g2, 5);
    free_events(g3, 5);
    flm_processor_free(p);
    chan_free(c1);
    chan_free(c2);
    chan_free(c3);
}

static void fan_out_of_a_batch_larger_than_256_events(void **state)
{
    (void)state;
    enum { N = 300 };
    struct flm_channel *c1 = chan_new("c1", "1000", "1000");
    struct flm_channel *c2 = chan_new("c2", "1000", "1000");
    struct flm_processor *p = proc_new((struct flm_channel *[]){c1, c2}, 2, NULL);
    struct flm_event **evs = calloc(N, sizeof(*evs)), **g = calloc(N + 1, sizeof(*g));
    make_events(evs, N, "x");
    struct flm_err err = {0};
    assert_int_equal(flm_processor_put(p, evs, N, &err), FLM_OK);
    assert_int_equal(take_all(c1, g, N + 1), N);
    assert_bodies(g, N, "x", 0);
    free_events(g, N);
    assert_int_equal(take_all(c2, g, N + 1), N);
    assert_bodies(g, N, "x", 0);
    free_events(g, N);
    free(evs);
    free(g);
    flm_processor_free(p);
    chan_free(c1);
    chan_free(c2);
}

static void required_channel_full_fails_and_earlier_channel_keeps_its_events(void **state)
{
    (void)state;
    struct flm_channel *c1 = chan_new("c1", "10", "5");
    struct flm_channel *c2 = chan_new("c2", "5", "5");
    struct flm_processor *p = proc_new((struct flm_channel *[]){c1, c2}, 2, NULL);
    struct flm_event *evs[5], *g[16];
    struct flm_err err = {0};

    make_events(evs, 5, "a");
    assert_int_equal(flm_processor_put(p, evs, 5, &err), FLM_OK);   /* c2 now full */
    make_events(evs, 5, "b");
    err.msg[0] = '\0';
    int rc = flm_processor_put(p, evs, 5, &err);
    assert_int_equal(rc, FLM_EFULL);
    assert_string_equal(err.msg, MSG_QUEUE_FULL);
    /* No cross-channel atomicity: c1 committed the second batch too. */
    assert_int_equal(flm_channel_size(c1), 10);
    assert_int_equal(flm_channel_size(c2), 5);
    assert_int_equal(take_all(c1, g, 16), 10);
    assert_bodies(g, 5, "a", 0);
    assert_bodies(g + 5, 5, "b", 0);
    free_events(g, 10);
    assert_int_equal(take_all(c2, g, 16), 5);
    assert_bodies(g, 5, "a", 0);
    free_events(g, 5);
    /* CHANNEL counters: the failed put was attempted but not a success. */
    assert_int_equal(flm_ctr_get(&c2->c.ctr, FLM_CH_PUT_ATTEMPT), 10);
    assert_int_equal(flm_ctr_get(&c2->c.ctr, FLM_CH_PUT_SUCCESS), 5);
    flm_processor_free(p);
    chan_free(c1);
    chan_free(c2);
}

static void batch_over_transaction_capacity_fails_with_put_queue_text(void **state)
{
    (void)state;
    struct flm_channel *c1 = chan_new("c1", "100", "100");
    struct flm_channel *c2 = chan_new("c2", "100", "3");
    struct flm_processor *p = proc_new((struct flm_channel *[]){c1, c2}, 2, NULL);
    struct flm_event *evs[4], *g[8];
    make_events(evs, 4, "t");
    struct flm_err err = {0};
    assert_int_equal(flm_processor_put(p, evs, 4, &err), FLM_EFULL);
    assert_string_equal(err.msg,
                        "Put queue for MemoryTransaction of capacity 3 full, consider committing "
                        "more frequently, increasing capacity or increasing thread count");
    assert_int_equal(flm_channel_size(c2), 0);
    assert_int_equal(take_all(c1, g, 8), 4);
    free_events(g, 4);
    flm_processor_free(p);
    chan_free(c1);
    chan_free(c2);
}

static void failing_first_required_channel_stops_before_later_channels(void **state)
{
    (void)state;
    struct flm_channel *c1 = chan_new("c1", "2", "2");
    struct flm_channel *c2 = chan_new("c2", "100", "100");
    struct flm_processor *p = proc_new((struct flm_channel *[]){c1, c2}, 2, NULL);
    struct flm_event *evs[2], *g[8];
    struct flm_err err = {0};
    make_events(evs, 2, "a");
    assert_int_equal(flm_processor_put(p, evs, 2, &err), FLM_OK);
    make_events(evs, 2, "b");
    assert_int_equal(flm_processor_put(p, evs, 2, &err), FLM_EFULL);
    assert_string_equal(err.msg, MSG_QUEUE_FULL);
    assert_int_equal(flm_channel_size(c2), 2);   /* only the first batch */
    assert_int_equal(take_all(c2, g, 8), 2);
    assert_bodies(g, 2, "a", 0);
    free_events(g, 2);
    flm_processor_free(p);
    chan_free(c1);
    chan_free(c2);
}

static void optional_channel_full_is_logged_and_put_succeeds(void **state)
{
    (void)state;
    struct flm_channel *c1 = chan_new("c1", "100", "10");
    struct flm_channel *c2 = chan_new("c2", "3", "3");
    struct flm_processor *p = proc_new((struct flm_channel *[]){c1, c2}, 2, "c2");
    struct flm_event *evs[3], *g[16];
    struct flm_err err = {0};
    make_events(evs, 3, "a");
    assert_int_equal(flm_processor_put(p, evs, 3, &err), FLM_OK);   /* c2 full now */

    struct capture cap;
    capture_begin(&cap);
    make_events(evs, 3, "b");
    int rc = flm_processor_put(p, evs, 3, &err);
    char *log = capture_end(&cap);
    assert_int_equal(rc, FLM_OK);
    if (strstr(log, "Unable to put event on optional channel c2") == NULL ||
        strstr(log, MSG_QUEUE_FULL) == NULL)
        print_message("captured log: %s\n", log);
    assert_non_null(strstr(log, "Unable to put event on optional channel c2"));
    assert_non_null(strstr(log, MSG_QUEUE_FULL));
    free(log);

    assert_int_equal(take_all(c1, g, 16), 6);
    assert_bodies(g, 3, "a", 0);
    assert_bodies(g + 3, 3, "b", 0);
    free_events(g, 6);
    assert_int_equal(take_all(c2, g, 16), 3);
    assert_bodies(g, 3, "a", 0);
    free_events(g, 3);
    flm_processor_free(p);
    chan_free(c1);
    chan_free(c2);
}

static void required_channels_are_written_before_optional_ones(void **state)
{
    (void)state;
    /* c1 is optional and listed first; c2 is required and full: Flume
     * writes required channels first and throws before any optional one. */
    struct flm_channel *c1 = chan_new("c1", "100", "10");
    struct flm_channel *c2 = chan_new("c2", "1", "1");
    struct flm_processor *p = proc_new((struct flm_channel *[]){c1, c2}, 2, "c1");
    struct flm_event *evs[1], *g[8];
    struct flm_err err = {0};
    make_events(evs, 1, "a");
    assert_int_equal(flm_processor_put(p, evs, 1, &err), FLM_OK);
    make_events(evs, 1, "b");
    assert_int_equal(flm_processor_put(p, evs, 1, &err), FLM_EFULL);
    assert_int_equal(take_all(c1, g, 8), 1);
    assert_bodies(g, 1, "a", 0);
    free_events(g, 1);
    flm_processor_free(p);
    chan_free(c1);
    chan_free(c2);
}

static void all_channels_optional_and_full_still_returns_ok(void **state)
{
    (void)state;
    struct flm_channel *c1 = chan_new("c1", "1", "1");
    struct flm_channel *c2 = chan_new("c2", "1", "1");
    struct flm_processor *p = proc_new((struct flm_channel *[]){c1, c2}, 2, "c1 c2");
    struct flm_event *evs[1], *g[4];
    struct flm_err err = {0};
    for (int round = 0; round < 3; round++) {
        make_events(evs, 1, round == 0 ? "first" : "later");
        struct capture cap;
        capture_begin(&cap);
        assert_int_equal(flm_processor_put(p, evs, 1, &err), FLM_OK);
        free(capture_end(&cap));
    }
    assert_int_equal(take_all(c1, g, 4), 1);
    assert_bodies(g, 1, "first", 0);
    free_events(g, 1);
    assert_int_equal(take_all(c2, g, 4), 1);
    assert_bodies(g, 1, "first", 0);
    free_events(g, 1);
    flm_processor_free(p);
    chan_free(c1);
    chan_free(c2);
}

static void optional_name_outside_the_source_channels_is_rejected(void **state)
{
    (void)state;
    struct flm_channel *c1 = chan_new("c1", "10", "10");
    struct flm_diag d;
    flm_diag_init(&d);
    struct flm_selector *sel;
    assert_int_equal(sel_new((struct flm_channel *[]){c1}, 1, "c1 c9", &sel, &d), FLM_ERR);
    assert_null(sel);
    assert_int_equal(d.nerr, 1);
    assert_non_null(strstr(d.v[0].msg, "'c9'"));
    assert_string_equal(d.v[0].comp, "a1.sources.r1.selector");
    assert_string_equal(d.v[0].key, "optional");
    flm_diag_free(&d);
    chan_free(c1);
}

/* ------------------------------------------------------ interceptors */

/* Drops events whose body starts with 'd', replaces those starting with 'r'
 * by a new event with body "R" (freeing the old one), keeps the rest. */
static size_t filt_intercept(struct flm_interceptor *ic, struct flm_event **evs, size_t n)
{
    (void)ic;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (evs[i]->body_len > 0 && evs[i]->body[0] == 'd') {
            flm_event_free(evs[i]);
            continue;
        }
        if (evs[i]->body_len > 0 && evs[i]->body[0] == 'r') {
            struct flm_event *nev = flm_event_new("R", 1, NULL, 0);
            assert_non_null(nev);
            flm_event_free(evs[i]);
            evs[i] = nev;
        }
        evs[o++] = evs[i];
    }
    return o;
}

static const struct flm_interceptor_ops filt_ops = {.intercept = filt_intercept};
static const struct flm_prop no_props[] = {FLM_PROPS_END};
static const struct flm_type filt_type = {
    .kind = FLM_INTERCEPTOR, .alias = "testfilter", .props = no_props, .conf_size = 1,
    .ops = &filt_ops,
};

static struct flm_processor *proc_with_filter(struct flm_channel **chans, size_t n)
{
    struct flm_diag d;
    flm_diag_init(&d);
    struct flm_selector *sel;
    assert_int_equal(sel_new(chans, n, NULL, &sel, &d), FLM_OK);
    flm_diag_free(&d);
    struct flm_interceptor **ics = calloc(2, sizeof(*ics));
    ics[0] = calloc(1, sizeof(**ics));
    ics[0]->c.type = &filt_type;
    ics[0]->c.conf = calloc(1, 1);
    struct flm_processor *p;
    assert_int_equal(flm_processor_new(sel, ics, 1, &p), FLM_OK);
    return p;
}

static void interceptors_drop_and_replace_before_the_channels(void **state)
{
    (void)state;
    struct flm_channel *c1 = chan_new("c1", "100", "100");
    struct flm_channel *c2 = chan_new("c2", "100", "100");
    struct flm_processor *p = proc_with_filter((struct flm_channel *[]){c1, c2}, 2);
    static const char *const bodies[] = {"keep1", "drop", "replace", "keep2", "dd"};
    struct flm_event *evs[5], *g[8];
    for (int i = 0; i < 5; i++)
        evs[i] = flm_event_new(bodies[i], strlen(bodies[i]), NULL, 0);
    struct flm_err err = {0};
    assert_int_equal(flm_processor_put(p, evs, 5, &err), FLM_OK);
    for (int c = 0; c < 2; c++) {
        assert_int_equal(take_all(c ? c2 : c1, g, 8), 3);
        assert_memory_equal(g[0]->body, "keep1", 5);
        assert_memory_equal(g[1]->body, "R", 1);
        assert_memory_equal(g[2]->body, "keep2", 5);
        free_events(g, 3);
    }
    /* Everything dropped: nothing written, still OK. */
    evs[0] = flm_event_new("d1", 2, NULL, 0);
    evs[1] = flm_event_new("d2", 2, NULL, 0);
    assert_int_equal(flm_processor_put(p, evs, 2, &err), FLM_OK);
    assert_int_equal(flm_channel_size(c1), 0);
    assert_int_equal(flm_channel_size(c2), 0);
    flm_processor_free(p);
    chan_free(c1);
    chan_free(c2);
}

/* A header interceptor: sets conf-less fixed headers chosen by its alias and
 * counts the events that moved (were rebuilt) while it set them. */
static size_t tag_moved;

static size_t tag_intercept(struct flm_interceptor *ic, struct flm_event **evs, size_t n)
{
    const char *k = ic->c.type->alias[3] == '1' ? "datacenter" : "timestamp";
    const char *v = ic->c.type->alias[3] == '1' ? "east" : "1700000000000";
    if (ic->c.type->alias[3] == '3') {
        k = "big";
        v = "0123456789012345678901234567890123456789012345678901234567890123456789"
            "0123456789012345678901234567890123456789012345678901234567890123456789"
            "0123456789012345678901234567890123456789012345678901234567890123456789"
            "0123456789012345678901234567890123456789012345678901234567890123456789";
    }
    for (size_t i = 0; i < n; i++) {
        struct flm_event *before = evs[i];
        assert_int_equal(flm_event_set_header(&evs[i], k, v), FLM_OK);
        if (evs[i] != before)
            tag_moved++;
    }
    return n;
}

static const struct flm_interceptor_ops tag_ops = {.intercept = tag_intercept};
static const struct flm_type tag1_type = {
    .kind = FLM_INTERCEPTOR, .alias = "tag1", .props = no_props, .conf_size = 1, .ops = &tag_ops,
};
static const struct flm_type tag2_type = {
    .kind = FLM_INTERCEPTOR, .alias = "tag2", .props = no_props, .conf_size = 1, .ops = &tag_ops,
};
static const struct flm_type tag3_type = {
    .kind = FLM_INTERCEPTOR, .alias = "tag3", .props = no_props, .conf_size = 1, .ops = &tag_ops,
};

static struct flm_processor *proc_with(struct flm_channel *ch, const struct flm_type *const *t,
                                       size_t n)
{
    struct flm_diag d;
    flm_diag_init(&d);
    struct flm_selector *sel;
    assert_int_equal(sel_new(&ch, 1, NULL, &sel, &d), FLM_OK);
    flm_diag_free(&d);
    struct flm_interceptor **ics = calloc(n, sizeof(*ics));
    assert_non_null(ics);
    for (size_t i = 0; i < n; i++) {
        ics[i] = calloc(1, sizeof(**ics));
        ics[i]->c.type = t[i];
        ics[i]->c.conf = calloc(1, 1);
    }
    struct flm_processor *p;
    assert_int_equal(flm_processor_new(sel, ics, n, &p), FLM_OK);
    return p;
}

/* Puts n events made with the room the processor asks for; returns how many
 * the chain had to rebuild. */
static size_t put_with_room(struct flm_processor *p, struct flm_channel *ch, size_t n)
{
    struct flm_event *evs[16], *g[16];
    size_t slots, bytes = flm_processor_header_room(p, &slots);
    for (size_t i = 0; i < n; i++) {
        evs[i] = flm_event_new_room("line", 4, NULL, 0, slots, bytes);
        assert_non_null(evs[i]);
    }
    tag_moved = 0;
    struct flm_err err = {0};
    assert_int_equal(flm_processor_put(p, evs, n, &err), FLM_OK);
    assert_int_equal(take_all(ch, g, 16), n);
    for (size_t i = 0; i < n; i++)
        assert_memory_equal(g[i]->body, "line", 5);
    free_events(g, n);
    return tag_moved;
}

static void header_room_is_zero_without_interceptors(void **state)
{
    (void)state;
    struct flm_channel *c1 = chan_new("c1", "100", "100");
    struct flm_processor *p = proc_new(&c1, 1, NULL);
    size_t slots = 99;
    assert_int_equal(flm_processor_header_room(p, &slots), 0);
    assert_int_equal(slots, 0);
    struct flm_event *evs[4];
    make_events(evs, 4, "e");
    struct flm_err err = {0};
    assert_int_equal(flm_processor_put(p, evs, 4, &err), FLM_OK);
    assert_int_equal(flm_processor_header_room(p, &slots), 0);
    assert_int_equal(slots, 0);
    flm_processor_free(p);
    chan_free(c1);
}

/* Default estimate per interceptor first, then what the chain's events
 * carried; either way events made with that room are never rebuilt. */
static void header_room_lets_the_chain_work_in_place(void **state)
{
    (void)state;
    struct flm_channel *c1 = chan_new("c1", "100", "100");
    const struct flm_type *const t[] = {&tag1_type, &tag2_type};
    struct flm_processor *p = proc_with(c1, t, 2);
    size_t slots;
    assert_int_equal(flm_processor_header_room(p, &slots), 2 * FLM_ROOM_BYTES_PER_IC);
    assert_int_equal(slots, 2 * FLM_ROOM_SLOTS_PER_IC);
    assert_int_equal(put_with_room(p, c1, 5), 0);
    /* Learned: "datacenter"+"east" and "timestamp"+"1700000000000" with their
     * NULs (15 + 23) plus a little slack. */
    size_t bytes = flm_processor_header_room(p, &slots);
    assert_int_equal(slots, 2);
    assert_true(bytes >= 38 && bytes < 2 * FLM_ROOM_BYTES_PER_IC);
    assert_int_equal(put_with_room(p, c1, 5), 0);
    assert_int_equal(put_with_room(p, c1, 1), 0);
    /* Events made without room are rebuilt (once each: the chain's second
     * header goes into the room the first rebuild left). */
    struct flm_event *evs[3], *g[3];
    for (int i = 0; i < 3; i++)
        evs[i] = flm_event_new("line", 4, NULL, 0);
    tag_moved = 0;
    struct flm_err err = {0};
    assert_int_equal(flm_processor_put(p, evs, 3, &err), FLM_OK);
    assert_int_equal(tag_moved, 3);
    assert_int_equal(take_all(c1, g, 3), 3);
    assert_string_equal(flm_event_header(g[2], "timestamp"), "1700000000000");
    free_events(g, 3);
    flm_processor_free(p);
    chan_free(c1);
}

/* Learned room grows with what the chain needs, up to a cap: beyond it the
 * event is rebuilt, as without room, instead of every event carrying it. */
static void learned_header_room_grows_and_is_capped(void **state)
{
    (void)state;
    struct flm_channel *c1 = chan_new("c1", "100", "100");
    const struct flm_type *const t[] = {&tag1_type};
    struct flm_processor *p = proc_with(c1, t, 1);
    assert_int_equal(put_with_room(p, c1, 2), 0);
    size_t slots, small = flm_processor_header_room(p, &slots);
    assert_int_equal(slots, 1);
    flm_processor_free(p);

    const struct flm_type *const t3[] = {&tag1_type, &tag3_type};
    p = proc_with(c1, t3, 2);
    assert_int_equal(put_with_room(p, c1, 2), 2);  /* default room is too small for "big" */
    size_t capped = flm_processor_header_room(p, &slots);
    assert_int_equal(slots, 2);
    assert_true(capped > small);
    assert_true(capped <= 256);                    /* not the 300 bytes seen */
    assert_int_equal(put_with_room(p, c1, 2), 2);  /* still rebuilt, still correct */
    flm_processor_free(p);
    chan_free(c1);
}

/* A batch larger than the chain's slice: drops and replacements in every
 * slice, and the kept events reach the channel compacted and in order. */
static void interceptors_over_a_large_batch_keep_order(void **state)
{
    (void)state;
    struct flm_channel *c1 = chan_new("c1", "1000", "1000");
    struct flm_channel *c2 = chan_new("c2", "1000", "1000");
    struct flm_processor *p = proc_with_filter((struct flm_channel *[]){c1, c2}, 2);
    enum { N = 300 };
    struct flm_event *evs[N], *g[N];
    size_t kept = 0;
    for (size_t i = 0; i < N; i++) {
        char b[16];
        /* every third dropped, every seventh replaced by "R" */
        int bl = snprintf(b, sizeof(b), "%c%zu", i % 3 == 0 ? 'd' : i % 7 == 0 ? 'r' : 'k', i);
        evs[i] = flm_event_new(b, (size_t)bl, NULL, 0);
        kept += i % 3 != 0;
    }
    struct flm_err err = {0};
    assert_int_equal(flm_processor_put(p, evs, N, &err), FLM_OK);
    assert_int_equal(take_all(c1, g, N), kept);
    size_t k = 0;
    for (size_t i = 0; i < N; i++) {
        if (i % 3 == 0)
            continue;
        char b[16];
        int bl = i % 7 == 0 ? snprintf(b, sizeof(b), "R") : snprintf(b, sizeof(b), "k%zu", i);
        assert_int_equal(g[k]->body_len, bl);
        assert_memory_equal(g[k]->body, b, (size_t)bl);
        k++;
    }
    free_events(g, kept);
    assert_int_equal(take_all(c2, g, N), kept);
    free_events(g, kept);
    flm_processor_free(p);
    chan_free(c1);
    chan_free(c2);
}

static void events_are_consumed_on_every_failure_path(void **state)
{
    (void)state;
    /* Repeated failures on every kind of path: ASan reports any leak. */
    struct flm_channel *c1 = chan_new("c1", "4", "4");
    struct flm_channel *c2 = chan_new("c2", "2", "2");
    struct flm_channel *c3 = chan_new("c3", "1", "1");
    struct flm_processor *p = proc_new((struct flm_channel *[]){c1, c2, c3}, 3, "c3");
    struct flm_event *evs[8];
    struct flm_err err = {0};
    struct capture cap;
    capture_begin(&cap);
    for (int round = 0; round < 6; round++) {
        size_t n = (size_t)(round % 4) + 1;   /* 1..4: some exceed c2's txcap */
        make_events(evs, n, "z");
        int rc = flm_processor_put(p, evs, n, &err);
        assert_true(rc == FLM_OK || rc == FLM_EFULL);
    }
    free(capture_end(&cap));
    assert_true(flm_channel_size(c1) <= 4);
    assert_true(flm_channel_size(c2) <= 2);
    assert_true(flm_channel_size(c3) <= 1);
    flm_processor_free(p);
    chan_free(c1);   /* destroy frees what the channels still hold */
    chan_free(c2);
    chan_free(c3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(single_channel_receives_the_batch_in_order),
        cmocka_unit_test(fan_out_gives_each_channel_its_own_copy),
        cmocka_unit_test(fan_out_of_a_batch_larger_than_256_events),
        cmocka_unit_test(required_channel_full_fails_and_earlier_channel_keeps_its_events),
        cmocka_unit_test(batch_over_transaction_capacity_fails_with_put_queue_text),
        cmocka_unit_test(failing_first_required_channel_stops_before_later_channels),
        cmocka_unit_test(optional_channel_full_is_logged_and_put_succeeds),
        cmocka_unit_test(required_channels_are_written_before_optional_ones),
        cmocka_unit_test(all_channels_optional_and_full_still_returns_ok),
        cmocka_unit_test(optional_name_outside_the_source_channels_is_rejected),
        cmocka_unit_test(interceptors_drop_and_replace_before_the_channels),
        cmocka_unit_test(events_are_consumed_on_every_failure_path),
        cmocka_unit_test(interceptors_over_a_large_batch_keep_order),
        cmocka_unit_test(header_room_is_zero_without_interceptors),
        cmocka_unit_test(header_room_lets_the_chain_work_in_place),
        cmocka_unit_test(learned_header_room_grows_and_is_capped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
