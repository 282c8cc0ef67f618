/*
 * netcat_line.c - pure line logic of the netcat source (see netcat_line.h):
 * charset names, newline search, Java-compatible character counting and the
 * UTF-8 body.  Owns nothing; no I/O, no allocation; runs on whichever thread
 * calls it (the source's loop thread, unit tests, the fuzzer).
 *
 * Invariant kept by flm_nc_next_line: cnt_scanned <= nl_scanned <= the bytes
 * of the pending line seen so far, so both cursors stay valid when the caller
 * moves the pending bytes to the front of its buffer.
 */
#include "sources/netcat_line.h"

#include <string.h>
#include <strings.h>

/* Java's canonical names and the aliases java.nio.charset.Charset.forName
 * accepts for them (names matched case-insensitively, as Java does). */
static const char *const utf8_names[] = {"UTF-8", "UTF8", "unicode-1-1-utf-8", NULL};
static const char *const latin1_names[] = {
    "ISO-8859-1", "ISO8859_1", "ISO8859-1", "ISO_8859-1", "ISO_8859_1", "8859_1",
    "ISO_8859-1:1987", "iso-ir-100", "latin1", "l1", "IBM819", "IBM-819", "cp819",
    "csISOLatin1", "819", NULL};
static const char *const ascii_names[] = {
    "US-ASCII", "ASCII", "ascii7", "us", "ISO646-US", "iso-ir-6", "ANSI_X3.4-1986",
    "ANSI_X3.4-1968", "ISO_646.irv:1991", "iso_646.irv:1983", "IBM367", "cp367", "csASCII",
    "646", "default", NULL};

static bool in_list(const char *const *names, const char *name)
{
    for (size_t i = 0; names[i]; i++)
        if (strcasecmp(names[i], name) == 0)
            return true;
    return false;
}

int flm_nc_encoding_parse(const char *name)
{
    if (name == NULL)
        return -1;
    if (in_list(utf8_names, name))
        return FLM_NC_UTF8;
    if (in_list(latin1_names, name))
        return FLM_NC_LATIN1;
    if (in_list(ascii_names, name))
        return FLM_NC_ASCII;
    return -1;
}

const char *flm_nc_encoding_name(int enc)
{
    switch (enc) {
    case FLM_NC_UTF8: return "UTF-8";
    case FLM_NC_LATIN1: return "ISO-8859-1";
    case FLM_NC_ASCII: return "US-ASCII";
    }
    return "?";
}

/* Length of the valid UTF-8 sequence at p[0..n) (2..4), 0 when the lead byte
 * or a continuation byte is invalid, or -1 when the bytes so far are a valid
 * prefix cut off by n.  Ranges per RFC 3629 (no overlongs, no surrogates,
 * nothing above U+10FFFF), which is what Java's strict decoder accepts. */
static int utf8_seq(const uint8_t *p, size_t n)
{
    uint8_t b = p[0];
    int need;
    uint8_t lo = 0x80, hi = 0xBF; /* range of the first continuation byte */

    if (b >= 0xC2 && b <= 0xDF) {
        need = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 3;
        if (b == 0xE0)
            lo = 0xA0;
        else if (b == 0xED)
            hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 4;
        if (b == 0xF0)
            lo = 0x90;
        else if (b == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    for (int i = 1; i < need; i++) {
        if ((size_t)i >= n)
            return -1;
        uint8_t c = p[i];
        if (i == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF))
            return 0;
    }
    return need;
}

size_t flm_nc_utf8_count(const uint8_t *p, size_t n, bool final, uint64_t *chars,
                         uint64_t *invalid)
{
    size_t i = 0;
    uint64_t c = 0, bad = 0;

    while (i < n) {
        /* ASCII fast path, 8 bytes at a time. */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (w & 0x8080808080808080ull)
                break;
            i += 8;
            c += 8;
        }
        if (i >= n)
            break;
        if (p[i] < 0x80) {
            i++;
            c++;
            continue;
        }
        int len = utf8_seq(p + i, n - i);
        if (len < 0) {
            if (!final)
                break; /* may complete with the next bytes */
            len = 0;
        }
        if (len == 0) {
            i++;
            c++;
            bad++;
        } else {
            i += (size_t)len;
            c += len == 4 ? 2 : 1; /* a supplementary code point is a surrogate pair */
        }
    }
    *chars += c;
    if (invalid != NULL)
        *invalid += bad;
    return i;
}

uint64_t flm_nc_count_chars(int enc, const uint8_t *p, size_t n, uint64_t *invalid)
{
    if (enc == FLM_NC_UTF8) {
        uint64_t c = 0;
        flm_nc_utf8_count(p, n, true, &c, invalid);
        return c;
    }
    if (enc == FLM_NC_ASCII && invalid != NULL)
        for (size_t i = 0; i < n; i++)
            *invalid += p[i] >= 0x80;
    return n;
}

void flm_nc_splitter_init(struct flm_nc_splitter *s, int enc, uint64_t max_chars)
{
    s->enc = enc;
    s->max_chars = max_chars ? max_chars : 1;
    s->nl_scanned = 0;
    s->cnt_scanned = 0;
    s->cnt_chars = 0;
}

/* Counts the pending line's bytes [cnt_scanned, n) into the state. */
static void count_more(struct flm_nc_splitter *s, const uint8_t *p, size_t n, bool final)
{
    if (s->enc == FLM_NC_UTF8) {
        s->cnt_scanned += flm_nc_utf8_count(p + s->cnt_scanned, n - s->cnt_scanned, final,
                                            &s->cnt_chars, NULL);
    } else {
        s->cnt_chars += n - s->cnt_scanned;
        s->cnt_scanned = n;
    }
}

int flm_nc_next_line(struct flm_nc_splitter *s, const uint8_t *p, size_t n, size_t *len)
{
    size_t from = s->nl_scanned <= n ? s->nl_scanned : n;
    const uint8_t *nl = from < n ? memchr(p + from, '\n', n - from) : NULL;

    if (nl != NULL) {
        size_t l = (size_t)(nl - p);
        /* l + 1 bytes hold at most l + 1 chars: count only when that could
         * exceed the limit. */
        if ((uint64_t)l + 1 > s->max_chars) {
            count_more(s, p, l, true);
            if (s->cnt_chars + 1 > s->max_chars)
                return FLM_NC_TOO_LONG;
        }
        s->nl_scanned = s->cnt_scanned = 0;
        s->cnt_chars = 0;
        *len = l;
        return FLM_NC_LINE;
    }
    s->nl_scanned = n;
    /* Flume fails as soon as max_chars chars are buffered without a newline. */
    if ((uint64_t)n >= s->max_chars) {
        count_more(s, p, n, false);
        if (s->cnt_chars >= s->max_chars)
            return FLM_NC_TOO_LONG;
    }
    return FLM_NC_NEED_MORE;
}

size_t flm_nc_body_len(int enc, const uint8_t *p, size_t n)
{
    if (enc != FLM_NC_LATIN1)
        return n;
    size_t out = n;
    for (size_t i = 0; i < n; i++)
        out += p[i] >> 7;
    return out;
}

void flm_nc_body_write(int enc, const uint8_t *p, size_t n, uint8_t *out)
{
    if (enc != FLM_NC_LATIN1) {
        if (n > 0)
            memcpy(out, p, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t b = p[i];
        if (b < 0x80) {
            *out++ = b;
        } else {
            *out++ = (uint8_t)(0xC0 | (b >> 6));
            *out++ = (uint8_t)(0x80 | (b & 0x3F));
        }
    }
}
