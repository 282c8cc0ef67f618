/*
 * uvnet.h - the listening and threading scaffold shared by the libuv network
 * sources (netcat, avro, thrift): bind + listen with Flume-style error text,
 * and a loop thread that never takes the agent's signals.
 */
#ifndef FLM_UVNET_H
#define FLM_UVNET_H

#include "core/err.h"

#include <pthread.h>
#include <uv.h>

/* "ip:port" or "[ip6]:port" of ss into buf. */
void flm_net_fmt_addr(const struct sockaddr_storage *ss, char *buf, size_t cap);

/*
 * Resolves bind:port (IPv4 preferred), binds server (uv_tcp_init'ed on its
 * loop by the caller) and listens with cb.  where receives the address
 * actually bound.  FLM_ERR when the name does not resolve; FLM_EIO when bind
 * or listen fails, with err naming the address ("cannot listen on
 * 127.0.0.1:44444 (bind = localhost, port = 44444): address already in use
 * (EADDRINUSE)") and err->sys set.  The caller closes its handles on error.
 */
int flm_uv_listen(uv_tcp_t *server, const char *bind, int port, int backlog,
                  uv_connection_cb cb, char *where, size_t wcap, struct flm_err *err);

/* Starts fn(arg) on a new thread with every signal blocked (signals belong to
 * the agent's main thread) and names it (at most 15 bytes kept).  0 or the
 * pthread_create error. */
int flm_thread_start(pthread_t *th, void *(*fn)(void *), void *arg, const char *name);

/* Close callback for handles embedded in a longer-lived struct. */
void flm_uv_close_noop(uv_handle_t *h);

/* Stops a source's loop thread: wakes it through stop (whose callback closes
 * every handle), joins it and closes the loop, logging on ctx (a loop that
 * still had handles is a warning).  After it returns no callback runs. */
struct flm_logctx;
void flm_uv_thread_stop(uv_async_t *stop, pthread_t th, uv_loop_t *loop, struct flm_logctx *log,
                        const char *where);

#endif
