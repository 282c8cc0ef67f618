/*
 * fsys_webhdfs.h - the WebHDFS filesystem of the file sinks (hdfs:// and
 * webhdfs:// paths), behind the same struct flm_fsys_ops as local files.
 *
 * The ops receive full URIs ("hdfs://nn:8020/dir/f.tmp").  struct
 * flm_fsys_ops has no per-instance context, so each sink attaches its
 * settings (HTTP port, user, callTimeout) for its namenode authority once
 * (flm_webhdfs_attach) and detaches them when it is destroyed.
 */
#ifndef FLM_FSYS_WEBHDFS_H
#define FLM_FSYS_WEBHDFS_H

#include "sinks/hdfs/fsys.h"

#include <stdbool.h>

extern const struct flm_fsys_ops flm_fsys_webhdfs;

struct flm_webhdfs_opts {
    long http_port;          /* namenode HTTP port for hdfs:// URIs (webhdfs:// carry theirs) */
    const char *proxy_user;  /* NULL/"": none; else sent as doas= */
    long long call_timeout_ms; /* bound of each op, retries included (<= 0: 30000) */
};

/* true when uri starts with "hdfs://" or "webhdfs://" (case-insensitive). */
bool flm_webhdfs_is_uri(const char *uri);

/* Checks the namenode part of a WebHDFS URI: a host is required and the
 * authority may not hold escape sequences.  FLM_OK, or FLM_ERR with a
 * sentence naming the URI in why. */
int flm_webhdfs_check(const char *uri, char *why, size_t wcap);

/* Registers o for uri's namenode (scheme + authority), reference counted.
 * FLM_ERR with why when another live sink attached the same namenode with
 * different settings. */
int flm_webhdfs_attach(const char *uri, const struct flm_webhdfs_opts *o, char *why,
                       size_t wcap);
/* Drops one reference taken by flm_webhdfs_attach. */
void flm_webhdfs_detach(const char *uri);

/* The user name sent as user.name: $HADOOP_USER_NAME, else $USER, else the
 * name of the effective uid (Hadoop's simple-auth login user). */
void flm_webhdfs_login_user(char *out, size_t cap);

#endif
