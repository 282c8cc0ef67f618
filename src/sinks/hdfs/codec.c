/*
 * codec.c - Hadoop codec stream framings for the hdfs sink (codec.h).
 * Stateless: every call compresses a whole buffer into one finished
 * stream.  Safe from any thread.
 */
#include "sinks/hdfs/codec.h"

#include "core/err.h"

#include <bzlib.h>
#include <lz4.h>
#include <snappy-c.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include <zstd.h>

static const struct flm_codec codecs[] = {
    {FLM_CODEC_GZIP, "gzip", ".gz", "org.apache.hadoop.io.compress.GzipCodec"},
    {FLM_CODEC_DEFLATE, "default", ".deflate", "org.apache.hadoop.io.compress.DefaultCodec"},
    {FLM_CODEC_BZIP2, "bzip2", ".bz2", "org.apache.hadoop.io.compress.BZip2Codec"},
    {FLM_CODEC_SNAPPY, "snappy", ".snappy", "org.apache.hadoop.io.compress.SnappyCodec"},
    {FLM_CODEC_LZ4, "lz4", ".lz4", "org.apache.hadoop.io.compress.Lz4Codec"},
    {FLM_CODEC_ZSTD, "zstandard", ".zst", "org.apache.hadoop.io.compress.ZStandardCodec"},
};

const struct flm_codec *flm_codec_find(const char *name)
{
    if (name == NULL)
        return NULL;
    size_t n = strlen(name);
    if (n > 5 && strcasecmp(name + n - 5, "codec") == 0)
        n -= 5;
    if (n == 7 && strncasecmp(name, "deflate", 7) == 0)
        return &codecs[1];
    if (n == 4 && strncasecmp(name, "zstd", 4) == 0)
        return &codecs[5];
    for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
        if (strlen(codecs[i].name) == n && strncasecmp(name, codecs[i].name, n) == 0)
            return &codecs[i];
    return NULL;
}

static int zlib_stream(int window_bits, const uint8_t *in, size_t n, struct flm_buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, window_bits, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return FLM_ENOMEM;
    size_t bound = deflateBound(&zs, (uLong)n) + 32;
    int rc = flm_buf_reserve(out, bound);
    if (rc == FLM_OK) {
        zs.next_in = (Bytef *)(uintptr_t)in;
        zs.avail_in = (uInt)n;
        zs.next_out = out->p + out->len;
        zs.avail_out = (uInt)bound;
        rc = deflate(&zs, Z_FINISH) == Z_STREAM_END ? FLM_OK : FLM_ERR;
        if (rc == FLM_OK)
            out->len += zs.total_out;
    }
    deflateEnd(&zs);
    return rc;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Hadoop BlockCompressorStream: the largest raw chunk per block is the
 * codec buffer (256 KiB) minus its compression overhead. */
static int block_stream(enum flm_codec_id id, const uint8_t *in, size_t n, struct flm_buf *out)
{
    const size_t buf = 256 * 1024;
    size_t max_in = id == FLM_CODEC_SNAPPY ? buf - (buf / 6 + 32) : buf - (buf / 255 + 16);
    size_t off = 0;
    do {
        size_t len = n - off < max_in ? n - off : max_in;
        size_t bound = id == FLM_CODEC_SNAPPY ? snappy_max_compressed_length(len)
                                              : (size_t)LZ4_compressBound((int)len);
        int rc = flm_buf_reserve(out, bound + 8);
        if (rc != FLM_OK)
            return rc;
        uint8_t *hdr = out->p + out->len;
        size_t clen = bound;
        if (id == FLM_CODEC_SNAPPY) {
            if (snappy_compress((const char *)in + off, len, (char *)hdr + 8, &clen) != SNAPPY_OK)
                return FLM_ERR;
        } else {
            int r = LZ4_compress_default((const char *)in + off, (char *)hdr + 8, (int)len,
                                         (int)bound);
            if (r <= 0 && len > 0)
                return FLM_ERR;
            clen = (size_t)r;
        }
        put_be32(hdr, (uint32_t)len);
        put_be32(hdr + 4, (uint32_t)clen);
        out->len += 8 + clen;
        off += len;
    } while (off < n);
    return FLM_OK;
}

int flm_codec_compress(const struct flm_codec *c, const uint8_t *in, size_t n,
                       struct flm_buf *out)
{
    switch (c->id) {
    case FLM_CODEC_GZIP:
        return zlib_stream(15 + 16, in, n, out);
    case FLM_CODEC_DEFLATE:
        return zlib_stream(15, in, n, out);
    case FLM_CODEC_BZIP2: {
        size_t bound = n + n / 100 + 600;
        int rc = flm_buf_reserve(out, bound);
        if (rc != FLM_OK)
            return rc;
        unsigned int olen = (unsigned int)bound;
        if (BZ2_bzBuffToBuffCompress((char *)out->p + out->len, &olen, (char *)(uintptr_t)in,
                                     (unsigned int)n, 9, 0, 0) != BZ_OK)
            return FLM_ERR;
        out->len += olen;
        return FLM_OK;
    }
    case FLM_CODEC_SNAPPY:
    case FLM_CODEC_LZ4:
        return block_stream(c->id, in, n, out);
    case FLM_CODEC_ZSTD: {
        size_t bound = ZSTD_compressBound(n);
        int rc = flm_buf_reserve(out, bound);
        if (rc != FLM_OK)
            return rc;
        size_t r = ZSTD_compress(out->p + out->len, bound, in, n, 3);
        if (ZSTD_isError(r))
            return FLM_ERR;
        out->len += r;
        return FLM_OK;
    }
    }
    return FLM_ERR;
}
