/*
 * filech_store.c - the file channel's files: directory locks, data file
 * create/roll, the checkpoint (atomic replace, backup) and its thread,
 * garbage collection of data files, and the replay driver that reads the
 * files at start (the format and the pure replay are in wal.c / replay.c).
 *
 * Threads: flm_fc_replay_all and the lock/dir helpers run on the agent
 * thread at init; flm_fc_file_roll on the group-commit leader; the
 * checkpoint on the channel's checkpoint thread (and the agent thread at
 * close).  They take the channel mutex only to read or change the file list
 * and to snapshot the queue; file I/O happens outside it.
 */
#include "channels/file/filech_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* "~/x" -> "$HOME/x"; malloc'd copy otherwise. */
char *flm_fc_expand_home(const char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[0] == ' ' || s[0] == '\t'))
        s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    const char *home = getenv("HOME");
    if (n >= 2 && s[0] == '~' && s[1] == '/' && home != NULL) {
        size_t hl = strlen(home);
        char *r = malloc(hl + n);
        if (r == NULL)
            return NULL;
        memcpy(r, home, hl);
        memcpy(r + hl, s + 1, n - 1);
        r[hl + n - 1] = '\0';
        return r;
    }
    char *r = malloc(n + 1);
    if (r == NULL)
        return NULL;
    memcpy(r, s, n);
    r[n] = '\0';
    return r;
}

/* mkdir -p.  0 or -1 with errno. */
int flm_fc_mkdirs(const char *path)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        buf[i] = c;
    }
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

void flm_fc_file_path(const struct fc_chan *fc, unsigned dir, uint32_t fid, char *out, size_t cap)
{
    snprintf(out, cap, "%s/log-%" PRIu32, fc->dirs[dir], fid);
}

struct fc_file *flm_fc_file_find(struct fc_chan *fc, uint32_t fid)
{
    size_t lo = 0, hi = fc->nfiles;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (fc->files[mid].fid < fid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < fc->nfiles && fc->files[lo].fid == fid ? &fc->files[lo] : NULL;
}

/* Inserts keeping fid order.  FLM_OK or FLM_ENOMEM. */
int flm_fc_file_add(struct fc_chan *fc, uint32_t fid, int fd, unsigned dir)
{
    if (flm_fc_grow((void **)&fc->files, &fc->fcap, fc->nfiles + 1, sizeof(*fc->files)) != FLM_OK)
        return FLM_ENOMEM;
    size_t i = fc->nfiles;
    while (i > 0 && fc->files[i - 1].fid > fid) {
        fc->files[i] = fc->files[i - 1];
        i--;
    }
    fc->files[i] = (struct fc_file){.fid = fid, .fd = fd, .dir = dir, .refs = 0, .key = -1};
    fc->nfiles++;
    return FLM_OK;
}

/* ----------------------------------------------------------------- files */

/* Creates log-<fid> with its header (and, with an active key, its key
 * record) in dir fid % ndirs; header, key record and directory entry are
 * durable before it returns.  FLM_OK or FLM_EIO (errno kept). */
int flm_fc_file_create(struct fc_chan *fc, uint32_t fid, int *fdout, unsigned *dirout,
                       uint64_t *start, uint8_t nonce[FC_NONCE])
{
    unsigned dir = (unsigned)(fid % fc->ndirs);
    char path[PATH_MAX];
    flm_fc_file_path(fc, dir, fid, path, sizeof(path));
    const struct flm_fs_ops *fs = flm_fc_fs();
    uint8_t hdr[FC_FILE_HDR + FC_KEYREC_FIXED + FC_ALIAS_MAX + FC_REC_ALIGN];
    size_t hlen = FC_FILE_HDR;
    flm_fc_file_header(hdr, fid);
    if (fc->keys.active >= 0) {
        /* A fresh random nonce per file: with the counter = offset in the
         * file, no (key, counter block) pair is ever used twice. */
        const struct fc_key *k = &fc->keys.v[fc->keys.active];
        struct fc_keyinfo ki = {.keylen = k->len};
        if (flm_fc_random(ki.nonce, FC_NONCE) != FLM_OK) {
            errno = EIO;
            return FLM_EIO;
        }
        memcpy(ki.kcv, k->kcv, FC_KCV);
        snprintf(ki.alias, sizeof(ki.alias), "%s", k->alias);
        flm_fc_keyrec_build(hdr + FC_FILE_HDR, &ki, flm_now_ms());
        hlen += flm_fc_keyrec_size(&ki);
        memcpy(nonce, ki.nonce, FC_NONCE);
    }
    int fd = fs->open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return FLM_EIO;
    if (flm_fc_pwrite_all(fd, hdr, hlen, 0) != 0 || fs->fdatasync(fd) != 0 ||
        fs->fsync_dir(fc->dirs[dir]) != 0) {
        int e = errno;
        fs->close(fd);
        fs->unlink(path);
        errno = e;
        return FLM_EIO;
    }
    *fdout = fd;
    *dirout = dir;
    *start = hlen;
    return FLM_OK;
}

/* Marks file fid (just added) as written by this session: encrypted with
 * the active key when there is one.  mu held or channel not yet running. */
static void file_mark_own(struct fc_chan *fc, uint32_t fid, const uint8_t nonce[FC_NONCE])
{
    struct fc_file *f = flm_fc_file_find(fc, fid);
    if (f != NULL && fc->keys.active >= 0) {
        f->key = fc->keys.active;
        memcpy(f->nonce, nonce, FC_NONCE);
    }
}

/* Leader only (mu NOT held): starts file cur_fid + 1.  The previous file
 * stays open for takes until GC.  FLM_OK or FLM_EIO. */
int flm_fc_file_roll(struct fc_chan *fc)
{
    const struct flm_fs_ops *fs = flm_fc_fs();
    if (!fc->fsync_per_tx && fs->fdatasync(fc->cur_fd) != 0)
        return FLM_EIO;
    uint32_t fid = fc->cur_fid + 1;
    int fd;
    unsigned dir;
    uint64_t start;
    uint8_t nonce[FC_NONCE];
    if (flm_fc_file_create(fc, fid, &fd, &dir, &start, nonce) != FLM_OK)
        return FLM_EIO;
    pthread_mutex_lock(&fc->mu);
    int rc = flm_fc_file_add(fc, fid, fd, dir);
    if (rc == FLM_OK) {
        file_mark_own(fc, fid, nonce);
        fc->cur_fid = fid;
        fc->cur_fd = fd;
        fc->cur_off = start;
        fc->force_roll = false;
    }
    pthread_mutex_unlock(&fc->mu);
    if (rc != FLM_OK) {
        char path[PATH_MAX];
        flm_fc_file_path(fc, dir, fid, path, sizeof(path));
        fs->close(fd);
        fs->unlink(path);
        errno = ENOMEM;
        return FLM_EIO;
    }
    flm_info(&fc->ch->c.log, "rolled to data file %s/log-%" PRIu32, fc->dirs[dir], fid);
    return FLM_OK;
}

/* ------------------------------------------------------------ checkpoints */

/* Writes buf atomically as dir/checkpoint: temp + fdatasync + rename +
 * directory fsync.  0 or -1 with errno. */
static int ckpt_write_file(const char *dir, const uint8_t *buf, size_t len)
{
    const struct flm_fs_ops *fs = flm_fc_fs();
    char tmp[PATH_MAX], dst[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s/checkpoint.tmp", dir);
    snprintf(dst, sizeof(dst), "%s/checkpoint", dir);
    int fd = fs->open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    if (flm_fc_pwrite_all(fd, buf, len, 0) != 0 || fs->fdatasync(fd) != 0) {
        int e = errno;
        fs->close(fd);
        fs->unlink(tmp);
        errno = e;
        return -1;
    }
    fs->close(fd);
    if (fs->rename(tmp, dst) != 0 || fs->fsync_dir(dir) != 0)
        return -1;
    return 0;
}

/* Snapshots the queue (in-flight takes first), writes the checkpoint (and
 * its backup), then deletes data files nothing points into that lie wholly
 * before the checkpoint position.  Checkpoint thread or agent thread (at
 * close).  FLM_OK, FLM_EIO, FLM_ENOMEM. */
int flm_fc_checkpoint(struct fc_chan *fc)
{
    const struct flm_fs_ops *fs = flm_fc_fs();
    pthread_mutex_lock(&fc->mu);
    while (fc->ckpt_busy)
        pthread_cond_wait(&fc->tick, &fc->mu);
    fc->ckpt_busy = true;
    size_t n = fc->count + fc->inflight;
    uint8_t *buf = malloc(flm_fc_ckpt_size(n));
    if (buf == NULL) {
        fc->ckpt_busy = false;
        pthread_cond_broadcast(&fc->tick);
        pthread_mutex_unlock(&fc->mu);
        return FLM_ENOMEM;
    }
    uint8_t *e = buf + FC_CKPT_HDR;
    size_t w = 0;
    for (struct fc_txn *tx = fc->active; tx != NULL; tx = tx->anext)
        for (uint32_t i = 0; i < tx->nt && w < n; i++, w++, e += FC_PTR_SIZE) {
            fc_put32(e, tx->takes[i].fid);
            fc_put32(e + 4, tx->takes[i].off);
            fc_put32(e + 8, tx->takes[i].len);
            fc_put32(e + 12, 0);
        }
    for (size_t i = 0; i < fc->count && w < n; i++, w++, e += FC_PTR_SIZE) {
        size_t at = fc->head + i;
        const struct fc_ptr *p = &fc->ring[at >= fc->rcap ? at - fc->rcap : at];
        fc_put32(e, p->fid);
        fc_put32(e + 4, p->off);
        fc_put32(e + 8, p->len);
        fc_put32(e + 12, 0);
    }
    uint32_t fid = fc->applied_fid;
    uint32_t off = (uint32_t)fc->applied_off;
    int sync_fd = fc->fsync_per_tx ? -1 : fc->cur_fd;
    /* GC candidates: unreferenced and wholly before the checkpoint position,
     * and only the oldest files (a prefix): a newer file may hold the take
     * records of events in an older live one, and a full replay (no usable
     * checkpoint) must see them. */
    uint32_t *gc = NULL;
    size_t ngc = 0;
    for (size_t i = 0; i < fc->nfiles; i++) {
        if (fc->files[i].refs != 0 || fc->files[i].fid >= fid || fc->files[i].fid == fc->cur_fid)
            break;
        {
            uint32_t *ng = realloc(gc, (ngc + 1) * sizeof(*gc));
            if (ng == NULL)
                break;
            gc = ng;
            gc[ngc++] = fc->files[i].fid;
        }
    }
    pthread_mutex_unlock(&fc->mu);

    int rc = FLM_OK;
    if (sync_fd >= 0 && fs->fdatasync(sync_fd) != 0) {
        flm_error_sys(&fc->ch->c.log, "checkpoint: syncing the data file failed");
        rc = FLM_EIO;
    }
    flm_fc_ckpt_seal(buf, w, fid, off, flm_now_ms());
    size_t len = flm_fc_ckpt_size(w);
    if (rc == FLM_OK && ckpt_write_file(fc->ckpt_dir, buf, len) != 0) {
        flm_ctr_add(&fc->ch->c.ctr, X_CKPT_ERR, 1);
        flm_error_sys(&fc->ch->c.log, "writing checkpoint in %s failed", fc->ckpt_dir);
        rc = FLM_EIO;
    }
    if (rc == FLM_OK && fc->dual && ckpt_write_file(fc->backup_dir, buf, len) != 0) {
        flm_ctr_add(&fc->ch->c.ctr, X_CKPT_BACKUP_ERR, 1);
        flm_error_sys(&fc->ch->c.log, "writing backup checkpoint in %s failed", fc->backup_dir);
        rc = FLM_EIO; /* no GC: the backup must stay usable */
    }
    free(buf);

    if (rc == FLM_OK && ngc > 0) {
        pthread_mutex_lock(&fc->mu);
        size_t k = 0;
        for (size_t i = 0; i < fc->nfiles; i++) {
            struct fc_file f = fc->files[i];
            bool del = false;
            for (size_t j = 0; j < ngc && !del; j++)
                del = gc[j] == f.fid && f.refs == 0;
            if (!del) {
                fc->files[k++] = f;
                continue;
            }
            char path[PATH_MAX];
            flm_fc_file_path(fc, f.dir, f.fid, path, sizeof(path));
            fs->close(f.fd);
            if (fs->unlink(path) != 0)
                flm_warn_sys(&fc->ch->c.log, "cannot delete %s", path);
            else
                flm_debug(&fc->ch->c.log, "deleted data file %s", path);
        }
        fc->nfiles = k;
        pthread_mutex_unlock(&fc->mu);
    }
    free(gc);
    pthread_mutex_lock(&fc->mu);
    fc->ckpt_busy = false;
    pthread_cond_broadcast(&fc->tick);
    pthread_mutex_unlock(&fc->mu);
    if (rc == FLM_OK)
        flm_debug(&fc->ch->c.log, "checkpoint: %zu events, resume at log-%" PRIu32 ":%" PRIu32,
                  w, fid, off);
    return rc;
}

/* The checkpoint thread: a checkpoint every checkpointInterval ms and, with
 * fsyncPerTransaction=false, a data sync every fsyncInterval s. */
void *flm_fc_ckpt_thread(void *arg)
{
    struct fc_chan *fc = arg;
    uint64_t next_ckpt = flm_mono_ms() + fc->ckpt_interval_ms;
    uint64_t next_sync = flm_mono_ms() + fc->fsync_interval_ms;
    pthread_mutex_lock(&fc->mu);
    while (!fc->stop) {
        uint64_t now = flm_mono_ms();
        uint64_t due = next_ckpt;
        if (!fc->fsync_per_tx && next_sync < due)
            due = next_sync;
        if (now < due) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t d = due - now;
            ts.tv_sec += (time_t)(d / 1000);
            ts.tv_nsec += (long)(d % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&fc->tick, &fc->mu, &ts);
            continue;
        }
        int fd = fc->cur_fd;
        pthread_mutex_unlock(&fc->mu);
        if (now >= next_ckpt) {
            flm_fc_checkpoint(fc);
            next_ckpt = flm_mono_ms() + fc->ckpt_interval_ms;
            next_sync = flm_mono_ms() + fc->fsync_interval_ms;
        } else {
            if (flm_fc_fs()->fdatasync(fd) != 0)
                flm_log_limited(FLM_LOG_ERROR, &fc->ch->c.log, errno, "periodic fsync failed");
            next_sync = flm_mono_ms() + fc->fsync_interval_ms;
        }
        pthread_mutex_lock(&fc->mu);
    }
    pthread_mutex_unlock(&fc->mu);
    return NULL;
}

/* ----------------------------------------------------------------- replay */

/* Reads dir/checkpoint into *buf and parses it.  FLM_OK, FLM_ECORRUPT
 * (present but invalid), FLM_EAGAIN (absent), FLM_EIO, FLM_ENOMEM. */
static int ckpt_load(const char *dir, uint8_t **buf, struct fc_ckpt *ck)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/checkpoint", dir);
    *buf = NULL;
    const struct flm_fs_ops *fs = flm_fc_fs();
    int fd = fs->open(path, O_RDONLY, 0);
    if (fd < 0)
        return errno == ENOENT ? FLM_EAGAIN : FLM_EIO;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        fs->close(fd);
        return FLM_EIO;
    }
    size_t len = (size_t)st.st_size;
    uint8_t *b = malloc(len ? len : 1);
    if (b == NULL) {
        fs->close(fd);
        return FLM_ENOMEM;
    }
    ssize_t got = flm_fc_pread_all(fd, b, len, 0);
    fs->close(fd);
    if (got != (ssize_t)len) {
        free(b);
        return FLM_EIO;
    }
    if (flm_fc_ckpt_parse(b, len, ck) != FLM_OK) {
        free(b);
        return FLM_ECORRUPT;
    }
    *buf = b;
    return FLM_OK;
}

/* Every entry must point into an existing data file (else the checkpoint
 * does not match the data and is not used). */
static bool ckpt_matches(struct fc_chan *fc, const struct fc_ckpt *ck)
{
    uint32_t last = UINT32_MAX;
    for (uint64_t i = 0; i < ck->count; i++) {
        uint32_t fid = fc_get32(ck->entries + i * FC_PTR_SIZE);
        if (fid != last && flm_fc_file_find(fc, fid) == NULL)
            return false;
        last = fid;
    }
    return ck->count == 0 || flm_fc_file_find(fc, ck->fid) != NULL || ck->fid > fc->files[fc->nfiles - 1].fid;
}

#define FC_TORN_MAX (64u << 20)

/* Replays one data file from offset start.  Handles the torn tail of the
 * newest file (truncates, warns); anything else invalid is FLM_ECORRUPT
 * with err naming file and offset. */
static int replay_file(struct fc_chan *fc, struct fc_replay *r, struct fc_file *f, uint64_t start,
                       bool newest, struct flm_err *err)
{
    const struct flm_fs_ops *fs = flm_fc_fs();
    char path[PATH_MAX];
    flm_fc_file_path(fc, f->dir, f->fid, path, sizeof(path));
    struct stat st;
    if (fstat(f->fd, &st) != 0)
        return flm_err_set(err, FLM_EIO, "cannot stat %s: %s", path, strerror(errno));
    uint64_t size = (uint64_t)st.st_size;
    size_t cap = 8u << 20, have = 0;
    uint8_t *buf = malloc(cap);
    if (buf == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory replaying %s", path);
    uint64_t off = start;   /* file offset of buf[0] */
    int rc = FLM_OK;
    bool bad = false;
    for (;;) {
        if (have == cap) {  /* one record bigger than the buffer */
            uint8_t *nb = cap < (1u << 31) ? realloc(buf, cap * 2) : NULL;
            if (nb == NULL) {
                bad = true; /* cannot be a sane record */
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t got = flm_fc_pread_all(f->fd, buf + have, cap - have, off + have);
        if (got < 0) {
            rc = flm_err_set(err, FLM_EIO, "cannot read %s at offset %" PRIu64 ": %s", path,
                             off + have, strerror(errno));
            break;
        }
        have += (size_t)got;
        size_t used;
        int prc = flm_fc_replay_buf(r, f->fid, buf, have, off, &used);
        if (prc == FLM_ENOMEM) {
            rc = flm_err_set(err, FLM_ENOMEM, "out of memory replaying %s", path);
            break;
        }
        memmove(buf, buf + used, have - used);
        have -= used;
        off += used;
        if (prc == FLM_ECORRUPT) {
            bad = true;
            break;
        }
        if (got == 0 || off + have >= size) {
            if (have > 0)
                bad = true; /* incomplete record at EOF */
            break;
        }
    }
    if (rc == FLM_OK && bad) {
        /* off = offset of the first invalid record. */
        bool torn = false;
        if (newest && size - off <= FC_TORN_MAX) {
            size_t rest = (size_t)(size - off);
            uint8_t *tail = malloc(rest ? rest : 1);
            if (tail != NULL && flm_fc_pread_all(f->fd, tail, rest, off) == (ssize_t)rest)
                torn = !flm_fc_valid_record_after(tail, rest, NULL);
            free(tail);
        }
        if (!torn) {
            rc = flm_err_set(err, FLM_ECORRUPT,
                             "corrupt record in %s at offset %" PRIu64
                             " (valid data follows it, so this is not a torn tail); refusing to "
                             "start: check the disk, then run `flumen tools fcintegrity -l %s` "
                             "to remove the damaged records",
                             path, off, fc->dirs[f->dir]);
        } else if (fs->ftruncate(f->fd, (off_t)off) != 0 || fs->fdatasync(f->fd) != 0) {
            rc = flm_err_set(err, FLM_EIO, "cannot truncate the torn tail of %s at %" PRIu64 ": %s",
                             path, off, strerror(errno));
        } else {
            flm_warn(&fc->ch->c.log,
                     "torn tail in %s: truncated at offset %" PRIu64 " (%" PRIu64
                     " bytes of an unacknowledged commit dropped)",
                     path, off, size - off);
        }
    }
    free(buf);
    return rc;
}

/* Lists log-<N> files in every data dir and opens them. */
static int scan_files(struct fc_chan *fc, struct flm_err *err)
{
    for (size_t d = 0; d < fc->ndirs; d++) {
        DIR *dh = opendir(fc->dirs[d]);
        if (dh == NULL)
            return flm_err_set(err, FLM_EIO, "cannot list %s: %s", fc->dirs[d], strerror(errno));
        struct dirent *de;
        while ((de = readdir(dh)) != NULL) {
            const char *s = de->d_name;
            if (strncmp(s, "log-", 4) != 0 || s[4] == '\0')
                continue;
            uint64_t v = 0;
            bool ok = true;
            for (const char *q = s + 4; *q && ok; q++) {
                ok = *q >= '0' && *q <= '9';
                v = v * 10 + (uint64_t)(*q - '0');
                ok = ok && v <= UINT32_MAX;
            }
            if (!ok || v == 0)
                continue;
            if (flm_fc_file_find(fc, (uint32_t)v) != NULL) {
                closedir(dh);
                return flm_err_set(err, FLM_ECORRUPT, "data file log-%" PRIu64
                                   " exists in two data directories", v);
            }
            char path[PATH_MAX];
            snprintf(path, sizeof(path), "%s/%s", fc->dirs[d], s);
            int fd = flm_fc_fs()->open(path, O_RDWR, 0);
            if (fd < 0) {
                closedir(dh);
                return flm_err_set(err, FLM_EIO, "cannot open %s: %s", path, strerror(errno));
            }
            if (flm_fc_file_add(fc, (uint32_t)v, fd, (unsigned)d) != FLM_OK) {
                flm_fc_fs()->close(fd);
                closedir(dh);
                return flm_err_set(err, FLM_ENOMEM, "out of memory");
            }
        }
        closedir(dh);
    }
    return FLM_OK;
}

/* Reads the key record of file f, if it has one, and binds f to the
 * configured key of that alias.  FLM_OK (f->key set, or -1: a plaintext
 * file), FLM_EAGAIN (f was the newest file with a torn key record: removed,
 * it held no commit), or an error naming the file and the alias: a key
 * that is not configured, or a configured key whose check value differs
 * from the one that encrypted the file (a wrong key). */
static int check_key(struct fc_chan *fc, struct fc_file *f, const char *path, bool newest,
                     struct flm_err *err)
{
    uint8_t b[FC_KEYREC_FIXED + FC_ALIAS_MAX + FC_REC_ALIGN];
    ssize_t got = flm_fc_pread_all(f->fd, b, sizeof(b), FC_FILE_HDR);
    if (got < 0)
        return flm_err_set(err, FLM_EIO, "cannot read %s: %s", path, strerror(errno));
    if (got < 4 || fc_get32(b) != FC_KEY_MAGIC)
        return FLM_OK; /* plaintext file (or empty) */
    struct fc_keyinfo ki;
    int prc = flm_fc_keyrec_parse(b, (size_t)got, &ki);
    if (prc != FLM_OK) {
        struct stat st;
        if (newest && fstat(f->fd, &st) == 0 && (size_t)st.st_size <= FC_FILE_HDR + sizeof(b)) {
            flm_warn(&fc->ch->c.log, "removing %s: incomplete key record (created just before "
                     "a crash)", path);
            flm_fc_fs()->close(f->fd);
            flm_fc_fs()->unlink(path);
            fc->nfiles--;
            return FLM_EAGAIN;
        }
        return flm_err_set(err, FLM_ECORRUPT,
                           "corrupt key record in %s at offset %u: its encrypted events cannot "
                           "be read",
                           path, FC_FILE_HDR);
    }
    int k = flm_fc_keyring_find(&fc->keys, ki.alias);
    if (k < 0)
        return flm_err_set(err, FLM_ERR,
                           "%s is encrypted with key alias '%s', which is not configured: add it "
                           "to encryption.keyProvider.keys and to the keyStoreFile%s%s; refusing "
                           "to start",
                           path, ki.alias, fc->keys.path ? " " : "",
                           fc->keys.path ? fc->keys.path : "");
    const struct fc_key *key = &fc->keys.v[k];
    if (key->len != ki.keylen || memcmp(key->kcv, ki.kcv, FC_KCV) != 0)
        return flm_err_set(err, FLM_ERR,
                           "wrong key: key '%s' in %s does not match the key that encrypted %s "
                           "(key check value differs%s); refusing to start",
                           ki.alias, fc->keys.path, path,
                           key->len != ki.keylen ? ", and so does the key length" : "");
    f->key = k;
    memcpy(f->nonce, ki.nonce, FC_NONCE);
    return FLM_OK;
}

/* Checks each file's header and key record; a newest file with a bad or
 * short header holds no committed data and is removed. */
static int check_headers(struct fc_chan *fc, struct flm_err *err)
{
    for (size_t i = 0; i < fc->nfiles; i++) {
        struct fc_file *f = &fc->files[i];
        uint8_t h[FC_FILE_HDR];
        uint32_t fid;
        ssize_t got = flm_fc_pread_all(f->fd, h, sizeof(h), 0);
        char path[PATH_MAX];
        flm_fc_file_path(fc, f->dir, f->fid, path, sizeof(path));
        if (got == (ssize_t)sizeof(h) && flm_fc_file_header_check(h, sizeof(h), &fid) == FLM_OK &&
            fid == f->fid) {
            int krc = check_key(fc, f, path, i + 1 == fc->nfiles, err);
            if (krc == FLM_EAGAIN) /* the newest file, removed: created just before a crash */
                return FLM_OK;
            if (krc != FLM_OK)
                return krc;
            continue;
        }
        if (i + 1 == fc->nfiles) {
            struct stat st;
            /* Header and key record are written by one pwrite and synced
             * before the first commit: a torn pair holds no commit. */
            uint8_t m[4] = {0, 0, 0, 0};
            bool keyrec = flm_fc_pread_all(f->fd, m, 4, FC_FILE_HDR) == 4 &&
                          fc_get32(m) == FC_KEY_MAGIC;
            if (fstat(f->fd, &st) == 0 &&
                (st.st_size <= (off_t)(FC_FILE_HDR + FC_REC_HDR) ||
                 (keyrec && st.st_size <= (off_t)(FC_FILE_HDR + FC_KEYREC_FIXED + FC_ALIAS_MAX +
                                                 FC_REC_ALIGN))) &&
                got >= 0) {
                flm_warn(&fc->ch->c.log, "removing %s: incomplete header (created just before a "
                         "crash)", path);
                flm_fc_fs()->close(f->fd);
                flm_fc_fs()->unlink(path);
                fc->nfiles--;
                return FLM_OK;
            }
        }
        return flm_err_set(err, FLM_ECORRUPT,
                           "%s is not a flumen file-channel data file (bad header at offset 0); "
                           "Java Flume data directories cannot be reused",
                           path);
    }
    return FLM_OK;
}

/* Loads the newest usable checkpoint, replays the log after it, rebuilds
 * the queue and reference counts.  Agent thread, at init. */
int flm_fc_replay_all(struct fc_chan *fc, struct flm_err *err)
{
    uint64_t t0 = flm_mono_ms();
    int rc = scan_files(fc, err);
    if (rc == FLM_OK)
        rc = check_headers(fc, err);
    if (rc != FLM_OK)
        return rc;

    uint8_t *ckbuf = NULL;
    struct fc_ckpt ck;
    const char *src = NULL;
    const char *dirs[2] = {fc->ckpt_dir, fc->dual ? fc->backup_dir : NULL};
    /* After `fcintegrity` blanked records, a checkpoint may point into the
     * removed regions: replay everything instead, then write a checkpoint
     * before dropping the marker (flm_fc_repair_done). */
    fc->repaired = false;
    for (size_t d = 0; d < fc->ndirs; d++) {
        char mp[PATH_MAX];
        snprintf(mp, sizeof(mp), "%s/%s", fc->dirs[d], FC_REPAIR_MARKER);
        if (access(mp, F_OK) == 0)
            fc->repaired = true;
    }
    if (fc->repaired) {
        flm_warn(&fc->ch->c.log, "data files were repaired by fcintegrity: ignoring the "
                 "checkpoint, replaying every data file");
        dirs[0] = dirs[1] = NULL;
    }
    for (int i = 0; i < 2 && src == NULL; i++) {
        if (dirs[i] == NULL)
            continue;
        int lr = ckpt_load(dirs[i], &ckbuf, &ck);
        if (lr == FLM_OK && ckpt_matches(fc, &ck)) {
            src = dirs[i];
            break;
        }
        if (lr == FLM_OK) {
            free(ckbuf);
            ckbuf = NULL;
            flm_warn(&fc->ch->c.log, "checkpoint in %s refers to missing data files: not used",
                     dirs[i]);
        } else if (lr != FLM_EAGAIN) {
            flm_warn(&fc->ch->c.log, "checkpoint in %s is unreadable or corrupt (%s): not used",
                     dirs[i], flm_strerror(lr));
        } else if (fc->nfiles > 0) {
            flm_warn(&fc->ch->c.log, "no checkpoint in %s", dirs[i]);
        }
    }
    if (src == NULL && fc->nfiles > 0)
        flm_warn(&fc->ch->c.log, "no usable checkpoint: replaying all %zu data files", fc->nfiles);

    struct fc_replay r;
    if (flm_fc_replay_init(&r, src ? &ck : NULL) != FLM_OK) {
        free(ckbuf);
        return flm_err_set(err, FLM_ENOMEM, "out of memory loading the checkpoint");
    }
    free(ckbuf);
    uint32_t maxfid = src ? ck.fid : 0;
    for (size_t i = 0; i < fc->nfiles && rc == FLM_OK; i++) {
        struct fc_file *f = &fc->files[i];
        if (f->fid > maxfid)
            maxfid = f->fid;
        if (src && f->fid < ck.fid)
            continue;
        uint64_t start = (src && f->fid == ck.fid) ? ck.off : FC_FILE_HDR;
        r.mode = f->key >= 0 ? 2 : 1;
        rc = replay_file(fc, &r, f, start, i + 1 == fc->nfiles, err);
    }
    if (rc == FLM_OK && flm_fc_replay_finish(&r) != FLM_OK)
        rc = flm_err_set(err, FLM_ENOMEM, "out of memory during replay");
    if (rc != FLM_OK) {
        flm_fc_replay_free(&r);
        return rc;
    }
    struct fc_file *last = NULL;
    for (size_t i = 0, at = 0; i < r.n; i++) { /* count refs (run-length over files) */
        if (i == 0 || r.q[i].fid != r.q[at].fid) {
            last = flm_fc_file_find(fc, r.q[i].fid);
            at = i;
        }
        if (last != NULL)
            last->refs++;
    }
    /* The replayed array becomes the ring (no copy), trimmed to its size:
     * 12 bytes per queued event. */
    size_t cap = r.n > 1024 ? r.n : 1024;
    struct fc_ptr *ring = r.q ? realloc(r.q, cap * sizeof(*ring)) : malloc(cap * sizeof(*ring));
    if (ring == NULL) {
        flm_fc_replay_free(&r);
        return flm_err_set(err, FLM_ENOMEM, "out of memory for %zu queued events", r.n);
    }
    free(fc->ring);
    fc->ring = ring;
    fc->rcap = cap;
    fc->head = 0;
    fc->count = r.n;
    r.q = NULL;
    uint64_t recs = r.records;
    flm_fc_replay_free(&r);

    /* Always append to a fresh file: the old ones stay read-only. */
    uint32_t fid = maxfid + 1;
    int fd;
    unsigned dir;
    uint64_t start;
    uint8_t nonce[FC_NONCE];
    if (flm_fc_file_create(fc, fid, &fd, &dir, &start, nonce) != FLM_OK)
        return flm_err_set(err, FLM_EIO, "cannot create data file log-%" PRIu32 " in %s: %s", fid,
                           fc->dirs[fid % fc->ndirs], strerror(errno));
    if (flm_fc_file_add(fc, fid, fd, dir) != FLM_OK) {
        flm_fc_fs()->close(fd);
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    }
    file_mark_own(fc, fid, nonce);
    fc->cur_fid = fid;
    fc->cur_fd = fd;
    fc->cur_off = start;
    fc->applied_fid = fid;
    fc->applied_off = start;
    flm_info(&fc->ch->c.log,
             "replay done: %zu events queued (checkpoint %s + %" PRIu64 " log records) in %" PRIu64
             " ms",
             fc->count, src ? src : "none", recs, flm_mono_ms() - t0);
    if (fc->count > fc->capacity)
        flm_warn(&fc->ch->c.log, "%zu replayed events exceed capacity %zu: puts wait until the "
                 "sinks drain it", fc->count, fc->capacity);
    return FLM_OK;
}

int flm_fc_lock_dir(struct fc_chan *fc, const char *dir, struct flm_err *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/in_use.lock", dir);
    const struct flm_fs_ops *fs = flm_fc_fs();
    int fd = fs->open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0)
        return flm_err_set(err, FLM_EIO, "cannot create %s: %s", path, strerror(errno));
    if (fs->flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        fs->close(fd);
        if (e == EWOULDBLOCK)
            return flm_err_set(err, FLM_ERR,
                               "Cannot lock %s. The directory is already locked. [channel=%s] "
                               "(another agent or channel uses it)",
                               dir, fc->ch->c.name);
        return flm_err_set(err, FLM_EIO, "cannot lock %s: %s", path, strerror(e));
    }
    fc->lock_fds[fc->nlocks++] = fd;
    return FLM_OK;
}

/* Splits dataDirs on commas; expands ~/. */
int flm_fc_parse_dirs(struct fc_chan *fc, const char *list)
{
    const char *s = list;
    while (*s) {
        const char *c = strchr(s, ',');
        size_t n = c ? (size_t)(c - s) : strlen(s);
        char part[PATH_MAX];
        if (n >= sizeof(part))
            return FLM_ERR;
        memcpy(part, s, n);
        part[n] = '\0';
        char *d = flm_fc_expand_home(part);
        if (d == NULL)
            return FLM_ENOMEM;
        if (d[0] == '\0') {
            free(d);
        } else {
            char **nd = realloc(fc->dirs, (fc->ndirs + 1) * sizeof(*nd));
            if (nd == NULL) {
                free(d);
                return FLM_ENOMEM;
            }
            fc->dirs = nd;
            fc->dirs[fc->ndirs++] = d;
        }
        s += n;
        if (*s == ',')
            s++;
    }
    return fc->ndirs ? FLM_OK : FLM_ERR;
}


void flm_fc_repair_done(struct fc_chan *fc)
{
    if (!fc->repaired)
        return;
    if (flm_fc_checkpoint(fc) != FLM_OK)
        return; /* keep the marker: the next start replays fully again */
    for (size_t d = 0; d < fc->ndirs; d++) {
        char mp[PATH_MAX];
        snprintf(mp, sizeof(mp), "%s/%s", fc->dirs[d], FC_REPAIR_MARKER);
        flm_fc_fs()->unlink(mp);
    }
    fc->repaired = false;
}
