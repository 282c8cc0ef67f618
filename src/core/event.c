/*
 * event.c - single-allocation events.  Layout of one block:
 *
 *   struct flm_event | hdr[hcap] | key0\0 val0\0 key1\0 ... | body \0 | spare
 *
 * `used` is the offset of the first spare byte and `size` the block size.
 * Events made by flm_event_new have no spare room (hcap == nhdr, used ==
 * size); flm_event_new_room reserves some for the headers the source's
 * interceptors will add.  flm_event_set_header writes into the spare room
 * when it can and otherwise rebuilds the block once with room for a few more
 * headers.  Strings of a
 * replaced or removed header stay in the block until the next rebuild.
 * Pure functions; safe from any thread on events the caller owns.
 */
#include "core/event.h"

#include "core/err.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define EV_SPARE_SLOTS 4     /* header slots added when a block is rebuilt */
#define EV_SPARE_BYTES 96    /* bytes added for the strings of later headers */

struct keyref {
    const char *key;
    uint32_t klen;
    uint32_t idx;
};

static int keyref_cmp(const void *a, const void *b)
{
    const struct keyref *x = a, *y = b;
    uint32_t l = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->key, y->key, l);
    if (c != 0)
        return c;
    if (x->klen != y->klen)
        return x->klen < y->klen ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

/* Marks in drop[] every header that a later one with the same key overrides
 * (a map: last wins).  Quadratic for the usual handful of headers, sorted
 * beyond that so a peer cannot make one event cost O(n^2).  -1 on ENOMEM. */
static int mark_dups(const struct flm_hdr *hdrs, size_t n, unsigned char *drop)
{
    memset(drop, 0, n);
    if (n <= 16) {
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                if (hdrs[j].klen == hdrs[i].klen &&
                    memcmp(hdrs[j].key, hdrs[i].key, hdrs[i].klen) == 0) {
                    drop[i] = 1;
                    break;
                }
        return 0;
    }
    struct keyref *r = malloc(n * sizeof(*r));
    if (r == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        r[i] = (struct keyref){hdrs[i].key, hdrs[i].klen, (uint32_t)i};
    qsort(r, n, sizeof(*r), keyref_cmp);
    for (size_t i = 0; i + 1 < n; i++)
        if (r[i].klen == r[i + 1].klen && memcmp(r[i].key, r[i + 1].key, r[i].klen) == 0)
            drop[r[i].idx] = 1;
    free(r);
    return 0;
}

/* Builds a block holding body and the headers not dropped, with room for
 * extra_slots more headers and extra_bytes more string bytes. */
static struct flm_event *build(const void *body, size_t len, const struct flm_hdr *hdrs,
                               size_t nhdr, size_t extra_slots, size_t extra_bytes)
{
    unsigned char stackdrop[64];
    unsigned char *drop = nhdr <= sizeof(stackdrop) ? stackdrop : malloc(nhdr);
    struct flm_event *ev = NULL;
    size_t sz = sizeof(struct flm_event), keep = 0, tmp;

    if (drop == NULL || len > UINT32_MAX - 1 || mark_dups(hdrs, nhdr, drop) != 0)
        goto out;
    for (size_t i = 0; i < nhdr; i++) {
        if (drop[i])
            continue;
        keep++;
        if (flm_size_add(sz, sizeof(struct flm_hdr) + (size_t)hdrs[i].klen + hdrs[i].vlen + 2,
                         &sz))
            goto out;
    }
    if (flm_size_add(sz, len + 1, &tmp) || flm_size_add(tmp, extra_bytes, &tmp) ||
        flm_size_add(tmp, extra_slots * sizeof(struct flm_hdr), &sz) || sz > UINT32_MAX)
        goto out;
    if ((ev = malloc(sz)) == NULL)
        goto out;
    ev->nhdr = (uint32_t)keep;
    ev->hcap = (uint32_t)(keep + extra_slots);
    ev->body_len = (uint32_t)len;
    ev->size = (uint32_t)sz;
    char *p = (char *)&ev->hdr[ev->hcap];
    size_t k = 0;
    for (size_t i = 0; i < nhdr; i++) {
        if (drop[i])
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
    ev->used = (uint32_t)((p + len + 1) - (char *)ev);
out:
    if (drop != stackdrop)
        free(drop);
    return ev;
}

struct flm_event *flm_event_new_room(const void *body, size_t len, const struct flm_hdr *hdrs,
                                     size_t nhdr, size_t slots, size_t bytes)
{
    if (slots > UINT32_MAX / sizeof(struct flm_hdr) || bytes > UINT32_MAX)
        return NULL;
    if (nhdr == 0) {
        /* Hot path (netcat, seq, exec): no header bookkeeping at all. */
        size_t head = sizeof(struct flm_event) + slots * sizeof(struct flm_hdr), sz;
        if (flm_size_add(head, len, &sz) || flm_size_add(sz, bytes + 1, &sz) || sz > UINT32_MAX)
            return NULL;
        struct flm_event *ev = malloc(sz);
        if (ev == NULL)
            return NULL;
        ev->nhdr = 0;
        ev->hcap = (uint32_t)slots;
        ev->body_len = (uint32_t)len;
        ev->body = (uint8_t *)&ev->hdr[slots];
        if (len > 0)
            memcpy(ev->body, body, len);
        ev->body[len] = '\0';
        ev->used = (uint32_t)(head + len + 1);
        ev->size = (uint32_t)sz;
        return ev;
    }
    return build(body, len, hdrs, nhdr, slots, bytes);
}

struct flm_event *flm_event_new(const void *body, size_t len, const struct flm_hdr *hdrs,
                                size_t nhdr)
{
    return flm_event_new_room(body, len, hdrs, nhdr, 0, 0);
}

struct flm_event *flm_event_dup(const struct flm_event *ev)
{
    return build(ev->body, ev->body_len, ev->hdr, ev->nhdr, 0, 0);
}

void flm_event_free(struct flm_event *ev)
{
    free(ev);
}

const char *flm_event_header_n(const struct flm_event *ev, const char *key, size_t klen,
                               size_t *vlen)
{
    /* Lengths first: interceptors and selectors look headers up per event,
     * and most keys differ in length (strcmp was 11% of a routing run).
     * Newest first: what a selector routes on was usually just set by an
     * interceptor (keys are unique, so the order does not change the
     * answer). */
    for (uint32_t i = ev->nhdr; i-- > 0;)
        if (ev->hdr[i].klen == klen && flm_bytes_eq(ev->hdr[i].key, key, klen)) {
            if (vlen != NULL)
                *vlen = ev->hdr[i].vlen;
            return ev->hdr[i].val;
        }
    return NULL;
}

const char *flm_event_header(const struct flm_event *ev, const char *key)
{
    return flm_event_header_n(ev, key, strlen(key), NULL);
}

/* Copies a string into the spare room; NULL when it does not fit. */
static const char *spare_put(struct flm_event *ev, const char *s, size_t n)
{
    if (ev->size - ev->used < n + 1)
        return NULL;
    char *p = (char *)ev + ev->used;
    memcpy(p, s, n);
    p[n] = '\0';
    ev->used += (uint32_t)(n + 1);
    return p;
}

int flm_event_set_header(struct flm_event **evp, const char *key, const char *val)
{
    return flm_event_set_header_n(evp, key, strlen(key), val, strlen(val));
}

int flm_event_set_header_n(struct flm_event **evp, const char *key, size_t klen, const char *val,
                           size_t vlen)
{
    struct flm_event *ev = *evp;
    if (klen > UINT32_MAX / 4 || vlen > UINT32_MAX / 4)
        return FLM_ENOMEM;

    bool exists = false;
    for (uint32_t i = 0; i < ev->nhdr; i++) {
        struct flm_hdr *h = &ev->hdr[i];
        if (h->klen != klen || memcmp(h->key, key, klen) != 0)
            continue;
        exists = true;
        if (vlen <= h->vlen) { /* the old value's bytes are ours to reuse */
            memmove((char *)h->val, val, vlen);
            ((char *)h->val)[vlen] = '\0';
            h->vlen = (uint32_t)vlen;
            return FLM_OK;
        }
        const char *v = spare_put(ev, val, vlen);
        if (v != NULL) {
            h->val = v;
            h->vlen = (uint32_t)vlen;
            return FLM_OK;
        }
        break; /* rebuild below; the table entry is replaced there */
    }
    if (!exists && ev->nhdr < ev->hcap &&
        ev->size - ev->used >= klen + vlen + 2) {
        struct flm_hdr *h = &ev->hdr[ev->nhdr];
        h->key = spare_put(ev, key, klen);
        h->val = spare_put(ev, val, vlen);
        h->klen = (uint32_t)klen;
        h->vlen = (uint32_t)vlen;
        ev->nhdr++;
        return FLM_OK;
    }

    struct flm_hdr stack[16];
    struct flm_hdr *h = stack;
    size_t n = ev->nhdr + 1;
    if (n > sizeof(stack) / sizeof(stack[0]) && (h = malloc(n * sizeof(*h))) == NULL)
        return FLM_ENOMEM;
    memcpy(h, ev->hdr, ev->nhdr * sizeof(*h));
    h[ev->nhdr] = (struct flm_hdr){key, val, (uint32_t)klen, (uint32_t)vlen};
    struct flm_event *nev =
        build(ev->body, ev->body_len, h, n, EV_SPARE_SLOTS, EV_SPARE_BYTES);
    if (h != stack)
        free(h);
    if (nev == NULL)
        return FLM_ENOMEM;
    free(ev);
    *evp = nev;
    return FLM_OK;
}

void flm_hdr_tmpl_reset(struct flm_hdr_tmpl *t)
{
    t->n = 0;
    t->nbytes = 0;
}

bool flm_hdr_tmpl_add(struct flm_hdr_tmpl *t, const char *key, size_t klen, const char *val,
                      size_t vlen)
{
    if (t->n == FLM_TMPL_MAX_HDRS || klen + vlen + 2 > FLM_TMPL_MAX_BYTES - t->nbytes)
        return false;
    for (uint32_t i = 0; i < t->n; i++)
        if (t->klen[i] == klen && memcmp(t->strings + t->koff[i], key, klen) == 0)
            return false;
    char *p = t->strings + t->nbytes;
    memcpy(p, key, klen);
    p[klen] = '\0';
    memcpy(p + klen + 1, val, vlen);
    p[klen + 1 + vlen] = '\0';
    t->koff[t->n] = t->nbytes;
    t->klen[t->n] = (uint32_t)klen;
    t->vlen[t->n] = (uint32_t)vlen;
    t->n++;
    t->nbytes += (uint32_t)(klen + vlen + 2);
    return true;
}

bool flm_event_add_tmpl(struct flm_event *ev, const struct flm_hdr_tmpl *t)
{
    if (ev->hcap - ev->nhdr < t->n || ev->size - ev->used < t->nbytes)
        return false;
    for (uint32_t i = 0; i < ev->nhdr; i++)
        for (uint32_t j = 0; j < t->n; j++)
            if (ev->hdr[i].klen == t->klen[j] &&
                flm_bytes_eq(ev->hdr[i].key, t->strings + t->koff[j], t->klen[j]))
                return false;
    char *base = (char *)ev + ev->used;
    memcpy(base, t->strings, t->nbytes);
    struct flm_hdr *h = &ev->hdr[ev->nhdr];
    for (uint32_t j = 0; j < t->n; j++) {
        h[j].key = base + t->koff[j];
        h[j].val = h[j].key + t->klen[j] + 1;
        h[j].klen = t->klen[j];
        h[j].vlen = t->vlen[j];
    }
    ev->nhdr += t->n;
    ev->used += t->nbytes;
    return true;
}

void flm_event_remove_header(struct flm_event *ev, const char *key)
{
    size_t klen = strlen(key);
    for (uint32_t i = 0; i < ev->nhdr; i++) {
        if (ev->hdr[i].klen == klen && memcmp(ev->hdr[i].key, key, klen) == 0) {
            /* Strings stay where they are; only the table shrinks (the slot
             * becomes spare). */
            memmove(&ev->hdr[i], &ev->hdr[i + 1], (ev->nhdr - i - 1) * sizeof(ev->hdr[0]));
            ev->nhdr--;
            return;
        }
    }
}

size_t flm_event_size(const struct flm_event *ev)
{
    return ev->size;
}
