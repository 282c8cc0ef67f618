/*
 * uvnet.c - listening and thread scaffold for the libuv network sources.
 * Called from a source's start (the agent's main thread).
 */
#include "core/uvnet.h"

#include "core/log.h"
#include "core/net.h"

#include <signal.h>
#include <stdio.h>

void flm_net_fmt_addr(const struct sockaddr_storage *ss, char *buf, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        uv_ip4_name(a, ip, sizeof(ip));
        snprintf(buf, cap, "%s:%d", ip, ntohs(a->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(a, ip, sizeof(ip));
        snprintf(buf, cap, "[%s]:%d", ip, ntohs(a->sin6_port));
    } else {
        snprintf(buf, cap, "?");
    }
}

int flm_uv_listen(uv_tcp_t *server, const char *bind, int port, int backlog,
                  uv_connection_cb cb, char *where, size_t wcap, struct flm_err *err)
{
    struct sockaddr_storage ss;
    int rc = flm_net_resolve_bind(bind, port, &ss, err);
    if (rc != FLM_OK)
        return rc;
    char addr[80];
    flm_net_fmt_addr(&ss, addr, sizeof(addr));
    rc = uv_tcp_bind(server, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)server, backlog, cb);
    if (rc < 0) {
        flm_err_set(err, FLM_EIO, "cannot listen on %s (bind = %s, port = %d): %s (%s)", addr,
                    bind, port, uv_strerror(rc), uv_err_name(rc));
        if (err != NULL)
            err->sys = -rc;
        return FLM_EIO;
    }
    struct sockaddr_storage bound;
    int bl = (int)sizeof(bound);
    if (uv_tcp_getsockname(server, (struct sockaddr *)&bound, &bl) == 0)
        flm_net_fmt_addr(&bound, where, wcap);
    else
        snprintf(where, wcap, "%s", addr);
    return FLM_OK;
}

int flm_thread_start(pthread_t *th, void *(*fn)(void *), void *arg, const char *name)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(th, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0) {
        char tname[16];
        snprintf(tname, sizeof(tname), "%s", name);
        (void)pthread_setname_np(*th, tname);
    }
    return rc;
}

void flm_uv_close_noop(uv_handle_t *h)
{
    (void)h;
}

void flm_uv_thread_stop(uv_async_t *stop, pthread_t th, uv_loop_t *loop, struct flm_logctx *log,
                        const char *where)
{
    uv_async_send(stop);
    pthread_join(th, NULL);
    int rc = uv_loop_close(loop);
    if (rc != 0)
        flm_warn(log, "event loop still had handles at stop (%s)", uv_err_name(rc));
    flm_info(log, "stopped listening on %s", where);
}
