/*
 * agent.h - one built agent configuration: its channels, sources, sinks and
 * sink groups, and their lifecycle.  The CLI builds one from the merged
 * properties, starts it, and on a reload builds the next one (reusing
 * same-named recyclable channels) before stopping the old one.
 * All functions run on the main (supervisor) thread.
 */
#ifndef FLM_AGENT_H
#define FLM_AGENT_H

#include "core/component.h"
#include "core/diag.h"
#include "core/kv.h"

#include <stdbool.h>
#include <stdio.h>

struct flm_agent;

/*
 * Builds agent `name` from the merged properties (spec/config.md 2-3):
 * resolves types, parses every property table, applies Flume's cascade of
 * dropping invalid components (each drop is an ERROR entry in d naming
 * file:line, component and key; --strict callers treat any entry as fatal).
 * Components are configured but not initialised or started.
 * Returns FLM_OK (possibly with an empty agent), or FLM_ERR when the
 * configuration cannot be loaded at all (an unknown source/channel/sink type:
 * Flume aborts the whole load there, and so do we, but with a non-zero exit).
 * prev: the running agent (reload) whose recyclable channels of the same name
 * and type are taken over by the new agent; NULL at startup.
 */
int flm_agent_build(const struct flm_kvs *props, const char *name, struct flm_agent *prev,
                    struct flm_diag *d, struct flm_agent **out);

/* Initialises and starts channels, then sinks (runner threads), then
 * sources.  A component whose init/start fails is logged and left stopped
 * with its dependants; FLM_ERR reports that at least one failed. */
int flm_agent_start(struct flm_agent *a, struct flm_err *err);

/* Stops sources, then sinks, then channels.  drain: after the sources have
 * stopped, sinks keep taking until their channels are empty or drain_ms has
 * passed (SIGTERM); otherwise sinks stop after their current batch. */
void flm_agent_stop(struct flm_agent *a, bool drain, unsigned drain_ms);
void flm_agent_free(struct flm_agent *a);

/* True when the agent has nothing to run (invalid or empty config). */
bool flm_agent_empty(const struct flm_agent *a);

/* Prints "source r1 (netcat) -> channels c1\n..." for `flumen check`. */
void flm_agent_print_flow(const struct flm_agent *a, FILE *f);

/* Fills out with the components visible to metrics; returns the count. */
size_t flm_agent_components(struct flm_agent *a, struct flm_component **out, size_t cap);

#endif
