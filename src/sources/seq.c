/*
 * seq.c - the sequence generator source (`seq`): bodies "0", "1", "2", ...
 * Pollable: the source runner thread calls process(), which builds one batch
 * and puts it.  On a channel failure the same bodies are retried (the counter
 * only advances on success), as in Flume.  After totalEvents it backs off
 * forever.
 *
 * Counters (metrics.md 3): batchSize 1 -> EventAcceptedCount only; batchSize
 * > 1 -> AppendBatchAcceptedCount too; ChannelWriteFail on failure.
 */
#include "core/component.h"

#include <stdlib.h>

struct seq_conf {
    int batch_size;
    long long total;
};

static const struct flm_prop seq_props[] = {
    {"batchSize", FLM_P_INT, FLM_OFF(struct seq_conf, batch_size), "1", 0, 1, 1000000, NULL,
     NULL, "Events per channel transaction."},
    {"totalEvents", FLM_P_LONG, FLM_OFF(struct seq_conf, total), "9223372036854775807", 0, 0,
     0, NULL, NULL, "Stop after this many events."},
    FLM_PROPS_END,
};

/* The next body as decimal text, kept and incremented in ASCII: formatting
 * a number per event was a third of this thread's time (bench/RESULTS.md). */
struct seq_text {
    char d[24];      /* digits right-aligned: d[24 - len .. 23] */
    size_t len;
};

static void text_set(struct seq_text *t, unsigned long long v)
{
    t->len = 0;
    do {
        t->d[sizeof(t->d) - 1 - t->len++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
}

static void text_inc(struct seq_text *t)
{
    size_t i = sizeof(t->d) - 1;
    for (;;) {
        if (t->d[i] != '9') {
            t->d[i]++;
            return;
        }
        t->d[i] = '0';
        if (i == sizeof(t->d) - t->len) { /* carry out of the top digit */
            t->len++;
            t->d[i - 1] = '1';
            return;
        }
        i--;
    }
}

struct seq_ctx {
    long long next;            /* next body value */
    struct flm_event **evs;    /* batch array, batchSize long */
    struct seq_text text;      /* `next` as text */
};

static int seq_init(struct flm_source *src, struct flm_err *err)
{
    const struct seq_conf *c = src->c.conf;
    struct seq_ctx *x = calloc(1, sizeof(*x));
    if (x == NULL || (x->evs = calloc((size_t)c->batch_size, sizeof(*x->evs))) == NULL) {
        free(x);
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    }
    text_set(&x->text, 0);
    src->c.ctx = x;
    return FLM_OK;
}

static int seq_process(struct flm_source *src)
{
    const struct seq_conf *c = src->c.conf;
    struct seq_ctx *x = src->c.ctx;
    if (x->next >= c->total)
        return FLM_BACKOFF;
    long long left = c->total - x->next;
    size_t n = left < c->batch_size ? (size_t)left : (size_t)c->batch_size;
    struct seq_text t = x->text; /* advanced for the batch; kept only on success */
    size_t slots, bytes = flm_processor_header_room(src->proc, &slots); /* 0, 0: none */
    for (size_t i = 0; i < n; i++) {
        x->evs[i] = flm_event_new_room(t.d + sizeof(t.d) - t.len, t.len, NULL, 0, slots, bytes);
        if (x->evs[i] == NULL) {
            for (size_t j = 0; j < i; j++)
                flm_event_free(x->evs[j]);
            return FLM_ENOMEM;
        }
        text_inc(&t);
    }
    struct flm_err err;
    int rc = flm_processor_put(src->proc, x->evs, n, &err);
    if (rc != FLM_OK) {
        flm_ctr_add(&src->c.ctr, FLM_SRC_CHANNEL_WRITE_FAIL, 1);
        flm_log_limited(FLM_LOG_WARN, &src->c.log, 0, "channel put failed, will retry: %s",
                        err.msg);
        return FLM_BACKOFF;
    }
    x->next += (long long)n;
    x->text = t;
    if (c->batch_size > 1)
        flm_ctr_add(&src->c.ctr, FLM_SRC_APPEND_BATCH_ACCEPTED, 1);
    flm_ctr_add(&src->c.ctr, FLM_SRC_EVENT_ACCEPTED, n);
    return FLM_READY;
}

static void seq_destroy(struct flm_source *src)
{
    struct seq_ctx *x = src->c.ctx;
    if (x == NULL)
        return;
    free(x->evs);
    free(x);
    src->c.ctx = NULL;
}

static const struct flm_source_ops seq_ops = {
    .init = seq_init,
    .process = seq_process,
    .destroy = seq_destroy,
};

const struct flm_type flm_source_seq = {
    .kind = FLM_SOURCE,
    .alias = "seq",
    .klass = "org.apache.flume.source.SequenceGeneratorSource",
    .summary = "Generates events whose bodies are 0, 1, 2, ... (testing and benchmarks).",
    .props = seq_props,
    .conf_size = sizeof(struct seq_conf),
    .batch_key = "batchSize",
    .ops = &seq_ops,
};
