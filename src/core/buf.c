/*
 * buf.c - capped growable buffer.
 */
#include "core/buf.h"

#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void flm_buf_init(struct flm_buf *b, size_t max)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

void flm_buf_free(struct flm_buf *b)
{
    if (b == NULL)
        return;
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

int flm_buf_reserve(struct flm_buf *b, size_t extra)
{
    size_t need;
    if (flm_size_add(b->len, extra, &need) || need > b->max)
        return FLM_EFULL;
    if (need <= b->cap)
        return FLM_OK;
    size_t nc = b->cap ? b->cap : 256;
    while (nc < need)
        nc = nc > b->max / 2 ? b->max : nc * 2;
    uint8_t *np = realloc(b->p, nc);
    if (np == NULL)
        return FLM_ENOMEM;
    b->p = np;
    b->cap = nc;
    return FLM_OK;
}

int flm_buf_append(struct flm_buf *b, const void *data, size_t n)
{
    int rc = flm_buf_reserve(b, n);
    if (rc != FLM_OK)
        return rc;
    if (n > 0)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    return FLM_OK;
}

int flm_buf_printf(struct flm_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return FLM_ERR;
    int rc = flm_buf_reserve(b, (size_t)n + 1);
    if (rc != FLM_OK)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return FLM_OK;
}

void flm_buf_consume(struct flm_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}
