/*
 * null.c - the null sink: takes batches and discards them.  Runs on its sink
 * runner thread.  No SINK counter group in JSON (as Flume); the counters are
 * still kept and logged at stop.
 *
 * Difference from Flume: a partial batch returns READY (Flume's NullSink backs
 * off after any short batch); only an empty take backs off.
 */
#include "core/component.h"

#include <stdlib.h>

struct null_conf {
    int batch_size;
};

static const struct flm_prop null_props[] = {
    {"batchSize", FLM_P_INT, FLM_OFF(struct null_conf, batch_size), "100", 0, 1, 1000000, NULL,
     NULL, "Events taken per transaction."},
    FLM_PROPS_END,
};

static int null_init(struct flm_sink *s, struct flm_err *err)
{
    const struct null_conf *c = s->c.conf;
    s->c.ctx = calloc((size_t)c->batch_size, sizeof(struct flm_event *));
    return s->c.ctx ? FLM_OK : flm_err_set(err, FLM_ENOMEM, "out of memory");
}

static int null_process(struct flm_sink *s)
{
    const struct null_conf *c = s->c.conf;
    struct flm_event **evs = s->c.ctx;
    struct flm_txn *tx;
    size_t n;
    int rc = flm_sink_take(s, (size_t)c->batch_size, &tx, evs, &n);
    if (rc != FLM_OK)
        return rc;
    if (n == 0)
        return FLM_BACKOFF;
    rc = flm_sink_commit(s, tx, n);
    if (rc != FLM_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        flm_event_free(evs[i]);
    return FLM_READY;
}

static void null_destroy(struct flm_sink *s)
{
    free(s->c.ctx);
    s->c.ctx = NULL;
}

static const struct flm_sink_ops null_ops = {
    .init = null_init,
    .process = null_process,
    .destroy = null_destroy,
};

const struct flm_type flm_sink_null = {
    .kind = FLM_SINK,
    .alias = "null",
    .klass = "org.apache.flume.sink.NullSink",
    .summary = "Discards every event (testing and benchmarks).",
    .props = null_props,
    .conf_size = sizeof(struct null_conf),
    .batch_key = "batchSize",
    .no_counters = true,
    .ops = &null_ops,
};
