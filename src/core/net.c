/*
 * net.c - socket helpers shared by the network sources.  Config/start time
 * only (blocking name resolution).
 */
#include "core/net.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>

int flm_net_resolve_bind(const char *bind, int port, struct sockaddr_storage *out,
                         struct flm_err *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", port);
    int rc = getaddrinfo(bind, ps, &hints, &res);
    if (rc != 0)
        return flm_err_set(err, FLM_ERR, "cannot resolve bind address '%s': %s", bind,
                           gai_strerror(rc));
    const struct addrinfo *pick = NULL;
    for (const struct addrinfo *ai = res; ai != NULL && pick == NULL; ai = ai->ai_next)
        if (ai->ai_family == AF_INET)
            pick = ai;
    for (const struct addrinfo *ai = res; ai != NULL && pick == NULL; ai = ai->ai_next)
        if (ai->ai_family == AF_INET6)
            pick = ai;
    if (pick == NULL) {
        freeaddrinfo(res);
        return flm_err_set(err, FLM_ERR, "bind address '%s' has no IPv4 or IPv6 address", bind);
    }
    memset(out, 0, sizeof(*out));
    memcpy(out, pick->ai_addr, pick->ai_addrlen);
    freeaddrinfo(res);
    return FLM_OK;
}
