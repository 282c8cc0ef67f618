/*
 * exec_text.c - the exec source's line splitter (Java readLine() rules) and
 * charset re-encoding (Java's decode + getBytes).  Pure functions; called on
 * the exec source's worker thread.
 */
#include "sources/exec_text.h"

#include "core/err.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Java charset names (and common aliases) this source understands.  -1 when
 * unknown. */
int flm_exec_charset_parse(const char *name)
{
    static const struct {
        const char *name;
        enum exec_charset cs;
    } names[] = {
        {"UTF-8", EXEC_CS_UTF8},        {"UTF8", EXEC_CS_UTF8},
        {"ISO-8859-1", EXEC_CS_LATIN1}, {"ISO8859-1", EXEC_CS_LATIN1},
        {"ISO8859_1", EXEC_CS_LATIN1},  {"ISO_8859_1", EXEC_CS_LATIN1},
        {"ISO_8859-1", EXEC_CS_LATIN1}, {"8859_1", EXEC_CS_LATIN1},
        {"latin1", EXEC_CS_LATIN1},     {"l1", EXEC_CS_LATIN1},
        {"cp819", EXEC_CS_LATIN1},      {"US-ASCII", EXEC_CS_ASCII},
        {"ASCII", EXEC_CS_ASCII},       {"us", EXEC_CS_ASCII},
        {"ISO646-US", EXEC_CS_ASCII},   {"646", EXEC_CS_ASCII},
        {"default", EXEC_CS_ASCII},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(names[i].name, name) == 0)
            return (int)names[i].cs;
    return -1;
}

/* ------------------------------------------------------------ line splitter */

/*
 * Splits a byte stream into lines with Java readLine() rules.  Pure: no I/O,
 * no allocation after flm_exec_lines_init.  A line is handed to fn as soon as its
 * terminator is seen; bytes of an unfinished line wait in buf.  A line over
 * cap bytes is handed over in pieces of at most cap bytes, cut on a UTF-8
 * character boundary when utf8 is set.
 */

int flm_exec_lines_init(struct exec_lines *L, size_t cap, bool utf8)
{
    L->buf = malloc(cap);
    L->len = 0;
    L->cap = cap;
    L->utf8 = utf8;
    L->cr = false;
    L->nsplit = 0;
    return L->buf != NULL ? FLM_OK : FLM_ENOMEM;
}

void flm_exec_lines_reset(struct exec_lines *L)
{
    L->len = 0;
    L->cr = false;
}

void flm_exec_lines_free(struct exec_lines *L)
{
    free(L->buf);
    L->buf = NULL;
}

/* Where to cut a piece of cap bytes from s when the byte after it is next,
 * so that (for UTF-8) no character is cut in two.  Always > 0. */
static size_t exec_cut(const struct exec_lines *L, const char *s, unsigned char next)
{
    size_t cut = L->cap;
    if (!L->utf8 || (next & 0xC0) != 0x80)
        return cut;
    /* next continues a character: cut before that character's lead byte. */
    for (size_t back = 1; back <= 3 && back <= cut; back++) {
        unsigned char c = (unsigned char)s[cut - back];
        if ((c & 0xC0) == 0xC0)
            return cut - back > 0 ? cut - back : cut;
        if ((c & 0xC0) != 0x80)
            return cut; /* stray continuation bytes: malformed anyway */
    }
    return cut;
}

static int exec_lines_piece(struct exec_lines *L, const char *s, size_t n, exec_line_fn fn,
                            void *arg)
{
    /* Whole line in one buffer: hand over pieces without copying. */
    while (n > L->cap) {
        size_t cut = exec_cut(L, s, (unsigned char)s[L->cap]);
        L->nsplit++;
        int rc = fn(arg, s, cut);
        if (rc != FLM_OK)
            return rc;
        s += cut;
        n -= cut;
    }
    return fn(arg, s, n);
}

/* Appends to the unfinished line, handing over full pieces as needed. */
static int exec_lines_append(struct exec_lines *L, const char *s, size_t n, exec_line_fn fn,
                             void *arg)
{
    while (n > 0) {
        if (L->len == L->cap) {
            /* Full and more is coming: hand over a piece, keep the tail of
             * a character cut in two. */
            size_t cut = exec_cut(L, L->buf, (unsigned char)s[0]);
            L->nsplit++;
            int rc = fn(arg, L->buf, cut);
            if (rc != FLM_OK)
                return rc;
            memmove(L->buf, L->buf + cut, L->len - cut);
            L->len -= cut;
        }
        size_t room = L->cap - L->len;
        size_t k = n < room ? n : room;
        memcpy(L->buf + L->len, s, k);
        L->len += k;
        s += k;
        n -= k;
    }
    return FLM_OK;
}

/* Feeds n bytes.  Stops at the first fn error and returns it (the rest of p
 * is dropped); FLM_OK otherwise. */
int flm_exec_lines_feed(struct exec_lines *L, const char *p, size_t n, exec_line_fn fn, void *arg)
{
    size_t i = 0;
    if (L->cr && n > 0) {
        if (p[0] == '\n')
            i = 1;
        L->cr = false;
    }
    while (i < n) {
        size_t j = i;
        while (j < n && p[j] != '\n' && p[j] != '\r')
            j++;
        if (j == n)
            return exec_lines_append(L, p + i, n - i, fn, arg);
        int rc;
        if (L->len == 0) {
            rc = exec_lines_piece(L, p + i, j - i, fn, arg);
        } else {
            rc = exec_lines_append(L, p + i, j - i, fn, arg);
            if (rc == FLM_OK) {
                size_t len = L->len;
                L->len = 0;
                rc = fn(arg, L->buf, len);
            }
        }
        if (p[j] == '\r') {
            if (j + 1 < n) {
                if (p[j + 1] == '\n')
                    j++;
            } else {
                L->cr = true;
            }
        }
        i = j + 1;
        if (rc != FLM_OK)
            return rc;
    }
    return FLM_OK;
}

/* End of stream: hands over an unfinished line (readLine returns it). */
int flm_exec_lines_finish(struct exec_lines *L, exec_line_fn fn, void *arg)
{
    L->cr = false;
    if (L->len == 0)
        return FLM_OK;
    size_t len = L->len;
    L->len = 0;
    return fn(arg, L->buf, len);
}

/* ---------------------------------------------------------------- charsets */

/* Length of the well-formed UTF-8 character at s[0..n), or 0 when it is
 * malformed; then *bad is the maximal subpart to replace with one U+FFFD
 * (Unicode's "maximal subpart" rule, which Java's decoder follows). */
static size_t utf8_char(const unsigned char *s, size_t n, size_t *bad)
{
    unsigned char b = s[0];
    *bad = 1;
    if (b < 0x80)
        return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
        need = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 2;
        if (b == 0xE0)
            lo = 0xA0;
        else if (b == 0xED)
            hi = 0x9F; /* no UTF-16 surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3;
        if (b == 0xF0)
            lo = 0x90;
        else if (b == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (n < 2 || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i <= need; i++) {
        if (i >= n || (s[i] & 0xC0) != 0x80) {
            *bad = i;
            return 0;
        }
    }
    return need + 1;
}

/* Re-encodes a line as Flume's line.getBytes(charset) after decoding with the
 * same charset: UTF-8 malformed sequences become EF BF BD, US-ASCII bytes
 * over 0x7F become '?', ISO-8859-1 is unchanged.  Writes into out (at least
 * 3 * n bytes) only when something changes; returns the body to use and its
 * length in *olen. */
const char *flm_exec_recode(enum exec_charset cs, const char *in, size_t n, char *out, size_t *olen)
{
    const unsigned char *s = (const unsigned char *)in;
    if (cs == EXEC_CS_LATIN1) {
        *olen = n;
        return in;
    }
    if (cs == EXEC_CS_ASCII) {
        size_t i = 0;
        while (i < n && s[i] < 0x80)
            i++;
        *olen = n;
        if (i == n)
            return in;
        for (size_t k = 0; k < n; k++)
            out[k] = s[k] < 0x80 ? (char)s[k] : '?';
        return out;
    }
    /* UTF-8: find the first malformed sequence; usually there is none. */
    size_t i = 0, bad;
    while (i < n) {
        size_t l = utf8_char(s + i, n - i, &bad);
        if (l == 0)
            break;
        i += l;
    }
    *olen = n;
    if (i == n)
        return in;
    memcpy(out, in, i);
    size_t o = i;
    while (i < n) {
        size_t l = utf8_char(s + i, n - i, &bad);
        if (l == 0) {
            out[o++] = (char)0xEF;
            out[o++] = (char)0xBF;
            out[o++] = (char)0xBD;
            i += bad;
        } else {
            memcpy(out + o, s + i, l);
            o += l;
            i += l;
        }
    }
    *olen = o;
    return out;
}
