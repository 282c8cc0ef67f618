/*
 * component.h - component types (static, const) and instances (owned by the
 * agent), per STYLE.md 3.3.  The core knows no component by name: it only
 * sees a struct flm_type from the registry and calls through its ops.
 *
 * Instance lifetime: the agent allocates the instance, parses the typed conf
 * from the property table, then calls ops->init; start/stop may run several
 * times across reloads only for recyclable channels (reconfigure); destroy is
 * called once and must accept a half-initialised instance.
 */
#ifndef FLM_COMPONENT_H
#define FLM_COMPONENT_H

#include "core/counters.h"
#include "core/diag.h"
#include "core/err.h"
#include "core/event.h"
#include "core/log.h"
#include "core/props.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum flm_kind {
    FLM_SOURCE, FLM_CHANNEL, FLM_SINK, FLM_SELECTOR, FLM_INTERCEPTOR, FLM_SINKPROC,
    FLM_CONFIGFILTER, FLM_KIND_MAX
};

/* Outcome of a process() call that is not an error (negatives are FLM_E*). */
enum flm_status { FLM_READY = 0, FLM_BACKOFF = 1 };

struct flm_diag;
struct flm_err;

struct flm_type {
    enum flm_kind kind;
    const char *alias;          /* "memory"; matched case-insensitively */
    const char *klass;          /* "org.apache.flume.channel.MemoryChannel"; exact match */
    const char *summary;        /* one line for `flumen help` */
    const struct flm_prop *props;
    size_t conf_size;           /* bytes of the typed config struct */
    /* Cross-field rules after the table parsed; FLM_ERR drops the component.
     * Optional. */
    int (*validate)(void *conf, const char *comp, struct flm_diag *d);
    /* Source/sink: the property holding its batch size, checked against each
     * channel's transaction capacity (behaviours.md 8).  Channel: the
     * property holding its transaction capacity.  NULL: not checked. */
    const char *batch_key;
    bool no_counters;           /* no JSON entry (netcat source, logger/null sinks) */
    const struct flm_ctr_extra *extra_ctrs; /* NULL-name terminated; after the standard set */
    const void *ops;            /* struct flm_<kind>_ops */
};

struct flm_component {
    char name[64];              /* "r1" */
    char path[128];             /* "a1.sources.r1" */
    const struct flm_type *type;
    void *conf;                 /* typed conf (type->conf_size), owned */
    void *ctx;                  /* implementation state */
    struct flm_logctx log;      /* "[a1.sources.r1 netcat]" */
    struct flm_counters ctr;
};

/* ---------------------------------------------------------------- channels */

struct flm_channel {
    struct flm_component c;
    uint64_t capacity;          /* events; set by init, for metrics */
    uint64_t txcap;             /* per-transaction events; 0 = unbounded */
    _Atomic bool nowait;        /* set at shutdown: never block in take/commit */
};

enum flm_txn_state { FLM_TXN_OPEN, FLM_TXN_COMMITTED, FLM_TXN_ROLLED_BACK };

/* Base of every transaction; implementations embed it first. */
struct flm_txn {
    struct flm_channel *ch;
    uint32_t nput, ntake;       /* staged in this transaction (wrappers keep them) */
    enum flm_txn_state state;
    char errmsg[256];           /* Flume's exception text of the last failure */
};

struct flm_channel_ops {
    int (*init)(struct flm_channel *ch, struct flm_err *err);
    /* Recyclable channels (memory) keep their events over a reload: the new
     * typed conf replaces the old one on FLM_OK (the core frees the old).
     * NULL: the channel is rebuilt on reload. */
    int (*reconfigure)(struct flm_channel *ch, void *newconf, struct flm_err *err);
    int (*begin)(struct flm_channel *ch, struct flm_txn **out);
    /* Stages n events; takes all of them on FLM_OK, none on error
     * (FLM_EFULL: transaction capacity; errmsg set). */
    int (*put)(struct flm_txn *tx, struct flm_event *const *evs, size_t n);
    /* Takes up to max events from the head into the transaction.  May wait
     * (keep-alive) for the first event unless ch->nowait.  *n = 0 when none. */
    int (*take)(struct flm_txn *tx, struct flm_event **evs, size_t max, size_t *n);
    /* Makes puts visible / takes permanent.  FLM_EFULL: no room (errmsg set);
     * the caller must roll back.  After a committed take the taker owns and
     * frees the taken events. */
    int (*commit)(struct flm_txn *tx);
    /* Discards puts (the channel frees them) and returns takes to the head in
     * their original order. */
    void (*rollback)(struct flm_txn *tx);
    void (*end)(struct flm_txn *tx);                 /* frees tx; rolls back if open */
    uint64_t (*size)(struct flm_channel *ch);        /* committed events stored */
    void (*interrupt)(struct flm_channel *ch);       /* wake waiters (nowait is set) */
    void (*destroy)(struct flm_channel *ch);         /* frees every stored event */
};

/* Core wrappers: these keep the transaction state and the CHANNEL counters,
 * so implementations never touch counters.  Same contracts as the ops. */
int flm_txn_begin(struct flm_channel *ch, struct flm_txn **out);
int flm_txn_put(struct flm_txn *tx, struct flm_event *const *evs, size_t n);
int flm_txn_take(struct flm_txn *tx, struct flm_event **evs, size_t max, size_t *n);
int flm_txn_commit(struct flm_txn *tx);
void flm_txn_rollback(struct flm_txn *tx);
void flm_txn_end(struct flm_txn *tx);
uint64_t flm_channel_size(struct flm_channel *ch);

/* ----------------------------------------------------------------- sources */

struct flm_processor;

struct flm_source {
    struct flm_component c;
    struct flm_processor *proc;   /* interceptors -> selector -> channels */
    unsigned backoff_incr_ms;     /* pollable runner; init may change (default 1000) */
    unsigned backoff_max_ms;      /* default 5000 */
    _Atomic bool stopping;        /* set before ops->stop; long loops check it */
    void *runner;                 /* core-private */
};

struct flm_source_ops {
    int (*init)(struct flm_source *src, struct flm_err *err);
    /* Event-driven sources start their own thread (libuv loop) here and
     * return once listening.  Optional for pollable sources. */
    int (*start)(struct flm_source *src, struct flm_err *err);
    /* Non-NULL makes the source pollable: the runner thread calls it in a loop
     * and sleeps on FLM_BACKOFF (Flume's backoff) or an error. */
    int (*process)(struct flm_source *src);
    /* Returns once the source no longer calls its processor. */
    void (*stop)(struct flm_source *src);
    void (*destroy)(struct flm_source *src);
};

/* Puts a batch through the interceptor chain and the selector into the
 * channels.  ALWAYS consumes evs[0..n) (each event ends up committed to a
 * channel or freed); the array itself stays the caller's and may be
 * rewritten.  FLM_OK when every required channel committed.  Otherwise
 * FLM_EFULL (back-pressure), FLM_ECLOSED or FLM_ERR with err->msg set to
 * Flume's exception text (netcat replies "FAILED: <msg>").  Bumps no SOURCE
 * counters: the source knows which ones it maintains.  Runs on the source's
 * thread; may block up to a channel's keep-alive. */
int flm_processor_put(struct flm_processor *p, struct flm_event **evs, size_t n,
                      struct flm_err *err);
/*
 * The same in two steps, for a source that builds its batch event by event:
 * flm_processor_prepare runs the chain and the selector over evs[from..n),
 * the events it just made and still has in cache (a pass over a whole
 * 1000-event batch later misses the cache on every event), compacting the
 * kept ones (dropped ones are freed) and recording their routes in
 * req[]/opt[] at the same positions; it returns the new n.  req and opt are
 * arrays of the batch's capacity, needed only when flm_processor_routes()
 * (NULL otherwise).  flm_processor_put_prepared then puts evs[0..n), every
 * one of them prepared, with exactly flm_processor_put's contract.
 */
bool flm_processor_routes(const struct flm_processor *p);
size_t flm_processor_prepare(struct flm_processor *p, struct flm_event **evs, size_t from,
                             size_t n, uint64_t *req, uint64_t *opt);
int flm_processor_put_prepared(struct flm_processor *p, struct flm_event **evs, size_t n,
                               uint64_t *req, uint64_t *opt, struct flm_err *err);
/* Largest batch every channel of this source accepts in one transaction
 * (0 = unbounded). */
size_t flm_processor_max_batch(const struct flm_processor *p);
/* Spare header room to give each new event (flm_event_new_room) so the
 * source's interceptor chain can add its headers in place: returns the
 * string bytes and sets *slots to the header slots.  Both 0 when the source
 * has no interceptors (the plain pipeline pays nothing).  An estimate:
 * FLM_ROOM_SLOTS_PER_IC slots and FLM_ROOM_BYTES_PER_IC bytes per interceptor
 * until a batch has been through the chain, then what the chain's events
 * actually carried (capped; an event needing more is rebuilt once, as
 * without room).  Call it on the thread that calls flm_processor_put. */
#define FLM_ROOM_SLOTS_PER_IC 1
#define FLM_ROOM_BYTES_PER_IC 48
size_t flm_processor_header_room(const struct flm_processor *p, size_t *slots);

/* ------------------------------------------------------------------- sinks */

struct flm_sink {
    struct flm_component c;
    struct flm_channel *channel;
    _Atomic bool stopping;
};

struct flm_sink_ops {
    int (*init)(struct flm_sink *sink, struct flm_err *err);
    int (*start)(struct flm_sink *sink, struct flm_err *err);   /* optional */
    /* FLM_READY, FLM_BACKOFF (nothing to do), or a negative code: delivery
     * failed and the sink rolled back (the runner sleeps 5 s, as Flume). */
    int (*process)(struct flm_sink *sink);
    void (*stop)(struct flm_sink *sink);                        /* optional: flush, close */
    void (*destroy)(struct flm_sink *sink);
};

/* Sink helpers for the common take/deliver/commit cycle, keeping the SINK
 * counters: flm_sink_take begins a transaction and takes up to max events
 * (BatchEmpty/Underflow/Complete, EventDrainAttempt); on *n == 0 it has
 * already ended the transaction.  flm_sink_commit commits and ends it
 * (EventDrainSuccess += n on success; on failure it rolls back and returns
 * the code, ChannelReadFail++).  flm_sink_rollback rolls back and ends. */
int flm_sink_take(struct flm_sink *s, size_t max, struct flm_txn **tx, struct flm_event **evs,
                  size_t *n);
int flm_sink_commit(struct flm_sink *s, struct flm_txn *tx, size_t n);
void flm_sink_rollback(struct flm_sink *s, struct flm_txn *tx);

/* ------------------------------------------------ selectors, interceptors */

#define FLM_MAX_SOURCE_CHANNELS 64

struct flm_selector {
    struct flm_component c;           /* path "a1.sources.r1.selector" */
    struct flm_channel **chans;       /* the source's channels, config order */
    size_t nchans;
    uint64_t req_mask, opt_mask;      /* static result when ops->select is NULL */
    /* Set by init when select()'s choice for an event depends only on the
     * value of this one header (multiplexing): events known to carry the
     * same value then share one choice.  NULL otherwise. */
    const char *route_key;
    size_t route_klen;
};

struct flm_selector_ops {
    /* Resolve names against chans; problems go to d (FLM_ERR drops the source). */
    int (*init)(struct flm_selector *sel, struct flm_diag *d);
    /* Per-event choice over a batch: req[i]/opt[i] for evs[i]; NULL means
     * req_mask/opt_mask apply to every event. */
    void (*select)(struct flm_selector *sel, struct flm_event *const *evs, size_t n,
                   uint64_t *req, uint64_t *opt);
    void (*destroy)(struct flm_selector *sel);
};

struct flm_interceptor {
    struct flm_component c;           /* path "a1.sources.r1.interceptors.i1" */
};

struct flm_interceptor_ops {
    int (*init)(struct flm_interceptor *ic, struct flm_err *err);
    /* Runs on the source's thread over one batch: may change events (an event
     * pointer may be replaced), or drop some (free them and compact the
     * array).  Returns the new count.  Must not allocate when it changes
     * nothing. */
    size_t (*intercept)(struct flm_interceptor *ic, struct flm_event **evs, size_t n);
    /* Optional.  Returns true when, for the batch about to run, intercept()
     * would add exactly *h (key = value, the same for every event) to an
     * event that lacks that key, and keep every event.  The processor then
     * adds the headers of consecutive such interceptors to each event in one
     * copy (flm_event_add_tmpl) and calls intercept() only for events that
     * already carry one of those keys or lack room.  *h stays valid until the
     * next call; false means "run intercept() on every event". */
    bool (*const_header)(struct flm_interceptor *ic, struct flm_hdr *h);
    void (*destroy)(struct flm_interceptor *ic);
};

/* ------------------------------------------------------------- sink groups */

struct flm_sinkgroup {
    struct flm_component c;           /* path "a1.sinkgroups.g1" (or the sink's own path) */
    struct flm_sink **sinks;
    size_t nsinks;
};

struct flm_sinkproc_ops {
    int (*init)(struct flm_sinkgroup *g, struct flm_err *err);
    /* FLM_READY / FLM_BACKOFF / negative (runner sleeps 5 s). */
    int (*process)(struct flm_sinkgroup *g);
    void (*destroy)(struct flm_sinkgroup *g);
};

/* ---------------------------------------------------------- config filters */

struct flm_configfilter {
    struct flm_component c;
};

struct flm_configfilter_ops {
    int (*init)(struct flm_configfilter *f, struct flm_err *err);
    /* malloc'd value for key, or NULL when unknown (occurrence left as is). */
    char *(*lookup)(struct flm_configfilter *f, const char *key);
    void (*destroy)(struct flm_configfilter *f);
};

/* --------------------------------------------------------------- registry */

/* Type by alias (case-insensitive) or Flume class name; NULL if unknown. */
const struct flm_type *flm_registry_find(enum flm_kind kind, const char *name);
/* Type by alias or class name in any kind (for `flumen help TYPE`). */
const struct flm_type *flm_registry_find_any(const char *name);
/* NULL-terminated list of all types. */
const struct flm_type *const *flm_registry_all(void);
const char *flm_kind_name(enum flm_kind kind);   /* "source", "channel", ... */

/* The typed conf's value of the property called key (INT or LONG), or -1. */
long long flm_props_int_value(const struct flm_type *t, const void *conf, const char *key);

#endif
