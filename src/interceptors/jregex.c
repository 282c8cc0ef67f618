/*
 * jregex.c - Java regular expressions on PCRE2, for the interceptors that
 * take a regex (remove_header, search_replace, regex_filter,
 * regex_extractor).  Runs at config time on the main thread; owns nothing
 * after it returns.
 *
 * Flume compiles these with java.util.regex.  PCRE2 reads most of that syntax
 * the same way; where it would silently match something else we reject the
 * pattern at config time, naming the construct (docs/compatibility.md):
 *   - '[' inside a character class: Java nests/unions classes ("[a[bc]]") and
 *     has no POSIX brackets ("[[:alpha:]]" is a class of ':', 'a', ... in
 *     Java, the letters in PCRE2);
 *   - "&&" inside a class: Java's intersection, literal '&'s in PCRE2;
 *   - '{' that does not start a quantifier {n}, {n,} or {n,m}: an error in
 *     Java ("Illegal repetition"), a literal in PCRE2 (so "{,3}" too);
 *   - inline flags U (Java: Unicode classes; PCRE2: ungreedy), x (Java
 *     ignores white space inside classes too), d and u (no PCRE2 equivalent);
 *   - "\N" (PCRE2: not-newline; Java 9: a named character).
 * Translated: "\uHHHH" becomes "\x{HHHH}".  Made Java-like through options:
 * '.', '$' and '\Z' use Java's line terminators (\n \r \r\n \x85 \u2028
 * \u2029: PCRE2_NEWLINE_ANY).  Known, accepted differences: case-insensitive
 * matching of non-ASCII letters ((?i) is ASCII-only in Java without (?u));
 * '\b' counts only ASCII letters and digits as word characters (Java: all
 * Unicode letters and digits); Java-only property names (\p{javaLowerCase},
 * \p{IsAlphabetic}, \p{Lower} ...) are rejected by PCRE2 with its message.
 */
#include "interceptors/jregex.h"

#include "core/err.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int jrx_fail(char *why, size_t cap, const char *fmt, size_t off, const char *what)
{
    char msg[200];
    snprintf(msg, sizeof(msg), fmt, what);
    snprintf(why, cap, "%s (at offset %zu)", msg, off);
    return FLM_ERR;
}

/* True when p[0] == '{' starts {n}, {n,} or {n,m}; *end = index after '}'. */
static bool jrx_quantifier(const char *p, size_t *end)
{
    size_t i = 1;
    if (!isdigit((unsigned char)p[i]))
        return false;
    while (isdigit((unsigned char)p[i]))
        i++;
    if (p[i] == ',') {
        i++;
        while (isdigit((unsigned char)p[i]))
            i++;
    }
    if (p[i] != '}')
        return false;
    *end = i + 1;
    return true;
}

/* Checks and translates pattern into out (capacity >= 2 * strlen + 1). */
static int jrx_translate(const char *p, char *out, char *why, size_t cap)
{
    size_t i = 0, o = 0;
    bool in_class = false;
    while (p[i] != '\0') {
        char c = p[i];
        if (c == '\\') {
            char n = p[i + 1];
            if (n == 'Q') { /* quoted until \E or the end: copied as is */
                const char *e = strstr(p + i + 2, "\\E");
                size_t len = e ? (size_t)(e - (p + i)) + 2 : strlen(p + i);
                memcpy(out + o, p + i, len);
                o += len;
                i += len;
                continue;
            }
            if (n == 'u') {
                for (int k = 2; k < 6; k++)
                    if (!isxdigit((unsigned char)p[i + k]))
                        return jrx_fail(why, cap, "%s", i, "\\u needs four hex digits");
                o += (size_t)snprintf(out + o, 12, "\\x{%.4s}", p + i + 2);
                i += 6;
                continue;
            }
            if (n == 'N')
                return jrx_fail(why, cap, "%s", i,
                                "\\N means something else in PCRE2 than in Java; not supported");
            if (n == '\0') {
                out[o++] = c;
                i++;
                continue;
            }
            out[o++] = c;
            out[o++] = n;
            i += 2;
            /* \p{..} \P{..} \x{..}: the braces belong to the escape. */
            if ((n == 'p' || n == 'P' || n == 'x') && p[i] == '{') {
                while (p[i] != '\0' && p[i] != '}')
                    out[o++] = p[i++];
                if (p[i] == '}')
                    out[o++] = p[i++];
            }
            continue;
        }
        if (in_class) {
            if (c == '[')
                return jrx_fail(why, cap, "%s", i,
                                "'[' inside a character class (Java nests classes there, "
                                "PCRE2 does not; escape it as \\[)");
            if (c == '&' && p[i + 1] == '&')
                return jrx_fail(why, cap, "%s", i,
                                "'&&' class intersection is Java-only (PCRE2 reads literal '&')");
            if (c == ']')
                in_class = false;
            out[o++] = c;
            i++;
            continue;
        }
        if (c == '[') {
            in_class = true;
            out[o++] = p[i++];
            if (p[i] == '^')
                out[o++] = p[i++];
            if (p[i] == ']') /* a ']' first in a class is a literal in both */
                out[o++] = p[i++];
            continue;
        }
        if (c == '{') {
            size_t end;
            if (!jrx_quantifier(p + i, &end))
                return jrx_fail(why, cap, "%s", i,
                                "'{' that is not a quantifier {n}, {n,} or {n,m} (Java rejects "
                                "it; escape it as \\{)");
            memcpy(out + o, p + i, end);
            o += end;
            i += end;
            continue;
        }
        if (c == '(' && p[i + 1] == '?') {
            size_t j = i + 2;
            while (isalpha((unsigned char)p[j]) || p[j] == '-')
                j++;
            if (j > i + 2 && (p[j] == ')' || p[j] == ':')) {
                for (size_t k = i + 2; k < j; k++) {
                    const char *bad = NULL;
                    switch (p[k]) {
                    case 'U': bad = "inline flag U (Java: Unicode classes; PCRE2: ungreedy)"; break;
                    case 'x': bad = "inline flag x (Java's comments mode differs in classes)"; break;
                    case 'd': bad = "inline flag d (Java UNIX_LINES) is not supported"; break;
                    case 'u': bad = "inline flag u (Java UNICODE_CASE) is not supported"; break;
                    default: break;
                    }
                    if (bad != NULL)
                        return jrx_fail(why, cap, "%s", k, bad);
                }
            }
        }
        out[o++] = c;
        i++;
    }
    out[o] = '\0';
    return FLM_OK;
}

int flm_jregex_compile(const char *pattern, unsigned flags, pcre2_code **out, char *why,
                       size_t cap)
{
    *out = NULL;
    size_t len = strlen(pattern);
    char *tr = malloc(2 * len + 16);
    if (tr == NULL) {
        snprintf(why, cap, "out of memory");
        return FLM_ENOMEM;
    }
    int rc = jrx_translate(pattern, tr, why, cap);
    if (rc != FLM_OK) {
        free(tr);
        return rc;
    }
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (cc == NULL) {
        free(tr);
        snprintf(why, cap, "out of memory");
        return FLM_ENOMEM;
    }
    pcre2_set_newline(cc, PCRE2_NEWLINE_ANY);
    pcre2_set_bsr(cc, PCRE2_BSR_UNICODE);
    uint32_t opts = 0;
    if (flags & FLM_JRX_UTF)
        opts |= PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
    int err;
    PCRE2_SIZE eoff;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)tr, PCRE2_ZERO_TERMINATED, opts, &err, &eoff, cc);
    pcre2_compile_context_free(cc);
    free(tr);
    if (re == NULL) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(err, msg, sizeof(msg));
        snprintf(why, cap, "invalid regex: %s (near offset %zu)", (const char *)msg,
                 (size_t)eoff);
        return FLM_ERR;
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* the interpreter is the fallback */
    *out = re;
    return FLM_OK;
}

void flm_jrepl_free(struct flm_jrepl *r)
{
    free(r->v);
    free(r->buf);
    r->v = NULL;
    r->buf = NULL;
    r->n = 0;
}

int flm_jrepl_parse(const char *repl, const pcre2_code *re, struct flm_jrepl *out, char *why,
                    size_t cap)
{
    uint32_t ngroups = 0;
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &ngroups);
    size_t len = strlen(repl);
    memset(out, 0, sizeof(*out));
    out->buf = malloc(len + 1);
    out->v = calloc(len + 1, sizeof(*out->v));
    if (out->buf == NULL || out->v == NULL) {
        flm_jrepl_free(out);
        snprintf(why, cap, "out of memory");
        return FLM_ENOMEM;
    }
    size_t b = 0;
    struct flm_jrepl_part *lit = NULL;  /* literal being extended */
    for (size_t i = 0; i < len;) {
        char c = repl[i];
        if (c == '\\' || c != '$') {
            if (c == '\\') {
                if (++i == len) {
                    snprintf(why, cap, "character to be escaped is missing (trailing '\\')");
                    goto bad;
                }
                c = repl[i];
            }
            if (lit == NULL) {
                lit = &out->v[out->n++];
                lit->lit = out->buf + b;
                lit->len = 0;
            }
            out->buf[b++] = c;
            lit->len++;
            i++;
            continue;
        }
        /* '$' */
        lit = NULL;
        i++;
        int g;
        if (i < len && repl[i] == '{') {
            const char *e = strchr(repl + i, '}');
            if (e == NULL || e == repl + i + 1) {
                snprintf(why, cap, "named capturing group is missing trailing '}'");
                goto bad;
            }
            char name[128];
            snprintf(name, sizeof(name), "%.*s", (int)(e - (repl + i + 1)), repl + i + 1);
            g = pcre2_substring_number_from_name(re, (PCRE2_SPTR)name);
            if (g < 0) {
                snprintf(why, cap, "No group with name {%s}", name);
                goto bad;
            }
            i = (size_t)(e - repl) + 1;
        } else if (i < len && isdigit((unsigned char)repl[i])) {
            g = repl[i++] - '0';
            if ((uint32_t)g > ngroups) {
                snprintf(why, cap, "No group %d (the regex has %u)", g, ngroups);
                goto bad;
            }
            while (i < len && isdigit((unsigned char)repl[i])) {
                int ng = g * 10 + (repl[i] - '0');
                if ((uint32_t)ng > ngroups)
                    break;
                g = ng;
                i++;
            }
        } else {
            snprintf(why, cap, "Illegal group reference: '$' must be followed by a group "
                               "number or {name} (write \\$ for a literal '$')");
            goto bad;
        }
        out->v[out->n].lit = NULL;
        out->v[out->n++].group = g;
    }
    return FLM_OK;
bad:
    flm_jrepl_free(out);
    return FLM_ERR;
}
