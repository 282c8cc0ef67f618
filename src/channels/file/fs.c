/*
 * fs.c - the file channel's file-system operations table (STYLE.md 3.9,
 * after SQLite's aSyscall[]).  Every open, write, read, sync, rename,
 * unlink, directory sync, statvfs and lock of the file channel goes through
 * flm_fc_fs(), so tests swap in a table that injects ENOSPC, EIO on fsync,
 * short writes and crash points.  Any thread.
 */
#include "channels/file/fc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <unistd.h>

static int real_open(const char *path, int flags, mode_t mode)
{
    return open(path, flags | O_CLOEXEC, mode);
}

static int real_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

const struct flm_fs_ops flm_fc_fs_real = {
    .open = real_open,
    .close = close,
    .pwrite = pwrite,
    .pread = pread,
    .fdatasync = fdatasync,
    .ftruncate = ftruncate,
    .rename = rename,
    .unlink = unlink,
    .fsync_dir = real_fsync_dir,
    .statvfs = statvfs,
    .flock = flock,
};

static _Atomic(const struct flm_fs_ops *) fs_cur = &flm_fc_fs_real;

const struct flm_fs_ops *flm_fc_fs(void)
{
    return atomic_load_explicit(&fs_cur, memory_order_acquire);
}

void flm_fc_fs_set_for_test(const struct flm_fs_ops *ops)
{
    atomic_store_explicit(&fs_cur, ops ? ops : &flm_fc_fs_real, memory_order_release);
}

int flm_fc_pwrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t w = flm_fc_fs()->pwrite(fd, p, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

ssize_t flm_fc_pread_all(int fd, void *buf, size_t n, uint64_t off)
{
    uint8_t *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = flm_fc_fs()->pread(fd, p + got, n - got, (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}
