/*
 * jodatime.h - parsing date text with a Joda-Time pattern (the subset the
 * regex_extractor's millis serializer needs).  Compile at config time; the
 * compiled pattern is read-only afterwards and safe from any thread.
 */
#ifndef FLM_JODATIME_H
#define FLM_JODATIME_H

#include <stddef.h>
#include <stdint.h>

struct flm_joda_tok;

struct flm_joda {
    struct flm_joda_tok *t;
    size_t n;
    int pivot;                 /* two-digit years: pivot - 50 .. pivot + 49 */
};

/* Supported letters: y Y (year; yy two-digit), M (MM number, MMM+ English
 * name), d, H, k, h, K, a, m, s, S (fraction), E (day name, checked only),
 * Z (offset: Z, +HH, +HHmm, +HH:mm); quoted text and other non-letters are
 * literals.  FLM_OK, or FLM_ERR with why set (an unsupported letter). */
int flm_joda_compile(const char *pattern, struct flm_joda *out, char *why, size_t cap);
/* The whole of text[0..len) as epoch ms: with a Z field in that offset, else
 * in the local time zone (TZ), as Joda's default zone; unparsed fields take
 * Joda's defaults (year 2000, January 1st, 00:00:00.000).  0 or -1. */
int flm_joda_parse(const struct flm_joda *f, const char *text, size_t len, int64_t *ms);
void flm_joda_free(struct flm_joda *f);

#endif
