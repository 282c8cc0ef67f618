/*
 * bucket.h - hdfs.path / hdfs.filePrefix escape sequences (spec/formats.md
 * 4): %{header}, %[localhost|IP|FQDN], the %X time shorthands with
 * rounding, and Java time zones.  Pure functions over an event and options;
 * no I/O after flm_tz_load / flm_escape_hosts.
 */
#ifndef FLM_HDFS_BUCKET_H
#define FLM_HDFS_BUCKET_H

#include "core/buf.h"
#include "core/event.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLM_TZ_MAXTRANS 2048

/* A time zone: the agent's local zone, a fixed offset or a TZif table. */
struct flm_tz {
    enum { FLM_TZ_LOCAL, FLM_TZ_FIXED, FLM_TZ_TABLE } kind;
    int32_t fixed;                 /* seconds east of UTC */
    size_t ntrans;
    int64_t *trans;                /* transition times (UTC s), ascending */
    int32_t *trans_off;            /* offset in force from trans[i] */
    int32_t before_off;            /* offset before the first transition */
};

/*
 * Loads a Java time-zone id: "" (agent's zone), "UTC", "GMT", "Z",
 * "GMT+8", "UTC-05:30", "+0100", or a tz database name
 * ("America/Los_Angeles") from /usr/share/zoneinfo.  FLM_ERR with a
 * sentence in why when unknown (Java would silently use GMT).
 */
int flm_tz_load(struct flm_tz *tz, const char *id, char *why, size_t wcap);
void flm_tz_free(struct flm_tz *tz);
/* Offset (s east of UTC) in force at utc_s. */
int32_t flm_tz_offset(const struct flm_tz *tz, int64_t utc_s);

struct flm_escape_opts {
    const struct flm_tz *tz;
    bool use_local_ts;
    bool round;
    int round_value;
    int round_unit_s;        /* 1, 60, 3600; 0 = no rounding */
    const char *hostname, *ip, *fqdn;
};

/* Fills hostname/IP/FQDN buffers for %[...] (once, at sink start). */
void flm_escape_hosts(char *host, size_t hcap, char *ip, size_t icap, char *fqdn, size_t fcap);

/* Checks a pattern at configuration: FLM_ERR with a sentence in why for a
 * %[name] other than localhost/IP/FQDN.  *needs_ts: a %X shorthand occurs. */
int flm_escape_check(const char *pattern, bool *needs_ts, char *why, size_t wcap);

/* Rounds ts (ms) down per opts in opts->tz (formats.md 4). */
int64_t flm_escape_round(const struct flm_escape_opts *o, int64_t ts_ms);

/*
 * Appends pattern with every escape replaced to out.  now_ms: the agent
 * clock, sampled once per event by the caller.  Returns FLM_OK, FLM_ENOMEM,
 * or FLM_ERR with a sentence in why when the event lacks the `timestamp`
 * header a time escape needs (or it is not a number): Flume fails the event.
 */
int flm_escape_expand(const char *pattern, const struct flm_event *ev,
                      const struct flm_escape_opts *o, uint64_t now_ms, struct flm_buf *out,
                      char *why, size_t wcap);

#endif
