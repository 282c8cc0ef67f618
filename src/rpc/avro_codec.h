/*
 * avro_codec.h - Avro IPC as Flume speaks it over Netty (spec/wire.md a-e):
 * the Avro binary encoding of the AvroSourceProtocol, the Netty frame
 * (serial + buffer list), the handshake on both sides, the append and
 * appendBatch calls, and the deflate stream wrapper.
 *
 * Everything here is a pure function over caller-owned buffers: no sockets,
 * no threads, no globals except constant tables.  Untrusted input is bounded
 * before any allocation (frame caps, element counts checked against the bytes
 * that remain).  Decoders return FLM_OK, FLM_EAGAIN (need more bytes),
 * FLM_ECORRUPT (malformed), FLM_EFULL (over a cap) or FLM_ENOMEM.
 */
#ifndef FLM_AVRO_CODEC_H
#define FLM_AVRO_CODEC_H

#include "core/buf.h"
#include "core/event.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

/* ------------------------------------------------------ binary encoding */

/* A cursor over borrowed bytes. */
struct flm_avro_rd {
    const uint8_t *p;
    size_t len, off;
};

static inline void flm_avro_rd_init(struct flm_avro_rd *r, const void *p, size_t len)
{
    r->p = p;
    r->len = len;
    r->off = 0;
}
static inline size_t flm_avro_rd_left(const struct flm_avro_rd *r)
{
    return r->len - r->off;
}

int flm_avro_get_long(struct flm_avro_rd *r, int64_t *v);
int flm_avro_get_int(struct flm_avro_rd *r, int32_t *v);
int flm_avro_get_bool(struct flm_avro_rd *r, bool *v);
/* bytes/string: *p points into r's buffer (not NUL-terminated). */
int flm_avro_get_bytes(struct flm_avro_rd *r, const uint8_t **p, size_t *n);
int flm_avro_get_fixed(struct flm_avro_rd *r, uint8_t *out, size_t n);
/* Skips a map<bytes> (or map<string>): every block, negative counts too. */
int flm_avro_skip_map(struct flm_avro_rd *r);

int flm_avro_put_long(struct flm_buf *b, int64_t v);
int flm_avro_put_bytes(struct flm_buf *b, const void *p, size_t n);
int flm_avro_put_str(struct flm_buf *b, const char *s);
/* One raw byte (booleans, union indexes 0/1 as zigzag 00/02, enum 0..). */
int flm_avro_put_raw(struct flm_buf *b, const void *p, size_t n);

/* --------------------------------------------------- AvroSourceProtocol */

enum flm_avro_status { FLM_AVRO_OK = 0, FLM_AVRO_FAILED = 1, FLM_AVRO_UNKNOWN = 2 };

/* The protocol JSON text this implementation announces (canonical, no doc),
 * and its MD5. */
extern const char flm_avro_protocol_json[];
void flm_avro_protocol_md5(uint8_t out[16]);
/* True when hash is one we know stands for AvroSourceProtocol (ours, or
 * Apache Flume 1.11's build with its license doc). */
bool flm_avro_known_hash(const uint8_t hash[16]);
/* Checks a client's protocol text: valid JSON naming protocol
 * AvroSourceProtocol with messages append and appendBatch.  FLM_OK, or
 * FLM_ECORRUPT with why[] set ("not JSON: ..." / "protocol X ..."). */
int flm_avro_check_protocol(const char *text, size_t len, char *why, size_t whycap);

/* Encodes one AvroFlumeEvent record (headers map, body bytes). */
int flm_avro_put_event(struct flm_buf *b, const struct flm_event *ev);
/* Decodes one AvroFlumeEvent into a new event (copied out of r).  At most
 * 4096 headers per event (FLM_EFULL beyond: the event copy would be
 * quadratic in them); truncation inside the record is FLM_ECORRUPT. */
int flm_avro_get_event(struct flm_avro_rd *r, struct flm_event **ev);

/* Decodes an appendBatch parameter (array<AvroFlumeEvent>).  *evs is a new
 * malloc'd array of *n new events; on error nothing is left allocated.
 * The element count is checked against the bytes left before allocating. */
int flm_avro_get_event_array(struct flm_avro_rd *r, struct flm_event ***evs, size_t *n);
void flm_avro_free_events(struct flm_event **evs, size_t n);

/* ------------------------------------------------------------- framing */

#define FLM_AVRO_FRAME_HDR 8u    /* serial + buffer count */

/* Streaming decoder of Netty frames: the concatenated payload of each
 * complete frame lands in msg. */
struct flm_avro_framer {
    uint8_t hdr[8];
    unsigned hlen;            /* bytes of the current fixed field gathered */
    int state;                /* private */
    uint32_t serial;          /* valid once a frame is complete */
    uint32_t nbuf, ibuf;      /* buffers announced / read */
    uint32_t left;            /* bytes of the current buffer still to copy */
    size_t max;               /* cap on the payload of one frame (bytes) */
    /* Server side: while gated (connection not yet established) the payload
     * must start with a decodable HandshakeRequest within pre_max bytes;
     * memory grows only with bytes received, never with announced lengths. */
    bool gated;
    size_t pre_max;
    size_t tried;             /* msg.len at the last handshake probe */
    struct flm_buf msg;       /* payload of the current frame */
};

void flm_avro_framer_init(struct flm_avro_framer *f, size_t max);
void flm_avro_framer_free(struct flm_avro_framer *f);
/* Changes the payload cap (e.g. after the handshake); takes effect for the
 * next frame. */
void flm_avro_framer_set_max(struct flm_avro_framer *f, size_t max);
/* Consumes up to n bytes (*used says how many).  FLM_OK: one frame is
 * complete (f->serial, f->msg); call flm_avro_framer_next before feeding on.
 * FLM_EAGAIN: everything consumed, frame incomplete.  FLM_ECORRUPT: buffer
 * count 0 or a negative length.  FLM_EFULL: the frame exceeds f->max (checked
 * from the announced lengths, before any copy).  why[] explains errors. */
int flm_avro_framer_feed(struct flm_avro_framer *f, const uint8_t *p, size_t n, size_t *used,
                         char *why, size_t whycap);
void flm_avro_framer_next(struct flm_avro_framer *f);
/* Server: gate the next frames (call with !established after each frame). */
void flm_avro_framer_gate(struct flm_avro_framer *f, bool gated, size_t pre_max);
/* True between frames (no partial frame pending). */
bool flm_avro_framer_idle(const struct flm_avro_framer *f);

/* Frame writing: begin reserves the 12-byte header (serial, N = 1, L), the
 * caller appends the message, end patches serial and length. */
int flm_avro_frame_begin(struct flm_buf *b, size_t *mark);
int flm_avro_frame_end(struct flm_buf *b, size_t mark, uint32_t serial);

/* ---------------------------------------------------------- handshake */

enum flm_avro_match { FLM_AVRO_BOTH = 0, FLM_AVRO_CLIENT = 1, FLM_AVRO_NONE = 2 };

struct flm_avro_hsreq {
    uint8_t client_hash[16];
    uint8_t server_hash[16];
    const uint8_t *proto;     /* clientProtocol text (into the message), NULL when null */
    size_t proto_len;
};

struct flm_avro_hsresp {
    int match;                /* enum flm_avro_match */
    bool has_proto, has_hash;
    const uint8_t *proto;     /* serverProtocol (into the message) */
    size_t proto_len;
    uint8_t server_hash[16];
};

int flm_avro_get_hsreq(struct flm_avro_rd *r, struct flm_avro_hsreq *h);
int flm_avro_get_hsresp(struct flm_avro_rd *r, struct flm_avro_hsresp *h);
/* Client: clientHash = ours, clientProtocol = our text (always sent, so a
 * server answers in one round trip), serverHash = server_hash guess or ours
 * when NULL, meta = empty map. */
int flm_avro_put_hsreq(struct flm_buf *b, const uint8_t *server_hash);
/* Server: BOTH is 00 00 00 00; CLIENT/NONE carry our protocol and hash. */
int flm_avro_put_hsresp(struct flm_buf *b, int match);

/* ------------------------------------------------------------- calls */

enum flm_avro_msg { FLM_AVRO_MSG_PING, FLM_AVRO_MSG_APPEND, FLM_AVRO_MSG_APPEND_BATCH };

/* Client request (after an optional handshake): empty call meta, name,
 * then the parameters.  append: one event; appendBatch: evs[0..n). */
int flm_avro_put_call(struct flm_buf *b, int msg, struct flm_event *const *evs, size_t n);

/* Server response tail after an optional HandshakeResponse: meta, error
 * flag, and Status (err == NULL) or the system error string. */
int flm_avro_put_result(struct flm_buf *b, int status, const char *err);

/* Client: decodes a response message.  expect_hs: a HandshakeRequest was
 * sent with this call.  On FLM_OK: *match (BOTH/CLIENT/NONE, or -1 when no
 * handshake), hs filled when present; if the call ran, *has_result, then
 * *status or errtext (copied, truncated).  *has_result false with NONE
 * means resend with the protocol. */
int flm_avro_get_response(struct flm_avro_rd *r, bool expect_hs, struct flm_avro_hsresp *hs,
                          bool *has_result, int *status, char *errtext, size_t errcap);

/* ------------------------------------------------------------ server */

/* Server-side per-source state: client protocol hashes learnt from
 * clientProtocol texts (bounded, oldest replaced). */
#define FLM_AVRO_HASH_CACHE 64
struct flm_avro_server {
    uint8_t hashes[FLM_AVRO_HASH_CACHE][16];
    unsigned nhash, next;
};

/* One decoded request.  name/events point into or are owned as stated. */
struct flm_avro_request {
    bool has_hs;              /* a HandshakeRequest was present */
    int match;                /* our answer when has_hs (enum flm_avro_match) */
    bool hs_error;            /* the handshake itself failed (bad protocol text) */
    int msg;                  /* enum flm_avro_msg, -1 when unknown */
    char name[64];            /* message name (truncated), for errors */
    struct flm_event **evs;   /* owned: free with flm_avro_free_events */
    size_t nevs;
    char why[200];            /* why the handshake or the call failed */
};

/* Decodes one request message.  established: the connection already did
 * its handshake (in/out: set when this request establishes it).  Returns
 * FLM_OK with req filled, or an error for the call part: FLM_ECORRUPT
 * (undecodable call; req->has_hs/match still valid so the reply can carry the
 * HandshakeResponse, req->why set).  With match NONE or hs_error no call is
 * decoded.  Unknown message names give FLM_OK with msg = -1. */
int flm_avro_server_decode(struct flm_avro_server *s, const uint8_t *msg, size_t len,
                           bool *established, struct flm_avro_request *req);
void flm_avro_request_clear(struct flm_avro_request *req);

/* Builds the full response frame for req into b: HandshakeResponse when
 * req->has_hs (and no hs_error), then (unless NONE) the result: status for a
 * call that ran, or the system error text err when err != NULL. */
int flm_avro_server_reply(struct flm_buf *b, uint32_t serial, const struct flm_avro_request *req,
                          int status, const char *err);

/* ------------------------------------------------------------ deflate */

/* One zlib stream per direction (wire.md e). */
struct flm_avro_zout {
    z_stream z;
    bool ready;
};
struct flm_avro_zin {
    z_stream z;
    bool ready;
};

int flm_avro_zout_init(struct flm_avro_zout *z, int level);
void flm_avro_zout_end(struct flm_avro_zout *z);
/* Compresses n bytes, appends them and a sync flush to out. */
int flm_avro_zout_write(struct flm_avro_zout *z, const void *p, size_t n, struct flm_buf *out);

int flm_avro_zin_init(struct flm_avro_zin *z);
void flm_avro_zin_end(struct flm_avro_zin *z);
/* Inflates from *in (advancing *in / *inlen) into out[0..cap); *produced
 * bytes written.  FLM_OK (possibly 0 produced when more input is needed),
 * FLM_ECORRUPT on bad data (why set). */
int flm_avro_zin_step(struct flm_avro_zin *z, const uint8_t **in, size_t *inlen, uint8_t *out,
                      size_t cap, size_t *produced, char *why, size_t whycap);

#endif
