/*
 * filech_int.h - private to the file channel's filech.c and filech_store.c:
 * the channel state, the transaction, and the functions the two share.
 * filech.c owns the transaction path (put/take/commit/rollback, group
 * commit, the queue); filech_store.c owns the files (create, roll, replay,
 * checkpoints, GC, directory locks).  Locking rules: see filech.c.
 */
#ifndef FLM_FILECH_INT_H
#define FLM_FILECH_INT_H

#include "channels/file/fc.h"

#include "core/component.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fc_file {
    uint32_t fid;
    int fd;
    unsigned dir;     /* index into fc->dirs */
    uint64_t refs;    /* queued + in-flight pointers into this file */
    int key;          /* index into fc->keys whose key encrypts its events; -1 plaintext */
    uint8_t nonce[FC_NONCE]; /* from its key record */
};

struct fc_txn;

struct fc_group {
    uint8_t *buf;
    size_t len, cap;
    struct fc_ptr *puts;     /* off relative to the group start; fid set at apply */
    size_t np, pcap;
    struct fc_txn **txns;
    size_t nt, tcap;
};

struct fc_chan {
    struct flm_channel *ch;
    pthread_mutex_t mu;
    pthread_cond_t not_empty, space, synced, tick, joined;
    /* queue */
    struct fc_ptr *ring;
    size_t rcap, head, count;   /* ring of rcap entries (any size) */
    size_t inflight, reserved, capacity;
    long keep_alive_ms;
    uint32_t txcap;
    struct fc_txn *active;      /* transactions holding takes */
    /* directories */
    char **dirs;                /* data dirs */
    size_t ndirs;
    char *ckpt_dir, *backup_dir;
    int *lock_fds;
    size_t nlocks;
    /* data files, sorted by fid */
    struct fc_file *files;
    size_t nfiles, fcap;
    uint32_t cur_fid;           /* file being appended to */
    int cur_fd;
    uint64_t cur_off;           /* end of written data; leader-owned */
    bool force_roll;            /* a failed sync left the file suspect */
    uint32_t applied_fid;       /* every record before (applied_fid, applied_off) */
    uint64_t applied_off;       /* is reflected in the queue */
    struct fc_group grp[2];
    int filling;
    bool leader;
    bool delaying;              /* a would-be leader waits briefly for a partner */
    bool last_had_puts;         /* the previous group carried puts */
    uint64_t ndelays;           /* commit delays taken (log at close) */
    bool broken;                /* the log cannot be appended safely any more */
    /* encryption (read-only after init, except wctx: leader-owned) */
    struct fc_keyring keys;     /* n == 0: no encryption configured */
    struct fc_cctx wctx;        /* the leader's AES-CTR context */
    /* settings */
    uint64_t max_file_size, min_space, ckpt_interval_ms, fsync_interval_ms;
    bool fsync_per_tx, ckpt_on_close, dual;
    /* free space cache (under mu) */
    uint64_t free_bytes, free_at_ms, written_since;
    bool space_low;
    /* checkpoint thread */
    pthread_t thr;
    bool thr_on, stop;
    bool ckpt_busy;             /* one checkpoint at a time */
    bool repaired;              /* a data dir holds FC_REPAIR_MARKER */
    uint64_t ngroups, ncommits; /* group writes and the commits they carried (log at close) */
    _Atomic bool unhealthy;
    _Atomic bool closed;
};

struct fc_txn {
    struct flm_txn base;        /* first: the core sees only this */
    struct fc_chan *fc;
    struct flm_event **puts;
    uint32_t np, putcap;
    size_t put_bytes;           /* sum of event encodings */
    struct fc_ptr *takes;
    uint32_t nt, takecap;
    struct fc_txn *anext, *aprev;
    bool in_active;
    bool done;
    int rc;
    uint32_t *poff;             /* each put's offset inside the record */
    uint8_t *wbuf, *rbuf;
    size_t wcap, rcap;
    struct fc_cctx rctx;        /* decrypts what this transaction takes */
};

static inline struct fc_chan *fc_of(const struct flm_channel *ch)
{
    return ch->c.ctx;
}

/* Extra counters (type->extra_ctrs), after the standard CHANNEL set. */
enum {
    X_OPEN = FLM_CH_NCTR, X_CLOSED, X_UNHEALTHY, X_PUT_ERR, X_TAKE_ERR, X_CKPT_ERR,
    X_CKPT_BACKUP_ERR
};

/* --- filech.c */

/* Grows *p (elem-sized entries) to hold need, doubling.  FLM_OK/FLM_ENOMEM. */
int flm_fc_grow(void **p, size_t *cap, size_t need, size_t elem);
/* Ring room for need pointers (mu held).  FLM_OK or FLM_ENOMEM. */
int flm_fc_ring_reserve(struct fc_chan *fc, size_t need);

/* --- filech_store.c */

char *flm_fc_expand_home(const char *s);            /* "~/x" -> "$HOME/x"; malloc'd */
int flm_fc_mkdirs(const char *path);                /* mkdir -p: 0 or -1 + errno */
int flm_fc_parse_dirs(struct fc_chan *fc, const char *list);   /* dataDirs -> fc->dirs */
/* Creates dir/in_use.lock and flocks it; error names the dir. */
int flm_fc_lock_dir(struct fc_chan *fc, const char *dir, struct flm_err *err);
void flm_fc_file_path(const struct fc_chan *fc, unsigned dir, uint32_t fid, char *out, size_t cap);
struct fc_file *flm_fc_file_find(struct fc_chan *fc, uint32_t fid);   /* mu held */
/* Inserts file fid (plaintext: key -1) keeping fid order; mu held once
 * the channel runs.  FLM_OK or FLM_ENOMEM. */
int flm_fc_file_add(struct fc_chan *fc, uint32_t fid, int fd, unsigned dir);
/* Creates log-<fid> (header, and with an active key a key record with a new
 * random nonce), durable before it returns.  *start = offset of the first
 * transaction record; nonce filled when encrypting.  FLM_OK or FLM_EIO. */
int flm_fc_file_create(struct fc_chan *fc, uint32_t fid, int *fdout, unsigned *dirout,
                       uint64_t *start, uint8_t nonce[FC_NONCE]);
/* Leader only, mu NOT held: continues in file cur_fid + 1. */
int flm_fc_file_roll(struct fc_chan *fc);
/* Writes a checkpoint (and backup), then collects files.  Any thread but
 * the leader's; not with mu held. */
int flm_fc_checkpoint(struct fc_chan *fc);
void *flm_fc_ckpt_thread(void *arg);                 /* pthread entry */
/* Replays at init: checkpoint + log tail -> queue; opens a fresh file. */
int flm_fc_replay_all(struct fc_chan *fc, struct flm_err *err);
/* After a replay that ignored the checkpoint because fcintegrity repaired
 * the files: writes a checkpoint, then removes the repair markers. */
void flm_fc_repair_done(struct fc_chan *fc);

#endif
