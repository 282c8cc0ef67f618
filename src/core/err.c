/*
 * err.c - error names and the error-detail helper.  Thread-safe, no state.
 */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

const char *flm_strerror(int rc)
{
    switch (rc) {
#define FLM_X(name, val, msg) case name: return msg;
        FLM_ERRNO_MAP(FLM_X)
#undef FLM_X
    }
    return "unknown error";
}

int flm_err_set(struct flm_err *err, int rc, const char *fmt, ...)
{
    if (err == NULL)
        return rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    err->rc = rc;
    return rc;
}

void flm_panic(const char *file, int line, const char *fmt, ...)
{
    char buf[512];
    int n = snprintf(buf, sizeof(buf), "PANIC %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(buf))
        n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 2)
        n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    (void)!write(2, buf, (size_t)n);
    abort();
}
