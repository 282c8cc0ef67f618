/*
 * registry.c - the one list of component types (STYLE.md 3.3).  A plain
 * array: adding a component means adding its descriptor here.  Lookups run at
 * config time only.
 */
#include "core/component.h"

#include <pthread.h>
#include <string.h>
#include <strings.h>

extern const struct flm_type flm_source_netcat, flm_source_seq, flm_source_exec;
extern const struct flm_type flm_channel_memory;
extern const struct flm_type flm_sink_logger, flm_sink_null;
extern const struct flm_type flm_selector_replicating;
extern const struct flm_type flm_sinkproc_default;
extern const struct flm_type flm_configfilter_env;

static const struct flm_type *const core_types[] = {
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

/* Each area lists its own types in its own file, so areas never edit this
 * one: src/selectors/types_routing.c (selectors, sink processors,
 * interceptors), src/channels/file/types.c, src/rpc/types_rpc.c (avro and
 * thrift), src/sinks/types_filesinks.c (file_roll, hdfs). */
extern const struct flm_type *const flm_types_routing[];
extern const struct flm_type *const flm_types_filechannel[];
extern const struct flm_type *const flm_types_rpc[];
extern const struct flm_type *const flm_types_filesinks[];

static const struct flm_type *const *const type_sets[] = {
    core_types, flm_types_routing, flm_types_filechannel, flm_types_rpc, flm_types_filesinks,
};

#define FLM_MAX_TYPES 256
static const struct flm_type *all_types[FLM_MAX_TYPES + 1];
static pthread_once_t all_once = PTHREAD_ONCE_INIT;

static void flatten(void)
{
    size_t n = 0;
    for (size_t s = 0; s < sizeof(type_sets) / sizeof(type_sets[0]); s++)
        for (size_t i = 0; type_sets[s][i] != NULL; i++) {
            if (n == FLM_MAX_TYPES)
                FLM_PANIC("more than %d component types", FLM_MAX_TYPES);
            all_types[n++] = type_sets[s][i];
        }
    all_types[n] = NULL;
}

const struct flm_type *const *flm_registry_all(void)
{
    pthread_once(&all_once, flatten);
    return all_types;
}

const struct flm_type *flm_registry_find(enum flm_kind kind, const char *name)
{
    const struct flm_type *const *types = flm_registry_all();
    for (size_t i = 0; types[i]; i++) {
        const struct flm_type *t = types[i];
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
