/*
 * jodatime.c - Joda-Time pattern parsing for the regex_extractor's millis
 * serializer (org.apache.flume.interceptor.RegexExtractorInterceptorMillisSerializer,
 * which calls DateTimeFormatter.parseMillis).  Pure functions: compile at
 * config time, parse on the source's thread.  Owns the token array.
 *
 * Joda rules kept: numeric fields take 1..2 digits (years up to 9, or exactly
 * as many as the pattern letters when another number follows directly),
 * two-digit years fall within 50 years of (this year - 30), text and literals
 * match case-insensitively, the whole text must be consumed, missing fields
 * default to 2000-01-01 00:00:00.000 in the default (TZ) zone.
 */
#include "interceptors/jodatime.h"

#include "core/err.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum jt_kind { JT_LIT, JT_YEAR, JT_YEAR2, JT_MONTH, JT_MONTH_TEXT, JT_DAY, JT_HOUR, JT_HOUR_K,
               JT_HOUR_h, JT_HOUR_K0, JT_AMPM, JT_MIN, JT_SEC, JT_FRAC, JT_DOW, JT_ZONE };

struct flm_joda_tok {
    enum jt_kind kind;
    int count;                 /* pattern letters */
    int maxd;                  /* digits accepted */
    char *lit;                 /* JT_LIT */
};

static const char *const jt_months[] = {"january", "february", "march",     "april",
                                        "may",     "june",     "july",      "august",
                                        "september", "october", "november", "december"};
static const char *const jt_days[] = {"monday", "tuesday",  "wednesday", "thursday",
                                      "friday", "saturday", "sunday"};

void flm_joda_free(struct flm_joda *f)
{
    for (size_t i = 0; f->t && i < f->n; i++)
        free(f->t[i].lit);
    free(f->t);
    f->t = NULL;
    f->n = 0;
}

static bool jt_numeric(const struct flm_joda_tok *t)
{
    return t->kind != JT_LIT && t->kind != JT_MONTH_TEXT && t->kind != JT_AMPM &&
           t->kind != JT_DOW && t->kind != JT_ZONE;
}

int flm_joda_compile(const char *p, struct flm_joda *out, char *why, size_t cap)
{
    size_t len = strlen(p);
    memset(out, 0, sizeof(*out));
    out->t = calloc(len + 1, sizeof(*out->t));
    if (out->t == NULL) {
        snprintf(why, cap, "out of memory");
        return FLM_ENOMEM;
    }
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    out->pivot = tm.tm_year + 1900 - 30;
    for (size_t i = 0; i < len;) {
        struct flm_joda_tok *t = &out->t[out->n];
        char c = p[i];
        if (isalpha((unsigned char)c)) {
            int cnt = 0;
            while (p[i] == c) {
                cnt++;
                i++;
            }
            t->count = cnt;
            t->maxd = 2;
            switch (c) {
            case 'y': case 'Y':
                t->kind = cnt == 2 ? JT_YEAR2 : JT_YEAR;
                t->maxd = cnt == 2 ? 2 : 9;
                break;
            case 'M': t->kind = cnt >= 3 ? JT_MONTH_TEXT : JT_MONTH; break;
            case 'd': t->kind = JT_DAY; break;
            case 'H': t->kind = JT_HOUR; break;
            case 'k': t->kind = JT_HOUR_K; break;
            case 'h': t->kind = JT_HOUR_h; break;
            case 'K': t->kind = JT_HOUR_K0; break;
            case 'a': t->kind = JT_AMPM; break;
            case 'm': t->kind = JT_MIN; break;
            case 's': t->kind = JT_SEC; break;
            case 'S': t->kind = JT_FRAC; t->maxd = cnt < 9 ? cnt : 9; break;
            case 'E': t->kind = JT_DOW; break;
            case 'Z': t->kind = JT_ZONE; break;
            default:
                snprintf(why, cap, "pattern letter '%c' is not supported (supported: y Y M d H "
                                   "k h K a m s S E Z)", c);
                flm_joda_free(out);
                return FLM_ERR;
            }
            out->n++;
            continue;
        }
        /* Literal text: quoted ('' is a quote) or a run of non-letters. */
        t->kind = JT_LIT;
        if ((t->lit = malloc(len + 1)) == NULL) {
            flm_joda_free(out);
            snprintf(why, cap, "out of memory");
            return FLM_ENOMEM;
        }
        size_t o = 0;
        while (i < len && !isalpha((unsigned char)p[i])) {
            if (p[i] != '\'') {
                t->lit[o++] = p[i++];
                continue;
            }
            if (p[i + 1] == '\'') {
                t->lit[o++] = '\'';
                i += 2;
                continue;
            }
            i++;
            while (i < len && !(p[i] == '\'' && p[i + 1] != '\'')) {
                if (p[i] == '\'')
                    i++;
                t->lit[o++] = p[i++];
            }
            if (i >= len) {
                snprintf(why, cap, "unterminated quote in pattern");
                flm_joda_free(out);
                return FLM_ERR;
            }
            i++;
        }
        t->lit[o] = '\0';
        out->n++;
    }
    /* A year directly followed by another number takes exactly its width. */
    for (size_t k = 0; k + 1 < out->n; k++)
        if (out->t[k].kind == JT_YEAR && jt_numeric(&out->t[k + 1]))
            out->t[k].maxd = out->t[k].count;
    return FLM_OK;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t jt_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int jt_mdays(int64_t y, int m)
{
    static const int md[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : md[m - 1];
}

/* Longest name in names (or its 3-letter form) at s; index or -1. */
static int jt_text(const char *s, size_t left, const char *const *names, int n, size_t *used)
{
    int best = -1;
    size_t blen = 0;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        if (l <= left && l > blen && strncasecmp(s, names[i], l) == 0) {
            best = i;
            blen = l;
        } else if (3 <= left && 3 > blen && strncasecmp(s, names[i], 3) == 0) {
            best = i;
            blen = 3;
        }
    }
    *used = blen;
    return best;
}

int flm_joda_parse(const struct flm_joda *f, const char *s, size_t len, int64_t *ms)
{
    int64_t year = 2000;
    int month = 1, day = 1, hour = 0, minute = 0, sec = 0, milli = 0, pm = -1, h12 = -1;
    bool have_zone = false;
    int zone_min = 0;
    size_t i = 0;
    for (size_t k = 0; k < f->n; k++) {
        const struct flm_joda_tok *t = &f->t[k];
        size_t used = 0;
        switch (t->kind) {
        case JT_LIT: {
            size_t l = strlen(t->lit);
            if (len - i < l || strncasecmp(s + i, t->lit, l) != 0)
                return -1;
            i += l;
            continue;
        }
        case JT_MONTH_TEXT: {
            int m = jt_text(s + i, len - i, jt_months, 12, &used);
            if (m < 0)
                return -1;
            month = m + 1;
            i += used;
            continue;
        }
        case JT_DOW:
            if (jt_text(s + i, len - i, jt_days, 7, &used) < 0)
                return -1;
            i += used;
            continue;
        case JT_AMPM:
            if (len - i >= 2 && strncasecmp(s + i, "AM", 2) == 0)
                pm = 0;
            else if (len - i >= 2 && strncasecmp(s + i, "PM", 2) == 0)
                pm = 1;
            else
                return -1;
            i += 2;
            continue;
        case JT_ZONE: {
            if (i < len && s[i] == 'Z') {
                i++;
                have_zone = true;
                zone_min = 0;
                continue;
            }
            if (i >= len || (s[i] != '+' && s[i] != '-'))
                return -1;
            int sign = s[i++] == '-' ? -1 : 1;
            if (len - i < 2 || !isdigit((unsigned char)s[i]) || !isdigit((unsigned char)s[i + 1]))
                return -1;
            int hh = (s[i] - '0') * 10 + (s[i + 1] - '0'), mm = 0;
            i += 2;
            if (i < len && s[i] == ':')
                i++;
            if (len - i >= 2 && isdigit((unsigned char)s[i]) && isdigit((unsigned char)s[i + 1])) {
                mm = (s[i] - '0') * 10 + (s[i + 1] - '0');
                i += 2;
            }
            if (hh > 23 || mm > 59)
                return -1;
            have_zone = true;
            zone_min = sign * (hh * 60 + mm);
            continue;
        }
        default:
            break;
        }
        /* Numbers. */
        bool neg = false;
        if (t->kind == JT_YEAR && i < len && (s[i] == '-' || s[i] == '+')) {
            neg = s[i] == '-';
            i++;
        }
        int64_t v = 0;
        int nd = 0;
        while (i < len && nd < t->maxd && isdigit((unsigned char)s[i])) {
            v = v * 10 + (s[i++] - '0');
            nd++;
        }
        if (nd == 0)
            return -1;
        switch (t->kind) {
        case JT_YEAR: year = neg ? -v : v; break;
        case JT_YEAR2:
            if (nd == 2) {
                int64_t lo = f->pivot - 50, base = lo - lo % 100 + v;
                year = base < lo ? base + 100 : base;
            } else {
                year = v;
            }
            break;
        case JT_MONTH: month = (int)v; break;
        case JT_DAY: day = (int)v; break;
        case JT_HOUR: hour = (int)v; break;
        case JT_HOUR_K: hour = v == 24 ? 0 : (int)v; if (v < 1 || v > 24) return -1; break;
        case JT_HOUR_h: if (v < 1 || v > 12) return -1; h12 = (int)v % 12; break;
        case JT_HOUR_K0: if (v > 11) return -1; h12 = (int)v; break;
        case JT_MIN: minute = (int)v; break;
        case JT_SEC: sec = (int)v; break;
        case JT_FRAC:
            while (nd < 3) {
                v *= 10;
                nd++;
            }
            while (nd > 3) {
                v /= 10;
                nd--;
            }
            milli = (int)v;
            break;
        default: return -1;
        }
    }
    if (i != len)
        return -1;
    if (h12 >= 0)
        hour = h12 + (pm == 1 ? 12 : 0);
    else if (pm == 1 && hour < 12)
        return -1; /* 'a' without h/K: Joda needs a consistent half-day */
    if (month < 1 || month > 12 || day < 1 || day > jt_mdays(year, month) || hour > 23 ||
        minute > 59 || sec > 59)
        return -1;
    int64_t days = jt_days_from_civil(year, month, day);
    int64_t secs = days * 86400 + hour * 3600 + minute * 60 + sec;
    if (have_zone) {
        secs -= (int64_t)zone_min * 60;
    } else {
        struct tm tm = {.tm_year = (int)(year - 1900), .tm_mon = month - 1, .tm_mday = day,
                        .tm_hour = hour, .tm_min = minute, .tm_sec = sec, .tm_isdst = -1};
        time_t tt = mktime(&tm);
        if (tt == (time_t)-1 && !(year == 1969 && month == 12 && day == 31))
            return -1;
        secs = (int64_t)tt;
    }
    *ms = secs * 1000 + milli;
    return 0;
}
