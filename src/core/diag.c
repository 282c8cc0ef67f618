/*
 * diag.c - configuration problem list.  Owned by one config build; not
 * thread-safe.
 */
#include "core/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void flm_diag_init(struct flm_diag *d)
{
    memset(d, 0, sizeof(*d));
}

void flm_diag_free(struct flm_diag *d)
{
    if (d == NULL)
        return;
    free(d->v);
    flm_diag_init(d);
}

void flm_diag_add(struct flm_diag *d, enum flm_sev sev, const char *file, int line,
                  const char *comp, const char *key, const char *fmt, ...)
{
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 16;
        struct flm_diag_item *nv = realloc(d->v, nc * sizeof(*nv));
        if (nv == NULL)
            return; /* out of memory: the message is lost, the outcome is not */
        d->v = nv;
        d->cap = nc;
    }
    struct flm_diag_item *it = &d->v[d->n++];
    it->sev = sev;
    it->file = file;
    it->line = line;
    snprintf(it->comp, sizeof(it->comp), "%s", comp ? comp : "");
    snprintf(it->key, sizeof(it->key), "%s", key ? key : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->msg, sizeof(it->msg), fmt, ap);
    va_end(ap);
    if (sev == FLM_SEV_ERROR)
        d->nerr++;
    else
        d->nwarn++;
}

void flm_diag_format(const struct flm_diag_item *it, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    if (it->file != NULL && it->line > 0)
        n += (size_t)snprintf(buf + n, cap - n, "%s:%d: ", it->file, it->line);
    else if (it->file != NULL)
        n += (size_t)snprintf(buf + n, cap - n, "%s: ", it->file);
    if (n < cap && it->comp[0])
        n += (size_t)snprintf(buf + n, cap - n, "%s: ", it->comp);
    if (n < cap && it->key[0])
        n += (size_t)snprintf(buf + n, cap - n, "%s: ", it->key);
    if (n < cap)
        snprintf(buf + n, cap - n, "%s", it->msg);
}
