/*
 * flumen/client.h - libflumen-client, a C client for Apache Flume's RPC
 * sources (and flumen's): append and appendBatch over Avro RPC (Flume's
 * `avro` source) or Thrift (Flume's `thrift` source), configured with the
 * same RpcClient properties as Flume's Java SDK (RpcClientFactory).
 *
 *   const char *props[] = {"hosts", "h1", "hosts.h1", "127.0.0.1:41414", NULL};
 *   struct flumen_client *c;
 *   char why[256];
 *   if (flumen_client_new(&c, props, why, sizeof(why)) != FLUMEN_OK) { ...why... }
 *   struct flumen_header h = {"host", "web1"};
 *   struct flumen_event ev = {&h, 1, "hello", 5};
 *   int rc = flumen_append(c, &ev);      // 0: the source committed the event
 *   if (rc < 0) fprintf(stderr, "%s\n", flumen_client_error(c));
 *   flumen_client_free(c);
 *
 * Link with `pkg-config --cflags --libs flumen-client`.
 *
 * Client types (property client.type, as Flume):
 *   default              one Avro RPC connection to the first host
 *   thrift               one Thrift connection (framed; compact protocol, or
 *                        binary with protocol = binary) to the first host
 *   default_failover     Avro; hosts are tried in their listed order; a host
 *                        that fails is skipped (the next one is used from then
 *                        on) and tried again when the rotation comes back to
 *                        it; each batch gets up to max-attempts tries
 *   default_loadbalance  Avro; each call starts at the next host
 *                        (host-selector = round_robin) or a random order of
 *                        the hosts (random); a failing host is skipped for
 *                        that call, and with backoff = true left out of later
 *                        calls for 1 s, 2 s, 4 s ... up to maxBackoff ms
 *                        (0 = 30000)
 *
 * Properties (key, default): client.type default; hosts (space-separated
 * aliases) with hosts.<alias> = host:port, or the shortcut hostname + port;
 * batch-size 100; connect-timeout 20000 ms; request-timeout 20000 ms;
 * max-attempts = number of hosts (failover); host-selector round_robin
 * (round_robin | random, any case); backoff false; maxBackoff 0;
 * compression-type none (none | deflate, Avro only) and compression-level 6;
 * protocol compact (thrift: compact | binary).
 *
 * TLS, for every client type: ssl false, trust-all-certs false, truststore
 * (a PEM file of CA certificates, or PKCS#12 with truststore-type = PKCS12),
 * truststore-password, truststore-type, exclude-protocols, include-protocols,
 * exclude-cipher-suites, include-cipher-suites (space-separated Java names:
 * TLSv1.2, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256; SSLv3 is never enabled).
 * A key left unset falls back to Flume's environment variable
 * (FLUME_SSL_TRUSTSTORE_PATH, _PASSWORD, _TYPE, FLUME_SSL_INCLUDE_PROTOCOLS,
 * FLUME_SSL_EXCLUDE_PROTOCOLS, FLUME_SSL_INCLUDE_CIPHERSUITES,
 * FLUME_SSL_EXCLUDE_CIPHERSUITES; lists comma-separated there); with no
 * truststore at all the system's trust store is used.  Those variables never
 * turn TLS on by themselves.  Java JKS truststores cannot be read (convert
 * to PEM or PKCS12).  Avro: TLS sits under deflate, as Flume's Netty
 * client.  Thrift: plain TLS around the framed transport, as Flume's
 * TSSLTransportFactory (so a Flume or flumen thrift source with ssl = true
 * accepts it); the host name is sent as SNI but, as in Flume's Thrift
 * client, not matched against the certificate.  A refused certificate is a
 * failed connect (FLUMEN_ECONNECT) whose error names the host and the
 * verification error.  kerberos = true is refused (not supported).
 *
 * Keys the client does not use are ignored, as in Flume, so a sink's whole
 * property set may be passed.  connect-timeout covers the connect, the TLS
 * handshake and the first call on a connection (the Avro handshake);
 * request-timeout each later call.
 *
 * Delivery contract: a call returns FLUMEN_OK only when the source answered
 * Status OK for every event of the call (it committed them to its channels).
 * Any failure returns a negative code; events of the failing call may or may
 * not have been stored (a timeout after the source committed), so a retry
 * can duplicate (at-least-once, as Flume).  Batches larger than batch-size
 * are split into batch-size chunks sent one after the other;
 * flumen_client_delivered() tells how many leading events were acknowledged
 * when a later chunk failed.
 *
 * Threads: a client is NOT thread-safe: use one client per thread (or your own
 * lock).  Different clients are independent and may be used concurrently.
 * Calls block the calling thread for at most about connect-timeout +
 * request-timeout per host tried.  The library starts no threads and installs
 * no signal handlers (it writes with MSG_NOSIGNAL, so a closed peer never
 * raises SIGPIPE) and never prints anything.
 *
 * Every function returning int returns FLUMEN_OK (0) or a negative
 * FLUMEN_E* code.
 */
#ifndef FLUMEN_CLIENT_H
#define FLUMEN_CLIENT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define FLUMEN_API __attribute__((visibility("default")))
#else
#define FLUMEN_API
#endif

#define FLUMEN_CLIENT_VERSION_MAJOR 0
#define FLUMEN_CLIENT_VERSION_MINOR 1

enum flumen_errcode {
    FLUMEN_OK = 0,
    FLUMEN_EINVAL = -1,      /* bad argument or property value (nothing sent) */
    FLUMEN_ENOMEM = -2,      /* out of memory */
    FLUMEN_ECONNECT = -3,    /* could not connect to any host tried */
    FLUMEN_EIO = -4,         /* send/receive failed or timed out; connection dropped */
    FLUMEN_EPROTO = -5,      /* the peer answered something undecodable or an error */
    FLUMEN_EREFUSED = -6,    /* the source answered FAILED (e.g. channel full): retry later */
    FLUMEN_EUNAVAILABLE = -7 /* load balancing: every host is backing off; retry later */
};

/* One event header; both strings NUL-terminated UTF-8, borrowed. */
struct flumen_header {
    const char *key;
    const char *value;
};

/* One event: headers (unique keys) and a body of body_len bytes.  All
 * borrowed: the library copies what it needs during the call and keeps no
 * pointer afterwards. */
struct flumen_event {
    const struct flumen_header *headers;
    size_t nheaders;
    const void *body;
    size_t body_len;
};

/* An RPC client (opaque). */
struct flumen_client;

/* Creates a client from RpcClient properties: props is a NULL-terminated
 * array of alternating key and value strings ({"k1", "v1", "k2", "v2", NULL}),
 * borrowed.  No connection is made yet (the first call connects), so a down
 * host is not an error here.  On success *out is the client (free it with
 * flumen_client_free).  On error *out is NULL and errbuf (when not NULL)
 * holds a sentence naming the key and the problem: FLUMEN_EINVAL (missing
 * hosts, bad number, unknown client.type, unreadable truststore, ...) or
 * FLUMEN_ENOMEM. */
FLUMEN_API int flumen_client_new(struct flumen_client **out, const char *const *props,
                                 char *errbuf, size_t errcap);

/* As flumen_client_new, reading the properties from a java.util.Properties
 * file (Flume's `-P` rpcProps file).  FLUMEN_EIO when the file is unreadable. */
FLUMEN_API int flumen_client_new_from_file(struct flumen_client **out, const char *path,
                                           char *errbuf, size_t errcap);

/* Closes the connections and frees the client.  NULL is allowed. */
FLUMEN_API void flumen_client_free(struct flumen_client *c);

/* Sends one event with Flume's `append` message and waits for the answer.
 * FLUMEN_OK when the source stored it. */
FLUMEN_API int flumen_append(struct flumen_client *c, const struct flumen_event *ev);

/* Sends evs[0..n) with `appendBatch` calls of at most batch-size events,
 * each waited for before the next.  FLUMEN_OK when all were stored (n = 0 is
 * a no-op).  On error the first flumen_client_delivered(c) events were stored
 * and the rest should be retried. */
FLUMEN_API int flumen_append_batch(struct flumen_client *c, const struct flumen_event *evs,
                                   size_t n);

/* Events of the last append call acknowledged by a source. */
FLUMEN_API size_t flumen_client_delivered(const struct flumen_client *c);

/* The client's batch-size property. */
FLUMEN_API int flumen_client_batch_size(const struct flumen_client *c);

/* Text of the last error on c (naming the host and reason), or "" when the
 * last call succeeded.  Valid until the next call on c. */
FLUMEN_API const char *flumen_client_error(const struct flumen_client *c);

/* Static text of a FLUMEN_E* code. */
FLUMEN_API const char *flumen_strerror(int rc);

/* "MAJOR.MINOR.PATCH" of the library. */
FLUMEN_API const char *flumen_version(void);

#ifdef __cplusplus
}
#endif

#endif
