/*
 * props.c - the property-table engine: defaults, parsing, bounds, unknown-key
 * warnings and help/doc rendering all come from one struct flm_prop table.
 * Runs at config time on the agent's main thread only.
 */
#include "core/props.h"

#include "core/err.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int flm_parse_long(const char *s, long long *out)
{
    /* Java Long.parseLong: optional +/-, then one or more ASCII digits. */
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (*p == '\0')
        return -1;
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q))
            return -1;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE)
        return -1;
    *out = v;
    return 0;
}

bool flm_parse_bool(const char *s)
{
    return strcasecmp(s, "true") == 0;
}

static const char *type_name(const struct flm_prop *p)
{
    switch (p->type) {
    case FLM_P_STR: return "string";
    case FLM_P_INT: return "int";
    case FLM_P_LONG: return "long";
    case FLM_P_BOOL: return "bool";
    case FLM_P_ENUM: return "enum";
    case FLM_P_LIST: return "list";
    case FLM_P_PREFIX: return "prefix";
    }
    return "?";
}

/* Sets one property from text.  Returns 0, or -1 with a message in why. */
static int set_value(const struct flm_prop *p, const char *text, void *conf, char *why,
                     size_t wcap)
{
    char *field = (char *)conf + p->off;
    switch (p->type) {
    case FLM_P_STR: {
        char *s = strdup(text);
        if (s == NULL) {
            snprintf(why, wcap, "out of memory");
            return -1;
        }
        free(*(char **)field);
        *(char **)field = s;
        return 0;
    }
    case FLM_P_INT:
    case FLM_P_LONG: {
        long long v;
        if (flm_parse_long(text, &v) != 0 ||
            (p->type == FLM_P_INT && (v < INT_MIN || v > INT_MAX))) {
            snprintf(why, wcap, "'%s' is not a valid %s", text, type_name(p));
            return -1;
        }
        if ((p->min != 0 || p->max != 0) && (v < p->min || v > p->max)) {
            snprintf(why, wcap, "%lld is out of range [%lld, %lld]", v, p->min, p->max);
            return -1;
        }
        if (p->type == FLM_P_INT)
            *(int *)field = (int)v;
        else
            *(long long *)field = v;
        return 0;
    }
    case FLM_P_BOOL:
        *(bool *)field = flm_parse_bool(text);
        return 0;
    case FLM_P_ENUM:
        for (int i = 0; p->choices && p->choices[i]; i++)
            if (strcasecmp(p->choices[i], text) == 0) {
                *(int *)field = i;
                return 0;
            }
        {
            size_t n = (size_t)snprintf(why, wcap, "'%s' is not one of", text);
            for (int i = 0; p->choices && p->choices[i] && n < wcap; i++)
                n += (size_t)snprintf(why + n, wcap - n, "%s %s", i ? "," : "", p->choices[i]);
        }
        return -1;
    case FLM_P_LIST: {
        struct flm_strv *sv = (struct flm_strv *)field;
        flm_strv_free(sv);
        if (flm_strv_split(sv, text) != FLM_OK) {
            snprintf(why, wcap, "out of memory");
            return -1;
        }
        return 0;
    }
    case FLM_P_PREFIX:
        return 0; /* filled by the caller */
    }
    return -1;
}

int flm_props_load(const struct flm_prop *tbl, struct flm_kvs *kvs, void *conf,
                   const char *comp, struct flm_diag *d)
{
    int rc = FLM_OK;
    char why[256];

    for (const struct flm_prop *p = tbl; p && p->name; p++) {
        if (p->type == FLM_P_PREFIX) {
            struct flm_kvs *sub = (struct flm_kvs *)((char *)conf + p->off);
            size_t pl = strlen(p->name);
            for (size_t i = 0; i < kvs->n; i++)
                if (strncmp(kvs->v[i].key, p->name, pl) == 0) {
                    kvs->v[i].used = 1;
                    if (flm_kvs_add(sub, kvs->v[i].key + pl, kvs->v[i].val, kvs->v[i].file,
                                    kvs->v[i].line) != FLM_OK)
                        return FLM_ENOMEM;
                }
            continue;
        }
        if (p->def != NULL && set_value(p, p->def, conf, why, sizeof(why)) != 0)
            FLM_PANIC("bad default for %s: %s", p->name, why); /* our bug, not input */

        struct flm_kv *kv = flm_kvs_find(kvs, p->name);
        if (kv == NULL && p->alias != NULL) {
            kv = flm_kvs_find(kvs, p->alias);
            if (kv != NULL)
                flm_diag_add(d, FLM_SEV_WARN, kv->file, kv->line, comp, p->alias,
                             "'%s' is an old spelling; use '%s'", p->alias, p->name);
        }
        if (kv == NULL) {
            if (p->flags & FLM_P_REQUIRED) {
                flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, p->name,
                             "required property '%s' is missing", p->name);
                rc = FLM_ERR;
            }
            continue;
        }
        kv->used = 1;
        if (p->flags & FLM_P_DEPRECATED)
            flm_diag_add(d, FLM_SEV_WARN, kv->file, kv->line, comp, p->name,
                         "'%s' is deprecated", p->name);
        if (p->flags & FLM_P_IGNORED)
            flm_diag_add(d, FLM_SEV_WARN, kv->file, kv->line, comp, p->name,
                         "'%s' is accepted for compatibility and has no effect", p->name);
        if (kv->val[0] == '\0') {
            /* Flume rejects empty values (PROPERTY_VALUE_NULL) and ignores the key. */
            flm_diag_add(d, FLM_SEV_WARN, kv->file, kv->line, comp, p->name,
                         "empty value ignored%s", p->def ? "; using the default" : "");
            if (p->flags & FLM_P_REQUIRED) {
                flm_diag_add(d, FLM_SEV_ERROR, kv->file, kv->line, comp, p->name,
                             "required property '%s' has no value", p->name);
                rc = FLM_ERR;
            }
            continue;
        }
        if (set_value(p, kv->val, conf, why, sizeof(why)) != 0) {
            if (p->flags & FLM_P_LENIENT) {
                flm_diag_add(d, FLM_SEV_WARN, kv->file, kv->line, comp, p->name,
                             "%s; using the default %s", why, p->def ? p->def : "");
                if (p->def != NULL)
                    set_value(p, p->def, conf, why, sizeof(why));
            } else {
                flm_diag_add(d, FLM_SEV_ERROR, kv->file, kv->line, comp, p->name, "%s", why);
                rc = FLM_ERR;
            }
        }
    }
    return rc;
}

void flm_props_free(const struct flm_prop *tbl, void *conf)
{
    if (conf == NULL)
        return;
    for (const struct flm_prop *p = tbl; p && p->name; p++) {
        char *field = (char *)conf + p->off;
        switch (p->type) {
        case FLM_P_STR:
            free(*(char **)field);
            *(char **)field = NULL;
            break;
        case FLM_P_LIST:
            flm_strv_free((struct flm_strv *)field);
            break;
        case FLM_P_PREFIX:
            flm_kvs_free((struct flm_kvs *)field);
            break;
        default:
            break;
        }
    }
}

size_t flm_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 128 || lb > 128)
        return (size_t)-1;
    size_t row[129];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t best = prev + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[lb];
}

void flm_props_warn_unused(const struct flm_prop *tbl, const struct flm_kvs *kvs,
                           const char *comp, struct flm_diag *d)
{
    for (size_t i = 0; i < kvs->n; i++) {
        const struct flm_kv *kv = &kvs->v[i];
        if (kv->used)
            continue;
        const char *best = NULL;
        size_t bd = (size_t)-1;
        for (const struct flm_prop *p = tbl; p && p->name; p++) {
            size_t dist = flm_edit_distance(kv->key, p->name);
            if (dist < bd) {
                bd = dist;
                best = p->name;
            }
        }
        size_t lim = strlen(kv->key) / 3 + 1;
        if (best != NULL && bd <= lim)
            flm_diag_add(d, FLM_SEV_WARN, kv->file, kv->line, comp, kv->key,
                         "unknown property '%s' ignored; did you mean '%s'?", kv->key, best);
        else
            flm_diag_add(d, FLM_SEV_WARN, kv->file, kv->line, comp, kv->key,
                         "unknown property '%s' ignored", kv->key);
    }
}

void flm_props_print(FILE *f, const struct flm_prop *tbl, bool markdown)
{
    if (markdown) {
        fprintf(f, "| Property | Type | Default | Required | Range | Description |\n");
        fprintf(f, "|---|---|---|---|---|---|\n");
    }
    for (const struct flm_prop *p = tbl; p && p->name; p++) {
        char range[96] = "";
        if (p->type == FLM_P_ENUM && p->choices) {
            size_t n = 0;
            for (int i = 0; p->choices[i] && n < sizeof(range); i++)
                n += (size_t)snprintf(range + n, sizeof(range) - n, "%s%s", i ? " | " : "",
                                      p->choices[i]);
        } else if (p->min != 0 || p->max != 0) {
            snprintf(range, sizeof(range), "%lld..%lld", p->min, p->max);
        }
        const char *def = p->def ? p->def : "--";
        const char *req = (p->flags & FLM_P_REQUIRED) ? "yes" : "no";
        char name[128];
        snprintf(name, sizeof(name), "%s%s", p->name, p->type == FLM_P_PREFIX ? "*" : "");
        char doc[512];
        snprintf(doc, sizeof(doc), "%s%s%s", p->doc ? p->doc : "",
                 (p->flags & FLM_P_IGNORED) ? " (accepted; no effect)" : "",
                 p->alias ? " (also accepted: " : "");
        if (p->alias) {
            size_t dl = strlen(doc);
            snprintf(doc + dl, sizeof(doc) - dl, "%s)", p->alias);
        }
        if (markdown)
            fprintf(f, "| `%s` | %s | %s | %s | %s | %s |\n", name, type_name(p),
                    p->def ? p->def : "--", req, range[0] ? range : "", doc);
        else
            fprintf(f, "  %-28s %-7s default %-12s %s%s%s\n      %s\n", name, type_name(p), def,
                    (p->flags & FLM_P_REQUIRED) ? "REQUIRED " : "", range[0] ? "range " : "",
                    range, doc);
    }
}
