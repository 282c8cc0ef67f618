/*
 * bucket.c - escape sequences of hdfs.path and hdfs.filePrefix (spec/
 * formats.md 4) and the Java time-zone ids they are formatted in.  Time
 * fields are produced in English as Java's default (US) locale formats
 * them.  Named zones are read from the system's TZif files (RFC 8536; the
 * 64-bit section when present); after the file's last transition its last
 * offset stays in force.  Owns the tz tables it loads; pure otherwise, safe
 * from any thread.
 */
#include "sinks/hdfs/bucket.h"

#include "core/err.h"
#include "core/props.h"

#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

/* ------------------------------------------------------------- time zones */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* "+8", "-05:30", "+0100", "8": seconds, or -1 when not an offset. */
static int parse_offset(const char *s, int32_t *out)
{
    int sign = 1;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    else
        return -1;
    int h = 0, m = 0, nd = 0;
    while (isdigit((unsigned char)*s) && nd < 2) {
        h = h * 10 + (*s++ - '0');
        nd++;
    }
    if (nd == 0)
        return -1;
    if (*s == ':')
        s++;
    if (isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1])) {
        m = (s[0] - '0') * 10 + (s[1] - '0');
        s += 2;
    }
    if (*s != '\0' || h > 18 || m > 59)
        return -1;
    *out = sign * (h * 3600 + m * 60);
    return 0;
}

static int load_tzif(struct flm_tz *tz, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    uint8_t *d = malloc(1 << 20);
    size_t n = d ? fread(d, 1, 1 << 20, f) : 0;
    fclose(f);
    if (d == NULL)
        return -1;
    int rc = -1;
    if (n < 44 || memcmp(d, "TZif", 4) != 0)
        goto out;
    const uint8_t *h = d;
    size_t tsz = 4;
    uint32_t cnt[6];
    for (int i = 0; i < 6; i++)
        cnt[i] = be32(h + 20 + 4 * i);
    if (d[4] >= '2') {
        size_t v1 = 44 + (size_t)cnt[3] * 5 + (size_t)cnt[4] * 6 + cnt[5] + (size_t)cnt[2] * 8 +
                    cnt[1] + cnt[0];
        if (v1 + 44 > n || memcmp(d + v1, "TZif", 4) != 0)
            goto out;
        h = d + v1;
        tsz = 8;
        for (int i = 0; i < 6; i++)
            cnt[i] = be32(h + 20 + 4 * i);
    }
    uint32_t timecnt = cnt[3], typecnt = cnt[4];
    const uint8_t *times = h + 44;
    const uint8_t *idx = times + (size_t)timecnt * tsz;
    const uint8_t *types = idx + timecnt;
    if (types + (size_t)typecnt * 6 > d + n || typecnt == 0 || timecnt > FLM_TZ_MAXTRANS)
        goto out;
    tz->trans = calloc(timecnt + 1, sizeof(int64_t));
    tz->trans_off = calloc(timecnt + 1, sizeof(int32_t));
    if (tz->trans == NULL || tz->trans_off == NULL)
        goto out;
    for (uint32_t i = 0; i < timecnt; i++) {
        tz->trans[i] = tsz == 8 ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
        uint8_t t = idx[i] < typecnt ? idx[i] : 0;
        tz->trans_off[i] = (int32_t)be32(types + 6 * t);
    }
    tz->ntrans = timecnt;
    tz->before_off = (int32_t)be32(types);
    tz->kind = FLM_TZ_TABLE;
    rc = 0;
out:
    free(d);
    return rc;
}

int flm_tz_load(struct flm_tz *tz, const char *id, char *why, size_t wcap)
{
    memset(tz, 0, sizeof(*tz));
    if (id == NULL || *id == '\0') {
        tz->kind = FLM_TZ_LOCAL;
        return FLM_OK;
    }
    tz->kind = FLM_TZ_FIXED;
    if (strcmp(id, "UTC") == 0 || strcmp(id, "GMT") == 0 || strcmp(id, "Z") == 0 ||
        strcmp(id, "UT") == 0)
        return FLM_OK;
    const char *rest = NULL;
    if (strncmp(id, "UTC", 3) == 0 || strncmp(id, "GMT", 3) == 0)
        rest = id + 3;
    else if (strncmp(id, "UT", 2) == 0)
        rest = id + 2;
    else if (*id == '+' || *id == '-')
        rest = id;
    if (rest != NULL && parse_offset(rest, &tz->fixed) == 0)
        return FLM_OK;
    if (strstr(id, "..") == NULL && *id != '/') {
        char path[512];
        snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", id);
        if (load_tzif(tz, path) == 0)
            return FLM_OK;
        flm_tz_free(tz);
    }
    snprintf(why, wcap, "unknown time zone '%s' (use a tz database name such as "
                        "Europe/Berlin, UTC, or GMT+hh:mm)", id);
    return FLM_ERR;
}

void flm_tz_free(struct flm_tz *tz)
{
    free(tz->trans);
    free(tz->trans_off);
    tz->trans = NULL;
    tz->trans_off = NULL;
    tz->ntrans = 0;
}

int32_t flm_tz_offset(const struct flm_tz *tz, int64_t utc_s)
{
    switch (tz->kind) {
    case FLM_TZ_FIXED:
        return tz->fixed;
    case FLM_TZ_TABLE: {
        if (tz->ntrans == 0 || utc_s < tz->trans[0])
            return tz->before_off;
        size_t lo = 0, hi = tz->ntrans; /* last trans <= utc_s */
        while (hi - lo > 1) {
            size_t mid = (lo + hi) / 2;
            if (tz->trans[mid] <= utc_s)
                lo = mid;
            else
                hi = mid;
        }
        return tz->trans_off[lo];
    }
    default: {
        time_t t = (time_t)utc_s;
        struct tm tm;
        localtime_r(&t, &tm);
        return (int32_t)tm.tm_gmtoff;
    }
    }
}

/* ---------------------------------------------------------------- escapes */

void flm_escape_hosts(char *host, size_t hcap, char *ip, size_t icap, char *fqdn, size_t fcap)
{
    if (gethostname(host, hcap) != 0)
        snprintf(host, hcap, "localhost");
    host[hcap - 1] = '\0';
    snprintf(ip, icap, "127.0.0.1");
    snprintf(fqdn, fcap, "%s", host);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_INET;
    hints.ai_flags = AI_CANONNAME;
    if (getaddrinfo(host, NULL, &hints, &res) == 0 && res != NULL) {
        const struct sockaddr_in *sa = (const struct sockaddr_in *)res->ai_addr;
        inet_ntop(AF_INET, &sa->sin_addr, ip, (socklen_t)icap);
        if (res->ai_canonname)
            snprintf(fqdn, fcap, "%s", res->ai_canonname);
        freeaddrinfo(res);
    }
}

static bool word_char(int c)
{
    return isalnum(c) || c == '_';
}

static bool name_char(int c)
{
    return isalnum(c) || c == '_' || c == '.' || c == '-';
}

/* Length of a %{name} / %[name] token at p (p[0] == '%'), 0 when none. */
static size_t braced(const char *p, char open, char close)
{
    if (p[1] != open)
        return 0;
    size_t i = 2;
    while (name_char((unsigned char)p[i]))
        i++;
    return (i > 2 && p[i] == close) ? i + 1 : 0;
}

int flm_escape_check(const char *pattern, bool *needs_ts, char *why, size_t wcap)
{
    *needs_ts = false;
    for (const char *p = pattern; *p; p++) {
        if (*p != '%')
            continue;
        size_t n;
        if ((n = braced(p, '{', '}')) != 0) {
            p += n - 1;
        } else if ((n = braced(p, '[', ']')) != 0) {
            if (!((n - 3 == 9 && strncasecmp(p + 2, "localhost", 9) == 0) ||
                  (n - 3 == 2 && strncasecmp(p + 2, "IP", 2) == 0) ||
                  (n - 3 == 4 && strncasecmp(p + 2, "FQDN", 4) == 0))) {
                snprintf(why, wcap, "the escape '%.*s' is not recognised (known: %%[localhost], "
                                    "%%[IP], %%[FQDN])", (int)n, p);
                return FLM_ERR;
            }
            p += n - 1;
        } else if (p[1] == '%' || word_char((unsigned char)p[1])) {
            *needs_ts = true;
            p++;
        }
    }
    return FLM_OK;
}

int64_t flm_escape_round(const struct flm_escape_opts *o, int64_t ts)
{
    if (!o->round || o->round_unit_s == 0 || o->round_value <= 0)
        return ts;
    int64_t s = ts >= 0 ? ts / 1000 : (ts - 999) / 1000;
    int64_t local = s + flm_tz_offset(o->tz, s);
    int64_t in_day = ((local % 86400) + 86400) % 86400;
    int64_t field, below; /* value of the rounded field and seconds below it */
    if (o->round_unit_s == 3600) {
        field = in_day / 3600;
        below = in_day % 3600;
    } else if (o->round_unit_s == 60) {
        field = (in_day / 60) % 60;
        below = in_day % 60;
    } else {
        field = in_day % 60;
        below = 0;
    }
    int64_t removed = (field % o->round_value) * o->round_unit_s + below;
    return (s - removed) * 1000;
}

static const char *const wd_short[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const wd_long[] = {"Sunday", "Monday", "Tuesday", "Wednesday",
                                      "Thursday", "Friday", "Saturday"};
static const char *const mon_short[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const mon_long[] = {"January", "February", "March", "April",
                                       "May", "June", "July", "August",
                                       "September", "October", "November", "December"};

static int time_field(char c, const struct tm *tm, int64_t secs, int32_t off, struct flm_buf *out)
{
    int h12 = tm->tm_hour % 12 == 0 ? 12 : tm->tm_hour % 12;
    switch (c) {
    case 'a': return flm_buf_printf(out, "%s", wd_short[tm->tm_wday]);
    case 'A': return flm_buf_printf(out, "%s", wd_long[tm->tm_wday]);
    case 'b': return flm_buf_printf(out, "%s", mon_short[tm->tm_mon]);
    case 'B': return flm_buf_printf(out, "%s", mon_long[tm->tm_mon]);
    case 'c':
        return flm_buf_printf(out, "%s %s %d %02d:%02d:%02d %d", wd_short[tm->tm_wday],
                              mon_short[tm->tm_mon], tm->tm_mday, tm->tm_hour, tm->tm_min,
                              tm->tm_sec, tm->tm_year + 1900);
    case 'd': return flm_buf_printf(out, "%02d", tm->tm_mday);
    case 'e': return flm_buf_printf(out, "%d", tm->tm_mday);
    case 'D':
        return flm_buf_printf(out, "%02d/%02d/%02d", tm->tm_mon + 1, tm->tm_mday,
                              (tm->tm_year + 1900) % 100);
    case 'H': return flm_buf_printf(out, "%02d", tm->tm_hour);
    case 'I': return flm_buf_printf(out, "%02d", h12);
    case 'j': return flm_buf_printf(out, "%03d", tm->tm_yday + 1);
    case 'k': return flm_buf_printf(out, "%d", tm->tm_hour);
    case 'l': return flm_buf_printf(out, "%d", h12);
    case 'm': return flm_buf_printf(out, "%02d", tm->tm_mon + 1);
    case 'n': return flm_buf_printf(out, "%d", tm->tm_mon + 1);
    case 'M': return flm_buf_printf(out, "%02d", tm->tm_min);
    case 'p': return flm_buf_printf(out, "%s", tm->tm_hour < 12 ? "AM" : "PM");
    case 's': return flm_buf_printf(out, "%lld", (long long)secs);
    case 'S': return flm_buf_printf(out, "%02d", tm->tm_sec);
    case 'y': return flm_buf_printf(out, "%02d", (tm->tm_year + 1900) % 100);
    case 'Y': return flm_buf_printf(out, "%d", tm->tm_year + 1900);
    case 'z': {
        int32_t a = off < 0 ? -off : off;
        return flm_buf_printf(out, "%c%02d%02d", off < 0 ? '-' : '+', a / 3600, (a / 60) % 60);
    }
    case '%': return flm_buf_append(out, "%", 1);
    default: return FLM_OK; /* unknown letter: empty, as Flume */
    }
}

int flm_escape_expand(const char *pattern, const struct flm_event *ev,
                      const struct flm_escape_opts *o, uint64_t now_ms, struct flm_buf *out,
                      char *why, size_t wcap)
{
    bool have_tm = false;
    struct tm tm;
    int64_t secs = 0;
    int32_t off = 0;
    const char *ts_text = NULL;
    char now_text[24];
    int rc = FLM_OK;
    const char *lit = pattern;
    for (const char *p = pattern; *p && rc == FLM_OK; p++) {
        if (*p != '%')
            continue;
        size_t n;
        if ((n = braced(p, '{', '}')) != 0) {
            rc = flm_buf_append(out, lit, (size_t)(p - lit));
            char key[256];
            snprintf(key, sizeof(key), "%.*s", (int)(n - 3), p + 2);
            const char *v = flm_event_header(ev, key);
            if (rc == FLM_OK && v != NULL)
                rc = flm_buf_append(out, v, strlen(v));
        } else if ((n = braced(p, '[', ']')) != 0) {
            rc = flm_buf_append(out, lit, (size_t)(p - lit));
            const char *v = strncasecmp(p + 2, "IP", 2) == 0     ? o->ip
                            : strncasecmp(p + 2, "FQDN", 4) == 0 ? o->fqdn
                                                                 : o->hostname;
            if (rc == FLM_OK && v != NULL)
                rc = flm_buf_append(out, v, strlen(v));
        } else if (p[1] == '%' || word_char((unsigned char)p[1])) {
            n = 2;
            rc = flm_buf_append(out, lit, (size_t)(p - lit));
            if (rc != FLM_OK)
                break;
            if (!have_tm) {
                long long ts;
                if (o->use_local_ts) {
                    ts = (long long)now_ms;
                    snprintf(now_text, sizeof(now_text), "%llu", (unsigned long long)now_ms);
                    ts_text = now_text;
                } else {
                    ts_text = flm_event_header(ev, "timestamp");
                    if (ts_text == NULL) {
                        snprintf(why, wcap, "the event has no 'timestamp' header, which the "
                                            "escape '%%%c' needs (add a timestamp interceptor "
                                            "or set hdfs.useLocalTimeStamp = true)", p[1]);
                        return FLM_ERR;
                    }
                    if (flm_parse_long(ts_text, &ts) != FLM_OK) {
                        snprintf(why, wcap, "the event's 'timestamp' header '%.40s' is not a "
                                            "number of milliseconds", ts_text);
                        return FLM_ERR;
                    }
                }
                int64_t r = flm_escape_round(o, ts);
                secs = r >= 0 ? r / 1000 : (r - 999) / 1000;
                off = flm_tz_offset(o->tz, secs);
                time_t t = (time_t)(secs + off);
                gmtime_r(&t, &tm);
                have_tm = true;
            }
            if (p[1] == 't')
                rc = flm_buf_append(out, ts_text, strlen(ts_text));
            else
                rc = time_field(p[1], &tm, secs, off, out);
        } else {
            continue;
        }
        p += n - 1;
        lit = p + 1;
    }
    if (rc == FLM_OK)
        rc = flm_buf_append(out, lit, strlen(lit));
    if (rc != FLM_OK)
        snprintf(why, wcap, "out of memory or path too long");
    return rc;
}
