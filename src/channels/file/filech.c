/*
 * filech.c - the file channel (Flume's org.apache.flume.channel.file.FileChannel):
 * a durable queue whose committed puts survive a crash.  The on-disk format
 * is documented at the top of wal.c.
 *
 * Split: this file is the transaction path (queue, put/take/commit/rollback,
 * group commit) and the lifecycle; filech_store.c owns the files (create,
 * roll, replay at start, checkpoints, GC, locks); filech_int.h holds the
 * state both see.
 *
 * What it owns: the queue of event pointers (12 bytes per queued event; the
 * events themselves stay on disk and are read back at take), the open data
 * files and their reference counts, the group-commit buffers, the directory
 * locks and a checkpoint thread.
 *
 * Threads: source threads (put/commit), sink threads (take/commit), the
 * agent thread (init/destroy), the metrics thread (size) and this channel's
 * checkpoint thread.  One mutex `mu` guards everything below except the
 * leader-owned write position.  Nothing blocking on disk runs under `mu`
 * except the occasional statvfs and the in-memory checkpoint snapshot.
 *
 * Commit (group commit, STYLE.md 3.8): a committer encodes its whole
 * transaction as ONE record (takes + puts, CRC computed) without the lock,
 * then under the lock copies it into the filling group buffer and waits.
 * If no leader is writing, it becomes the leader: it swaps the buffers,
 * drops the lock, pwrites the group at the end of the current data file
 * (rolling to a new one past maxFileSize) and fdatasyncs once for every
 * commit in the group; then, under the lock, it applies the group's effects
 * in log order (puts appended to the queue, takes released) and wakes all
 * waiters.  A commit therefore returns only after its bytes are durable,
 * and the queue always equals "checkpoint + every record before the applied
 * position", which is what a checkpoint snapshots.
 *
 * Encryption (encryption.activeKey; format in wal.c, keys in crypt.c):
 * committers seal FCE1 records in clear; the leader, once it knows the file
 * (its nonce) and the offset, encrypts each record's events with one
 * keystream pass and recomputes the CRCs over the ciphertext; a take
 * checks the CRCs, then decrypts what it read with one pass per contiguous
 * span.  Keys are loaded at init and read-only afterwards.
 *
 * Invariants (under mu):
 *   count + inflight + reserved <= capacity is what a put waits for, where
 *   count = queued (committed) events, inflight = events taken by open
 *   transactions, reserved = events staged by puts not yet applied;
 *   rcap >= count + inflight + reserved (no allocation when applying or
 *   rolling back); file refs = queued + in-flight pointers into that file;
 *   the active list holds every transaction with takes (a checkpoint writes
 *   their takes first: they come back after a crash).
 */
#include "channels/file/filech_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- typed conf */

struct fc_conf {
    char *ckpt_dir;
    bool dual;
    char *backup_dir;
    bool compress_backup;
    char *data_dirs;
    int txcap;
    long long ckpt_interval;  /* ms */
    long long max_file_size;  /* bytes */
    long long min_space;      /* bytes */
    int capacity;
    int keep_alive;           /* s */
    bool replay_v1;
    bool fast_replay;
    bool ckpt_on_close;
    bool fsync_per_tx;
    int fsync_interval;       /* s */
    char *enc_active;         /* encryption.activeKey */
    int enc_cipher;           /* encryption.cipherProvider (AESCTRNOPADDING) */
    int enc_provider;         /* encryption.keyProvider (JCEKSFILE) */
    char *enc_keyfile;        /* encryption.keyProvider.keyStoreFile (flumen key file) */
    char *enc_keypass;        /* encryption.keyProvider.keyStorePasswordFile (ignored) */
    struct flm_strv enc_keys; /* encryption.keyProvider.keys */
    struct flm_kvs enc_keyopt; /* encryption.keyProvider.keys.<alias>.passwordFile (ignored) */
};

static const char *const fc_ciphers[] = {"AESCTRNOPADDING", NULL};
static const char *const fc_providers[] = {"JCEKSFILE", NULL};

static const struct flm_prop fc_props[] = {
    {.name = "checkpointDir", .type = FLM_P_STR, .off = FLM_OFF(struct fc_conf, ckpt_dir),
     .def = "~/.flume/file-channel/checkpoint",
     .doc = "Directory of the checkpoint (a leading ~/ is the user's home)."},
    {.name = "useDualCheckpoints", .type = FLM_P_BOOL, .off = FLM_OFF(struct fc_conf, dual),
     .def = "false", .doc = "Also write each checkpoint to backupCheckpointDir."},
    {.name = "backupCheckpointDir", .type = FLM_P_STR, .off = FLM_OFF(struct fc_conf, backup_dir),
     .doc = "Directory of the backup checkpoint; must differ from checkpointDir."},
    {.name = "compressBackupCheckpoint", .type = FLM_P_BOOL,
     .off = FLM_OFF(struct fc_conf, compress_backup), .def = "false", .flags = FLM_P_IGNORED,
     .doc = "Snappy-compress the backup checkpoint; the backup is stored uncompressed here."},
    {.name = "dataDirs", .type = FLM_P_STR, .off = FLM_OFF(struct fc_conf, data_dirs),
     .def = "~/.flume/file-channel/data",
     .doc = "Comma-separated data directories; new log files are spread over them round-robin."},
    {.name = "transactionCapacity", .type = FLM_P_INT, .off = FLM_OFF(struct fc_conf, txcap),
     .def = "10000", .flags = FLM_P_LENIENT, .min = 1, .max = INT_MAX,
     .doc = "Maximum events put, and taken, in one transaction; must not exceed capacity."},
    {.name = "checkpointInterval", .type = FLM_P_LONG,
     .off = FLM_OFF(struct fc_conf, ckpt_interval), .def = "30000", .flags = FLM_P_LENIENT,
     .min = 1, .max = LLONG_MAX, .doc = "Milliseconds between checkpoints."},
    {.name = "maxFileSize", .type = FLM_P_LONG, .off = FLM_OFF(struct fc_conf, max_file_size),
     .def = "2146435071", .flags = FLM_P_LENIENT, .min = 1, .max = LLONG_MAX,
     .doc = "Bytes after which a data file rolls (values above 2146435071 are clamped)."},
    {.name = "minimumRequiredSpace", .type = FLM_P_LONG,
     .off = FLM_OFF(struct fc_conf, min_space), .def = "524288000", .flags = FLM_P_LENIENT,
     .min = 0, .max = LLONG_MAX,
     .doc = "Free bytes a data directory must keep; below it puts fail with back-pressure "
            "(floor 1048576)."},
    {.name = "capacity", .type = FLM_P_INT, .off = FLM_OFF(struct fc_conf, capacity),
     .def = "1000000", .flags = FLM_P_LENIENT, .min = 1, .max = INT_MAX,
     .doc = "Maximum number of events stored."},
    {.name = "keep-alive", .type = FLM_P_INT, .off = FLM_OFF(struct fc_conf, keep_alive),
     .def = "3", .flags = FLM_P_LENIENT, .min = 0, .max = INT_MAX,
     .doc = "Seconds a put waits for free capacity and a take waits for an event."},
    {.name = "use-log-replay-v1", .type = FLM_P_BOOL, .off = FLM_OFF(struct fc_conf, replay_v1),
     .def = "false", .flags = FLM_P_IGNORED,
     .doc = "Expert: Flume's legacy replay; flumen has a single replay."},
    {.name = "use-fast-replay", .type = FLM_P_BOOL, .off = FLM_OFF(struct fc_conf, fast_replay),
     .def = "false", .flags = FLM_P_IGNORED,
     .doc = "Expert: Flume's replay without the checkpoint; flumen's replay is always fast."},
    {.name = "checkpointOnClose", .type = FLM_P_BOOL,
     .off = FLM_OFF(struct fc_conf, ckpt_on_close), .def = "true",
     .doc = "Write a checkpoint when the channel closes (faster restart)."},
    {.name = "fsyncPerTransaction", .type = FLM_P_BOOL,
     .off = FLM_OFF(struct fc_conf, fsync_per_tx), .def = "true",
     .doc = "fdatasync before a commit returns; false syncs every fsyncInterval only "
            "(a crash may lose acknowledged events)."},
    {.name = "fsyncInterval", .type = FLM_P_INT, .off = FLM_OFF(struct fc_conf, fsync_interval),
     .def = "5", .flags = FLM_P_LENIENT, .min = 1, .max = INT_MAX,
     .doc = "Seconds between syncs when fsyncPerTransaction is false."},
    {.name = "encryption.activeKey", .type = FLM_P_STR,
     .off = FLM_OFF(struct fc_conf, enc_active),
     .doc = "Alias of the key that encrypts new data (AES-CTR); unset = new data is not "
            "encrypted."},
    {.name = "encryption.cipherProvider", .type = FLM_P_ENUM,
     .off = FLM_OFF(struct fc_conf, enc_cipher), .choices = fc_ciphers,
     .doc = "Cipher: AESCTRNOPADDING (AES-128/256-CTR by key length, via OpenSSL)."},
    {.name = "encryption.keyProvider", .type = FLM_P_ENUM,
     .off = FLM_OFF(struct fc_conf, enc_provider), .choices = fc_providers,
     .doc = "Key provider: JCEKSFILE (here a flumen key file, see keyStoreFile)."},
    {.name = "encryption.keyProvider.keyStoreFile", .type = FLM_P_STR,
     .off = FLM_OFF(struct fc_conf, enc_keyfile),
     .doc = "Key file: lines `alias = key` (32/64 hex digits or base64 of 16/32 bytes); must "
            "not be group/world accessible (Java keystores are not read)."},
    {.name = "encryption.keyProvider.keyStorePasswordFile", .type = FLM_P_STR,
     .off = FLM_OFF(struct fc_conf, enc_keypass), .flags = FLM_P_IGNORED,
     .doc = "Keystore password file; the key file is protected by its permissions instead."},
    {.name = "encryption.keyProvider.keys", .type = FLM_P_LIST,
     .off = FLM_OFF(struct fc_conf, enc_keys),
     .doc = "Space-separated aliases of every key still needed to read stored data (old keys "
            "after a rotation)."},
    {.name = "encryption.keyProvider.keys.", .type = FLM_P_PREFIX,
     .off = FLM_OFF(struct fc_conf, enc_keyopt),
     .doc = "<alias>.passwordFile: per-key password file; accepted and ignored (warning)."},
    FLM_PROPS_END,
};


static const struct flm_ctr_extra fc_extra[] = {
    {"Open", true},
    {"Closed", false},
    {"Unhealthy", false},
    {"EventPutErrorCount", false},
    {"EventTakeErrorCount", false},
    {"CheckpointWriteErrorCount", false},
    {"CheckpointBackupWriteErrorCount", false},
    {NULL, false},
};

/* ---------------------------------------------------------------- helpers */

/* snprintf into a message buffer; truncation of a long path is fine. */
static void msgf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void msgf(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

int flm_fc_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return FLM_OK;
    size_t n = *cap ? *cap : 64;
    while (n < need) {
        if (n > SIZE_MAX / 4 / elem)
            return FLM_ENOMEM;
        n *= 2;
    }
    void *q = realloc(*p, n * elem);
    if (q == NULL)
        return FLM_ENOMEM;
    *p = q;
    *cap = n;
    return FLM_OK;
}

static int grow32(void **p, uint32_t *cap, size_t need, size_t elem)
{
    size_t c = *cap;
    if (need > UINT32_MAX)
        return FLM_ENOMEM;
    int rc = flm_fc_grow(p, &c, need, elem);
    *cap = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
    return rc;
}

/* ------------------------------------------------------------ ring buffer */

int flm_fc_ring_reserve(struct fc_chan *fc, size_t need)
{
    if (need <= fc->rcap)
        return FLM_OK;
    /* Grow by half (not doubling): the ring is the only memory that scales
     * with queue depth, so keep its slack small. */
    size_t ncap = fc->rcap + fc->rcap / 2;
    if (ncap < need)
        ncap = need;
    if (ncap < 1024)
        ncap = 1024;
    if (ncap > SIZE_MAX / 2 / sizeof(struct fc_ptr))
        return FLM_ENOMEM;
    struct fc_ptr *n = malloc(ncap * sizeof(*n));
    if (n == NULL)
        return FLM_ENOMEM;
    size_t first = fc->rcap - fc->head;
    if (first > fc->count)
        first = fc->count;
    if (fc->count) {
        memcpy(n, fc->ring + fc->head, first * sizeof(*n));
        memcpy(n + first, fc->ring, (fc->count - first) * sizeof(*n));
    }
    free(fc->ring);
    fc->ring = n;
    fc->rcap = ncap;
    fc->head = 0;
    return FLM_OK;
}

static void ring_push_tail(struct fc_chan *fc, const struct fc_ptr *p)
{
    size_t i = fc->head + fc->count;
    if (i >= fc->rcap)
        i -= fc->rcap;
    fc->ring[i] = *p;
    fc->count++;
}

static void ring_pop_head(struct fc_chan *fc, struct fc_ptr *out, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        out[i] = fc->ring[fc->head];
        if (++fc->head == fc->rcap)
            fc->head = 0;
    }
    fc->count -= k;
}

static void ring_push_head(struct fc_chan *fc, const struct fc_ptr *p, size_t k)
{
    for (size_t i = k; i-- > 0;) {
        fc->head = fc->head ? fc->head - 1 : fc->rcap - 1;
        fc->ring[fc->head] = p[i];
    }
    fc->count += k;
}

static void active_link(struct fc_chan *fc, struct fc_txn *tx)
{
    if (tx->in_active)
        return;
    tx->aprev = NULL;
    tx->anext = fc->active;
    if (fc->active)
        fc->active->aprev = tx;
    fc->active = tx;
    tx->in_active = true;
}

static void active_unlink(struct fc_chan *fc, struct fc_txn *tx)
{
    if (!tx->in_active)
        return;
    if (tx->aprev)
        tx->aprev->anext = tx->anext;
    else
        fc->active = tx->anext;
    if (tx->anext)
        tx->anext->aprev = tx->aprev;
    tx->anext = tx->aprev = NULL;
    tx->in_active = false;
}

/* ---------------------------------------------------------------- waiting */

/* Waits on cv (mu held) until signalled or the keep-alive deadline (fixed at
 * the first call).  false: give up (no keep-alive, shutting down, timeout). */
static bool wait_keepalive(struct fc_chan *fc, pthread_cond_t *cv, struct timespec *dl, bool *set)
{
    if (atomic_load_explicit(&fc->ch->nowait, memory_order_relaxed) || fc->keep_alive_ms <= 0)
        return false;
    if (!*set) {
        clock_gettime(CLOCK_MONOTONIC, dl);
        dl->tv_sec += fc->keep_alive_ms / 1000;
        dl->tv_nsec += (fc->keep_alive_ms % 1000) * 1000000L;
        if (dl->tv_nsec >= 1000000000L) {
            dl->tv_sec++;
            dl->tv_nsec -= 1000000000L;
        }
        *set = true;
    }
    int rc = pthread_cond_timedwait(cv, &fc->mu, dl);
    if (atomic_load_explicit(&fc->ch->nowait, memory_order_relaxed))
        return false;
    return rc != ETIMEDOUT;
}

/* ------------------------------------------------------------ free space */

/* Free bytes on the fullest data dir, cached for 1 s (re-read on every call
 * while low, so puts resume as soon as space returns) minus what was
 * written since.  mu held. */
static uint64_t space_avail(struct fc_chan *fc)
{
    uint64_t now = flm_mono_ms();
    if (fc->free_at_ms == 0 || now - fc->free_at_ms >= 1000 || fc->space_low ||
        fc->written_since > fc->free_bytes / 4) {
        uint64_t minfree = UINT64_MAX;
        for (size_t i = 0; i < fc->ndirs; i++) {
            struct statvfs st;
            if (flm_fc_fs()->statvfs(fc->dirs[i], &st) != 0)
                continue; /* unknown: the write itself will report a real ENOSPC */
            uint64_t f = (uint64_t)st.f_bavail * (uint64_t)st.f_frsize;
            if (f < minfree)
                minfree = f;
        }
        fc->free_bytes = minfree;
        fc->free_at_ms = now ? now : 1;
        fc->written_since = 0;
    }
    return fc->free_bytes > fc->written_since ? fc->free_bytes - fc->written_since : 0;
}

/* ----------------------------------------------------------- group commit */

/* Called by the leader with mu held after its group is durable: applies the
 * group's effects in log order and completes its transactions. */
static void group_apply(struct fc_chan *fc, struct fc_group *g, uint32_t fid, uint64_t base)
{
    struct fc_file *f = flm_fc_file_find(fc, fid);
    for (size_t i = 0; i < g->np; i++) {
        struct fc_ptr p = g->puts[i];
        p.fid = fid;
        p.off = (uint32_t)(base + p.off);
        ring_push_tail(fc, &p);
    }
    if (f != NULL)
        f->refs += g->np;
    for (size_t i = 0; i < g->nt; i++) {
        struct fc_txn *tx = g->txns[i];
        for (uint32_t k = 0; k < tx->nt; k++) {
            struct fc_file *tf = flm_fc_file_find(fc, tx->takes[k].fid);
            if (tf != NULL && tf->refs > 0)
                tf->refs--;
        }
        fc->inflight -= tx->nt;
        fc->reserved -= tx->np;
        active_unlink(fc, tx);
        tx->rc = FLM_OK;
        tx->done = true;
    }
    fc->applied_fid = fid;
    fc->applied_off = base + g->len;
    fc->written_since += g->len;
    if (g->np)
        pthread_cond_broadcast(&fc->not_empty);
    pthread_cond_broadcast(&fc->space);
}

/* Leader, mu NOT held: encrypts the events of every record of group g,
 * which goes to the current file at offset base (its nonce + the offsets
 * give the counter blocks).  FLM_OK or FLM_ERR. */
static int encrypt_group(struct fc_chan *fc, struct fc_group *g, uint64_t base)
{
    const struct fc_key *k = &fc->keys.v[fc->keys.active];
    pthread_mutex_lock(&fc->mu);
    struct fc_file *f = flm_fc_file_find(fc, fc->cur_fid);
    uint8_t nonce[FC_NONCE];
    bool ok = f != NULL && f->key == fc->keys.active;
    if (ok)
        memcpy(nonce, f->nonce, FC_NONCE);
    pthread_mutex_unlock(&fc->mu);
    if (!ok)
        return FLM_ERR;
    size_t pi = 0; /* g->puts are the group's events in order */
    for (size_t at = 0; at < g->len;) {
        uint8_t *rec = g->buf + at;
        uint32_t nput = fc_get32(rec + 12);
        if (fc_get32(rec) == FC_ENC_MAGIC) {
            if (pi + nput > g->np ||
                flm_fc_rec_encrypt(&fc->wctx, k, nonce, rec, base + at, g->puts + pi) != FLM_OK)
                return FLM_ERR;
        }
        pi += nput;
        at += fc_get32(rec + 8);
    }
    return FLM_OK;
}

/* The leader's turn (mu held on entry and exit): writes and syncs the
 * filling group, then applies or fails it.  Other committers keep filling
 * the other buffer meanwhile. */
static void group_lead(struct fc_chan *fc)
{
    const struct flm_fs_ops *fs = flm_fc_fs();
    struct fc_group *g = &fc->grp[fc->filling];
    fc->filling ^= 1;
    fc->leader = true;
    bool roll = fc->force_roll ||
                (fc->cur_off > FC_FILE_HDR && fc->cur_off + g->len > fc->max_file_size);
    pthread_mutex_unlock(&fc->mu);

    int rc = FLM_OK, sys = 0;
    bool broke = false, must_roll = false;
    const char *what = "";
    if (roll && flm_fc_file_roll(fc) != FLM_OK) {
        rc = FLM_EIO, sys = errno, what = "creating a new data file";
    }
    uint64_t base = fc->cur_off;
    int fd = fc->cur_fd;
    if (rc == FLM_OK && fc->keys.active >= 0 && encrypt_group(fc, g, base) != FLM_OK) {
        rc = FLM_ERR, sys = 0, what = "encrypting for";
    } else if (rc == FLM_OK && flm_fc_pwrite_all(fd, g->buf, g->len, base) != 0) {
        rc = FLM_EIO, sys = errno, what = "writing";
        /* Cut what may have been written so nothing follows a hole. */
        if (fs->ftruncate(fd, (off_t)base) != 0)
            broke = true;
        /* Encrypted: never write other bytes under the same counter blocks
         * (they may have reached the disk): continue in a new file. */
        if (fc->keys.active >= 0)
            must_roll = true;
    } else if (rc == FLM_OK && fc->fsync_per_tx && fs->fdatasync(fd) != 0) {
        rc = FLM_EIO, sys = errno, what = "syncing";
        /* After a failed fdatasync the page state is unknown: drop the group
         * from the file and continue in a new one.  If even that fails the
         * log is unsafe to extend: refuse commits until restart (replay then
         * treats the unsynced bytes as a torn tail). */
        if (fs->ftruncate(fd, (off_t)base) != 0 || fs->fdatasync(fd) != 0)
            broke = true;
        must_roll = true;
    }
    if (rc == FLM_OK)
        fc->cur_off = base + g->len;

    pthread_mutex_lock(&fc->mu);
    fc->ngroups++;
    fc->ncommits += g->nt;
    fc->last_had_puts = g->np > 0;
    if (broke)
        fc->broken = true;
    if (must_roll)
        fc->force_roll = true;
    size_t nt = g->nt;
    uint32_t fid = fc->cur_fid;
    if (rc == FLM_OK) {
        group_apply(fc, g, fc->cur_fid, base);
        if (!fc->space_low && !fc->broken)
            atomic_store(&fc->unhealthy, false);
    } else {
        for (size_t i = 0; i < g->nt; i++) {
            g->txns[i]->rc = rc;
            g->txns[i]->done = true;
        }
        atomic_store(&fc->unhealthy, true);
    }
    g->len = g->np = g->nt = 0;
    fc->leader = false;
    pthread_cond_broadcast(&fc->synced);
    if (rc != FLM_OK) {
        /* Log without the lock; the waiters are already released. */
        pthread_mutex_unlock(&fc->mu);
        flm_log_limited(FLM_LOG_ERROR, &fc->ch->c.log, sys,
                        "commit of %zu transaction(s) failed while %s data file log-%" PRIu32
                        " at offset %" PRIu64 "%s",
                        nt, what, fid, base,
                        broke ? "; the log can no longer be appended safely, restart the agent "
                                "after fixing the disk"
                              : "");
        pthread_mutex_lock(&fc->mu);
    }
}

/* Whether a second committer is probably about to join the filling group
 * (mu held): it holds only take commits while the previous group carried
 * puts (a source is active), or only put commits while other transactions
 * hold takes (a sink is active).  One fdatasync then covers both instead of
 * two alternating ones: a source and a sink waking together after a sync
 * otherwise leave as [take][put][take]... groups. */
static bool commit_partner_likely(struct fc_chan *fc, const struct fc_group *g)
{
    if (g->nt != 1 || !fc->fsync_per_tx)
        return false;
    const struct fc_txn *only = g->txns[0];
    if (only->np == 0)
        return fc->last_had_puts;
    for (const struct fc_txn *t = fc->active; t != NULL; t = t->anext)
        if (t != only)
            return true;
    return false;
}

#define FC_COMMIT_DELAY_US 200
/* A group holds at most this many bytes unless it is one transaction; with
 * maxFileSize <= 2146435071 every record then ends below 4 GiB. */
#define FC_GROUP_MAX (256u << 20)

/* Waits (mu held) up to FC_COMMIT_DELAY_US for another committer to join;
 * bounded, and far below one fdatasync on any disk worth syncing to. */
static void commit_delay(struct fc_chan *fc)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += FC_COMMIT_DELAY_US * 1000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    fc->delaying = true;
    fc->ndelays++;
    pthread_cond_timedwait(&fc->joined, &fc->mu, &ts);
    fc->delaying = false;
}

/* ------------------------------------------------------------ transactions */

static int fc_begin(struct flm_channel *ch, struct flm_txn **out)
{
    struct fc_txn *tx = calloc(1, sizeof(*tx));
    if (tx == NULL)
        return FLM_ENOMEM;
    tx->fc = fc_of(ch);
    tx->base.ch = ch;
    *out = &tx->base;
    return FLM_OK;
}

static void chan_tag(const struct fc_chan *fc, char *buf, size_t cap)
{
    snprintf(buf, cap, "[channel=%s]", fc->ch->c.name);
}

/* Stages n events.  Takes all on FLM_OK, none otherwise: FLM_EFULL when the
 * put list is full, free space is below minimumRequiredSpace, or no
 * capacity frees up within keep-alive (Flume's texts in errmsg); FLM_EIO
 * when the log is broken; FLM_ENOMEM.  May wait up to keep-alive. */
static int fc_put(struct flm_txn *t, struct flm_event *const *evs, size_t n)
{
    struct fc_txn *tx = (struct fc_txn *)t;
    struct fc_chan *fc = tx->fc;
    char tag[96];
    chan_tag(fc, tag, sizeof(tag));
    if (n > (size_t)(fc->txcap - tx->np)) {
        msgf(t->errmsg, sizeof(t->errmsg),
                 "Put queue for FileBackedTransaction of capacity %u full, consider committing "
                 "more frequently, increasing capacity or increasing thread count. %s",
                 (unsigned)fc->txcap, tag);
        return FLM_EFULL;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        size_t s = flm_fc_event_size(evs[i]);
        if (s == 0 || flm_size_add(bytes, s, &bytes)) {
            msgf(t->errmsg, sizeof(t->errmsg), "Event too large for the file channel %s", tag);
            return FLM_ERR;
        }
    }
    if (flm_fc_rec_size(tx->nt, tx->put_bytes + bytes) == 0 ||
        flm_fc_rec_size(tx->nt, tx->put_bytes + bytes) > fc->max_file_size + (1u << 20)) {
        msgf(t->errmsg, sizeof(t->errmsg),
                 "Transaction too large for maxFileSize (%" PRIu64 " bytes) %s", fc->max_file_size,
                 tag);
        return FLM_EFULL;
    }
    if (grow32((void **)&tx->puts, &tx->putcap, (size_t)tx->np + n, sizeof(*tx->puts)) != FLM_OK)
        return FLM_ENOMEM;

    pthread_mutex_lock(&fc->mu);
    if (fc->broken) {
        pthread_mutex_unlock(&fc->mu);
        msgf(t->errmsg, sizeof(t->errmsg),
                 "Log is unwritable after an I/O error; restart the agent %s", tag);
        return FLM_EIO;
    }
    uint64_t avail = space_avail(fc);
    if (avail < fc->min_space) {
        bool was = fc->space_low;
        fc->space_low = true;
        pthread_mutex_unlock(&fc->mu);
        atomic_store(&fc->unhealthy, true);
        if (!was)
            flm_warn(&fc->ch->c.log,
                     "free space %" PRIu64 " bytes is below minimumRequiredSpace %" PRIu64
                     ": refusing puts until space returns",
                     avail, fc->min_space);
        msgf(t->errmsg, sizeof(t->errmsg),
                 "Usable space exhausted, only %" PRIu64 " bytes remaining, required %" PRIu64
                 " bytes %s",
                 avail, fc->min_space, tag);
        return FLM_EFULL;
    }
    if (fc->space_low) {
        fc->space_low = false;
        atomic_store(&fc->unhealthy, fc->broken);
        flm_info(&fc->ch->c.log, "free space is back above minimumRequiredSpace: accepting puts");
    }
    struct timespec dl;
    bool set = false;
    while (fc->count + fc->inflight + fc->reserved + n > fc->capacity)
        if (!wait_keepalive(fc, &fc->space, &dl, &set))
            break;
    if (fc->count + fc->inflight + fc->reserved + n > fc->capacity) {
        pthread_mutex_unlock(&fc->mu);
        msgf(t->errmsg, sizeof(t->errmsg),
                 "The channel has reached it's capacity. This might be the result of a sink on "
                 "the channel having too low of batch size, a downstream system running slower "
                 "than normal, or that the channel capacity is just too low. %s",
                 tag);
        return FLM_EFULL;
    }
    fc->reserved += n;
    pthread_mutex_unlock(&fc->mu);

    memcpy(tx->puts + tx->np, evs, n * sizeof(*evs));
    tx->np += (uint32_t)n;
    tx->put_bytes += bytes;
    return FLM_OK;
}

/* Reads the events of takes[0..k) from the data files into evs.  FLM_OK,
 * FLM_EIO or FLM_ECORRUPT (errmsg names file and offset), FLM_ENOMEM.
 * Consecutive pointers into one file are read with one pread. */
static int read_events(struct fc_txn *tx, const struct fc_ptr *p, size_t k, struct flm_event **evs)
{
    struct fc_chan *fc = tx->fc;
    size_t i = 0, made = 0;
    int rc = FLM_OK;
    while (i < k) {
        size_t j = i + 1;
        uint64_t span = p[i].len;
        while (j < k && p[j].fid == p[i].fid && p[j].off == p[j - 1].off + p[j - 1].len &&
               span + p[j].len <= (4u << 20)) {
            span += p[j].len;
            j++;
        }
        if (flm_fc_grow((void **)&tx->rbuf, &tx->rcap, (size_t)span, 1) != FLM_OK) {
            rc = FLM_ENOMEM;
            break;
        }
        pthread_mutex_lock(&fc->mu);
        struct fc_file *f = flm_fc_file_find(fc, p[i].fid);
        int fd = f ? f->fd : -1;
        unsigned dir = f ? f->dir : 0;
        int key = f ? f->key : -1;
        uint8_t nonce[FC_NONCE];
        if (key >= 0)
            memcpy(nonce, f->nonce, FC_NONCE);
        pthread_mutex_unlock(&fc->mu);
        char path[PATH_MAX];
        flm_fc_file_path(fc, dir, p[i].fid, path, sizeof(path));
        ssize_t got = fd < 0 ? -1 : flm_fc_pread_all(fd, tx->rbuf, (size_t)span, p[i].off);
        if (got != (ssize_t)span) {
            int e = got < 0 ? errno : 0;
            msgf(tx->base.errmsg, sizeof(tx->base.errmsg),
                     "cannot read event from %s at offset %" PRIu32 " (%s)", path, p[i].off,
                     fd < 0 ? "file missing" : got < 0 ? strerror(e) : "short read");
            rc = FLM_EIO;
            break;
        }
        if (key >= 0) {
            /* Encrypted file: check every CRC (over the ciphertext), then
             * decrypt the contiguous span with one keystream pass and put
             * each event's clear length word back. */
            size_t at = 0;
            for (size_t m = i; m < j && rc == FLM_OK; m++) {
                if (!flm_fc_event_crc_ok(tx->rbuf + at, p[m].len)) {
                    msgf(tx->base.errmsg, sizeof(tx->base.errmsg),
                         "corrupt event in %s at offset %" PRIu32
                         " (checksum mismatch); run flumen tools fcintegrity",
                         path, p[m].off);
                    rc = FLM_ECORRUPT;
                }
                at += p[m].len;
            }
            if (rc == FLM_OK && flm_fc_ctr_xor(&tx->rctx, &fc->keys.v[key], nonce, p[i].off,
                                               tx->rbuf, (size_t)span) != FLM_OK) {
                msgf(tx->base.errmsg, sizeof(tx->base.errmsg),
                     "cannot decrypt events in %s at offset %" PRIu32 " (OpenSSL error)", path,
                     p[i].off);
                rc = FLM_ERR;
            }
            if (rc != FLM_OK)
                break;
            at = 0;
            for (size_t m = i; m < j; m++) {
                fc_put32(tx->rbuf + at + 4, p[m].len);
                at += p[m].len;
            }
        }
        size_t at = 0;
        for (size_t m = i; m < j; m++) {
            int r;
            uint8_t *e = tx->rbuf + at;
            if (key < 0) {
                r = flm_fc_event_decode(e, p[m].len, &evs[made]);
            } else if ((r = flm_fc_event_decode_nocrc(e, p[m].len, &evs[made])) == FLM_ECORRUPT) {
                msgf(tx->base.errmsg, sizeof(tx->base.errmsg),
                     "event in %s at offset %" PRIu32 " does not decrypt to a valid event with "
                     "key '%s' (checksum is fine: wrong key?)",
                     path, p[m].off, fc->keys.v[key].alias);
                rc = r;
                break;
            }
            if (r != FLM_OK) {
                if (r == FLM_ECORRUPT)
                    msgf(tx->base.errmsg, sizeof(tx->base.errmsg),
                             "corrupt event in %s at offset %" PRIu32
                             " (checksum mismatch); run flumen tools fcintegrity",
                             path, p[m].off);
                rc = r;
                break;
            }
            made++;
            at += p[m].len;
        }
        if (rc != FLM_OK)
            break;
        i = j;
    }
    if (rc != FLM_OK)
        for (size_t m = 0; m < made; m++)
            flm_event_free(evs[m]);
    return rc;
}

/* Moves up to max queued events into the transaction (reading them from
 * disk).  Waits up to keep-alive while the queue is empty (not when
 * nowait).  FLM_EFULL when the take list is full; FLM_EIO/FLM_ECORRUPT when
 * an event cannot be read (it stays at the head; errmsg says where). */
static int fc_take(struct flm_txn *t, struct flm_event **evs, size_t max, size_t *n)
{
    struct fc_txn *tx = (struct fc_txn *)t;
    struct fc_chan *fc = tx->fc;
    *n = 0;
    if (max == 0)
        return FLM_OK;
    size_t room = fc->txcap - tx->nt;
    if (room == 0) {
        char tag[96];
        chan_tag(fc, tag, sizeof(tag));
        msgf(t->errmsg, sizeof(t->errmsg),
                 "Take list for FileBackedTransaction, capacity %u full, consider committing "
                 "more frequently, increasing capacity, or increasing thread count. %s",
                 (unsigned)fc->txcap, tag);
        return FLM_EFULL;
    }
    if (max > room)
        max = room;
    pthread_mutex_lock(&fc->mu);
    /* Grown under mu: a checkpoint snapshot reads tx->takes. */
    if (grow32((void **)&tx->takes, &tx->takecap, (size_t)tx->nt + max, sizeof(*tx->takes)) !=
        FLM_OK) {
        pthread_mutex_unlock(&fc->mu);
        return FLM_ENOMEM;
    }
    struct timespec dl;
    bool set = false;
    while (fc->count == 0)
        if (!wait_keepalive(fc, &fc->not_empty, &dl, &set))
            break;
    size_t k = fc->count < max ? fc->count : max;
    uint32_t at = tx->nt;
    if (k) {
        ring_pop_head(fc, tx->takes + at, k);
        fc->inflight += k;
        tx->nt += (uint32_t)k;
        active_link(fc, tx);
    }
    pthread_mutex_unlock(&fc->mu);
    if (k == 0)
        return FLM_OK;

    int rc = read_events(tx, tx->takes + at, k, evs);
    if (rc != FLM_OK) {
        pthread_mutex_lock(&fc->mu);
        ring_push_head(fc, tx->takes + at, k);
        fc->inflight -= k;
        tx->nt = at;
        if (tx->nt == 0)
            active_unlink(fc, tx);
        pthread_cond_signal(&fc->not_empty);
        pthread_mutex_unlock(&fc->mu);
        flm_ctr_add(&fc->ch->c.ctr, X_TAKE_ERR, 1);
        atomic_store(&fc->unhealthy, true);
        flm_log_limited(FLM_LOG_ERROR, &fc->ch->c.log, 0, "take failed: %s", t->errmsg);
        return rc;
    }
    *n = k;
    return FLM_OK;
}

/* Encodes the transaction as one record in tx->wbuf.  FLM_OK, FLM_ENOMEM,
 * FLM_ERR (too large). */
static int encode_record(struct fc_txn *tx, size_t *total)
{
    size_t sz = flm_fc_rec_size(tx->nt, tx->put_bytes);
    if (sz == 0)
        return FLM_ERR;
    if (flm_fc_grow((void **)&tx->wbuf, &tx->wcap, sz, 1) != FLM_OK)
        return FLM_ENOMEM;
    size_t pc = 0;
    if (tx->np && flm_fc_grow((void **)&tx->poff, &pc, tx->np, sizeof(*tx->poff)) != FLM_OK)
        return FLM_ENOMEM;
    uint8_t *p = tx->wbuf + FC_REC_HDR;
    for (uint32_t i = 0; i < tx->nt; i++) {
        fc_put32(p, tx->takes[i].fid);
        fc_put32(p + 4, tx->takes[i].off);
        p += FC_TAKE_SIZE;
    }
    for (uint32_t i = 0; i < tx->np; i++) {
        tx->poff[i] = (uint32_t)(p - tx->wbuf);
        flm_fc_event_encode(tx->puts[i], p);
        p += flm_fc_event_size(tx->puts[i]);
    }
    memset(p, 0, (size_t)(tx->wbuf + sz - p));
    /* With an active key the record is FCE1: the leader encrypts its events
     * once it knows the file and offset (the counter blocks derive from them). */
    flm_fc_rec_seal(tx->wbuf, sz, tx->np, tx->nt, flm_now_ms(),
                    tx->fc->keys.active >= 0 && tx->np > 0 ? FC_ENC_MAGIC : FC_REC_MAGIC);
    *total = sz;
    return FLM_OK;
}

/* Makes the transaction durable (see the file comment).  Returns only once
 * its record is synced (or failed).  FLM_OK: puts are queued and the
 * channel freed them; takes are permanent.  FLM_EIO (errmsg set): nothing
 * happened; the caller rolls back.  FLM_ENOMEM / FLM_ERR likewise. */
static int fc_commit(struct flm_txn *t)
{
    struct fc_txn *tx = (struct fc_txn *)t;
    struct fc_chan *fc = tx->fc;
    if (tx->np == 0 && tx->nt == 0)
        return FLM_OK;
    size_t total;
    int rc = encode_record(tx, &total);
    if (rc != FLM_OK) {
        msgf(t->errmsg, sizeof(t->errmsg), "cannot encode the transaction (%s)",
                 flm_strerror(rc));
        return rc;
    }
    pthread_mutex_lock(&fc->mu);
    struct fc_group *g = &fc->grp[fc->filling];
    /* Bound a group so file offsets stay within 32 bits (see group_lead):
     * a big transaction waits for the filling group to go out first. */
    while (!fc->broken && g->len > 0 && g->len + total > FC_GROUP_MAX) {
        if (!fc->leader)
            group_lead(fc);
        else
            pthread_cond_wait(&fc->synced, &fc->mu);
        g = &fc->grp[fc->filling];
    }
    if (fc->broken) {
        rc = FLM_EIO;
    } else if (flm_fc_ring_reserve(fc, fc->count + fc->inflight + fc->reserved) != FLM_OK ||
               flm_fc_grow((void **)&g->buf, &g->cap, g->len + total, 1) != FLM_OK ||
               flm_fc_grow((void **)&g->puts, &g->pcap, g->np + tx->np, sizeof(*g->puts)) != FLM_OK ||
               flm_fc_grow((void **)&g->txns, &g->tcap, g->nt + 1, sizeof(*g->txns)) != FLM_OK) {
        rc = FLM_ENOMEM;
    }
    if (rc == FLM_OK) {
        memcpy(g->buf + g->len, tx->wbuf, total);
        for (uint32_t i = 0; i < tx->np; i++)
            g->puts[g->np++] = (struct fc_ptr){
                0, (uint32_t)(g->len + tx->poff[i]),
                (uint32_t)flm_fc_event_size(tx->puts[i])};
        g->len += total;
        g->txns[g->nt++] = tx;
        tx->done = false;
        if (fc->delaying)
            pthread_cond_signal(&fc->joined);
        bool delayed = false;
        while (!tx->done) {
            if (fc->leader) {
                pthread_cond_wait(&fc->synced, &fc->mu);
            } else if (!delayed && commit_partner_likely(fc, g)) {
                commit_delay(fc);
                delayed = true;
            } else {
                group_lead(fc);
            }
        }
        rc = tx->rc;
    }
    pthread_mutex_unlock(&fc->mu);
    if (rc != FLM_OK) {
        if (tx->np)
            flm_ctr_add(&fc->ch->c.ctr, X_PUT_ERR, 1);
        if (tx->nt)
            flm_ctr_add(&fc->ch->c.ctr, X_TAKE_ERR, 1);
        if (t->errmsg[0] == '\0' || rc == FLM_EIO)
            msgf(t->errmsg, sizeof(t->errmsg),
                     "Failed to commit transaction: %s [channel=%s]",
                     fc->broken ? "log unwritable after an I/O error" : "I/O error on the data file",
                     fc->ch->c.name);
        return rc;
    }
    for (uint32_t i = 0; i < tx->np; i++)
        flm_event_free(tx->puts[i]);
    tx->np = tx->nt = 0;
    tx->put_bytes = 0;
    return FLM_OK;
}

/* Returns takes to the head in their original order and discards staged
 * puts.  Never fails; never waits on disk. */
static void fc_rollback(struct flm_txn *t)
{
    struct fc_txn *tx = (struct fc_txn *)t;
    struct fc_chan *fc = tx->fc;
    pthread_mutex_lock(&fc->mu);
    if (tx->nt) {
        ring_push_head(fc, tx->takes, tx->nt); /* rcap >= count + inflight */
        fc->inflight -= tx->nt;
        pthread_cond_broadcast(&fc->not_empty);
    }
    active_unlink(fc, tx);
    if (tx->np) {
        fc->reserved -= tx->np;
        pthread_cond_broadcast(&fc->space);
    }
    pthread_mutex_unlock(&fc->mu);
    for (uint32_t i = 0; i < tx->np; i++)
        flm_event_free(tx->puts[i]);
    tx->np = tx->nt = 0;
    tx->put_bytes = 0;
}

static void fc_end(struct flm_txn *t)
{
    struct fc_txn *tx = (struct fc_txn *)t;
    if (tx->np || tx->nt || tx->in_active)
        fc_rollback(t);
    free(tx->puts);
    free(tx->takes);
    free(tx->poff);
    free(tx->wbuf);
    free(tx->rbuf);
    flm_fc_cctx_free(&tx->rctx);
    free(tx);
}

/* ------------------------------------------------------------- lifecycle */

static void fc_destroy(struct flm_channel *ch);

/* Opens the channel: locks its directories, replays, starts the checkpoint
 * thread.  FLM_OK, or an error with err naming the directory/file
 * (FLM_ECORRUPT: a corrupt record in the middle of the log).  Agent thread. */
static int fc_init(struct flm_channel *ch, struct flm_err *err)
{
    const struct fc_conf *cf = ch->c.conf;
    struct fc_chan *fc = calloc(1, sizeof(*fc));
    if (fc == NULL)
        return flm_err_set(err, FLM_ENOMEM, "file channel: out of memory");
    fc->ch = ch;
    fc->cur_fd = -1;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&fc->mu, NULL);
    pthread_cond_init(&fc->not_empty, &ca);
    pthread_cond_init(&fc->space, &ca);
    pthread_cond_init(&fc->synced, &ca);
    pthread_cond_init(&fc->tick, &ca);
    pthread_cond_init(&fc->joined, &ca);
    pthread_condattr_destroy(&ca);
    ch->c.ctx = fc;

    fc->capacity = (size_t)cf->capacity;
    fc->txcap = (uint32_t)cf->txcap;
    fc->keep_alive_ms = (long)cf->keep_alive * 1000L;
    fc->max_file_size = (uint64_t)(cf->max_file_size > FC_MAX_FILE_SIZE ? FC_MAX_FILE_SIZE
                                                                        : cf->max_file_size);
    fc->min_space = (uint64_t)(cf->min_space < 1048576 ? 1048576 : cf->min_space);
    fc->ckpt_interval_ms = (uint64_t)cf->ckpt_interval;
    fc->fsync_interval_ms = (uint64_t)cf->fsync_interval * 1000u;
    fc->fsync_per_tx = cf->fsync_per_tx;
    fc->ckpt_on_close = cf->ckpt_on_close;
    fc->dual = cf->dual;

    int rc = flm_fc_parse_dirs(fc, cf->data_dirs ? cf->data_dirs : "");
    if (rc != FLM_OK) {
        rc = flm_err_set(err, rc, "dataDirs: no usable directory in \"%s\"",
                         cf->data_dirs ? cf->data_dirs : "");
        goto fail;
    }
    fc->ckpt_dir = flm_fc_expand_home(cf->ckpt_dir ? cf->ckpt_dir : "");
    fc->backup_dir = cf->dual && cf->backup_dir ? flm_fc_expand_home(cf->backup_dir) : NULL;
    fc->lock_fds = calloc(fc->ndirs + 2, sizeof(int));
    if (fc->ckpt_dir == NULL || fc->lock_fds == NULL || (cf->dual && fc->backup_dir == NULL)) {
        rc = flm_err_set(err, FLM_ENOMEM, "file channel: out of memory");
        goto fail;
    }
    fc->keys.active = -1;
    if (cf->enc_keyfile != NULL && (cf->enc_active != NULL || cf->enc_keys.n > 0)) {
        char *kf = flm_fc_expand_home(cf->enc_keyfile);
        if (kf == NULL) {
            rc = flm_err_set(err, FLM_ENOMEM, "file channel: out of memory");
            goto fail;
        }
        rc = flm_fc_keyring_load(&fc->keys, kf, cf->enc_keys.v, cf->enc_keys.n, cf->enc_active,
                                 err);
        free(kf);
        if (rc != FLM_OK)
            goto fail;
        if (fc->keys.active >= 0)
            flm_info(&ch->c.log, "encrypting new data with key '%s' (AES-%u-CTR); %zu key(s) "
                     "loaded", fc->keys.v[fc->keys.active].alias,
                     fc->keys.v[fc->keys.active].len * 8u, fc->keys.n);
        else
            flm_warn(&ch->c.log, "encryption.activeKey is not set: new data is stored "
                     "unencrypted (the %zu configured key(s) only read older data)", fc->keys.n);
    }
    const char *all[2] = {fc->ckpt_dir, fc->backup_dir};
    for (size_t i = 0; i < fc->ndirs + 2; i++) {
        const char *d = i < 2 ? all[i] : fc->dirs[i - 2];
        if (d == NULL)
            continue;
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j++) {
            const char *o = j < 2 ? all[j] : fc->dirs[j - 2];
            dup = o != NULL && strcmp(o, d) == 0;
        }
        if (dup)
            continue;
        if (flm_fc_mkdirs(d) != 0) {
            rc = flm_err_set(err, FLM_EIO, "cannot create directory %s: %s", d, strerror(errno));
            goto fail;
        }
        if ((rc = flm_fc_lock_dir(fc, d, err)) != FLM_OK)
            goto fail;
    }
    if ((rc = flm_fc_replay_all(fc, err)) != FLM_OK)
        goto fail;
    flm_fc_repair_done(fc);
    fc->free_at_ms = 0;
    if (pthread_create(&fc->thr, NULL, flm_fc_ckpt_thread, fc) != 0) {
        rc = flm_err_set(err, FLM_ERR, "cannot start the checkpoint thread");
        goto fail;
    }
    fc->thr_on = true;
    ch->capacity = fc->capacity;
    ch->txcap = fc->txcap;
    return FLM_OK;
fail:
    atomic_store(&fc->unhealthy, true);
    fc->ckpt_on_close = false; /* never checkpoint a channel that did not open */
    fc_destroy(ch);
    return rc;
}

/* Committed events queued; also refreshes the Open/Closed/Unhealthy
 * attributes (the core zeroes counters after init).  Any thread. */
static uint64_t fc_size(struct flm_channel *ch)
{
    struct fc_chan *fc = fc_of(ch);
    if (fc == NULL)
        return 0;
    bool closed = atomic_load(&fc->closed);
    flm_ctr_set(&ch->c.ctr, X_OPEN, closed ? 0 : 1);
    flm_ctr_set(&ch->c.ctr, X_CLOSED, closed ? 1 : 0);
    flm_ctr_set(&ch->c.ctr, X_UNHEALTHY, atomic_load(&fc->unhealthy) ? 1 : 0);
    pthread_mutex_lock(&fc->mu);
    uint64_t n = fc->count;
    pthread_mutex_unlock(&fc->mu);
    return n;
}

static void fc_interrupt(struct flm_channel *ch)
{
    struct fc_chan *fc = fc_of(ch);
    if (fc == NULL)
        return;
    pthread_mutex_lock(&fc->mu);
    pthread_cond_broadcast(&fc->not_empty);
    pthread_cond_broadcast(&fc->space);
    pthread_mutex_unlock(&fc->mu);
}

/* Stops the checkpoint thread, writes the closing checkpoint
 * (checkpointOnClose), closes files and releases the locks.  Open
 * transactions must have ended.  NULL-safe, half-built-safe. */
static void fc_destroy(struct flm_channel *ch)
{
    struct fc_chan *fc = fc_of(ch);
    if (fc == NULL)
        return;
    const struct flm_fs_ops *fs = flm_fc_fs();
    if (fc->thr_on) {
        pthread_mutex_lock(&fc->mu);
        fc->stop = true;
        pthread_cond_broadcast(&fc->tick);
        pthread_mutex_unlock(&fc->mu);
        pthread_join(fc->thr, NULL);
        fc->thr_on = false;
        if (fc->ckpt_on_close && !fc->broken) {
            if (flm_fc_checkpoint(fc) == FLM_OK)
                flm_info(&ch->c.log, "checkpoint written on close (%zu events queued)", fc->count);
        }
    }
    atomic_store(&fc->closed, true);
    if (fc->ngroups)
        flm_info(&ch->c.log,
                 "closed: %" PRIu64 " commits written in %" PRIu64 " group writes%s, %" PRIu64
                 " commit delays",
                 fc->ncommits, fc->ngroups, fc->fsync_per_tx ? " (one fdatasync each)" : "",
                 fc->ndelays);
    for (size_t i = 0; i < fc->nfiles; i++)
        fs->close(fc->files[i].fd);
    for (size_t i = 0; i < fc->nlocks; i++)
        fs->close(fc->lock_fds[i]);
    for (size_t i = 0; i < fc->ndirs; i++)
        free(fc->dirs[i]);
    for (int i = 0; i < 2; i++) {
        free(fc->grp[i].buf);
        free(fc->grp[i].puts);
        free(fc->grp[i].txns);
    }
    free(fc->dirs);
    free(fc->files);
    free(fc->lock_fds);
    free(fc->ckpt_dir);
    free(fc->backup_dir);
    free(fc->ring);
    flm_fc_cctx_free(&fc->wctx);
    flm_fc_keyring_free(&fc->keys);
    pthread_cond_destroy(&fc->not_empty);
    pthread_cond_destroy(&fc->space);
    pthread_cond_destroy(&fc->synced);
    pthread_cond_destroy(&fc->tick);
    pthread_cond_destroy(&fc->joined);
    pthread_mutex_destroy(&fc->mu);
    free(fc);
    ch->c.ctx = NULL;
}

/* Cross-field rules (Flume's FileChannel.configure). */
static int fc_validate(void *conf, const char *comp, struct flm_diag *d)
{
    const struct fc_conf *cf = conf;
    int rc = FLM_OK;
    if (cf->txcap > cf->capacity) {
        flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "transactionCapacity",
                     "File Channel transaction capacity cannot be greater than the capacity");
        rc = FLM_ERR;
    }
    if (cf->dual && (cf->backup_dir == NULL || cf->backup_dir[0] == '\0')) {
        flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "backupCheckpointDir",
                     "useDualCheckpoints is true but backupCheckpointDir is not set");
        rc = FLM_ERR;
    } else if (cf->dual && cf->ckpt_dir && strcmp(cf->backup_dir, cf->ckpt_dir) == 0) {
        flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "backupCheckpointDir",
                     "Checkpoint and backup checkpoint directories must be different");
        rc = FLM_ERR;
    }
    for (size_t i = 0; i < cf->enc_keyopt.n; i++) {
        const struct flm_kv *kv = &cf->enc_keyopt.v[i];
        char key[200];
        snprintf(key, sizeof(key), "encryption.keyProvider.keys.%.150s", kv->key);
        size_t kl = strlen(kv->key);
        if (kl > 13 && strcmp(kv->key + kl - 13, ".passwordFile") == 0)
            flm_diag_add(d, FLM_SEV_WARN, kv->file, kv->line, comp, key,
                         "per-key password files are ignored: flumen's key file holds the "
                         "keys themselves and is protected by its permissions");
        else {
            flm_diag_add(d, FLM_SEV_ERROR, kv->file, kv->line, comp, key,
                         "unknown key (expected encryption.keyProvider.keys.<alias>.passwordFile)");
            rc = FLM_ERR;
        }
    }
    bool enc = cf->enc_active != NULL || cf->enc_keys.n > 0;
    if (enc && cf->enc_keyfile == NULL) {
        flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "encryption.keyProvider.keyStoreFile",
                     "encryption.keyProvider.keyStoreFile is required with %s",
                     cf->enc_active ? "encryption.activeKey" : "encryption.keyProvider.keys");
        rc = FLM_ERR;
    }
    return rc;
}

static const struct flm_channel_ops fc_ops = {
    .init = fc_init,
    .reconfigure = NULL,
    .begin = fc_begin,
    .put = fc_put,
    .take = fc_take,
    .commit = fc_commit,
    .rollback = fc_rollback,
    .end = fc_end,
    .size = fc_size,
    .interrupt = fc_interrupt,
    .destroy = fc_destroy,
};

const struct flm_type flm_channel_file = {
    .kind = FLM_CHANNEL,
    .alias = "file",
    .klass = "org.apache.flume.channel.file.FileChannel",
    .summary = "Durable channel: write-ahead log with group commit and checkpoints; survives "
               "crashes.",
    .props = fc_props,
    .conf_size = sizeof(struct fc_conf),
    .validate = fc_validate,
    .batch_key = "transactionCapacity",
    .extra_ctrs = fc_extra,
    .ops = &fc_ops,
};
