/*
 * err.h - the one error-code space of flumen (STYLE.md 3.5).
 *
 * Functions return int: FLM_OK (0) or a negative FLM_E* code.  Each code
 * tells the caller what to do next; errno never travels in the return value
 * (it goes in struct flm_err.sys).  Outcomes that are not errors (READY,
 * BACKOFF) are enum flm_status in component.h, never codes here.
 */
#ifndef FLM_ERR_H
#define FLM_ERR_H

#include <stddef.h>

#define FLM_ERRNO_MAP(X)                                                        \
    X(FLM_OK, 0, "success")                                                     \
    X(FLM_ERR, -1, "failed")                                                    \
    X(FLM_ENOMEM, -2, "out of memory")                                          \
    X(FLM_EFULL, -3, "capacity reached")    /* back-pressure: retry later */    \
    X(FLM_EAGAIN, -4, "nothing now")        /* non-blocking: try later */       \
    X(FLM_ECLOSED, -5, "component stopping") /* do not retry */                 \
    X(FLM_ECORRUPT, -6, "stored data failed a check")                           \
    X(FLM_EIO, -7, "I/O error")

enum {
#define FLM_X(name, val, msg) name = val,
    FLM_ERRNO_MAP(FLM_X)
#undef FLM_X
};

/* User-facing detail for config, startup and network errors. */
struct flm_err {
    int rc;          /* FLM_E* */
    int sys;         /* errno, 0 when none */
    char msg[512];   /* complete sentence(s), no trailing newline */
};

const char *flm_strerror(int rc);

/* Sets err->rc and formats err->msg; NULL-safe on err.  Returns rc so callers
 * can write `return flm_err_set(err, FLM_ERR, "...")`. */
int flm_err_set(struct flm_err *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Overflow-checked size arithmetic for untrusted lengths: 0 on success, -1
 * on overflow (out untouched). */
static inline int flm_size_add(size_t a, size_t b, size_t *out)
{
    if (a > (size_t)-1 - b)
        return -1;
    *out = a + b;
    return 0;
}

static inline int flm_size_mul(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > (size_t)-1 / a)
        return -1;
    *out = a * b;
    return 0;
}

#ifdef FLM_DEBUG
#include <stdlib.h>
#define FLM_ASSERT(x)                                                           \
    do {                                                                        \
        if (!(x))                                                               \
            flm_panic(__FILE__, __LINE__, "assertion failed: %s", #x);          \
    } while (0)
#define FLM_NEVER(x) ((x) ? (flm_panic(__FILE__, __LINE__, "never: %s", #x), 1) : 0)
#else
#define FLM_ASSERT(x) ((void)0)
#define FLM_NEVER(x) (x)
#endif
#define FLM_PANIC(...) flm_panic(__FILE__, __LINE__, __VA_ARGS__)

_Noreturn void flm_panic(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
