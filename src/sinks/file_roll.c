/*
 * file_roll.c - the file_roll sink (spec/components.md 3.7, formats.md 3):
 * serialises events into a file under sink.directory and starts a new file
 * every sink.rollInterval seconds.  Names: DEFAULT
 * `<prefix><startMillis>-<n>[.<ext>]`, ROLLTIME
 * `<prefix><yyyyMMddHHmmss>-<n>[.<ext>]`.
 *
 * Each process() takes up to sink.batchSize events in one transaction,
 * serialises them into a buffer, write(2)s it (writev(2) for an avro block
 * written in place; the batch is then with the OS) and only then commits
 * the take; a failed write rolls back.  The
 * rotation check runs in process() (Flume's timer only raises a flag that
 * process() acts on too).  Counters: Connection*, EventDrain*,
 * EventWriteFail, ChannelReadFail; no Batch* (as Flume).
 * Runs on its sink runner thread; stop() (supervisor, after the runner is
 * joined) flushes and closes the current file.
 *
 * Differences from Flume: a missing sink.directory is created (Flume fails
 * every batch); an event the serializer cannot encode rolls the batch back
 * and is counted as EventWriteFail (never dropped silently).
 */
#include "core/component.h"

#include "serializers/serializer.h"
#include "sinks/hdfs/fsys.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { PM_DEFAULT, PM_ROLLTIME };
static const char *const pm_names[] = {"DEFAULT", "ROLLTIME", NULL};

struct froll_conf {
    char *directory;
    int path_manager;
    char *extension;
    char *prefix;
    long long roll_interval;
    char *serializer;
    struct flm_kvs ser_opts;
    int batch_size;
};

static const struct flm_prop froll_props[] = {
    {"sink.directory", FLM_P_STR, FLM_OFF(struct froll_conf, directory), NULL, FLM_P_REQUIRED, 0,
     0, NULL, NULL, "Directory the files are written to (created if missing)."},
    {"sink.pathManager", FLM_P_ENUM, FLM_OFF(struct froll_conf, path_manager), "DEFAULT", 0, 0,
     0, pm_names, NULL, "File naming: DEFAULT (<prefix><startMillis>-<n>) or ROLLTIME "
                         "(<prefix><yyyyMMddHHmmss>-<n>)."},
    {"sink.pathManager.extension", FLM_P_STR, FLM_OFF(struct froll_conf, extension), "", 0, 0,
     0, NULL, NULL, "File extension; a dot is added before it."},
    {"sink.pathManager.prefix", FLM_P_STR, FLM_OFF(struct froll_conf, prefix), "", 0, 0, 0, NULL,
     NULL, "File name prefix."},
    {"sink.rollInterval", FLM_P_LONG, FLM_OFF(struct froll_conf, roll_interval), "30", 0, 0,
     0x7fffffffffffffffLL / 1000, NULL, NULL,
     "Seconds between new files; 0 writes a single file forever."},
    {"sink.serializer", FLM_P_STR, FLM_OFF(struct froll_conf, serializer), "TEXT", 0, 0, 0, NULL,
     NULL, "Event serializer: text, header_and_text, avro_event or a Flume class name."},
    {"sink.serializer.", FLM_P_PREFIX, FLM_OFF(struct froll_conf, ser_opts), NULL, 0, 0, 0, NULL,
     NULL, "Serializer options, e.g. sink.serializer.appendNewline."},
    {"sink.batchSize", FLM_P_INT, FLM_OFF(struct froll_conf, batch_size), "100", 0, 1, 1000000,
     NULL, NULL, "Events per transaction."},
    FLM_PROPS_END,
};

struct froll {
    struct flm_event **evs;
    struct flm_serializer *ser;
    struct flm_fsys_file *file;
    char cur[PATH_MAX];
    struct flm_sout out;
    uint64_t start_ms;        /* DEFAULT name stem */
    unsigned index;           /* n of the current/last file */
    char last_stamp[32];      /* ROLLTIME */
    uint64_t next_roll_ms;    /* 0 = never */
};

static int froll_validate(void *conf, const char *comp, struct flm_diag *d)
{
    struct froll_conf *c = conf;
    char sub[160];
    snprintf(sub, sizeof(sub), "%s.sink.serializer", comp);
    return flm_serializer_validate(c->serializer, &c->ser_opts, sub, d);
}

static int froll_init(struct flm_sink *s, struct flm_err *err)
{
    struct froll_conf *c = s->c.conf;
    struct froll *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    s->c.ctx = f;
    f->evs = calloc((size_t)c->batch_size, sizeof(*f->evs));
    f->ser = flm_serializer_new(c->serializer, &c->ser_opts);
    if (f->evs == NULL || f->ser == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    flm_sout_init(&f->out, (size_t)1 << 31);
    f->start_ms = flm_filesinks_clock();
    return FLM_OK;
}

static int froll_start(struct flm_sink *s, struct flm_err *err)
{
    const struct froll_conf *c = s->c.conf;
    struct froll *f = s->c.ctx;
    int rc = flm_fsys_mkdirs(c->directory, err);
    if (rc != FLM_OK)
        flm_warn(&s->c.log, "%s (will retry when events arrive)", err->msg);
    if (c->roll_interval > 0)
        f->next_roll_ms = flm_filesinks_clock() + (uint64_t)c->roll_interval * 1000u;
    return FLM_OK;
}

/* Next file name per the path manager (formats.md 3). */
static void next_name(const struct froll_conf *c, struct froll *f)
{
    char stem[32];
    if (c->path_manager == PM_ROLLTIME) {
        time_t t = (time_t)(flm_filesinks_clock() / 1000);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(stem, sizeof(stem), "%Y%m%d%H%M%S", &tm);
        if (strcmp(stem, f->last_stamp) != 0) {
            f->index = 0;
            snprintf(f->last_stamp, sizeof(f->last_stamp), "%s", stem);
        }
    } else {
        snprintf(stem, sizeof(stem), "%llu", (unsigned long long)f->start_ms);
    }
    f->index++;
    snprintf(f->cur, sizeof(f->cur), "%s/%s%s-%u%s%s", c->directory, c->prefix, stem, f->index,
             c->extension[0] ? "." : "", c->extension);
}

static int write_out(struct flm_sink *s, struct froll *f, struct flm_err *err)
{
    if (flm_sout_len(&f->out) == 0) {
        flm_sout_reset(&f->out);
        return FLM_OK;
    }
    int rc = flm_fsys_write_out(&flm_fsys_local, f->file, &f->out, err);
    flm_sout_reset(&f->out);
    return rc;
}

/* Flushes the serializer (unless a failed batch is being dropped from the
 * file: it was rolled back and will be retried) and closes the current file. */
static void close_file(struct flm_sink *s, struct froll *f, bool flush)
{
    if (f->file == NULL)
        return;
    struct flm_err err = {0};
    int rc = FLM_OK;
    if (flush) {
        rc = flm_serializer_flush(f->ser, &f->out);
        if (rc == FLM_OK)
            rc = write_out(s, f, &err);
    }
    int rc2 = flm_fsys_local.close(f->file, &err);
    f->file = NULL;
    flm_sout_reset(&f->out);
    if (rc != FLM_OK || rc2 != FLM_OK) {
        flm_ctr_add(&s->c.ctr, FLM_SINK_CONNECTION_FAILED, 1);
        flm_error(&s->c.log, "closing %s: %s", f->cur, err.msg[0] ? err.msg : "serializer failed");
    } else {
        flm_ctr_add(&s->c.ctr, FLM_SINK_CONNECTION_CLOSED, 1);
    }
}

static int open_next(struct flm_sink *s, struct froll *f)
{
    const struct froll_conf *c = s->c.conf;
    struct flm_err err = {0};
    next_name(c, f);
    int rc = flm_fsys_local.create(f->cur, &f->file, &err);
    if (rc == FLM_OK) {
        flm_sout_reset(&f->out);
        rc = flm_serializer_begin(f->ser, &f->out);
        if (rc == FLM_OK)
            rc = write_out(s, f, &err);
        if (rc != FLM_OK) {
            flm_fsys_local.close(f->file, &err);
            f->file = NULL;
        }
    }
    if (rc != FLM_OK) {
        flm_ctr_add(&s->c.ctr, FLM_SINK_CONNECTION_FAILED, 1);
        f->index--; /* retry the same name next time */
        flm_log_limited(FLM_LOG_ERROR, &s->c.log, err.sys, "cannot open %s: %s", f->cur,
                        err.msg[0] ? err.msg : flm_strerror(rc));
        return rc;
    }
    flm_ctr_add(&s->c.ctr, FLM_SINK_CONNECTION_CREATED, 1);
    flm_debug(&s->c.log, "opened %s", f->cur);
    return FLM_OK;
}

static int froll_process(struct flm_sink *s)
{
    const struct froll_conf *c = s->c.conf;
    struct froll *f = s->c.ctx;

    if (f->next_roll_ms != 0) {
        uint64_t now = flm_filesinks_clock();
        if (now >= f->next_roll_ms) {
            close_file(s, f, true);
            uint64_t step = (uint64_t)c->roll_interval * 1000u;
            while (f->next_roll_ms <= now)
                f->next_roll_ms += step;
        }
    }
    if (f->file == NULL) {
        int rc = open_next(s, f);
        if (rc != FLM_OK)
            return rc;
    }

    struct flm_txn *tx;
    size_t n = 0;
    int rc = flm_txn_begin(s->channel, &tx);
    if (rc == FLM_OK) {
        rc = flm_txn_take(tx, f->evs, (size_t)c->batch_size, &n);
        if (rc != FLM_OK)
            flm_txn_end(tx);
    }
    if (rc != FLM_OK) {
        flm_ctr_add(&s->c.ctr, FLM_SINK_CHANNEL_READ_FAIL, 1);
        return FLM_BACKOFF;
    }
    if (n == 0) {
        flm_txn_commit(tx);
        flm_txn_end(tx);
        return FLM_BACKOFF;
    }
    flm_ctr_add(&s->c.ctr, FLM_SINK_EVENT_DRAIN_ATTEMPT, n);
    struct flm_err err = {0};
    rc = flm_serializer_write_batch(f->ser, f->evs, n, &f->out);
    if (rc == FLM_OK)
        rc = flm_serializer_flush(f->ser, &f->out);
    if (rc == FLM_OK)
        rc = write_out(s, f, &err);
    if (rc != FLM_OK) {
        flm_txn_end(tx); /* rolls back: the events stay at the channel's head */
        flm_ctr_add(&s->c.ctr, FLM_SINK_EVENT_WRITE_FAIL, 1);
        flm_log_limited(FLM_LOG_ERROR, &s->c.log, err.sys, "writing %zu event(s) to %s failed: %s",
                        n, f->cur, err.msg[0] ? err.msg : flm_strerror(rc));
        /* The file may hold a partial batch; start a new one for the retry. */
        flm_sout_reset(&f->out);
        close_file(s, f, false);
        return rc;
    }
    rc = flm_txn_commit(tx);
    if (rc != FLM_OK) {
        flm_ctr_add(&s->c.ctr, FLM_SINK_CHANNEL_READ_FAIL, 1);
        flm_txn_end(tx);
        return rc;
    }
    flm_txn_end(tx);
    flm_ctr_add(&s->c.ctr, FLM_SINK_EVENT_DRAIN_SUCCESS, n);
    for (size_t i = 0; i < n; i++)
        flm_event_free(f->evs[i]);
    return FLM_READY;
}

static void froll_stop(struct flm_sink *s)
{
    struct froll *f = s->c.ctx;
    if (f != NULL)
        close_file(s, f, true);
}

static void froll_destroy(struct flm_sink *s)
{
    struct froll *f = s->c.ctx;
    if (f == NULL)
        return;
    if (f->file != NULL) {
        struct flm_err err;
        flm_fsys_local.close(f->file, &err);
    }
    flm_serializer_free(f->ser);
    flm_sout_free(&f->out);
    free(f->evs);
    free(f);
    s->c.ctx = NULL;
}

static const struct flm_sink_ops froll_ops = {
    .init = froll_init,
    .start = froll_start,
    .process = froll_process,
    .stop = froll_stop,
    .destroy = froll_destroy,
};

const struct flm_type flm_sink_file_roll = {
    .kind = FLM_SINK,
    .alias = "file_roll",
    .klass = "org.apache.flume.sink.RollingFileSink",
    .summary = "Writes events to files in a local directory, a new file every rollInterval s.",
    .props = froll_props,
    .conf_size = sizeof(struct froll_conf),
    .validate = froll_validate,
    .batch_key = "sink.batchSize",
    .ops = &froll_ops,
};
