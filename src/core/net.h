/*
 * net.h - small socket helpers shared by the network sources.
 */
#ifndef FLM_NET_H
#define FLM_NET_H

#include "core/err.h"

#include <sys/socket.h>

/* Resolves a listen address (a host name or literal) and port, preferring
 * IPv4 when a name has both (so `bind = localhost` listens where Flume's
 * clients connect).  FLM_ERR with err naming the address on failure.
 * Blocking (getaddrinfo): call it from start, never from a loop callback. */
int flm_net_resolve_bind(const char *bind, int port, struct sockaddr_storage *out,
                         struct flm_err *err);

#endif
