/*
 * counters.h - per-component counters with Flume's attribute names
 * (spec/metrics.md).  Values are relaxed atomics: any thread may bump them;
 * the metrics server reads them.  Counters reset on component start.
 */
#ifndef FLM_COUNTERS_H
#define FLM_COUNTERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum flm_src_ctr {
    FLM_SRC_EVENT_RECEIVED, FLM_SRC_EVENT_ACCEPTED, FLM_SRC_APPEND_RECEIVED,
    FLM_SRC_APPEND_ACCEPTED, FLM_SRC_APPEND_BATCH_RECEIVED, FLM_SRC_APPEND_BATCH_ACCEPTED,
    FLM_SRC_OPEN_CONNECTION, FLM_SRC_EVENT_READ_FAIL, FLM_SRC_CHANNEL_WRITE_FAIL,
    FLM_SRC_GENERIC_PROCESSING_FAIL, FLM_SRC_NCTR
};
enum flm_ch_ctr {
    FLM_CH_PUT_ATTEMPT, FLM_CH_PUT_SUCCESS, FLM_CH_TAKE_ATTEMPT, FLM_CH_TAKE_SUCCESS,
    FLM_CH_NCTR
};
enum flm_sink_ctr {
    FLM_SINK_CONNECTION_CREATED, FLM_SINK_CONNECTION_CLOSED, FLM_SINK_CONNECTION_FAILED,
    FLM_SINK_BATCH_EMPTY, FLM_SINK_BATCH_UNDERFLOW, FLM_SINK_BATCH_COMPLETE,
    FLM_SINK_EVENT_DRAIN_ATTEMPT, FLM_SINK_EVENT_DRAIN_SUCCESS, FLM_SINK_EVENT_WRITE_FAIL,
    FLM_SINK_CHANNEL_READ_FAIL, FLM_SINK_NCTR
};

#define FLM_CTR_MAX 16   /* standard set + type-specific extras */

/* A type-specific attribute appended to the standard set (file channel's
 * Open/Closed/Unhealthy/EventPutErrorCount...). */
struct flm_ctr_extra {
    const char *name;
    bool is_bool;  /* rendered "true"/"false" instead of a number */
};

struct flm_counters {
    const char *group;    /* "SOURCE", "CHANNEL", "SINK" */
    bool visible;         /* false: no JSON entry (netcat, logger, null) */
    _Atomic uint64_t start_time, stop_time;   /* epoch ms; stop 0 while running */
    _Atomic uint64_t v[FLM_CTR_MAX];
};

/* Names of the standard attributes, indexed by the enums above. */
extern const char *const flm_src_ctr_names[FLM_SRC_NCTR];
extern const char *const flm_ch_ctr_names[FLM_CH_NCTR];
extern const char *const flm_sink_ctr_names[FLM_SINK_NCTR];

static inline void flm_ctr_add(struct flm_counters *c, int i, uint64_t n)
{
    atomic_fetch_add_explicit(&c->v[i], n, memory_order_relaxed);
}
static inline void flm_ctr_set(struct flm_counters *c, int i, uint64_t n)
{
    atomic_store_explicit(&c->v[i], n, memory_order_relaxed);
}
static inline uint64_t flm_ctr_get(const struct flm_counters *c, int i)
{
    return atomic_load_explicit(&((struct flm_counters *)c)->v[i], memory_order_relaxed);
}

void flm_counters_start(struct flm_counters *c);   /* zero all, StartTime = now */
void flm_counters_stop(struct flm_counters *c);    /* StopTime = now */
uint64_t flm_now_ms(void);                          /* epoch ms */
uint64_t flm_mono_ms(void);                         /* monotonic ms */

/* Java Double.toString() of v (e.g. "0.0", "33.33333333333333", "1.7976931348623157E308"). */
void flm_java_double(double v, char *buf, unsigned cap);

#endif
