/*
 * filech_crypt_test.c - encryption of the file channel's event payloads
 * (src/channels/file/crypt.c and its use in filech.c / filech_store.c):
 * round trip, key rotation, missing and wrong keys refusing start, the key
 * file's format and permission checks, plaintext never reaching the data
 * files, the integrity tool verifying encrypted files without keys, the
 * codec of key records and encrypted records, and no counter-block reuse
 * (distinct nonces per file, a failed write moves to a new file).
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
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern const struct flm_type flm_channel_file;

#include "filech_fixtures.h"

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

/* --------------------------------------------------------- crypto helpers */

#define K1_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define K1_OTHER "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define K2_B64 "q83vASNFZ4mrze8BI0VniQ==" /* 16 bytes: AES-128 */

static char keyfile[300];

/* Writes root/keys with the given text and mode; sets keyfile. */
static void write_keys(const char *text, mode_t mode)
{
    snprintf(keyfile, sizeof(keyfile), "%s/keys", root);
    unlink(keyfile);
    int fd = open(keyfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(chmod(keyfile, mode), 0);
}

/* Property pairs for activeKey / keys (NULL to omit) on keyfile. */
static const char **enc_kv(const char **kv, const char *active, const char *keys)
{
    size_t n = 0;
    kv[n++] = "encryption.keyProvider.keyStoreFile";
    kv[n++] = keyfile;
    kv[n++] = "encryption.keyProvider";
    kv[n++] = "JCEKSFILE";
    kv[n++] = "encryption.cipherProvider";
    kv[n++] = "AESCTRNOPADDING";
    if (active) {
        kv[n++] = "encryption.activeKey";
        kv[n++] = active;
    }
    if (keys) {
        kv[n++] = "encryption.keyProvider.keys";
        kv[n++] = keys;
    }
    kv[n] = NULL;
    return kv;
}

/* True when needle occurs in any file of base/d1, base/d2. */
static bool data_files_contain(const char *base, const char *needle)
{
    const char *sub[] = {"d1", "d2"};
    size_t nl = strlen(needle);
    for (int i = 0; i < 2; i++) {
        char p[300];
        snprintf(p, sizeof(p), "%s/%s", base, sub[i]);
        DIR *d = opendir(p);
        if (d == NULL)
            continue;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strncmp(de->d_name, "log-", 4) != 0)
                continue;
            char f[600];
            snprintf(f, sizeof(f), "%s/%s", p, de->d_name);
            FILE *fp = fopen(f, "rb");
            assert_non_null(fp);
            static char buf[1 << 20];
            size_t n = fread(buf, 1, sizeof(buf), fp);
            fclose(fp);
            for (size_t k = 0; k + nl <= n; k++)
                if (memcmp(buf + k, needle, nl) == 0) {
                    closedir(d);
                    return true;
                }
        }
        closedir(d);
    }
    return false;
}

static int open_err(const char *base, const char *const *kv, char *msg, size_t cap)
{
    struct flm_channel *ch = NULL;
    struct flm_err err = {0};
    int rc = chan_open(base, kv, &ch, &err);
    if (rc == FLM_OK)
        chan_free(ch);
    snprintf(msg, cap, "%s", err.msg);
    return rc;
}

/* ---------------------------------------------------------------- tests */

static void encrypted_events_round_trip_across_restart_and_never_hit_disk_in_clear(void **state)
{
    (void)state;
    write_keys("# test keys\nk1 = " K1_HEX "\n", 0600);
    const char *kv[16];
    struct flm_channel *ch = chan_new(root, enc_kv(kv, "k1", NULL));
    assert_int_equal(put_range(ch, "SECRET-BODY-", 0, 40), FLM_OK);
    char got[40][64];
    assert_int_equal(take_all(ch, 5, got), 5); /* read back in this session */
    assert_string_equal(got[0], "SECRET-BODY-0");
    assert_string_equal(got[4], "SECRET-BODY-4");
    chan_free(ch);
    /* Neither bodies nor header keys/values are in the files. */
    assert_false(data_files_contain(root, "SECRET-BODY"));
    assert_false(data_files_contain(root, "seq"));

    ch = chan_new(root, enc_kv(kv, "k1", NULL));
    assert_int_equal(flm_channel_size(ch), 35);
    struct flm_txn *tx;
    struct flm_event *ev;
    size_t n;
    assert_int_equal(flm_txn_begin(ch, &tx), FLM_OK);
    assert_int_equal(flm_txn_take(tx, &ev, 1, &n), FLM_OK);
    assert_int_equal(n, 1);
    assert_string_equal((const char *)ev->body, "SECRET-BODY-5");
    assert_string_equal(flm_event_header(ev, "seq"), "SECRET-BODY-5");
    flm_event_free(ev);
    assert_int_equal(flm_txn_commit(tx), FLM_OK);
    flm_txn_end(tx);
    assert_int_equal(take_all(ch, 100, got), 34);
    assert_string_equal(got[33], "SECRET-BODY-39");
    chan_free(ch);
}

static void without_encryption_the_body_is_on_disk(void **state)
{
    /* The control for the grep above: the helper does find plaintext. */
    (void)state;
    struct flm_channel *ch = chan_new(root, NULL);
    assert_int_equal(put_range(ch, "SECRET-BODY-", 0, 3), FLM_OK);
    chan_free(ch);
    assert_true(data_files_contain(root, "SECRET-BODY-2"));
}

static void key_rotation_keeps_older_data_readable(void **state)
{
    (void)state;
    write_keys("k1 = " K1_HEX "\nk2=" K2_B64 "\n", 0600);
    const char *kv[16];
    struct flm_channel *ch = chan_new(root, enc_kv(kv, "k1", "k1"));
    assert_int_equal(put_range(ch, "one-", 0, 10), FLM_OK);
    chan_free(ch);
    ch = chan_new(root, enc_kv(kv, "k2", "k1 k2"));
    assert_int_equal(put_range(ch, "two-", 0, 10), FLM_OK);
    chan_free(ch);
    ch = chan_new(root, enc_kv(kv, "k2", "k1 k2")); /* restart: both readable */
    char got[20][64];
    assert_int_equal(take_all(ch, 20, got), 20);
    assert_string_equal(got[0], "one-0");
    assert_string_equal(got[9], "one-9");
    assert_string_equal(got[10], "two-0");
    assert_string_equal(got[19], "two-9");
    chan_free(ch);
    assert_false(data_files_contain(root, "one-"));
    assert_false(data_files_contain(root, "two-"));
}

static void missing_key_for_stored_data_refuses_start_naming_the_alias(void **state)
{
    (void)state;
    write_keys("k1 = " K1_HEX "\nk2=" K2_B64 "\n", 0600);
    const char *kv[16];
    struct flm_channel *ch = chan_new(root, enc_kv(kv, "k1", NULL));
    assert_int_equal(put_range(ch, "a", 0, 3), FLM_OK);
    chan_free(ch);
    char msg[512];
    assert_int_not_equal(open_err(root, enc_kv(kv, "k2", "k2"), msg, sizeof(msg)), FLM_OK);
    assert_non_null(strstr(msg, "key alias 'k1'"));
    assert_non_null(strstr(msg, "not configured"));
    /* Turning encryption off does not make encrypted data readable either. */
    assert_int_not_equal(open_err(root, NULL, msg, sizeof(msg)), FLM_OK);
    assert_non_null(strstr(msg, "'k1'"));
    /* With the key back, everything is there. */
    ch = chan_new(root, enc_kv(kv, "k2", "k1 k2"));
    assert_int_equal(flm_channel_size(ch), 3);
    chan_free(ch);
}

static void wrong_key_under_the_same_alias_refuses_start(void **state)
{
    (void)state;
    write_keys("k1 = " K1_HEX "\n", 0600);
    const char *kv[16];
    struct flm_channel *ch = chan_new(root, enc_kv(kv, "k1", NULL));
    assert_int_equal(put_range(ch, "a", 0, 3), FLM_OK);
    chan_free(ch);
    write_keys("k1 = " K1_OTHER "\n", 0600);
    char msg[512];
    assert_int_not_equal(open_err(root, enc_kv(kv, "k1", NULL), msg, sizeof(msg)), FLM_OK);
    assert_non_null(strstr(msg, "wrong key"));
    assert_non_null(strstr(msg, "'k1'"));
}

static void key_file_readable_by_others_is_refused(void **state)
{
    (void)state;
    write_keys("k1 = " K1_HEX "\n", 0644);
    const char *kv[16];
    char msg[512];
    assert_int_not_equal(open_err(root, enc_kv(kv, "k1", NULL), msg, sizeof(msg)), FLM_OK);
    assert_non_null(strstr(msg, "accessible by group or others"));
    assert_non_null(strstr(msg, keyfile));
    write_keys("k1 = " K1_HEX "\n", 0640);
    assert_int_not_equal(open_err(root, enc_kv(kv, "k1", NULL), msg, sizeof(msg)), FLM_OK);
    write_keys("k1 = " K1_HEX "\n", 0400);
    assert_int_equal(open_err(root, enc_kv(kv, "k1", NULL), msg, sizeof(msg)), FLM_OK);
}

static void key_file_errors_name_the_line_or_alias_and_never_the_key(void **state)
{
    (void)state;
    const char *kv[16];
    char msg[512];
    write_keys("k1 = " K1_HEX "\nk2 = 0011\n", 0600);
    assert_int_not_equal(open_err(root, enc_kv(kv, "k1", NULL), msg, sizeof(msg)), FLM_OK);
    assert_non_null(strstr(msg, ":2:"));
    assert_null(strstr(msg, "0011"));
    write_keys("k1 " K1_HEX "\n", 0600);
    assert_int_not_equal(open_err(root, enc_kv(kv, "k1", NULL), msg, sizeof(msg)), FLM_OK);
    assert_non_null(strstr(msg, ":1: expected"));
    assert_null(strstr(msg, K1_HEX));
    write_keys("k1 = " K1_HEX "\n", 0600);
    assert_int_not_equal(open_err(root, enc_kv(kv, "k1", "k1 old"), msg, sizeof(msg)), FLM_OK);
    assert_non_null(strstr(msg, "'old'"));
    write_keys("k1 = " K1_HEX "\nk1 = " K1_OTHER "\n", 0600);
    assert_int_not_equal(open_err(root, enc_kv(kv, "k1", NULL), msg, sizeof(msg)), FLM_OK);
    assert_non_null(strstr(msg, "twice"));
}

static void activekey_without_keystorefile_is_a_config_error(void **state)
{
    (void)state;
    const char *kv[] = {"encryption.activeKey", "k1", NULL};
    char msg[512];
    assert_int_not_equal(open_err(root, kv, msg, sizeof(msg)), FLM_OK);
    assert_non_null(strstr(msg, "keyStoreFile"));
    const char *kv2[] = {"encryption.cipherProvider", "DES", NULL};
    assert_int_not_equal(open_err(root, kv2, msg, sizeof(msg)), FLM_OK);
    /* password files are accepted (and ignored) */
    write_keys("k1 = " K1_HEX "\n", 0600);
    const char *kv3[] = {"encryption.keyProvider.keyStoreFile", keyfile,
                         "encryption.activeKey", "k1",
                         "encryption.keyProvider.keyStorePasswordFile", "/nonexistent",
                         "encryption.keyProvider.keys.k1.passwordFile", "/nonexistent", NULL};
    assert_int_equal(open_err(root, kv3, msg, sizeof(msg)), FLM_OK);
}

static void integrity_tool_verifies_encrypted_files_without_keys(void **state)
{
    (void)state;
    write_keys("k1 = " K1_HEX "\n", 0600);
    const char *kv[16];
    struct flm_channel *ch = chan_new(root, enc_kv(kv, "k1", NULL));
    for (int i = 0; i < 5; i++)
        assert_int_equal(put_range(ch, "B", i * 10, i * 10 + 10), FLM_OK);
    assert_int_equal(take_all(ch, 5, NULL), 5);
    chan_free(ch);
    char d1[300], d2[300];
    snprintf(d1, sizeof(d1), "%s/d1", root);
    snprintf(d2, sizeof(d2), "%s/d2", root);
    const char *dirs[] = {d1, d2};
    FILE *out = fopen("/dev/null", "w");
    size_t bad = 99;
    assert_int_equal(flm_fc_integrity(dirs, 2, false, out, &bad), FLM_OK);
    assert_int_equal(bad, 0);
    /* Flip one ciphertext byte of an event in the middle of the oldest file. */
    char p[400];
    unsigned best = UINT32_MAX;
    for (int i = 0; i < 2; i++) {
        DIR *d = opendir(dirs[i]);
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            unsigned v;
            if (sscanf(de->d_name, "log-%u", &v) == 1 && v < best) {
                best = v;
                snprintf(p, sizeof(p), "%s/log-%u", dirs[i], v);
            }
        }
        closedir(d);
    }
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    off_t at = fsize(p) / 3;
    assert_int_equal(pread(fd, &b, 1, at), 1);
    b ^= 0x40;
    assert_int_equal(pwrite(fd, &b, 1, at), 1);
    close(fd);
    assert_int_equal(flm_fc_integrity(dirs, 2, false, out, &bad), FLM_OK);
    assert_int_equal(bad, 1);
    fclose(out);
}

static void torn_tail_of_an_encrypted_log_is_truncated_and_the_rest_reads(void **state)
{
    (void)state;
    write_keys("k1 = " K1_HEX "\n", 0600);
    const char *kv[16];
    const char *kvs[20];
    enc_kv(kv, "k1", NULL);
    size_t n = 0;
    for (; kv[n]; n++)
        kvs[n] = kv[n];
    kvs[n++] = "checkpointOnClose";
    kvs[n++] = "false";
    kvs[n] = NULL;
    struct flm_channel *ch = chan_new(root, kvs);
    assert_int_equal(put_range(ch, "t", 0, 10), FLM_OK);
    assert_int_equal(put_range(ch, "t", 10, 20), FLM_OK);
    char img[400];
    crash_copy("img", img, sizeof(img));
    chan_free(ch);
    char newest[1024];
    newest_log(img, newest, sizeof(newest));
    assert_int_equal(truncate(newest, fsize(newest) - 7), 0);
    ch = chan_new(img, kvs);
    char got[20][64];
    assert_int_equal(take_all(ch, 20, got), 10);
    assert_string_equal(got[9], "t9");
    chan_free(ch);
}

/* Fault table: the next pwrite fails with ENOSPC once. */
static _Atomic int fail_next;
static ssize_t t_pwrite(int fd, const void *b, size_t n, off_t off)
{
    if (atomic_exchange(&fail_next, 0)) {
        errno = ENOSPC;
        return -1;
    }
    return pwrite(fd, b, n, off);
}

static void failed_write_continues_in_a_new_file_so_no_counter_is_reused(void **state)
{
    (void)state;
    write_keys("k1 = " K1_HEX "\n", 0600);
    const char *kv[16];
    static struct flm_fs_ops faulty;
    faulty = flm_fc_fs_real;
    faulty.pwrite = t_pwrite;
    flm_fc_fs_set_for_test(&faulty);
    struct flm_channel *ch = chan_new(root, enc_kv(kv, "k1", NULL));
    assert_int_equal(put_range(ch, "w", 0, 5), FLM_OK);
    assert_int_equal(count_logs(root), 1);
    atomic_store(&fail_next, 1);
    assert_int_not_equal(put_range(ch, "x", 0, 5), FLM_OK);
    assert_int_equal(put_range(ch, "w", 5, 10), FLM_OK);
    assert_int_equal(count_logs(root), 2); /* new file, new nonce */
    char got[10][64];
    assert_int_equal(take_all(ch, 10, got), 10);
    assert_string_equal(got[9], "w9");
    chan_free(ch);
}

static void equal_events_encrypt_differently_and_files_get_distinct_nonces(void **state)
{
    (void)state;
    write_keys("k1 = " K1_HEX "\n", 0600);
    const char *kv[16];
    const char *kvs[20];
    enc_kv(kv, "k1", NULL);
    size_t n = 0;
    for (; kv[n]; n++)
        kvs[n] = kv[n];
    kvs[n++] = "maxFileSize";
    kvs[n++] = "200";
    kvs[n] = NULL;
    struct flm_channel *ch = chan_new(root, kvs);
    for (int i = 0; i < 3; i++)
        assert_int_equal(put_range(ch, "same", 0, 2), FLM_OK); /* "same0", "same1" */
    chan_free(ch);
    /* Every file's key record carries its own nonce; within a file the same
     * event encrypts to different bytes (different counter blocks). */
    uint8_t nonces[16][FC_NONCE];
    size_t nn = 0;
    const char *sub[] = {"d1", "d2"};
    for (int i = 0; i < 2; i++) {
        char p[300];
        snprintf(p, sizeof(p), "%s/%s", root, sub[i]);
        DIR *d = opendir(p);
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strncmp(de->d_name, "log-", 4) != 0)
                continue;
            char f[600];
            snprintf(f, sizeof(f), "%s/%s", p, de->d_name);
            uint8_t buf[4096];
            int fd = open(f, O_RDONLY);
            ssize_t got = read(fd, buf, sizeof(buf));
            close(fd);
            struct fc_keyinfo ki;
            assert_int_equal(flm_fc_keyrec_parse(buf + FC_FILE_HDR, (size_t)got - FC_FILE_HDR,
                                                 &ki), FLM_OK);
            assert_string_equal(ki.alias, "k1");
            assert_true(nn < 16);
            memcpy(nonces[nn++], ki.nonce, FC_NONCE);
            /* walk the records: compare ciphertexts of the events */
            size_t off = FC_FILE_HDR + flm_fc_keyrec_size(&ki);
            while (off < (size_t)got) {
                struct fc_rec r;
                assert_int_equal(flm_fc_rec_parse(buf + off, (size_t)got - off, &r), FLM_OK);
                if (r.kind == FC_K_ENC && r.nput == 2) {
                    uint32_t l0 = fc_get32(r.events + 4);
                    assert_int_equal(l0, fc_get32(r.events + l0 + 4));
                    /* "same0" vs "same1" differ in one byte in clear; in
                     * ciphertext almost everything differs */
                    size_t diff = 0;
                    for (uint32_t k = 8; k < l0; k++)
                        diff += r.events[k] != r.events[l0 + k];
                    assert_true(diff > (l0 - 8) / 2);
                }
                off += r.total;
            }
        }
        closedir(d);
    }
    assert_true(nn >= 3);
    for (size_t i = 0; i < nn; i++)
        for (size_t j = i + 1; j < nn; j++)
            assert_memory_not_equal(nonces[i], nonces[j], FC_NONCE);
}

static void key_record_codec_round_trips_and_rejects_damage(void **state)
{
    (void)state;
    struct fc_keyinfo ki = {.keylen = 32}, out;
    for (unsigned i = 0; i < FC_NONCE; i++)
        ki.nonce[i] = (uint8_t)(i + 1);
    memcpy(ki.kcv, "KCVKCVKC", FC_KCV);
    snprintf(ki.alias, sizeof(ki.alias), "key-2026.a");
    uint8_t buf[256];
    size_t n = flm_fc_keyrec_size(&ki);
    assert_int_equal(n % 8, 0);
    flm_fc_keyrec_build(buf, &ki, 42);
    assert_int_equal(flm_fc_keyrec_parse(buf, n, &out), FLM_OK);
    assert_string_equal(out.alias, "key-2026.a");
    assert_memory_equal(out.nonce, ki.nonce, FC_NONCE);
    assert_memory_equal(out.kcv, ki.kcv, FC_KCV);
    assert_int_equal(out.keylen, 32);
    assert_int_equal(flm_fc_keyrec_parse(buf, n - 1, &out), FLM_EAGAIN);
    struct fc_rec r;
    assert_int_equal(flm_fc_rec_parse(buf, n, &r), FLM_OK);
    assert_int_equal(r.kind, FC_K_KEY);
    assert_true(r.noop);
    for (size_t i = 4; i < n; i++) { /* any flipped byte is caught */
        buf[i] ^= 1;
        assert_int_not_equal(flm_fc_keyrec_parse(buf, n, &out), FLM_OK);
        assert_int_not_equal(flm_fc_rec_parse(buf, n, &r), FLM_OK);
        buf[i] ^= 1;
    }
}

static void replay_refuses_mixed_record_kinds(void **state)
{
    (void)state;
    /* One put of a 16-byte event, sealed as FCE1. */
    uint8_t rec[64] = {0};
    size_t total = flm_fc_rec_size(0, 16);
    fc_put32(rec + FC_REC_HDR + 4, 16);
    fc_put32(rec + FC_REC_HDR, flm_fc_crc32c(0, rec + FC_REC_HDR + 4, 12));
    flm_fc_rec_seal(rec, total, 1, 0, 0, FC_ENC_MAGIC);
    struct fc_replay r;
    size_t used;
    assert_int_equal(flm_fc_replay_init(&r, NULL), FLM_OK);
    r.mode = 2;
    assert_int_equal(flm_fc_replay_buf(&r, 1, rec, total, 64, &used), FLM_OK);
    assert_int_equal(r.n, 1);
    r.mode = 1; /* an encrypted record in a plaintext file */
    assert_int_equal(flm_fc_replay_buf(&r, 1, rec, total, 64, &used), FLM_ECORRUPT);
    flm_fc_rec_seal(rec, total, 1, 0, 0, FC_REC_MAGIC);
    r.mode = 2; /* a plaintext put in an encrypted file */
    assert_int_equal(flm_fc_replay_buf(&r, 1, rec, total, 64, &used), FLM_ECORRUPT);
    flm_fc_replay_free(&r);
}

static void aes_ctr_matches_a_known_answer(void **state)
{
    /* NIST SP 800-38A F.5.1 (CTR-AES128.Encrypt), first block: the counter
     * block of file offset x is nonce || BE32(x / 16). */
    (void)state;
    struct fc_key k = {.len = 16};
    static const uint8_t key[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
                                    0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};
    memcpy(k.key, key, 16);
    static const uint8_t nonce[12] = {0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5,
                                      0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb};
    uint8_t buf[16] = {0x6b, 0xc1, 0xbe, 0xe2, 0x2e, 0x40, 0x9f, 0x96,
                       0xe9, 0x3d, 0x7e, 0x11, 0x73, 0x93, 0x17, 0x2a};
    static const uint8_t want[16] = {0x87, 0x4d, 0x61, 0x91, 0xb6, 0x20, 0xe3, 0x26,
                                     0x1b, 0xef, 0x68, 0x64, 0x99, 0x0d, 0xb6, 0xce};
    struct fc_cctx c = {0};
    assert_int_equal(flm_fc_ctr_xor(&c, &k, nonce, (uint64_t)0xfcfdfeffu << 4, buf, 16), FLM_OK);
    assert_memory_equal(buf, want, 16);
    /* Starting mid-block uses the same keystream bytes as a whole pass. */
    uint8_t a[40] = {0}, b[40] = {0};
    assert_int_equal(flm_fc_ctr_xor(&c, &k, nonce, 32, a, 40), FLM_OK);
    assert_int_equal(flm_fc_ctr_xor(&c, &k, nonce, 32 + 5, b + 5, 35), FLM_OK);
    assert_memory_equal(a + 5, b + 5, 35);
    flm_fc_cctx_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            encrypted_events_round_trip_across_restart_and_never_hit_disk_in_clear, setup,
            teardown),
        cmocka_unit_test_setup_teardown(without_encryption_the_body_is_on_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(key_rotation_keeps_older_data_readable, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_key_for_stored_data_refuses_start_naming_the_alias,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_key_under_the_same_alias_refuses_start, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(key_file_readable_by_others_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(key_file_errors_name_the_line_or_alias_and_never_the_key,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(activekey_without_keystorefile_is_a_config_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(integrity_tool_verifies_encrypted_files_without_keys,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            torn_tail_of_an_encrypted_log_is_truncated_and_the_rest_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(
            failed_write_continues_in_a_new_file_so_no_counter_is_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(
            equal_events_encrypt_differently_and_files_get_distinct_nonces, setup, teardown),
        cmocka_unit_test(key_record_codec_round_trips_and_rejects_damage),
        cmocka_unit_test(replay_refuses_mixed_record_kinds),
        cmocka_unit_test(aes_ctr_matches_a_known_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
