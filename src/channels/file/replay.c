/*
 * replay.c - rebuilds the file channel's queue from a checkpoint and the log
 * records after it.  Pure functions over buffers (the channel reads the
 * files and feeds the bytes in), so replay is unit-tested and fuzzed
 * without a disk.  Owns the queue array and the set of taken pointers
 * until the caller takes r->q.  Runs on the agent thread at channel start
 * (and in the fcintegrity tool).
 *
 * Semantics: the queue starts as the checkpoint's entries; every record
 * after the checkpoint position appends its puts (in record order, each
 * pointing at its own encoding) and marks its takes; at the end the marked
 * entries are dropped.  A take whose event is not in the queue (its put was
 * in a file already collected) is ignored.  Order of survivors is log order,
 * which is commit order, so FIFO holds across a restart.
 */
#include "channels/file/fc.h"

#include "core/err.h"

#include <stdlib.h>
#include <string.h>

static uint64_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return k;
}

/* Keys are (fid << 32 | off) with off >= FC_FILE_HDR, so 0 never occurs
 * and marks an empty slot. */
static int set_add(struct fc_replay *r, uint64_t key)
{
    if ((r->nset + 1) * 2 > r->setcap) {
        size_t ncap = r->setcap ? r->setcap * 2 : 1024;
        uint64_t *ns = calloc(ncap, sizeof(*ns));
        if (ns == NULL)
            return FLM_ENOMEM;
        for (size_t i = 0; i < r->setcap; i++) {
            uint64_t k = r->set[i];
            if (k == 0)
                continue;
            size_t j = mix(k) & (ncap - 1);
            while (ns[j] != 0)
                j = (j + 1) & (ncap - 1);
            ns[j] = k;
        }
        free(r->set);
        r->set = ns;
        r->setcap = ncap;
    }
    size_t j = mix(key) & (r->setcap - 1);
    while (r->set[j] != 0) {
        if (r->set[j] == key)
            return FLM_OK;
        j = (j + 1) & (r->setcap - 1);
    }
    r->set[j] = key;
    r->nset++;
    return FLM_OK;
}

static bool set_has(const struct fc_replay *r, uint64_t key)
{
    if (r->setcap == 0)
        return false;
    size_t j = mix(key) & (r->setcap - 1);
    while (r->set[j] != 0) {
        if (r->set[j] == key)
            return true;
        j = (j + 1) & (r->setcap - 1);
    }
    return false;
}

static int q_reserve(struct fc_replay *r, size_t more)
{
    if (r->n + more <= r->cap)
        return FLM_OK;
    size_t ncap = r->cap ? r->cap : 1024;
    while (ncap < r->n + more) {
        if (ncap > SIZE_MAX / 2 / sizeof(struct fc_ptr))
            return FLM_ENOMEM;
        ncap *= 2;
    }
    struct fc_ptr *nq = realloc(r->q, ncap * sizeof(*nq));
    if (nq == NULL)
        return FLM_ENOMEM;
    r->q = nq;
    r->cap = ncap;
    return FLM_OK;
}

int flm_fc_replay_init(struct fc_replay *r, const struct fc_ckpt *ck)
{
    memset(r, 0, sizeof(*r));
    if (ck == NULL || ck->count == 0)
        return FLM_OK;
    if (q_reserve(r, (size_t)ck->count) != FLM_OK)
        return FLM_ENOMEM;
    for (size_t i = 0; i < ck->count; i++) {
        const uint8_t *e = ck->entries + i * FC_PTR_SIZE;
        r->q[i] = (struct fc_ptr){fc_get32(e), fc_get32(e + 4), fc_get32(e + 8)};
    }
    r->n = (size_t)ck->count;
    return FLM_OK;
}

int flm_fc_replay_buf(struct fc_replay *r, uint32_t fid, const uint8_t *buf, size_t len,
                      uint64_t base, size_t *used)
{
    size_t at = 0;
    *used = 0;
    while (at < len) {
        struct fc_rec rec;
        int rc = flm_fc_rec_parse(buf + at, len - at, &rec);
        if (rc == FLM_EAGAIN)
            break;
        if (rc != FLM_OK) {
            *used = at;
            return FLM_ECORRUPT;
        }
        if (base + at + rec.total > UINT32_MAX) {
            *used = at;
            return FLM_ECORRUPT; /* offsets are 32-bit: no file grows past 4 GiB */
        }
        /* A file is written in one session, under one key or none: an
         * encrypted record in a plaintext file, a plaintext put in an
         * encrypted one, or a key record anywhere but first is damage. */
        if ((r->mode == 1 && (rec.kind == FC_K_ENC || rec.kind == FC_K_KEY)) ||
            (r->mode == 2 && ((rec.kind == FC_K_PLAIN && rec.nput > 0) ||
                              (rec.kind == FC_K_KEY && base + at != FC_FILE_HDR)))) {
            *used = at;
            return FLM_ECORRUPT;
        }
        r->records++;
        for (uint32_t i = 0; i < rec.ntake; i++) {
            const uint8_t *t = rec.takes + (size_t)i * FC_TAKE_SIZE;
            if (set_add(r, fc_ptr_key(fc_get32(t), fc_get32(t + 4))) != FLM_OK)
                return FLM_ENOMEM;
        }
        r->takes += rec.ntake;
        if (rec.nput) {
            if (q_reserve(r, rec.nput) != FLM_OK)
                return FLM_ENOMEM;
            const uint8_t *e = rec.events;
            for (uint32_t i = 0; i < rec.nput; i++) {
                uint32_t el = fc_get32(e + 4);
                r->q[r->n++] = (struct fc_ptr){fid, (uint32_t)(base + at + (size_t)(e - (buf + at))),
                                               el};
                e += el;
            }
            r->puts += rec.nput;
        }
        at += rec.total;
        *used = at;
    }
    return FLM_OK;
}

int flm_fc_replay_finish(struct fc_replay *r)
{
    if (r->nset == 0)
        return FLM_OK;
    size_t k = 0;
    for (size_t i = 0; i < r->n; i++)
        if (!set_has(r, fc_ptr_key(r->q[i].fid, r->q[i].off)))
            r->q[k++] = r->q[i];
    r->n = k;
    free(r->set);
    r->set = NULL;
    r->nset = r->setcap = 0;
    return FLM_OK;
}

void flm_fc_replay_free(struct fc_replay *r)
{
    free(r->q);
    free(r->set);
    memset(r, 0, sizeof(*r));
}
