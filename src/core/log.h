/*
 * log.h - leveled logging with a component context (STYLE.md 3.7).
 *
 * Every line reads
 *   2026-11-23 06:43:26,123 INFO  [a1.sources.r1 netcat] message (ENOSPC: No space left on device)
 * and is emitted with one write(2) to stderr (console appender).  The level is
 * global (set from -Dflume.root.logger=LEVEL,console) and may be lowered per
 * context.  Safe from any thread.
 */
#ifndef FLM_LOG_H
#define FLM_LOG_H

#include <errno.h>
#include <stdatomic.h>

enum flm_level { FLM_LOG_ERROR, FLM_LOG_WARN, FLM_LOG_INFO, FLM_LOG_DEBUG, FLM_LOG_TRACE };

struct flm_logctx {
    char name[96];   /* "a1.sources.r1"; empty for the agent itself */
    char type[32];   /* "netcat"; may be empty */
    _Atomic unsigned suppressed; /* rate-limited repeats not printed yet */
    _Atomic long long last_ms;   /* last rate-limited line, ms */
};

extern _Atomic int flm_log_level_global;

static inline int flm_log_level_of(const struct flm_logctx *ctx)
{
    (void)ctx;
    return atomic_load_explicit(&flm_log_level_global, memory_order_relaxed);
}

void flm_logctx_init(struct flm_logctx *ctx, const char *name, const char *type);
void flm_log_emit(enum flm_level lvl, const struct flm_logctx *ctx, int sys_errno,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* As flm_log_emit, but at most one line per second per ctx; the next printed
 * line says how many were suppressed. */
void flm_log_limited(enum flm_level lvl, struct flm_logctx *ctx, int sys_errno,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Parses "INFO", "INFO,console", "debug,LOGFILE": returns the level or -1. */
int flm_log_parse_level(const char *spec);
const char *flm_log_level_name(int lvl);

#define flm_log(lvl, ctx, sys, ...)                                             \
    do {                                                                        \
        if ((int)(lvl) <= flm_log_level_of(ctx))                                \
            flm_log_emit((lvl), (ctx), (sys), __VA_ARGS__);                     \
    } while (0)
#define flm_error(ctx, ...) flm_log(FLM_LOG_ERROR, (ctx), 0, __VA_ARGS__)
#define flm_error_sys(ctx, ...) flm_log(FLM_LOG_ERROR, (ctx), errno, __VA_ARGS__)
#define flm_warn(ctx, ...) flm_log(FLM_LOG_WARN, (ctx), 0, __VA_ARGS__)
#define flm_warn_sys(ctx, ...) flm_log(FLM_LOG_WARN, (ctx), errno, __VA_ARGS__)
#define flm_info(ctx, ...) flm_log(FLM_LOG_INFO, (ctx), 0, __VA_ARGS__)
#define flm_debug(ctx, ...) flm_log(FLM_LOG_DEBUG, (ctx), 0, __VA_ARGS__)
#define flm_trace(ctx, ...) flm_log(FLM_LOG_TRACE, (ctx), 0, __VA_ARGS__)

/* The agent-wide context ("[a1]" once the name is known). */
extern struct flm_logctx flm_log_agent;

#endif
