/*
 * log.c - console log appender.  Each line is formatted into a stack buffer
 * and written with a single write(2) so lines from different threads never
 * interleave.  Never logs event bodies itself.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

_Atomic int flm_log_level_global = FLM_LOG_INFO;
struct flm_logctx flm_log_agent;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG", "TRACE"};

const char *flm_log_level_name(int lvl)
{
    if (lvl < 0 || lvl > FLM_LOG_TRACE)
        return "?";
    return level_names[lvl];
}

int flm_log_parse_level(const char *spec)
{
    char word[16];
    size_t n = strcspn(spec, ",");
    while (n > 0 && (spec[n - 1] == ' '))
        n--;
    while (*spec == ' ' && n > 0) {
        spec++;
        n--;
    }
    if (n == 0 || n >= sizeof(word))
        return -1;
    memcpy(word, spec, n);
    word[n] = '\0';
    for (int i = 0; i <= FLM_LOG_TRACE; i++)
        if (strcasecmp(word, level_names[i]) == 0)
            return i;
    if (strcasecmp(word, "WARNING") == 0)
        return FLM_LOG_WARN;
    if (strcasecmp(word, "FATAL") == 0 || strcasecmp(word, "OFF") == 0)
        return FLM_LOG_ERROR;
    if (strcasecmp(word, "ALL") == 0)
        return FLM_LOG_TRACE;
    return -1;
}

void flm_logctx_init(struct flm_logctx *ctx, const char *name, const char *type)
{
    snprintf(ctx->name, sizeof(ctx->name), "%s", name ? name : "");
    snprintf(ctx->type, sizeof(ctx->type), "%s", type ? type : "");
    atomic_store(&ctx->suppressed, 0);
    atomic_store(&ctx->last_ms, 0);
}

static const char *errno_name(int e)
{
    switch (e) {
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EEXIST: return "EEXIST";
    case ENOSPC: return "ENOSPC";
    case EIO: return "EIO";
    case EINVAL: return "EINVAL";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case EPIPE: return "EPIPE";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EMFILE: return "EMFILE";
    case ENOMEM: return "ENOMEM";
    case EAGAIN: return "EAGAIN";
    case EPERM: return "EPERM";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    default: return "errno";
    }
}

static void vemit(enum flm_level lvl, const struct flm_logctx *ctx, int sys_errno,
                  const char *prefix, const char *fmt, va_list ap)
{
    char buf[4096];
    struct timespec ts;
    struct tm tm;
    size_t n = 0;

    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    n += strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, ",%03ld %-5s ", ts.tv_nsec / 1000000L,
                          flm_log_level_name((int)lvl));
    if (ctx != NULL && ctx->name[0] != '\0') {
        if (ctx->type[0] != '\0')
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "[%s %s] ", ctx->name, ctx->type);
        else
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "[%s] ", ctx->name);
    }
    if (prefix != NULL && n < sizeof(buf))
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s", prefix);
    if (n < sizeof(buf)) {
        int k = vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
        if (k > 0)
            n += (size_t)k;
    }
    if (sys_errno != 0 && n < sizeof(buf)) {
        char eb[128];
        const char *es = strerror_r(sys_errno, eb, sizeof(eb));
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, " (%s: %s)", errno_name(sys_errno), es);
    }
    if (n > sizeof(buf) - 2)
        n = sizeof(buf) - 2;
    buf[n++] = '\n';
    (void)!write(2, buf, n);
}

void flm_log_emit(enum flm_level lvl, const struct flm_logctx *ctx, int sys_errno,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vemit(lvl, ctx, sys_errno, NULL, fmt, ap);
    va_end(ap);
}

void flm_log_limited(enum flm_level lvl, struct flm_logctx *ctx, int sys_errno,
                     const char *fmt, ...)
{
    if ((int)lvl > flm_log_level_of(ctx))
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    long long last = atomic_load(&ctx->last_ms);
    if (last != 0 && now - last < 1000) {
        atomic_fetch_add(&ctx->suppressed, 1);
        return;
    }
    atomic_store(&ctx->last_ms, now);
    unsigned sup = atomic_exchange(&ctx->suppressed, 0);
    char prefix[48] = "";
    if (sup > 0)
        snprintf(prefix, sizeof(prefix), "(suppressed %u similar) ", sup);
    va_list ap;
    va_start(ap, fmt);
    vemit(lvl, ctx, sys_errno, prefix, fmt, ap);
    va_end(ap);
}
