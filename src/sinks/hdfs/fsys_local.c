/*
 * fsys_local.c - local-file implementation of the file sinks' filesystem
 * layer (file:// URIs and bare paths), plus the injectable clock.  Owns one
 * fd per open file; called from the owning sink's threads only (the sink
 * serialises access to each file).
 */
#include "sinks/hdfs/fsys.h"

#include "core/counters.h"
#include "serializers/serializer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

uint64_t (*flm_filesinks_clock)(void) = flm_now_ms;

struct flm_fsys_file {
    int fd;
    char path[PATH_MAX];
};

int flm_fsys_mkdirs(const char *dir, struct flm_err *err)
{
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof(tmp), "%s", dir);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return flm_err_set(err, FLM_EIO, "directory name too long: %s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            flm_err_set(err, FLM_EIO, "cannot create directory %s: %s", tmp, strerror(e));
            err->sys = e;
            return FLM_EIO;
        }
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
        int e = errno;
        flm_err_set(err, FLM_EIO, "cannot create directory %s: %s", tmp, strerror(e));
        err->sys = e;
        return FLM_EIO;
    }
    struct stat sb;
    if (stat(tmp, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return flm_err_set(err, FLM_EIO, "%s exists and is not a directory", tmp);
    return FLM_OK;
}

static int local_create(const char *path, struct flm_fsys_file **out, struct flm_err *err)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        int rc = flm_fsys_mkdirs(dir, err);
        if (rc != FLM_OK)
            return rc;
    }
    struct flm_fsys_file *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    f->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        int e = errno;
        free(f);
        flm_err_set(err, FLM_EIO, "cannot create %s: %s", path, strerror(e));
        err->sys = e;
        return FLM_EIO;
    }
    snprintf(f->path, sizeof(f->path), "%s", path);
    *out = f;
    return FLM_OK;
}

#define WRITEV_CHUNK 128 /* iovecs per writev(2) (<= IOV_MAX, 1024) */

static int local_writev(struct flm_fsys_file *f, const struct iovec *iov, int n,
                        struct flm_err *err)
{
    struct iovec cur[WRITEV_CHUNK];
    int i = 0;
    while (i < n) {
        int m = n - i < WRITEV_CHUNK ? n - i : WRITEV_CHUNK;
        memcpy(cur, iov + i, (size_t)m * sizeof(*cur));
        struct iovec *v = cur;
        while (m > 0) {
            ssize_t w = writev(f->fd, v, m);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                int e = errno;
                flm_err_set(err, FLM_EIO, "write to %s failed: %s", f->path, strerror(e));
                err->sys = e;
                return FLM_EIO;
            }
            /* Partial write: skip what went out, go on with the rest. */
            size_t left = (size_t)w;
            while (m > 0 && left >= v->iov_len) {
                left -= v->iov_len;
                v++;
                m--;
                i++;
            }
            if (m > 0) {
                v->iov_base = (uint8_t *)v->iov_base + left;
                v->iov_len -= left;
            }
        }
    }
    return FLM_OK;
}

static int local_write(struct flm_fsys_file *f, const void *p, size_t n, struct flm_err *err)
{
    struct iovec one = {(void *)p, n};
    return n == 0 ? FLM_OK : local_writev(f, &one, 1, err);
}

int flm_fsys_write_out(const struct flm_fsys_ops *fs, struct flm_fsys_file *f,
                       struct flm_sout *out, struct flm_err *err)
{
    int rc = FLM_OK;
    if (out->ngap > 0 && fs->writev != NULL) {
        const struct iovec *iov;
        int n = flm_sout_iov(out, &iov);
        if (n < 0)
            return flm_err_set(err, FLM_ENOMEM, "out of memory");
        rc = fs->writev(f, iov, n, err);
    } else {
        flm_sout_flatten(out);
        if (out->buf.len > 0)
            rc = fs->write(f, out->buf.p, out->buf.len, err);
    }
    if (rc == FLM_OK)
        flm_sout_reset(out);
    return rc;
}

static int local_flush(struct flm_fsys_file *f, struct flm_err *err)
{
    (void)f;
    (void)err;
    return FLM_OK; /* write(2) already handed the bytes to the OS */
}

static int local_close(struct flm_fsys_file *f, struct flm_err *err)
{
    int rc = FLM_OK;
    if (close(f->fd) != 0) {
        int e = errno;
        rc = flm_err_set(err, FLM_EIO, "close of %s failed: %s", f->path, strerror(e));
        err->sys = e;
    }
    free(f);
    return rc;
}

static int local_rename(const char *from, const char *to, struct flm_err *err)
{
    /* link + unlink: fails with EEXIST instead of replacing, like HDFS. */
    if (link(from, to) != 0) {
        int e = errno;
        if (e == EEXIST) {
            flm_err_set(err, FLM_EIO, "cannot rename %s to %s: target exists", from, to);
        } else {
            /* Filesystems without hard links: plain rename. */
            if (e != EEXIST && rename(from, to) == 0)
                return FLM_OK;
            flm_err_set(err, FLM_EIO, "cannot rename %s to %s: %s", from, to, strerror(e));
        }
        err->sys = e;
        return FLM_EIO;
    }
    if (unlink(from) != 0) {
        int e = errno;
        flm_err_set(err, FLM_EIO, "renamed %s to %s but could not remove the old name: %s",
                    from, to, strerror(e));
        err->sys = e;
        return FLM_EIO;
    }
    return FLM_OK;
}

const struct flm_fsys_ops flm_fsys_local = {
    .scheme = "file",
    .create = local_create,
    .write = local_write,
    .writev = local_writev,
    .flush = local_flush,
    .close = local_close,
    .rename = local_rename,
};

const struct flm_fsys_ops *flm_fsys_for(const char *uri, const char **path, char *why,
                                        size_t wcap)
{
    if (strncmp(uri, "file://", 7) == 0) {
        *path = uri + 7;
        if (**path != '/') {
            snprintf(why, wcap, "'%s': only file:///absolute/path is supported (no host part)",
                     uri);
            return NULL;
        }
        return &flm_fsys_local;
    }
    const char *colon = strstr(uri, "://");
    if (colon != NULL) {
        size_t sl = (size_t)(colon - uri);
        if ((sl == 4 && strncmp(uri, "hdfs", 4) == 0) ||
            (sl == 7 && strncmp(uri, "webhdfs", 7) == 0))
            snprintf(why, wcap,
                     "'%s': %.*s:// (WebHDFS) is not implemented yet; use file:// or a local path",
                     uri, (int)sl, uri);
        else
            snprintf(why, wcap, "'%s': unsupported filesystem scheme '%.*s'", uri, (int)sl, uri);
        return NULL;
    }
    *path = uri;
    return &flm_fsys_local;
}
