/*
 * fuzz_avro_server.c - libFuzzer target for the avro source's input path
 * (src/rpc/avro_codec.c): the Netty framer (gated until a handshake, with a
 * small frame cap), the server handshake and call decoder, and the reply
 * encoder, as src/sources/avro_source.c chains them.  Input: byte 0 picks the
 * read size (1..64) and whether the stream is deflated (bit 7); the rest is
 * what a client sends.  Every reply must itself decode as a response frame.
 * Runs in one thread; memory stays bounded by the caps.
 */
#include "rpc/avro_codec.h"

#include "core/err.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(x)                                                                \
    do {                                                                        \
        if (!(x))                                                               \
            abort();                                                            \
    } while (0)

/* Feeds plain bytes; returns false once the connection would be closed. */
static bool feed(struct flm_avro_framer *f, struct flm_avro_server *srv, bool *est,
                 const uint8_t *p, size_t n)
{
    char why[160];
    while (n > 0) {
        size_t used = 0;
        int rc = flm_avro_framer_feed(f, p, n, &used, why, sizeof(why));
        CHECK(used <= n);
        p += used;
        n -= used;
        if (rc == FLM_EAGAIN)
            return true;
        if (rc != FLM_OK)
            return false;
        CHECK(f->msg.len <= f->max);
        struct flm_avro_request req;
        bool was = *est;
        int drc = flm_avro_server_decode(srv, f->msg.p, f->msg.len, est, &req);
        CHECK(!was || *est);
        if (drc == FLM_OK && req.msg >= FLM_AVRO_MSG_APPEND)
            CHECK(req.evs != NULL || req.nevs == 0);
        struct flm_buf out;
        flm_buf_init(&out, 1 << 20);
        const char *err = drc != FLM_OK || req.hs_error || req.msg < 0 ? req.why : NULL;
        bool hs_ok = drc == FLM_OK || req.has_hs;
        if (hs_ok && flm_avro_server_reply(&out, f->serial, &req, FLM_AVRO_OK, err) == FLM_OK) {
            /* The reply must be one well-formed frame with our serial. */
            struct flm_avro_framer rf;
            size_t ru;
            flm_avro_framer_init(&rf, 1 << 20);
            CHECK(flm_avro_framer_feed(&rf, out.p, out.len, &ru, why, sizeof(why)) == FLM_OK);
            CHECK(ru == out.len && rf.serial == f->serial);
            if (!req.hs_error && req.msg != FLM_AVRO_MSG_PING) {
                struct flm_avro_rd r;
                struct flm_avro_hsresp hs;
                bool has;
                int st;
                char et[64];
                flm_avro_rd_init(&r, rf.msg.p, rf.msg.len);
                CHECK(flm_avro_get_response(&r, req.has_hs, &hs, &has, &st, et, sizeof(et)) ==
                      FLM_OK);
            }
            flm_avro_framer_free(&rf);
        }
        flm_buf_free(&out);
        bool fatal = drc != FLM_OK || req.hs_error || req.msg < 0;
        flm_avro_request_clear(&req);
        flm_avro_framer_next(f);
        flm_avro_framer_gate(f, !*est, 4096);
        if (fatal)
            return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)(data[0] & 0x3f) + 1;
    bool deflate = (data[0] & 0x80) != 0;
    data++;
    size--;
    struct flm_avro_framer f;
    struct flm_avro_server srv;
    memset(&srv, 0, sizeof(srv));
    bool est = false;
    flm_avro_framer_init(&f, 1 << 16);
    flm_avro_framer_gate(&f, true, 4096);
    struct flm_avro_zin z;
    uint8_t zb[512];
    char why[160];
    if (deflate)
        CHECK(flm_avro_zin_init(&z) == FLM_OK);
    for (size_t off = 0; off < size;) {
        size_t k = step < size - off ? step : size - off;
        const uint8_t *p = data + off;
        off += k;
        bool ok = true;
        if (!deflate) {
            ok = feed(&f, &srv, &est, p, k);
        } else {
            while (k > 0 && ok) {
                size_t got = 0, before = k;
                if (flm_avro_zin_step(&z, &p, &k, zb, sizeof(zb), &got, why, sizeof(why)) !=
                    FLM_OK) {
                    ok = false;
                    break;
                }
                if (got > 0)
                    ok = feed(&f, &srv, &est, zb, got);
                else if (k == before)
                    break;
            }
        }
        if (!ok)
            break;
    }
    if (deflate)
        flm_avro_zin_end(&z);
    flm_avro_framer_free(&f);
    return 0;
}
