/*
 * selector_replicating.c - the default channel selector: every event goes to
 * all of the source's channels; those named in `optional` are optional
 * (failures logged, not fatal).  The choice is static, so the processor
 * needs no per-event call.  Config-time only; no thread of its own.
 *
 * Difference from Flume (docs/compatibility.md): a name in `optional` that is
 * not one of the source's channels is a configuration error that drops the
 * source; Flume accepts it and then breaks every put at runtime.
 */
#include "core/component.h"

#include <stdlib.h>
#include <string.h>

struct repl_conf {
    struct flm_strv optional;
};

static const struct flm_prop repl_props[] = {
    {"optional", FLM_P_LIST, FLM_OFF(struct repl_conf, optional), NULL, 0, 0, 0, NULL, NULL,
     "Space-separated channels (of this source) whose put failures are logged and ignored."},
    FLM_PROPS_END,
};

static int repl_init(struct flm_selector *sel, struct flm_diag *d)
{
    const struct repl_conf *c = sel->c.conf;
    uint64_t all = sel->nchans >= 64 ? ~0ull : ((1ull << sel->nchans) - 1);
    uint64_t opt = 0;
    int rc = FLM_OK;
    for (size_t i = 0; i < c->optional.n; i++) {
        size_t j;
        for (j = 0; j < sel->nchans; j++)
            if (strcmp(sel->chans[j]->c.name, c->optional.v[i]) == 0)
                break;
        if (j == sel->nchans) {
            flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, sel->c.path, "optional",
                         "optional channel '%s' is not one of the source's channels",
                         c->optional.v[i]);
            rc = FLM_ERR;
            continue;
        }
        opt |= 1ull << j;
    }
    sel->req_mask = all & ~opt;
    sel->opt_mask = opt;
    return rc;
}

static const struct flm_selector_ops repl_ops = {
    .init = repl_init,
    .select = NULL,
    .destroy = NULL,
};

const struct flm_type flm_selector_replicating = {
    .kind = FLM_SELECTOR,
    .alias = "replicating",
    .klass = "org.apache.flume.channel.ReplicatingChannelSelector",
    .summary = "Copies every event to all of the source's channels (the default selector).",
    .props = repl_props,
    .conf_size = sizeof(struct repl_conf),
    .ops = &repl_ops,
};
