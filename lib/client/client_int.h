/*
 * client_int.h - internals of libflumen-client shared by its sources and its
 * unit tests (tests/unit/client_*_test.c): the parsed RpcClient
 * configuration, the transport interface (real Avro and Thrift transports in
 * transport.c; tests plug in a fake one) and the client constructor that
 * takes both.  Nothing here is exported from the shared library.
 */
#ifndef FLM_CLIENT_INT_H
#define FLM_CLIENT_INT_H

#include "core/err.h"
#include "core/event.h"
#include "core/kv.h"

#include "flumen/client.h"

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

enum flm_client_type {
    FLM_CLIENT_DEFAULT = 0,      /* Avro, one host */
    FLM_CLIENT_FAILOVER = 1,     /* default_failover */
    FLM_CLIENT_LOADBALANCE = 2,  /* default_loadbalance */
    FLM_CLIENT_THRIFT = 3,       /* thrift, one host */
};

enum flm_client_selector { FLM_CLIENT_ROUND_ROBIN = 0, FLM_CLIENT_RANDOM = 1 };

enum flm_client_msg { FLM_CLIENT_APPEND = 0, FLM_CLIENT_APPEND_BATCH = 1 };

struct flm_client_host {
    char *alias;
    char *host;        /* without brackets for IPv6 */
    int port;
};

/* What the properties say, validated. */
struct flm_client_conf {
    int type;                    /* enum flm_client_type */
    struct flm_client_host *hosts;
    size_t nhosts;
    int batch_size;
    int connect_timeout;         /* ms */
    int request_timeout;         /* ms */
    int max_attempts;            /* failover: tries per batch (>= 1) */
    int selector;                /* enum flm_client_selector */
    bool backoff;
    long long max_backoff;       /* ms cap of a host's backoff (> 0) */
    int level;                   /* deflate level, -1 = no compression */
    bool thrift_binary;          /* thrift: binary protocol (else compact) */
    SSL_CTX *ssl_ctx;            /* TLS client context (ssl = true); NULL = plain */
};

/* Parses RpcClient properties (flumen/client.h lists them).  FLM_OK, or
 * FLM_ERR with a sentence naming the key in why[]; FLM_ENOMEM. */
int flm_client_conf_parse(struct flm_kvs *kv, struct flm_client_conf *conf, char *why,
                          size_t whycap);
void flm_client_conf_free(struct flm_client_conf *conf);

/*
 * A transport: one connection to one host.  open connects (connect-timeout);
 * call sends append (n == 1) or appendBatch and waits for the status
 * (request-timeout); close releases the connection.  call returns FLUMEN_OK,
 * FLUMEN_EREFUSED (the source answered a status other than OK; the
 * connection stays usable) or another FLUMEN_E* code (the caller then closes
 * the connection).  Errors put a sentence naming the peer in why[].
 * now_ms is the monotonic clock used for backoff (tests drive it).
 */
struct flm_client_ops {
    int (*open)(void *arg, const struct flm_client_conf *conf, const struct flm_client_host *h,
                void **conn, char *why, size_t whycap);
    int (*call)(void *arg, const struct flm_client_conf *conf, void *conn, int msg,
                struct flm_event *const *evs, size_t n, char *why, size_t whycap);
    void (*close)(void *arg, void *conn);
    uint64_t (*now_ms)(void *arg);
    void *arg;
};

/* The real transports (transport.c). */
extern const struct flm_client_ops flm_client_avro_ops;
extern const struct flm_client_ops flm_client_thrift_ops;

/* Creates a client from kv with the given transport (NULL: the one
 * client.type names).  Same contract as flumen_client_new. */
int flm_client_new_kvs(struct flumen_client **out, struct flm_kvs *kv,
                       const struct flm_client_ops *ops, char *errbuf, size_t errcap);

/* The configuration a client runs with (for tests). */
const struct flm_client_conf *flm_client_get_conf(const struct flumen_client *c);

#endif
