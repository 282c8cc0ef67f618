/*
 * jregex.h - Java (java.util.regex) patterns compiled with PCRE2 for the
 * interceptors, and the Java replacement-string syntax of replaceAll().
 * Config-time functions; the compiled code is then read-only and may be
 * matched from one thread per match-data block.
 */
#ifndef FLM_JREGEX_H
#define FLM_JREGEX_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdbool.h>
#include <stddef.h>

enum {
    FLM_JRX_UTF = 1u << 0,   /* subject is UTF-8 (invalid bytes never match a char class) */
};

/*
 * Checks pattern for constructs Java and PCRE2 read differently (see the
 * list at the top of jregex.c), translates the Java-only escapes it can
 * (\uHHHH), and compiles it with Java's line terminators for '.', '$' and
 * '\Z' and JIT when available.  FLM_OK with *out set, or FLM_ERR with a
 * one-sentence reason in why (a Java construct we reject, or PCRE2's message
 * with the offset).  The caller frees *out with pcre2_code_free.
 */
int flm_jregex_compile(const char *pattern, unsigned flags, pcre2_code **out, char *why,
                       size_t cap);

/* One piece of a parsed Java replacement string. */
struct flm_jrepl_part {
    const char *lit;          /* literal bytes (owned by the parsed replacement) or NULL */
    size_t len;
    int group;                /* group number when lit == NULL */
};

struct flm_jrepl {
    struct flm_jrepl_part *v;
    size_t n;
    char *buf;                /* storage for the literals */
};

/* Parses a Matcher.replaceAll replacement: "\x" is a literal x, "$n" a
 * group (more digits are taken while the number stays a valid group, as
 * Java), "${name}" a named group.  What Java would reject when the first
 * event arrives (a missing group, "$" without a group, a trailing "\") is an
 * error here, at config time.  FLM_OK / FLM_ERR (why set) / FLM_ENOMEM. */
int flm_jrepl_parse(const char *repl, const pcre2_code *re, struct flm_jrepl *out, char *why,
                    size_t cap);
void flm_jrepl_free(struct flm_jrepl *r);

#endif
