/*
 * serializer.h - event serializers shared by the file_roll and hdfs sinks
 * (spec/formats.md 1, components.md 6): `text`, `header_and_text`,
 * `avro_event`, found by alias (case-insensitive) or Flume class name.
 *
 * A serializer never does I/O: it appends bytes to a caller-owned struct
 * flm_buf, and the sink writes that buffer to its file at each flush.  So
 * the same serializer feeds a plain file, a compressed stream or (later) a
 * WebHDFS upload.  One serializer instance per open file; used by one thread
 * at a time (the sink's).
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

struct flm_serializer;

struct flm_serializer_type {
    const char *alias;      /* "text" */
    const char *klass;      /* Flume's builder class name */
    const char *summary;
    const struct flm_prop *props;
    size_t conf_size;
    size_t state_size;      /* per-file state, zeroed before header() */
    /* Bytes at the start of a new file (avro container header).  Optional. */
    int (*header)(struct flm_serializer *s, struct flm_buf *out);
    /* Appends one event (or buffers it internally: avro blocks). */
    int (*write)(struct flm_serializer *s, const struct flm_event *ev, struct flm_buf *out);
    /* Emits everything buffered (avro: the pending block).  Optional. */
    int (*flush)(struct flm_serializer *s, struct flm_buf *out);
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
/* Starts a new file: resets state and appends the file header to out. */
int flm_serializer_begin(struct flm_serializer *s, struct flm_buf *out);
static inline int flm_serializer_write(struct flm_serializer *s, const struct flm_event *ev,
                                       struct flm_buf *out)
{
    return s->type->write(s, ev, out);
}
int flm_serializer_flush(struct flm_serializer *s, struct flm_buf *out);
void flm_serializer_free(struct flm_serializer *s);

/* Java AbstractMap.toString() of the headers: "{k=v, k2=v2}" (no escaping). */
int flm_headers_java_text(const struct flm_event *ev, struct flm_buf *out);

extern const struct flm_serializer_type flm_serializer_avro_event;

#endif
