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

struct seq_ctx {
    long long next;            /* next body value */
    struct flm_event **evs;    /* batch array, batchSize long */
};

static int seq_init(struct flm_source *src, struct flm_err *err)
{
    const struct seq_conf *c = src->c.conf;
    struct seq_ctx *x = calloc(1, sizeof(*x));
    if (x == NULL || (x->evs = calloc((size_t)c->batch_size, sizeof(*x->evs))) == NULL) {
        free(x);
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    }
    src->c.ctx = x;
    return FLM_OK;
}

/* Decimal text of v into buf (>= 21 bytes), returns length.  Hand-written:
 * snprintf costs more than the rest of the event's path here. */
static size_t u64_text(unsigned long long v, char *buf)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}

static int seq_process(struct flm_source *src)
{
    const struct seq_conf *c = src->c.conf;
    struct seq_ctx *x = src->c.ctx;
    if (x->next >= c->total)
        return FLM_BACKOFF;
    long long left = c->total - x->next;
    size_t n = left < c->batch_size ? (size_t)left : (size_t)c->batch_size;
    char num[24];
    for (size_t i = 0; i < n; i++) {
        size_t l = u64_text((unsigned long long)(x->next + (long long)i), num);
        if ((x->evs[i] = flm_event_new(num, l, NULL, 0)) == NULL) {
            for (size_t j = 0; j < i; j++)
                flm_event_free(x->evs[j]);
            return FLM_ENOMEM;
        }
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
