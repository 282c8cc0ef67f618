/*
 * integrity.c - the file-channel integrity check behind `flumen tools
 * fcintegrity` (Flume's FileChannelIntegrityTool).  Verifies every record of
 * every data file (record CRC and structure, and each event's own CRC),
 * reports what is damaged and, when asked to fix, removes it so the channel
 * can start again:
 *   - a bad region followed by a valid record is overwritten with one NOOP
 *     record spanning it (replay skips NOOPs); a region shorter than a record
 *     header also takes the next record with it (reported);
 *   - a bad region reaching the end of the file is cut off (truncate).
 * Events whose puts were in a removed region are lost (reported as a count
 * of damaged bytes: their contents cannot be trusted); takes in it are lost,
 * so those events may be delivered again (at-least-once).
 * After a repair it leaves FC_REPAIR_MARKER in the data dir: the channel's
 * checkpoint may point into a removed region, so the next start replays
 * every data file instead, writes a new checkpoint and removes the marker.
 * Encrypted files (key record FCK1, records FCE1) are verified the same way
 * without any key: every CRC covers the ciphertext.
 * Runs on the caller's thread, with the data dirs locked (in_use.lock), so it
 * refuses to run beside an agent using them.
 */
#include "channels/file/fc.h"

#include "core/err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct ifile {
    uint32_t fid;
    char path[PATH_MAX];
};

static int cmp_ifile(const void *a, const void *b)
{
    const struct ifile *x = a, *y = b;
    return x->fid < y->fid ? -1 : x->fid > y->fid;
}

/* True when the record at p (already parsed) has only valid events.  An
 * encrypted event's CRC covers its ciphertext, so no key is needed; its
 * structure is ciphertext and is not checked. */
static bool events_ok(const struct fc_rec *r)
{
    const uint8_t *e = r->events;
    for (uint32_t i = 0; i < r->nput; i++) {
        uint32_t el = fc_get32(e + 4);
        if (r->kind == FC_K_ENC ? !flm_fc_event_crc_ok(e, el) : flm_fc_event_check(e, el) != FLM_OK)
            return false;
        e += el;
    }
    return true;
}

/* Checks (and with fix, repairs) one file.  Adds the number of damaged
 * regions to *bad.  FLM_OK or FLM_EIO. */
static int check_file(const struct ifile *f, bool fix, FILE *out, size_t *bad)
{
    int fd = open(f->path, fix ? O_RDWR : O_RDONLY);
    if (fd < 0) {
        fprintf(out, "%s: cannot open: %s\n", f->path, strerror(errno));
        return FLM_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return FLM_EIO;
    }
    size_t size = (size_t)st.st_size;
    const uint8_t *m = NULL;
    if (size > 0) {
        m = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
            fprintf(out, "%s: cannot map: %s\n", f->path, strerror(errno));
            close(fd);
            return FLM_EIO;
        }
    }
    uint32_t hid;
    if (size < FC_FILE_HDR || flm_fc_file_header_check(m, size, &hid) != FLM_OK || hid != f->fid) {
        fprintf(out, "%s: bad file header%s\n", f->path,
                fix ? " (file left as is: remove it by hand if it is not a flumen data file)" : "");
        (*bad)++;
        if (m)
            munmap((void *)m, size);
        close(fd);
        return FLM_OK;
    }
    uint64_t recs = 0, puts = 0, takes = 0;
    size_t bad_before = *bad;
    size_t off = FC_FILE_HDR;
    int rc = FLM_OK;
    while (off < size) {
        struct fc_rec r;
        int prc = flm_fc_rec_parse(m + off, size - off, &r);
        if (prc == FLM_OK && events_ok(&r)) {
            recs++;
            puts += r.nput;
            takes += r.ntake;
            off += r.total;
            continue;
        }
        (*bad)++;
        size_t next;
        bool found = flm_fc_valid_record_after(m + off, size - off, &next);
        if (!found) {
            fprintf(out, "%s: damaged records from offset %zu to the end (%zu bytes)%s\n",
                    f->path, off, size - off, fix ? ": truncated" : "");
            if (fix && (ftruncate(fd, (off_t)off) != 0 || fdatasync(fd) != 0)) {
                fprintf(out, "%s: truncate failed: %s\n", f->path, strerror(errno));
                rc = FLM_EIO;
            }
            break;
        }
        size_t gap = next;
        if (gap < FC_REC_HDR) {
            /* too short for a NOOP header: blank the following record too */
            struct fc_rec nr;
            if (flm_fc_rec_parse(m + off + next, size - off - next, &nr) == FLM_OK)
                gap = next + nr.total;
            fprintf(out, "%s: the valid record at offset %zu is removed with the damage\n",
                    f->path, off + next);
        }
        fprintf(out, "%s: damaged record at offset %zu (%zu bytes)%s\n", f->path, off, gap,
                fix ? ": replaced by a NOOP record" : "");
        if (fix) {
            uint8_t *noop = calloc(1, gap);
            if (noop == NULL) {
                rc = FLM_ENOMEM;
                break;
            }
            flm_fc_rec_seal(noop, gap, 0, 0, 0, FC_NOOP_MAGIC);
            if (flm_fc_pwrite_all(fd, noop, gap, off) != 0 || fdatasync(fd) != 0) {
                fprintf(out, "%s: write failed: %s\n", f->path, strerror(errno));
                rc = FLM_EIO;
            }
            free(noop);
            if (rc != FLM_OK)
                break;
        }
        off += gap;
    }
    if (fix && *bad > bad_before && rc == FLM_OK) {
        /* Tell the channel its checkpoint may point into what was removed. */
        char mp[PATH_MAX + 32];
        const char *slash = strrchr(f->path, '/');
        int dl = slash ? (int)(slash - f->path) : 1;
        snprintf(mp, sizeof(mp), "%.*s/%s", dl, slash ? f->path : ".", FC_REPAIR_MARKER);
        int mfd = open(mp, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (mfd < 0 || fsync(mfd) != 0) {
            fprintf(out, "%s: cannot create %s: %s\n", f->path, mp, strerror(errno));
            rc = FLM_EIO;
        }
        if (mfd >= 0)
            close(mfd);
    }
    fprintf(out, "%s: %" PRIu64 " records (%" PRIu64 " puts, %" PRIu64 " takes) verified\n",
            f->path, recs, puts, takes);
    if (m)
        munmap((void *)m, size);
    close(fd);
    return rc;
}

int flm_fc_integrity(const char *const *dirs, size_t ndirs, bool fix, FILE *out, size_t *bad)
{
    *bad = 0;
    struct ifile *files = NULL;
    size_t n = 0;
    int *locks = calloc(ndirs ? ndirs : 1, sizeof(int));
    int rc = locks ? FLM_OK : FLM_ENOMEM;
    size_t nlocks = 0;
    for (size_t d = 0; d < ndirs && rc == FLM_OK; d++) {
        char lp[PATH_MAX];
        snprintf(lp, sizeof(lp), "%s/in_use.lock", dirs[d]);
        int lfd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB) != 0) {
            fprintf(out, "%s: %s\n", dirs[d],
                    lfd < 0 ? strerror(errno)
                            : "in use by a running channel (in_use.lock is held); stop the agent "
                              "first");
            if (lfd >= 0)
                close(lfd);
            rc = FLM_ERR;
            break;
        }
        locks[nlocks++] = lfd;
        DIR *dh = opendir(dirs[d]);
        if (dh == NULL) {
            fprintf(out, "%s: %s\n", dirs[d], strerror(errno));
            rc = FLM_EIO;
            break;
        }
        struct dirent *de;
        while ((de = readdir(dh)) != NULL) {
            char *end;
            if (strncmp(de->d_name, "log-", 4) != 0 || de->d_name[4] < '0' ||
                de->d_name[4] > '9')
                continue;
            errno = 0;
            unsigned long v = strtoul(de->d_name + 4, &end, 10);
            if (*end != '\0' || errno != 0 || v == 0 || v > UINT32_MAX)
                continue;
            struct ifile *nf = realloc(files, (n + 1) * sizeof(*nf));
            if (nf == NULL) {
                rc = FLM_ENOMEM;
                break;
            }
            files = nf;
            files[n].fid = (uint32_t)v;
            snprintf(files[n].path, sizeof(files[n].path), "%s/%s", dirs[d], de->d_name);
            n++;
        }
        closedir(dh);
    }
    if (rc == FLM_OK) {
        qsort(files, n, sizeof(*files), cmp_ifile);
        for (size_t i = 0; i < n; i++) {
            int r = check_file(&files[i], fix, out, bad);
            if (r != FLM_OK)
                rc = r;
        }
        fprintf(out, "%zu data file(s) checked, %zu damaged region(s) found%s\n", n, *bad,
                *bad && fix ? " and removed" : "");
    }
    for (size_t i = 0; i < nlocks; i++)
        close(locks[i]);
    free(locks);
    free(files);
    return rc;
}
