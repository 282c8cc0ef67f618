/*
 * net.c - socket helpers shared by the network sources.  Config/start time
 * only (blocking name resolution).
 */
#include "core/net.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

int flm_net_connect(const char *host, int port, uint64_t *deadline, flm_net_wait_fn wait,
                    void *arg, int *fd, int *sys, char *why, size_t whycap)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char ps[16];
    *fd = -1;
    *sys = 0;
    snprintf(ps, sizeof(ps), "%d", port);
    int g = getaddrinfo(host, ps, &hints, &res);
    if (g != 0) {
        snprintf(why, whycap, "cannot resolve: %s", gai_strerror(g));
        return FLM_EIO;
    }
    int rc = FLM_EIO, last = ECONNREFUSED;
    for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        int s = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                       ai->ai_protocol);
        if (s < 0) {
            last = errno;
            continue;
        }
        if (connect(s, ai->ai_addr, ai->ai_addrlen) < 0) {
            if (errno != EINPROGRESS) {
                last = errno;
                close(s);
                continue;
            }
            int w = wait(arg, s, POLLOUT, deadline);
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (w == FLM_OK && getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
                soerr == 0) {
                *fd = s;
                rc = FLM_OK;
                break;
            }
            last = w == FLM_OK ? soerr : errno;
            close(s);
            if (w == FLM_OK || w == FLM_EIO)
                continue;          /* this address failed: try the next */
            rc = w;                /* deadline or stop: give up */
            last = w == FLM_EAGAIN ? ETIMEDOUT : ECANCELED;
            break;
        }
        *fd = s;
        rc = FLM_OK;
        break;
    }
    freeaddrinfo(res);
    if (rc == FLM_OK) {
        int one = 1;
        (void)setsockopt(*fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        return FLM_OK;
    }
    *sys = last;
    char eb[128];
    if (rc == FLM_EAGAIN)
        snprintf(why, whycap, "timed out");
    else
        snprintf(why, whycap, "%s", strerror_r(last, eb, sizeof(eb))); /* GNU variant */
    return rc;
}
