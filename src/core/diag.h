/*
 * diag.h - configuration problems collected while an agent config is
 * validated.  The agent logs them; `flumen check` prints them; --strict turns
 * any of them fatal.  Every entry names file:line, component and key when
 * they are known.
 */
#ifndef FLM_DIAG_H
#define FLM_DIAG_H

#include <stddef.h>

enum flm_sev { FLM_SEV_ERROR, FLM_SEV_WARN };

struct flm_diag_item {
    enum flm_sev sev;
    const char *file;   /* interned; NULL when not from a file */
    int line;
    char comp[96];      /* "a1.sources.r1" or "" */
    char key[96];       /* component-relative key or "" */
    char msg[400];
};

struct flm_diag {
    struct flm_diag_item *v;
    size_t n, cap;
    size_t nerr, nwarn;
};

void flm_diag_init(struct flm_diag *d);
void flm_diag_free(struct flm_diag *d);
void flm_diag_add(struct flm_diag *d, enum flm_sev sev, const char *file, int line,
                  const char *comp, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
/* "file:line: comp: key: msg" into buf. */
void flm_diag_format(const struct flm_diag_item *it, char *buf, size_t cap);

#endif
