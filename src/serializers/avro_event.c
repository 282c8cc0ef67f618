/*
 * avro_event.c - the `avro_event` serializer: an Avro object container file
 * of Flume's Event record (spec/formats.md 1): magic "Obj\x01", metadata
 * map {avro.schema, avro.codec}, a 16-byte random sync marker, then blocks
 * (count, byte size, data, sync).  A block is emitted when the buffered data
 * reaches syncIntervalBytes or at every flush (Flume flushes per batch).
 * The pending block is encoded in place in the output (struct flm_sout),
 * after room for its count and size varints, and held there until it is
 * finished: with the null codec the block is never copied (the unused part
 * of the room becomes a gap of the output); with a codec the compressed
 * block replaces the raw data.
 *
 * The container and the datum encoding (zig-zag varints, map blocks, bytes)
 * are written here rather than through avro-c's file writer, because that
 * writer only targets a FILE* while ours must feed compressed streams and
 * remote filesystems through a byte buffer; the unit test reads our files
 * back with avro-c's reader and the integration test with python3-avro.
 * Codecs: null, deflate (raw), snappy (+ big-endian CRC32 of the input),
 * bzip2, zstandard.  Per-file state; runs on the sink's thread.
 */
#include "serializers/serializer.h"

#include "core/err.h"

#include <bzlib.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <zlib.h>
#include <zstd.h>

/* Exact schema text Flume writes (compact). */
static const char flume_event_schema[] =
    "{\"type\":\"record\",\"name\":\"Event\",\"fields\":[{\"name\":\"headers\",\"type\":{\"type\":"
    "\"map\",\"values\":\"string\"}},{\"name\":\"body\",\"type\":\"bytes\"}]}";

enum { CODEC_NULL, CODEC_DEFLATE, CODEC_SNAPPY, CODEC_BZIP2, CODEC_ZSTD };
static const char *const codec_names[] = {"null", "deflate", "snappy", "bzip2", "zstandard", NULL};

struct avro_conf {
    int sync_interval;
    int codec;
};

static const struct flm_prop avro_props[] = {
    {"syncIntervalBytes", FLM_P_INT, FLM_OFF(struct avro_conf, sync_interval), "2048000", 0, 1,
     0x7fffffff, NULL, NULL, "Target size of an Avro block before it is written, in bytes."},
    {"compressionCodec", FLM_P_ENUM, FLM_OFF(struct avro_conf, codec), "null", FLM_P_LENIENT, 0, 0,
     codec_names, NULL, "Block codec: null, deflate, snappy, bzip2 or zstandard."},
    FLM_PROPS_END,
};

/* Room in front of a pending block for its count and size varints. */
#define BLOCK_ROOM 20

struct avro_state {
    uint8_t sync[16];
    struct flm_buf zbuf;    /* compressed scratch */
    long long count;        /* records in the pending block (0: none); its
                               room starts at out->hold */
};

static int put_long(struct flm_buf *b, long long v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    uint8_t tmp[10];
    size_t n = 0;
    while (z > 0x7f) {
        tmp[n++] = (uint8_t)((z & 0x7f) | 0x80);
        z >>= 7;
    }
    tmp[n++] = (uint8_t)z;
    return flm_buf_append(b, tmp, n);
}

static int put_bytes(struct flm_buf *b, const void *p, size_t n)
{
    int rc = put_long(b, (long long)n);
    return rc != FLM_OK ? rc : flm_buf_append(b, p, n);
}

static int avro_header(struct flm_serializer *s, struct flm_sout *sout)
{
    const struct avro_conf *c = s->conf;
    struct avro_state *st = s->state;
    struct flm_buf *out = &sout->buf;
    flm_buf_init(&st->zbuf, (size_t)1 << 31);
    size_t got = 0;
    while (got < sizeof(st->sync)) {
        ssize_t r = getrandom(st->sync + got, sizeof(st->sync) - got, 0);
        if (r <= 0)
            return FLM_EIO;
        got += (size_t)r;
    }
    int rc = flm_buf_append(out, "Obj\x01", 4);
    rc = rc ? rc : put_long(out, 2);
    rc = rc ? rc : put_bytes(out, "avro.schema", 11);
    rc = rc ? rc : put_bytes(out, flume_event_schema, sizeof(flume_event_schema) - 1);
    rc = rc ? rc : put_bytes(out, "avro.codec", 10);
    rc = rc ? rc : put_bytes(out, codec_names[c->codec], strlen(codec_names[c->codec]));
    rc = rc ? rc : put_long(out, 0);
    rc = rc ? rc : flm_buf_append(out, st->sync, sizeof(st->sync));
    return rc;
}

static int compress_block(int codec, const uint8_t *in, size_t in_len, struct flm_buf *z)
{
    z->len = 0;
    switch (codec) {
    case CODEC_DEFLATE: {
        z_stream zs;
        memset(&zs, 0, sizeof(zs));
        if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) !=
            Z_OK)
            return FLM_ENOMEM;
        size_t bound = deflateBound(&zs, (uLong)in_len);
        int rc = flm_buf_reserve(z, bound);
        if (rc == FLM_OK) {
            zs.next_in = (Bytef *)(uintptr_t)in;
            zs.avail_in = (uInt)in_len;
            zs.next_out = z->p;
            zs.avail_out = (uInt)bound;
            rc = deflate(&zs, Z_FINISH) == Z_STREAM_END ? FLM_OK : FLM_ERR;
            z->len = zs.total_out;
        }
        deflateEnd(&zs);
        return rc;
    }
    case CODEC_SNAPPY: {
        size_t bound = snappy_max_compressed_length(in_len);
        int rc = flm_buf_reserve(z, bound + 4);
        if (rc != FLM_OK)
            return rc;
        size_t olen = bound;
        if (snappy_compress((const char *)in, in_len, (char *)z->p, &olen) != SNAPPY_OK)
            return FLM_ERR;
        uint32_t crc = (uint32_t)crc32(0L, in, (uInt)in_len);
        uint8_t be[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8),
                         (uint8_t)crc};
        memcpy(z->p + olen, be, 4);
        z->len = olen + 4;
        return FLM_OK;
    }
    case CODEC_BZIP2: {
        size_t bound = in_len + in_len / 100 + 600;
        int rc = flm_buf_reserve(z, bound);
        if (rc != FLM_OK)
            return rc;
        unsigned int olen = (unsigned int)bound;
        if (BZ2_bzBuffToBuffCompress((char *)z->p, &olen, (char *)(uintptr_t)in,
                                     (unsigned int)in_len, 9, 0, 0) != BZ_OK)
            return FLM_ERR;
        z->len = olen;
        return FLM_OK;
    }
    case CODEC_ZSTD: {
        size_t bound = ZSTD_compressBound(in_len);
        int rc = flm_buf_reserve(z, bound);
        if (rc != FLM_OK)
            return rc;
        size_t r = ZSTD_compress(z->p, bound, in, in_len, 3);
        if (ZSTD_isError(r))
            return FLM_ERR;
        z->len = r;
        return FLM_OK;
    }
    default:
        return FLM_ERR;
    }
}

/* Zig-zag varint straight into p; returns the bytes written (<= 10). */
static size_t enc_long(uint8_t *p, long long v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;
    while (z > 0x7f) {
        p[n++] = (uint8_t)((z & 0x7f) | 0x80);
        z >>= 7;
    }
    p[n++] = (uint8_t)z;
    return n;
}

/*
 * Finishes the pending block: its room starts at at = out->hold, its data
 * is out->buf[at + BLOCK_ROOM ..).
 * Null codec: the count and size varints go into the end of the room and
 * the unused start of the room becomes a gap (no copy of the data).  Other
 * codecs: the data is compressed and the room and data are replaced by the
 * varints and the compressed block.  Then the sync marker.
 */
static int emit_block(struct flm_serializer *s, struct flm_sout *out)
{
    const struct avro_conf *c = s->conf;
    struct avro_state *st = s->state;
    if (!flm_sout_held(out))
        st->count = 0; /* the caller emptied out: the pending block went with it */
    if (st->count == 0)
        return FLM_OK;
    struct flm_buf *b = &out->buf;
    size_t at = out->hold, data_at = at + BLOCK_ROOM, dlen = b->len - data_at;
    uint8_t hdr[BLOCK_ROOM];
    int rc;
    if (c->codec == CODEC_NULL) {
        size_t k = enc_long(hdr, st->count);
        k += enc_long(hdr + k, (long long)dlen);
        rc = flm_buf_reserve(b, sizeof(st->sync));
        rc = rc ? rc : flm_sout_gap(out, at, BLOCK_ROOM - k);
        if (rc != FLM_OK)
            return rc;
        memcpy(b->p + data_at - k, hdr, k);
    } else {
        rc = compress_block(c->codec, b->p + data_at, dlen, &st->zbuf);
        if (rc != FLM_OK)
            return rc;
        size_t k = enc_long(hdr, st->count);
        k += enc_long(hdr + k, (long long)st->zbuf.len);
        b->len = at;
        rc = flm_buf_reserve(b, k + st->zbuf.len + sizeof(st->sync));
        if (rc != FLM_OK) {
            b->len = data_at + dlen; /* cannot fail: within the old length */
            return rc;
        }
        memcpy(b->p + b->len, hdr, k);
        memcpy(b->p + b->len + k, st->zbuf.p, st->zbuf.len);
        b->len += k + st->zbuf.len;
    }
    memcpy(b->p + b->len, st->sync, sizeof(st->sync));
    b->len += sizeof(st->sync);
    st->count = 0;
    out->hold = FLM_SOUT_NONE;
    return FLM_OK;
}

static int avro_write(struct flm_serializer *s, const struct flm_event *ev, struct flm_sout *out)
{
    const struct avro_conf *c = s->conf;
    struct avro_state *st = s->state;
    struct flm_buf *b = &out->buf;
    if (!flm_sout_held(out))
        st->count = 0; /* the caller emptied out: the pending block went with it */
    /* One reserve for the whole datum (every varint is at most 10 bytes)
     * and, for a block's first record, the block's room. */
    size_t need = 30 + (size_t)ev->body_len + (st->count == 0 ? BLOCK_ROOM : 0);
    for (uint32_t i = 0; i < ev->nhdr; i++)
        need += 20 + (size_t)ev->hdr[i].klen + ev->hdr[i].vlen;
    int rc = flm_buf_reserve(b, need);
    if (rc != FLM_OK)
        return rc;
    if (st->count == 0) {
        out->hold = b->len;
        memset(b->p + b->len, 0, BLOCK_ROOM); /* a gap later: never output */
        b->len += BLOCK_ROOM;
    }
    uint8_t *p = b->p + b->len;
    if (ev->nhdr > 0) {
        p += enc_long(p, ev->nhdr);
        for (uint32_t i = 0; i < ev->nhdr; i++) {
            p += enc_long(p, ev->hdr[i].klen);
            memcpy(p, ev->hdr[i].key, ev->hdr[i].klen);
            p += ev->hdr[i].klen;
            p += enc_long(p, ev->hdr[i].vlen);
            memcpy(p, ev->hdr[i].val, ev->hdr[i].vlen);
            p += ev->hdr[i].vlen;
        }
    }
    *p++ = 0; /* end of the headers map */
    p += enc_long(p, ev->body_len);
    memcpy(p, ev->body, ev->body_len);
    p += ev->body_len;
    b->len = (size_t)(p - b->p);
    st->count++;
    if (b->len - out->hold - BLOCK_ROOM >= (size_t)c->sync_interval)
        return emit_block(s, out);
    return FLM_OK;
}

static void avro_release(struct flm_serializer *s)
{
    struct avro_state *st = s->state;
    flm_buf_free(&st->zbuf);
}

const struct flm_serializer_type flm_serializer_avro_event = {
    .alias = "avro_event",
    .klass = "org.apache.flume.serialization.FlumeEventAvroEventSerializer$Builder",
    .summary = "Avro container file of Flume's Event record (headers map, body bytes).",
    .props = avro_props,
    .conf_size = sizeof(struct avro_conf),
    .state_size = sizeof(struct avro_state),
    .header = avro_header,
    .write = avro_write,
    .flush = emit_block,
    .release = avro_release,
};
