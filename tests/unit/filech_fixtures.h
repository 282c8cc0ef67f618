/*
 * filech_fixtures.h - test fixtures shared by the file channel's unit tests
 * (filech_channel_test.c, filech_crypt_test.c): a fresh temp root per test,
 * tree copy/removal, opening the real file channel on <base>/ck,d1,d2 with
 * extra properties, and helpers to put, take and inspect log files.
 * Header-only on purpose: each test file is its own executable.  Include it
 * after cmocka.h, "channels/file/fc.h" and "core/component.h", and declare
 * `extern const struct flm_type flm_channel_file;` before it.
 */
#ifndef FLM_FILECH_FIXTURES_H
#define FLM_FILECH_FIXTURES_H

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FLMT_UNUSED __attribute__((unused))

static char root[200];
FLMT_UNUSED static int nroot;

/* ------------------------------------------------------------- fixtures */

FLMT_UNUSED static void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d != NULL) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char p[512];
            snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
            rm_tree(p);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* Copies a tree of plain files (the channel's dirs). */
FLMT_UNUSED static void copy_tree(const char *src, const char *dst)
{
    mkdir(dst, 0755);
    DIR *d = opendir(src);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char s[512], t[512];
        snprintf(s, sizeof(s), "%s/%s", src, de->d_name);
        snprintf(t, sizeof(t), "%s/%s", dst, de->d_name);
        struct stat st;
        assert_int_equal(stat(s, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            copy_tree(s, t);
            continue;
        }
        int in = open(s, O_RDONLY), out = open(t, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_true(in >= 0 && out >= 0);
        char buf[65536];
        ssize_t n;
        while ((n = read(in, buf, sizeof(buf))) > 0)
            assert_int_equal(write(out, buf, (size_t)n), n);
        close(in);
        close(out);
    }
    closedir(d);
}

FLMT_UNUSED static void copy_file(const char *s, const char *t)
{
    int in = open(s, O_RDONLY), out = open(t, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(in >= 0 && out >= 0);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
}

FLMT_UNUSED static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/filech-test-%d-%d", (int)getpid(), nroot++);
    rm_tree(root);
    assert_int_equal(mkdir(root, 0755), 0);
    flm_fc_fs_set_for_test(NULL);
    return 0;
}

FLMT_UNUSED static int teardown(void **state)
{
    (void)state;
    flm_fc_fs_set_for_test(NULL);
    rm_tree(root);
    return 0;
}

/* Channel on <base>/ck, <base>/d1,<base>/d2 plus extra key/value pairs. */
FLMT_UNUSED static int chan_open(const char *base, const char *const *extra, struct flm_channel **out,
                     struct flm_err *err)
{
    char ck[300], dd[700], bk[300];
    snprintf(ck, sizeof(ck), "%s/ck", base);
    snprintf(bk, sizeof(bk), "%s/bk", base);
    snprintf(dd, sizeof(dd), "%s/d1,%s/d2", base, base);
    struct flm_kvs kvs;
    flm_kvs_init(&kvs);
    flm_kvs_set(&kvs, "checkpointDir", ck, "t", 1);
    flm_kvs_set(&kvs, "backupCheckpointDir", bk, "t", 2);
    flm_kvs_set(&kvs, "dataDirs", dd, "t", 3);
    flm_kvs_set(&kvs, "keep-alive", "0", "t", 4);
    flm_kvs_set(&kvs, "minimumRequiredSpace", "1048576", "t", 5);
    for (size_t i = 0; extra && extra[i]; i += 2)
        flm_kvs_set(&kvs, extra[i], extra[i + 1], "t", 10 + (int)i);
    struct flm_diag d;
    flm_diag_init(&d);
    void *conf = calloc(1, flm_channel_file.conf_size);
    int rc = flm_props_load(flm_channel_file.props, &kvs, conf, "a1.channels.c1", &d);
    if (rc == FLM_OK)
        rc = flm_channel_file.validate(conf, "a1.channels.c1", &d);
    flm_kvs_free(&kvs);
    if (rc != FLM_OK) {
        if (d.n)
            flm_err_set(err, rc, "%s", d.v[0].msg);
        flm_diag_free(&d);
        flm_props_free(flm_channel_file.props, conf);
        free(conf);
        return rc;
    }
    flm_diag_free(&d);
    struct flm_channel *ch = calloc(1, sizeof(*ch));
    snprintf(ch->c.name, sizeof(ch->c.name), "c1");
    snprintf(ch->c.path, sizeof(ch->c.path), "a1.channels.c1");
    ch->c.type = &flm_channel_file;
    ch->c.conf = conf;
    flm_logctx_init(&ch->c.log, ch->c.path, "file");
    ch->c.ctr.group = "CHANNEL";
    flm_counters_start(&ch->c.ctr);
    const struct flm_channel_ops *ops = flm_channel_file.ops;
    rc = ops->init(ch, err);
    if (rc != FLM_OK) {
        flm_props_free(flm_channel_file.props, conf);
        free(conf);
        free(ch);
        return rc;
    }
    *out = ch;
    return FLM_OK;
}

FLMT_UNUSED static struct flm_channel *chan_new(const char *base, const char *const *extra)
{
    struct flm_channel *ch = NULL;
    struct flm_err err = {0};
    int rc = chan_open(base, extra, &ch, &err);
    if (rc != FLM_OK)
        fail_msg("channel did not open: %s", err.msg);
    return ch;
}

FLMT_UNUSED static void chan_free(struct flm_channel *ch)
{
    const struct flm_channel_ops *ops = flm_channel_file.ops;
    ops->destroy(ch);
    flm_props_free(flm_channel_file.props, ch->c.conf);
    free(ch->c.conf);
    free(ch);
}

/* Puts bodies "<prefix><i>" for i in [from, to) in one transaction. */
FLMT_UNUSED static int put_range(struct flm_channel *ch, const char *prefix, int from, int to)
{
    struct flm_txn *tx;
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    int rc = FLM_OK;
    for (int i = from; i < to && rc == FLM_OK; i++) {
        char b[64];
        int n = snprintf(b, sizeof(b), "%s%d", prefix, i);
        struct flm_hdr h = flm_hdr_str("seq", b);
        struct flm_event *ev = flm_event_new(b, (size_t)n, &h, 1);
        rc = flm_txn_put(tx, &ev, 1);
        if (rc != FLM_OK)
            flm_event_free(ev);
    }
    if (rc == FLM_OK)
        rc = flm_txn_commit(tx);
    flm_txn_end(tx);
    return rc;
}

/* Takes up to max events in one transaction and commits; writes the bodies
 * (NUL-separated) to out.  Returns the count. */
FLMT_UNUSED static size_t take_all(struct flm_channel *ch, size_t max, char out[][64])
{
    struct flm_txn *tx;
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    struct flm_event *evs[256];
    size_t total = 0;
    while (total < max) {
        size_t n = 0, want = max - total > 256 ? 256 : max - total;
        assert_int_equal(flm_txn_take(tx, evs, want, &n), FLM_OK);
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            if (out)
                snprintf(out[total + i], 64, "%s", (const char *)evs[i]->body);
            flm_event_free(evs[i]);
        }
        total += n;
    }
    assert_int_equal(flm_txn_commit(tx), FLM_OK);
    flm_txn_end(tx);
    return total;
}

FLMT_UNUSED static size_t count_logs(const char *base)
{
    size_t n = 0;
    const char *sub[] = {"d1", "d2"};
    for (int i = 0; i < 2; i++) {
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", base, sub[i]);
        DIR *d = opendir(p);
        if (d == NULL)
            continue;
        struct dirent *de;
        while ((de = readdir(d)) != NULL)
            n += strncmp(de->d_name, "log-", 4) == 0;
        closedir(d);
    }
    return n;
}

/* Path of the newest log file. */
FLMT_UNUSED static void newest_log(const char *base, char *out, size_t cap)
{
    unsigned best = 0;
    const char *sub[] = {"d1", "d2"};
    for (int i = 0; i < 2; i++) {
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", base, sub[i]);
        DIR *d = opendir(p);
        if (d == NULL)
            continue;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            unsigned v;
            if (sscanf(de->d_name, "log-%u", &v) == 1 && v > best) {
                best = v;
                snprintf(out, cap, "%s/log-%u", p, v);
            }
        }
        closedir(d);
    }
}

FLMT_UNUSED static off_t fsize(const char *p)
{
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    return st.st_size;
}

#endif
