/*
 * seqfile.h - a Hadoop SequenceFile (version 6) writer as the hdfs sink uses
 * it (spec/formats.md 2): key LongWritable, value BytesWritable or Text;
 * uncompressed, record-compressed or block-compressed with a Hadoop codec.
 * Like the serializers it does no I/O: bytes are appended to a caller buffer.
 */
#ifndef FLM_HDFS_SEQFILE_H
#define FLM_HDFS_SEQFILE_H

#include "core/buf.h"
#include "sinks/hdfs/codec.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hadoop's SYNC_INTERVAL (100 x (4 + 16)) and io.seqfile.compress.blocksize. */
#define FLM_SEQ_SYNC_INTERVAL 2000
#define FLM_SEQ_BLOCK_SIZE 1000000

struct flm_seqfile {
    bool text_values;              /* org.apache.hadoop.io.Text instead of BytesWritable */
    const struct flm_codec *codec; /* NULL = uncompressed */
    bool block;                    /* block compression (with codec) */
    uint8_t sync[16];
    uint64_t pos, last_sync;       /* bytes appended so far; position after the last sync */
    size_t nrec;                   /* block mode: records buffered */
    struct flm_buf klen, keys, vlen, vals, tmp;
};

/* Resets w (keeping its settings) and appends the file header. */
int flm_seqfile_begin(struct flm_seqfile *w, struct flm_buf *out);
/* One record; a sync escape precedes it once SYNC_INTERVAL bytes passed
 * (record files), or the block is written when it reaches BLOCK_SIZE. */
int flm_seqfile_append(struct flm_seqfile *w, int64_t key, const void *val, size_t n,
                       struct flm_buf *out);
/* Hadoop Writer.sync(): block mode writes the buffered block (sync escape
 * first); record mode writes a sync escape unless one was just written. */
int flm_seqfile_sync(struct flm_seqfile *w, struct flm_buf *out);
void flm_seqfile_release(struct flm_seqfile *w);

/* Hadoop WritableUtils.writeVLong. */
int flm_hadoop_vlong(struct flm_buf *b, int64_t v);

#endif
