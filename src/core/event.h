/*
 * event.h - the flumen event: string headers plus a byte body.
 *
 * Ownership and lifetime rules (STYLE.md 3.6), binding on every component:
 *  1. An event is ONE allocation (struct, header table, header strings and
 *     body), created by flm_event_new/_dup and released only by flm_event_free.
 *  2. Ownership moves only on success: a call documented "takes ev on FLM_OK"
 *     leaves ev with the caller on any error.  Borrowed inputs are const and
 *     never kept after the call.
 *  3. Transactions own what is in flight: a taken event belongs to its
 *     transaction until commit (then to the taker, who frees it) or rollback
 *     (then back in the channel, in order).  A sink never frees a taken event
 *     before commit.
 *  4. Header keys are unique (a map, as in Flume); their order is insertion
 *     order.  Strings are NUL-terminated UTF-8.  The body is NUL-terminated
 *     too (not counted in body_len) so text sinks may treat it as a C string.
 */
#ifndef FLM_EVENT_H
#define FLM_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct flm_hdr {
    const char *key;
    const char *val;
    uint32_t klen;   /* bytes, excluding NUL */
    uint32_t vlen;
};

struct flm_event {
    uint32_t nhdr;
    uint32_t body_len;   /* bytes */
    uint8_t *body;       /* points inside this allocation */
    uint32_t hcap;       /* slots in hdr[] (>= nhdr); spare slots let headers be added in place */
    uint32_t used;       /* bytes of the block in use; strings added later go here */
    uint32_t size;       /* bytes of the whole block */
    struct flm_hdr hdr[];
};

/* New event from a borrowed body and header array (NULL/0 for none).  Duplicate
 * keys in hdrs: the last one wins.  NULL on ENOMEM or a body over 4 GiB. */
struct flm_event *flm_event_new(const void *body, size_t len, const struct flm_hdr *hdrs,
                                size_t nhdr);
/* Like flm_event_new, with room for `slots` more headers whose keys and values
 * (each NUL-terminated) take up to `bytes` bytes in total, so that
 * flm_event_set_header can add them in place (no rebuild, *ev does not
 * move).  Sources pass what flm_processor_header_room() returns; 0, 0 is
 * exactly flm_event_new.  NULL on ENOMEM or when the block would exceed
 * 4 GiB. */
struct flm_event *flm_event_new_room(const void *body, size_t len, const struct flm_hdr *hdrs,
                                     size_t nhdr, size_t slots, size_t bytes);
struct flm_event *flm_event_dup(const struct flm_event *ev);
void flm_event_free(struct flm_event *ev);

/* Value of header key, or NULL. */
const char *flm_event_header(const struct flm_event *ev, const char *key);
/* The same with the key's length given (per-event lookups with a fixed key
 * skip the strlen); *vlen (when not NULL) receives the value's length. */
const char *flm_event_header_n(const struct flm_event *ev, const char *key, size_t klen,
                               size_t *vlen);

/* Sets (replaces) a header.  In place when the block has room (a spare header
 * slot and spare bytes at its end); otherwise the block is rebuilt once with
 * room for a few more headers, so a chain of header interceptors costs one
 * rebuild per event, not one each: *ev may move.  On FLM_ENOMEM *ev is
 * unchanged and still valid. */
int flm_event_set_header(struct flm_event **ev, const char *key, const char *val);
/* The same with both lengths given. */
int flm_event_set_header_n(struct flm_event **ev, const char *key, size_t klen, const char *val,
                           size_t vlen);

/*
 * A header template: a few headers prepared once (keys distinct) and then
 * added to many events with one copy each (the channel processor uses it for
 * a run of interceptors that set the same header value on every event of a
 * batch).  Fixed size, no allocation; fill with flm_hdr_tmpl_reset/_add.
 */
#define FLM_TMPL_MAX_HDRS 8
#define FLM_TMPL_MAX_BYTES 512
struct flm_hdr_tmpl {
    uint32_t n;
    uint32_t nbytes;                      /* bytes of strings[] in use */
    uint32_t klen[FLM_TMPL_MAX_HDRS], vlen[FLM_TMPL_MAX_HDRS];
    uint32_t koff[FLM_TMPL_MAX_HDRS];     /* key i at strings + koff[i]; its value follows */
    char strings[FLM_TMPL_MAX_BYTES];     /* "key\0val\0" for each header, in order */
};
void flm_hdr_tmpl_reset(struct flm_hdr_tmpl *t);
/* Appends key = val.  false (t unchanged) when t is full or already has key. */
bool flm_hdr_tmpl_add(struct flm_hdr_tmpl *t, const char *key, size_t klen, const char *val,
                      size_t vlen);
/* Adds every header of t to ev in place, after its own, when ev has none of
 * t's keys and room for all of them (flm_event_new_room).  Returns false and
 * leaves ev unchanged otherwise: the caller then sets them one by one. */
bool flm_event_add_tmpl(struct flm_event *ev, const struct flm_hdr_tmpl *t);
/* Removes a header if present (in place; never allocates). */
void flm_event_remove_header(struct flm_event *ev, const char *key);

/* Bytes the event occupies (for byte accounting and RSS estimates). */
size_t flm_event_size(const struct flm_event *ev);

/* Byte equality for header keys and values: most are a few bytes long, where
 * two overlapping word loads beat a call into libc's memcmp or a byte loop
 * (measured on the routing benchmark). */
static inline bool flm_bytes_eq(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    if (n > 16)
        return memcmp(x, y, n) == 0;
    if (n >= 8) {
        uint64_t x0, y0, x1, y1;
        memcpy(&x0, x, 8);
        memcpy(&y0, y, 8);
        memcpy(&x1, x + n - 8, 8);
        memcpy(&y1, y + n - 8, 8);
        return ((x0 ^ y0) | (x1 ^ y1)) == 0;
    }
    if (n >= 4) {
        uint32_t x0, y0, x1, y1;
        memcpy(&x0, x, 4);
        memcpy(&y0, y, 4);
        memcpy(&x1, x + n - 4, 4);
        memcpy(&y1, y + n - 4, 4);
        return ((x0 ^ y0) | (x1 ^ y1)) == 0;
    }
    return n == 0 || (x[0] == y[0] && x[n / 2] == y[n / 2] && x[n - 1] == y[n - 1]);
}

/* Convenience: a headers-from-strings initialiser for tests and sources. */
static inline struct flm_hdr flm_hdr_str(const char *k, const char *v);

static inline struct flm_hdr flm_hdr_str(const char *k, const char *v)
{
    struct flm_hdr h = {k, v, (uint32_t)strlen(k), (uint32_t)strlen(v)};
    return h;
}

#endif
