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

#include <stddef.h>
#include <stdint.h>

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

/* Sets (replaces) a header.  In place when the block has room (a spare header
 * slot and spare bytes at its end); otherwise the block is rebuilt once with
 * room for a few more headers, so a chain of header interceptors costs one
 * rebuild per event, not one each: *ev may move.  On FLM_ENOMEM *ev is
 * unchanged and still valid. */
int flm_event_set_header(struct flm_event **ev, const char *key, const char *val);
/* Removes a header if present (in place; never allocates). */
void flm_event_remove_header(struct flm_event *ev, const char *key);

/* Bytes the event occupies (for byte accounting and RSS estimates). */
size_t flm_event_size(const struct flm_event *ev);

/* Convenience: a headers-from-strings initialiser for tests and sources. */
static inline struct flm_hdr flm_hdr_str(const char *k, const char *v);

#include <string.h>
static inline struct flm_hdr flm_hdr_str(const char *k, const char *v)
{
    struct flm_hdr h = {k, v, (uint32_t)strlen(k), (uint32_t)strlen(v)};
    return h;
}

#endif
