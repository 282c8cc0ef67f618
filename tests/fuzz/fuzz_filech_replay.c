/*
 * fuzz_filech_replay.c - libFuzzer target for the file channel's replay
 * (src/channels/file/replay.c, wal.c): replay is a pure function of
 * (checkpoint bytes, log bytes).  Input layout: byte 0 = chunk size for the
 * second pass (1..256), bytes 1..4 = checkpoint length L (little-endian,
 * clamped), then L checkpoint bytes, then the log image of data file 1
 * (file header + records).  The log is replayed once whole and once fed in
 * chunks (as the channel reads it); both must agree, every queued pointer
 * into file 1 must designate a valid event encoding, and nothing may crash.
 */
#include "channels/file/fc.h"
#include "core/err.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(x)                                                                \
    do {                                                                        \
        if (!(x))                                                               \
            abort();                                                            \
    } while (0)

/* Replays log[from..) in chunks of step bytes (growing the window while a
 * record is incomplete).  Returns the rc, *end = offset where it stopped. */
static int run(struct fc_replay *r, const uint8_t *log, size_t n, size_t step, size_t *end)
{
    size_t off = FC_FILE_HDR, have = 0;
    for (;;) {
        size_t avail = n - off;
        size_t want = have + step;
        if (want > avail)
            want = avail;
        size_t used;
        int rc = flm_fc_replay_buf(r, 1, log + off, want, off, &used);
        if (rc != FLM_OK) {
            *end = off + used;
            return rc;
        }
        off += used;
        have = want - used;
        if (want == avail) {
            *end = off;
            return FLM_OK;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5)
        return 0;
    size_t step = (size_t)data[0] + 1;
    size_t ckl = fc_get32(data + 1);
    if (ckl > size - 5)
        ckl = size - 5;
    const uint8_t *ckb = data + 5, *log = data + 5 + ckl;
    size_t logn = size - 5 - ckl;

    struct fc_ckpt ck;
    bool have_ck = flm_fc_ckpt_parse(ckb, ckl, &ck) == FLM_OK;
    uint32_t fid;
    if (logn < FC_FILE_HDR || flm_fc_file_header_check(log, logn, &fid) != FLM_OK) {
        /* still exercise the torn-tail scanner on arbitrary bytes */
        (void)flm_fc_valid_record_after(log, logn, NULL);
        return 0;
    }

    struct fc_replay a, b;
    CHECK(flm_fc_replay_init(&a, have_ck ? &ck : NULL) == FLM_OK);
    CHECK(flm_fc_replay_init(&b, have_ck ? &ck : NULL) == FLM_OK);
    size_t enda, endb;
    int ra = run(&a, log, logn, logn, &enda);
    int rb = run(&b, log, logn, step, &endb);
    CHECK(ra == rb && enda == endb);
    CHECK(ra == FLM_OK || ra == FLM_ECORRUPT);
    if (enda < logn)
        (void)flm_fc_valid_record_after(log + enda, logn - enda, NULL);
    CHECK(flm_fc_replay_finish(&a) == FLM_OK && flm_fc_replay_finish(&b) == FLM_OK);
    CHECK(a.n == b.n && (a.n == 0 || memcmp(a.q, b.q, a.n * sizeof(*a.q)) == 0));
    for (size_t i = 0; i < a.n; i++) {
        if (a.q[i].fid != 1 || have_ck)
            continue; /* checkpoint entries are not checked against the log */
        /* a pointer made by replay lies inside a valid record */
        CHECK((size_t)a.q[i].off + a.q[i].len <= enda);
        struct flm_event *ev = NULL;
        int rc = flm_fc_event_decode(log + a.q[i].off, a.q[i].len, &ev);
        /* Structure is guaranteed by the record check; the event's own CRC
         * can only disagree with a record CRC that was forged (the fuzzer
         * does that), and then the read reports it. */
        CHECK(rc == FLM_OK || rc == FLM_ECORRUPT);
        CHECK(fc_get32(log + a.q[i].off + 4) == a.q[i].len);
        flm_event_free(ev);
    }
    flm_fc_replay_free(&a);
    flm_fc_replay_free(&b);
    return 0;
}
