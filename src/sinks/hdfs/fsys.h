/*
 * fsys.h - the small filesystem layer the file sinks write through, and the
 * clock they read (injectable, so tests drive rolls and buckets with a fixed
 * time).  Today: local files (`file://` URIs and bare paths).  A remote
 * filesystem (WebHDFS) plugs in as another struct flm_fsys_ops.
 */
#ifndef FLM_FSYS_H
#define FLM_FSYS_H

#include "core/err.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Wall clock in epoch ms used by file_roll and hdfs; tests replace it. */
extern uint64_t (*flm_filesinks_clock)(void);

struct flm_fsys_file;
struct flm_sout;

struct flm_fsys_ops {
    const char *scheme;     /* "file" */
    /* Creates path (truncating), parent directories included. */
    int (*create)(const char *path, struct flm_fsys_file **out, struct flm_err *err);
    /* Writes all n bytes; FLM_EIO with err set otherwise. */
    int (*write)(struct flm_fsys_file *f, const void *p, size_t n, struct flm_err *err);
    /* Writes all bytes of iov[0..n) in order (writev); optional: without it
     * flm_fsys_write_out makes the output contiguous and calls write. */
    int (*writev)(struct flm_fsys_file *f, const struct iovec *iov, int n, struct flm_err *err);
    /* Makes written bytes visible to readers (hflush); local: nothing left. */
    int (*flush)(struct flm_fsys_file *f, struct flm_err *err);
    int (*close)(struct flm_fsys_file *f, struct flm_err *err);   /* always frees f */
    /* Renames; fails when `to` exists (as HDFS does). */
    int (*rename)(const char *from, const char *to, struct flm_err *err);
};

extern const struct flm_fsys_ops flm_fsys_local;

/*
 * Splits a sink path into filesystem and local part: "file:///x" and "/x"
 * -> local "/x".  Other schemes: NULL with a sentence in why.
 */
const struct flm_fsys_ops *flm_fsys_for(const char *uri, const char **path, char *why,
                                        size_t wcap);

/* Writes a serializer's output (which must hold nothing, see
 * serializers/serializer.h) to f: one writev(2) of the pieces between its
 * gaps when fs has writev, else flattened and written.  Empties out on
 * success; on failure out keeps its bytes (possibly flattened). */
int flm_fsys_write_out(const struct flm_fsys_ops *fs, struct flm_fsys_file *f,
                       struct flm_sout *out, struct flm_err *err);

/* mkdir -p; FLM_OK when it exists. */
int flm_fsys_mkdirs(const char *dir, struct flm_err *err);

#endif
