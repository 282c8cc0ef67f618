/*
 * configfilter_env.c - the `env` config filter: ${f['KEY']} -> environment
 * variable KEY (config.md 5b).  Config time only.
 */
#include "core/component.h"

#include <stdlib.h>
#include <string.h>

static char *env_lookup(struct flm_configfilter *f, const char *key)
{
    (void)f;
    const char *v = getenv(key);
    return v ? strdup(v) : NULL;
}

static const struct flm_configfilter_ops env_ops = {
    .lookup = env_lookup,
};

static const struct flm_prop env_props[] = {FLM_PROPS_END};

const struct flm_type flm_configfilter_env = {
    .kind = FLM_CONFIGFILTER,
    .alias = "env",
    .klass = "org.apache.flume.configfilter.EnvironmentVariableConfigFilter",
    .summary = "Replaces ${name['KEY']} in component values with environment variable KEY.",
    .props = env_props,
    .conf_size = 1,
    .ops = &env_ops,
};
