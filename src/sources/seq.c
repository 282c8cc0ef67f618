/*
 * seq.c - the sequence generator source (`seq`): bodies "0", "1", "2", ...
 * Pollable: the source runner thread calls process(), which builds one batch
 * and puts it.  On a channel failure the same bodies are retried (the counter
 * only advances on success), as in Flume.  After totalEvents it backs off
 * forever.
 *
 * Counters (metrics.md 3): batchSize 1 -> EventAcceptedCount only; batchSize
 * > 1 -> AppendBatchAcceptedCount too; ChannelWriteFail on failure.
 *
 * flumen extension: bodySize N > 0 left-pads every body with '0' to N bytes
 * ("0000042"), so benchmarks get fixed-size events without an interceptor on
 * the source thread.  Flume has no such property (it would ignore the key).
 */
#include "core/component.h"

#include <stdlib.h>
#include <string.h>

struct seq_conf {
    int batch_size;
    long long total;
    int body_size;
};

static const struct flm_prop seq_props[] = {
    {"batchSize", FLM_P_INT, FLM_OFF(struct seq_conf, batch_size), "1", 0, 1, 1000000, NULL,
     NULL, "Events per channel transaction."},
    {"totalEvents", FLM_P_LONG, FLM_OFF(struct seq_conf, total), "9223372036854775807", 0, 0,
     0, NULL, NULL, "Stop after this many events."},
    {"bodySize", FLM_P_INT, FLM_OFF(struct seq_conf, body_size), "0", 0, 0, 16777216, NULL,
     NULL, "flumen extension: 0 = bodies are the counter's decimal text (as Flume); N > 0 = "
           "the counter left-padded with '0' to N bytes (longer only when it has more digits)."},
    FLM_PROPS_END,
};

/*
 * The next body, kept and incremented as ASCII digits (formatting a number
 * per event was a third of this thread's time, bench/RESULTS.md).  The
 * digits are right-aligned in a buffer filled with '0', so a carry out of
 * the top digit simply lands on a '0', and the body is the last
 * max(len, bodySize) bytes: the padded form costs nothing extra.
 */
#define SEQ_DIGITS 20 /* enough for any unsigned 64-bit counter */

struct seq_text {
    char *d;         /* cap bytes, '0'-filled, digits right-aligned */
    size_t cap;      /* max(bodySize, SEQ_DIGITS) */
    size_t len;      /* significant digits (>= 1) */
    size_t min;      /* bodySize */
};

static int text_init(struct seq_text *t, size_t body_size)
{
    t->cap = body_size > SEQ_DIGITS ? body_size : SEQ_DIGITS;
    t->d = malloc(t->cap);
    if (t->d == NULL)
        return FLM_ENOMEM;
    memset(t->d, '0', t->cap);
    t->len = 1;
    t->min = body_size;
    return FLM_OK;
}

static void text_inc(struct seq_text *t)
{
    char *p = t->d + t->cap - 1;
    while (*p == '9')
        *p-- = '0';
    (*p)++;
    size_t used = (size_t)(t->d + t->cap - p);
    if (used > t->len)
        t->len = used;
}

/* The current body: its last `*n` bytes of d. */
static const char *text_body(const struct seq_text *t, size_t *n)
{
    *n = t->len > t->min ? t->len : t->min;
    return t->d + t->cap - *n;
}

struct seq_ctx {
    long long next;            /* next body value */
    struct flm_event **evs;    /* batch array, batchSize long */
    struct seq_text text;      /* `next` as text */
    char save[SEQ_DIGITS];     /* low digits of `text` at the start of a batch */
};

static int seq_init(struct flm_source *src, struct flm_err *err)
{
    const struct seq_conf *c = src->c.conf;
    struct seq_ctx *x = calloc(1, sizeof(*x));
    if (x == NULL || (x->evs = calloc((size_t)c->batch_size, sizeof(*x->evs))) == NULL ||
        text_init(&x->text, (size_t)c->body_size) != FLM_OK) {
        if (x != NULL)
            free(x->evs);
        free(x);
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    }
    src->c.ctx = x;
    return FLM_OK;
}

/* Puts the text back to the batch's first value (saved in x->save). */
static void text_restore(struct seq_ctx *x, size_t len)
{
    memcpy(x->text.d + x->text.cap - SEQ_DIGITS, x->save, SEQ_DIGITS);
    x->text.len = len;
}

static int seq_process(struct flm_source *src)
{
    const struct seq_conf *c = src->c.conf;
    struct seq_ctx *x = src->c.ctx;
    struct seq_text *t = &x->text;
    if (x->next >= c->total)
        return FLM_BACKOFF;
    long long left = c->total - x->next;
    size_t n = left < c->batch_size ? (size_t)left : (size_t)c->batch_size;
    /* The text advances while the batch is built; on a failed put it goes
     * back to the batch's first value (only the low digits ever change). */
    size_t save_len = t->len;
    memcpy(x->save, t->d + t->cap - SEQ_DIGITS, SEQ_DIGITS);
    size_t slots, bytes = flm_processor_header_room(src->proc, &slots); /* 0, 0: none */
    for (size_t i = 0; i < n; i++) {
        size_t blen;
        const char *body = text_body(t, &blen);
        x->evs[i] = flm_event_new_room(body, blen, NULL, 0, slots, bytes);
        if (x->evs[i] == NULL) {
            for (size_t j = 0; j < i; j++)
                flm_event_free(x->evs[j]);
            text_restore(x, save_len);
            return FLM_ENOMEM;
        }
        text_inc(t);
    }
    struct flm_err err;
    int rc = flm_processor_put(src->proc, x->evs, n, &err);
    if (rc != FLM_OK) {
        text_restore(x, save_len);
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
    free(x->text.d);
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
