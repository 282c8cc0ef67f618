/*
 * fc.h - internals of the file channel (src/channels/file/), shared by its
 * source files, its unit tests, fuzz target and the fcintegrity tool.  Not a
 * public contract of the core.  The on-disk format is described once, at the
 * top of wal.c (and in docs/internals/file-channel.md).
 *
 *   wal.c        format, CRC32C, record and event codec (pure functions)
 *   replay.c     replay state and checkpoint codec (pure functions)
 *   fs.c         the swappable file-system operations table
 *   crypt.c      AES-CTR of event encodings, key file, key check values
 *   filech.c     the channel: queue, group commit, checkpoints, GC
 */
#ifndef FLM_FC_H
#define FLM_FC_H

#include "core/err.h"
#include "core/event.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/statvfs.h>
#include <sys/types.h>

/* ------------------------------------------------------------ constants */

#define FC_FILE_MAGIC "FLMFCLG1"      /* 8 bytes at offset 0 of every log-N */
#define FC_FILE_HDR 16u               /* magic, u32 file id, u32 CRC32C of bytes 0..11 */
#define FC_REC_MAGIC 0x31524346u      /* "FCR1" little-endian: a transaction record */
#define FC_NOOP_MAGIC 0x314E4346u     /* "FCN1": space blanked by fcintegrity */
#define FC_ENC_MAGIC 0x31454346u      /* "FCE1": a transaction record, event encodings encrypted */
#define FC_KEY_MAGIC 0x314B4346u      /* "FCK1": key record, first record of an encrypted file */
#define FC_KEYREC_FIXED 64u           /* key record bytes before the alias */
#define FC_ALIAS_MAX 128u             /* longest key alias */
#define FC_NONCE 12u                  /* per-file random nonce; IV = nonce || BE32(offset) */
#define FC_KCV 8u                     /* key check value bytes */
#define FC_CIPHER_AESCTR 1u           /* key record cipher id */
#define FC_REC_HDR 32u                /* record header bytes */
#define FC_EV_HDR 16u                 /* per-event header bytes */
#define FC_TAKE_SIZE 8u               /* u32 file id, u32 offset */
#define FC_REC_ALIGN 8u               /* records start at multiples of 8 */
#define FC_CKPT_MAGIC "FLMFCCK1"
#define FC_CKPT_HDR 48u
#define FC_PTR_SIZE 16u               /* checkpoint entry (on disk) */
#define FC_MAX_FILE_SIZE 2146435071LL /* Flume's clamp for maxFileSize */
#define FC_REPAIR_MARKER "fcintegrity.repaired" /* in a data dir: next start ignores checkpoints */

/* A queued event: where its encoding lives.  12 bytes per queued event is
 * all the channel keeps in memory (the body stays on disk); a checkpoint
 * stores each as 16 bytes (a zero word kept for later use). */
struct fc_ptr {
    uint32_t fid;   /* data file id (log-<fid>) */
    uint32_t off;   /* offset of the event encoding in that file */
    uint32_t len;   /* bytes of the event encoding */
};
_Static_assert(sizeof(struct fc_ptr) == 12, "a queued event costs 12 bytes");

static inline uint64_t fc_ptr_key(uint32_t fid, uint32_t off)
{
    return ((uint64_t)fid << 32) | off;
}

/* ---------------------------------------------------------------- CRC32C */

/* CRC-32C (Castagnoli, reflected 0x82F63B78), init/xorout 0xFFFFFFFF;
 * crc = previous value (0 to start) so calls chain. */
uint32_t flm_fc_crc32c(uint32_t crc, const void *p, size_t n);

/* ---------------------------------------------------------------- codec */

static inline void fc_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}
static inline uint32_t fc_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline void fc_put64(uint8_t *p, uint64_t v)
{
    fc_put32(p, (uint32_t)v);
    fc_put32(p + 4, (uint32_t)(v >> 32));
}
static inline uint64_t fc_get64(const uint8_t *p)
{
    return (uint64_t)fc_get32(p) | (uint64_t)fc_get32(p + 4) << 32;
}

/* Bytes of ev's encoding (event header + headers + body); 0 if it would not
 * fit in 32 bits. */
size_t flm_fc_event_size(const struct flm_event *ev);
/* Writes ev's encoding (exactly flm_fc_event_size bytes) at out. */
void flm_fc_event_encode(const struct flm_event *ev, uint8_t *out);
/* Checks one event encoding of len bytes (CRC and structure).  FLM_OK or
 * FLM_ECORRUPT. */
int flm_fc_event_check(const uint8_t *p, size_t len);
/* Decodes (and checks) one event encoding into a new event.  FLM_OK,
 * FLM_ECORRUPT or FLM_ENOMEM. */
int flm_fc_event_decode(const uint8_t *p, size_t len, struct flm_event **out);

/* Record size (header + payload, padded to FC_REC_ALIGN) for ntake takes
 * and put encodings of put_bytes in total; 0 on overflow past 2 GiB. */
size_t flm_fc_rec_size(size_t ntake, size_t put_bytes);
/* Fills the record header at rec once its payload (rec + FC_REC_HDR, size
 * total - FC_REC_HDR, padding zeroed by the caller) is in place. */
void flm_fc_rec_seal(uint8_t *rec, size_t total, uint32_t nput, uint32_t ntake, uint64_t ms,
                     uint32_t magic);

/* Kinds of record (by magic). */
enum { FC_K_PLAIN, FC_K_ENC, FC_K_NOOP, FC_K_KEY };

/* A record as parsed from a buffer. */
struct fc_rec {
    uint32_t total;          /* bytes incl. header and padding */
    uint32_t nput, ntake;
    bool noop;               /* NOOP or KEY: no effect on the queue */
    int kind;                /* FC_K_*: ENC = event encodings encrypted (bytes 8..len-1) */
    uint64_t ms;             /* commit time, epoch ms (diagnostics only) */
    const uint8_t *takes;    /* ntake x 8 bytes */
    const uint8_t *events;   /* first event encoding */
    uint32_t events_len;
};

/* Parses the record at p (avail bytes available).  FLM_OK (r filled, the
 * record's CRC and structure are valid), FLM_EAGAIN (the header is fine but
 * the record extends past avail: supply more bytes) or FLM_ECORRUPT.  Pure. */
int flm_fc_rec_parse(const uint8_t *p, size_t avail, struct fc_rec *r);

/* What a key record (FCK1) says: the key that encrypts every FCE1 record of
 * its file, and the file's nonce. */
struct fc_keyinfo {
    uint32_t keylen;                 /* 16 or 32 bytes (AES-128 / AES-256) */
    uint8_t nonce[FC_NONCE];
    uint8_t kcv[FC_KCV];
    char alias[FC_ALIAS_MAX + 1];
};
/* Bytes of the key record for ki (padded). */
size_t flm_fc_keyrec_size(const struct fc_keyinfo *ki);
/* Writes the sealed key record (flm_fc_keyrec_size bytes) at out. */
void flm_fc_keyrec_build(uint8_t *out, const struct fc_keyinfo *ki, uint64_t ms);
/* Parses a key record at p (avail bytes).  FLM_OK (ki filled), FLM_EAGAIN
 * (incomplete) or FLM_ECORRUPT (not a valid key record).  Pure. */
int flm_fc_keyrec_parse(const uint8_t *p, size_t avail, struct fc_keyinfo *ki);
/* True when an event encoding's length word and CRC match (no structure
 * check: the structure of an encrypted event is ciphertext).  Pure. */
bool flm_fc_event_crc_ok(const uint8_t *p, size_t len);
/* Decodes one plaintext event encoding whose CRC the caller already checked
 * (over the ciphertext).  FLM_OK, FLM_ECORRUPT (structure), FLM_ENOMEM. */
int flm_fc_event_decode_nocrc(const uint8_t *p, size_t len, struct flm_event **out);

/* Writes a data file header for fid into out[FC_FILE_HDR]. */
void flm_fc_file_header(uint8_t *out, uint32_t fid);
/* FLM_OK when p[0..FC_FILE_HDR) is a valid header (id stored in *fid). */
int flm_fc_file_header_check(const uint8_t *p, size_t len, uint32_t *fid);

/* True when a valid record (magic and CRC) starts at some FC_REC_ALIGN
 * multiple in buf[1..len) relative to buf (buf itself starts aligned).  Used
 * to tell a torn tail (nothing valid follows) from a corrupt middle. */
bool flm_fc_valid_record_after(const uint8_t *buf, size_t len, size_t *at);

/* ---------------------------------------------------------- checkpoint */

struct fc_ckpt {
    uint32_t fid;            /* replay resumes here: file id ... */
    uint32_t off;            /* ... and offset */
    uint64_t count;          /* entries */
    uint64_t ms;             /* when written, epoch ms */
    const uint8_t *entries;  /* count x 16 bytes: fid, off, len, 0 (little-endian) */
};

/* Size of a checkpoint holding n entries. */
size_t flm_fc_ckpt_size(size_t n);
/* Writes header and CRC into buf (flm_fc_ckpt_size(n) bytes) whose entries
 * area (buf + FC_CKPT_HDR) the caller already filled. */
void flm_fc_ckpt_seal(uint8_t *buf, size_t n, uint32_t fid, uint32_t off, uint64_t ms);
/* Validates a checkpoint image.  FLM_OK (ck filled, pointing into buf) or
 * FLM_ECORRUPT.  Pure. */
int flm_fc_ckpt_parse(const uint8_t *buf, size_t len, struct fc_ckpt *ck);

/* --------------------------------------------------------------- replay */

/* Rebuilds the queue from a checkpoint and the records after it, in log
 * order: puts append, takes remove by (file id, offset).  Pure. */
struct fc_replay {
    int mode;                /* set by the driver per file: 0 accept any record kind,
                                1 plaintext file (FCE1/FCK1 are corrupt), 2 encrypted
                                file (FCR1 with puts, or FCK1 past the header, corrupt) */
    struct fc_ptr *q;        /* queue, in order */
    size_t n, cap;
    uint64_t *set;           /* taken keys, open addressing, 0 = empty */
    size_t nset, setcap;
    uint64_t records, puts, takes;
};

int flm_fc_replay_init(struct fc_replay *r, const struct fc_ckpt *ck);
/* Applies every complete record in buf, which holds file fid's bytes
 * starting at file offset base.  *used = bytes consumed (whole records).
 * FLM_OK: everything consumed, or the last record is incomplete (read more
 * from base + *used, or at EOF decide torn/corrupt).  FLM_ECORRUPT: the
 * record at base + *used is invalid.  FLM_ENOMEM. */
int flm_fc_replay_buf(struct fc_replay *r, uint32_t fid, const uint8_t *buf, size_t len,
                      uint64_t base, size_t *used);
/* Drops the taken entries from the queue.  FLM_OK or FLM_ENOMEM. */
int flm_fc_replay_finish(struct fc_replay *r);
void flm_fc_replay_free(struct fc_replay *r);

/* ------------------------------------------------------------- fs ops */

/* Every file-system call of the file channel goes through this table so
 * tests can inject ENOSPC, EIO on fsync, short writes and crash points
 * (STYLE.md 3.9).  Same contracts as the libc calls (-1 + errno). */
struct flm_fs_ops {
    int (*open)(const char *path, int flags, mode_t mode);
    int (*close)(int fd);
    ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
    ssize_t (*pread)(int fd, void *buf, size_t n, off_t off);
    int (*fdatasync)(int fd);
    int (*ftruncate)(int fd, off_t len);
    int (*rename)(const char *from, const char *to);
    int (*unlink)(const char *path);
    int (*fsync_dir)(const char *dir);
    int (*statvfs)(const char *path, struct statvfs *st);
    int (*flock)(int fd, int op);
};

/* The table in use (the real one unless a test swapped it). */
const struct flm_fs_ops *flm_fc_fs(void);
/* The libc-backed table, for tests that wrap it. */
extern const struct flm_fs_ops flm_fc_fs_real;
/* Test-only: swaps the table (NULL restores the real one).  Not thread-safe
 * against running channels: call it before opening them. */
void flm_fc_fs_set_for_test(const struct flm_fs_ops *ops);

/* pwrite/pread all n bytes (retrying short transfers).  0, or -1 with errno
 * (a write that makes no progress fails with EIO). */
int flm_fc_pwrite_all(int fd, const void *buf, size_t n, uint64_t off);
/* Reads up to n bytes; returns bytes read (short only at EOF) or -1. */
ssize_t flm_fc_pread_all(int fd, void *buf, size_t n, uint64_t off);

/* ------------------------------------------------------------- crypto */

/* One key of the key file. */
struct fc_key {
    char alias[FC_ALIAS_MAX + 1];
    uint8_t key[32];
    uint32_t len;            /* 16 or 32 */
    uint8_t kcv[FC_KCV];
};

struct fc_keyring {
    struct fc_key *v;
    size_t n;
    int active;              /* index of encryption.activeKey, -1 = write plaintext */
    char *path;              /* the key file (for messages) */
};

/* Loads the keys named by aliases[0..n) (and active, if not NULL) from the
 * key file at path (format in crypt.c / docs/internals/file-channel.md).
 * Refuses a file that group or others can access.  FLM_OK, or an error with
 * err naming the file, line or alias.  Agent thread. */
int flm_fc_keyring_load(struct fc_keyring *kr, const char *path, char *const *aliases, size_t n,
                        const char *active, struct flm_err *err);
void flm_fc_keyring_free(struct fc_keyring *kr);
/* Index of alias in kr, or -1. */
int flm_fc_keyring_find(const struct fc_keyring *kr, const char *alias);
/* Key check value of a raw key.  FLM_OK or FLM_ERR (OpenSSL failure). */
int flm_fc_kcv(const uint8_t *key, uint32_t len, uint8_t out[FC_KCV]);
/* Random bytes from OpenSSL's CSPRNG.  FLM_OK or FLM_ERR. */
int flm_fc_random(uint8_t *out, size_t n);

/* A reusable AES-CTR context (one per thread of use). */
struct fc_cctx {
    void *evp;               /* EVP_CIPHER_CTX */
    const struct fc_key *key; /* key scheduled in evp */
};
/* XORs buf[0..n), which sits at file offset off, with the file's AES-CTR
 * keystream from byte off on: keystream byte x is byte x % 16 of
 * AES(key, nonce || BE32(x / 16)).  Encrypt and decrypt are the same.
 * FLM_OK or FLM_ERR (OpenSSL failure, or off past 64 GiB). */
int flm_fc_ctr_xor(struct fc_cctx *c, const struct fc_key *k, const uint8_t nonce[FC_NONCE],
                   uint64_t off, uint8_t *buf, size_t n);
void flm_fc_cctx_free(struct fc_cctx *c);
/* Encrypts, in place, the event encodings of the sealed FCE1 record rec
 * (plaintext) that will be written at file offset off of a file with the
 * given nonce: bytes 8..len-1 of each event (its length stays clear), then
 * recomputes the event CRCs and the record CRC so they cover the
 * ciphertext.  puts[0..nput) are the record's events' pointers (only len is
 * used).  Non-FCE1 records are left alone.  FLM_OK or FLM_ERR. */
int flm_fc_rec_encrypt(struct fc_cctx *c, const struct fc_key *k, const uint8_t nonce[FC_NONCE],
                       uint8_t *rec, uint64_t off, const struct fc_ptr *puts);

/* ------------------------------------------------------------- tools */

/* `flumen tools fcintegrity -l DIRS`: see src/cli/tools_fcintegrity.c. */
int flm_fc_integrity(const char *const *dirs, size_t ndirs, bool fix, FILE *out, size_t *bad);

#endif
