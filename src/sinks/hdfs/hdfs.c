/*
 * hdfs.c - the hdfs sink (spec/components.md 3.1, formats.md 2-4,
 * behaviours.md 5-6) writing through the fsys layer (file:// and bare
 * paths: fsys_local.c; hdfs:// and webhdfs://: fsys_webhdfs.c).
 *
 * One bucket per resolved `hdfs.path/filePrefix`; a bucket holds one open
 * file `<inUsePrefix><prefix>.<counter><ext><inUseSuffix>` that is renamed to
 * `<prefix>.<counter><ext>` when it is closed (roll, idle, eviction, stop).
 * process(): take up to hdfs.batchSize events in one transaction; resolve
 * every event's bucket first (an event whose escapes cannot be resolved
 * fails the whole batch before anything is written: rollback,
 * EventWriteFail, an ERROR line naming the cause); append each event
 * (rolling on rollCount / rollSize first); flush every touched bucket to
 * the filesystem; only then commit.
 *
 * Threads: process() on the sink runner; a timer thread closes files on
 * rollInterval / idleTimeout and retries failed renames; stop() on the
 * supervisor after the runner was joined.  All bucket state is under
 * `mu`.  The clock is flm_filesinks_clock (tests fix it).
 *
 * Differences from Flume: an unknown %[name] escape or time zone is a
 * configuration error (Flume fails every event / uses GMT); a poison event
 * is counted (EventWriteFail) and logged each time it is retried.
 */
#include "core/component.h"

#include "serializers/serializer.h"
#include "sinks/hdfs/bucket.h"
#include "sinks/hdfs/codec.h"
#include "sinks/hdfs/fsys.h"
#include "sinks/hdfs/fsys_webhdfs.h"
#include "sinks/hdfs/seqfile.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum { FT_SEQ, FT_DATA, FT_COMPRESSED };
static const char *const ft_names[] = {"SequenceFile", "DataStream", "CompressedStream", NULL};
static const char *const wf_names[] = {"Writable", "Text", NULL};

struct hdfs_conf {
    char *path, *file_prefix, *file_suffix, *in_use_prefix, *in_use_suffix;
    bool empty_in_use_suffix;
    long long roll_interval, roll_size, roll_count, idle_timeout;
    int batch_size;
    char *codec;
    int file_type;
    int max_open_files;
    int min_block_replicas;
    int write_format;
    int threads_pool_size, roll_timer_pool_size;
    char *kerberos_principal, *kerberos_keytab, *proxy_user;
    bool round;
    int round_value;
    char *round_unit;
    char *time_zone;
    bool use_local_ts;
    int close_tries;
    long long retry_interval;
    long long call_timeout;
    int webhdfs_port;
    bool use_raw_local_fs;
    char *serializer;
    struct flm_kvs ser_opts;
};

#define C(f) FLM_OFF(struct hdfs_conf, f)
static const struct flm_prop hdfs_props[] = {
    {"hdfs.path", FLM_P_STR, C(path), NULL, FLM_P_REQUIRED, 0, 0, NULL, NULL,
     "Directory (file:///dir, /dir, hdfs://nn:port/dir or webhdfs://nn:httpport/dir); escape "
     "sequences allowed."},
    {"hdfs.filePrefix", FLM_P_STR, C(file_prefix), "FlumeData", 0, 0, 0, NULL, NULL,
     "File name prefix; escape sequences allowed."},
    {"hdfs.fileSuffix", FLM_P_STR, C(file_suffix), "", 0, 0, 0, NULL, NULL,
     "Appended after the counter (no dot added)."},
    {"hdfs.inUsePrefix", FLM_P_STR, C(in_use_prefix), "", 0, 0, 0, NULL, NULL,
     "Prefix of a file while it is open."},
    {"hdfs.inUseSuffix", FLM_P_STR, C(in_use_suffix), ".tmp", 0, 0, 0, NULL, NULL,
     "Suffix of a file while it is open."},
    {"hdfs.emptyInUseSuffix", FLM_P_BOOL, C(empty_in_use_suffix), "false", 0, 0, 0, NULL, NULL,
     "true: no in-use suffix."},
    {"hdfs.rollInterval", FLM_P_LONG, C(roll_interval), "30", 0, 0, 0, NULL, NULL,
     "Seconds before a file is closed (0 = never by time)."},
    {"hdfs.rollSize", FLM_P_LONG, C(roll_size), "1024", 0, 0, 0, NULL, NULL,
     "Body bytes written before a new file (0 = never by size)."},
    {"hdfs.rollCount", FLM_P_LONG, C(roll_count), "10", 0, 0, 0, NULL, NULL,
     "Events written before a new file (0 = never by count)."},
    {"hdfs.idleTimeout", FLM_P_LONG, C(idle_timeout), "0", 0, 0, 0, NULL, NULL,
     "Seconds without writes before a file is closed (0 = never)."},
    {"hdfs.batchSize", FLM_P_INT, C(batch_size), "100", 0, 1, 1000000, NULL, NULL,
     "Events per transaction; files are flushed after each."},
    {"hdfs.codeC", FLM_P_STR, C(codec), NULL, 0, 0, 0, NULL, NULL,
     "Codec: gzip, deflate, bzip2, snappy, lz4, zstd (or the Hadoop class simple name)."},
    {"hdfs.fileType", FLM_P_ENUM, C(file_type), "SequenceFile", 0, 0, 0, ft_names, NULL,
     "SequenceFile, DataStream or CompressedStream."},
    {"hdfs.maxOpenFiles", FLM_P_INT, C(max_open_files), "5000", 0, 1, 0x7fffffff, NULL, NULL,
     "Open files kept; the least recently written is closed beyond."},
    {"hdfs.minBlockReplicas", FLM_P_INT, C(min_block_replicas), NULL, FLM_P_IGNORED, 0, 0, NULL,
     NULL, "HDFS replication threshold (no effect on local files)."},
    {"hdfs.writeFormat", FLM_P_ENUM, C(write_format), "Writable", 0, 0, 0, wf_names, NULL,
     "SequenceFile value class: Writable (BytesWritable) or Text."},
    {"hdfs.threadsPoolSize", FLM_P_INT, C(threads_pool_size), "10", FLM_P_IGNORED, 0, 0, NULL,
     NULL, "I/O threads (one sink thread writes here)."},
    {"hdfs.rollTimerPoolSize", FLM_P_INT, C(roll_timer_pool_size), "1", FLM_P_IGNORED, 0, 0,
     NULL, NULL, "Roll timer threads (one here)."},
    {"hdfs.kerberosPrincipal", FLM_P_STR, C(kerberos_principal), NULL, FLM_P_IGNORED, 0, 0, NULL,
     NULL, "Kerberos principal (not supported)."},
    {"hdfs.kerberosKeytab", FLM_P_STR, C(kerberos_keytab), NULL, FLM_P_IGNORED, 0, 0, NULL, NULL,
     "Kerberos keytab (not supported)."},
    {"hdfs.proxyUser", FLM_P_STR, C(proxy_user), NULL, 0, 0, 0, NULL, NULL,
     "WebHDFS: user to act as (doas=); user.name is $HADOOP_USER_NAME, else $USER."},
    {"hdfs.round", FLM_P_BOOL, C(round), "false", 0, 0, 0, NULL, NULL,
     "Round the timestamp down for time escapes (not %t)."},
    {"hdfs.roundValue", FLM_P_INT, C(round_value), "1", 0, 0, 0, NULL, NULL,
     "Multiple to round down to (1..60 seconds/minutes, 1..24 hours)."},
    {"hdfs.roundUnit", FLM_P_STR, C(round_unit), "second", 0, 0, 0, NULL, NULL,
     "second, minute or hour (other values: no rounding)."},
    {"hdfs.timeZone", FLM_P_STR, C(time_zone), "", 0, 0, 0, NULL, NULL,
     "Time zone of the escapes (tz name or GMT+hh:mm); empty = the agent's."},
    {"hdfs.useLocalTimeStamp", FLM_P_BOOL, C(use_local_ts), "false", 0, 0, 0, NULL, NULL,
     "Use the agent clock instead of the timestamp header."},
    {"hdfs.closeTries", FLM_P_INT, C(close_tries), "0", 0, 0, 0x7fffffff, NULL, NULL,
     "Rename attempts after a close (0 = until it works)."},
    {"hdfs.retryInterval", FLM_P_LONG, C(retry_interval), "180", 0, 0, 0, NULL, NULL,
     "Seconds between rename retries (<= 0: a single try)."},
    {"hdfs.callTimeout", FLM_P_LONG, C(call_timeout), "30000", FLM_P_DEPRECATED, 0, 0, NULL,
     NULL, "Milliseconds per WebHDFS call, retries included (deprecated; local calls are not "
     "bounded)."},
    {"hdfs.webhdfs.port", FLM_P_INT, C(webhdfs_port), "9870", 0, 1, 65535, NULL, NULL,
     "Namenode HTTP (WebHDFS) port used for hdfs:// paths; webhdfs:// paths carry their own."},
    {"hdfs.useRawLocalFileSystem", FLM_P_BOOL, C(use_raw_local_fs), "false", FLM_P_IGNORED, 0, 0,
     NULL, NULL, "Hadoop local filesystem choice (no effect)."},
    {"serializer", FLM_P_STR, C(serializer), "TEXT", 0, 0, 0, NULL, NULL,
     "For DataStream/CompressedStream: text, header_and_text or avro_event."},
    {"serializer.", FLM_P_PREFIX, C(ser_opts), NULL, 0, 0, 0, NULL, NULL,
     "Serializer options, e.g. serializer.appendNewline."},
    FLM_PROPS_END,
};
#undef C

#define NHASH 1024

struct hbucket {
    char *key;                      /* resolved dir + "/" + prefix */
    char *dir, *prefix;
    uint64_t counter;
    struct flm_fsys_file *file;     /* NULL: no open file */
    char tmp_path[PATH_MAX], final_path[PATH_MAX];
    struct flm_serializer *ser;
    struct flm_seqfile seq;
    struct flm_sout out;            /* bytes not yet handed to the filesystem */
    uint64_t nevents, nbytes, open_ms, last_ms;
    bool touched;
    struct hbucket *hnext, *older, *newer;
};

struct rename_retry {
    char from[PATH_MAX], to[PATH_MAX];
    int tries;
    uint64_t next_ms;
    struct rename_retry *next;
};

struct hdfs {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t timer;
    bool timer_started, timer_stop;
    const struct flm_fsys_ops *fs;
    const char *dir_pattern;        /* inside conf->path, scheme stripped */
    const struct flm_codec *codec;
    struct flm_tz tz;
    struct flm_escape_opts eo;
    char host[256], ip[64], fqdn[256];
    struct flm_event **evs;
    struct hbucket **evb;
    struct hbucket *tab[NHASH];
    struct hbucket *oldest, *newest; /* LRU by last write */
    size_t nopen;
    struct flm_buf pbuf, zbuf;
    struct rename_retry *retries;
    bool webhdfs_attached;
};

/* ------------------------------------------------------------ validation */

static int round_unit_s(const char *u)
{
    if (strcasecmp(u, "second") == 0)
        return 1;
    if (strcasecmp(u, "minute") == 0)
        return 60;
    if (strcasecmp(u, "hour") == 0)
        return 3600;
    return 0;
}

static int hdfs_validate(void *conf, const char *comp, struct flm_diag *d)
{
    struct hdfs_conf *c = conf;
    int rc = FLM_OK;
    char why[300];
    const char *local;
    if (flm_webhdfs_is_uri(c->path) ? flm_webhdfs_check(c->path, why, sizeof(why)) != FLM_OK
                                    : flm_fsys_for(c->path, &local, why, sizeof(why)) == NULL) {
        flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "hdfs.path", "%s", why);
        rc = FLM_ERR;
    }
    bool ts;
    if (flm_escape_check(c->path, &ts, why, sizeof(why)) != FLM_OK) {
        flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "hdfs.path", "%s", why);
        rc = FLM_ERR;
    }
    if (flm_escape_check(c->file_prefix, &ts, why, sizeof(why)) != FLM_OK) {
        flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "hdfs.filePrefix", "%s", why);
        rc = FLM_ERR;
    }
    if (c->codec != NULL && c->codec[0] != '\0') {
        if (flm_codec_find(c->codec) == NULL) {
            bool lzo = strncasecmp(c->codec, "lzo", 3) == 0;
            flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "hdfs.codeC",
                         lzo ? "codec '%s' is not available (hadoop-lzo is not bundled); use "
                               "gzip, deflate, bzip2, snappy, lz4 or zstd"
                             : "unknown codec '%s' (known: gzip, deflate, bzip2, snappy, lz4, "
                               "zstd)",
                         c->codec);
            rc = FLM_ERR;
        }
        if (c->file_type == FT_DATA) {
            flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "hdfs.codeC",
                         "hdfs.fileType = DataStream does not take a codec (use "
                         "CompressedStream)");
            rc = FLM_ERR;
        }
    } else if (c->file_type == FT_COMPRESSED) {
        flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "hdfs.codeC",
                     "hdfs.fileType = CompressedStream needs hdfs.codeC");
        rc = FLM_ERR;
    }
    int unit = round_unit_s(c->round_unit);
    if (c->round && unit != 0) {
        int max = unit == 3600 ? 24 : 60;
        if (c->round_value < 1 || c->round_value > max) {
            flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "hdfs.roundValue",
                         "must be between 1 and %d for roundUnit %s (got %d)", max, c->round_unit,
                         c->round_value);
            rc = FLM_ERR;
        }
    } else if (c->round && unit == 0) {
        flm_diag_add(d, FLM_SEV_WARN, NULL, 0, comp, "hdfs.roundUnit",
                     "'%s' is not second, minute or hour: no rounding (as Flume)", c->round_unit);
    }
    struct flm_tz tz;
    if (flm_tz_load(&tz, c->time_zone, why, sizeof(why)) != FLM_OK) {
        flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "hdfs.timeZone", "%s", why);
        rc = FLM_ERR;
    }
    flm_tz_free(&tz);
    if (c->file_type == FT_SEQ && c->ser_opts.n > 0)
        flm_diag_add(d, FLM_SEV_WARN, NULL, 0, comp, "serializer",
                     "serializer options have no effect with hdfs.fileType = SequenceFile");
    if (c->file_type != FT_SEQ) {
        char sub[160];
        snprintf(sub, sizeof(sub), "%s.serializer", comp);
        if (flm_serializer_validate(c->serializer, &c->ser_opts, sub, d) != FLM_OK)
            rc = FLM_ERR;
    }
    return rc;
}

/* ------------------------------------------------------------- buckets */

static size_t hash_key(const char *s)
{
    size_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h % NHASH;
}

static void lru_unlink(struct hdfs *h, struct hbucket *b)
{
    if (b->older)
        b->older->newer = b->newer;
    else if (h->oldest == b)
        h->oldest = b->newer;
    if (b->newer)
        b->newer->older = b->older;
    else if (h->newest == b)
        h->newest = b->older;
    b->older = b->newer = NULL;
}

static void lru_touch(struct hdfs *h, struct hbucket *b)
{
    if (h->newest == b)
        return;
    lru_unlink(h, b);
    b->older = h->newest;
    if (h->newest)
        h->newest->newer = b;
    h->newest = b;
    if (h->oldest == NULL)
        h->oldest = b;
}

static void bucket_free(struct hbucket *b)
{
    flm_serializer_free(b->ser);
    flm_seqfile_release(&b->seq);
    flm_sout_free(&b->out);
    free(b->key);
    free(b->dir);
    free(b->prefix);
    free(b);
}

/* Removes b from the table and LRU and frees it (its file must be closed). */
static void bucket_remove(struct hdfs *h, struct hbucket *b)
{
    struct hbucket **pp = &h->tab[hash_key(b->key)];
    while (*pp && *pp != b)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = b->hnext;
    lru_unlink(h, b);
    bucket_free(b);
}

static void queue_rename(struct flm_sink *s, struct hdfs *h, const char *from, const char *to,
                         uint64_t now)
{
    const struct hdfs_conf *c = s->c.conf;
    if (c->retry_interval <= 0 || c->close_tries == 1) {
        flm_error(&s->c.log, "giving up renaming %s to %s (hdfs.closeTries/retryInterval)", from,
                  to);
        return;
    }
    struct rename_retry *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return;
    snprintf(r->from, sizeof(r->from), "%s", from);
    snprintf(r->to, sizeof(r->to), "%s", to);
    r->tries = 1;
    r->next_ms = now + (uint64_t)c->retry_interval * 1000u;
    r->next = h->retries;
    h->retries = r;
}

/* Hands pending bytes of b to the filesystem: serializer/seqfile flush,
 * codec, write, hflush. */
static int bucket_flush(struct hdfs *h, const struct hdfs_conf *c, struct hbucket *b,
                        struct flm_err *err)
{
    int rc;
    if (c->file_type == FT_SEQ)
        rc = flm_seqfile_sync(&b->seq, &b->out.buf);
    else
        rc = flm_serializer_flush(b->ser, &b->out);
    if (rc != FLM_OK)
        return flm_err_set(err, rc, "serializer failed: %s", flm_strerror(rc));
    if (c->file_type == FT_COMPRESSED && flm_sout_len(&b->out) > 0) {
        flm_sout_flatten(&b->out);
        h->zbuf.len = 0;
        rc = flm_codec_compress(h->codec, b->out.buf.p, b->out.buf.len, &h->zbuf);
        if (rc != FLM_OK)
            return flm_err_set(err, rc, "%s compression failed", h->codec->name);
        rc = h->fs->write(b->file, h->zbuf.p, h->zbuf.len, err);
        if (rc != FLM_OK)
            return rc;
    } else if (flm_sout_len(&b->out) > 0) {
        rc = flm_fsys_write_out(h->fs, b->file, &b->out, err);
        if (rc != FLM_OK)
            return rc;
    }
    flm_sout_reset(&b->out);
    return h->fs->flush(b->file, err);
}

/* Closes b's file (flushing first unless a failed batch is dropped) and
 * renames it to its final name.  Returns the flush result: data of the
 * current batch is not acknowledged unless it is FLM_OK. */
static int bucket_close(struct flm_sink *s, struct hdfs *h, struct hbucket *b, bool flush,
                         const char *why)
{
    const struct hdfs_conf *c = s->c.conf;
    if (b->file == NULL)
        return FLM_OK;
    struct flm_err err = {0};
    int frc = flush ? bucket_flush(h, c, b, &err) : FLM_OK;
    if (frc != FLM_OK)
        flm_error(&s->c.log, "flushing %s before close failed: %s", b->tmp_path, err.msg);
    flm_sout_reset(&b->out);
    int rc = h->fs->close(b->file, &err);
    b->file = NULL;
    h->nopen--;
    if (rc != FLM_OK) {
        flm_ctr_add(&s->c.ctr, FLM_SINK_CONNECTION_FAILED, 1);
        flm_error(&s->c.log, "closing %s failed: %s", b->tmp_path, err.msg);
    } else {
        flm_ctr_add(&s->c.ctr, FLM_SINK_CONNECTION_CLOSED, 1);
    }
    flm_debug(&s->c.log, "closed %s (%s)", b->tmp_path, why);
    if (strcmp(b->tmp_path, b->final_path) != 0) {
        if (h->fs->rename(b->tmp_path, b->final_path, &err) != FLM_OK) {
            flm_error(&s->c.log, "%s; will retry", err.msg);
            queue_rename(s, h, b->tmp_path, b->final_path, flm_filesinks_clock());
        }
    }
    return frc;
}

static int bucket_open(struct flm_sink *s, struct hdfs *h, struct hbucket *b, uint64_t now)
{
    const struct hdfs_conf *c = s->c.conf;
    const char *ext = c->file_suffix[0] ? c->file_suffix : h->codec ? h->codec->ext : "";
    const char *sfx = c->empty_in_use_suffix ? "" : c->in_use_suffix;
    b->counter++;
    snprintf(b->final_path, sizeof(b->final_path), "%s/%s.%llu%s", b->dir, b->prefix,
             (unsigned long long)b->counter, ext);
    snprintf(b->tmp_path, sizeof(b->tmp_path), "%s/%s%s.%llu%s%s", b->dir, c->in_use_prefix,
             b->prefix, (unsigned long long)b->counter, ext, sfx);
    struct flm_err err = {0};
    int rc = h->fs->create(b->tmp_path, &b->file, &err);
    if (rc == FLM_OK) {
        flm_sout_reset(&b->out);
        if (c->file_type == FT_SEQ)
            rc = flm_seqfile_begin(&b->seq, &b->out.buf);
        else
            rc = flm_serializer_begin(b->ser, &b->out);
        if (rc != FLM_OK) {
            flm_err_set(&err, rc, "cannot start the file: %s", flm_strerror(rc));
            h->fs->close(b->file, &err);
            b->file = NULL;
        }
    }
    if (rc != FLM_OK) {
        flm_ctr_add(&s->c.ctr, FLM_SINK_CONNECTION_FAILED, 1);
        flm_log_limited(FLM_LOG_ERROR, &s->c.log, err.sys, "cannot create %s: %s", b->tmp_path,
                        err.msg);
        return rc;
    }
    flm_ctr_add(&s->c.ctr, FLM_SINK_CONNECTION_CREATED, 1);
    h->nopen++;
    b->nevents = b->nbytes = 0;
    b->open_ms = b->last_ms = now;
    flm_debug(&s->c.log, "creating %s", b->tmp_path);
    return FLM_OK;
}

static struct hbucket *bucket_get(struct flm_sink *s, struct hdfs *h, const char *key,
                                  size_t dirlen, uint64_t now)
{
    const struct hdfs_conf *c = s->c.conf;
    size_t hk = hash_key(key);
    for (struct hbucket *b = h->tab[hk]; b; b = b->hnext)
        if (strcmp(b->key, key) == 0)
            return b;
    struct hbucket *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->key = strdup(key);
    b->dir = strndup(key, dirlen);
    b->prefix = strdup(key + dirlen + 1);
    flm_sout_init(&b->out, (size_t)1 << 31);
    b->seq.text_values = c->write_format == 1;
    b->seq.codec = h->codec;
    b->seq.block = true; /* Flume: BLOCK compression with a codec */
    if (c->file_type != FT_SEQ)
        b->ser = flm_serializer_new(c->serializer, &((struct hdfs_conf *)c)->ser_opts);
    if (b->key == NULL || b->dir == NULL || b->prefix == NULL ||
        (c->file_type != FT_SEQ && b->ser == NULL)) {
        bucket_free(b);
        return NULL;
    }
    b->counter = now;
    b->hnext = h->tab[hk];
    h->tab[hk] = b;
    return b;
}

/* Closes files whose rollInterval or idleTimeout passed; retries renames.
 * Caller holds mu. */
static void check_timers(struct flm_sink *s, struct hdfs *h, uint64_t now)
{
    const struct hdfs_conf *c = s->c.conf;
    struct hbucket *next;
    for (struct hbucket *b = h->oldest; b; b = next) {
        next = b->newer;
        if (b->file == NULL)
            continue;
        if (c->roll_interval > 0 && now >= b->open_ms + (uint64_t)c->roll_interval * 1000u) {
            bucket_close(s, h, b, true, "rollInterval");
            bucket_remove(h, b);
        } else if (c->idle_timeout > 0 &&
                   now >= b->last_ms + (uint64_t)c->idle_timeout * 1000u) {
            bucket_close(s, h, b, true, "idleTimeout");
            bucket_remove(h, b);
        }
    }
    for (struct rename_retry **pp = &h->retries; *pp;) {
        struct rename_retry *r = *pp;
        if (now < r->next_ms) {
            pp = &r->next;
            continue;
        }
        struct flm_err err = {0};
        if (h->fs->rename(r->from, r->to, &err) == FLM_OK) {
            flm_info(&s->c.log, "renamed %s to %s after %d tries", r->from, r->to, r->tries + 1);
        } else if (c->close_tries > 0 && r->tries + 1 >= c->close_tries) {
            flm_error(&s->c.log, "giving up renaming %s after %d tries: %s", r->from,
                      r->tries + 1, err.msg);
        } else {
            r->tries++;
            r->next_ms = now + (uint64_t)c->retry_interval * 1000u;
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        free(r);
    }
}

static void *timer_main(void *arg)
{
    struct flm_sink *s = arg;
    struct hdfs *h = s->c.ctx;
    pthread_mutex_lock(&h->mu);
    while (!h->timer_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 250000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->cv, &h->mu, &ts);
        if (!h->timer_stop)
            check_timers(s, h, flm_filesinks_clock());
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* ------------------------------------------------------------ lifecycle */

static int hdfs_init(struct flm_sink *s, struct flm_err *err)
{
    struct hdfs_conf *c = s->c.conf;
    struct hdfs *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    s->c.ctx = h;
    pthread_mutex_init(&h->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);
    char why[300];
    if (flm_webhdfs_is_uri(c->path)) {
        struct flm_webhdfs_opts wo = {c->webhdfs_port, c->proxy_user, c->call_timeout};
        if (flm_webhdfs_attach(c->path, &wo, why, sizeof(why)) != FLM_OK)
            return flm_err_set(err, FLM_ERR, "hdfs.path: %s", why);
        h->webhdfs_attached = true;
        h->fs = &flm_fsys_webhdfs;
        h->dir_pattern = c->path; /* the ops take full URIs */
    } else {
        h->fs = flm_fsys_for(c->path, &h->dir_pattern, why, sizeof(why));
    }
    if (h->fs == NULL)
        return flm_err_set(err, FLM_ERR, "hdfs.path: %s", why);
    if (c->codec != NULL && c->codec[0] != '\0')
        h->codec = flm_codec_find(c->codec);
    if (flm_tz_load(&h->tz, c->time_zone, why, sizeof(why)) != FLM_OK)
        return flm_err_set(err, FLM_ERR, "hdfs.timeZone: %s", why);
    flm_escape_hosts(h->host, sizeof(h->host), h->ip, sizeof(h->ip), h->fqdn, sizeof(h->fqdn));
    h->eo.tz = &h->tz;
    h->eo.use_local_ts = c->use_local_ts;
    h->eo.round = c->round;
    h->eo.round_value = c->round_value;
    h->eo.round_unit_s = round_unit_s(c->round_unit);
    h->eo.hostname = h->host;
    h->eo.ip = h->ip;
    h->eo.fqdn = h->fqdn;
    h->evs = calloc((size_t)c->batch_size, sizeof(*h->evs));
    h->evb = calloc((size_t)c->batch_size, sizeof(*h->evb));
    if (h->evs == NULL || h->evb == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    flm_buf_init(&h->pbuf, 2 * PATH_MAX);
    flm_buf_init(&h->zbuf, (size_t)1 << 31);
    return FLM_OK;
}

static int hdfs_start(struct flm_sink *s, struct flm_err *err)
{
    struct hdfs *h = s->c.ctx;
    h->timer_stop = false;
    if (pthread_create(&h->timer, NULL, timer_main, s) != 0)
        return flm_err_set(err, FLM_ERR, "cannot start the roll timer thread");
    h->timer_started = true;
    return FLM_OK;
}

/* Resolves the bucket of every taken event; FLM_ERR (why set) on an event
 * whose escapes cannot be resolved. */
static int resolve_all(struct flm_sink *s, struct hdfs *h, size_t n, uint64_t now, char *why,
                       size_t wcap)
{
    const struct hdfs_conf *c = s->c.conf;
    /* Fast path: no escapes at all -> one bucket for the whole batch. */
    bool fixed = strchr(h->dir_pattern, '%') == NULL && strchr(c->file_prefix, '%') == NULL;
    struct hbucket *prev = NULL;
    for (size_t i = 0; i < n; i++) {
        if (fixed && prev != NULL) {
            h->evb[i] = prev;
            continue;
        }
        struct flm_buf *p = &h->pbuf;
        p->len = 0;
        int rc = flm_escape_expand(h->dir_pattern, h->evs[i], &h->eo, now, p, why, wcap);
        if (rc != FLM_OK)
            return rc;
        size_t dirlen = p->len;
        rc = flm_buf_append(p, "/", 1);
        rc = rc ? rc : flm_escape_expand(c->file_prefix, h->evs[i], &h->eo, now, p, why, wcap);
        rc = rc ? rc : flm_buf_append(p, "", 1);
        if (rc != FLM_OK)
            return rc;
        /* Consecutive events usually share a bucket: skip the hash lookup. */
        if (prev != NULL && strcmp(prev->key, (const char *)p->p) == 0)
            h->evb[i] = prev;
        else
            h->evb[i] = bucket_get(s, h, (const char *)p->p, dirlen, now);
        prev = h->evb[i];
        if (h->evb[i] == NULL) {
            snprintf(why, wcap, "out of memory");
            return FLM_ENOMEM;
        }
    }
    return FLM_OK;
}

/* Uncompressed output need not wait for the batch end (unless the
 * serializer still holds part of it: a pending avro block). */
#define EARLY_WRITE ((size_t)1 << 20)

static int early_write(struct flm_sink *s, struct hdfs *h, struct hbucket *b)
{
    const struct hdfs_conf *c = s->c.conf;
    if (c->file_type == FT_COMPRESSED || flm_sout_held(&b->out) ||
        flm_sout_len(&b->out) < EARLY_WRITE)
        return FLM_OK;
    struct flm_err err = {0};
    int rc = flm_fsys_write_out(h->fs, b->file, &b->out, &err);
    if (rc != FLM_OK)
        flm_log_limited(FLM_LOG_ERROR, &s->c.log, err.sys, "%s", err.msg);
    return rc;
}

static int append_event(struct flm_sink *s, struct hdfs *h, struct hbucket *b,
                        const struct flm_event *ev, uint64_t now)
{
    const struct hdfs_conf *c = s->c.conf;
    if (b->file != NULL && ((c->roll_count > 0 && b->nevents >= (uint64_t)c->roll_count) ||
                            (c->roll_size > 0 && b->nbytes >= (uint64_t)c->roll_size))) {
        int crc = bucket_close(s, h, b, true, "rollCount/rollSize");
        if (crc != FLM_OK)
            return crc; /* this batch's bytes in the closed file were not acknowledged */
    }
    if (b->file == NULL) {
        int rc = bucket_open(s, h, b, now);
        if (rc != FLM_OK)
            return rc;
    }
    int rc;
    if (c->file_type == FT_SEQ) {
        long long key = (long long)now;
        const char *ts = flm_event_header(ev, "timestamp");
        if (ts != NULL && flm_parse_long(ts, &key) != FLM_OK)
            key = (long long)now;
        rc = flm_seqfile_append(&b->seq, key, ev->body, ev->body_len, &b->out.buf);
    } else {
        rc = flm_serializer_write(b->ser, ev, &b->out);
    }
    if (rc != FLM_OK)
        return rc;
    b->nevents++;
    b->nbytes += ev->body_len;
    b->last_ms = now;
    lru_touch(h, b);
    b->touched = true;
    return early_write(s, h, b);
}

/* Hands the serializer events of b in runs: while no roll check can fire
 * (the file is open and neither rollCount nor rollSize is reached before
 * an event of the run), the run goes through one write_batch call;
 * otherwise one event at a time through append_event, which rolls.  A run
 * stops after about EARLY_WRITE body bytes so the output is written as
 * often as per event.  The bytes and file boundaries are those of
 * append_event for every event. */
static int append_run(struct flm_sink *s, struct hdfs *h, struct hbucket *b,
                      struct flm_event *const *evs, size_t m, uint64_t now)
{
    const struct hdfs_conf *c = s->c.conf;
    size_t k = 0;
    while (k < m) {
        size_t j = k;
        uint64_t ne = b->nevents, nb = b->nbytes;
        if (c->file_type != FT_SEQ && b->file != NULL)
            while (j < m && !(c->roll_count > 0 && ne >= (uint64_t)c->roll_count) &&
                   !(c->roll_size > 0 && nb >= (uint64_t)c->roll_size) &&
                   nb - b->nbytes < EARLY_WRITE) {
                ne++;
                nb += evs[j]->body_len;
                j++;
            }
        if (j == k) {
            int rc = append_event(s, h, b, evs[k], now);
            if (rc != FLM_OK)
                return rc;
            k++;
            continue;
        }
        int rc = flm_serializer_write_batch(b->ser, evs + k, j - k, &b->out);
        if (rc != FLM_OK)
            return rc;
        b->nevents = ne;
        b->nbytes = nb;
        b->last_ms = now;
        lru_touch(h, b);
        b->touched = true;
        rc = early_write(s, h, b);
        if (rc != FLM_OK)
            return rc;
        k = j;
    }
    return FLM_OK;
}

static int hdfs_process(struct flm_sink *s)
{
    const struct hdfs_conf *c = s->c.conf;
    struct hdfs *h = s->c.ctx;
    struct flm_txn *tx;
    size_t n;
    int rc = flm_sink_take(s, (size_t)c->batch_size, &tx, h->evs, &n);
    if (rc != FLM_OK)
        return FLM_BACKOFF;
    pthread_mutex_lock(&h->mu);
    uint64_t now = flm_filesinks_clock();
    check_timers(s, h, now);
    if (n == 0) {
        pthread_mutex_unlock(&h->mu);
        return FLM_BACKOFF;
    }
    char why[400];
    rc = resolve_all(s, h, n, now, why, sizeof(why));
    if (rc != FLM_OK) {
        pthread_mutex_unlock(&h->mu);
        flm_sink_rollback(s, tx);
        flm_ctr_add(&s->c.ctr, FLM_SINK_EVENT_WRITE_FAIL, 1);
        flm_log_limited(FLM_LOG_ERROR, &s->c.log, 0,
                        "a batch of %zu event(s) was rolled back and will be retried: %s", n, why);
        return FLM_ERR;
    }
    /* Consecutive events of one bucket go in as a run. */
    for (size_t i = 0, j; i < n && rc == FLM_OK; i = j) {
        for (j = i + 1; j < n && h->evb[j] == h->evb[i]; j++)
            ;
        rc = append_run(s, h, h->evb[i], h->evs + i, j - i, now);
    }
    struct flm_err err = {0};
    for (size_t k = 0; k < n; k++) {
        struct hbucket *b = h->evb[k];
        if (!b->touched)
            continue;
        b->touched = false;
        if (rc == FLM_OK && b->file != NULL) {
            rc = bucket_flush(h, c, b, &err);
            if (rc != FLM_OK)
                flm_log_limited(FLM_LOG_ERROR, &s->c.log, err.sys, "%s", err.msg);
        }
    }
    if (rc != FLM_OK) {
        /* Files touched by the failed batch are closed as they are: the
         * retry goes to new files. */
        for (size_t k = 0; k < n; k++)
            if (h->evb[k]->file != NULL)
                bucket_close(s, h, h->evb[k], false, "write failure");
        pthread_mutex_unlock(&h->mu);
        flm_sink_rollback(s, tx);
        flm_ctr_add(&s->c.ctr, FLM_SINK_EVENT_WRITE_FAIL, 1);
        return rc;
    }
    /* maxOpenFiles: close the least recently written beyond the limit. */
    while (h->nopen > (size_t)c->max_open_files && h->oldest != NULL) {
        struct hbucket *b = h->oldest;
        bucket_close(s, h, b, true, "maxOpenFiles");
        bucket_remove(h, b);
    }
    pthread_mutex_unlock(&h->mu);
    rc = flm_sink_commit(s, tx, n);
    if (rc != FLM_OK)
        return rc;
    for (size_t k = 0; k < n; k++)
        flm_event_free(h->evs[k]);
    return FLM_READY;
}

static void close_all(struct flm_sink *s, struct hdfs *h)
{
    while (h->oldest != NULL) {
        struct hbucket *b = h->oldest;
        bucket_close(s, h, b, true, "stop");
        bucket_remove(h, b);
    }
    for (size_t i = 0; i < NHASH; i++)
        while (h->tab[i] != NULL)
            bucket_remove(h, h->tab[i]);
}

static void hdfs_stop(struct flm_sink *s)
{
    struct hdfs *h = s->c.ctx;
    if (h == NULL)
        return;
    if (h->timer_started) {
        pthread_mutex_lock(&h->mu);
        h->timer_stop = true;
        pthread_cond_signal(&h->cv);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->timer, NULL);
        h->timer_started = false;
    }
    pthread_mutex_lock(&h->mu);
    close_all(s, h);
    /* A last try for renames still pending. */
    for (struct rename_retry *r = h->retries; r; r = r->next) {
        struct flm_err err = {0};
        if (h->fs->rename(r->from, r->to, &err) != FLM_OK)
            flm_error(&s->c.log, "at stop: %s (the data stays in %s)", err.msg, r->from);
        r->next_ms = UINT64_MAX;
    }
    pthread_mutex_unlock(&h->mu);
}

static void hdfs_destroy(struct flm_sink *s)
{
    struct hdfs *h = s->c.ctx;
    if (h == NULL)
        return;
    hdfs_stop(s);
    if (h->fs != NULL)
        close_all(s, h);
    while (h->retries) {
        struct rename_retry *r = h->retries;
        h->retries = r->next;
        free(r);
    }
    if (h->webhdfs_attached)
        flm_webhdfs_detach(((const struct hdfs_conf *)s->c.conf)->path);
    flm_tz_free(&h->tz);
    flm_buf_free(&h->pbuf);
    flm_buf_free(&h->zbuf);
    free(h->evs);
    free(h->evb);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h);
    s->c.ctx = NULL;
}

static const struct flm_sink_ops hdfs_ops = {
    .init = hdfs_init,
    .start = hdfs_start,
    .process = hdfs_process,
    .stop = hdfs_stop,
    .destroy = hdfs_destroy,
};

const struct flm_type flm_sink_hdfs = {
    .kind = FLM_SINK,
    .alias = "hdfs",
    .klass = "org.apache.flume.sink.hdfs.HDFSEventSink",
    .summary = "Writes events into bucketed, rolled files (SequenceFile, DataStream or "
               "CompressedStream) under a file:// path or through WebHDFS (hdfs://, webhdfs://).",
    .props = hdfs_props,
    .conf_size = sizeof(struct hdfs_conf),
    .validate = hdfs_validate,
    .batch_key = "hdfs.batchSize",
    .ops = &hdfs_ops,
};
