/*
 * wal.c - the file channel's on-disk format and its codec: CRC32C, data file
 * header, transaction records, event encodings.  Pure functions over
 * buffers (no I/O, no locks): any thread; fuzzed by tests/fuzz/fuzz_filech_replay.c.
 *
 * ======================================================================
 * ON-DISK FORMAT (version 1).  A change here bumps the magics below and
 * updates docs/internals/file-channel.md in the same commit.  Java Flume's
 * file-channel directories cannot be read (and are not recognised: a Java
 * log file fails the header check and the channel refuses to start).
 * ======================================================================
 *
 * All integers are little-endian.  CRC is CRC-32C (Castagnoli polynomial
 * 0x1EDC6F41, reflected 0x82F63B78, init and final xor 0xFFFFFFFF), chosen
 * over zlib's CRC-32 because x86-64 computes it with the SSE4.2 crc32
 * instruction (several GB/s, which keeps replay of 1 M events well under a
 * second); a table-driven version is used where the CPU lacks it.
 *
 * Directories: checkpointDir (file `checkpoint`), optional
 * backupCheckpointDir (its own `checkpoint`), dataDirs (files `log-<N>`).
 * Every directory holds `in_use.lock`, flock(LOCK_EX) while a channel uses it.
 *
 * DATA FILE log-<N> (N = file id, decimal, increasing; new files go to
 * dataDirs round-robin: dir index N mod number-of-dirs):
 *   off  size
 *   0    8    magic "FLMFCLG1"
 *   8    4    file id N
 *   12   4    CRC32C of bytes 0..11
 *   16   ...  records, back to back, each starting at a multiple of 8
 *
 * RECORD: one per committed transaction (puts and takes together, so a
 * transaction is durable whole or not at all; a rolled-back or uncommitted
 * transaction writes nothing):
 *   off  size
 *   0    4    magic 0x31524346 ("FCR1"); 0x31454346 ("FCE1") = the same
 *             with encrypted events (see ENCRYPTION); 0x314E4346 ("FCN1") =
 *             NOOP, space blanked by the integrity tool, skipped by replay;
 *             0x314B4346 ("FCK1") = key record (see ENCRYPTION)
 *   4    4    CRC32C of bytes 8 .. total-1 (rest of header, payload, padding)
 *   8    4    total: record bytes including this header and the padding
 *             (multiple of 8, >= 32)
 *   12   4    nput
 *   16   4    ntake
 *   20   4    0 (reserved)
 *   24   8    commit time, epoch ms (diagnostics only)
 *   32   ...  ntake take entries, 8 bytes each: u32 file id, u32 offset of
 *             the taken event's encoding (its identity: never reused, as file
 *             ids only grow)
 *        ...  nput event encodings, back to back
 *        ...  zero padding to the next multiple of 8
 *
 * ENCRYPTION (encryption.activeKey set; crypt.c).  Every data file is
 * written under one key or none.  An encrypted file's first record, at
 * offset 16, synced with the header before any commit, is a KEY RECORD:
 *   0    4    magic 0x314B4346 ("FCK1")
 *   4    4    CRC32C of bytes 8 .. total-1
 *   8    4    total (multiple of 8)
 *   12   8    0 (nput, ntake)     20  4  0     24  8  created, epoch ms
 *   32   4    cipher: 1 = AES-CTR (OpenSSL EVP)
 *   36   4    key length: 16 (AES-128) or 32 (AES-256)
 *   40   12   nonce: random, new for every file
 *   52   8    key check value: first 8 bytes of AES-ECB(key, "flumen-kcv-v1"
 *             + 3 zero bytes); start refuses a key whose KCV differs (wrong
 *             key) and an alias that is not configured (missing key)
 *   60   4    alias length A (1..128)
 *   64   A    key alias, then zero padding
 * Its transaction records with puts use magic 0x31454346 ("FCE1") instead
 * of FCR1: same layout, but bytes 8 .. len-1 of every event encoding are
 * encrypted (CRC and len stay clear).  The file has one AES-CTR keystream
 * with counter block nonce || BE32(x / 16): the byte at file offset x is
 * XORed with keystream byte x, so the IV of an event at offset O is
 * nonce || BE32(O / 16) (skipping O % 16 bytes) and no keystream byte is
 * used twice (offsets only grow; after a failed write an encrypting channel
 * moves to a new file rather than rewrite truncated offsets).  All CRCs
 * (record and event) cover the CIPHERTEXT: replay, the torn-tail rule and
 * fcintegrity need no key.  An FCE1/FCK1 record in a plaintext file, or an
 * FCR1 put (or a second FCK1) in an encrypted file, is a corrupt record.
 *
 * EVENT ENCODING (what a queue pointer designates; read alone by take, so it
 * carries its own checksum):
 *   0    4    CRC32C of bytes 4 .. len-1
 *   4    4    len: bytes of this encoding
 *   8    4    number of headers H
 *   12   4    body length B
 *   16   ...  H x (u32 key length, u32 value length, key bytes, value bytes)
 *        ...  B body bytes
 *
 * VALID RECORD: magic matches, 32 <= total, total multiple of 8, the whole
 * record is present, the CRC matches, and the payload parses exactly (take
 * area and nput event encodings fill it up to the padding, which is < 8 and
 * zero).  Replay reads records in file order, then files in id order.
 *
 * TORN TAIL vs CORRUPT MIDDLE.  When replay meets an invalid record at
 * offset O of file N:
 *   - if N is the newest data file and no valid record starts at any
 *     8-aligned offset after O in that file, the bytes from O on are a torn
 *     tail (a commit whose fdatasync never returned, so it was never
 *     acknowledged): the file is truncated to O and a WARN names file and
 *     offset;
 *   - otherwise it is a corrupt middle: the channel refuses to start with an
 *     error naming file and offset (FLM_ECORRUPT) until the user runs
 *     `flumen tools fcintegrity -l <dataDirs>`, which blanks bad regions
 *     with NOOP records.  A damaged region over 64 MiB is never treated as a
 *     torn tail.
 * A newest file shorter than its header, or with a bad header, holds no
 * committed data (the header is synced with the first commit) and is removed.
 *
 * CHECKPOINT (checkpointDir/checkpoint, and backupCheckpointDir/checkpoint
 * with useDualCheckpoints):
 *   0    8    magic "FLMFCCK1"
 *   8    4    CRC32C of bytes 12 .. end
 *   12   4    version 1
 *   16   4    resume file id: replay continues at this file ...
 *   20   4    resume offset:  ... and offset (records before it are covered)
 *   24   8    count: queue entries
 *   32   8    written at, epoch ms
 *   40   8    0 (reserved)
 *   48   ...  count x 16-byte entries: u32 file id, u32 offset, u32 length,
 *             u32 0 -- the queue in order, head first, including events
 *             taken by transactions not yet committed (they return on a crash)
 * Written atomically: `checkpoint.tmp` is written, fdatasync'ed, renamed over
 * `checkpoint`, and the directory is fsync'ed; then the same in the backup
 * directory.  A missing or invalid checkpoint (bad magic, CRC, size, or an
 * entry in a data file that no longer exists) falls back to the backup,
 * then to a full replay of every data file (logged at WARN).
 *
 * GARBAGE COLLECTION: a data file is deleted once no queued or in-flight
 * event points into it and a durable checkpoint resumes in a later file.
 * ======================================================================
 */
#include "channels/file/fc.h"

#include "core/err.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- CRC32C */

static uint32_t crc_table[8][256];
static int crc_hw = -1;   /* -1 unknown, 0 table, 1 SSE4.2 */

static void crc_init_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
}

/* Slicing-by-8 software CRC32C (state already inverted). */
static uint32_t crc_sw(uint32_t c, const uint8_t *p, size_t n)
{
    while (n >= 8) {
        uint32_t lo = c ^ fc_get32(p), hi = fc_get32(p + 4);
        c = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^
            crc_table[5][(lo >> 16) & 0xFF] ^ crc_table[4][lo >> 24] ^
            crc_table[3][hi & 0xFF] ^ crc_table[2][(hi >> 8) & 0xFF] ^
            crc_table[1][(hi >> 16) & 0xFF] ^ crc_table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        c = crc_table[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("sse4.2"))) static uint32_t crc_hw_run(uint32_t c, const uint8_t *p,
                                                               size_t n)
{
    uint64_t c64 = c;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c64 = __builtin_ia32_crc32di(c64, v);
        p += 8;
        n -= 8;
    }
    c = (uint32_t)c64;
    while (n--)
        c = __builtin_ia32_crc32qi(c, *p++);
    return c;
}
#define FC_HAVE_HW 1
#else
#define FC_HAVE_HW 0
#endif

uint32_t flm_fc_crc32c(uint32_t crc, const void *p, size_t n)
{
    int hw = __atomic_load_n(&crc_hw, __ATOMIC_ACQUIRE);
    if (hw < 0) {
        crc_init_table();
#if FC_HAVE_HW
        hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#else
        hw = 0;
#endif
        if (getenv("FLUMEN_FC_SOFT_CRC") != NULL) /* test hook: exercise the table path */
            hw = 0;
        __atomic_store_n(&crc_hw, hw, __ATOMIC_RELEASE);
    }
    uint32_t c = ~crc;
#if FC_HAVE_HW
    if (hw == 1)
        return ~crc_hw_run(c, p, n);
#endif
    return ~crc_sw(c, p, n);
}

/* ------------------------------------------------------------ data file */

void flm_fc_file_header(uint8_t *out, uint32_t fid)
{
    memcpy(out, FC_FILE_MAGIC, 8);
    fc_put32(out + 8, fid);
    fc_put32(out + 12, flm_fc_crc32c(0, out, 12));
}

int flm_fc_file_header_check(const uint8_t *p, size_t len, uint32_t *fid)
{
    if (len < FC_FILE_HDR || memcmp(p, FC_FILE_MAGIC, 8) != 0 ||
        fc_get32(p + 12) != flm_fc_crc32c(0, p, 12))
        return FLM_ECORRUPT;
    *fid = fc_get32(p + 8);
    return FLM_OK;
}

/* ---------------------------------------------------------------- events */

size_t flm_fc_event_size(const struct flm_event *ev)
{
    uint64_t n = FC_EV_HDR + (uint64_t)ev->body_len;
    for (uint32_t i = 0; i < ev->nhdr; i++)
        n += 8 + (uint64_t)ev->hdr[i].klen + ev->hdr[i].vlen;
    return n > UINT32_MAX ? 0 : (size_t)n;
}

void flm_fc_event_encode(const struct flm_event *ev, uint8_t *out)
{
    size_t len = flm_fc_event_size(ev);
    uint8_t *p = out + FC_EV_HDR;
    fc_put32(out + 4, (uint32_t)len);
    fc_put32(out + 8, ev->nhdr);
    fc_put32(out + 12, ev->body_len);
    for (uint32_t i = 0; i < ev->nhdr; i++) {
        fc_put32(p, ev->hdr[i].klen);
        fc_put32(p + 4, ev->hdr[i].vlen);
        memcpy(p + 8, ev->hdr[i].key, ev->hdr[i].klen);
        memcpy(p + 8 + ev->hdr[i].klen, ev->hdr[i].val, ev->hdr[i].vlen);
        p += 8 + ev->hdr[i].klen + ev->hdr[i].vlen;
    }
    if (ev->body_len)
        memcpy(p, ev->body, ev->body_len);
    fc_put32(out, flm_fc_crc32c(0, out + 4, len - 4));
}

/* Structure check without the CRC; fills nhdr/body offsets.  Lengths are
 * untrusted: every step is bounds-checked against len. */
static int event_walk(const uint8_t *p, size_t len, uint32_t *nhdr, size_t *body_at,
                      uint32_t *body_len)
{
    if (len < FC_EV_HDR || fc_get32(p + 4) != len)
        return FLM_ECORRUPT;
    uint32_t h = fc_get32(p + 8), b = fc_get32(p + 12);
    size_t at = FC_EV_HDR;
    for (uint32_t i = 0; i < h; i++) {
        if (len - at < 8)
            return FLM_ECORRUPT;
        uint64_t kv = (uint64_t)fc_get32(p + at) + fc_get32(p + at + 4);
        if (kv > len - at - 8)
            return FLM_ECORRUPT;
        at += 8 + (size_t)kv;
    }
    if (len - at != b)
        return FLM_ECORRUPT;
    *nhdr = h;
    *body_at = at;
    *body_len = b;
    return FLM_OK;
}

int flm_fc_event_check(const uint8_t *p, size_t len)
{
    uint32_t h, b;
    size_t at;
    if (event_walk(p, len, &h, &at, &b) != FLM_OK)
        return FLM_ECORRUPT;
    return fc_get32(p) == flm_fc_crc32c(0, p + 4, len - 4) ? FLM_OK : FLM_ECORRUPT;
}

bool flm_fc_event_crc_ok(const uint8_t *p, size_t len)
{
    return len >= FC_EV_HDR && fc_get32(p + 4) == len &&
           fc_get32(p) == flm_fc_crc32c(0, p + 4, len - 4);
}

int flm_fc_event_decode(const uint8_t *p, size_t len, struct flm_event **out)
{
    *out = NULL;
    if (flm_fc_event_check(p, len) != FLM_OK)
        return FLM_ECORRUPT;
    return flm_fc_event_decode_nocrc(p, len, out);
}

int flm_fc_event_decode_nocrc(const uint8_t *p, size_t len, struct flm_event **out)
{
    uint32_t h, b;
    size_t at;
    *out = NULL;
    if (event_walk(p, len, &h, &at, &b) != FLM_OK)
        return FLM_ECORRUPT;
    struct flm_hdr stack[16], *hd = stack;
    if (h > 16) {
        /* h is bounded by len / 8 after event_walk, so this cannot overflow. */
        hd = malloc((size_t)h * sizeof(*hd));
        if (hd == NULL)
            return FLM_ENOMEM;
    }
    /* Keys and values are not NUL-terminated on disk; flm_event_new copies
     * them by length and terminates them. */
    size_t q = FC_EV_HDR;
    for (uint32_t i = 0; i < h; i++) {
        uint32_t kl = fc_get32(p + q), vl = fc_get32(p + q + 4);
        hd[i] = (struct flm_hdr){(const char *)p + q + 8, (const char *)p + q + 8 + kl, kl, vl};
        q += 8 + (size_t)kl + vl;
    }
    struct flm_event *ev = flm_event_new(p + at, b, h ? hd : NULL, h);
    if (hd != stack)
        free(hd);
    if (ev == NULL)
        return FLM_ENOMEM;
    *out = ev;
    return FLM_OK;
}

/* --------------------------------------------------------------- records */

size_t flm_fc_rec_size(size_t ntake, size_t put_bytes)
{
    uint64_t n = FC_REC_HDR + (uint64_t)ntake * FC_TAKE_SIZE + put_bytes;
    n = (n + FC_REC_ALIGN - 1) & ~(uint64_t)(FC_REC_ALIGN - 1);
    return n > 0x7FFFFFF8u ? 0 : (size_t)n;
}

void flm_fc_rec_seal(uint8_t *rec, size_t total, uint32_t nput, uint32_t ntake, uint64_t ms,
                     uint32_t magic)
{
    fc_put32(rec, magic);
    fc_put32(rec + 8, (uint32_t)total);
    fc_put32(rec + 12, nput);
    fc_put32(rec + 16, ntake);
    fc_put32(rec + 20, 0);
    fc_put64(rec + 24, ms);
    fc_put32(rec + 4, flm_fc_crc32c(0, rec + 8, total - 8));
}

int flm_fc_rec_parse(const uint8_t *p, size_t avail, struct fc_rec *r)
{
    if (avail < FC_REC_HDR)
        return FLM_EAGAIN;
    uint32_t magic = fc_get32(p), total = fc_get32(p + 8);
    if ((magic != FC_REC_MAGIC && magic != FC_NOOP_MAGIC && magic != FC_ENC_MAGIC &&
         magic != FC_KEY_MAGIC) ||
        total < FC_REC_HDR ||
        total % FC_REC_ALIGN != 0 || total > 0x7FFFFFF8u)
        return FLM_ECORRUPT;
    if (total > avail)
        return FLM_EAGAIN;
    if (fc_get32(p + 4) != flm_fc_crc32c(0, p + 8, total - 8))
        return FLM_ECORRUPT;
    r->total = total;
    r->kind = magic == FC_NOOP_MAGIC ? FC_K_NOOP
              : magic == FC_KEY_MAGIC ? FC_K_KEY
              : magic == FC_ENC_MAGIC ? FC_K_ENC
                                      : FC_K_PLAIN;
    r->noop = r->kind == FC_K_NOOP || r->kind == FC_K_KEY;
    r->nput = fc_get32(p + 12);
    r->ntake = fc_get32(p + 16);
    r->ms = fc_get64(p + 24);
    if (r->kind == FC_K_KEY) {
        struct fc_keyinfo ki;
        if (flm_fc_keyrec_parse(p, avail, &ki) != FLM_OK)
            return FLM_ECORRUPT;
    }
    if (r->noop) {
        r->nput = r->ntake = 0;
        r->takes = r->events = p + FC_REC_HDR;
        r->events_len = 0;
        return FLM_OK;
    }
    size_t body = total - FC_REC_HDR;
    if (r->ntake > body / FC_TAKE_SIZE)
        return FLM_ECORRUPT;
    r->takes = p + FC_REC_HDR;
    size_t at = (size_t)r->ntake * FC_TAKE_SIZE;
    r->events = p + FC_REC_HDR + at;
    /* Walk the event encodings: they must fill the payload up to < 8 bytes
     * of zero padding. */
    for (uint32_t i = 0; i < r->nput; i++) {
        if (body - at < FC_EV_HDR)
            return FLM_ECORRUPT;
        uint32_t el = fc_get32(p + FC_REC_HDR + at + 4);
        if (el < FC_EV_HDR || el > body - at)
            return FLM_ECORRUPT;
        uint32_t h, b;
        size_t bat;
        /* An encrypted event's structure is ciphertext: only its length is
         * checked here (its CRC covers the ciphertext and is checked when it
         * is read, and by the integrity tool). */
        if (r->kind == FC_K_PLAIN &&
            event_walk(p + FC_REC_HDR + at, el, &h, &bat, &b) != FLM_OK)
            return FLM_ECORRUPT; /* each event's own CRC is checked when it is read */
        at += el;
    }
    if (body - at >= FC_REC_ALIGN)
        return FLM_ECORRUPT;
    for (size_t i = at; i < body; i++)
        if (p[FC_REC_HDR + i] != 0)
            return FLM_ECORRUPT;
    r->events_len = (uint32_t)(at - (size_t)r->ntake * FC_TAKE_SIZE);
    return FLM_OK;
}

bool flm_fc_valid_record_after(const uint8_t *buf, size_t len, size_t *at)
{
    for (size_t o = FC_REC_ALIGN; o + FC_REC_HDR <= len; o += FC_REC_ALIGN) {
        uint32_t m = fc_get32(buf + o);
        if (m != FC_REC_MAGIC && m != FC_NOOP_MAGIC && m != FC_ENC_MAGIC && m != FC_KEY_MAGIC)
            continue;
        struct fc_rec r;
        if (flm_fc_rec_parse(buf + o, len - o, &r) == FLM_OK) {
            if (at)
                *at = o;
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------ key record */

size_t flm_fc_keyrec_size(const struct fc_keyinfo *ki)
{
    size_t n = FC_KEYREC_FIXED + strlen(ki->alias);
    return (n + FC_REC_ALIGN - 1) & ~(size_t)(FC_REC_ALIGN - 1);
}

void flm_fc_keyrec_build(uint8_t *out, const struct fc_keyinfo *ki, uint64_t ms)
{
    size_t total = flm_fc_keyrec_size(ki), al = strlen(ki->alias);
    memset(out, 0, total);
    fc_put32(out + 32, FC_CIPHER_AESCTR);
    fc_put32(out + 36, ki->keylen);
    memcpy(out + 40, ki->nonce, FC_NONCE);
    memcpy(out + 52, ki->kcv, FC_KCV);
    fc_put32(out + 60, (uint32_t)al);
    memcpy(out + FC_KEYREC_FIXED, ki->alias, al);
    flm_fc_rec_seal(out, total, 0, 0, ms, FC_KEY_MAGIC);
}

int flm_fc_keyrec_parse(const uint8_t *p, size_t avail, struct fc_keyinfo *ki)
{
    if (avail < FC_REC_HDR)
        return FLM_EAGAIN;
    uint32_t total = fc_get32(p + 8);
    if (fc_get32(p) != FC_KEY_MAGIC || total < FC_KEYREC_FIXED ||
        total > FC_KEYREC_FIXED + FC_ALIAS_MAX + FC_REC_ALIGN || total % FC_REC_ALIGN != 0)
        return FLM_ECORRUPT;
    if (total > avail)
        return FLM_EAGAIN;
    if (fc_get32(p + 4) != flm_fc_crc32c(0, p + 8, total - 8))
        return FLM_ECORRUPT;
    uint32_t kl = fc_get32(p + 36), al = fc_get32(p + 60);
    if (fc_get32(p + 12) != 0 || fc_get32(p + 16) != 0 || fc_get32(p + 32) != FC_CIPHER_AESCTR ||
        (kl != 16 && kl != 32) || al == 0 || al > FC_ALIAS_MAX ||
        ((FC_KEYREC_FIXED + al + FC_REC_ALIGN - 1) & ~(FC_REC_ALIGN - 1)) != total)
        return FLM_ECORRUPT;
    for (uint32_t i = FC_KEYREC_FIXED + al; i < total; i++)
        if (p[i] != 0)
            return FLM_ECORRUPT;
    ki->keylen = kl;
    memcpy(ki->nonce, p + 40, FC_NONCE);
    memcpy(ki->kcv, p + 52, FC_KCV);
    memcpy(ki->alias, p + FC_KEYREC_FIXED, al);
    ki->alias[al] = '\0';
    if (memchr(ki->alias, '\0', al) != NULL)
        return FLM_ECORRUPT;
    return FLM_OK;
}

/* ------------------------------------------------------------ checkpoint */

size_t flm_fc_ckpt_size(size_t n)
{
    return FC_CKPT_HDR + n * FC_PTR_SIZE;
}

void flm_fc_ckpt_seal(uint8_t *buf, size_t n, uint32_t fid, uint32_t off, uint64_t ms)
{
    memcpy(buf, FC_CKPT_MAGIC, 8);
    fc_put32(buf + 12, 1);
    fc_put32(buf + 16, fid);
    fc_put32(buf + 20, off);
    fc_put64(buf + 24, n);
    fc_put64(buf + 32, ms);
    fc_put64(buf + 40, 0);
    fc_put32(buf + 8, flm_fc_crc32c(0, buf + 12, flm_fc_ckpt_size(n) - 12));
}

int flm_fc_ckpt_parse(const uint8_t *buf, size_t len, struct fc_ckpt *ck)
{
    if (len < FC_CKPT_HDR || memcmp(buf, FC_CKPT_MAGIC, 8) != 0 || fc_get32(buf + 12) != 1)
        return FLM_ECORRUPT;
    uint64_t n = fc_get64(buf + 24);
    if (n > (len - FC_CKPT_HDR) / FC_PTR_SIZE || flm_fc_ckpt_size((size_t)n) != len)
        return FLM_ECORRUPT;
    if (fc_get32(buf + 8) != flm_fc_crc32c(0, buf + 12, len - 12))
        return FLM_ECORRUPT;
    ck->fid = fc_get32(buf + 16);
    ck->off = fc_get32(buf + 20);
    ck->count = n;
    ck->ms = fc_get64(buf + 32);
    ck->entries = buf + FC_CKPT_HDR;
    return FLM_OK;
}
