/*
 * buf.h - growable byte buffer with a hard cap (STYLE.md 3.6 rule 4).
 * Appends fail with FLM_EFULL past `max` and FLM_ENOMEM on allocation
 * failure; the buffer is then unchanged.  Not thread-safe.
 */
#ifndef FLM_BUF_H
#define FLM_BUF_H

#include <stddef.h>
#include <stdint.h>

struct flm_buf {
    uint8_t *p;
    size_t len, cap, max;
};

void flm_buf_init(struct flm_buf *b, size_t max);
void flm_buf_free(struct flm_buf *b);
int flm_buf_reserve(struct flm_buf *b, size_t extra);
int flm_buf_append(struct flm_buf *b, const void *data, size_t n);
int flm_buf_printf(struct flm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes. */
void flm_buf_consume(struct flm_buf *b, size_t n);

#endif
