/*
 * fuzz_netcat_line.c - libFuzzer target for the netcat source's line logic
 * (src/sources/netcat_line.c).  Input: byte 0 picks the charset, byte 1 the
 * max-line-length (1..64), byte 2 the read size (1..17); the rest is what a
 * client sends.  The bytes are split twice, in one read and in reads of the
 * chosen size (as the source does: consume lines, move the tail to the
 * front), and both runs must agree with each other and with a reference
 * computed straight from the definitions.  Any mismatch aborts.
 */
#include "sources/netcat_line.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x)                                                                \
    do {                                                                        \
        if (!(x))                                                               \
            abort();                                                            \
    } while (0)

struct run {
    size_t *lens;   /* lengths of the lines returned, in order */
    size_t nlines;
    int last;       /* FLM_NC_NEED_MORE or FLM_NC_TOO_LONG */
    size_t tail;    /* pending bytes at the end (NEED_MORE) */
};

static void split(int enc, uint64_t max, const uint8_t *data, size_t size, size_t step,
                  struct run *r)
{
    uint8_t *buf = malloc(size + 1);
    CHECK(buf != NULL);
    struct flm_nc_splitter sp;
    flm_nc_splitter_init(&sp, enc, max);
    size_t len = 0, fed = 0;
    r->nlines = 0;
    r->last = FLM_NC_NEED_MORE;
    while (fed < size) {
        size_t k = size - fed < step ? size - fed : step;
        memcpy(buf + len, data + fed, k);
        len += k;
        fed += k;
        size_t off = 0, l;
        int res;
        while ((res = flm_nc_next_line(&sp, buf + off, len - off, &l)) == FLM_NC_LINE) {
            CHECK(l < len - off && buf[off + l] == '\n');
            CHECK(memchr(buf + off, '\n', l) == NULL);
            r->lens[r->nlines++] = l;
            off += l + 1;
        }
        if (res == FLM_NC_TOO_LONG) {
            r->last = res;
            break;
        }
        /* the bound that sizes the source's input buffer */
        CHECK(len - off <= 3 * max);
        memmove(buf, buf + off, len - off);
        len -= off;
    }
    r->tail = r->last == FLM_NC_NEED_MORE ? len : 0;
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    int enc = data[0] % 3;
    uint64_t max = 1 + data[1] % 64;
    size_t step = 1 + data[2] % 17;
    data += 3;
    size -= 3;

    struct run a, b;
    a.lens = malloc((size + 1) * sizeof(size_t));
    b.lens = malloc((size + 1) * sizeof(size_t));
    CHECK(a.lens != NULL && b.lens != NULL);
    split(enc, max, data, size, size ? size : 1, &a);
    split(enc, max, data, size, step, &b);

    CHECK(a.nlines == b.nlines && a.last == b.last && a.tail == b.tail);
    size_t off = 0;
    for (size_t i = 0; i < a.nlines; i++) {
        CHECK(a.lens[i] == b.lens[i]);
        uint64_t chars = flm_nc_count_chars(enc, data + off, a.lens[i], NULL);
        CHECK(chars + 1 <= max);
        CHECK(chars <= a.lens[i]);
        /* the body is the line, or its Latin-1 -> UTF-8 conversion */
        size_t bl = flm_nc_body_len(enc, data + off, a.lens[i]);
        uint8_t *body = malloc(bl + 1);
        CHECK(body != NULL);
        flm_nc_body_write(enc, data + off, a.lens[i], body);
        if (enc == FLM_NC_LATIN1) {
            uint64_t bad = 0;
            CHECK(flm_nc_count_chars(FLM_NC_UTF8, body, bl, &bad) == a.lens[i]);
            CHECK(bad == 0);
        } else {
            CHECK(bl == a.lens[i] && memcmp(body, data + off, bl) == 0);
        }
        free(body);
        off += a.lens[i] + 1;
    }
    const uint8_t *rest = data + off;
    size_t nrest = size - off;
    const uint8_t *nl = memchr(rest, '\n', nrest);
    if (a.last == FLM_NC_TOO_LONG) {
        uint64_t c = 0;
        if (nl != NULL) {
            c = flm_nc_count_chars(enc, rest, (size_t)(nl - rest), NULL);
        } else if (enc == FLM_NC_UTF8) {
            flm_nc_utf8_count(rest, nrest, false, &c, NULL);
        } else {
            c = nrest;
        }
        CHECK(c >= max);
    } else {
        CHECK(nl == NULL && a.tail == nrest);
    }
    free(a.lens);
    free(b.lens);
    return 0;
}
