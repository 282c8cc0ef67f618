/*
 * sinkproc_default.c - the default sink processor: one sink, passed through.
 * Runs on the group's sink-runner thread.
 */
#include "core/component.h"

static int default_init(struct flm_sinkgroup *g, struct flm_err *err)
{
    if (g->nsinks != 1)
        return flm_err_set(err, FLM_ERR, "the default sink processor takes exactly one sink, got %zu",
                           g->nsinks);
    return FLM_OK;
}

static int default_process(struct flm_sinkgroup *g)
{
    struct flm_sink *s = g->sinks[0];
    const struct flm_sink_ops *ops = s->c.type->ops;
    return ops->process(s);
}

static const struct flm_sinkproc_ops default_ops = {
    .init = default_init,
    .process = default_process,
};

static const struct flm_prop default_props[] = {FLM_PROPS_END};

const struct flm_type flm_sinkproc_default = {
    .kind = FLM_SINKPROC,
    .alias = "default",
    .klass = "org.apache.flume.sink.DefaultSinkProcessor",
    .summary = "Runs a single sink.",
    .props = default_props,
    .conf_size = 1,
    .ops = &default_ops,
};
