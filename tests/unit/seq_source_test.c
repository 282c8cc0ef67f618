/*
 * seq_source_test.c - the seq source (src/sources/seq.c): bodies "0", "1",
 * ... as Flume, the bodySize extension (left-padded with '0', never cut),
 * batches, the counters, and a failed put retrying the same bodies.  The
 * source file is included so process() runs against a stand-in processor
 * defined here (flm_processor_put / flm_processor_header_room), which keeps
 * the bodies it is given and fails on request.  Single-threaded.
 */
#include "../../src/sources/seq.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

/* ---------------------------------------------- stand-in processor */

#define MAXB 2048

static char got[MAXB][256];
static size_t ngot;
static int fail_puts;     /* the next fail_puts puts fail with FLM_EFULL */

int flm_processor_put(struct flm_processor *p, struct flm_event **evs, size_t n,
                      struct flm_err *err)
{
    (void)p;
    int rc = FLM_OK;
    if (fail_puts > 0) {
        fail_puts--;
        rc = flm_err_set(err, FLM_EFULL, "channel full (test)");
    }
    for (size_t i = 0; i < n; i++) {
        if (rc == FLM_OK) {
            assert_true(ngot < MAXB);
            assert_true(evs[i]->body_len < sizeof(got[0]));
            memcpy(got[ngot], evs[i]->body, evs[i]->body_len + 1); /* with the NUL */
            ngot++;
        }
        flm_event_free(evs[i]); /* always consumed, as the real one */
    }
    return rc;
}

size_t flm_processor_header_room(const struct flm_processor *p, size_t *slots)
{
    (void)p;
    *slots = 0;
    return 0;
}

static struct flm_source *src_new(const char *batch, const char *total, const char *body_size)
{
    struct flm_kvs kvs;
    flm_kvs_init(&kvs);
    flm_kvs_set(&kvs, "batchSize", batch, "t.conf", 1);
    flm_kvs_set(&kvs, "totalEvents", total, "t.conf", 2);
    if (body_size)
        flm_kvs_set(&kvs, "bodySize", body_size, "t.conf", 3);
    struct flm_diag d;
    flm_diag_init(&d);
    struct flm_source *s = calloc(1, sizeof(*s));
    s->c.type = &flm_source_seq;
    s->c.conf = calloc(1, sizeof(struct seq_conf));
    assert_int_equal(flm_props_load(seq_props, &kvs, s->c.conf, "a1.sources.r1", &d), FLM_OK);
    flm_diag_free(&d);
    flm_kvs_free(&kvs);
    flm_logctx_init(&s->c.log, "a1.sources.r1", "seq");
    s->c.ctr.group = "SOURCE";
    struct flm_err err = {0};
    assert_int_equal(seq_ops.init(s, &err), FLM_OK);
    ngot = 0;
    fail_puts = 0;
    return s;
}

static void src_free(struct flm_source *s)
{
    seq_ops.destroy(s);
    flm_props_free(seq_props, s->c.conf);
    free(s->c.conf);
    free(s);
}

static void run_all(struct flm_source *s)
{
    while (seq_ops.process(s) == FLM_READY)
        ;
}

/* ------------------------------------------------------------- tests */

static void bodies_are_the_decimal_counter_as_flume(void **state)
{
    (void)state;
    struct flm_source *s = src_new("7", "1005", NULL);
    run_all(s);
    assert_int_equal(ngot, 1005);
    for (size_t i = 0; i < ngot; i++) {
        char want[32];
        snprintf(want, sizeof(want), "%zu", i);
        assert_string_equal(got[i], want);
    }
    /* 1005 = 143 batches of 7 + one of 4 */
    assert_int_equal(flm_ctr_get(&s->c.ctr, FLM_SRC_EVENT_ACCEPTED), 1005);
    assert_int_equal(flm_ctr_get(&s->c.ctr, FLM_SRC_APPEND_BATCH_ACCEPTED), 144);
    assert_int_equal(seq_ops.process(s), FLM_BACKOFF); /* totalEvents reached */
    src_free(s);
}

static void body_size_left_pads_with_zeros_and_never_cuts(void **state)
{
    (void)state;
    struct flm_source *s = src_new("10", "1200", "3");
    run_all(s);
    assert_int_equal(ngot, 1200);
    for (size_t i = 0; i < ngot; i++) {
        char want[32];
        snprintf(want, sizeof(want), "%03zu", i); /* "000".."999", then "1000".. */
        assert_string_equal(got[i], want);
    }
    src_free(s);
}

static void body_size_wider_than_any_counter(void **state)
{
    (void)state;
    struct flm_source *s = src_new("1", "12", "200");
    run_all(s);
    assert_int_equal(ngot, 12);
    assert_int_equal(flm_ctr_get(&s->c.ctr, FLM_SRC_APPEND_BATCH_ACCEPTED), 0); /* batch 1 */
    for (size_t i = 0; i < ngot; i++) {
        char want[256];
        snprintf(want, sizeof(want), "%0200zu", i);
        assert_string_equal(got[i], want);
    }
    src_free(s);
    /* Past the first digits, on the text directly. */
    struct seq_text t;
    assert_int_equal(text_init(&t, 200), FLM_OK);
    for (int i = 0; i < 1234; i++)
        text_inc(&t);
    size_t n;
    const char *b = text_body(&t, &n);
    assert_int_equal(n, 200);
    for (size_t i = 0; i < 196; i++)
        assert_int_equal(b[i], '0');
    assert_memory_equal(b + 196, "1234", 4);
    free(t.d);
}

static void failed_put_retries_the_same_bodies(void **state)
{
    (void)state;
    struct flm_source *s = src_new("4", "12", "2");
    assert_int_equal(seq_ops.process(s), FLM_READY); /* 00 01 02 03 */
    fail_puts = 2;
    assert_int_equal(seq_ops.process(s), FLM_BACKOFF);
    assert_int_equal(seq_ops.process(s), FLM_BACKOFF);
    assert_int_equal(flm_ctr_get(&s->c.ctr, FLM_SRC_CHANNEL_WRITE_FAIL), 2);
    run_all(s);
    assert_int_equal(ngot, 12);
    for (size_t i = 0; i < ngot; i++) {
        char want[32];
        snprintf(want, sizeof(want), "%02zu", i);
        assert_string_equal(got[i], want);
    }
    assert_int_equal(flm_ctr_get(&s->c.ctr, FLM_SRC_EVENT_ACCEPTED), 12);
    src_free(s);
}

static void retry_across_a_carry_restores_the_length(void **state)
{
    (void)state;
    /* The failed batch crosses 99 -> 100 (a new digit): the retry must start
     * again from "98" with two digits. */
    struct flm_source *s = src_new("4", "104", NULL);
    for (int i = 0; i < 24; i++)
        assert_int_equal(seq_ops.process(s), FLM_READY); /* 0..95 */
    assert_int_equal(seq_ops.process(s), FLM_READY);     /* 96..99 */
    ngot = 0;
    struct seq_ctx *x = s->c.ctx;
    assert_int_equal(x->text.len, 3); /* "100" next */
    fail_puts = 1;
    assert_int_equal(seq_ops.process(s), FLM_BACKOFF);
    assert_int_equal(x->text.len, 3);
    run_all(s);
    assert_int_equal(ngot, 4);
    assert_string_equal(got[0], "100");
    assert_string_equal(got[3], "103");
    src_free(s);
    /* Directly: restore after a carry into a new digit. */
    struct seq_ctx c = {0};
    assert_int_equal(text_init(&c.text, 0), FLM_OK);
    for (int i = 0; i < 98; i++)
        text_inc(&c.text);
    size_t save_len = c.text.len;
    memcpy(c.save, c.text.d + c.text.cap - SEQ_DIGITS, SEQ_DIGITS);
    for (int i = 0; i < 5; i++)
        text_inc(&c.text); /* 103 */
    assert_int_equal(c.text.len, 3);
    text_restore(&c, save_len);
    size_t n;
    const char *b = text_body(&c.text, &n);
    assert_int_equal(n, 2);
    assert_memory_equal(b, "98", 2);
    free(c.text.d);
}

static void property_table_declares_body_size(void **state)
{
    (void)state;
    const struct flm_prop *p = NULL;
    for (size_t i = 0; seq_props[i].name; i++)
        if (strcmp(seq_props[i].name, "bodySize") == 0)
            p = &seq_props[i];
    assert_non_null(p);
    assert_int_equal(p->type, FLM_P_INT);
    assert_string_equal(p->def, "0");
    assert_int_equal(p->min, 0);
    struct flm_kvs kvs;
    flm_kvs_init(&kvs);
    flm_kvs_set(&kvs, "bodySize", "-1", "t.conf", 1);
    struct flm_diag d;
    flm_diag_init(&d);
    struct seq_conf conf = {0};
    assert_int_not_equal(flm_props_load(seq_props, &kvs, &conf, "a1.sources.r1", &d), FLM_OK);
    flm_props_free(seq_props, &conf);
    flm_diag_free(&d);
    flm_kvs_free(&kvs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bodies_are_the_decimal_counter_as_flume),
        cmocka_unit_test(body_size_left_pads_with_zeros_and_never_cuts),
        cmocka_unit_test(body_size_wider_than_any_counter),
        cmocka_unit_test(failed_put_retries_the_same_bodies),
        cmocka_unit_test(retry_across_a_carry_restores_the_length),
        cmocka_unit_test(property_table_declares_body_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
