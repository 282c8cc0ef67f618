/*
 * fuzz_thrift_decode.c - libFuzzer target for the Thrift codec
 * (src/rpc/thrift_proto.c), fed the way the thrift source feeds it: input
 * byte 0 picks the protocol (bit 0: binary) and whether the rest is read as
 * a framed byte stream (bit 1) or as one frame payload; bit 2 also decodes
 * it as a reply (the thrift sink's side).  Every call that decodes is
 * re-encoded and decoded again, and both decodings must carry the same
 * events; any mismatch aborts.  Seeds: tests/fuzz/corpus/thrift_decode/.
 */
#include "core/buf.h"
#include "core/err.h"
#include "rpc/thrift_proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x)                                                                \
    do {                                                                        \
        if (!(x))                                                               \
            abort();                                                            \
    } while (0)

static void same_event(const struct flm_event *a, const struct flm_event *b)
{
    CHECK(a->body_len == b->body_len);
    CHECK(memcmp(a->body, b->body, a->body_len) == 0);
    CHECK(a->nhdr == b->nhdr);
    for (uint32_t i = 0; i < a->nhdr; i++) {
        CHECK(a->hdr[i].klen == b->hdr[i].klen && a->hdr[i].vlen == b->hdr[i].vlen);
        CHECK(memcmp(a->hdr[i].key, b->hdr[i].key, a->hdr[i].klen) == 0);
        CHECK(memcmp(a->hdr[i].val, b->hdr[i].val, a->hdr[i].vlen) == 0);
    }
}

static void one_payload(int pr, const uint8_t *p, size_t n, int also_reply)
{
    struct flm_thrift_call c;
    char why[256];
    int rc = flm_thrift_decode_call(pr, p, n, &c, why, sizeof(why));
    CHECK(rc == FLM_OK || rc == FLM_ECORRUPT || rc == FLM_ENOMEM);
    if (rc != FLM_OK) {
        CHECK(c.evs == NULL && c.nevs == 0);
        CHECK(why[0] != '\0');
    } else {
        CHECK(c.method == FLM_THRIFT_M_APPEND || c.method == FLM_THRIFT_M_APPEND_BATCH);
        CHECK(c.method != FLM_THRIFT_M_APPEND || c.nevs == 1);
        struct flm_buf b;
        flm_buf_init(&b, (size_t)1 << 30);
        CHECK(flm_thrift_encode_call(pr, c.method, c.seqid, c.evs, c.nevs, &b) == FLM_OK);
        size_t flen;
        CHECK(flm_thrift_frame_len(b.p, b.len, (size_t)1 << 30, &flen, NULL, 0) == FLM_OK);
        CHECK(flen + 4 == b.len);
        struct flm_thrift_call d;
        CHECK(flm_thrift_decode_call(pr, b.p + 4, flen, &d, why, sizeof(why)) == FLM_OK);
        CHECK(d.method == c.method && d.seqid == c.seqid && d.nevs == c.nevs);
        for (size_t i = 0; i < c.nevs; i++)
            same_event(c.evs[i], d.evs[i]);
        flm_thrift_call_clear(&d);
        /* the reply to it decodes too */
        b.len = 0;
        CHECK(flm_thrift_encode_reply(pr, c.name, c.name_len, c.seqid, FLM_THRIFT_OK, &b) ==
              FLM_OK);
        struct flm_thrift_reply r;
        CHECK(flm_thrift_decode_reply(pr, b.p + 4, b.len - 4, &r, why, sizeof(why)) == FLM_OK);
        CHECK(r.seqid == c.seqid && r.status == FLM_THRIFT_OK);
        flm_buf_free(&b);
    }
    flm_thrift_call_clear(&c);
    if (also_reply) {
        struct flm_thrift_reply r;
        rc = flm_thrift_decode_reply(pr, p, n, &r, why, sizeof(why));
        CHECK(rc == FLM_OK || rc == FLM_ECORRUPT);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int pr = (data[0] & 1) ? FLM_THRIFT_BINARY : FLM_THRIFT_COMPACT;
    int stream = data[0] & 2;
    int reply = data[0] & 4;
    data++;
    size--;
    if (!stream) {
        /* exact-size copy so ASan sees any over-read */
        uint8_t *p = malloc(size ? size : 1);
        CHECK(p != NULL);
        memcpy(p, data, size);
        one_payload(pr, p, size, reply);
        free(p);
        return 0;
    }
    size_t off = 0;
    for (;;) {
        size_t flen;
        char why[160];
        int rc = flm_thrift_frame_len(data + off, size - off, 1u << 20, &flen, why, sizeof(why));
        if (rc != FLM_OK)
            break;
        if (size - off - 4 < flen)
            break;
        uint8_t *p = malloc(flen);
        CHECK(p != NULL);
        memcpy(p, data + off + 4, flen);
        one_payload(pr, p, flen, reply);
        free(p);
        off += 4 + flen;
    }
    return 0;
}
