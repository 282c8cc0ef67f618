/*
 * seqfile.c - Hadoop SequenceFile v6 writer (seqfile.h), written from the
 * format description in spec/formats.md 2.  Per-file state owned by the
 * caller's bucket; runs on the sink's threads under the sink's lock.
 */
#include "sinks/hdfs/seqfile.h"

#include "core/err.h"

#include <string.h>
#include <sys/random.h>

int flm_hadoop_vlong(struct flm_buf *b, int64_t v)
{
    uint8_t tmp[9];
    size_t n = 0;
    if (v >= -112 && v <= 127) {
        tmp[n++] = (uint8_t)(int8_t)v;
        return flm_buf_append(b, tmp, n);
    }
    int len = -112;
    uint64_t u = (uint64_t)v;
    if (v < 0) {
        u = ~u;
        len = -120;
    }
    for (uint64_t t = u; t != 0; t >>= 8)
        len--;
    tmp[n++] = (uint8_t)(int8_t)len;
    int bytes = len < -120 ? -(len + 120) : -(len + 112);
    for (int i = bytes; i > 0; i--)
        tmp[n++] = (uint8_t)(u >> ((i - 1) * 8));
    return flm_buf_append(b, tmp, n);
}

static int text_string(struct flm_buf *b, const char *s)
{
    size_t n = strlen(s);
    int rc = flm_hadoop_vlong(b, (int64_t)n);
    return rc ? rc : flm_buf_append(b, s, n);
}

static int be32(struct flm_buf *b, uint32_t v)
{
    uint8_t p[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return flm_buf_append(b, p, 4);
}

static int be64(struct flm_buf *b, int64_t sv)
{
    uint64_t v = (uint64_t)sv;
    int rc = be32(b, (uint32_t)(v >> 32));
    return rc ? rc : be32(b, (uint32_t)v);
}

/* Appends to out and advances the file position. */
static int emit(struct flm_seqfile *w, struct flm_buf *out, const void *p, size_t n)
{
    int rc = flm_buf_append(out, p, n);
    if (rc == FLM_OK)
        w->pos += n;
    return rc;
}

static int sync_escape(struct flm_seqfile *w, struct flm_buf *out)
{
    static const uint8_t esc[4] = {0xff, 0xff, 0xff, 0xff};
    int rc = emit(w, out, esc, 4);
    rc = rc ? rc : emit(w, out, w->sync, 16);
    if (rc == FLM_OK)
        w->last_sync = w->pos;
    return rc;
}

int flm_seqfile_begin(struct flm_seqfile *w, struct flm_buf *out)
{
    flm_seqfile_release(w);
    const size_t cap = (size_t)1 << 31;
    flm_buf_init(&w->klen, cap);
    flm_buf_init(&w->keys, cap);
    flm_buf_init(&w->vlen, cap);
    flm_buf_init(&w->vals, cap);
    flm_buf_init(&w->tmp, cap);
    w->pos = w->last_sync = 0;
    w->nrec = 0;
    size_t got = 0;
    while (got < sizeof(w->sync)) {
        ssize_t r = getrandom(w->sync + got, sizeof(w->sync) - got, 0);
        if (r <= 0)
            return FLM_EIO;
        got += (size_t)r;
    }
    struct flm_buf *h = &w->tmp;
    h->len = 0;
    int rc = flm_buf_append(h, "SEQ\x06", 4);
    rc = rc ? rc : text_string(h, "org.apache.hadoop.io.LongWritable");
    rc = rc ? rc : text_string(h, w->text_values ? "org.apache.hadoop.io.Text"
                                                 : "org.apache.hadoop.io.BytesWritable");
    uint8_t flags[2] = {w->codec != NULL, w->codec != NULL && w->block};
    rc = rc ? rc : flm_buf_append(h, flags, 2);
    if (rc == FLM_OK && w->codec != NULL)
        rc = text_string(h, w->codec->klass);
    rc = rc ? rc : be32(h, 0); /* metadata: no entries */
    rc = rc ? rc : flm_buf_append(h, w->sync, 16);
    rc = rc ? rc : emit(w, out, h->p, h->len);
    h->len = 0;
    return rc;
}

/* Serialised value: BytesWritable (BE32 length + bytes) or Text (vint + bytes). */
static int value_bytes(struct flm_seqfile *w, struct flm_buf *b, const void *val, size_t n)
{
    int rc = w->text_values ? flm_hadoop_vlong(b, (int64_t)n) : be32(b, (uint32_t)n);
    return rc ? rc : flm_buf_append(b, val, n);
}

static int write_block(struct flm_seqfile *w, struct flm_buf *out)
{
    if (w->nrec == 0)
        return FLM_OK;
    int rc = sync_escape(w, out);
    struct flm_buf *t = &w->tmp;
    t->len = 0;
    rc = rc ? rc : flm_hadoop_vlong(t, (int64_t)w->nrec);
    struct flm_buf *parts[4] = {&w->klen, &w->keys, &w->vlen, &w->vals};
    struct flm_buf z;
    flm_buf_init(&z, (size_t)1 << 31);
    for (int i = 0; i < 4 && rc == FLM_OK; i++) {
        z.len = 0;
        rc = flm_codec_compress(w->codec, parts[i]->p, parts[i]->len, &z);
        rc = rc ? rc : flm_hadoop_vlong(t, (int64_t)z.len);
        rc = rc ? rc : flm_buf_append(t, z.p, z.len);
    }
    flm_buf_free(&z);
    rc = rc ? rc : emit(w, out, t->p, t->len);
    t->len = 0;
    for (int i = 0; i < 4; i++)
        parts[i]->len = 0;
    w->nrec = 0;
    return rc;
}

int flm_seqfile_append(struct flm_seqfile *w, int64_t key, const void *val, size_t n,
                       struct flm_buf *out)
{
    int rc;
    if (w->codec != NULL && w->block) {
        rc = flm_hadoop_vlong(&w->klen, 8);
        rc = rc ? rc : be64(&w->keys, key);
        size_t before = w->vals.len;
        rc = rc ? rc : value_bytes(w, &w->vals, val, n);
        rc = rc ? rc : flm_hadoop_vlong(&w->vlen, (int64_t)(w->vals.len - before));
        if (rc != FLM_OK)
            return rc;
        w->nrec++;
        if (w->keys.len + w->vals.len >= FLM_SEQ_BLOCK_SIZE)
            return write_block(w, out);
        return FLM_OK;
    }
    if (w->pos >= w->last_sync + FLM_SEQ_SYNC_INTERVAL) {
        rc = sync_escape(w, out);
        if (rc != FLM_OK)
            return rc;
    }
    struct flm_buf *t = &w->tmp;
    t->len = 0;
    rc = value_bytes(w, t, val, n);
    if (rc == FLM_OK && w->codec != NULL) {
        /* Record compression: the serialised value as one codec stream. */
        struct flm_buf z;
        flm_buf_init(&z, (size_t)1 << 31);
        rc = flm_codec_compress(w->codec, t->p, t->len, &z);
        if (rc == FLM_OK) {
            t->len = 0;
            rc = flm_buf_append(t, z.p, z.len);
        }
        flm_buf_free(&z);
    }
    if (rc != FLM_OK)
        return rc;
    size_t vl = t->len;
    uint8_t hdr[16];
    uint32_t rec = (uint32_t)(8 + vl);
    hdr[0] = (uint8_t)(rec >> 24);
    hdr[1] = (uint8_t)(rec >> 16);
    hdr[2] = (uint8_t)(rec >> 8);
    hdr[3] = (uint8_t)rec;
    hdr[4] = hdr[5] = hdr[6] = 0;
    hdr[7] = 8;
    for (int i = 0; i < 8; i++)
        hdr[8 + i] = (uint8_t)((uint64_t)key >> (56 - 8 * i));
    rc = emit(w, out, hdr, 16);
    rc = rc ? rc : emit(w, out, t->p, vl);
    t->len = 0;
    return rc;
}

int flm_seqfile_sync(struct flm_seqfile *w, struct flm_buf *out)
{
    if (w->codec != NULL && w->block)
        return write_block(w, out);
    if (w->last_sync != w->pos)
        return sync_escape(w, out);
    return FLM_OK;
}

void flm_seqfile_release(struct flm_seqfile *w)
{
    flm_buf_free(&w->klen);
    flm_buf_free(&w->keys);
    flm_buf_free(&w->vlen);
    flm_buf_free(&w->vals);
    flm_buf_free(&w->tmp);
}
