/*
 * avro_rpc.h - a blocking Avro RPC client connection (Flume's
 * NettyAvroRpcClient equivalent) used by the avro sink, `flumen avro-client`
 * and the benchmarks: connect with a timeout, handshake on the first call,
 * appendBatch/append with per-call timeouts, optional deflate.  One
 * connection is used by one thread at a time; calls are sequential (one
 * request in flight, its response matched by serial).
 */
#ifndef FLM_AVRO_RPC_H
#define FLM_AVRO_RPC_H

#include "core/err.h"
#include "core/event.h"
#include "rpc/avro_codec.h"
#include "rpc/avro_tls.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct flm_avro_conn {
    int fd;
    char peer[300];             /* "host:port" for messages */
    bool established;
    bool have_server_hash;
    uint8_t server_hash[16];
    uint32_t serial;
    bool deflate;
    struct flm_avro_zout zout;
    struct flm_avro_zin zin;
    struct flm_buf req;         /* plain request frame */
    struct flm_buf wire;        /* compressed request */
    struct flm_avro_framer fr;  /* responses */
    uint8_t *rbuf;              /* socket reads */
    uint8_t *zbuf;              /* inflated bytes */
    const _Atomic bool *abort;  /* optional: set -> calls fail promptly (stop) */
    bool tls;
    struct flm_avro_tls t;
    struct flm_buf net;         /* TLS records to send */
    uint8_t *tbuf;              /* decrypted bytes */
};

/* Connects to host:port within timeout_ms.  level < 0: no compression, else
 * deflate with that level.  err names the peer and the reason. */
int flm_avro_connect(struct flm_avro_conn *c, const char *host, int port, int timeout_ms,
                     int level, const _Atomic bool *abort, struct flm_err *err);
/* The same over TLS (ctx from flm_avro_tls_ctx, client side; NULL = plain):
 * the TLS handshake is part of the connect and its timeout. */
int flm_avro_connect_tls(struct flm_avro_conn *c, const char *host, int port, int timeout_ms,
                         int level, SSL_CTX *ctx, const _Atomic bool *abort,
                         struct flm_err *err);
void flm_avro_close(struct flm_avro_conn *c);

/* Sends appendBatch(evs[0..n)) (or append when msg says so) and waits up to
 * timeout_ms for the answer.  FLM_OK with *status set (FLM_AVRO_OK/FAILED/
 * UNKNOWN); FLM_EIO/FLM_ECORRUPT/FLM_ECLOSED on transport or protocol errors
 * (err set; the connection must then be closed).  A server error reply gives
 * FLM_ERR with its text in err. */
int flm_avro_call(struct flm_avro_conn *c, int msg, struct flm_event *const *evs, size_t n,
                  int timeout_ms, int *status, struct flm_err *err);

#endif
