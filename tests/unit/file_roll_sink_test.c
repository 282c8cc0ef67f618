/*
 * file_roll_sink_test.c - the file_roll sink (src/sinks/file_roll.c) driven
 * through its ops against a real memory channel with a fixed clock: Flume's
 * DEFAULT and ROLLTIME names, rolling on rollInterval (and never with 0),
 * exact file bytes, the take committed only after the write (a failing
 * write leaves the events in the channel and counts EventWriteFail), the
 * SINK counters file_roll keeps (no Batch*), and stop closing the file.
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

extern const struct flm_type flm_channel_memory, flm_sink_file_roll;

static uint64_t fake_now;
static uint64_t fake_clock(void)
{
    return fake_now;
}

static void *load(const struct flm_type *t, const char *const *kv, const char *comp)
{
    struct flm_diag d;
    flm_diag_init(&d);
    struct flm_kvs kvs;
    flm_kvs_init(&kvs);
    for (size_t i = 0; kv && kv[i]; i += 2)
        flm_kvs_set(&kvs, kv[i], kv[i + 1], "t.conf", (int)i + 1);
    void *conf = calloc(1, t->conf_size);
    int rc = flm_props_load(t->props, &kvs, conf, comp, &d);
    if (rc == FLM_OK && t->validate)
        rc = t->validate(conf, comp, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "diag: %s: %s\n", d.v[i].key, d.v[i].msg);
    flm_kvs_free(&kvs);
    flm_diag_free(&d);
    assert_int_equal(rc, FLM_OK);
    return conf;
}

static struct flm_channel *chan_new(void)
{
    const char *kv[] = {"capacity", "10000", "transactionCapacity", "1000", NULL};
    struct flm_channel *ch = calloc(1, sizeof(*ch));
    snprintf(ch->c.name, sizeof(ch->c.name), "c1");
    ch->c.type = &flm_channel_memory;
    ch->c.conf = load(&flm_channel_memory, kv, "a1.channels.c1");
    flm_logctx_init(&ch->c.log, "a1.channels.c1", "memory");
    ch->c.ctr.group = "CHANNEL";
    struct flm_err err = {0};
    const struct flm_channel_ops *ops = flm_channel_memory.ops;
    assert_int_equal(ops->init(ch, &err), FLM_OK);
    atomic_store(&ch->nowait, true);
    return ch;
}

static void chan_free(struct flm_channel *ch)
{
    const struct flm_channel_ops *ops = flm_channel_memory.ops;
    ops->destroy(ch);
    flm_props_free(flm_channel_memory.props, ch->c.conf);
    free(ch->c.conf);
    free(ch);
}

static void put_lines(struct flm_channel *ch, int first, int n)
{
    struct flm_txn *tx;
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    for (int i = first; i < first + n; i++) {
        char b[32];
        snprintf(b, sizeof(b), "line %d", i);
        struct flm_hdr h = flm_hdr_str("n", b + 5);
        struct flm_event *ev = flm_event_new(b, strlen(b), &h, 1);
        assert_int_equal(flm_txn_put(tx, &ev, 1), FLM_OK);
    }
    assert_int_equal(flm_txn_commit(tx), FLM_OK);
    flm_txn_end(tx);
}

struct fixture {
    char dir[64];
    struct flm_channel *ch;
    struct flm_sink *s;
};

static const struct flm_sink_ops *SOPS(void)
{
    return flm_sink_file_roll.ops;
}

static void sink_new(struct fixture *fx, const char *const *extra)
{
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/flm-froll-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    const char *kv[32] = {"sink.directory", fx->dir};
    size_t k = 2;
    for (size_t i = 0; extra && extra[i]; i++)
        kv[k++] = extra[i];
    kv[k] = NULL;
    fx->ch = chan_new();
    fx->s = calloc(1, sizeof(*fx->s));
    fx->s->c.type = &flm_sink_file_roll;
    fx->s->c.conf = load(&flm_sink_file_roll, kv, "a1.sinks.k1");
    flm_logctx_init(&fx->s->c.log, "a1.sinks.k1", "file_roll");
    fx->s->c.ctr.group = "SINK";
    fx->s->channel = fx->ch;
    struct flm_err err = {0};
    assert_int_equal(SOPS()->init(fx->s, &err), FLM_OK);
    assert_int_equal(SOPS()->start(fx->s, &err), FLM_OK);
}

static void sink_free(struct fixture *fx)
{
    SOPS()->stop(fx->s);
    SOPS()->destroy(fx->s);
    flm_props_free(flm_sink_file_roll.props, fx->s->c.conf);
    free(fx->s->c.conf);
    free(fx->s);
    chan_free(fx->ch);
    char cmd[512];
    DIR *d = opendir(fx->dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(cmd, sizeof(cmd), "%s/%s", fx->dir, de->d_name);
        unlink(cmd);
    }
    if (d)
        closedir(d);
    rmdir(fx->dir);
}

/* Contents of dir/name into a static buffer; length in *len (-1 if absent). */
static const char *slurp(const char *dir, const char *name, long *len)
{
    static char buf[65536];
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "rb");
    if (f == NULL) {
        *len = -1;
        return NULL;
    }
    *len = (long)fread(buf, 1, sizeof(buf) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static size_t count_files(const char *dir)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

static uint64_t ctr(struct fixture *fx, int i)
{
    return flm_ctr_get(&fx->s->c.ctr, i);
}

static void default_names_and_exact_text_bytes(void **state)
{
    (void)state;
    fake_now = 1700000000123ULL;
    struct fixture fx;
    const char *kv[] = {"sink.pathManager.prefix", "app-", "sink.pathManager.extension", "log",
                        "sink.batchSize", "3", NULL};
    sink_new(&fx, kv);
    put_lines(fx.ch, 0, 5);
    assert_int_equal(SOPS()->process(fx.s), FLM_READY);
    assert_int_equal(SOPS()->process(fx.s), FLM_READY);
    assert_int_equal(SOPS()->process(fx.s), FLM_BACKOFF);
    long len;
    const char *b = slurp(fx.dir, "app-1700000000123-1.log", &len);
    assert_non_null(b);
    assert_string_equal(b, "line 0\nline 1\nline 2\nline 3\nline 4\n");
    assert_int_equal(flm_channel_size(fx.ch), 0);
    assert_int_equal(ctr(&fx, FLM_SINK_CONNECTION_CREATED), 1);
    assert_int_equal(ctr(&fx, FLM_SINK_EVENT_DRAIN_ATTEMPT), 5);
    assert_int_equal(ctr(&fx, FLM_SINK_EVENT_DRAIN_SUCCESS), 5);
    assert_int_equal(ctr(&fx, FLM_SINK_BATCH_COMPLETE), 0);
    assert_int_equal(ctr(&fx, FLM_SINK_BATCH_UNDERFLOW), 0);
    assert_int_equal(ctr(&fx, FLM_SINK_BATCH_EMPTY), 0);
    SOPS()->stop(fx.s);
    assert_int_equal(ctr(&fx, FLM_SINK_CONNECTION_CLOSED), 1);
    sink_free(&fx);
}

static void rolls_every_interval_even_without_events(void **state)
{
    (void)state;
    fake_now = 5000;
    struct fixture fx;
    const char *kv[] = {"sink.rollInterval", "2", "sink.serializer", "header_and_text", NULL};
    sink_new(&fx, kv);
    put_lines(fx.ch, 0, 2);
    assert_int_equal(SOPS()->process(fx.s), FLM_READY);
    fake_now += 1999;
    assert_int_equal(SOPS()->process(fx.s), FLM_BACKOFF);
    assert_int_equal(count_files(fx.dir), 1);
    fake_now += 1;
    put_lines(fx.ch, 2, 1);
    assert_int_equal(SOPS()->process(fx.s), FLM_READY);
    fake_now += 2000;
    assert_int_equal(SOPS()->process(fx.s), FLM_BACKOFF); /* empty file 3, as Flume */
    assert_int_equal(count_files(fx.dir), 3);
    long len;
    assert_string_equal(slurp(fx.dir, "5000-1", &len), "{n=0} line 0\n{n=1} line 1\n");
    assert_string_equal(slurp(fx.dir, "5000-2", &len), "{n=2} line 2\n");
    slurp(fx.dir, "5000-3", &len);
    assert_int_equal(len, 0);
    assert_int_equal(ctr(&fx, FLM_SINK_CONNECTION_CREATED), 3);
    assert_int_equal(ctr(&fx, FLM_SINK_CONNECTION_CLOSED), 2);
    sink_free(&fx);
}

static void roll_interval_zero_never_rolls(void **state)
{
    (void)state;
    fake_now = 1000;
    struct fixture fx;
    const char *kv[] = {"sink.rollInterval", "0", NULL};
    sink_new(&fx, kv);
    for (int i = 0; i < 5; i++) {
        put_lines(fx.ch, i, 1);
        assert_int_equal(SOPS()->process(fx.s), FLM_READY);
        fake_now += 1000000;
    }
    assert_int_equal(count_files(fx.dir), 1);
    sink_free(&fx);
}

static void rolltime_names_reset_the_index_when_the_second_changes(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    fake_now = 1700000000000ULL; /* 2023-11-14 22:13:20 UTC */
    struct fixture fx;
    const char *kv[] = {"sink.pathManager", "rolltime", "sink.rollInterval", "1", NULL};
    sink_new(&fx, kv);
    char p[128];
    snprintf(p, sizeof(p), "%s/20231114221320-1", fx.dir);
    assert_int_equal(symlink("/dev/full", p), 0);
    put_lines(fx.ch, 0, 1);
    assert_true(SOPS()->process(fx.s) < 0); /* -1 fails: the retry goes to -2 */
    assert_int_equal(SOPS()->process(fx.s), FLM_READY);
    fake_now += 1000;
    put_lines(fx.ch, 1, 1);
    assert_int_equal(SOPS()->process(fx.s), FLM_READY);
    long len;
    assert_string_equal(slurp(fx.dir, "20231114221320-2", &len), "line 0\n");
    assert_string_equal(slurp(fx.dir, "20231114221321-1", &len), "line 1\n");
    assert_int_equal(count_files(fx.dir), 3);
    sink_free(&fx);
}

static void failed_write_rolls_back_and_counts_write_fail(void **state)
{
    (void)state;
    fake_now = 42;
    struct fixture fx;
    sink_new(&fx, NULL);
    char p[128];
    snprintf(p, sizeof(p), "%s/42-1", fx.dir);
    assert_int_equal(symlink("/dev/full", p), 0);
    put_lines(fx.ch, 0, 4);
    assert_true(SOPS()->process(fx.s) < 0);
    assert_int_equal(flm_channel_size(fx.ch), 4);
    assert_int_equal(ctr(&fx, FLM_SINK_EVENT_WRITE_FAIL), 1);
    assert_int_equal(ctr(&fx, FLM_SINK_EVENT_DRAIN_SUCCESS), 0);
    /* Retried into the next file: nothing lost. */
    assert_int_equal(SOPS()->process(fx.s), FLM_READY);
    assert_int_equal(flm_channel_size(fx.ch), 0);
    long len;
    assert_string_equal(slurp(fx.dir, "42-2", &len), "line 0\nline 1\nline 2\nline 3\n");
    sink_free(&fx);
}

static void avro_event_file_is_flushed_per_batch(void **state)
{
    (void)state;
    fake_now = 7;
    struct fixture fx;
    const char *kv[] = {"sink.serializer", "avro_event", "sink.serializer.compressionCodec",
                        "deflate", NULL};
    sink_new(&fx, kv);
    put_lines(fx.ch, 0, 3);
    long len1, len2;
    assert_int_equal(SOPS()->process(fx.s), FLM_READY);
    slurp(fx.dir, "7-1", &len1);
    assert_true(len1 > 100);          /* header + one block, before stop */
    put_lines(fx.ch, 3, 3);
    assert_int_equal(SOPS()->process(fx.s), FLM_READY);
    slurp(fx.dir, "7-1", &len2);
    assert_true(len2 > len1);
    sink_free(&fx);
}

int main(void)
{
    flm_filesinks_clock = fake_clock;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(default_names_and_exact_text_bytes),
        cmocka_unit_test(rolls_every_interval_even_without_events),
        cmocka_unit_test(roll_interval_zero_never_rolls),
        cmocka_unit_test(rolltime_names_reset_the_index_when_the_second_changes),
        cmocka_unit_test(failed_write_rolls_back_and_counts_write_fail),
        cmocka_unit_test(avro_event_file_is_flushed_per_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
