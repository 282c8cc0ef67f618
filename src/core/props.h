/*
 * props.h - one property table per component (STYLE.md 3.4).
 *
 * A component declares each Flume key once: name, type, offset into its typed
 * config struct, default (as the user would write it), flags, bounds, enum
 * choices and a one-sentence doc.  That table alone drives parsing, defaults,
 * validation, `flumen help TYPE` and docs/components/.
 */
#ifndef FLM_PROPS_H
#define FLM_PROPS_H

#include "core/diag.h"
#include "core/kv.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum flm_ptype {
    FLM_P_STR,    /* char * (owned by the conf; freed by flm_props_free) */
    FLM_P_INT,    /* int, Java Integer.parseInt rules */
    FLM_P_LONG,   /* long long, Java Long.parseLong rules */
    FLM_P_BOOL,   /* bool: only "true" (any case) is true, as Java */
    FLM_P_ENUM,   /* int index into choices (matched case-insensitively) */
    FLM_P_LIST,   /* struct flm_strv: whitespace-separated */
    FLM_P_PREFIX, /* struct flm_kvs: every "name*" key, prefix stripped */
};

enum {
    FLM_P_REQUIRED = 1u << 0,
    FLM_P_SECRET = 1u << 1,     /* never printed */
    FLM_P_DEPRECATED = 1u << 2, /* accepted with a warning */
    FLM_P_LENIENT = 1u << 3,    /* bad/out-of-range value -> default + warning (Flume memory channel) */
    FLM_P_IGNORED = 1u << 4,    /* accepted for compatibility, has no effect here */
};

struct flm_prop {
    const char *name;          /* exact Flume key (case-sensitive) */
    enum flm_ptype type;
    size_t off;                /* FLM_OFF(struct, field) */
    const char *def;           /* default text; NULL = none */
    unsigned flags;
    long long min, max;        /* inclusive; both 0 = unbounded */
    const char *const *choices; /* FLM_P_ENUM: NULL-terminated */
    const char *alias;         /* older spelling accepted with a warning */
    const char *doc;           /* one sentence: what it does, unit */
};

#define FLM_OFF(type, field) offsetof(type, field)
#define FLM_PROPS_END {NULL, 0, 0, NULL, 0, 0, 0, NULL, NULL, NULL}

/*
 * Fills conf (zeroed, conf_size bytes) from kvs using tbl: defaults first,
 * then every key present.  Problems go to d with file:line of the key,
 * component `comp` ("a1.sources.r1").  Keys in kvs that the table does not
 * know are NOT reported here (the caller knows which extra keys are its own);
 * the consumed ones get kv->used = 1.
 * Returns FLM_OK, or FLM_ERR when the component must be dropped (a required
 * key missing, a value that does not parse or is out of range).
 */
int flm_props_load(const struct flm_prop *tbl, struct flm_kvs *kvs, void *conf,
                   const char *comp, struct flm_diag *d);
/* Releases what flm_props_load allocated inside conf (not conf itself). */
void flm_props_free(const struct flm_prop *tbl, void *conf);

/* Warns (with did-you-mean) about every kv not marked used. */
void flm_props_warn_unused(const struct flm_prop *tbl, const struct flm_kvs *kvs,
                           const char *comp, struct flm_diag *d);

/* Java-compatible number parsing: optional sign, decimal digits only. */
int flm_parse_long(const char *s, long long *out);
bool flm_parse_bool(const char *s);

/* Renders the table for `flumen help` (text) or docs (markdown). */
void flm_props_print(FILE *f, const struct flm_prop *tbl, bool markdown);

/* Levenshtein distance, for did-you-mean. */
size_t flm_edit_distance(const char *a, const char *b);

#endif
