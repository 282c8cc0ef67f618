/*
 * metrics.h - Flume's monitoring output (spec/metrics.md): the /metrics JSON
 * (every value a string, keys "SOURCE.r1"), Prometheus text, and the HTTP
 * server that serves them on its own thread (one libuv loop).
 */
#ifndef FLM_METRICS_H
#define FLM_METRICS_H

#include "core/buf.h"
#include "core/component.h"

/*
 * Appends the JSON object for the given components to out: one entry per
 * component whose counters are visible (ctr.visible), keyed "<GROUP>.<name>",
 * with Type, StartTime, StopTime, the standard attributes of its group, the
 * type's extra attributes, and for channels ChannelSize (ops->size),
 * ChannelCapacity and ChannelFillPercentage (Java double text).  comps[i] is
 * the first member of a struct flm_source/channel/sink (kind from its type).
 * Compact JSON, as Flume's Gson output.
 */
int flm_metrics_json(struct flm_buf *out, struct flm_component *const *comps, size_t n);
/* The same values in Prometheus text format:
 * flume_<group>_<attribute>{component="r1"} value  (lower-case group). */
int flm_metrics_prometheus(struct flm_buf *out, struct flm_component *const *comps, size_t n);

/* Called on the metrics thread for every request; must fill out with the
 * body for `what` (0 = JSON, 1 = Prometheus).  The agent takes its own lock. */
typedef int (*flm_metrics_render_fn)(struct flm_buf *out, int what, void *arg);

struct flm_metrics_http;
/*
 * Starts the server thread listening on host:port (Flume binds all
 * interfaces: host "0.0.0.0"; tests pass 127.0.0.1).  Returns once listening,
 * or an error naming the address (e.g. port in use).  Serves, as Flume's
 * Jetty: /metrics (path case-insensitive, query ignored) -> 200 JSON
 * application/json;charset=utf-8 for every method but TRACE/OPTIONS (403);
 * / -> 200 small HTML page linking ./metrics; /prometheus -> text/plain
 * (ours); anything else 404.
 */
int flm_metrics_http_start(const char *host, int port, flm_metrics_render_fn render, void *arg,
                           struct flm_metrics_http **out, struct flm_err *err);
/* Stops the thread and frees; NULL-safe. */
void flm_metrics_http_stop(struct flm_metrics_http *m);

#endif
