/*
 * hdfs_sink_test.c - the hdfs sink (src/sinks/hdfs/hdfs.c) on file:// paths
 * with a fixed clock and a real memory channel: in-use names and the rename
 * on close, counters starting at the bucket's creation ms + 1, roll by
 * rollCount, rollSize, rollInterval and idleTimeout, maxOpenFiles closing
 * the least recently written file, buckets per %{header}, an event without
 * the timestamp a path needs rolling the batch back (counted, logged, kept
 * in the channel), stop closing and renaming, configuration errors, and the
 * SequenceFile header bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/component.h"
#include "sinks/hdfs/fsys.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern const struct flm_type flm_channel_memory, flm_sink_hdfs;

static uint64_t fake_now;
static uint64_t fake_clock(void)
{
    return fake_now;
}

static int load(const struct flm_type *t, const char *const *kv, void **out, struct flm_diag *d)
{
    struct flm_kvs kvs;
    flm_kvs_init(&kvs);
    for (size_t i = 0; kv && kv[i]; i += 2)
        flm_kvs_set(&kvs, kv[i], kv[i + 1], "t.conf", (int)i + 1);
    void *conf = calloc(1, t->conf_size);
    int rc = flm_props_load(t->props, &kvs, conf, "a1.sinks.k1", d);
    if (rc == FLM_OK && t->validate)
        rc = t->validate(conf, "a1.sinks.k1", d);
    flm_kvs_free(&kvs);
    *out = conf;
    return rc;
}

static struct flm_channel *chan_new(void)
{
    const char *kv[] = {"capacity", "10000", "transactionCapacity", "1000", NULL};
    struct flm_channel *ch = calloc(1, sizeof(*ch));
    struct flm_diag d;
    flm_diag_init(&d);
    ch->c.type = &flm_channel_memory;
    assert_int_equal(load(&flm_channel_memory, kv, &ch->c.conf, &d), FLM_OK);
    flm_diag_free(&d);
    flm_logctx_init(&ch->c.log, "a1.channels.c1", "memory");
    ch->c.ctr.group = "CHANNEL";
    struct flm_err err = {0};
    assert_int_equal(((const struct flm_channel_ops *)flm_channel_memory.ops)->init(ch, &err),
                     FLM_OK);
    atomic_store(&ch->nowait, true);
    return ch;
}

/* Puts events with body "e<i>" and headers timestamp = ts, app = app. */
static void put(struct flm_channel *ch, int first, int n, const char *ts, const char *app)
{
    struct flm_txn *tx;
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    for (int i = first; i < first + n; i++) {
        char b[32];
        snprintf(b, sizeof(b), "e%d", i);
        struct flm_hdr h[2];
        size_t nh = 0;
        if (app)
            h[nh++] = flm_hdr_str("app", app);
        if (ts)
            h[nh++] = flm_hdr_str("timestamp", ts);
        struct flm_event *ev = flm_event_new(b, strlen(b), h, nh);
        assert_int_equal(flm_txn_put(tx, &ev, 1), FLM_OK);
    }
    assert_int_equal(flm_txn_commit(tx), FLM_OK);
    flm_txn_end(tx);
}

struct fx {
    char dir[64];
    struct flm_channel *ch;
    struct flm_sink *s;
};

static const struct flm_sink_ops *SOPS(void)
{
    return flm_sink_hdfs.ops;
}

static void sink_new(struct fx *f, const char *sub, const char *const *extra)
{
    snprintf(f->dir, sizeof(f->dir), "/tmp/flm-hdfs-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char path[160];
    snprintf(path, sizeof(path), "file://%s%s", f->dir, sub);
    const char *kv[48] = {"hdfs.path", path, "hdfs.fileType", "DataStream"};
    size_t k = 4;
    for (size_t i = 0; extra && extra[i]; i++)
        kv[k++] = extra[i];
    kv[k] = NULL;
    f->ch = chan_new();
    f->s = calloc(1, sizeof(*f->s));
    f->s->c.type = &flm_sink_hdfs;
    struct flm_diag d;
    flm_diag_init(&d);
    int rc = load(&flm_sink_hdfs, kv, &f->s->c.conf, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "diag: %s: %s\n", d.v[i].key, d.v[i].msg);
    flm_diag_free(&d);
    assert_int_equal(rc, FLM_OK);
    flm_logctx_init(&f->s->c.log, "a1.sinks.k1", "hdfs");
    f->s->c.ctr.group = "SINK";
    f->s->channel = f->ch;
    struct flm_err err = {0};
    assert_int_equal(SOPS()->init(f->s, &err), FLM_OK);
    /* No start(): the timer thread stays off, process() runs the timers. */
}

static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char p[600];
    while (d && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            rm_tree(p);
        else
            unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static void sink_free(struct fx *f)
{
    SOPS()->stop(f->s);
    SOPS()->destroy(f->s);
    flm_props_free(flm_sink_hdfs.props, f->s->c.conf);
    free(f->s->c.conf);
    free(f->s);
    ((const struct flm_channel_ops *)flm_channel_memory.ops)->destroy(f->ch);
    flm_props_free(flm_channel_memory.props, f->ch->c.conf);
    free(f->ch->c.conf);
    free(f->ch);
    rm_tree(f->dir);
}

static const char *slurp(const char *dir, const char *name, long *len)
{
    static char buf[65536];
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *fp = fopen(p, "rb");
    *len = -1;
    if (fp == NULL)
        return NULL;
    *len = (long)fread(buf, 1, sizeof(buf) - 1, fp);
    buf[*len] = '\0';
    fclose(fp);
    return buf;
}

/* Sorted names in dir joined by spaces. */
static const char *ls(const char *dir)
{
    static char out[4096];
    char names[64][256];
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL && n < 64)
        if (de->d_name[0] != '.' || strlen(de->d_name) > 2)
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                snprintf(names[n++], sizeof(names[0]), "%s", de->d_name);
    if (d)
        closedir(d);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(names[i], names[j]) > 0) {
                char t[256];
                memcpy(t, names[i], sizeof(t));
                memcpy(names[i], names[j], sizeof(t));
                memcpy(names[j], t, sizeof(t));
            }
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < n && o < sizeof(out); i++)
        o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s", i ? " " : "", names[i]);
    return out;
}

static uint64_t ctr(struct fx *f, int i)
{
    return flm_ctr_get(&f->s->c.ctr, i);
}

static void roll_count_names_and_rename_on_close(void **state)
{
    (void)state;
    fake_now = 1000;
    struct fx f;
    const char *kv[] = {"hdfs.rollCount", "3", "hdfs.fileSuffix", ".log", "hdfs.rollSize", "0",
                        "hdfs.filePrefix", "ev", NULL};
    sink_new(&f, "", kv);
    put(f.ch, 0, 7, NULL, NULL);
    assert_int_equal(SOPS()->process(f.s), FLM_READY);
    /* 3 + 3 closed and renamed, the 7th event in the open .tmp file */
    assert_string_equal(ls(f.dir), "ev.1001.log ev.1002.log ev.1003.log.tmp");
    long len;
    assert_string_equal(slurp(f.dir, "ev.1001.log", &len), "e0\ne1\ne2\n");
    assert_string_equal(slurp(f.dir, "ev.1003.log.tmp", &len), "e6\n");
    assert_int_equal(ctr(&f, FLM_SINK_CONNECTION_CREATED), 3);
    assert_int_equal(ctr(&f, FLM_SINK_CONNECTION_CLOSED), 2);
    assert_int_equal(ctr(&f, FLM_SINK_BATCH_UNDERFLOW), 1);
    assert_int_equal(ctr(&f, FLM_SINK_EVENT_DRAIN_SUCCESS), 7);
    assert_int_equal(flm_channel_size(f.ch), 0);
    SOPS()->stop(f.s);
    assert_string_equal(ls(f.dir), "ev.1001.log ev.1002.log ev.1003.log");
    sink_free(&f);
}

static void roll_size_counts_body_bytes_before_the_next_event(void **state)
{
    (void)state;
    fake_now = 50;
    struct fx f;
    const char *kv[] = {"hdfs.rollCount", "0", "hdfs.rollSize", "4", "hdfs.inUsePrefix", "_",
                        "hdfs.emptyInUseSuffix", "true", NULL};
    sink_new(&f, "", kv);
    put(f.ch, 0, 4, NULL, NULL); /* bodies of 2 bytes: 2 per file (4 >= 4) */
    assert_int_equal(SOPS()->process(f.s), FLM_READY);
    assert_string_equal(ls(f.dir), "FlumeData.51 _FlumeData.52");
    long len;
    assert_string_equal(slurp(f.dir, "FlumeData.51", &len), "e0\ne1\n");
    sink_free(&f);
}

/* A batch goes to the serializer in runs between roll checks: the files
 * must split exactly where the per-event rule (rollCount or rollSize
 * reached before an event) splits them, here computed independently. */
static void batched_runs_split_files_where_the_per_event_rule_does(void **state)
{
    (void)state;
    fake_now = 1000;
    struct fx f;
    const char *kv[] = {"hdfs.rollCount", "7", "hdfs.rollSize", "16", NULL};
    sink_new(&f, "", kv);
    put(f.ch, 0, 40, NULL, NULL); /* "e0".."e39": bodies of 2 and 3 bytes */
    assert_int_equal(SOPS()->process(f.s), FLM_READY);
    SOPS()->stop(f.s);
    char want[16][128];
    int nfile = 0;
    long ne = 0, nb = 0;
    want[0][0] = '\0';
    for (int i = 0; i < 40; i++) {
        char b[16];
        int bl = snprintf(b, sizeof(b), "e%d", i);
        if (ne >= 7 || nb >= 16) {
            nfile++;
            want[nfile][0] = '\0';
            ne = nb = 0;
        }
        size_t o = strlen(want[nfile]);
        snprintf(want[nfile] + o, sizeof(want[0]) - o, "%s\n", b);
        ne++;
        nb += bl;
    }
    nfile++;
    assert_true(nfile >= 6);
    for (int k = 0; k < nfile; k++) {
        char name[32];
        long len;
        snprintf(name, sizeof(name), "FlumeData.%d", 1001 + k);
        const char *got = slurp(f.dir, name, &len);
        assert_non_null(got);
        assert_string_equal(got, want[k]);
    }
    char extra[32];
    long len;
    snprintf(extra, sizeof(extra), "FlumeData.%d", 1001 + nfile);
    assert_null(slurp(f.dir, extra, &len));
    assert_int_equal(ctr(&f, FLM_SINK_EVENT_DRAIN_SUCCESS), 40);
    sink_free(&f);
}

static void roll_interval_and_idle_timeout_close_by_the_clock(void **state)
{
    (void)state;
    fake_now = 10000;
    struct fx f;
    const char *kv[] = {"hdfs.rollInterval", "30", "hdfs.idleTimeout", "5", "hdfs.rollCount",
                        "0", "hdfs.rollSize", "0", NULL};
    sink_new(&f, "", kv);
    put(f.ch, 0, 1, NULL, NULL);
    SOPS()->process(f.s);
    fake_now += 4999;
    assert_int_equal(SOPS()->process(f.s), FLM_BACKOFF);
    assert_string_equal(ls(f.dir), "FlumeData.10001.tmp");
    fake_now += 1; /* idle 5 s */
    SOPS()->process(f.s);
    assert_string_equal(ls(f.dir), "FlumeData.10001");
    /* Busy bucket: the interval closes it even though it is written to. */
    put(f.ch, 1, 1, NULL, NULL);
    SOPS()->process(f.s); /* new bucket: counter = now + 1 */
    for (int i = 0; i < 7; i++) {
        fake_now += 4000;
        put(f.ch, 2 + i, 1, NULL, NULL);
        SOPS()->process(f.s);
    }
    fake_now += 2000; /* 30 s after open */
    SOPS()->process(f.s);
    assert_string_equal(ls(f.dir), "FlumeData.10001 FlumeData.15001");
    long len;
    assert_string_equal(slurp(f.dir, "FlumeData.15001", &len), "e1\ne2\ne3\ne4\ne5\ne6\ne7\ne8\n");
    sink_free(&f);
}

static void max_open_files_closes_the_least_recently_written(void **state)
{
    (void)state;
    fake_now = 7;
    struct fx f;
    const char *kv[] = {"hdfs.maxOpenFiles", "2", "hdfs.filePrefix", "%{app}", NULL};
    sink_new(&f, "", kv);
    put(f.ch, 0, 1, NULL, "a");
    SOPS()->process(f.s);
    fake_now++;
    put(f.ch, 1, 1, NULL, "b");
    SOPS()->process(f.s);
    fake_now++;
    put(f.ch, 2, 1, NULL, "a"); /* a is now the most recent */
    SOPS()->process(f.s);
    fake_now++;
    put(f.ch, 3, 1, NULL, "c"); /* evicts b */
    SOPS()->process(f.s);
    assert_string_equal(ls(f.dir), "a.8.tmp b.9 c.11.tmp");
    sink_free(&f);
}

static void buckets_by_header_and_time_in_subdirectories(void **state)
{
    (void)state;
    fake_now = 1;
    struct fx f;
    const char *kv[] = {"hdfs.timeZone", "UTC", "hdfs.round", "true", "hdfs.roundUnit", "hour",
                        "hdfs.roundValue", "6", NULL};
    sink_new(&f, "/%{app}/%Y%m%d/%H", kv);
    put(f.ch, 0, 2, "1700000000123", "x");
    put(f.ch, 2, 1, "1700000000123", "y");
    assert_int_equal(SOPS()->process(f.s), FLM_READY);
    SOPS()->stop(f.s);
    char p[256];
    snprintf(p, sizeof(p), "%s/x/20231114/18", f.dir);
    assert_string_equal(ls(p), "FlumeData.2");
    long len;
    assert_string_equal(slurp(p, "FlumeData.2", &len), "e0\ne1\n");
    snprintf(p, sizeof(p), "%s/y/20231114/18", f.dir);
    assert_string_equal(ls(p), "FlumeData.2");
    sink_free(&f);
}

static void event_without_timestamp_rolls_back_and_is_counted(void **state)
{
    (void)state;
    fake_now = 1;
    struct fx f;
    sink_new(&f, "/%Y", NULL);
    put(f.ch, 0, 1, "1700000000123", NULL);
    put(f.ch, 1, 1, NULL, NULL);
    for (int i = 0; i < 3; i++)
        assert_true(SOPS()->process(f.s) < 0);
    assert_int_equal(ctr(&f, FLM_SINK_EVENT_WRITE_FAIL), 3);
    assert_int_equal(ctr(&f, FLM_SINK_EVENT_DRAIN_SUCCESS), 0);
    assert_int_equal(flm_channel_size(f.ch), 2);
    /* Nothing was written for the failed batch. */
    assert_string_equal(ls(f.dir), "");
    sink_free(&f);
}

static void configuration_errors_name_the_key(void **state)
{
    (void)state;
    struct {
        const char *k1, *v1, *k2, *v2, *key;
    } cases[] = {
        {"hdfs.fileType", "DataStream", "hdfs.codeC", "gzip", "hdfs.codeC"},
        {"hdfs.fileType", "CompressedStream", "hdfs.batchSize", "10", "hdfs.codeC"},
        {"hdfs.fileType", "CompressedStream", "hdfs.codeC", "lzo", "hdfs.codeC"},
        {"hdfs.path", "hdfs:///flume", "hdfs.batchSize", "10", "hdfs.path"},
        {"hdfs.path", "/x/%[hostname]", "hdfs.batchSize", "10", "hdfs.path"},
        {"hdfs.timeZone", "Nowhere/Special", "hdfs.batchSize", "10", "hdfs.timeZone"},
        {"hdfs.round", "true", "hdfs.roundValue", "61", "hdfs.roundValue"},
        {"hdfs.fileType", "DataStream", "serializer", "com.x.Y", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *kv[] = {"hdfs.path", "/tmp/x", cases[i].k1, cases[i].v1, cases[i].k2,
                            cases[i].v2, NULL};
        struct flm_diag d;
        flm_diag_init(&d);
        void *conf;
        assert_int_equal(load(&flm_sink_hdfs, kv, &conf, &d), FLM_ERR);
        assert_true(d.nerr >= 1);
        assert_string_equal(d.v[0].key, cases[i].key);
        if (i == 3)
            assert_non_null(strstr(d.v[0].msg, "WebHDFS"));
        flm_props_free(flm_sink_hdfs.props, conf);
        free(conf);
        flm_diag_free(&d);
    }
}

static void sequence_file_header_and_record_bytes(void **state)
{
    (void)state;
    fake_now = 1;
    struct fx f;
    const char *kv[] = {"hdfs.fileType", "SequenceFile", NULL};
    sink_new(&f, "", kv);
    put(f.ch, 0, 1, "258", NULL);
    SOPS()->process(f.s);
    SOPS()->stop(f.s);
    long len;
    const char *b = slurp(f.dir, "FlumeData.2", &len);
    assert_non_null(b);
    const char hdr[] = "SEQ\x06\x21org.apache.hadoop.io.LongWritable"
                       "\x22org.apache.hadoop.io.BytesWritable";
    assert_memory_equal(b, hdr, sizeof(hdr) - 1);
    size_t o = sizeof(hdr) - 1;
    assert_memory_equal(b + o, "\0\0\0\0\0\0", 6); /* not compressed, no metadata */
    o += 6 + 16;
    /* record: len 8+4+2, key len 8, key 258, BytesWritable(2) "e0" */
    const char rec[] = "\0\0\0\x0e\0\0\0\x08\0\0\0\0\0\0\x01\x02\0\0\0\x02"
                       "e0";
    assert_memory_equal(b + o, rec, sizeof(rec) - 1);
    o += sizeof(rec) - 1;
    /* the batch flush wrote a sync escape */
    assert_int_equal(len, (long)(o + 20));
    assert_memory_equal(b + o, "\xff\xff\xff\xff", 4);
    assert_memory_equal(b + o + 4, b + sizeof(hdr) - 1 + 6, 16);
    sink_free(&f);
}

static void failed_rename_is_retried_every_retry_interval(void **state)
{
    (void)state;
    fake_now = 100;
    struct fx f;
    const char *kv[] = {"hdfs.rollCount", "1", "hdfs.retryInterval", "10", "hdfs.closeTries",
                        "3", NULL};
    sink_new(&f, "", kv);
    char blocker[128];
    snprintf(blocker, sizeof(blocker), "%s/FlumeData.101", f.dir);
    FILE *fp = fopen(blocker, "w");
    fclose(fp);
    put(f.ch, 0, 2, NULL, NULL);
    assert_int_equal(SOPS()->process(f.s), FLM_READY); /* closes .101: the rename fails */
    assert_string_equal(ls(f.dir), "FlumeData.101 FlumeData.101.tmp FlumeData.102.tmp");
    unlink(blocker);
    fake_now += 9999;
    SOPS()->process(f.s);
    assert_string_equal(ls(f.dir), "FlumeData.101.tmp FlumeData.102.tmp");
    fake_now += 1;
    SOPS()->process(f.s);
    assert_string_equal(ls(f.dir), "FlumeData.101 FlumeData.102.tmp");
    long len;
    assert_string_equal(slurp(f.dir, "FlumeData.101", &len), "e0\n");
    sink_free(&f);
}

int main(void)
{
    flm_filesinks_clock = fake_clock;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(roll_count_names_and_rename_on_close),
        cmocka_unit_test(roll_size_counts_body_bytes_before_the_next_event),
        cmocka_unit_test(batched_runs_split_files_where_the_per_event_rule_does),
        cmocka_unit_test(roll_interval_and_idle_timeout_close_by_the_clock),
        cmocka_unit_test(max_open_files_closes_the_least_recently_written),
        cmocka_unit_test(buckets_by_header_and_time_in_subdirectories),
        cmocka_unit_test(event_without_timestamp_rolls_back_and_is_counted),
        cmocka_unit_test(configuration_errors_name_the_key),
        cmocka_unit_test(sequence_file_header_and_record_bytes),
        cmocka_unit_test(failed_rename_is_retried_every_retry_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
