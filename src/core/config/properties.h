/*
 * properties.h - java.util.Properties text parsing and Flume 1.10+ value
 * interpolation (spec/config.md sections 1 and 5a).  Pure functions over
 * buffers: no I/O except flm_properties_load_file, so they are fuzzable.
 */
#ifndef FLM_PROPERTIES_H
#define FLM_PROPERTIES_H

#include "core/err.h"
#include "core/kv.h"

#include <stddef.h>

/*
 * Parses properties text exactly as java.util.Properties.load(InputStream):
 * ISO-8859-1 bytes, \n \r \r\n line ends, '#'/'!' comment lines, odd-backslash
 * continuation, key ends at the first unescaped '=' ':' or whitespace, escapes
 * \t \n \r \f \uXXXX and "\x -> x".  Then, as Flume does, key and value are
 * trimmed with Java's String.trim() (every char <= U+0020 at both ends).
 * Output strings are UTF-8 (Latin-1 bytes map to U+0000..U+00FF; \uXXXX
 * surrogate pairs combine; a lone surrogate becomes U+FFFD).
 * Pairs are set into out with flm_kvs_set (last wins, keeping the later line);
 * `file` (interned by the caller) and the 1-based line of the key's first
 * physical line are recorded.  Empty values are kept (the validator warns).
 * FLM_ERR with err->msg "file:line: malformed \uxxxx encoding" on a bad
 * \u escape: Java rejects the whole file, and so do we (out is then emptied).
 */
int flm_properties_parse(const char *text, size_t len, const char *file, struct flm_kvs *out,
                         struct flm_err *err);

/* Reads path and parses it into out (merging: later files override earlier
 * keys).  FLM_EIO with err naming the path and errno when unreadable. */
int flm_properties_load_file(const char *path, struct flm_kvs *out, struct flm_err *err);

/* Where ${...} lookups come from. */
struct flm_interp_ctx {
    const struct flm_kvs *sys;   /* -Dk=v system properties, for ${sys:k} */
    /* Environment lookup; NULL means getenv. Returns a borrowed string or NULL. */
    const char *(*getenv_fn)(const char *name, void *arg);
    void *arg;
    int env_fallback;            /* -DpropertiesImplementation=...EnvVarResolverProperties */
};

/*
 * Applies Flume 1.10+ ${...} interpolation to every value of kvs in place
 * (keys untouched): ${env:NAME}, ${sys:NAME}, ${date:PATTERN} (Java
 * SimpleDateFormat letters yMdHhmsSEaz subset), ${NAME} = value of config key
 * NAME (or of env NAME when env_fallback), ${x:-default}, $${x} = literal
 * ${x}, nesting ${${x}}.  Unresolvable references are left unchanged.
 * Recursion is bounded (a reference cycle is left unresolved).
 */
int flm_interpolate(struct flm_kvs *kvs, const struct flm_interp_ctx *ctx);

/* Interpolates one string (the same rules); returns a malloc'd result or NULL
 * on ENOMEM.  kvs supplies ${NAME} config keys (may be NULL). */
char *flm_interpolate_str(const char *s, const struct flm_kvs *kvs,
                          const struct flm_interp_ctx *ctx);

/*
 * Config-filter references: replaces every ${<filter>[<q><key><q>]} in s
 * (q is ', " or nothing, the same on both sides; key [-_a-zA-Z0-9]+) for
 * which lookup(filter, key, arg) returns a malloc'd value; others are left as
 * is.  Returns a malloc'd string (a copy when nothing matched) or NULL on
 * ENOMEM.
 */
char *flm_filter_substitute(const char *s,
                            char *(*lookup)(const char *filter, const char *key, void *arg),
                            void *arg);

#endif
