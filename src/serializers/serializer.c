/*
 * serializer.c - the serializer registry (alias / Flume class name) and the
 * two line serializers, `text` and `header_and_text` (spec/formats.md 1).
 * Owns nothing global but a const table.  Runs on the calling sink's thread.
 */
#include "serializers/serializer.h"

#include "core/err.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct line_conf {
    bool append_newline;
};

static const struct flm_prop line_props[] = {
    {"appendNewline", FLM_P_BOOL, FLM_OFF(struct line_conf, append_newline), "true", 0, 0, 0,
     NULL, NULL, "Write a newline (0x0A) after each event."},
    FLM_PROPS_END,
};

/* ------------------------------------------------------------ flm_sout */

void flm_sout_init(struct flm_sout *o, size_t max)
{
    memset(o, 0, sizeof(*o));
    flm_buf_init(&o->buf, max);
    o->hold = FLM_SOUT_NONE;
}

void flm_sout_free(struct flm_sout *o)
{
    flm_buf_free(&o->buf);
    free(o->gap);
    free(o->iov);
    o->gap = NULL;
    o->iov = NULL;
    o->ngap = o->gapcap = o->iovcap = o->gapbytes = 0;
    o->hold = FLM_SOUT_NONE;
}

void flm_sout_reset(struct flm_sout *o)
{
    o->buf.len = 0;
    o->ngap = 0;
    o->gapbytes = 0;
    o->hold = FLM_SOUT_NONE;
}

int flm_sout_gap(struct flm_sout *o, size_t at, size_t len)
{
    if (len == 0)
        return FLM_OK;
    if (o->ngap == o->gapcap) {
        size_t cap = o->gapcap ? 2 * o->gapcap : 16;
        struct flm_sgap *g = realloc(o->gap, cap * sizeof(*g));
        if (g == NULL)
            return FLM_ENOMEM;
        o->gap = g;
        o->gapcap = cap;
    }
    o->gap[o->ngap++] = (struct flm_sgap){at, len};
    o->gapbytes += len;
    return FLM_OK;
}

int flm_sout_iov(struct flm_sout *o, const struct iovec **iov)
{
    size_t need = o->ngap + 1;
    if (need > o->iovcap) {
        struct iovec *v = realloc(o->iov, need * sizeof(*v));
        if (v == NULL)
            return -1;
        o->iov = v;
        o->iovcap = need;
    }
    size_t n = 0, from = 0;
    for (size_t i = 0; i <= o->ngap; i++) {
        size_t to = i < o->ngap ? o->gap[i].at : o->buf.len;
        if (to > from)
            o->iov[n++] = (struct iovec){o->buf.p + from, to - from};
        if (i < o->ngap)
            from = o->gap[i].at + o->gap[i].len;
    }
    *iov = o->iov;
    return (int)n;
}

void flm_sout_flatten(struct flm_sout *o)
{
    if (o->ngap == 0)
        return;
    size_t w = o->gap[0].at;
    for (size_t i = 0; i < o->ngap; i++) {
        size_t from = o->gap[i].at + o->gap[i].len;
        size_t to = i + 1 < o->ngap ? o->gap[i + 1].at : o->buf.len;
        memmove(o->buf.p + w, o->buf.p + from, to - from);
        w += to - from;
    }
    o->buf.len = w;
    if (o->hold != FLM_SOUT_NONE) /* held bytes come after every gap */
        o->hold -= o->gapbytes;
    o->ngap = 0;
    o->gapbytes = 0;
}

/* ----------------------------------------------------------- serializers */

int flm_headers_java_text(const struct flm_event *ev, struct flm_buf *out)
{
    size_t need = 2;
    for (uint32_t i = 0; i < ev->nhdr; i++)
        need += (size_t)ev->hdr[i].klen + ev->hdr[i].vlen + 3;
    int rc = flm_buf_reserve(out, need);
    if (rc != FLM_OK)
        return rc;
    uint8_t *p = out->p + out->len;
    *p++ = '{';
    for (uint32_t i = 0; i < ev->nhdr; i++) {
        if (i) {
            *p++ = ',';
            *p++ = ' ';
        }
        memcpy(p, ev->hdr[i].key, ev->hdr[i].klen);
        p += ev->hdr[i].klen;
        *p++ = '=';
        memcpy(p, ev->hdr[i].val, ev->hdr[i].vlen);
        p += ev->hdr[i].vlen;
    }
    *p++ = '}';
    out->len = (size_t)(p - out->p);
    return FLM_OK;
}

/* body [\n]: one reserve, one or two copies.  The bodies are copied into
 * one buffer rather than handed to writev(2) in place: with one or two
 * iovecs per 200-byte event the kernel's per-segment copy made the write
 * 1.3-1.8 times slower than memcpy + write (bench/RESULTS.md, issue 5). */
static int text_append(const struct line_conf *c, const struct flm_event *ev,
                       struct flm_buf *out)
{
    int rc = flm_buf_reserve(out, (size_t)ev->body_len + 1);
    if (rc != FLM_OK)
        return rc;
    memcpy(out->p + out->len, ev->body, ev->body_len);
    out->len += ev->body_len;
    if (c->append_newline)
        out->p[out->len++] = '\n';
    return FLM_OK;
}

static int text_write(struct flm_serializer *s, const struct flm_event *ev, struct flm_sout *out)
{
    return text_append(s->conf, ev, &out->buf);
}

/* A whole batch: one reserve, then the copies (the length pass also
 * brings every event's first cache line in before the copy pass). */
static int text_write_batch(struct flm_serializer *s, struct flm_event *const *evs, size_t n,
                            struct flm_sout *out)
{
    const struct line_conf *c = s->conf;
    size_t need = c->append_newline ? n : 0;
    for (size_t i = 0; i < n; i++)
        need += evs[i]->body_len;
    struct flm_buf *b = &out->buf;
    int rc = flm_buf_reserve(b, need);
    if (rc != FLM_OK)
        return rc;
    uint8_t *p = b->p + b->len;
    for (size_t i = 0; i < n; i++) {
        memcpy(p, evs[i]->body, evs[i]->body_len);
        p += evs[i]->body_len;
        if (c->append_newline)
            *p++ = '\n';
    }
    b->len = (size_t)(p - b->p);
    return FLM_OK;
}

/* {headers} body [\n] */
static int header_text_write(struct flm_serializer *s, const struct flm_event *ev,
                             struct flm_sout *out)
{
    struct flm_buf *b = &out->buf;
    size_t mark = b->len;
    int rc = flm_headers_java_text(ev, b);
    if (rc == FLM_OK)
        rc = flm_buf_append(b, " ", 1);
    if (rc == FLM_OK)
        rc = text_append(s->conf, ev, b);
    if (rc != FLM_OK)
        b->len = mark;
    return rc;
}

static const struct flm_serializer_type ser_text = {
    .alias = "text",
    .klass = "org.apache.flume.serialization.BodyTextEventSerializer$Builder",
    .summary = "Event body, then a newline.",
    .props = line_props,
    .conf_size = sizeof(struct line_conf),
    .write = text_write,
    .write_batch = text_write_batch,
};

static const struct flm_serializer_type ser_header_text = {
    .alias = "header_and_text",
    .klass = "org.apache.flume.serialization.HeaderAndBodyTextEventSerializer$Builder",
    .summary = "Headers as a Java map text, a space, the body, a newline.",
    .props = line_props,
    .conf_size = sizeof(struct line_conf),
    .write = header_text_write,
};

static const struct flm_serializer_type *const ser_types[] = {
    &ser_text,
    &ser_header_text,
    &flm_serializer_avro_event,
    NULL,
};

const struct flm_serializer_type *flm_serializer_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; ser_types[i] != NULL; i++)
        if (strcasecmp(ser_types[i]->alias, name) == 0 || strcmp(ser_types[i]->klass, name) == 0)
            return ser_types[i];
    /* Flume's AvroEventSerializer$Builder in the hdfs package takes its schema
     * from the events; it is a different format, not supported here. */
    return NULL;
}

int flm_serializer_validate(const char *name, struct flm_kvs *opts, const char *comp,
                            struct flm_diag *d)
{
    const struct flm_serializer_type *t = flm_serializer_find(name);
    if (t == NULL) {
        flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "",
                     "unknown serializer '%s' (known: text, header_and_text, avro_event; "
                     "custom Java serializers cannot run here)",
                     name ? name : "");
        return FLM_ERR;
    }
    void *conf = calloc(1, t->conf_size ? t->conf_size : 1);
    if (conf == NULL)
        return FLM_ENOMEM;
    for (size_t i = 0; i < opts->n; i++)
        opts->v[i].used = 0;
    int rc = flm_props_load(t->props, opts, conf, comp, d);
    flm_props_warn_unused(t->props, opts, comp, d);
    flm_props_free(t->props, conf);
    free(conf);
    return rc;
}

struct flm_serializer *flm_serializer_new(const char *name, struct flm_kvs *opts)
{
    const struct flm_serializer_type *t = flm_serializer_find(name);
    if (t == NULL)
        return NULL;
    struct flm_serializer *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->type = t;
    s->conf = calloc(1, t->conf_size ? t->conf_size : 1);
    s->state = calloc(1, t->state_size ? t->state_size : 1);
    if (s->conf == NULL || s->state == NULL) {
        flm_serializer_free(s);
        return NULL;
    }
    struct flm_diag d;
    flm_diag_init(&d);
    struct flm_kvs empty;
    flm_kvs_init(&empty);
    /* Validated at configuration; a bad value falls back to the default here. */
    if (flm_props_load(t->props, opts ? opts : &empty, s->conf, "", &d) != FLM_OK) {
        flm_props_free(t->props, s->conf);
        memset(s->conf, 0, t->conf_size);
        flm_props_load(t->props, &empty, s->conf, "", &d);
    }
    flm_diag_free(&d);
    flm_kvs_free(&empty);
    return s;
}

int flm_serializer_begin(struct flm_serializer *s, struct flm_sout *out)
{
    if (s->type->release)
        s->type->release(s);
    memset(s->state, 0, s->type->state_size ? s->type->state_size : 1);
    return s->type->header ? s->type->header(s, out) : FLM_OK;
}

int flm_serializer_write_batch(struct flm_serializer *s, struct flm_event *const *evs,
                               size_t n, struct flm_sout *out)
{
    if (s->type->write_batch != NULL)
        return s->type->write_batch(s, evs, n, out);
    int rc = FLM_OK;
    for (size_t i = 0; i < n && rc == FLM_OK; i++)
        rc = s->type->write(s, evs[i], out);
    return rc;
}

int flm_serializer_flush(struct flm_serializer *s, struct flm_sout *out)
{
    return s->type->flush ? s->type->flush(s, out) : FLM_OK;
}

void flm_serializer_free(struct flm_serializer *s)
{
    if (s == NULL)
        return;
    if (s->type->release && s->state)
        s->type->release(s);
    if (s->conf)
        flm_props_free(s->type->props, s->conf);
    free(s->conf);
    free(s->state);
    free(s);
}
