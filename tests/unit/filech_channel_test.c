/*
 * filech_channel_test.c - the file channel (src/channels/file/filech.c)
 * through the core transaction wrappers, on real temp directories, with the
 * fs-ops table swapped to inject ENOSPC, EIO on fsync, short writes and low
 * free space.  A "crash" is simulated by copying the directories while the
 * channel is open (the copy is what the disk holds after kill -9) and
 * opening a second channel on the copy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "channels/file/fc.h"
#include "core/component.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern const struct flm_type flm_channel_file;

#include "filech_fixtures.h"

static uint64_t xctr(struct flm_channel *ch, const char *name)
{
    flm_channel_size(ch); /* refreshes Open/Unhealthy */
    for (size_t i = 0; flm_channel_file.extra_ctrs[i].name; i++)
        if (strcmp(flm_channel_file.extra_ctrs[i].name, name) == 0)
            return flm_ctr_get(&ch->c.ctr, FLM_CH_NCTR + (int)i);
    fail_msg("no counter %s", name);
    return 0;
}

/* ---------------------------------------------------------- fault table */

static _Atomic int f_pwrite_err;      /* errno to fail pwrite with (0 = none) */
static _Atomic int f_fsync_err;       /* errno to fail fdatasync with */
static _Atomic int f_fsync_n;         /* ... this many times (then succeed) */
static _Atomic int f_short;           /* pwrite writes at most half */
static _Atomic long long f_free;      /* statvfs free bytes (-1 = real) */
static _Atomic int f_nsync;           /* fdatasync calls */
static _Atomic int f_sync_sleep_us;   /* simulated disk latency */

static ssize_t t_pwrite(int fd, const void *b, size_t n, off_t off)
{
    int e = atomic_load(&f_pwrite_err);
    if (e) {
        /* write a part first, as a full disk does */
        if (n > 8)
            (void)pwrite(fd, b, n / 2, off);
        errno = e;
        return -1;
    }
    if (atomic_load(&f_short) && n > 1)
        n /= 2;
    return pwrite(fd, b, n, off);
}

static int t_fdatasync(int fd)
{
    atomic_fetch_add(&f_nsync, 1);
    int us = atomic_load(&f_sync_sleep_us);
    if (us) {
        struct timespec ts = {0, us * 1000L};
        nanosleep(&ts, NULL);
    }
    int e = atomic_load(&f_fsync_err);
    if (e && atomic_fetch_sub(&f_fsync_n, 1) > 0) {
        errno = e;
        return -1;
    }
    return fdatasync(fd);
}

static int t_statvfs(const char *p, struct statvfs *st)
{
    int rc = statvfs(p, st);
    long long f = atomic_load(&f_free);
    if (rc == 0 && f >= 0) {
        st->f_frsize = 1;
        st->f_bavail = (fsblkcnt_t)f;
    }
    return rc;
}

static struct flm_fs_ops faulty;

static void faults_on(void)
{
    faulty = flm_fc_fs_real;
    faulty.pwrite = t_pwrite;
    faulty.fdatasync = t_fdatasync;
    faulty.statvfs = t_statvfs;
    atomic_store(&f_pwrite_err, 0);
    atomic_store(&f_fsync_err, 0);
    atomic_store(&f_short, 0);
    atomic_store(&f_free, -1);
    atomic_store(&f_nsync, 0);
    atomic_store(&f_sync_sleep_us, 0);
    flm_fc_fs_set_for_test(&faulty);
}

/* Copies root's ck, d1, d2 into root/<name> (the disk image after kill -9). */
static void crash_copy(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", root, name);
    mkdir(out, 0755);
    const char *sub[] = {"ck", "d1", "d2"};
    for (int i = 0; i < 3; i++) {
        char s[400], t[700];
        snprintf(s, sizeof(s), "%s/%s", root, sub[i]);
        snprintf(t, sizeof(t), "%s/%s", out, sub[i]);
        copy_tree(s, t);
    }
}

/* ---------------------------------------------------------------- tests */

static void committed_events_survive_restart_in_order_with_headers(void **state)
{
    (void)state;
    struct flm_channel *ch = chan_new(root, NULL);
    assert_int_equal(put_range(ch, "e", 0, 10), FLM_OK);
    assert_int_equal(put_range(ch, "e", 10, 25), FLM_OK);
    assert_int_equal(flm_channel_size(ch), 25);
    char got[8][64];
    assert_int_equal(take_all(ch, 5, got), 5);
    assert_string_equal(got[0], "e0");
    assert_string_equal(got[4], "e4");
    assert_int_equal(xctr(ch, "Open"), 1);
    chan_free(ch);

    ch = chan_new(root, NULL);
    assert_int_equal(flm_channel_size(ch), 20);
    struct flm_txn *tx;
    struct flm_event *ev;
    size_t n;
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    assert_int_equal(flm_txn_take(tx, &ev, 1, &n), FLM_OK);
    assert_int_equal(n, 1);
    assert_string_equal((const char *)ev->body, "e5");
    assert_string_equal(flm_event_header(ev, "seq"), "e5");
    flm_event_free(ev);
    assert_int_equal(flm_txn_commit(tx), FLM_OK);
    flm_txn_end(tx);
    chan_free(ch);
}

static void crash_without_checkpoint_replays_log_and_returns_uncommitted_takes(void **state)
{
    (void)state;
    const char *kv[] = {"checkpointOnClose", "false", "checkpointInterval", "3600000", NULL};
    struct flm_channel *ch = chan_new(root, kv);
    assert_int_equal(put_range(ch, "x", 0, 10), FLM_OK);
    assert_int_equal(take_all(ch, 3, NULL), 3);           /* committed take: gone */
    struct flm_txn *tx;
    struct flm_event *evs[4];
    size_t n;
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    assert_int_equal(flm_txn_take(tx, evs, 4, &n), FLM_OK); /* x3..x6 in flight */
    assert_int_equal(n, 4);
    struct flm_txn *ptx;                                   /* uncommitted put */
    assert_int_equal(flm_txn_begin(ch, &ptx), FLM_OK);
    struct flm_event *pe = flm_event_new("never", 5, NULL, 0);
    assert_int_equal(flm_txn_put(ptx, &pe, 1), FLM_OK);

    char crash[300];
    snprintf(crash, sizeof(crash), "%s/crash", root);
    char src[300];
    snprintf(src, sizeof(src), "%s/ck", root);
    mkdir(crash, 0755);
    char dst[400];
    snprintf(dst, sizeof(dst), "%s/ck", crash);
    copy_tree(src, dst);
    snprintf(src, sizeof(src), "%s/d1", root);
    snprintf(dst, sizeof(dst), "%s/d1", crash);
    copy_tree(src, dst);
    snprintf(src, sizeof(src), "%s/d2", root);
    snprintf(dst, sizeof(dst), "%s/d2", crash);
    copy_tree(src, dst);

    for (size_t i = 0; i < n; i++)
        flm_event_free(evs[i]);
    flm_txn_end(tx);
    flm_txn_end(ptx);
    chan_free(ch);

    struct flm_channel *c2 = chan_new(crash, kv);
    char got[16][64];
    assert_int_equal(take_all(c2, 16, got), 7);
    assert_string_equal(got[0], "x3");  /* the in-flight take came back first */
    assert_string_equal(got[6], "x9");
    chan_free(c2);
}

static void checkpoint_taken_during_an_open_take_keeps_the_taken_events(void **state)
{
    (void)state;
    const char *kv[] = {"checkpointOnClose", "false", "checkpointInterval", "20", NULL};
    struct flm_channel *ch = chan_new(root, kv);
    assert_int_equal(put_range(ch, "k", 0, 6), FLM_OK);
    struct flm_txn *tx;
    struct flm_event *evs[2];
    size_t n;
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    assert_int_equal(flm_txn_take(tx, evs, 2, &n), FLM_OK);
    assert_int_equal(n, 2);
    /* wait for a checkpoint written after the take (the thread runs every 20 ms) */
    char ckp[400];
    snprintf(ckp, sizeof(ckp), "%s/ck/checkpoint", root);
    for (int i = 0; i < 300; i++) {
        struct stat st;
        if (stat(ckp, &st) == 0 && st.st_size == FC_CKPT_HDR + 6 * 16)
            break;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(fsize(ckp), FC_CKPT_HDR + 6 * 16);
    char crash[400];
    crash_copy("crash", crash, sizeof(crash));
    for (size_t i = 0; i < n; i++)
        flm_event_free(evs[i]);
    flm_txn_end(tx);
    chan_free(ch);
    struct flm_channel *c2 = chan_new(crash, kv);
    char got[8][64];
    assert_int_equal(take_all(c2, 8, got), 6);
    assert_string_equal(got[0], "k0");
    chan_free(c2);
}

/* Random puts, takes, commits and rollbacks against a model FIFO, so the
 * ring wraps and grows at every position; then a restart must give the
 * model's queue back. */
static void random_operations_keep_fifo_order_across_ring_growth_and_restart(void **state)
{
    (void)state;
    const char *kv[] = {"capacity", "1000000", "transactionCapacity", "3000", "maxFileSize",
                        "65536", "checkpointInterval", "30", NULL};
    struct flm_channel *ch = chan_new(root, kv);
    static int model[1 << 20];
    size_t mh = 0, mt = 0;
    int next = 0;
    uint32_t seed = 99;
    for (int it = 0; it < 1500; it++) {
        seed = seed * 1664525u + 1013904223u;
        int k = (int)((seed >> 8) % 1200) + 1;
        if ((seed >> 20) % 2 != 0) {
            assert_int_equal(put_range(ch, "", next, next + k), FLM_OK);
            for (int i = 0; i < k; i++)
                model[mt++] = next + i;
            next += k;
        } else {
            struct flm_txn *tx;
            assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
            struct flm_event *evs[256];
            size_t got = 0, n;
            bool commit = (seed >> 24) % 3 != 0;
            k = k * 2 + 1;
            while (got < (size_t)k) {
                size_t want = (size_t)k - got > 256 ? 256 : (size_t)k - got;
                assert_int_equal(flm_txn_take(tx, evs, want, &n), FLM_OK);
                if (n == 0)
                    break;
                for (size_t i = 0; i < n; i++) {
                    assert_int_equal(strtol((const char *)evs[i]->body, NULL, 10),
                                     model[mh + got + i]);
                    flm_event_free(evs[i]);
                }
                got += n;
            }
            if (commit) {
                assert_int_equal(flm_txn_commit(tx), FLM_OK);
                mh += got;
            } else {
                flm_txn_rollback(tx);
            }
            flm_txn_end(tx);
        }
        assert_int_equal(flm_channel_size(ch), mt - mh);
    }
    chan_free(ch);
    ch = chan_new(root, kv);
    assert_int_equal(flm_channel_size(ch), mt - mh);
    struct flm_txn *tx;
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    struct flm_event *evs[256];
    size_t n, got = 0;
    while (got < mt - mh) {
        assert_int_equal(flm_txn_take(tx, evs, 256, &n), FLM_OK);
        assert_true(n > 0);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(strtol((const char *)evs[i]->body, NULL, 10), model[mh + got + i]);
            flm_event_free(evs[i]);
        }
        got += n;
        if (got % 2048 == 0 || got == mt - mh) {
            assert_int_equal(flm_txn_commit(tx), FLM_OK);
            flm_txn_end(tx);
            assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
        }
    }
    flm_txn_rollback(tx);
    flm_txn_end(tx);
    chan_free(ch);
}

static void rollback_returns_takes_to_the_head_and_discards_puts(void **state)
{
    (void)state;
    struct flm_channel *ch = chan_new(root, NULL);
    assert_int_equal(put_range(ch, "r", 0, 5), FLM_OK);
    struct flm_txn *tx;
    struct flm_event *evs[3];
    size_t n;
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    assert_int_equal(flm_txn_take(tx, evs, 3, &n), FLM_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        flm_event_free(evs[i]);
    struct flm_event *pe = flm_event_new("p", 1, NULL, 0);
    assert_int_equal(flm_txn_put(tx, &pe, 1), FLM_OK);
    flm_txn_rollback(tx);
    flm_txn_end(tx);
    char got[8][64];
    assert_int_equal(take_all(ch, 8, got), 5);
    assert_string_equal(got[0], "r0");
    assert_string_equal(got[2], "r2");
    assert_string_equal(got[4], "r4");
    chan_free(ch);
}

static void full_channel_and_full_transaction_fail_with_flume_texts(void **state)
{
    (void)state;
    const char *kv[] = {"capacity", "5", "transactionCapacity", "5", NULL};
    struct flm_channel *ch = chan_new(root, kv);
    assert_int_equal(put_range(ch, "c", 0, 4), FLM_OK);
    struct flm_txn *tx;
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    struct flm_event *e[2] = {flm_event_new("a", 1, NULL, 0), flm_event_new("b", 1, NULL, 0)};
    assert_int_equal(flm_txn_put(tx, e, 2), FLM_EFULL);
    assert_non_null(strstr(tx->errmsg, "The channel has reached it's capacity."));
    assert_non_null(strstr(tx->errmsg, "[channel=c1]"));
    assert_int_equal(flm_txn_put(tx, e, 1), FLM_OK);  /* exactly full is fine */
    flm_event_free(e[1]);
    assert_int_equal(flm_txn_commit(tx), FLM_OK);
    flm_txn_end(tx);
    assert_int_equal(flm_channel_size(ch), 5);
    assert_int_equal(take_all(ch, 5, NULL), 5);

    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    struct flm_event *six[6];
    for (int i = 0; i < 6; i++)
        six[i] = flm_event_new("z", 1, NULL, 0);
    assert_int_equal(flm_txn_put(tx, six, 6), FLM_EFULL);
    assert_non_null(strstr(tx->errmsg, "Put queue for FileBackedTransaction of capacity"));
    for (int i = 0; i < 6; i++)
        flm_event_free(six[i]);
    flm_txn_end(tx);

    struct flm_err err = {0};
    struct flm_channel *bad;
    const char *kv2[] = {"capacity", "5", NULL}; /* default transactionCapacity 10000 */
    assert_int_equal(chan_open(root, kv2, &bad, &err), FLM_ERR);
    assert_non_null(strstr(err.msg, "transaction capacity cannot be greater than the capacity"));
    chan_free(ch);
}

static void low_free_space_refuses_puts_keeps_data_and_resumes(void **state)
{
    (void)state;
    faults_on();
    struct flm_channel *ch = chan_new(root, NULL);
    assert_int_equal(put_range(ch, "s", 0, 3), FLM_OK);
    atomic_store(&f_free, 1000);
    struct flm_txn *tx;
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    struct flm_event *e = flm_event_new("x", 1, NULL, 0);
    /* the cache is re-read at most every second unless low; force a read */
    for (int i = 0; i < 150 && flm_txn_put(tx, &e, 1) == FLM_OK; i++) {
        flm_txn_rollback(tx);
        flm_txn_end(tx);
        e = flm_event_new("x", 1, NULL, 0);
        assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_non_null(strstr(tx->errmsg, "Usable space exhausted, only 1000 bytes remaining, "
                                       "required 1048576 bytes"));
    assert_int_equal(xctr(ch, "Unhealthy"), 1);
    flm_event_free(e);
    flm_txn_end(tx);
    char got[4][64];
    assert_int_equal(take_all(ch, 1, got), 1);  /* stored data still readable */
    assert_string_equal(got[0], "s0");
    atomic_store(&f_free, -1);
    assert_int_equal(put_range(ch, "s", 3, 4), FLM_OK);
    assert_int_equal(xctr(ch, "Unhealthy"), 0);
    assert_int_equal(flm_channel_size(ch), 3);
    chan_free(ch);
}

static void data_files_roll_and_are_deleted_after_a_checkpoint(void **state)
{
    (void)state;
    const char *kv[] = {"maxFileSize", "4096", "checkpointInterval", "20", NULL};
    struct flm_channel *ch = chan_new(root, kv);
    for (int i = 0; i < 40; i++)
        assert_int_equal(put_range(ch, "roll-event-with-some-padding-", i * 10, i * 10 + 10),
                         FLM_OK);
    size_t before = count_logs(root);
    assert_true(before >= 4);
    char got[400][64];
    assert_int_equal(take_all(ch, 400, got), 400);
    assert_string_equal(got[399], "roll-event-with-some-padding-399");
    /* the checkpoint thread collects files nothing points into */
    for (int i = 0; i < 500 && count_logs(root) > 2; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_true(count_logs(root) <= 2);
    chan_free(ch);
    ch = chan_new(root, kv);
    assert_int_equal(flm_channel_size(ch), 0);
    chan_free(ch);
}

static void enospc_on_write_fails_the_commit_and_leaves_a_clean_log(void **state)
{
    (void)state;
    faults_on();
    const char *kv[] = {"checkpointOnClose", "false", NULL};
    struct flm_channel *ch = chan_new(root, kv);
    assert_int_equal(put_range(ch, "ok", 0, 5), FLM_OK);
    atomic_store(&f_pwrite_err, ENOSPC);
    assert_int_equal(put_range(ch, "lost", 0, 5), FLM_EIO);
    assert_int_equal(xctr(ch, "EventPutErrorCount"), 1);
    atomic_store(&f_pwrite_err, 0);
    assert_int_equal(put_range(ch, "ok", 5, 8), FLM_OK);
    chan_free(ch);
    ch = chan_new(root, kv); /* replays the log: no hole, no corrupt middle */
    char got[16][64];
    assert_int_equal(take_all(ch, 16, got), 8);
    assert_string_equal(got[5], "ok5");
    chan_free(ch);
}

static void eio_on_fsync_fails_the_commit_and_later_commits_survive(void **state)
{
    (void)state;
    faults_on();
    const char *kv[] = {"checkpointOnClose", "false", NULL};
    struct flm_channel *ch = chan_new(root, kv);
    assert_int_equal(put_range(ch, "ok", 0, 2), FLM_OK);
    atomic_store(&f_fsync_n, 1); /* one failing sync: the recovery truncate+sync works */
    atomic_store(&f_fsync_err, EIO);
    assert_int_equal(put_range(ch, "bad", 0, 2), FLM_EIO);
    atomic_store(&f_fsync_err, 0);
    assert_int_equal(put_range(ch, "ok", 2, 4), FLM_OK);
    assert_int_equal(take_all(ch, 1, NULL), 1);
    chan_free(ch);
    ch = chan_new(root, kv);
    char got[8][64];
    assert_int_equal(take_all(ch, 8, got), 3);
    assert_string_equal(got[0], "ok1");
    assert_string_equal(got[2], "ok3");
    chan_free(ch);
}

static void short_writes_are_completed(void **state)
{
    (void)state;
    faults_on();
    atomic_store(&f_short, 1);
    struct flm_channel *ch = chan_new(root, NULL);
    assert_int_equal(put_range(ch, "sw", 0, 50), FLM_OK);
    chan_free(ch);
    atomic_store(&f_short, 0);
    ch = chan_new(root, NULL);
    assert_int_equal(take_all(ch, 100, NULL), 50);
    chan_free(ch);
}

static void torn_tail_is_truncated_at_any_offset_and_earlier_commits_survive(void **state)
{
    (void)state;
    const char *kv[] = {"checkpointOnClose", "false", NULL};
    struct flm_channel *ch = chan_new(root, kv);
    assert_int_equal(put_range(ch, "t", 0, 3), FLM_OK);
    assert_int_equal(put_range(ch, "t", 3, 6), FLM_OK); /* the record we tear */
    char path[600];
    newest_log(root, path, sizeof(path));
    off_t full = fsize(path);
    chan_free(ch);
    /* size of the last record: reopen and note where the next file starts */
    char save[300];
    snprintf(save, sizeof(save), "%s/orig", root);
    mkdir(save, 0755);
    char sp[700];
    snprintf(sp, sizeof(sp), "%s/log", save);
    copy_file(path, sp);
    unsigned seed = 12345;
    for (int round = 0; round < 12; round++) {
        seed = seed * 1103515245u + 12345u;
        off_t cut = full - 1 - (off_t)((seed >> 8) % 60); /* inside the last record */
        if (round == 0)
            cut = full - 1;
        copy_file(sp, path);
        assert_int_equal(truncate(path, cut), 0);
        ch = chan_new(root, kv);
        char got[8][64];
        size_t n = take_all(ch, 8, got);
        assert_int_equal(n, 3);
        assert_string_equal(got[2], "t2");
        /* put the 3 back so the next round starts from the same state */
        chan_free(ch);
        /* remove files created by this round; restore the original */
        char nl[600];
        newest_log(root, nl, sizeof(nl));
        if (strcmp(nl, path) != 0)
            unlink(nl);
        char ckp[400];
        snprintf(ckp, sizeof(ckp), "%s/ck/checkpoint", root);
        unlink(ckp);
    }
}

static void corrupt_middle_record_refuses_start_naming_file_and_offset(void **state)
{
    (void)state;
    const char *kv[] = {"checkpointOnClose", "false", NULL};
    struct flm_channel *ch = chan_new(root, kv);
    assert_int_equal(put_range(ch, "m", 0, 3), FLM_OK);
    assert_int_equal(put_range(ch, "m", 3, 6), FLM_OK);
    char path[600];
    newest_log(root, path, sizeof(path));
    chan_free(ch);
    int fd = open(path, O_RDWR);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, FC_FILE_HDR + 40), 1);
    b ^= 0x20;
    assert_int_equal(pwrite(fd, &b, 1, FC_FILE_HDR + 40), 1);
    close(fd);
    struct flm_err err = {0};
    struct flm_channel *c2 = NULL;
    assert_int_equal(chan_open(root, kv, &c2, &err), FLM_ECORRUPT);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "at offset 16"));
    assert_non_null(strstr(err.msg, "fcintegrity"));
}

static void integrity_tool_blanks_a_corrupt_record_so_the_channel_starts(void **state)
{
    (void)state;
    /* with a checkpoint on close that points into the record we damage */
    const char *kv[] = {NULL};
    struct flm_channel *ch = chan_new(root, kv);
    assert_int_equal(put_range(ch, "i", 0, 3), FLM_OK);
    assert_int_equal(put_range(ch, "i", 3, 6), FLM_OK);
    assert_int_equal(put_range(ch, "i", 6, 9), FLM_OK);
    char path[600];
    newest_log(root, path, sizeof(path));
    chan_free(ch);
    int fd = open(path, O_RDWR);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, FC_FILE_HDR + 40), 1);
    b ^= 0x20;
    assert_int_equal(pwrite(fd, &b, 1, FC_FILE_HDR + 40), 1);
    close(fd);
    char d1[300], d2[300];
    snprintf(d1, sizeof(d1), "%s/d1", root);
    snprintf(d2, sizeof(d2), "%s/d2", root);
    const char *dirs[] = {d1, d2};
    size_t bad = 0;
    FILE *out = tmpfile();
    assert_int_equal(flm_fc_integrity(dirs, 2, false, out, &bad), FLM_OK); /* check only */
    assert_int_equal(bad, 1);
    /* The checkpoint covers the damaged record, so replay does not read it:
     * the damage shows at take time, never skipped: the take fails naming
     * file and offset, and the event stays at the head. */
    ch = chan_new(root, kv);
    struct flm_txn *tx;
    struct flm_event *evs[4];
    size_t n;
    for (int round = 0; round < 2; round++) {
        assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
        assert_int_equal(flm_txn_take(tx, evs, 4, &n), FLM_ECORRUPT);
        assert_non_null(strstr(tx->errmsg, path));
        assert_non_null(strstr(tx->errmsg, "offset"));
        flm_txn_end(tx);
    }
    assert_int_equal(xctr(ch, "EventTakeErrorCount"), 2);
    assert_int_equal(flm_channel_size(ch), 9);
    chan_free(ch);
    assert_int_equal(flm_fc_integrity(dirs, 2, true, out, &bad), FLM_OK);
    assert_int_equal(bad, 1);
    assert_int_equal(flm_fc_integrity(dirs, 2, true, out, &bad), FLM_OK);
    assert_int_equal(bad, 0);
    fclose(out);
    char marker[700];
    snprintf(marker, sizeof(marker), "%.*s/%s", (int)(strrchr(path, '/') - path), path,
             FC_REPAIR_MARKER);
    assert_int_equal(access(marker, F_OK), 0);
    /* the checkpoint still lists the blanked events: the channel must not
     * use it, but replay the repaired files */
    ch = chan_new(root, kv);
    assert_int_not_equal(access(marker, F_OK), 0); /* a new checkpoint replaced the marker */
    assert_int_equal(flm_channel_size(ch), 6);
    char got[16][64];
    assert_int_equal(take_all(ch, 16, got), 6); /* the first record's 3 events are gone */
    assert_string_equal(got[0], "i3");
    /* while the channel runs, the tool refuses to touch its dirs */
    out = tmpfile();
    assert_int_equal(flm_fc_integrity(dirs, 2, true, out, &bad), FLM_ERR);
    fclose(out);
    chan_free(ch);
}

static void bad_checkpoint_falls_back_to_backup_then_full_replay(void **state)
{
    (void)state;
    const char *kv[] = {"useDualCheckpoints", "true", "maxFileSize", "2000", NULL};
    struct flm_channel *ch = chan_new(root, kv);
    for (int i = 0; i < 10; i++)
        assert_int_equal(put_range(ch, "b", i * 5, i * 5 + 5), FLM_OK);
    assert_int_equal(take_all(ch, 2, NULL), 2);
    chan_free(ch); /* checkpoint + backup on close */
    char ckp[400];
    snprintf(ckp, sizeof(ckp), "%s/ck/checkpoint", root);
    int fd = open(ckp, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "XXXX", 4, 20), 4);
    close(fd);
    ch = chan_new(root, kv);
    assert_int_equal(flm_channel_size(ch), 48);
    chan_free(ch);
    /* both bad: full replay of every data file gives the same queue */
    fd = open(ckp, O_RDWR);
    assert_int_equal(pwrite(fd, "XXXX", 4, 20), 4);
    close(fd);
    snprintf(ckp, sizeof(ckp), "%s/bk/checkpoint", root);
    unlink(ckp);
    ch = chan_new(root, kv);
    char got[64][64];
    assert_int_equal(take_all(ch, 64, got), 48);
    assert_string_equal(got[0], "b2");
    chan_free(ch);
}

static void a_second_channel_on_the_same_dirs_is_refused(void **state)
{
    (void)state;
    struct flm_channel *ch = chan_new(root, NULL);
    struct flm_err err = {0};
    struct flm_channel *c2 = NULL;
    assert_int_not_equal(chan_open(root, NULL, &c2, &err), FLM_OK);
    assert_non_null(strstr(err.msg, "The directory is already locked."));
    chan_free(ch);
}

struct committer {
    struct flm_channel *ch;
    int id;
};

static void *commit_loop(void *arg)
{
    struct committer *c = arg;
    char p[16];
    snprintf(p, sizeof(p), "w%d-", c->id);
    for (int i = 0; i < 100; i++)
        if (put_range(c->ch, p, i, i + 1) != FLM_OK)
            return (void *)1;
    return NULL;
}

static void concurrent_commits_share_fsyncs(void **state)
{
    (void)state;
    faults_on();
    atomic_store(&f_sync_sleep_us, 2000); /* a 2 ms disk */
    struct flm_channel *ch = chan_new(root, NULL);
    atomic_store(&f_nsync, 0);
    pthread_t th[4];
    struct committer cm[4];
    for (int i = 0; i < 4; i++) {
        cm[i] = (struct committer){ch, i};
        pthread_create(&th[i], NULL, commit_loop, &cm[i]);
    }
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        assert_null(r);
    }
    int syncs = atomic_load(&f_nsync);
    print_message("400 commits, %d fdatasyncs\n", syncs);
    assert_true(syncs < 300);
    assert_int_equal(flm_channel_size(ch), 400);
    chan_free(ch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(committed_events_survive_restart_in_order_with_headers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            crash_without_checkpoint_replays_log_and_returns_uncommitted_takes, setup, teardown),
        cmocka_unit_test_setup_teardown(
            checkpoint_taken_during_an_open_take_keeps_the_taken_events, setup, teardown),
        cmocka_unit_test_setup_teardown(
            random_operations_keep_fifo_order_across_ring_growth_and_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(rollback_returns_takes_to_the_head_and_discards_puts,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(full_channel_and_full_transaction_fail_with_flume_texts,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(low_free_space_refuses_puts_keeps_data_and_resumes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(data_files_roll_and_are_deleted_after_a_checkpoint, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(enospc_on_write_fails_the_commit_and_leaves_a_clean_log,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(eio_on_fsync_fails_the_commit_and_later_commits_survive,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(short_writes_are_completed, setup, teardown),
        cmocka_unit_test_setup_teardown(
            torn_tail_is_truncated_at_any_offset_and_earlier_commits_survive, setup, teardown),
        cmocka_unit_test_setup_teardown(
            corrupt_middle_record_refuses_start_naming_file_and_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(
            integrity_tool_blanks_a_corrupt_record_so_the_channel_starts, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_checkpoint_falls_back_to_backup_then_full_replay,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_second_channel_on_the_same_dirs_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(concurrent_commits_share_fsyncs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
