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

/* body [\n]: one reserve, one or two copies. */
static int text_write(struct flm_serializer *s, const struct flm_event *ev, struct flm_buf *out)
{
    const struct line_conf *c = s->conf;
    int rc = flm_buf_reserve(out, (size_t)ev->body_len + 1);
    if (rc != FLM_OK)
        return rc;
    memcpy(out->p + out->len, ev->body, ev->body_len);
    out->len += ev->body_len;
    if (c->append_newline)
        out->p[out->len++] = '\n';
    return FLM_OK;
}

/* {headers} body [\n] */
static int header_text_write(struct flm_serializer *s, const struct flm_event *ev,
                             struct flm_buf *out)
{
    size_t mark = out->len;
    int rc = flm_headers_java_text(ev, out);
    if (rc == FLM_OK)
        rc = flm_buf_append(out, " ", 1);
    if (rc == FLM_OK)
        rc = text_write(s, ev, out);
    if (rc != FLM_OK)
        out->len = mark;
    return rc;
}

static const struct flm_serializer_type ser_text = {
    .alias = "text",
    .klass = "org.apache.flume.serialization.BodyTextEventSerializer$Builder",
    .summary = "Event body, then a newline.",
    .props = line_props,
    .conf_size = sizeof(struct line_conf),
    .write = text_write,
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

int flm_serializer_begin(struct flm_serializer *s, struct flm_buf *out)
{
    if (s->type->release)
        s->type->release(s);
    memset(s->state, 0, s->type->state_size ? s->type->state_size : 1);
    return s->type->header ? s->type->header(s, out) : FLM_OK;
}

int flm_serializer_flush(struct flm_serializer *s, struct flm_buf *out)
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
