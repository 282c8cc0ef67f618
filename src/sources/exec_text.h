/*
 * exec_text.h - the exec source's text handling, pure functions over
 * buffers (no I/O): Java readLine() line splitting and Java charset
 * re-encoding.  Used by src/sources/exec.c; unit-tested on its own.
 */
#ifndef FLM_EXEC_TEXT_H
#define FLM_EXEC_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum exec_charset { EXEC_CS_UTF8, EXEC_CS_LATIN1, EXEC_CS_ASCII };

typedef int (*exec_line_fn)(void *arg, const char *line, size_t len);

struct exec_lines {
    char *buf;       /* the unfinished line; cap bytes */
    size_t len;      /* bytes in buf */
    size_t cap;      /* max bytes per piece */
    bool utf8;       /* cut long lines on a character boundary */
    bool cr;         /* the last line ended with \r: a leading \n belongs to it */
    uint64_t nsplit; /* long lines cut so far */
};

int flm_exec_charset_parse(const char *name);
int flm_exec_lines_init(struct exec_lines *L, size_t cap, bool utf8);
void flm_exec_lines_reset(struct exec_lines *L);
void flm_exec_lines_free(struct exec_lines *L);
int flm_exec_lines_feed(struct exec_lines *L, const char *p, size_t n, exec_line_fn fn, void *arg);
int flm_exec_lines_finish(struct exec_lines *L, exec_line_fn fn, void *arg);
const char *flm_exec_recode(enum exec_charset cs, const char *in, size_t n, char *out,
                            size_t *olen);

#endif
