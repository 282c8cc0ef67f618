/*
 * net.h - small socket helpers shared by the network sources.
 */
#ifndef FLM_NET_H
#define FLM_NET_H

#include "core/err.h"

#include <stdint.h>
#include <sys/socket.h>

/* Resolves a listen address (a host name or literal) and port, preferring
 * IPv4 when a name has both (so `bind = localhost` listens where Flume's
 * clients connect).  FLM_ERR with err naming the address on failure.
 * Blocking (getaddrinfo): call it from start, never from a loop callback. */
int flm_net_resolve_bind(const char *bind, int port, struct sockaddr_storage *out,
                         struct flm_err *err);

/* Waits until fd is ready for events or *deadline (flm_mono_ms) passes.
 * FLM_OK ready, FLM_EAGAIN deadline passed, FLM_EIO poll failed; a caller
 * that can be stopped returns something else (FLM_ECLOSED) when it is, and
 * may pull *deadline in (a stop grace period). */
typedef int (*flm_net_wait_fn)(void *arg, int fd, short events, uint64_t *deadline);

/*
 * Resolves host:port and connects a non-blocking TCP socket (CLOEXEC,
 * TCP_NODELAY) before *deadline, trying each address in turn; a refused or
 * failed address moves on to the next one, the deadline or a stop ends the
 * attempt.  wait is called while a connect is in progress.
 * FLM_OK with *fd set; otherwise *fd = -1 and:
 *   FLM_EIO     resolve failure (*sys = 0) or every address failed (*sys =
 *               the last errno); why says which ("cannot resolve: ..." or
 *               the errno text);
 *   FLM_EAGAIN  the deadline passed (*sys = ETIMEDOUT, why "timed out");
 *   other       what wait returned to stop (*sys = ECANCELED).
 * Blocking (getaddrinfo): call it from a worker thread, never from a loop.
 */
int flm_net_connect(const char *host, int port, uint64_t *deadline, flm_net_wait_fn wait,
                    void *arg, int *fd, int *sys, char *why, size_t whycap);

#endif
