/*
 * codec.h - Hadoop compression codecs as the hdfs sink writes them
 * (hdfs.codeC): each call produces one complete compressed stream of its
 * input in the codec's Hadoop framing, so a CompressedStream file is a
 * concatenation of streams (one per batch, as Flume finishes the stream at
 * every flush) and SequenceFile blocks/values use the same function.
 */
#ifndef FLM_HDFS_CODEC_H
#define FLM_HDFS_CODEC_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

enum flm_codec_id { FLM_CODEC_GZIP, FLM_CODEC_DEFLATE, FLM_CODEC_BZIP2, FLM_CODEC_SNAPPY,
                    FLM_CODEC_LZ4, FLM_CODEC_ZSTD };

struct flm_codec {
    enum flm_codec_id id;
    const char *name;    /* "gzip" */
    const char *ext;     /* ".gz" */
    const char *klass;   /* "org.apache.hadoop.io.compress.GzipCodec" */
};

/* By hdfs.codeC value: codec simple class name with or without "Codec",
 * any case ("gzip", "GzipCodec", "DefaultCodec", "deflate", "zstd"...). */
const struct flm_codec *flm_codec_find(const char *name);

/* Appends one complete stream compressing in[0..n) to out:
 * gzip: a gzip member; deflate (DefaultCodec): a zlib stream; bzip2: a .bz2
 * stream; zstd: a zstd frame; snappy and lz4: Hadoop's BlockCompressorStream
 * framing, chunks of [BE32 raw length][BE32 compressed length][raw block]. */
int flm_codec_compress(const struct flm_codec *c, const uint8_t *in, size_t n,
                       struct flm_buf *out);

#endif
