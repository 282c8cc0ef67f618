/*
 * kv.c - ordered key/value lists and string vectors.  Not thread-safe; a
 * list belongs to whoever builds the config.
 */
#include "core/kv.h"

#include "core/err.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

void flm_kvs_init(struct flm_kvs *kvs)
{
    kvs->v = NULL;
    kvs->n = kvs->cap = 0;
}

void flm_kvs_free(struct flm_kvs *kvs)
{
    if (kvs == NULL)
        return;
    for (size_t i = 0; i < kvs->n; i++) {
        free(kvs->v[i].key);
        free(kvs->v[i].val);
    }
    free(kvs->v);
    flm_kvs_init(kvs);
}

struct flm_kv *flm_kvs_find(const struct flm_kvs *kvs, const char *key)
{
    for (size_t i = 0; i < kvs->n; i++)
        if (strcmp(kvs->v[i].key, key) == 0)
            return &kvs->v[i];
    return NULL;
}

const char *flm_kvs_get(const struct flm_kvs *kvs, const char *key)
{
    struct flm_kv *kv = flm_kvs_find(kvs, key);
    return kv ? kv->val : NULL;
}

int flm_kvs_add(struct flm_kvs *kvs, const char *key, const char *val, const char *file, int line)
{
    if (kvs->n == kvs->cap) {
        size_t nc = kvs->cap ? kvs->cap * 2 : 16;
        struct flm_kv *nv = realloc(kvs->v, nc * sizeof(*nv));
        if (nv == NULL)
            return FLM_ENOMEM;
        kvs->v = nv;
        kvs->cap = nc;
    }
    char *k = strdup(key), *v = strdup(val);
    if (k == NULL || v == NULL) {
        free(k);
        free(v);
        return FLM_ENOMEM;
    }
    kvs->v[kvs->n++] = (struct flm_kv){k, v, file, line, 0};
    return FLM_OK;
}

int flm_kvs_set(struct flm_kvs *kvs, const char *key, const char *val, const char *file, int line)
{
    struct flm_kv *kv = flm_kvs_find(kvs, key);
    if (kv == NULL)
        return flm_kvs_add(kvs, key, val, file, line);
    char *v = strdup(val);
    if (v == NULL)
        return FLM_ENOMEM;
    free(kv->val);
    kv->val = v;
    kv->file = file;
    kv->line = line;
    return FLM_OK;
}

int flm_kvs_sub(const struct flm_kvs *kvs, const char *prefix, struct flm_kvs *out)
{
    size_t pl = strlen(prefix);
    for (size_t i = 0; i < kvs->n; i++) {
        const struct flm_kv *kv = &kvs->v[i];
        if (strncmp(kv->key, prefix, pl) == 0) {
            int rc = flm_kvs_add(out, kv->key + pl, kv->val, kv->file, kv->line);
            if (rc != FLM_OK)
                return rc;
        }
    }
    return FLM_OK;
}

int flm_strv_split(struct flm_strv *sv, const char *s)
{
    size_t cap = 4;
    sv->n = 0;
    sv->v = calloc(cap + 1, sizeof(char *));
    if (sv->v == NULL)
        return FLM_ENOMEM;
    const char *p = s;
    for (;;) {
        while (*p && isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            break;
        const char *e = p;
        while (*e && !isspace((unsigned char)*e))
            e++;
        if (sv->n == cap) {
            char **nv = realloc(sv->v, (cap * 2 + 1) * sizeof(char *));
            if (nv == NULL) {
                flm_strv_free(sv);
                return FLM_ENOMEM;
            }
            sv->v = nv;
            cap *= 2;
        }
        sv->v[sv->n] = strndup(p, (size_t)(e - p));
        if (sv->v[sv->n] == NULL) {
            flm_strv_free(sv);
            return FLM_ENOMEM;
        }
        sv->n++;
        sv->v[sv->n] = NULL;
        p = e;
    }
    return FLM_OK;
}

void flm_strv_free(struct flm_strv *sv)
{
    if (sv == NULL || sv->v == NULL)
        return;
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    sv->v = NULL;
    sv->n = 0;
}

int flm_strv_has(const struct flm_strv *sv, const char *s)
{
    for (size_t i = 0; i < sv->n; i++)
        if (strcmp(sv->v[i], s) == 0)
            return 1;
    return 0;
}

static pthread_mutex_t intern_mu = PTHREAD_MUTEX_INITIALIZER;
static struct interned { struct interned *next; char s[]; } *intern_head;

const char *flm_intern(const char *s)
{
    if (s == NULL)
        return NULL;
    pthread_mutex_lock(&intern_mu);
    for (struct interned *i = intern_head; i; i = i->next)
        if (strcmp(i->s, s) == 0) {
            pthread_mutex_unlock(&intern_mu);
            return i->s;
        }
    size_t l = strlen(s);
    struct interned *i = malloc(sizeof(*i) + l + 1);
    const char *r = s;
    if (i != NULL) {
        memcpy(i->s, s, l + 1);
        i->next = intern_head;
        intern_head = i;
        r = i->s;
    }
    pthread_mutex_unlock(&intern_mu);
    return r;
}
