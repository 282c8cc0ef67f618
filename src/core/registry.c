/*
 * registry.c - the one list of component types (STYLE.md 3.3).  A plain
 * array: adding a component means adding its descriptor here.  Lookups run at
 * config time only.
 */
#include "core/component.h"

#include <string.h>
#include <strings.h>

extern const struct flm_type flm_source_netcat, flm_source_seq, flm_source_exec;
extern const struct flm_type flm_channel_memory;
extern const struct flm_type flm_sink_logger, flm_sink_null;
extern const struct flm_type flm_selector_replicating;
extern const struct flm_type flm_sinkproc_default;
extern const struct flm_type flm_configfilter_env;

static const struct flm_type *const flm_types[] = {
    &flm_source_netcat,
    &flm_source_seq,
    &flm_source_exec,
    &flm_channel_memory,
    &flm_sink_logger,
    &flm_sink_null,
    &flm_selector_replicating,
    &flm_sinkproc_default,
    &flm_configfilter_env,
    NULL,
};

const struct flm_type *const *flm_registry_all(void)
{
    return flm_types;
}

const struct flm_type *flm_registry_find(enum flm_kind kind, const char *name)
{
    for (size_t i = 0; flm_types[i]; i++) {
        const struct flm_type *t = flm_types[i];
        if (t->kind != kind)
            continue;
        if (strcasecmp(t->alias, name) == 0 || (t->klass && strcmp(t->klass, name) == 0))
            return t;
    }
    return NULL;
}

const struct flm_type *flm_registry_find_any(const char *name)
{
    for (int k = 0; k < FLM_KIND_MAX; k++) {
        const struct flm_type *t = flm_registry_find((enum flm_kind)k, name);
        if (t)
            return t;
    }
    return NULL;
}

const char *flm_kind_name(enum flm_kind kind)
{
    static const char *const names[FLM_KIND_MAX] = {
        "source", "channel", "sink", "selector", "interceptor", "sink processor", "config filter",
    };
    return (unsigned)kind < FLM_KIND_MAX ? names[kind] : "?";
}

long long flm_props_int_value(const struct flm_type *t, const void *conf, const char *key)
{
    if (key == NULL || conf == NULL)
        return -1;
    for (const struct flm_prop *p = t->props; p && p->name; p++) {
        if (strcmp(p->name, key) != 0)
            continue;
        if (p->type == FLM_P_INT)
            return *(const int *)((const char *)conf + p->off);
        if (p->type == FLM_P_LONG)
            return *(const long long *)((const char *)conf + p->off);
    }
    return -1;
}
