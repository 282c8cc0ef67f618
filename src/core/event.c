/*
 * event.c - single-allocation events.  Layout of one block:
 *   struct flm_event | hdr[nhdr] | key0\0 val0\0 key1\0 ... | body \0
 * Pure functions; safe from any thread on events the caller owns.
 */
#include "core/event.h"

#include "core/err.h"

#include <stdlib.h>
#include <string.h>

static struct flm_event *build(const void *body, size_t len, const struct flm_hdr *hdrs,
                               size_t nhdr, const char *skip_key)
{
    size_t sz = sizeof(struct flm_event), tmp;
    size_t keep = 0;

    if (len > UINT32_MAX - 1)
        return NULL;
    for (size_t i = 0; i < nhdr; i++) {
        /* A later duplicate or the skipped key drops this entry. */
        int dup = 0;
        if (skip_key != NULL && strcmp(hdrs[i].key, skip_key) == 0)
            dup = 1;
        for (size_t j = i + 1; j < nhdr && !dup; j++)
            if (hdrs[j].klen == hdrs[i].klen && memcmp(hdrs[j].key, hdrs[i].key, hdrs[i].klen) == 0)
                dup = 1;
        if (dup)
            continue;
        keep++;
        if (flm_size_add(sz, sizeof(struct flm_hdr) + (size_t)hdrs[i].klen + hdrs[i].vlen + 2, &sz))
            return NULL;
    }
    if (flm_size_add(sz, len + 1, &tmp))
        return NULL;
    sz = tmp;

    struct flm_event *ev = malloc(sz);
    if (ev == NULL)
        return NULL;
    ev->nhdr = (uint32_t)keep;
    ev->body_len = (uint32_t)len;
    char *p = (char *)&ev->hdr[keep];
    size_t k = 0;
    for (size_t i = 0; i < nhdr; i++) {
        int dup = 0;
        if (skip_key != NULL && strcmp(hdrs[i].key, skip_key) == 0)
            dup = 1;
        for (size_t j = i + 1; j < nhdr && !dup; j++)
            if (hdrs[j].klen == hdrs[i].klen && memcmp(hdrs[j].key, hdrs[i].key, hdrs[i].klen) == 0)
                dup = 1;
        if (dup)
            continue;
        struct flm_hdr *h = &ev->hdr[k++];
        h->klen = hdrs[i].klen;
        h->vlen = hdrs[i].vlen;
        memcpy(p, hdrs[i].key, h->klen);
        p[h->klen] = '\0';
        h->key = p;
        p += h->klen + 1;
        memcpy(p, hdrs[i].val, h->vlen);
        p[h->vlen] = '\0';
        h->val = p;
        p += h->vlen + 1;
    }
    ev->body = (uint8_t *)p;
    if (len > 0)
        memcpy(p, body, len);
    p[len] = '\0';
    return ev;
}

struct flm_event *flm_event_new(const void *body, size_t len, const struct flm_hdr *hdrs,
                                size_t nhdr)
{
    if (nhdr == 0) {
        /* Hot path (netcat, seq, exec): no header bookkeeping at all. */
        if (len > UINT32_MAX - 1)
            return NULL;
        struct flm_event *ev = malloc(sizeof(*ev) + len + 1);
        if (ev == NULL)
            return NULL;
        ev->nhdr = 0;
        ev->body_len = (uint32_t)len;
        ev->body = (uint8_t *)&ev->hdr[0];
        if (len > 0)
            memcpy(ev->body, body, len);
        ev->body[len] = '\0';
        return ev;
    }
    return build(body, len, hdrs, nhdr, NULL);
}

struct flm_event *flm_event_dup(const struct flm_event *ev)
{
    return build(ev->body, ev->body_len, ev->hdr, ev->nhdr, NULL);
}

void flm_event_free(struct flm_event *ev)
{
    free(ev);
}

const char *flm_event_header(const struct flm_event *ev, const char *key)
{
    for (uint32_t i = 0; i < ev->nhdr; i++)
        if (strcmp(ev->hdr[i].key, key) == 0)
            return ev->hdr[i].val;
    return NULL;
}

int flm_event_set_header(struct flm_event **evp, const char *key, const char *val)
{
    struct flm_event *ev = *evp;
    struct flm_hdr stack[16];
    struct flm_hdr *h = stack;
    size_t n = ev->nhdr + 1;

    if (n > sizeof(stack) / sizeof(stack[0])) {
        h = malloc(n * sizeof(*h));
        if (h == NULL)
            return FLM_ENOMEM;
    }
    memcpy(h, ev->hdr, ev->nhdr * sizeof(*h));
    h[ev->nhdr] = flm_hdr_str(key, val);
    struct flm_event *nev = build(ev->body, ev->body_len, h, n, NULL);
    if (h != stack)
        free(h);
    if (nev == NULL)
        return FLM_ENOMEM;
    free(ev);
    *evp = nev;
    return FLM_OK;
}

void flm_event_remove_header(struct flm_event *ev, const char *key)
{
    for (uint32_t i = 0; i < ev->nhdr; i++) {
        if (strcmp(ev->hdr[i].key, key) == 0) {
            /* Strings stay where they are; only the table shrinks. */
            memmove(&ev->hdr[i], &ev->hdr[i + 1], (ev->nhdr - i - 1) * sizeof(ev->hdr[0]));
            ev->nhdr--;
            return;
        }
    }
}

size_t flm_event_size(const struct flm_event *ev)
{
    size_t sz = sizeof(*ev) + ev->body_len + 1;
    for (uint32_t i = 0; i < ev->nhdr; i++)
        sz += sizeof(struct flm_hdr) + ev->hdr[i].klen + ev->hdr[i].vlen + 2;
    return sz;
}
