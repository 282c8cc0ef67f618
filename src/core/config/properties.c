/*
 * properties.c - java.util.Properties text parsing, Flume 1.10+ ${...}
 * interpolation and config-filter references (spec/config.md sections 1, 5a
 * and 5b).
 *
 * Owns nothing past a call: every function takes borrowed input and returns
 * malloc'd results or fills the caller's struct flm_kvs.  No global state, so
 * every function may run on any thread (the config thread in practice); the
 * only I/O is flm_properties_load_file, and the only process-wide reads are
 * getenv (when the caller gives no getenv_fn) and the clock for ${date:}.
 *
 * Sections:
 *   1. Logical lines: the JDK 9+ Properties.LineReader state machine over
 *      ISO-8859-1 bytes (blank lines, comments, odd-backslash continuation,
 *      \n \r \r\n), tracking physical line numbers.  JDK 9+ rather than 8
 *      where they differ: a '#' right after a continuation that left the
 *      line empty starts a comment, and a \uXXXX must have its four digits
 *      inside the key or value (JDK 8 could read stale bytes past it).
 *   2. Key/value split and escape decoding into UTF-16 code units (as Java
 *      chars), String.trim(), then UTF-8 encoding.
 *   3. File loading (capped read).
 *   4. ${...} interpolation with Commons Text StringSubstitutor semantics as
 *      Flume's MapResolver configures it (escape '$', default ":-",
 *      substitution inside variable names, recursive values).
 *   5. ${date:PATTERN} formatting (SimpleDateFormat subset).
 *   6. Config-filter references ${name['key']}.
 *
 * Deliberate differences from Java, all on inputs Flume cannot use anyway:
 *   - U+0000 (a NUL byte or \u0000) inside a key or value becomes U+FFFD,
 *     because our strings are NUL-terminated; at either end it is trimmed as
 *     Java's trim() would.  A lone surrogate becomes U+FFFD too.
 *   - A reference cycle (a = ${b}, b = ${a}) is left unresolved instead of
 *     throwing; nesting deeper than INTERP_MAX_DEPTH likewise.
 *   - A value whose expansion would exceed INTERP_MAX_OUT bytes or need more
 *     than INTERP_MAX_LOOKUPS lookups is left exactly as written.
 *   - ${NAME} sees the raw (not yet interpolated) value of NAME and
 *     interpolates it recursively, so the result never depends on hash order.
 *   - Config-filter references are replaced in one left-to-right pass; a
 *     replacement is never rescanned (Java's String.replace could also hit
 *     identical text inside an earlier replacement).
 *   - ${java:...} is not supported (it is left unresolved, or resolved
 *     through the config-key fallback, as for an unknown prefix).
 */
#include "core/config/properties.h"

#include "core/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------- */
/* 1. Logical lines                                                         */
/* ---------------------------------------------------------------------- */

/* Where a continuation segment of the logical line starts, so an escape
 * error can name its physical line. */
struct seg {
    size_t off; /* byte offset in the logical line */
    int line;   /* 1-based physical line */
};

struct lreader {
    const uint8_t *s;
    size_t n, off;
    int line;     /* physical line of the next unread byte */
    bool prev_cr; /* last consumed byte was '\r' (a following '\n' ends no new line) */
    uint8_t *lb;  /* current logical line (Latin-1 bytes, escapes still raw) */
    size_t ln, lcap;
    struct seg *segs;
    size_t nseg, segcap;
};

/* Consumes one byte, counting line terminators (\r\n counts once). */
static uint8_t lr_next(struct lreader *r)
{
    uint8_t c = r->s[r->off++];
    if (c == '\r' || (c == '\n' && !r->prev_cr))
        r->line++;
    r->prev_cr = (c == '\r');
    return c;
}

static int lr_push(struct lreader *r, uint8_t c)
{
    if (r->ln == r->lcap) {
        size_t nc = r->lcap ? r->lcap * 2 : 256;
        uint8_t *np = realloc(r->lb, nc);
        if (np == NULL)
            return FLM_ENOMEM;
        r->lb = np;
        r->lcap = nc;
    }
    r->lb[r->ln++] = c;
    return FLM_OK;
}

static int lr_seg(struct lreader *r, size_t off, int line)
{
    if (r->nseg == r->segcap) {
        size_t nc = r->segcap ? r->segcap * 2 : 8;
        struct seg *np = realloc(r->segs, nc * sizeof(*np));
        if (np == NULL)
            return FLM_ENOMEM;
        r->segs = np;
        r->segcap = nc;
    }
    r->segs[r->nseg++] = (struct seg){off, line};
    return FLM_OK;
}

static bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\f';
}

/*
 * Reads the next logical line into r->lb/r->ln, as the JDK's LineReader does:
 * leading whitespace and blank lines skipped, '#'/'!' comment lines dropped
 * (never continued), a line ending in an odd run of backslashes joined with
 * the next one (that backslash and the next line's leading whitespace
 * dropped).  r->segs[0].line is the physical line of the first kept byte.
 * Returns 1 for a line, 0 at end of input, FLM_ENOMEM.
 */
static int lr_read(struct lreader *r)
{
    bool skip_ws = true, appended_begin = false, prec_bs = false;
    r->ln = 0;
    r->nseg = 0;
    for (;;) {
        if (r->off >= r->n) {
            if (r->ln == 0)
                return 0;
            if (prec_bs)
                r->ln--;
            return 1;
        }
        uint8_t c = lr_next(r);
        if (skip_ws) {
            if (is_ws(c))
                continue;
            /* Blank lines are skipped, but not the empty rest of a
             * continued line: that ends the logical line. */
            if (!appended_begin && (c == '\r' || c == '\n'))
                continue;
            skip_ws = false;
            appended_begin = false;
        }
        if (r->ln == 0 && (c == '#' || c == '!')) {
            /* Comment: drop up to and including the line terminator.  A
             * trailing backslash does not continue it. */
            while (r->off < r->n && r->s[r->off] != '\r' && r->s[r->off] != '\n')
                r->off++;
            r->prev_cr = false;
            if (r->off >= r->n)
                return 0;
            (void)lr_next(r);
            skip_ws = true;
            continue;
        }
        if (c != '\n' && c != '\r') {
            if (r->ln == 0) {
                /* First byte of the logical line (possibly after a
                 * continuation that left it empty): the key's line. */
                r->nseg = 0;
                int rc = lr_seg(r, 0, r->line);
                if (rc != FLM_OK)
                    return rc;
            }
            int rc = lr_push(r, c);
            if (rc != FLM_OK)
                return rc;
            prec_bs = (c == '\\') ? !prec_bs : false;
            continue;
        }
        /* End of a physical line. */
        if (r->ln == 0) {
            skip_ws = true;
            continue;
        }
        if (r->off >= r->n) {
            if (prec_bs)
                r->ln--;
            return 1;
        }
        if (!prec_bs)
            return 1;
        /* Continuation: the backslash is not part of the line. */
        r->ln--;
        skip_ws = true;
        appended_begin = true;
        prec_bs = false;
        if (c == '\r' && r->off < r->n && r->s[r->off] == '\n')
            (void)lr_next(r);
        if (r->ln > 0) {
            int rc = lr_seg(r, r->ln, r->line);
            if (rc != FLM_OK)
                return rc;
        } else {
            r->nseg = 0; /* the line restarts from nothing */
        }
    }
}

/* Physical line of byte `off` of the current logical line. */
static int lr_line_of(const struct lreader *r, size_t off)
{
    int line = r->nseg ? r->segs[0].line : r->line;
    for (size_t i = 0; i < r->nseg && r->segs[i].off <= off; i++)
        line = r->segs[i].line;
    return line;
}

/* ---------------------------------------------------------------------- */
/* 2. Keys, values, escapes, UTF-8                                          */
/* ---------------------------------------------------------------------- */

/* UTF-16 code units of one decoded key or value. */
struct u16s {
    uint16_t *v;
    size_t n, cap;
};

static int u16_reserve(struct u16s *u, size_t n)
{
    if (n <= u->cap)
        return FLM_OK;
    size_t bytes;
    if (flm_size_mul(n, sizeof(uint16_t), &bytes))
        return FLM_ENOMEM;
    uint16_t *np = realloc(u->v, bytes);
    if (np == NULL)
        return FLM_ENOMEM;
    u->v = np;
    u->cap = n;
    return FLM_OK;
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Decodes Properties escapes in in[0..len) into u (UTF-16 units, as Java's
 * loadConvert): \t \n \r \f, \uXXXX with exactly four hex digits inside the
 * region, and backslash + any other char = that char.  Returns FLM_OK,
 * FLM_ENOMEM, or FLM_ERR with *bad = offset of the malformed backslash.
 */
static int unescape(const uint8_t *in, size_t len, struct u16s *u, size_t *bad)
{
    u->n = 0;
    int rc = u16_reserve(u, len ? len : 1); /* output never exceeds input */
    if (rc != FLM_OK)
        return rc;
    size_t i = 0;
    while (i < len) {
        uint8_t c = in[i++];
        if (c != '\\') {
            u->v[u->n++] = c; /* ISO-8859-1: byte value = code point */
            continue;
        }
        if (i >= len)
            break; /* cannot happen: LineReader never leaves an odd trailing run */
        c = in[i++];
        if (c == 'u') {
            if (len - i < 4) {
                *bad = i - 2;
                return FLM_ERR;
            }
            unsigned v = 0;
            for (int k = 0; k < 4; k++) {
                int h = hexval(in[i + (size_t)k]);
                if (h < 0) {
                    *bad = i - 2;
                    return FLM_ERR;
                }
                v = (v << 4) | (unsigned)h;
            }
            i += 4;
            u->v[u->n++] = (uint16_t)v;
            continue;
        }
        switch (c) {
        case 't':
            c = '\t';
            break;
        case 'r':
            c = '\r';
            break;
        case 'n':
            c = '\n';
            break;
        case 'f':
            c = '\f';
            break;
        default:
            break;
        }
        u->v[u->n++] = c;
    }
    return FLM_OK;
}

static size_t utf8_put(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Java String.trim() (every unit <= U+0020 at both ends), then UTF-8.
 * Returns a malloc'd string or NULL on ENOMEM. */
static char *trim_to_utf8(const struct u16s *u)
{
    size_t a = 0, b = u->n;
    while (a < b && u->v[a] <= 0x20)
        a++;
    while (b > a && u->v[b - 1] <= 0x20)
        b--;
    size_t cap;
    if (flm_size_mul(b - a, 3, &cap) || flm_size_add(cap, 1, &cap))
        return NULL;
    char *o = malloc(cap); /* each unit -> at most 3 bytes; a pair -> 4 */
    if (o == NULL)
        return NULL;
    size_t n = 0;
    for (size_t i = a; i < b; i++) {
        uint32_t cp = u->v[i];
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < b && u->v[i + 1] >= 0xDC00 &&
            u->v[i + 1] <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (u->v[i + 1] - 0xDC00u);
            i++;
        } else if ((cp >= 0xD800 && cp <= 0xDFFF) || cp == 0) {
            cp = 0xFFFD;
        }
        n += utf8_put(o + n, cp);
    }
    o[n] = '\0';
    return o;
}

/* Splits logical line lb[0..L) into key and value regions as Java's
 * Properties.load0 does. */
static void split_line(const uint8_t *lb, size_t L, size_t *key_len, size_t *val_start)
{
    size_t k = 0, vs = L;
    bool has_sep = false, prec_bs = false;
    while (k < L) {
        uint8_t c = lb[k];
        if ((c == '=' || c == ':') && !prec_bs) {
            vs = k + 1;
            has_sep = true;
            break;
        }
        if (is_ws(c) && !prec_bs) {
            vs = k + 1;
            break;
        }
        prec_bs = (c == '\\') ? !prec_bs : false;
        k++;
    }
    while (vs < L) {
        uint8_t c = lb[vs];
        if (!is_ws(c)) {
            if (!has_sep && (c == '=' || c == ':'))
                has_sep = true;
            else
                break;
        }
        vs++;
    }
    *key_len = k;
    *val_start = vs;
}

int flm_properties_parse(const char *text, size_t len, const char *file, struct flm_kvs *out,
                         struct flm_err *err)
{
    struct lreader r = {.s = (const uint8_t *)text, .n = text ? len : 0, .line = 1};
    struct u16s ku = {0}, vu = {0};
    int rc = FLM_OK;
    for (;;) {
        int got = lr_read(&r);
        if (got < 0) {
            rc = flm_err_set(err, FLM_ENOMEM, "%s: out of memory while parsing",
                             file ? file : "<config>");
            break;
        }
        if (got == 0)
            break;
        size_t klen, vstart, bad = 0;
        split_line(r.lb, r.ln, &klen, &vstart);
        int erc = unescape(r.lb, klen, &ku, &bad);
        if (erc == FLM_OK) {
            erc = unescape(r.lb + vstart, r.ln - vstart, &vu, &bad);
            bad += vstart;
        }
        if (erc == FLM_ERR) {
            rc = flm_err_set(err, FLM_ERR, "%s:%d: malformed \\uxxxx encoding",
                             file ? file : "<config>", lr_line_of(&r, bad));
            break;
        }
        char *k = NULL, *v = NULL;
        if (erc == FLM_OK) {
            k = trim_to_utf8(&ku);
            v = trim_to_utf8(&vu);
        }
        if (k == NULL || v == NULL ||
            flm_kvs_set(out, k, v, file, r.nseg ? r.segs[0].line : r.line) != FLM_OK) {
            free(k);
            free(v);
            rc = flm_err_set(err, FLM_ENOMEM, "%s: out of memory while parsing",
                             file ? file : "<config>");
            break;
        }
        free(k);
        free(v);
    }
    free(r.lb);
    free(r.segs);
    free(ku.v);
    free(vu.v);
    if (rc != FLM_OK) {
        if (err != NULL)
            err->sys = 0;
        flm_kvs_free(out); /* Java rejects the whole file */
    }
    return rc;
}

/* ---------------------------------------------------------------------- */
/* 3. Files                                                                 */
/* ---------------------------------------------------------------------- */

#define PROPS_MAX_FILE ((size_t)64 << 20) /* bytes; larger config files are refused */

static int io_fail(struct flm_err *err, const char *path, const char *what, int sys)
{
    char eb[128];
    const char *es = strerror_r(sys, eb, sizeof(eb)); /* GNU variant (_GNU_SOURCE) */
    int rc = flm_err_set(err, FLM_EIO, "cannot %s %s: %s (errno %d)", what, path, es, sys);
    if (err != NULL)
        err->sys = sys;
    return rc;
}

int flm_properties_load_file(const char *path, struct flm_kvs *out, struct flm_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return io_fail(err, path, "open", errno);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return io_fail(err, path, "stat", e);
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return io_fail(err, path, "read", EISDIR);
    }
    size_t cap = 4096;
    if (S_ISREG(st.st_mode) && st.st_size > 0 && (uintmax_t)st.st_size <= PROPS_MAX_FILE)
        cap = (size_t)st.st_size + 1; /* +1 so EOF is seen without a regrow */
    char *buf = malloc(cap);
    size_t n = 0;
    int rc = FLM_OK;
    while (buf != NULL) {
        if (n == cap) {
            if (cap > PROPS_MAX_FILE) {
                rc = flm_err_set(err, FLM_ERR, "cannot read %s: larger than the %zu MiB limit",
                                 path, PROPS_MAX_FILE >> 20);
                if (err != NULL)
                    err->sys = 0;
                break;
            }
            size_t nc = cap * 2 > PROPS_MAX_FILE + 1 ? PROPS_MAX_FILE + 1 : cap * 2;
            char *nb = realloc(buf, nc);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap = nc;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            rc = io_fail(err, path, "read", errno);
            break;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    if (buf == NULL) {
        rc = flm_err_set(err, FLM_ENOMEM, "cannot read %s: out of memory", path);
        if (err != NULL)
            err->sys = ENOMEM;
        return rc;
    }
    if (rc == FLM_OK) {
        const char *file = flm_intern(path);
        rc = file == NULL ? flm_err_set(err, FLM_ENOMEM, "cannot read %s: out of memory", path)
                          : flm_properties_parse(buf, n, file, out, err);
    }
    free(buf);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* 4. ${...} interpolation                                                  */
/* ---------------------------------------------------------------------- */

#define INTERP_MAX_DEPTH 32       /* nested references / names */
#define INTERP_MAX_OUT (1u << 20) /* bytes of one interpolated value */
#define INTERP_MAX_LOOKUPS 10000u /* lookups for one top-level value */

struct interp {
    const struct flm_kvs *kvs;               /* ${NAME} source; may be NULL */
    const struct flm_interp_ctx *ctx;        /* may be NULL */
    const char *prior[INTERP_MAX_DEPTH + 1]; /* names being expanded (cycle check) */
    size_t nprior;
    unsigned lookups;
};

static char *date_lookup(const char *pattern);

static const char *interp_getenv(const struct interp *ip, const char *name)
{
    if (ip->ctx != NULL && ip->ctx->getenv_fn != NULL)
        return ip->ctx->getenv_fn(name, ip->ctx->arg);
    return getenv(name);
}

/* Commons Text interpolator lookup: "prefix:name" tries that lookup, and on
 * no answer (or an unknown prefix) falls back to the default lookup of
 * `name`; the default lookup is the config key, then (env_fallback) the
 * environment.  Returns a malloc'd value, or NULL (unresolved or ENOMEM:
 * *oom tells which). */
static char *interp_resolve(struct interp *ip, const char *var, bool *oom)
{
    const char *colon = strchr(var, ':');
    const char *found = NULL;
    if (colon != NULL) {
        size_t pl = (size_t)(colon - var);
        const char *name = colon + 1;
        if (pl == 3 && strncasecmp(var, "env", 3) == 0) {
            found = interp_getenv(ip, name);
        } else if (pl == 3 && strncasecmp(var, "sys", 3) == 0) {
            if (ip->ctx != NULL && ip->ctx->sys != NULL)
                found = flm_kvs_get(ip->ctx->sys, name);
        } else if (pl == 4 && strncasecmp(var, "date", 4) == 0) {
            char *d = date_lookup(name);
            if (d != NULL)
                return d;
        }
        if (found == NULL)
            var = name;
    }
    if (found == NULL && ip->kvs != NULL)
        found = flm_kvs_get(ip->kvs, var);
    if (found == NULL && ip->ctx != NULL && ip->ctx->env_fallback)
        found = interp_getenv(ip, var);
    if (found == NULL)
        return NULL;
    char *r = strdup(found);
    if (r == NULL)
        *oom = true;
    return r;
}

static bool is_prefix_at(const char *s, size_t len, size_t i)
{
    return i + 1 < len && s[i] == '$' && s[i + 1] == '{';
}

/*
 * Appends the interpolation of s[0..len) to out (StringSubstitutor.substitute
 * over one region).  Returns FLM_OK, FLM_ENOMEM, or FLM_EFULL when a limit
 * (size, lookups) is hit; the caller then keeps the value as written.
 */
static int interp_run(struct interp *ip, const char *s, size_t len, struct flm_buf *out, int depth)
{
    size_t seg = out->len; /* escapes look back only inside this region */
    size_t pos = 0;
    int rc;
    while (pos < len) {
        if (!is_prefix_at(s, len, pos)) {
            const char *d = memchr(s + pos + 1, '$', len - pos - 1);
            size_t next = d ? (size_t)(d - s) : len;
            if ((rc = flm_buf_append(out, s + pos, next - pos)) != FLM_OK)
                return rc;
            pos = next;
            continue;
        }
        if (out->len > seg && out->p[out->len - 1] == '$') {
            /* "$${": the '$' already written is the escape and stands for
             * this one; "{..." continues as plain text. */
            pos++;
            continue;
        }
        /* Find the matching '}', counting nested "${". */
        size_t p = pos + 2;
        int nested = 0;
        bool closed = false;
        while (p < len) {
            if (is_prefix_at(s, len, p)) {
                nested++;
                p += 2;
                continue;
            }
            if (s[p] == '}') {
                if (nested == 0) {
                    closed = true;
                    break;
                }
                nested--;
            }
            p++;
        }
        if (!closed) /* no end marker: the rest is plain text */
            return flm_buf_append(out, s + pos, len - pos);
        size_t end = p + 1;
        if (depth >= INTERP_MAX_DEPTH) {
            if ((rc = flm_buf_append(out, s + pos, end - pos)) != FLM_OK)
                return rc;
            pos = end;
            continue;
        }
        /* Variable names are themselves interpolated first. */
        struct flm_buf nb;
        flm_buf_init(&nb, INTERP_MAX_OUT);
        rc = interp_run(ip, s + pos + 2, p - (pos + 2), &nb, depth + 1);
        if (rc == FLM_OK)
            rc = flm_buf_append(&nb, "", 1);
        if (rc != FLM_OK) {
            flm_buf_free(&nb);
            return rc;
        }
        char *name = (char *)nb.p;
        const char *def = NULL;
        char *delim = strstr(name, ":-");
        if (delim != NULL) {
            *delim = '\0';
            def = delim + 2;
        }
        bool cycle = false;
        for (size_t i = 0; i < ip->nprior; i++)
            if (strcmp(ip->prior[i], name) == 0)
                cycle = true;
        char *val = NULL;
        bool oom = false;
        if (!cycle) {
            if (++ip->lookups > INTERP_MAX_LOOKUPS) {
                flm_buf_free(&nb);
                return FLM_EFULL;
            }
            val = interp_resolve(ip, name, &oom);
            if (val == NULL && def != NULL && !oom) {
                val = strdup(def);
                oom = (val == NULL);
            }
        }
        if (oom) {
            flm_buf_free(&nb);
            return FLM_ENOMEM;
        }
        if (val != NULL) {
            /* The value (or default) is interpolated in turn, with this
             * name on the stack so a cycle stops. */
            ip->prior[ip->nprior++] = name;
            rc = interp_run(ip, val, strlen(val), out, depth + 1);
            ip->nprior--;
            free(val);
        } else {
            rc = flm_buf_append(out, s + pos, end - pos); /* unresolved: as written */
        }
        flm_buf_free(&nb);
        if (rc != FLM_OK)
            return rc;
        pos = end;
    }
    return FLM_OK;
}

/* Interpolates s; *out is malloc'd (a copy of s when a limit was hit).
 * Returns FLM_OK or FLM_ENOMEM. */
static int interp_value(const char *s, const struct flm_kvs *kvs, const struct flm_interp_ctx *ctx,
                        char **out)
{
    struct interp ip = {.kvs = kvs, .ctx = ctx};
    struct flm_buf b;
    flm_buf_init(&b, INTERP_MAX_OUT);
    *out = NULL;
    int rc = interp_run(&ip, s, strlen(s), &b, 0);
    if (rc == FLM_OK)
        rc = flm_buf_append(&b, "", 1);
    if (rc == FLM_OK) {
        *out = (char *)b.p;
        return FLM_OK;
    }
    flm_buf_free(&b);
    if (rc != FLM_EFULL)
        return FLM_ENOMEM;
    *out = strdup(s);
    return *out ? FLM_OK : FLM_ENOMEM;
}

char *flm_interpolate_str(const char *s, const struct flm_kvs *kvs,
                          const struct flm_interp_ctx *ctx)
{
    char *r;
    return interp_value(s, kvs, ctx, &r) == FLM_OK ? r : NULL;
}

int flm_interpolate(struct flm_kvs *kvs, const struct flm_interp_ctx *ctx)
{
    if (kvs->n == 0)
        return FLM_OK;
    /* Every value is computed from the values as written before any is
     * replaced, so the order of keys cannot change a result. */
    char **nv = calloc(kvs->n, sizeof(*nv));
    if (nv == NULL)
        return FLM_ENOMEM;
    for (size_t i = 0; i < kvs->n; i++) {
        if (interp_value(kvs->v[i].val, kvs, ctx, &nv[i]) != FLM_OK) {
            for (size_t j = 0; j < i; j++)
                free(nv[j]);
            free(nv);
            return FLM_ENOMEM;
        }
    }
    for (size_t i = 0; i < kvs->n; i++) {
        free(kvs->v[i].val);
        kvs->v[i].val = nv[i];
    }
    free(nv);
    return FLM_OK;
}

/* ---------------------------------------------------------------------- */
/* 5. ${date:PATTERN}                                                       */
/* ---------------------------------------------------------------------- */

static const char *const month_names[12] = {"January",   "February", "March",    "April",
                                            "May",       "June",     "July",     "August",
                                            "September", "October",  "November", "December"};
static const char *const day_names[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                         "Thursday", "Friday", "Saturday"};

static int put_num(struct flm_buf *b, long long v, int width)
{
    if (width > 32)
        width = 32;
    return flm_buf_printf(b, "%0*lld", width, v);
}

static int put_text(struct flm_buf *b, const char *full, int count)
{
    return flm_buf_append(b, full, count >= 4 ? strlen(full) : 3);
}

/* One run of `count` pattern letter `c`; FLM_ERR for a letter we do not
 * support (Java would reject unknown ones; we leave the reference as is). */
static int date_field(struct flm_buf *b, char c, int count, const struct tm *tm, long ms)
{
    switch (c) {
    case 'y': {
        long long y = (long long)tm->tm_year + 1900;
        return count == 2 ? put_num(b, y % 100, 2) : put_num(b, y, count);
    }
    case 'M':
        if (count >= 3)
            return put_text(b, month_names[tm->tm_mon], count);
        return put_num(b, tm->tm_mon + 1, count);
    case 'd':
        return put_num(b, tm->tm_mday, count);
    case 'D':
        return put_num(b, tm->tm_yday + 1, count);
    case 'H':
        return put_num(b, tm->tm_hour, count);
    case 'k':
        return put_num(b, tm->tm_hour == 0 ? 24 : tm->tm_hour, count);
    case 'K':
        return put_num(b, tm->tm_hour % 12, count);
    case 'h':
        return put_num(b, tm->tm_hour % 12 == 0 ? 12 : tm->tm_hour % 12, count);
    case 'm':
        return put_num(b, tm->tm_min, count);
    case 's':
        return put_num(b, tm->tm_sec, count);
    case 'S':
        return put_num(b, ms, count);
    case 'E':
        return put_text(b, day_names[tm->tm_wday], count);
    case 'u':
        return put_num(b, tm->tm_wday == 0 ? 7 : tm->tm_wday, count);
    case 'a':
        return flm_buf_append(b, tm->tm_hour < 12 ? "AM" : "PM", 2);
    case 'z': {
        const char *z = tm->tm_zone ? tm->tm_zone : "UTC";
        return flm_buf_append(b, z, strlen(z));
    }
    case 'Z': {
        long off = tm->tm_gmtoff / 60;
        char sign = off < 0 ? '-' : '+';
        if (off < 0)
            off = -off;
        return flm_buf_printf(b, "%c%02ld%02ld", sign, off / 60, off % 60);
    }
    default:
        return FLM_ERR;
    }
}

/* Formats the current local time with a SimpleDateFormat pattern ('...'
 * quoting, '' = quote).  Returns a malloc'd string, or NULL when the
 * pattern is not supported or on ENOMEM. */
static char *date_lookup(const char *pattern)
{
    struct timespec ts;
    struct tm tm;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || localtime_r(&ts.tv_sec, &tm) == NULL)
        return NULL;
    long ms = ts.tv_nsec / 1000000;
    struct flm_buf b;
    flm_buf_init(&b, 4096);
    int rc = FLM_OK;
    for (size_t i = 0; pattern[i] != '\0' && rc == FLM_OK;) {
        char c = pattern[i];
        if (c == '\'') {
            if (pattern[i + 1] == '\'') {
                rc = flm_buf_append(&b, "'", 1);
                i += 2;
                continue;
            }
            size_t j = i + 1;
            for (;;) {
                if (pattern[j] == '\0') {
                    rc = FLM_ERR; /* unterminated quote */
                    break;
                }
                if (pattern[j] == '\'') {
                    if (pattern[j + 1] == '\'') {
                        rc = flm_buf_append(&b, "'", 1);
                        j += 2;
                        continue;
                    }
                    break;
                }
                rc = flm_buf_append(&b, &pattern[j], 1);
                j++;
                if (rc != FLM_OK)
                    break;
            }
            if (rc != FLM_OK)
                break; /* j may be at the terminating NUL: never step past it */
            i = j + 1;
            continue;
        }
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            int count = 0;
            while (pattern[i] == c) {
                count++;
                i++;
            }
            rc = date_field(&b, c, count, &tm, ms);
            continue;
        }
        rc = flm_buf_append(&b, &c, 1);
        i++;
    }
    if (rc == FLM_OK)
        rc = flm_buf_append(&b, "", 1);
    if (rc != FLM_OK) {
        flm_buf_free(&b);
        return NULL;
    }
    return (char *)b.p;
}

/* ---------------------------------------------------------------------- */
/* 6. Config-filter references                                              */
/* ---------------------------------------------------------------------- */

static bool is_filter_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* Matches ${<name>[<q><key><q>]} at s; on success sets the name and key
 * spans and returns the match length, else 0.  A filter name is any run of
 * characters other than whitespace, '[', ']', '{', '}' and '$' (filter names
 * come from a whitespace-separated list). */
static size_t filter_match(const char *s, size_t *nlen, const char **key, size_t *klen)
{
    if (s[0] != '$' || s[1] != '{')
        return 0;
    size_t i = 2;
    while (s[i] != '\0' && strchr(" \t\n\r\f\v[]{}$", s[i]) == NULL)
        i++;
    if (i == 2 || s[i] != '[')
        return 0;
    *nlen = i - 2;
    i++;
    char q = (s[i] == '\'' || s[i] == '"') ? s[i] : '\0';
    if (q != '\0')
        i++;
    size_t ks = i;
    while (is_filter_key_char(s[i]))
        i++;
    if (i == ks)
        return 0;
    *key = s + ks;
    *klen = i - ks;
    if (q != '\0') {
        if (s[i] != q)
            return 0;
        i++;
    }
    if (s[i] != ']' || s[i + 1] != '}')
        return 0;
    return i + 2;
}

char *flm_filter_substitute(const char *s,
                            char *(*lookup)(const char *filter, const char *key, void *arg),
                            void *arg)
{
    struct flm_buf b;
    flm_buf_init(&b, (size_t)-1);
    size_t i = 0, lit = 0; /* s[lit..i) is literal text not yet copied */
    int rc = FLM_OK;
    while (s[i] != '\0' && rc == FLM_OK) {
        size_t nlen, klen;
        const char *key;
        size_t m = s[i] == '$' ? filter_match(s + i, &nlen, &key, &klen) : 0;
        if (m == 0) {
            i++;
            continue;
        }
        char *name = strndup(s + i + 2, nlen);
        char *k = strndup(key, klen);
        char *val = (name && k) ? lookup(name, k, arg) : NULL;
        if (name == NULL || k == NULL)
            rc = FLM_ENOMEM;
        free(name);
        free(k);
        if (val != NULL) {
            rc = flm_buf_append(&b, s + lit, i - lit);
            if (rc == FLM_OK)
                rc = flm_buf_append(&b, val, strlen(val));
            free(val);
            lit = i + m;
        }
        i += m; /* an unresolved match is kept as written */
    }
    if (rc == FLM_OK)
        rc = flm_buf_append(&b, s + lit, strlen(s + lit) + 1);
    if (rc != FLM_OK) {
        flm_buf_free(&b);
        return NULL;
    }
    return (char *)b.p;
}
