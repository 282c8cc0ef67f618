/*
 * thrift_proto.h - Flume's Thrift service (ThriftSourceProtocol: append,
 * appendBatch -> Status) over the framed transport, in the compact or the
 * binary protocol (spec/wire.md (f)).  Pure functions over buffers: no
 * sockets, no threads, no logging, so they are easy to fuzz and unit test.
 *
 * Untrusted input rules: every length is checked against the bytes that are
 * really there before anything is allocated for it, container sizes are
 * bounded by the remaining bytes, nesting is bounded by FLM_THRIFT_MAX_DEPTH,
 * and an event may carry at most FLM_THRIFT_MAX_HEADERS headers.
 */
#ifndef FLM_THRIFT_PROTO_H
#define FLM_THRIFT_PROTO_H

#include "core/buf.h"
#include "core/event.h"

#include <stddef.h>
#include <stdint.h>

enum flm_thrift_protocol { FLM_THRIFT_COMPACT = 0, FLM_THRIFT_BINARY = 1 };

enum flm_thrift_msgtype {
    FLM_THRIFT_CALL = 1, FLM_THRIFT_REPLY = 2, FLM_THRIFT_EXCEPTION = 3, FLM_THRIFT_ONEWAY = 4
};

/* Flume's Status enum. */
enum flm_thrift_status {
    FLM_THRIFT_OK = 0, FLM_THRIFT_FAILED = 1, FLM_THRIFT_ERROR = 2, FLM_THRIFT_UNKNOWN = 3
};

enum flm_thrift_method {
    FLM_THRIFT_M_UNKNOWN = 0, FLM_THRIFT_M_APPEND = 1, FLM_THRIFT_M_APPEND_BATCH = 2
};

/* TApplicationException types we send. */
enum { FLM_THRIFT_AX_UNKNOWN_METHOD = 1, FLM_THRIFT_AX_PROTOCOL_ERROR = 7 };

#define FLM_THRIFT_FRAME_MAX_DEFAULT (64u * 1024u * 1024u) /* bytes per frame (one call) */
#define FLM_THRIFT_MAX_HEADERS 1024u   /* headers per event; more = malformed call */
#define FLM_THRIFT_MAX_DEPTH 32        /* nesting of skipped unknown fields */
#define FLM_THRIFT_NAME_MAX 64         /* method name bytes kept (longer = unknown) */

/* Length of the frame starting at p (4-byte big-endian prefix).  FLM_OK with
 * *len (payload bytes, not counting the prefix); FLM_EAGAIN when fewer than
 * 4 bytes are there; FLM_ECORRUPT (why set) when the length is 0, negative or
 * over max -- checked before anything is allocated for the frame. */
int flm_thrift_frame_len(const uint8_t *p, size_t n, size_t max, size_t *len, char *why,
                         size_t whycap);

/* A decoded call.  Events are owned by the struct until moved out (set
 * evs[i] = NULL) or released by flm_thrift_call_clear. */
struct flm_thrift_call {
    enum flm_thrift_method method;
    int msgtype;                        /* FLM_THRIFT_CALL or FLM_THRIFT_ONEWAY */
    int32_t seqid;
    char name[FLM_THRIFT_NAME_MAX];     /* NUL-terminated, as sent (truncated) */
    size_t name_len;
    int header_ok;                      /* 1 once name/seqid decoded (even on error) */
    struct flm_event **evs;             /* malloc'd array */
    size_t nevs;
};

/* Decodes one frame payload (without its length prefix) as a call to
 * append or appendBatch.  Returns FLM_OK (out filled, method known),
 * FLM_ECORRUPT (why says what was wrong; out->header_ok tells whether name
 * and seqid are valid, e.g. for an unknown method, which also gives
 * FLM_ECORRUPT with method = FLM_THRIFT_M_UNKNOWN) or FLM_ENOMEM.  out is
 * always safe to pass to flm_thrift_call_clear afterwards. */
int flm_thrift_decode_call(enum flm_thrift_protocol pr, const uint8_t *p, size_t n,
                           struct flm_thrift_call *out, char *why, size_t whycap);
void flm_thrift_call_clear(struct flm_thrift_call *c);

/* Appends one complete frame (prefix + payload) to out.  All return FLM_OK,
 * or FLM_EFULL / FLM_ENOMEM from the buffer (out then holds what it held
 * before the call). */
int flm_thrift_encode_reply(enum flm_thrift_protocol pr, const char *name, size_t name_len,
                            int32_t seqid, int status, struct flm_buf *out);
int flm_thrift_encode_exception(enum flm_thrift_protocol pr, const char *name,
                                size_t name_len, int32_t seqid, int type, const char *msg,
                                struct flm_buf *out);
/* A call of method m (append takes exactly evs[0]; n must then be 1). */
int flm_thrift_encode_call(enum flm_thrift_protocol pr, enum flm_thrift_method m,
                           int32_t seqid, struct flm_event *const *evs, size_t n,
                           struct flm_buf *out);

struct flm_thrift_reply {
    int msgtype;                        /* FLM_THRIFT_REPLY or FLM_THRIFT_EXCEPTION */
    int32_t seqid;
    char name[FLM_THRIFT_NAME_MAX];
    int status;                         /* REPLY: the Status value */
    int ex_type;                        /* EXCEPTION: TApplicationException type */
    char ex_msg[256];                   /* EXCEPTION: its message (truncated) */
};

/* Decodes one reply frame payload.  FLM_OK or FLM_ECORRUPT (why set). */
int flm_thrift_decode_reply(enum flm_thrift_protocol pr, const uint8_t *p, size_t n,
                            struct flm_thrift_reply *out, char *why, size_t whycap);

const char *flm_thrift_status_name(int status);

#endif
