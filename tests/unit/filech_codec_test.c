/*
 * filech_codec_test.c - the file channel's pure functions (src/channels/file/
 * wal.c and replay.c): CRC32C, event and record codec round trips, that
 * every single-byte corruption is detected, torn-vs-corrupt detection, the
 * checkpoint codec, and replay from (checkpoint, log) bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "channels/file/fc.h"
#include "core/err.h"

#include <stdlib.h>
#include <string.h>

static struct flm_event *ev_make(const char *body, const char *k, const char *v)
{
    struct flm_hdr h = k ? flm_hdr_str(k, v) : (struct flm_hdr){0};
    struct flm_event *ev = flm_event_new(body, strlen(body), k ? &h : NULL, k ? 1 : 0);
    assert_non_null(ev);
    return ev;
}

/* Builds one record with the given takes and put bodies into a new buffer;
 * *evoff receives each put's offset inside the record. */
static uint8_t *rec_build(const uint32_t *takes, size_t nt, const char *const *bodies, size_t np,
                          size_t *total, uint32_t *evoff)
{
    struct flm_event *evs[16];
    size_t bytes = 0;
    for (size_t i = 0; i < np; i++) {
        evs[i] = ev_make(bodies[i], i % 2 ? "host" : NULL, "h1");
        bytes += flm_fc_event_size(evs[i]);
    }
    size_t sz = flm_fc_rec_size(nt, bytes);
    uint8_t *r = calloc(1, sz);
    assert_non_null(r);
    uint8_t *p = r + FC_REC_HDR;
    for (size_t i = 0; i < nt; i++, p += 8) {
        fc_put32(p, takes[2 * i]);
        fc_put32(p + 4, takes[2 * i + 1]);
    }
    for (size_t i = 0; i < np; i++) {
        if (evoff)
            evoff[i] = (uint32_t)(p - r);
        flm_fc_event_encode(evs[i], p);
        p += flm_fc_event_size(evs[i]);
        flm_event_free(evs[i]);
    }
    flm_fc_rec_seal(r, sz, (uint32_t)np, (uint32_t)nt, 1234, FC_REC_MAGIC);
    *total = sz;
    return r;
}

static void crc32c_matches_the_standard_check_value(void **state)
{
    (void)state;
    assert_int_equal(flm_fc_crc32c(0, "123456789", 9), 0xE3069283u);
    /* chaining equals one pass */
    uint32_t c = flm_fc_crc32c(0, "1234", 4);
    assert_int_equal(flm_fc_crc32c(c, "56789", 5), 0xE3069283u);
}

static void event_round_trips_with_headers_and_binary_body(void **state)
{
    (void)state;
    struct flm_hdr h[2] = {flm_hdr_str("a", "1"), flm_hdr_str("key2", "")};
    const uint8_t body[] = {0, 1, 2, 0xff, '\n', 0};
    struct flm_event *ev = flm_event_new(body, sizeof(body), h, 2);
    size_t n = flm_fc_event_size(ev);
    uint8_t *buf = malloc(n);
    flm_fc_event_encode(ev, buf);
    struct flm_event *out;
    assert_int_equal(flm_fc_event_decode(buf, n, &out), FLM_OK);
    assert_int_equal(out->body_len, sizeof(body));
    assert_memory_equal(out->body, body, sizeof(body));
    assert_int_equal(out->nhdr, 2);
    assert_string_equal(flm_event_header(out, "a"), "1");
    assert_string_equal(flm_event_header(out, "key2"), "");
    flm_event_free(out);
    flm_event_free(ev);
    free(buf);
}

static void every_flipped_byte_of_an_event_is_detected(void **state)
{
    (void)state;
    struct flm_event *ev = ev_make("hello world", "k", "v");
    size_t n = flm_fc_event_size(ev);
    uint8_t *buf = malloc(n);
    flm_fc_event_encode(ev, buf);
    for (size_t i = 0; i < n; i++) {
        buf[i] ^= 0x40;
        struct flm_event *out = NULL;
        assert_int_equal(flm_fc_event_decode(buf, n, &out), FLM_ECORRUPT);
        assert_null(out);
        buf[i] ^= 0x40;
    }
    assert_int_equal(flm_fc_event_check(buf, n), FLM_OK);
    assert_int_equal(flm_fc_event_check(buf, n - 1), FLM_ECORRUPT);
    flm_event_free(ev);
    free(buf);
}

static void record_round_trips_and_every_flipped_byte_is_detected(void **state)
{
    (void)state;
    const uint32_t takes[] = {7, 100, 8, 200};
    const char *bodies[] = {"one", "two", "three"};
    size_t total;
    uint32_t evoff[3];
    uint8_t *r = rec_build(takes, 2, bodies, 3, &total, evoff);
    assert_int_equal(total % 8, 0);
    struct fc_rec rec;
    assert_int_equal(flm_fc_rec_parse(r, total, &rec), FLM_OK);
    assert_int_equal(rec.total, total);
    assert_int_equal(rec.nput, 3);
    assert_int_equal(rec.ntake, 2);
    assert_int_equal(rec.ms, 1234);
    assert_int_equal(fc_get32(rec.takes + 8), 8);
    assert_int_equal(rec.events - r, evoff[0]);
    /* More bytes than the record is fine; fewer asks for more. */
    assert_int_equal(flm_fc_rec_parse(r, total - 1, &rec), FLM_EAGAIN);
    assert_int_equal(flm_fc_rec_parse(r, 10, &rec), FLM_EAGAIN);
    for (size_t i = 0; i < total; i++) {
        r[i] ^= 0x01;
        int rc = flm_fc_rec_parse(r, total, &rec);
        /* A flip in the length field may make the record look longer
         * (EAGAIN: not valid yet); anything else must be ECORRUPT. */
        assert_true(rc == FLM_ECORRUPT || (rc == FLM_EAGAIN && i >= 8 && i < 12));
        r[i] ^= 0x01;
    }
    free(r);
}

static void checkpoint_round_trips_and_rejects_damage(void **state)
{
    (void)state;
    size_t n = 3;
    uint8_t *b = calloc(1, flm_fc_ckpt_size(n));
    for (size_t i = 0; i < n; i++) {
        fc_put32(b + FC_CKPT_HDR + i * 16, 5);
        fc_put32(b + FC_CKPT_HDR + i * 16 + 4, (uint32_t)(16 + i * 40));
        fc_put32(b + FC_CKPT_HDR + i * 16 + 8, 40);
    }
    flm_fc_ckpt_seal(b, n, 6, 16, 99);
    struct fc_ckpt ck;
    assert_int_equal(flm_fc_ckpt_parse(b, flm_fc_ckpt_size(n), &ck), FLM_OK);
    assert_int_equal(ck.fid, 6);
    assert_int_equal(ck.off, 16);
    assert_int_equal(ck.count, 3);
    assert_int_equal(fc_get32(ck.entries + 16 + 4), 56);
    for (size_t i = 0; i < flm_fc_ckpt_size(n); i++) {
        b[i] ^= 0x80;
        assert_int_equal(flm_fc_ckpt_parse(b, flm_fc_ckpt_size(n), &ck), FLM_ECORRUPT);
        b[i] ^= 0x80;
    }
    assert_int_equal(flm_fc_ckpt_parse(b, flm_fc_ckpt_size(n) - 16, &ck), FLM_ECORRUPT);
    free(b);
}

/* A log image: file header then records. */
struct img {
    uint8_t *p;
    size_t n;
};

static void img_add(struct img *im, const uint8_t *b, size_t n)
{
    im->p = realloc(im->p, im->n + n);
    memcpy(im->p + im->n, b, n);
    im->n += n;
}

static void replay_applies_checkpoint_puts_and_takes_in_log_order(void **state)
{
    (void)state;
    struct img im = {0};
    uint8_t fh[FC_FILE_HDR];
    flm_fc_file_header(fh, 2);
    img_add(&im, fh, sizeof(fh));

    /* record 1: put a, b */
    size_t t1, t2, t3;
    uint32_t off1[2], off2[1], off3[1];
    const char *b1[] = {"a", "b"};
    uint8_t *r1 = rec_build(NULL, 0, b1, 2, &t1, off1);
    size_t r1at = im.n;
    img_add(&im, r1, t1);
    /* record 2: take checkpoint entry (1, 16) and a; put c */
    const uint32_t tk2[] = {1, 16, 2, (uint32_t)(r1at + off1[0])};
    const char *b2[] = {"c"};
    uint8_t *r2 = rec_build(tk2, 2, b2, 1, &t2, off2);
    size_t r2at = im.n;
    img_add(&im, r2, t2);
    /* record 3: take something that was never queued (ignored); put d */
    const uint32_t tk3[] = {9, 999};
    const char *b3[] = {"d"};
    uint8_t *r3 = rec_build(tk3, 1, b3, 1, &t3, off3);
    size_t r3at = im.n;
    img_add(&im, r3, t3);

    /* checkpoint: two entries in file 1 */
    uint8_t *cb = calloc(1, flm_fc_ckpt_size(2));
    fc_put32(cb + FC_CKPT_HDR, 1);
    fc_put32(cb + FC_CKPT_HDR + 4, 16);
    fc_put32(cb + FC_CKPT_HDR + 8, 30);
    fc_put32(cb + FC_CKPT_HDR + 16, 1);
    fc_put32(cb + FC_CKPT_HDR + 20, 46);
    fc_put32(cb + FC_CKPT_HDR + 24, 30);
    flm_fc_ckpt_seal(cb, 2, 2, FC_FILE_HDR, 1);
    struct fc_ckpt ck;
    assert_int_equal(flm_fc_ckpt_parse(cb, flm_fc_ckpt_size(2), &ck), FLM_OK);

    struct fc_replay r;
    assert_int_equal(flm_fc_replay_init(&r, &ck), FLM_OK);
    /* feed the file in two pieces, as the channel does with its buffer */
    size_t used;
    size_t cut = FC_FILE_HDR + t1 + 5;
    assert_int_equal(flm_fc_replay_buf(&r, 2, im.p + FC_FILE_HDR, cut - FC_FILE_HDR, FC_FILE_HDR,
                                       &used),
                     FLM_OK);
    assert_int_equal(used, t1);
    size_t at = FC_FILE_HDR + used;
    assert_int_equal(flm_fc_replay_buf(&r, 2, im.p + at, im.n - at, at, &used), FLM_OK);
    assert_int_equal(at + used, im.n);
    assert_int_equal(flm_fc_replay_finish(&r), FLM_OK);
    assert_int_equal(r.records, 3);
    /* survivors: ckpt (1,46), b, c, d */
    assert_int_equal(r.n, 4);
    assert_int_equal(r.q[0].fid, 1);
    assert_int_equal(r.q[0].off, 46);
    assert_int_equal(r.q[1].fid, 2);
    assert_int_equal(r.q[1].off, r1at + off1[1]);
    assert_int_equal(r.q[2].off, r2at + off2[0]);
    assert_int_equal(r.q[3].off, r3at + off3[0]);
    /* each pointer designates a valid event encoding */
    for (size_t i = 1; i < 4; i++)
        assert_int_equal(flm_fc_event_check(im.p + r.q[i].off, r.q[i].len), FLM_OK);
    flm_fc_replay_free(&r);

    /* A flipped byte in the middle record stops replay there with ECORRUPT,
     * and a valid record follows it (so it is not a torn tail). */
    im.p[r2at + 40] ^= 0xFF;
    assert_int_equal(flm_fc_replay_init(&r, NULL), FLM_OK);
    assert_int_equal(flm_fc_replay_buf(&r, 2, im.p + FC_FILE_HDR, im.n - FC_FILE_HDR, FC_FILE_HDR,
                                       &used),
                     FLM_ECORRUPT);
    assert_int_equal(FC_FILE_HDR + used, r2at);
    size_t vat;
    assert_true(flm_fc_valid_record_after(im.p + r2at, im.n - r2at, &vat));
    assert_int_equal(r2at + vat, r3at);
    flm_fc_replay_free(&r);
    im.p[r2at + 40] ^= 0xFF;

    /* A cut-off last record is incomplete (torn): nothing valid after it. */
    assert_int_equal(flm_fc_replay_init(&r, NULL), FLM_OK);
    assert_int_equal(flm_fc_replay_buf(&r, 2, im.p + FC_FILE_HDR, im.n - 3 - FC_FILE_HDR,
                                       FC_FILE_HDR, &used),
                     FLM_OK);
    assert_int_equal(FC_FILE_HDR + used, r3at);
    assert_false(flm_fc_valid_record_after(im.p + r3at, im.n - 3 - r3at, NULL));
    flm_fc_replay_free(&r);

    free(r1);
    free(r2);
    free(r3);
    free(cb);
    free(im.p);
}

static void file_header_detects_damage_and_wrong_magic(void **state)
{
    (void)state;
    uint8_t h[FC_FILE_HDR];
    uint32_t fid = 0;
    flm_fc_file_header(h, 42);
    assert_int_equal(flm_fc_file_header_check(h, sizeof(h), &fid), FLM_OK);
    assert_int_equal(fid, 42);
    h[9] ^= 1;
    assert_int_equal(flm_fc_file_header_check(h, sizeof(h), &fid), FLM_ECORRUPT);
    assert_int_equal(flm_fc_file_header_check(h, 8, &fid), FLM_ECORRUPT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc32c_matches_the_standard_check_value),
        cmocka_unit_test(event_round_trips_with_headers_and_binary_body),
        cmocka_unit_test(every_flipped_byte_of_an_event_is_detected),
        cmocka_unit_test(record_round_trips_and_every_flipped_byte_is_detected),
        cmocka_unit_test(checkpoint_round_trips_and_rejects_damage),
        cmocka_unit_test(replay_applies_checkpoint_puts_and_takes_in_log_order),
        cmocka_unit_test(file_header_detects_damage_and_wrong_magic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
