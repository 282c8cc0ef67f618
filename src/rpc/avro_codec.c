/*
 * avro_codec.c - Avro binary encoding, Netty framing, handshake and calls of
 * Flume's AvroSourceProtocol (spec/wire.md a-e), plus the zlib stream
 * wrappers.  Pure functions over caller-owned buffers; safe from any thread
 * (no shared state; the server hash cache belongs to its caller).
 */
#include "rpc/avro_codec.h"

#include "core/err.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HDRS 4096u             /* headers per event: beyond, the event is refused */

/* ------------------------------------------------------ binary encoding */

int flm_avro_get_long(struct flm_avro_rd *r, int64_t *v)
{
    uint64_t z = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (r->off >= r->len)
            return FLM_EAGAIN;
        uint8_t b = r->p[r->off++];
        if (shift == 63 && (b & 0x7e) != 0)
            return FLM_ECORRUPT;
        z |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *v = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
            return FLM_OK;
        }
    }
    return FLM_ECORRUPT;
}

int flm_avro_get_int(struct flm_avro_rd *r, int32_t *v)
{
    int64_t l;
    int rc = flm_avro_get_long(r, &l);
    if (rc != FLM_OK)
        return rc;
    if (l < INT32_MIN || l > INT32_MAX)
        return FLM_ECORRUPT;
    *v = (int32_t)l;
    return FLM_OK;
}

int flm_avro_get_bool(struct flm_avro_rd *r, bool *v)
{
    if (r->off >= r->len)
        return FLM_EAGAIN;
    uint8_t b = r->p[r->off++];
    if (b > 1)
        return FLM_ECORRUPT;
    *v = b == 1;
    return FLM_OK;
}

int flm_avro_get_bytes(struct flm_avro_rd *r, const uint8_t **p, size_t *n)
{
    int64_t l;
    int rc = flm_avro_get_long(r, &l);
    if (rc != FLM_OK)
        return rc;
    if (l < 0)
        return FLM_ECORRUPT;
    if ((uint64_t)l > flm_avro_rd_left(r))
        return FLM_EAGAIN;
    *p = r->p + r->off;
    *n = (size_t)l;
    r->off += (size_t)l;
    return FLM_OK;
}

int flm_avro_get_fixed(struct flm_avro_rd *r, uint8_t *out, size_t n)
{
    if (flm_avro_rd_left(r) < n)
        return FLM_EAGAIN;
    memcpy(out, r->p + r->off, n);
    r->off += n;
    return FLM_OK;
}

/* Reads a block count; a negative count is followed by the block's byte
 * size, which we read and ignore. */
static int get_block_count(struct flm_avro_rd *r, uint64_t *count)
{
    int64_t c;
    int rc = flm_avro_get_long(r, &c);
    if (rc != FLM_OK)
        return rc;
    if (c < 0) {
        if (c == INT64_MIN)
            return FLM_ECORRUPT;
        int64_t size;
        rc = flm_avro_get_long(r, &size);
        if (rc != FLM_OK)
            return rc;
        if (size < 0)
            return FLM_ECORRUPT;
        c = -c;
    }
    *count = (uint64_t)c;
    return FLM_OK;
}

int flm_avro_skip_map(struct flm_avro_rd *r)
{
    for (;;) {
        uint64_t c;
        int rc = get_block_count(r, &c);
        if (rc != FLM_OK)
            return rc;
        if (c == 0)
            return FLM_OK;
        if (c > flm_avro_rd_left(r))   /* each entry takes at least 2 bytes */
            return FLM_EAGAIN;
        for (uint64_t i = 0; i < c; i++) {
            const uint8_t *p;
            size_t n;
            if ((rc = flm_avro_get_bytes(r, &p, &n)) != FLM_OK ||
                (rc = flm_avro_get_bytes(r, &p, &n)) != FLM_OK)
                return rc;
        }
    }
}

int flm_avro_put_long(struct flm_buf *b, int64_t v)
{
    uint8_t tmp[10];
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;
    while (z >= 0x80) {
        tmp[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    tmp[n++] = (uint8_t)z;
    return flm_buf_append(b, tmp, n);
}

int flm_avro_put_bytes(struct flm_buf *b, const void *p, size_t n)
{
    int rc = flm_avro_put_long(b, (int64_t)n);
    if (rc == FLM_OK && n > 0)
        rc = flm_buf_append(b, p, n);
    return rc;
}

int flm_avro_put_str(struct flm_buf *b, const char *s)
{
    return flm_avro_put_bytes(b, s, strlen(s));
}

int flm_avro_put_raw(struct flm_buf *b, const void *p, size_t n)
{
    return flm_buf_append(b, p, n);
}

/* --------------------------------------------------- AvroSourceProtocol */

const char flm_avro_protocol_json[] =
    "{\"protocol\":\"AvroSourceProtocol\",\"namespace\":\"org.apache.flume.source.avro\","
    "\"types\":[{\"type\":\"enum\",\"name\":\"Status\",\"symbols\":[\"OK\",\"FAILED\","
    "\"UNKNOWN\"]},{\"type\":\"record\",\"name\":\"AvroFlumeEvent\",\"fields\":[{\"name\":"
    "\"headers\",\"type\":{\"type\":\"map\",\"values\":\"string\"}},{\"name\":\"body\","
    "\"type\":\"bytes\"}]}],\"messages\":{\"append\":{\"request\":[{\"name\":\"event\","
    "\"type\":\"AvroFlumeEvent\"}],\"response\":\"Status\"},\"appendBatch\":{\"request\":"
    "[{\"name\":\"events\",\"type\":{\"type\":\"array\",\"items\":\"AvroFlumeEvent\"}}],"
    "\"response\":\"Status\"}}}";

/* Apache Flume 1.11.0's protocol hash (its JSON embeds the license doc). */
static const uint8_t flume111_hash[16] = {0x86, 0xaa, 0xda, 0xe2, 0xc4, 0x54, 0x74, 0xc0,
                                          0xfe, 0x93, 0xff, 0xd0, 0xf2, 0x35, 0x0a, 0x65};

void flm_avro_protocol_md5(uint8_t out[16])
{
    unsigned int n = 16;
    if (EVP_Digest(flm_avro_protocol_json, sizeof(flm_avro_protocol_json) - 1, out, &n,
                   EVP_md5(), NULL) != 1)
        memset(out, 0, 16);
}

bool flm_avro_known_hash(const uint8_t hash[16])
{
    uint8_t own[16];
    flm_avro_protocol_md5(own);
    return memcmp(hash, own, 16) == 0 || memcmp(hash, flume111_hash, 16) == 0;
}

int flm_avro_check_protocol(const char *text, size_t len, char *why, size_t whycap)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    if (root == NULL) {
        snprintf(why, whycap, "org.apache.avro.SchemaParseException: %s (line %d, column %d)",
                 jerr.text, jerr.line, jerr.column);
        return FLM_ECORRUPT;
    }
    int rc = FLM_OK;
    const char *name = json_string_value(json_object_get(root, "protocol"));
    json_t *msgs = json_object_get(root, "messages");
    if (name == NULL || strcmp(name, "AvroSourceProtocol") != 0) {
        snprintf(why, whycap, "org.apache.avro.AvroRuntimeException: protocol '%s' is not "
                 "AvroSourceProtocol", name ? name : "(none)");
        rc = FLM_ECORRUPT;
    } else if (!json_is_object(msgs) || json_object_get(msgs, "append") == NULL ||
               json_object_get(msgs, "appendBatch") == NULL) {
        snprintf(why, whycap, "org.apache.avro.AvroRuntimeException: protocol "
                 "AvroSourceProtocol lacks the append/appendBatch messages");
        rc = FLM_ECORRUPT;
    }
    json_decref(root);
    return rc;
}

int flm_avro_put_event(struct flm_buf *b, const struct flm_event *ev)
{
    int rc = FLM_OK;
    if (ev->nhdr > 0) {
        rc = flm_avro_put_long(b, ev->nhdr);
        for (uint32_t i = 0; i < ev->nhdr && rc == FLM_OK; i++) {
            rc = flm_avro_put_bytes(b, ev->hdr[i].key, ev->hdr[i].klen);
            if (rc == FLM_OK)
                rc = flm_avro_put_bytes(b, ev->hdr[i].val, ev->hdr[i].vlen);
        }
    }
    if (rc == FLM_OK)
        rc = flm_buf_append(b, "", 1);   /* map end (or empty map) */
    if (rc == FLM_OK)
        rc = flm_avro_put_bytes(b, ev->body, ev->body_len);
    return rc;
}

int flm_avro_get_event(struct flm_avro_rd *r, struct flm_event **out)
{
    struct flm_hdr stack[16];
    struct flm_hdr *h = stack;
    size_t nh = 0, cap = 16;
    int rc;

    for (;;) {
        uint64_t c;
        if ((rc = get_block_count(r, &c)) != FLM_OK)
            goto fail;
        if (c == 0)
            break;
        if (c > flm_avro_rd_left(r) / 2) {   /* each entry takes at least 2 bytes */
            rc = FLM_ECORRUPT;
            goto fail;
        }
        if (nh + c > MAX_HDRS) {
            rc = FLM_EFULL;
            goto fail;
        }
        if (nh + c > cap) {
            size_t ncap = nh + c;
            struct flm_hdr *nhp = malloc(ncap * sizeof(*nhp));
            if (nhp == NULL) {
                rc = FLM_ENOMEM;
                goto fail;
            }
            memcpy(nhp, h, nh * sizeof(*nhp));
            if (h != stack)
                free(h);
            h = nhp;
            cap = ncap;
        }
        for (uint64_t i = 0; i < c; i++) {
            const uint8_t *k, *v;
            size_t kl, vl;
            if ((rc = flm_avro_get_bytes(r, &k, &kl)) != FLM_OK ||
                (rc = flm_avro_get_bytes(r, &v, &vl)) != FLM_OK)
                goto fail;
            if (kl > UINT32_MAX || vl > UINT32_MAX) {
                rc = FLM_EFULL;
                goto fail;
            }
            h[nh].key = (const char *)k;
            h[nh].klen = (uint32_t)kl;
            h[nh].val = (const char *)v;
            h[nh].vlen = (uint32_t)vl;
            nh++;
        }
    }
    const uint8_t *body;
    size_t blen;
    if ((rc = flm_avro_get_bytes(r, &body, &blen)) != FLM_OK)
        goto fail;
    *out = flm_event_new(body, blen, nh ? h : NULL, nh);
    rc = *out ? FLM_OK : FLM_ENOMEM;
fail:
    if (h != stack)
        free(h);
    /* A short read inside one complete message is corruption, not "wait". */
    return rc == FLM_EAGAIN ? FLM_ECORRUPT : rc;
}

void flm_avro_free_events(struct flm_event **evs, size_t n)
{
    if (evs == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        flm_event_free(evs[i]);
    free(evs);
}

int flm_avro_get_event_array(struct flm_avro_rd *r, struct flm_event ***out, size_t *nout)
{
    struct flm_event **evs = NULL;
    size_t n = 0, cap = 0;
    int rc;
    for (;;) {
        uint64_t c;
        if ((rc = get_block_count(r, &c)) != FLM_OK)
            goto fail;
        if (c == 0)
            break;
        if (c > flm_avro_rd_left(r) / 2) {   /* an event takes at least 2 bytes */
            rc = FLM_ECORRUPT;
            goto fail;
        }
        if (n + c > cap) {
            size_t ncap = n + c;
            struct flm_event **ne = realloc(evs, ncap * sizeof(*ne));
            if (ne == NULL) {
                rc = FLM_ENOMEM;
                goto fail;
            }
            evs = ne;
            cap = ncap;
        }
        for (uint64_t i = 0; i < c; i++) {
            if ((rc = flm_avro_get_event(r, &evs[n])) != FLM_OK)
                goto fail;
            n++;
        }
    }
    if (evs == NULL) {
        evs = malloc(sizeof(*evs));
        if (evs == NULL)
            return FLM_ENOMEM;
    }
    *out = evs;
    *nout = n;
    return FLM_OK;
fail:
    flm_avro_free_events(evs, n);
    return rc == FLM_EAGAIN ? FLM_ECORRUPT : rc;
}

/* ------------------------------------------------------------- framing */

enum { FR_HDR, FR_LEN, FR_DATA };

void flm_avro_framer_init(struct flm_avro_framer *f, size_t max)
{
    memset(f, 0, sizeof(*f));
    f->max = max;
    flm_buf_init(&f->msg, max);
}

void flm_avro_framer_free(struct flm_avro_framer *f)
{
    flm_buf_free(&f->msg);
}

void flm_avro_framer_set_max(struct flm_avro_framer *f, size_t max)
{
    f->max = max;
    f->msg.max = max > f->msg.len ? max : f->msg.len;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int flm_avro_framer_feed(struct flm_avro_framer *f, const uint8_t *p, size_t n, size_t *used,
                         char *why, size_t whycap)
{
    size_t off = 0;
    for (;;) {
        if (f->state == FR_HDR) {
            if (off == n)
                break;
            size_t k = FLM_AVRO_FRAME_HDR - f->hlen;
            if (k > n - off)
                k = n - off;
            memcpy(f->hdr + f->hlen, p + off, k);
            f->hlen += (unsigned)k;
            off += k;
            if (f->hlen < FLM_AVRO_FRAME_HDR)
                break;
            f->serial = be32(f->hdr);
            int32_t nb = (int32_t)be32(f->hdr + 4);
            f->hlen = 0;
            if (nb <= 0) {
                *used = off;
                snprintf(why, whycap, "frame with %d buffers", nb);
                return FLM_ECORRUPT;
            }
            /* Every buffer costs at least its 4-byte length in the frame. */
            if ((uint64_t)nb * 4 > (uint64_t)f->max + 4) {
                *used = off;
                snprintf(why, whycap, "frame announces %d buffers (cap %zu bytes per frame)", nb,
                         f->max);
                return FLM_EFULL;
            }
            f->nbuf = (uint32_t)nb;
            f->ibuf = 0;
            f->msg.len = 0;
            f->msg.max = f->max;
            f->state = FR_LEN;
        } else if (f->state == FR_LEN) {
            if (f->ibuf == f->nbuf) {
                f->state = FR_HDR;
                *used = off;
                return FLM_OK;
            }
            if (off == n)
                break;
            size_t k = 4 - f->hlen;
            if (k > n - off)
                k = n - off;
            memcpy(f->hdr + f->hlen, p + off, k);
            f->hlen += (unsigned)k;
            off += k;
            if (f->hlen < 4)
                break;
            f->hlen = 0;
            int32_t l = (int32_t)be32(f->hdr);
            if (l < 0) {
                *used = off;
                snprintf(why, whycap, "buffer length %d", l);
                return FLM_ECORRUPT;
            }
            if ((uint64_t)f->msg.len + (uint64_t)l > f->max) {
                *used = off;
                snprintf(why, whycap, "frame of more than %zu bytes (buffer of %d after %zu)",
                         f->max, l, f->msg.len);
                return FLM_EFULL;
            }
            f->left = (uint32_t)l;
            f->state = FR_DATA;
        } else {
            size_t k = f->left;
            if (k > n - off)
                k = n - off;
            if (k > 0) {
                int rc = flm_buf_append(&f->msg, p + off, k);
                if (rc != FLM_OK) {
                    *used = off;
                    snprintf(why, whycap, "no memory for a frame of %zu bytes", f->msg.len + k);
                    return rc;
                }
                f->left -= (uint32_t)k;
                off += k;
            }
            if (f->gated && (f->left == 0 || f->msg.len - f->tried >= 256)) {
                struct flm_avro_rd r;
                struct flm_avro_hsreq h;
                flm_avro_rd_init(&r, f->msg.p, f->msg.len);
                f->tried = f->msg.len;
                int hr = flm_avro_get_hsreq(&r, &h);
                if (hr == FLM_OK) {
                    f->gated = false;
                } else if (hr != FLM_EAGAIN) {
                    *used = off;
                    snprintf(why, whycap, "the first request does not start with an Avro "
                             "handshake");
                    return FLM_ECORRUPT;
                } else if (f->msg.len > f->pre_max) {
                    *used = off;
                    snprintf(why, whycap, "no complete Avro handshake in the first %zu bytes",
                             f->pre_max);
                    return FLM_EFULL;
                }
            }
            if (f->left > 0)
                break;
            f->ibuf++;
            f->state = FR_LEN;
        }
    }
    *used = off;
    return FLM_EAGAIN;
}

void flm_avro_framer_next(struct flm_avro_framer *f)
{
    f->msg.len = 0;
    f->nbuf = f->ibuf = 0;
    f->state = FR_HDR;
    f->hlen = 0;
    f->tried = 0;
}

void flm_avro_framer_gate(struct flm_avro_framer *f, bool gated, size_t pre_max)
{
    f->gated = gated;
    f->pre_max = pre_max;
    f->tried = 0;
}

bool flm_avro_framer_idle(const struct flm_avro_framer *f)
{
    return f->state == FR_HDR && f->hlen == 0;
}

int flm_avro_frame_begin(struct flm_buf *b, size_t *mark)
{
    *mark = b->len;
    uint8_t z[12] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0};
    return flm_buf_append(b, z, sizeof(z));
}

int flm_avro_frame_end(struct flm_buf *b, size_t mark, uint32_t serial)
{
    size_t l = b->len - mark - 12;
    if (l > INT32_MAX)
        return FLM_EFULL;
    put_be32(b->p + mark, serial);
    put_be32(b->p + mark + 8, (uint32_t)l);
    return FLM_OK;
}

/* ---------------------------------------------------------- handshake */

static int get_union_index(struct flm_avro_rd *r, int nbranch, int64_t *idx)
{
    int rc = flm_avro_get_long(r, idx);
    if (rc != FLM_OK)
        return rc;
    return (*idx < 0 || *idx >= nbranch) ? FLM_ECORRUPT : FLM_OK;
}

int flm_avro_get_hsreq(struct flm_avro_rd *r, struct flm_avro_hsreq *h)
{
    int64_t u;
    int rc;
    if ((rc = flm_avro_get_fixed(r, h->client_hash, 16)) != FLM_OK ||
        (rc = get_union_index(r, 2, &u)) != FLM_OK)
        return rc;
    h->proto = NULL;
    h->proto_len = 0;
    if (u == 1 && (rc = flm_avro_get_bytes(r, &h->proto, &h->proto_len)) != FLM_OK)
        return rc;
    if ((rc = flm_avro_get_fixed(r, h->server_hash, 16)) != FLM_OK ||
        (rc = get_union_index(r, 2, &u)) != FLM_OK)
        return rc;
    if (u == 1)
        return flm_avro_skip_map(r);
    return FLM_OK;
}

int flm_avro_get_hsresp(struct flm_avro_rd *r, struct flm_avro_hsresp *h)
{
    int32_t m;
    int64_t u;
    int rc;
    memset(h, 0, sizeof(*h));
    if ((rc = flm_avro_get_int(r, &m)) != FLM_OK)
        return rc;
    if (m < 0 || m > 2)
        return FLM_ECORRUPT;
    h->match = m;
    if ((rc = get_union_index(r, 2, &u)) != FLM_OK)
        return rc;
    if (u == 1) {
        if ((rc = flm_avro_get_bytes(r, &h->proto, &h->proto_len)) != FLM_OK)
            return rc;
        h->has_proto = true;
    }
    if ((rc = get_union_index(r, 2, &u)) != FLM_OK)
        return rc;
    if (u == 1) {
        if ((rc = flm_avro_get_fixed(r, h->server_hash, 16)) != FLM_OK)
            return rc;
        h->has_hash = true;
    }
    if ((rc = get_union_index(r, 2, &u)) != FLM_OK)
        return rc;
    if (u == 1)
        return flm_avro_skip_map(r);
    return FLM_OK;
}

int flm_avro_put_hsreq(struct flm_buf *b, const uint8_t *server_hash)
{
    uint8_t own[16];
    flm_avro_protocol_md5(own);
    int rc = flm_buf_append(b, own, 16);
    if (rc == FLM_OK)
        rc = flm_buf_append(b, "\x02", 1);
    if (rc == FLM_OK)
        rc = flm_avro_put_bytes(b, flm_avro_protocol_json, sizeof(flm_avro_protocol_json) - 1);
    if (rc == FLM_OK)
        rc = flm_buf_append(b, server_hash ? server_hash : own, 16);
    if (rc == FLM_OK)
        rc = flm_buf_append(b, "\x02\x00", 2);
    return rc;
}

int flm_avro_put_hsresp(struct flm_buf *b, int match)
{
    if (match == FLM_AVRO_BOTH)
        return flm_buf_append(b, "\x00\x00\x00\x00", 4);
    uint8_t own[16];
    flm_avro_protocol_md5(own);
    uint8_t m = match == FLM_AVRO_CLIENT ? 0x02 : 0x04;
    int rc = flm_buf_append(b, &m, 1);
    if (rc == FLM_OK)
        rc = flm_buf_append(b, "\x02", 1);
    if (rc == FLM_OK)
        rc = flm_avro_put_bytes(b, flm_avro_protocol_json, sizeof(flm_avro_protocol_json) - 1);
    if (rc == FLM_OK)
        rc = flm_buf_append(b, "\x02", 1);
    if (rc == FLM_OK)
        rc = flm_buf_append(b, own, 16);
    if (rc == FLM_OK)
        rc = flm_buf_append(b, "\x00", 1);   /* meta: null, as Java */
    return rc;
}

/* ------------------------------------------------------------- calls */

int flm_avro_put_call(struct flm_buf *b, int msg, struct flm_event *const *evs, size_t n)
{
    int rc = flm_buf_append(b, "\x00", 1);   /* call meta: empty map */
    if (rc != FLM_OK)
        return rc;
    if (msg == FLM_AVRO_MSG_PING)
        return flm_avro_put_str(b, "");
    if (msg == FLM_AVRO_MSG_APPEND) {
        rc = flm_avro_put_str(b, "append");
        return rc == FLM_OK ? flm_avro_put_event(b, evs[0]) : rc;
    }
    rc = flm_avro_put_str(b, "appendBatch");
    if (rc == FLM_OK && n > 0)
        rc = flm_avro_put_long(b, (int64_t)n);
    for (size_t i = 0; i < n && rc == FLM_OK; i++)
        rc = flm_avro_put_event(b, evs[i]);
    if (rc == FLM_OK)
        rc = flm_buf_append(b, "\x00", 1);
    return rc;
}

int flm_avro_put_result(struct flm_buf *b, int status, const char *err)
{
    int rc;
    if (err == NULL) {
        uint8_t t[3] = {0x00, 0x00, (uint8_t)(status << 1)};
        return flm_buf_append(b, t, 3);
    }
    rc = flm_buf_append(b, "\x00\x01\x00", 3);   /* meta, error flag, union branch string */
    return rc == FLM_OK ? flm_avro_put_str(b, err) : rc;
}

int flm_avro_get_response(struct flm_avro_rd *r, bool expect_hs, struct flm_avro_hsresp *hs,
                          bool *has_result, int *status, char *errtext, size_t errcap)
{
    int rc;
    *has_result = false;
    if (errcap > 0)
        errtext[0] = '\0';
    if (expect_hs) {
        if ((rc = flm_avro_get_hsresp(r, hs)) != FLM_OK)
            return rc == FLM_EAGAIN ? FLM_ECORRUPT : rc;
        if (hs->match == FLM_AVRO_NONE)
            return FLM_OK;
    }
    bool flag;
    if ((rc = flm_avro_skip_map(r)) != FLM_OK || (rc = flm_avro_get_bool(r, &flag)) != FLM_OK)
        return rc == FLM_EAGAIN ? FLM_ECORRUPT : rc;
    if (!flag) {
        int32_t s;
        if ((rc = flm_avro_get_int(r, &s)) != FLM_OK)
            return rc == FLM_EAGAIN ? FLM_ECORRUPT : rc;
        if (s < 0 || s > 2)
            return FLM_ECORRUPT;
        *status = s;
        *has_result = true;
        return FLM_OK;
    }
    int64_t u;
    const uint8_t *p;
    size_t n;
    if ((rc = get_union_index(r, 1, &u)) != FLM_OK || (rc = flm_avro_get_bytes(r, &p, &n)) != FLM_OK)
        return rc == FLM_EAGAIN ? FLM_ECORRUPT : rc;
    if (errcap > 0) {
        size_t k = n < errcap - 1 ? n : errcap - 1;
        memcpy(errtext, p, k);
        errtext[k] = '\0';
    }
    *status = -1;
    *has_result = true;
    return FLM_OK;
}

/* ------------------------------------------------------------ server */

static bool cache_has(const struct flm_avro_server *s, const uint8_t h[16])
{
    for (unsigned i = 0; i < s->nhash; i++)
        if (memcmp(s->hashes[i], h, 16) == 0)
            return true;
    return false;
}

static void cache_add(struct flm_avro_server *s, const uint8_t h[16])
{
    if (cache_has(s, h))
        return;
    memcpy(s->hashes[s->next], h, 16);
    s->next = (s->next + 1) % FLM_AVRO_HASH_CACHE;
    if (s->nhash < FLM_AVRO_HASH_CACHE)
        s->nhash++;
}

void flm_avro_request_clear(struct flm_avro_request *req)
{
    flm_avro_free_events(req->evs, req->nevs);
    memset(req, 0, sizeof(*req));
}

int flm_avro_server_decode(struct flm_avro_server *s, const uint8_t *msg, size_t len,
                           bool *established, struct flm_avro_request *req)
{
    struct flm_avro_rd r;
    int rc;
    memset(req, 0, sizeof(*req));
    req->msg = -1;
    flm_avro_rd_init(&r, msg, len);

    if (!*established) {
        struct flm_avro_hsreq h;
        rc = flm_avro_get_hsreq(&r, &h);
        if (rc != FLM_OK) {
            snprintf(req->why, sizeof(req->why), "undecodable handshake request");
            return FLM_ECORRUPT;
        }
        req->has_hs = true;
        bool known = flm_avro_known_hash(h.client_hash) || cache_has(s, h.client_hash);
        if (!known && h.proto != NULL) {
            if (flm_avro_check_protocol((const char *)h.proto, h.proto_len, req->why,
                                        sizeof(req->why)) != FLM_OK) {
                req->hs_error = true;
                return FLM_OK;
            }
            cache_add(s, h.client_hash);
            known = true;
        }
        if (!known) {
            req->match = FLM_AVRO_NONE;
            return FLM_OK;
        }
        req->match = flm_avro_known_hash(h.server_hash) ? FLM_AVRO_BOTH : FLM_AVRO_CLIENT;
        *established = true;
    }

    const uint8_t *name;
    size_t nlen;
    if ((rc = flm_avro_skip_map(&r)) != FLM_OK || (rc = flm_avro_get_bytes(&r, &name, &nlen)) != FLM_OK) {
        snprintf(req->why, sizeof(req->why), "java.io.EOFException");
        return FLM_ECORRUPT;
    }
    size_t k = nlen < sizeof(req->name) - 1 ? nlen : sizeof(req->name) - 1;
    memcpy(req->name, name, k);
    req->name[k] = '\0';
    for (size_t i = 0; i < k; i++)   /* printable for logs */
        if ((unsigned char)req->name[i] < 0x20 || (unsigned char)req->name[i] == 0x7f)
            req->name[i] = '?';
    if (nlen == 0) {
        req->msg = FLM_AVRO_MSG_PING;
        return FLM_OK;
    }
    if (nlen == 6 && memcmp(name, "append", 6) == 0) {
        struct flm_event *ev;
        rc = flm_avro_get_event(&r, &ev);
        if (rc == FLM_OK) {
            req->evs = malloc(sizeof(*req->evs));
            if (req->evs == NULL) {
                flm_event_free(ev);
                rc = FLM_ENOMEM;
            } else {
                req->evs[0] = ev;
                req->nevs = 1;
            }
        }
        req->msg = FLM_AVRO_MSG_APPEND;
    } else if (nlen == 11 && memcmp(name, "appendBatch", 11) == 0) {
        rc = flm_avro_get_event_array(&r, &req->evs, &req->nevs);
        req->msg = FLM_AVRO_MSG_APPEND_BATCH;
    } else {
        snprintf(req->why, sizeof(req->why),
                 "org.apache.avro.AvroRuntimeException: No such remote message: %s", req->name);
        return FLM_OK;
    }
    if (rc != FLM_OK) {
        req->msg = -1;
        snprintf(req->why, sizeof(req->why), "%s",
                 rc == FLM_ENOMEM ? "java.lang.OutOfMemoryError"
                 : rc == FLM_EFULL ? "org.apache.avro.AvroRuntimeException: event over limits"
                                   : "java.io.EOFException");
        return rc;
    }
    return FLM_OK;
}

int flm_avro_server_reply(struct flm_buf *b, uint32_t serial, const struct flm_avro_request *req,
                          int status, const char *err)
{
    size_t mark;
    int rc = flm_avro_frame_begin(b, &mark);
    if (rc != FLM_OK)
        return rc;
    if (req->has_hs && !req->hs_error) {
        rc = flm_avro_put_hsresp(b, req->match);
        if (rc == FLM_OK && req->match != FLM_AVRO_NONE && req->msg != FLM_AVRO_MSG_PING)
            rc = flm_avro_put_result(b, status, err);
    } else if (req->msg != FLM_AVRO_MSG_PING || err != NULL) {
        rc = flm_avro_put_result(b, status, err);
    }
    if (rc == FLM_OK)
        rc = flm_avro_frame_end(b, mark, serial);
    if (rc != FLM_OK)
        b->len = mark;
    return rc;
}

/* ------------------------------------------------------------ deflate */

int flm_avro_zout_init(struct flm_avro_zout *z, int level)
{
    memset(z, 0, sizeof(*z));
    if (deflateInit(&z->z, level) != Z_OK)
        return FLM_ENOMEM;
    z->ready = true;
    return FLM_OK;
}

void flm_avro_zout_end(struct flm_avro_zout *z)
{
    if (z->ready)
        deflateEnd(&z->z);
    z->ready = false;
}

int flm_avro_zout_write(struct flm_avro_zout *z, const void *p, size_t n, struct flm_buf *out)
{
    z->z.next_in = (Bytef *)(uintptr_t)p;
    z->z.avail_in = (uInt)n;
    if (n > UINT32_MAX)
        return FLM_EFULL;
    for (;;) {
        size_t room = deflateBound(&z->z, z->z.avail_in) + 64;
        int rc = flm_buf_reserve(out, room);
        if (rc != FLM_OK)
            return rc;
        z->z.next_out = out->p + out->len;
        z->z.avail_out = (uInt)(out->cap - out->len > UINT32_MAX ? UINT32_MAX
                                                                  : out->cap - out->len);
        uInt before = z->z.avail_out;
        int zr = deflate(&z->z, Z_SYNC_FLUSH);
        out->len += before - z->z.avail_out;
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            return FLM_ERR;
        if (z->z.avail_in == 0 && z->z.avail_out > 0)
            return FLM_OK;
    }
}

int flm_avro_zin_init(struct flm_avro_zin *z)
{
    memset(z, 0, sizeof(*z));
    if (inflateInit(&z->z) != Z_OK)
        return FLM_ENOMEM;
    z->ready = true;
    return FLM_OK;
}

void flm_avro_zin_end(struct flm_avro_zin *z)
{
    if (z->ready)
        inflateEnd(&z->z);
    z->ready = false;
}

int flm_avro_zin_step(struct flm_avro_zin *z, const uint8_t **in, size_t *inlen, uint8_t *out,
                      size_t cap, size_t *produced, char *why, size_t whycap)
{
    z->z.next_in = (Bytef *)(uintptr_t)*in;
    z->z.avail_in = (uInt)(*inlen > UINT32_MAX ? UINT32_MAX : *inlen);
    z->z.next_out = out;
    z->z.avail_out = (uInt)(cap > UINT32_MAX ? UINT32_MAX : cap);
    uInt in0 = z->z.avail_in, out0 = z->z.avail_out;
    int zr = inflate(&z->z, Z_SYNC_FLUSH);
    size_t ate = in0 - z->z.avail_in;
    *in += ate;
    *inlen -= ate;
    *produced = out0 - z->z.avail_out;
    if (zr == Z_OK || zr == Z_BUF_ERROR)
        return FLM_OK;
    if (zr == Z_STREAM_END) {
        /* The peer closed its stream; anything after it is not ours. */
        *inlen = 0;
        return FLM_OK;
    }
    snprintf(why, whycap, "bad deflate stream (%s)", z->z.msg ? z->z.msg : "zlib error");
    return FLM_ECORRUPT;
}
