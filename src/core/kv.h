/*
 * kv.h - ordered key/value lists that remember where each pair was written
 * (file and line), used from the properties parser up to the property tables
 * so every config message can name file:line.  Strings are owned by the list.
 */
#ifndef FLM_KV_H
#define FLM_KV_H

#include <stddef.h>

struct flm_kv {
    char *key;
    char *val;
    const char *file;   /* interned for the life of the config; may be NULL */
    int line;           /* 1-based; 0 = not from a file (e.g. -D) */
    int used;           /* set by consumers; unused keys get a warning */
};

struct flm_kvs {
    struct flm_kv *v;
    size_t n, cap;
};

void flm_kvs_init(struct flm_kvs *kvs);
void flm_kvs_free(struct flm_kvs *kvs);
/* Sets key (last wins, as java.util.Properties): an existing key's value,
 * file and line are replaced in place.  Copies key and val. */
int flm_kvs_set(struct flm_kvs *kvs, const char *key, const char *val, const char *file, int line);
/* Appends without replacing (for building sub-lists from a unique source). */
int flm_kvs_add(struct flm_kvs *kvs, const char *key, const char *val, const char *file, int line);
struct flm_kv *flm_kvs_find(const struct flm_kvs *kvs, const char *key);
const char *flm_kvs_get(const struct flm_kvs *kvs, const char *key);
/* Copies every pair whose key starts with prefix into out, prefix stripped. */
int flm_kvs_sub(const struct flm_kvs *kvs, const char *prefix, struct flm_kvs *out);

/* A NULL-terminated vector of owned strings (space-separated lists). */
struct flm_strv {
    char **v;
    size_t n;
};
/* Splits on runs of whitespace; empty input gives n = 0 (v non-NULL). */
int flm_strv_split(struct flm_strv *sv, const char *s);
void flm_strv_free(struct flm_strv *sv);
int flm_strv_has(const struct flm_strv *sv, const char *s);

/* Interns a file name for the life of the process (config messages keep
 * pointing at it across reloads). */
const char *flm_intern(const char *s);

#endif
