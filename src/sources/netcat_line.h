/*
 * netcat_line.h - the pure part of the netcat source: charset names, line
 * splitting, Flume-compatible line-length counting and the conversion of a
 * line to a UTF-8 body.  No I/O, no allocation, no logging: unit tested and
 * fuzzed on its own (tests/unit/netcat_line_test.c, tests/fuzz/fuzz_netcat_line.c).
 *
 * Character counting follows Java, where Flume's NetcatSource counts the
 * chars of a CharBuffer: a code point outside the BMP (4-byte UTF-8) counts
 * as 2 (a surrogate pair).  Unlike Flume, bytes that are not valid in the
 * charset are not an error: each such byte counts as 1 character and is kept
 * in the body exactly as sent.
 */
#ifndef FLM_NETCAT_LINE_H
#define FLM_NETCAT_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum flm_nc_enc { FLM_NC_UTF8 = 0, FLM_NC_LATIN1 = 1, FLM_NC_ASCII = 2 };

/* Charset by Java name or alias ("UTF-8", "utf8", "ISO8859_1", "latin1",
 * "US-ASCII", "ascii", ...), case-insensitive.  Returns an enum flm_nc_enc,
 * or -1 for anything else (including NULL). */
int flm_nc_encoding_parse(const char *name);
/* Canonical Java name ("UTF-8", "ISO-8859-1", "US-ASCII"). */
const char *flm_nc_encoding_name(int enc);

/*
 * Counts the characters (UTF-16 units, invalid byte = 1) of UTF-8 bytes
 * p[0..n).  With final = false a sequence cut off by the end of the input is
 * left unscanned (it may complete later); with final = true it is counted
 * byte by byte as invalid.  Adds to *chars and, when invalid is non-NULL, to
 * *invalid (bytes that are not part of a valid sequence).  Returns the bytes
 * scanned: n when final, otherwise n minus at most 3.
 */
size_t flm_nc_utf8_count(const uint8_t *p, size_t n, bool final, uint64_t *chars,
                         uint64_t *invalid);

/* Characters of a complete line's bytes in the given charset. */
uint64_t flm_nc_count_chars(int enc, const uint8_t *p, size_t n, uint64_t *invalid);

/*
 * Line splitter state for one connection.  Lines end at '\n' only ('\r' is
 * data).  The state remembers how far the pending (incomplete) line has been
 * searched and counted, so bytes arriving a few at a time cost O(total).
 */
struct flm_nc_splitter {
    int enc;              /* enum flm_nc_enc */
    uint64_t max_chars;   /* max-line-length: chars including the newline, >= 1 */
    size_t nl_scanned;    /* bytes of the pending line known to hold no '\n' */
    size_t cnt_scanned;   /* bytes of the pending line already counted */
    uint64_t cnt_chars;   /* chars in those bytes */
};

enum flm_nc_res {
    FLM_NC_LINE = 0,      /* a complete line: *len bytes, then '\n' */
    FLM_NC_NEED_MORE = 1, /* no newline yet and still within the limit */
    FLM_NC_TOO_LONG = 2,  /* the line has max_chars chars (or more) before any newline */
};

void flm_nc_splitter_init(struct flm_nc_splitter *s, int enc, uint64_t max_chars);

/*
 * Looks at p[0..n), which must start where the pending line starts (the same
 * bytes as the previous call plus whatever arrived since: the caller may move
 * them in memory).  FLM_NC_LINE: *len is the line's length without the
 * newline; the caller consumes *len + 1 bytes and the state is reset for the
 * next line.  FLM_NC_NEED_MORE: keep the bytes and call again with more.
 * FLM_NC_TOO_LONG: the line, with its newline, exceeds max_chars (Flume then
 * replies FAILED and closes the connection); calling again with the same
 * bytes (or more) gives TOO_LONG again.
 *
 * With max_chars = M a pending line of b bytes is counted only once b >= M
 * (it cannot hold M chars before), so short lines cost one memchr.
 * NEED_MORE is only returned while n <= 3 * M (a char takes at most 3 bytes),
 * so an input buffer of 3 * M + 1 bytes or more always has room to read.
 */
int flm_nc_next_line(struct flm_nc_splitter *s, const uint8_t *p, size_t n, size_t *len);

/* Bytes of the UTF-8 body for a line of n bytes in charset enc. */
size_t flm_nc_body_len(int enc, const uint8_t *p, size_t n);
/* Writes the UTF-8 body (flm_nc_body_len bytes) to out.  UTF-8 and US-ASCII
 * input is copied as is (invalid bytes kept); ISO-8859-1 is converted. */
void flm_nc_body_write(int enc, const uint8_t *p, size_t n, uint8_t *out);

#endif
