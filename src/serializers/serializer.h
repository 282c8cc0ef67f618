/*
 * serializer.h - event serializers shared by the file_roll and hdfs sinks
 * (spec/formats.md 1, components.md 6): `text`, `header_and_text`,
 * `avro_event`, found by alias (case-insensitive) or Flume class name.
 *
 * A serializer never does I/O: it appends bytes to a caller-owned struct
 * flm_sout, and the sink writes that out to its file at each flush.  So
 * the same serializer feeds a plain file, a compressed stream or a WebHDFS
 * upload.  One serializer instance per open file; used by one thread at a
 * time (the sink's).
 */
#ifndef FLM_SERIALIZER_H
#define FLM_SERIALIZER_H

#include "core/buf.h"
#include "core/diag.h"
#include "core/err.h"
#include "core/event.h"
#include "core/kv.h"
#include "core/props.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

struct flm_serializer;

/*
 * Serializer output: the bytes of buf in order, minus `gaps` (ranges of buf
 * the output skips).  avro_event reserves room for a block's count and size
 * varints in front of the block and encodes the block's data in place after
 * it; at the end of the block it fills the varints into the end of that room
 * and leaves the unused start as a gap, so a block is never copied (it was a
 * memcpy of every block, up to a quarter of the sink thread).  A local file
 * gets the pieces with one writev(2); a consumer that needs one contiguous
 * run (codecs, WebHDFS) calls flm_sout_flatten first.
 *
 * hold: while a serializer still has unfinished bytes in buf (an avro block
 * whose count and size are not known yet), hold is the offset where they
 * start, else FLM_SOUT_NONE.  A sink may write out only when nothing is
 * held, i.e. after flm_serializer_flush (or when flm_sout_held says no).
 */
#define FLM_SOUT_NONE ((size_t)-1)

struct flm_sgap {
    size_t at, len;    /* skip buf[at .. at + len) */
};

struct flm_sout {
    struct flm_buf buf;
    struct flm_sgap *gap;  /* ascending, non-overlapping */
    size_t ngap, gapcap;
    size_t gapbytes;       /* sum of gap lengths */
    size_t hold;           /* FLM_SOUT_NONE or the offset of unfinished bytes */
    struct iovec *iov;     /* scratch of flm_sout_iov */
    size_t iovcap;
};

void flm_sout_init(struct flm_sout *o, size_t max);
void flm_sout_free(struct flm_sout *o);
/* Empties o (after it was written, or to drop a failed batch). */
void flm_sout_reset(struct flm_sout *o);
/* Output bytes in o (buf minus gaps). */
static inline size_t flm_sout_len(const struct flm_sout *o)
{
    return o->buf.len - o->gapbytes;
}
static inline bool flm_sout_held(const struct flm_sout *o)
{
    return o->hold != FLM_SOUT_NONE;
}
/* Adds a gap; at must not be before the end of the last one. */
int flm_sout_gap(struct flm_sout *o, size_t at, size_t len);
/* The output as iovecs (into o's scratch, valid until the next call on o);
 * returns their number (0 when empty) or -1 on ENOMEM. */
int flm_sout_iov(struct flm_sout *o, const struct iovec **iov);
/* Closes the gaps by moving bytes inside buf: afterwards the output is
 * buf.p[0 .. buf.len), contiguous. */
void flm_sout_flatten(struct flm_sout *o);

struct flm_serializer_type {
    const char *alias;      /* "text" */
    const char *klass;      /* Flume's builder class name */
    const char *summary;
    const struct flm_prop *props;
    size_t conf_size;
    size_t state_size;      /* per-file state, zeroed before header() */
    /* Bytes at the start of a new file (avro container header).  Optional. */
    int (*header)(struct flm_serializer *s, struct flm_sout *out);
    /* Appends one event (avro: to the pending block, held in out). */
    int (*write)(struct flm_serializer *s, const struct flm_event *ev, struct flm_sout *out);
    /* Appends evs[0..n) in order, as n calls of write would.  Optional: a
     * loop over write otherwise.  On failure out may hold part of the
     * batch (sinks drop out and roll back, as after a failed write). */
    int (*write_batch)(struct flm_serializer *s, struct flm_event *const *evs, size_t n,
                       struct flm_sout *out);
    /* Finishes everything pending (avro: the block); out holds nothing
     * afterwards.  Optional. */
    int (*flush)(struct flm_serializer *s, struct flm_sout *out);
    void (*release)(struct flm_serializer *s); /* frees state internals; optional */
};

struct flm_serializer {
    const struct flm_serializer_type *type;
    void *conf;     /* typed options (type->conf_size), owned */
    void *state;    /* type->state_size, owned */
};

/* Type by alias (case-insensitive) or class name; NULL when unknown. */
const struct flm_serializer_type *flm_serializer_find(const char *name);

/*
 * Checks a serializer choice and its options at configuration time: an
 * unknown name or a bad option is an ERROR in d (comp names the option
 * prefix, e.g. "a1.sinks.k1.sink.serializer"), unknown options are WARNings.
 * Returns FLM_OK or FLM_ERR.
 */
int flm_serializer_validate(const char *name, struct flm_kvs *opts, const char *comp,
                            struct flm_diag *d);

/* A serializer with its options parsed (already validated: problems are
 * dropped here).  NULL on an unknown name or no memory. */
struct flm_serializer *flm_serializer_new(const char *name, struct flm_kvs *opts);
/* Starts a new file: resets state and appends the file header to out (which
 * the caller has emptied). */
int flm_serializer_begin(struct flm_serializer *s, struct flm_sout *out);
static inline int flm_serializer_write(struct flm_serializer *s, const struct flm_event *ev,
                                       struct flm_sout *out)
{
    return s->type->write(s, ev, out);
}
int flm_serializer_write_batch(struct flm_serializer *s, struct flm_event *const *evs,
                               size_t n, struct flm_sout *out);
int flm_serializer_flush(struct flm_serializer *s, struct flm_sout *out);
void flm_serializer_free(struct flm_serializer *s);

/* Java AbstractMap.toString() of the headers: "{k=v, k2=v2}" (no escaping). */
int flm_headers_java_text(const struct flm_event *ev, struct flm_buf *out);

extern const struct flm_serializer_type flm_serializer_avro_event;

#endif
