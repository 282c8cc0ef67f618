/*
 * thrift_proto.c - codec for Flume's Thrift service (spec/wire.md (f)):
 * framed transport, compact and binary protocols, the append/appendBatch
 * calls, Status replies and TApplicationException replies.
 *
 * Owns nothing beyond the call it decodes (its events array).  Pure: no I/O,
 * no globals; callable from any thread (the thrift source's loop thread, the
 * thrift sink's runner thread, the unit tests and the fuzzer).
 *
 * Internally every wire type is named by its binary-protocol TType number;
 * the compact reader/writer translate at the edges.
 */
#include "rpc/thrift_proto.h"

#include "core/err.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* TType numbers (binary protocol). */
enum {
    T_STOP = 0, T_BOOL = 2, T_BYTE = 3, T_DOUBLE = 4, T_I16 = 6, T_I32 = 8, T_I64 = 10,
    T_STRING = 11, T_STRUCT = 12, T_MAP = 13, T_SET = 14, T_LIST = 15, T_UUID = 16
};

/* compact type nibble -> TType (-1: invalid) */
static const int c2t[16] = {T_STOP, T_BOOL, T_BOOL, T_BYTE, T_I16, T_I32, T_I64, T_DOUBLE,
                            T_STRING, T_LIST, T_SET, T_MAP, T_STRUCT, T_UUID, -1, -1};

static int t2c(int t)
{
    switch (t) {
    case T_BOOL: return 1;
    case T_BYTE: return 3;
    case T_I16: return 4;
    case T_I32: return 5;
    case T_I64: return 6;
    case T_DOUBLE: return 7;
    case T_STRING: return 8;
    case T_LIST: return 9;
    case T_SET: return 10;
    case T_MAP: return 11;
    case T_STRUCT: return 12;
    default: return 0;
    }
}

const char *flm_thrift_status_name(int status)
{
    switch (status) {
    case FLM_THRIFT_OK: return "OK";
    case FLM_THRIFT_FAILED: return "FAILED";
    case FLM_THRIFT_ERROR: return "ERROR";
    case FLM_THRIFT_UNKNOWN: return "UNKNOWN";
    default: return "invalid";
    }
}

int flm_thrift_frame_len(const uint8_t *p, size_t n, size_t max, size_t *len, char *why,
                         size_t whycap)
{
    if (n < 4)
        return FLM_EAGAIN;
    uint32_t v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    if (v == 0 || v > 0x7fffffffu || v > max) {
        if (why != NULL && whycap > 0) {
            if (v > 0x7fffffffu)
                snprintf(why, whycap, "invalid frame length %d (bytes %02x %02x %02x %02x: "
                         "not a framed Thrift client?)", (int32_t)v, p[0], p[1], p[2], p[3]);
            else if (v == 0)
                snprintf(why, whycap, "empty frame");
            else
                snprintf(why, whycap, "frame of %u bytes exceeds the limit of %zu bytes", v,
                         max);
        }
        return FLM_ECORRUPT;
    }
    *len = v;
    return FLM_OK;
}

/* ================================================================ reader */

struct rd {
    const uint8_t *p, *end;
    int pr;
    char *why;
    size_t whycap;
};

__attribute__((format(printf, 2, 3))) static int fail(struct rd *r, const char *fmt, ...)
{
    if (r->why != NULL && r->whycap > 0 && r->why[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->why, r->whycap, fmt, ap);
        va_end(ap);
    }
    return FLM_ECORRUPT;
}

/* fail() with a result the compiler can see is an error. */
#define FAIL(...) (fail(__VA_ARGS__), FLM_ECORRUPT)

static size_t left(const struct rd *r)
{
    return (size_t)(r->end - r->p);
}

static int rd_u8(struct rd *r, uint8_t *v)
{
    if (r->p >= r->end)
        return FAIL(r, "truncated message");
    *v = *r->p++;
    return FLM_OK;
}

static int rd_be32(struct rd *r, uint32_t *v)
{
    if (left(r) < 4)
        return FAIL(r, "truncated message");
    *v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
    r->p += 4;
    return FLM_OK;
}

static int rd_varint(struct rd *r, uint64_t *v, int maxbytes)
{
    uint64_t x = 0;
    for (int i = 0; i < maxbytes; i++) {
        uint8_t b;
        if (rd_u8(r, &b) != FLM_OK)
            return FLM_ECORRUPT;
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) {
            *v = x;
            return FLM_OK;
        }
    }
    return FAIL(r, "varint longer than %d bytes", maxbytes);
}

static int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static int rd_i32(struct rd *r, int32_t *v)
{
    if (r->pr == FLM_THRIFT_BINARY) {
        uint32_t u;
        if (rd_be32(r, &u) != FLM_OK)
            return FLM_ECORRUPT;
        *v = (int32_t)u;
        return FLM_OK;
    }
    uint64_t u;
    if (rd_varint(r, &u, 5) != FLM_OK)
        return FLM_ECORRUPT;
    *v = (int32_t)unzigzag(u & 0xffffffffu);
    return FLM_OK;
}

/* A string/binary: *s points into the input. */
static int rd_binary(struct rd *r, const uint8_t **s, size_t *len)
{
    size_t n;
    if (r->pr == FLM_THRIFT_BINARY) {
        uint32_t u;
        if (rd_be32(r, &u) != FLM_OK)
            return FLM_ECORRUPT;
        if (u > 0x7fffffffu)
            return FAIL(r, "negative string length %d", (int32_t)u);
        n = u;
    } else {
        uint64_t u;
        if (rd_varint(r, &u, 5) != FLM_OK)
            return FLM_ECORRUPT;
        if (u > 0x7fffffffu)
            return FAIL(r, "string length %llu out of range", (unsigned long long)u);
        n = (size_t)u;
    }
    if (n > left(r))
        return FAIL(r, "string of %zu bytes but only %zu left in the frame", n, left(r));
    *s = r->p;
    *len = n;
    r->p += n;
    return FLM_OK;
}

/* Field header; *type = T_STOP at the end of a struct.  *last is the
 * previous field id of this struct (compact deltas). */
static int rd_field(struct rd *r, int16_t *last, int *type, int16_t *fid)
{
    uint8_t b;
    if (rd_u8(r, &b) != FLM_OK)
        return FLM_ECORRUPT;
    if (r->pr == FLM_THRIFT_BINARY) {
        *type = b;
        if (b == T_STOP)
            return FLM_OK;
        if (left(r) < 2)
            return FAIL(r, "truncated message");
        *fid = (int16_t)((uint16_t)r->p[0] << 8 | r->p[1]);
        r->p += 2;
        return FLM_OK;
    }
    if (b == 0) {
        *type = T_STOP;
        return FLM_OK;
    }
    int t = c2t[b & 0x0f];
    if (t < 0 || t == T_STOP)
        return FAIL(r, "invalid compact field type %u", b & 0x0f);
    unsigned delta = b >> 4;
    if (delta != 0) {
        *fid = (int16_t)(*last + (int)delta);
    } else {
        uint64_t u;
        if (rd_varint(r, &u, 3) != FLM_OK)
            return FLM_ECORRUPT;
        *fid = (int16_t)unzigzag(u & 0xffff);
    }
    *last = *fid;
    *type = t;
    return FLM_OK;
}

/* Element type byte of a container in the compact protocol. */
static int ctype_elem(struct rd *r, unsigned nib, int *t)
{
    int x = c2t[nib & 0x0f];
    if (x <= 0)
        return FAIL(r, "invalid compact element type %u", nib & 0x0f);
    *t = x;
    return FLM_OK;
}

/* List or set header.  The size is bounded by the bytes left (every element
 * takes at least one byte), so callers may allocate size slots. */
static int rd_list(struct rd *r, int *etype, size_t *size)
{
    uint64_t n;
    if (r->pr == FLM_THRIFT_BINARY) {
        uint8_t t;
        uint32_t u;
        if (rd_u8(r, &t) != FLM_OK || rd_be32(r, &u) != FLM_OK)
            return FLM_ECORRUPT;
        if (u > 0x7fffffffu)
            return FAIL(r, "negative list size %d", (int32_t)u);
        *etype = t;
        n = u;
    } else {
        uint8_t b;
        if (rd_u8(r, &b) != FLM_OK || ctype_elem(r, b, etype) != FLM_OK)
            return FLM_ECORRUPT;
        n = b >> 4;
        if (n == 15 && rd_varint(r, &n, 5) != FLM_OK)
            return FLM_ECORRUPT;
    }
    if (n > left(r))
        return FAIL(r, "list of %llu elements cannot fit in the %zu bytes left",
                    (unsigned long long)n, left(r));
    *size = (size_t)n;
    return FLM_OK;
}

static int rd_map(struct rd *r, int *kt, int *vt, size_t *size)
{
    uint64_t n;
    if (r->pr == FLM_THRIFT_BINARY) {
        uint8_t k, v;
        uint32_t u;
        if (rd_u8(r, &k) != FLM_OK || rd_u8(r, &v) != FLM_OK || rd_be32(r, &u) != FLM_OK)
            return FLM_ECORRUPT;
        if (u > 0x7fffffffu)
            return FAIL(r, "negative map size %d", (int32_t)u);
        *kt = k;
        *vt = v;
        n = u;
    } else {
        if (rd_varint(r, &n, 5) != FLM_OK)
            return FLM_ECORRUPT;
        if (n == 0) {
            *kt = *vt = T_STRING;
            *size = 0;
            return FLM_OK;
        }
        uint8_t b;
        if (rd_u8(r, &b) != FLM_OK || ctype_elem(r, b >> 4, kt) != FLM_OK ||
            ctype_elem(r, b & 0x0f, vt) != FLM_OK)
            return FLM_ECORRUPT;
    }
    if (n > left(r) / 2)
        return FAIL(r, "map of %llu entries cannot fit in the %zu bytes left",
                    (unsigned long long)n, left(r));
    *size = (size_t)n;
    return FLM_OK;
}

/* Skips a value of TType t (as a struct field when field is true: a compact
 * bool field has no value byte). */
static int skip(struct rd *r, int t, int depth, bool field)
{
    if (depth > FLM_THRIFT_MAX_DEPTH)
        return FAIL(r, "nesting deeper than %d", FLM_THRIFT_MAX_DEPTH);
    uint64_t u;
    size_t n, fixed = 0;
    switch (t) {
    case T_BOOL:
        if (r->pr == FLM_THRIFT_COMPACT && field)
            return FLM_OK;
        fixed = 1;
        break;
    case T_BYTE: fixed = 1; break;
    case T_DOUBLE: fixed = 8; break;
    case T_UUID: fixed = 16; break;
    case T_I16: fixed = 2; break;
    case T_I32: fixed = 4; break;
    case T_I64: fixed = 8; break;
    case T_STRING: {
        const uint8_t *s;
        return rd_binary(r, &s, &n);
    }
    case T_STRUCT: {
        int16_t last = 0, fid = 0;
        for (;;) {
            int ft;
            if (rd_field(r, &last, &ft, &fid) != FLM_OK)
                return FLM_ECORRUPT;
            if (ft == T_STOP)
                return FLM_OK;
            if (skip(r, ft, depth + 1, true) != FLM_OK)
                return FLM_ECORRUPT;
        }
    }
    case T_LIST:
    case T_SET: {
        int et;
        if (rd_list(r, &et, &n) != FLM_OK)
            return FLM_ECORRUPT;
        for (size_t i = 0; i < n; i++)
            if (skip(r, et, depth + 1, false) != FLM_OK)
                return FLM_ECORRUPT;
        return FLM_OK;
    }
    case T_MAP: {
        int kt, vt;
        if (rd_map(r, &kt, &vt, &n) != FLM_OK)
            return FLM_ECORRUPT;
        for (size_t i = 0; i < n; i++)
            if (skip(r, kt, depth + 1, false) != FLM_OK || skip(r, vt, depth + 1, false) != FLM_OK)
                return FLM_ECORRUPT;
        return FLM_OK;
    }
    default:
        return FAIL(r, "unknown field type %d", t);
    }
    /* fixed-size scalars: compact integers are varints */
    if (r->pr == FLM_THRIFT_COMPACT && (t == T_I16 || t == T_I32 || t == T_I64))
        return rd_varint(r, &u, t == T_I16 ? 3 : t == T_I32 ? 5 : 10);
    if (left(r) < fixed)
        return FAIL(r, "truncated message");
    r->p += fixed;
    return FLM_OK;
}

/* Message header: name (pointer into the input), type and seqid. */
static int rd_msg(struct rd *r, const uint8_t **name, size_t *nlen, int *type, int32_t *seqid)
{
    if (r->pr == FLM_THRIFT_BINARY) {
        uint32_t v;
        if (rd_be32(r, &v) != FLM_OK)
            return FLM_ECORRUPT;
        if (v & 0x80000000u) {
            if ((v & 0xffff0000u) != 0x80010000u)
                return FAIL(r, "bad binary protocol version 0x%08x", v);
            *type = (int)(v & 0xff);
            if (rd_binary(r, name, nlen) != FLM_OK)
                return FLM_ECORRUPT;
        } else {
            /* old non-strict header: name, type byte, seqid */
            if (v > left(r))
                return FAIL(r, "method name of %u bytes but only %zu left", v, left(r));
            *name = r->p;
            *nlen = v;
            r->p += v;
            uint8_t t;
            if (rd_u8(r, &t) != FLM_OK)
                return FLM_ECORRUPT;
            *type = t;
        }
        return rd_i32(r, seqid);
    }
    uint8_t id, vt;
    if (rd_u8(r, &id) != FLM_OK)
        return FLM_ECORRUPT;
    if (id != 0x82)
        return FAIL(r, "bad compact protocol id 0x%02x (expected 0x82; is the client using the "
                    "%s protocol?)", id, id == 0x80 ? "binary" : "same");
    if (rd_u8(r, &vt) != FLM_OK)
        return FLM_ECORRUPT;
    if ((vt & 0x1f) != 1)
        return FAIL(r, "unsupported compact protocol version %u", vt & 0x1f);
    *type = (vt >> 5) & 0x07;
    uint64_t s;
    if (rd_varint(r, &s, 5) != FLM_OK)
        return FLM_ECORRUPT;
    *seqid = (int32_t)(uint32_t)s;
    return rd_binary(r, name, nlen);
}

/* ============================================================ call decode */

struct hdrs {
    struct flm_hdr *v;
    size_t n, cap;
};

/* One ThriftFlumeEvent struct -> a new event in *out. */
static int rd_event(struct rd *r, struct hdrs *h, struct flm_event **out)
{
    int16_t last = 0, fid = 0;
    bool have_hdrs = false, have_body = false;
    const uint8_t *body = NULL;
    size_t blen = 0;
    h->n = 0;
    for (;;) {
        int t;
        if (rd_field(r, &last, &t, &fid) != FLM_OK)
            return FLM_ECORRUPT;
        if (t == T_STOP)
            break;
        if (fid == 1 && t == T_MAP) {
            int kt, vt;
            size_t n;
            if (rd_map(r, &kt, &vt, &n) != FLM_OK)
                return FLM_ECORRUPT;
            if (n > 0 && (kt != T_STRING || vt != T_STRING))
                return FAIL(r, "event headers are not a map<string,string>");
            if (n > FLM_THRIFT_MAX_HEADERS)
                return FAIL(r, "event with %zu headers (limit %u)", n, FLM_THRIFT_MAX_HEADERS);
            if (n > h->cap) {
                struct flm_hdr *nv = realloc(h->v, n * sizeof(*nv));
                if (nv == NULL)
                    return FLM_ENOMEM;
                h->v = nv;
                h->cap = n;
            }
            for (size_t i = 0; i < n; i++) {
                const uint8_t *k, *v;
                size_t kl, vl;
                if (rd_binary(r, &k, &kl) != FLM_OK || rd_binary(r, &v, &vl) != FLM_OK)
                    return FLM_ECORRUPT;
                h->v[i].key = (const char *)k;
                h->v[i].klen = (uint32_t)kl;
                h->v[i].val = (const char *)v;
                h->v[i].vlen = (uint32_t)vl;
            }
            h->n = n;
            have_hdrs = true;
        } else if (fid == 2 && t == T_STRING) {
            if (rd_binary(r, &body, &blen) != FLM_OK)
                return FLM_ECORRUPT;
            have_body = true;
        } else if (skip(r, t, 1, true) != FLM_OK) {
            return FLM_ECORRUPT;
        }
    }
    if (!have_hdrs)
        return FAIL(r, "event without the required field 'headers'");
    if (!have_body)
        return FAIL(r, "event without the required field 'body'");
    /* header strings are not NUL-terminated in the frame; flm_event_new
     * copies them by length */
    *out = flm_event_new(body, blen, h->v, h->n);
    return *out ? FLM_OK : FLM_ENOMEM;
}

void flm_thrift_call_clear(struct flm_thrift_call *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nevs; i++)
        flm_event_free(c->evs[i]);
    free(c->evs);
    c->evs = NULL;
    c->nevs = 0;
}

static int push_event(struct flm_thrift_call *c, size_t *cap, struct flm_event *ev)
{
    if (c->nevs == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        struct flm_event **nv = realloc(c->evs, nc * sizeof(*nv));
        if (nv == NULL)
            return FLM_ENOMEM;
        c->evs = nv;
        *cap = nc;
    }
    c->evs[c->nevs++] = ev;
    return FLM_OK;
}

int flm_thrift_decode_call(enum flm_thrift_protocol pr, const uint8_t *p, size_t n,
                           struct flm_thrift_call *out, char *why, size_t whycap)
{
    struct rd r = {p, p + n, pr, why, whycap};
    if (why != NULL && whycap > 0)
        why[0] = '\0';
    memset(out, 0, sizeof(*out));

    const uint8_t *name;
    size_t nlen;
    int type;
    int32_t seqid;
    if (rd_msg(&r, &name, &nlen, &type, &seqid) != FLM_OK)
        return FLM_ECORRUPT;
    out->seqid = seqid;
    out->msgtype = type;
    out->name_len = nlen < FLM_THRIFT_NAME_MAX ? nlen : FLM_THRIFT_NAME_MAX - 1;
    memcpy(out->name, name, out->name_len);
    out->name[out->name_len] = '\0';
    for (size_t i = 0; i < out->name_len; i++)
        if (out->name[i] < 0x20 || out->name[i] > 0x7e)
            out->name[i] = '?';   /* the name ends up in log lines */
    out->header_ok = 1;
    if (nlen == 6 && memcmp(name, "append", 6) == 0)
        out->method = FLM_THRIFT_M_APPEND;
    else if (nlen == 11 && memcmp(name, "appendBatch", 11) == 0)
        out->method = FLM_THRIFT_M_APPEND_BATCH;
    if (type != FLM_THRIFT_CALL && type != FLM_THRIFT_ONEWAY)
        return FAIL(&r, "message type %d is not a call", type);
    if (out->method == FLM_THRIFT_M_UNKNOWN)
        return FAIL(&r, "unknown method '%s'", out->name);

    struct hdrs h = {NULL, 0, 0};
    size_t cap = 0;
    int rc = FLM_OK;
    bool have_arg = false;
    int16_t last = 0, fid = 0;
    for (;;) {
        int t;
        if ((rc = rd_field(&r, &last, &t, &fid)) != FLM_OK)
            break;
        if (t == T_STOP)
            break;
        if (fid == 1 && out->method == FLM_THRIFT_M_APPEND && t == T_STRUCT && !have_arg) {
            struct flm_event *ev;
            if ((rc = rd_event(&r, &h, &ev)) != FLM_OK)
                break;
            if ((rc = push_event(out, &cap, ev)) != FLM_OK) {
                flm_event_free(ev);
                break;
            }
            have_arg = true;
        } else if (fid == 1 && out->method == FLM_THRIFT_M_APPEND_BATCH && t == T_LIST &&
                   !have_arg) {
            int et;
            size_t cnt;
            if ((rc = rd_list(&r, &et, &cnt)) != FLM_OK)
                break;
            if (cnt > 0 && et != T_STRUCT) {
                rc = FAIL(&r, "appendBatch events are not a list of structs");
                break;
            }
            for (size_t i = 0; i < cnt && rc == FLM_OK; i++) {
                struct flm_event *ev;
                if ((rc = rd_event(&r, &h, &ev)) != FLM_OK)
                    break;
                if ((rc = push_event(out, &cap, ev)) != FLM_OK)
                    flm_event_free(ev);
            }
            if (rc != FLM_OK)
                break;
            have_arg = true;
        } else if ((rc = skip(&r, t, 1, true)) != FLM_OK) {
            break;
        }
    }
    free(h.v);
    if (rc == FLM_OK && !have_arg)
        rc = FAIL(&r, "%s call without its argument", out->name);
    if (rc == FLM_OK && left(&r) > 0)
        rc = FAIL(&r, "%zu unexpected bytes after the %s call", left(&r), out->name);
    if (rc != FLM_OK) {
        flm_thrift_call_clear(out);
        if (rc == FLM_ENOMEM)
            (void)fail(&r, "out of memory");
        return rc == FLM_ENOMEM ? FLM_ENOMEM : FLM_ECORRUPT;
    }
    return FLM_OK;
}

/* =============================================================== writer */

struct wr {
    struct flm_buf *b;
    int pr;
    int rc;
};

static void w_bytes(struct wr *w, const void *p, size_t n)
{
    if (w->rc == FLM_OK)
        w->rc = flm_buf_append(w->b, p, n);
}

static void w_u8(struct wr *w, uint8_t v)
{
    w_bytes(w, &v, 1);
}

static void w_be32(struct wr *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    w_bytes(w, b, 4);
}

static void w_varint(struct wr *w, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    w_bytes(w, b, n);
}

static void w_i32(struct wr *w, int32_t v)
{
    if (w->pr == FLM_THRIFT_BINARY)
        w_be32(w, (uint32_t)v);
    else
        w_varint(w, ((uint32_t)v << 1) ^ (uint32_t)(v >> 31));
}

static void w_binary(struct wr *w, const void *p, size_t n)
{
    if (n > 0x7fffffffu) {
        if (w->rc == FLM_OK)
            w->rc = FLM_EFULL;
        return;
    }
    if (w->pr == FLM_THRIFT_BINARY)
        w_be32(w, (uint32_t)n);
    else
        w_varint(w, n);
    w_bytes(w, p, n);
}

static void w_field(struct wr *w, int t, int16_t fid, int16_t *last)
{
    if (w->pr == FLM_THRIFT_BINARY) {
        uint8_t b[3] = {(uint8_t)t, (uint8_t)((uint16_t)fid >> 8), (uint8_t)fid};
        w_bytes(w, b, 3);
        return;
    }
    int ct = t2c(t);
    if (fid > *last && fid - *last <= 15) {
        w_u8(w, (uint8_t)((fid - *last) << 4 | ct));
    } else {
        w_u8(w, (uint8_t)ct);
        w_varint(w, (uint16_t)((uint16_t)fid << 1 ^ (uint16_t)(fid >> 15)));
    }
    *last = fid;
}

static void w_stop(struct wr *w)
{
    w_u8(w, 0);
}

static void w_map(struct wr *w, int kt, int vt, size_t n)
{
    if (w->pr == FLM_THRIFT_BINARY) {
        w_u8(w, (uint8_t)kt);
        w_u8(w, (uint8_t)vt);
        w_be32(w, (uint32_t)n);
        return;
    }
    w_varint(w, n);
    if (n > 0)
        w_u8(w, (uint8_t)(t2c(kt) << 4 | t2c(vt)));
}

static void w_list(struct wr *w, int et, size_t n)
{
    if (w->pr == FLM_THRIFT_BINARY) {
        w_u8(w, (uint8_t)et);
        w_be32(w, (uint32_t)n);
        return;
    }
    if (n < 15) {
        w_u8(w, (uint8_t)(n << 4 | (size_t)t2c(et)));
    } else {
        w_u8(w, (uint8_t)(0xf0 | t2c(et)));
        w_varint(w, n);
    }
}

static void w_msg(struct wr *w, const char *name, size_t nlen, int type, int32_t seqid)
{
    if (w->pr == FLM_THRIFT_BINARY) {
        w_be32(w, 0x80010000u | (uint32_t)type);
        w_binary(w, name, nlen);
        w_be32(w, (uint32_t)seqid);
        return;
    }
    w_u8(w, 0x82);
    w_u8(w, (uint8_t)(type << 5 | 1));
    w_varint(w, (uint32_t)seqid);
    w_binary(w, name, nlen);
}

/* Starts a frame: reserves the length prefix; returns its offset. */
static size_t frame_begin(struct wr *w)
{
    size_t at = w->b->len;
    w_be32(w, 0);
    return at;
}

/* Patches the prefix; on any error restores the buffer's length. */
static int frame_end(struct wr *w, size_t at)
{
    if (w->rc == FLM_OK) {
        size_t n = w->b->len - at - 4;
        if (n > 0x7fffffffu) {
            w->rc = FLM_EFULL;
        } else {
            uint8_t *q = w->b->p + at;
            q[0] = (uint8_t)(n >> 24);
            q[1] = (uint8_t)(n >> 16);
            q[2] = (uint8_t)(n >> 8);
            q[3] = (uint8_t)n;
        }
    }
    if (w->rc != FLM_OK && w->b->len > at)
        w->b->len = at;
    return w->rc;
}

int flm_thrift_encode_reply(enum flm_thrift_protocol pr, const char *name, size_t name_len,
                            int32_t seqid, int status, struct flm_buf *out)
{
    struct wr w = {out, pr, FLM_OK};
    size_t at = frame_begin(&w);
    w_msg(&w, name, name_len, FLM_THRIFT_REPLY, seqid);
    int16_t last = 0;
    w_field(&w, T_I32, 0, &last);
    w_i32(&w, status);
    w_stop(&w);
    return frame_end(&w, at);
}

int flm_thrift_encode_exception(enum flm_thrift_protocol pr, const char *name,
                                size_t name_len, int32_t seqid, int type, const char *msg,
                                struct flm_buf *out)
{
    struct wr w = {out, pr, FLM_OK};
    size_t at = frame_begin(&w);
    w_msg(&w, name, name_len, FLM_THRIFT_EXCEPTION, seqid);
    int16_t last = 0;
    w_field(&w, T_STRING, 1, &last);
    w_binary(&w, msg, strlen(msg));
    w_field(&w, T_I32, 2, &last);
    w_i32(&w, type);
    w_stop(&w);
    return frame_end(&w, at);
}

static void w_event(struct wr *w, const struct flm_event *ev)
{
    int16_t last = 0;
    w_field(w, T_MAP, 1, &last);
    w_map(w, T_STRING, T_STRING, ev->nhdr);
    for (uint32_t i = 0; i < ev->nhdr; i++) {
        w_binary(w, ev->hdr[i].key, ev->hdr[i].klen);
        w_binary(w, ev->hdr[i].val, ev->hdr[i].vlen);
    }
    w_field(w, T_STRING, 2, &last);
    w_binary(w, ev->body, ev->body_len);
    w_stop(w);
}

int flm_thrift_encode_call(enum flm_thrift_protocol pr, enum flm_thrift_method m,
                           int32_t seqid, struct flm_event *const *evs, size_t n,
                           struct flm_buf *out)
{
    if (m == FLM_THRIFT_M_APPEND && n != 1)
        return FLM_ERR;
    if (m != FLM_THRIFT_M_APPEND && m != FLM_THRIFT_M_APPEND_BATCH)
        return FLM_ERR;
    struct wr w = {out, pr, FLM_OK};
    size_t at = frame_begin(&w);
    if (m == FLM_THRIFT_M_APPEND)
        w_msg(&w, "append", 6, FLM_THRIFT_CALL, seqid);
    else
        w_msg(&w, "appendBatch", 11, FLM_THRIFT_CALL, seqid);
    int16_t last = 0;
    if (m == FLM_THRIFT_M_APPEND) {
        w_field(&w, T_STRUCT, 1, &last);
        w_event(&w, evs[0]);
    } else {
        w_field(&w, T_LIST, 1, &last);
        w_list(&w, T_STRUCT, n);
        for (size_t i = 0; i < n && w.rc == FLM_OK; i++)
            w_event(&w, evs[i]);
    }
    w_stop(&w);
    return frame_end(&w, at);
}

/* ============================================================ reply decode */

int flm_thrift_decode_reply(enum flm_thrift_protocol pr, const uint8_t *p, size_t n,
                            struct flm_thrift_reply *out, char *why, size_t whycap)
{
    struct rd r = {p, p + n, pr, why, whycap};
    if (why != NULL && whycap > 0)
        why[0] = '\0';
    memset(out, 0, sizeof(*out));
    out->status = -1;
    const uint8_t *name;
    size_t nlen;
    int type;
    if (rd_msg(&r, &name, &nlen, &type, &out->seqid) != FLM_OK)
        return FLM_ECORRUPT;
    size_t keep = nlen < FLM_THRIFT_NAME_MAX ? nlen : FLM_THRIFT_NAME_MAX - 1;
    memcpy(out->name, name, keep);
    out->name[keep] = '\0';
    out->msgtype = type;
    if (type != FLM_THRIFT_REPLY && type != FLM_THRIFT_EXCEPTION)
        return FAIL(&r, "message type %d is neither a reply nor an exception", type);
    int16_t last = 0, fid = 0;
    bool have = false;
    for (;;) {
        int t;
        if (rd_field(&r, &last, &t, &fid) != FLM_OK)
            return FLM_ECORRUPT;
        if (t == T_STOP)
            break;
        if (type == FLM_THRIFT_REPLY && fid == 0 && t == T_I32) {
            int32_t v;
            if (rd_i32(&r, &v) != FLM_OK)
                return FLM_ECORRUPT;
            out->status = v;
            have = true;
        } else if (type == FLM_THRIFT_EXCEPTION && fid == 1 && t == T_STRING) {
            const uint8_t *s;
            size_t sl;
            if (rd_binary(&r, &s, &sl) != FLM_OK)
                return FLM_ECORRUPT;
            size_t k = sl < sizeof(out->ex_msg) ? sl : sizeof(out->ex_msg) - 1;
            memcpy(out->ex_msg, s, k);
            out->ex_msg[k] = '\0';
        } else if (type == FLM_THRIFT_EXCEPTION && fid == 2 && t == T_I32) {
            int32_t v;
            if (rd_i32(&r, &v) != FLM_OK)
                return FLM_ECORRUPT;
            out->ex_type = v;
        } else if (skip(&r, t, 1, true) != FLM_OK) {
            return FLM_ECORRUPT;
        }
    }
    if (type == FLM_THRIFT_REPLY && !have)
        return FAIL(&r, "reply to %s has no result", out->name);
    if (left(&r) > 0)
        return FAIL(&r, "%zu unexpected bytes after the reply", left(&r));
    return FLM_OK;
}
