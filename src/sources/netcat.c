/*
 * netcat.c - the netcat TCP source (Flume's org.apache.flume.source.NetcatSource):
 * every '\n'-terminated line a client sends becomes one event whose body is
 * the line (without the newline, '\r' kept) re-encoded as UTF-8.
 *
 * Threads: start() resolves and binds on the agent's thread, then hands the
 * listener to a thread of its own that runs a private uv_loop (one per source
 * instance).  Everything else here runs on that loop thread: accepting,
 * reading, splitting, the puts into the channel processor and the replies.
 * stop() wakes the loop with a uv_async, which closes every handle; stop joins
 * the thread and closes the loop.
 *
 * Ownership: the source context (struct nc_src) owns the loop, the listener
 * and the list of connections; each connection (struct nc_conn) owns its
 * input buffer, its pending batch (ack off) and two reply buffers and is
 * freed by its close callback.  Events are created here and handed to
 * flm_processor_put, which always consumes them.
 *
 * Back-pressure, deliberately: puts run on the loop thread and may block up
 * to the channel's keep-alive when the channel is full.  While they block the
 * loop reads from none of this source's connections, so TCP flow control
 * pushes back on every client of the source: the same push-back Flume's
 * blocking handler threads give.
 *
 * Protocol (behaviours.md 3, "Netcat source details"):
 *  - ack-every-event = true: each line is its own transaction (one put of one
 *    event, as Flume) answered "OK\n", or "FAILED: <channel message>\n" when
 *    the put fails; the connection stays open either way.
 *  - ack-every-event = false: complete lines accumulate per connection, over
 *    consecutive reads, into batches of up to the channels' transaction
 *    capacity (at most NC_BATCH_MAX).  A batch is put when it is full, or
 *    once the loop has no more input for that connection right now: after
 *    the reads of a loop iteration a uv_check callback puts every batch whose
 *    connection got nothing new in that iteration (or that has been held
 *    over NC_HOLD_ITERS iterations); while batches are held a uv_idle handle
 *    keeps the loop's poll non-blocking, so "nothing new" is known at once
 *    and lines wait at most a few loop iterations, never for the network.
 *    One transaction then carries many reads' lines (a file channel pays one
 *    fdatasync per transaction).  No replies except "FAILED: <msg>\n" once
 *    per failed batch, to the connection the batch came from.  Lines of a
 *    connection that closes are put before it closes.  This is the fast
 *    path: per line one memchr, one allocation, one copy.
 *  - Events are made with the header room the interceptor chain asks for
 *    (flm_processor_header_room), so header interceptors work in place.
 *  - A line over max-line-length chars (newline included) gets
 *    "FAILED: Event exceeds the maximum length (N chars, including newline)\n";
 *    the connection is then shut down and what the client still sends is
 *    discarded (not read as lines) until it closes.
 *  - Better than Flume: bytes that are invalid in the charset are kept in
 *    the body as sent (logged at debug) instead of killing the connection.
 * Replies are queued per connection and written once per read; a peer that
 * lets more than NC_OUT_MAX bytes of replies pile up is disconnected.
 */
#include "core/component.h"
#include "core/net.h"
#include "core/uvnet.h"
#include "sources/netcat_line.h"

#include <netdb.h>
#include <arpa/inet.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

#include "core/buf.h"

#define NC_BATCH_MAX 1000          /* events per put when unbounded (ack off) */
#define NC_HOLD_ITERS 8            /* loop iterations a partial batch may wait for more */
#define NC_PREP_SLICE 64           /* events made between interceptor/selector passes */
#define NC_OUT_MAX (1u << 20)      /* bytes: pending replies before we give up on a peer */
#define NC_IN_START (16u * 1024)   /* bytes: first input buffer of a connection */
#define NC_IN_FAST (256u * 1024)   /* bytes: input buffer cap for short lines */
#define NC_IN_MINFREE 4096u        /* bytes: grow when less room than this is left */
#define NC_DISCARD_MAX (1u << 20)  /* bytes discarded after a fatal reply before closing */
#define NC_BACKLOG 128

struct nc_conf {
    char *bind;
    int port;
    int max_line_length;
    bool ack_every_event;
    char *encoding;
};

static const struct flm_prop nc_props[] = {
    {.name = "bind", .type = FLM_P_STR, .off = FLM_OFF(struct nc_conf, bind),
     .flags = FLM_P_REQUIRED,
     .doc = "Host name or IP address to listen on (IPv4 preferred when a name has both)."},
    {.name = "port", .type = FLM_P_INT, .off = FLM_OFF(struct nc_conf, port),
     .flags = FLM_P_REQUIRED, .min = 1, .max = 65535, .doc = "TCP port to listen on."},
    {.name = "max-line-length", .type = FLM_P_INT, .off = FLM_OFF(struct nc_conf, max_line_length),
     .def = "512", .min = 1, .max = INT_MAX,
     .doc = "Maximum characters per line, newline included; longer lines fail and close the "
            "connection."},
    {.name = "ack-every-event", .type = FLM_P_BOOL,
     .off = FLM_OFF(struct nc_conf, ack_every_event), .def = "true",
     .doc = "Reply OK to every accepted line (each line is then its own transaction)."},
    {.name = "encoding", .type = FLM_P_STR, .off = FLM_OFF(struct nc_conf, encoding),
     .def = "utf-8",
     .doc = "Charset of the incoming text: UTF-8, ISO-8859-1 or US-ASCII (Java names and "
            "aliases); bodies are always UTF-8."},
    FLM_PROPS_END,
};

struct nc_src;

struct nc_conn {
    uv_tcp_t tcp;                 /* tcp.data = this */
    struct nc_src *ns;
    struct nc_conn *prev, *next;  /* ns->conns */
    char peer[64];                /* "127.0.0.1:53122" */
    uint8_t *in;                  /* pending bytes: the start of an unfinished line */
    size_t in_len, in_cap, in_max;
    bool last_read_full;          /* the previous read filled all the room offered */
    struct flm_nc_splitter sp;
    struct flm_buf out;           /* replies not yet handed to libuv */
    struct flm_buf wout;          /* replies of the write in flight */
    uv_write_t wreq;
    uv_shutdown_t sreq;
    bool writing;                 /* wreq in flight */
    bool failed;                  /* fatal reply queued: shut down once written, discard input */
    bool shut;                    /* shutdown requested */
    bool closing;                 /* uv_close called; nothing more may be started */
    size_t discarded;             /* bytes dropped after failed */
    struct flm_event **evs;       /* pending batch (ack off), ns->batch slots */
    size_t nevs;
    size_t nprep;                 /* evs[0..nprep) went through the chain and selector */
    uint64_t *route;              /* their routes: req[batch] then opt[batch], or NULL */
    struct nc_conn *pnext;        /* ns->pending */
    bool queued;                  /* on ns->pending */
    bool fresh;                   /* lines added since the last check */
    unsigned held;                /* checks the pending batch has waited */
};

struct nc_src {
    struct flm_source *src;
    int enc;                      /* enum flm_nc_enc */
    uint64_t max_chars;
    bool ack;
    size_t batch;                 /* events per put when !ack */
    size_t room_slots, room_bytes; /* header room for new events */
    uint8_t *scratch;             /* ISO-8859-1 -> UTF-8 conversion */
    size_t scratch_cap;
    struct flm_err perr;          /* last put's failure */
    char where[80];               /* bound address, "127.0.0.1:44444" */
    uv_loop_t loop;
    uv_tcp_t server;
    uv_async_t stop_async;
    uv_check_t check;             /* puts the batches held after a loop iteration */
    uv_idle_t idle;               /* active while batches are held: poll does not block */
    struct nc_conn *pending;      /* connections with a held batch */
    pthread_t thread;
    bool running;                 /* thread started, not joined */
    struct nc_conn *conns;
    size_t nconns;
};

/* --------------------------------------------------------------- helpers */

static int conf_encoding(const struct nc_conf *c)
{
    return flm_nc_encoding_parse(c->encoding ? c->encoding : "utf-8");
}

/* ----------------------------------------------------------- connections */

static void conn_free(uv_handle_t *h)
{
    struct nc_conn *c = h->data;
    struct nc_src *ns = c->ns;
    if (c->queued) { /* not expected: the check drops closing connections */
        struct nc_conn **pp = &ns->pending;
        while (*pp != NULL && *pp != c)
            pp = &(*pp)->pnext;
        if (*pp == c)
            *pp = c->pnext;
    }
    for (size_t i = 0; i < c->nevs; i++)
        flm_event_free(c->evs[i]);
    free(c->evs);
    free(c->route);
    if (c->prev)
        c->prev->next = c->next;
    else
        ns->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ns->nconns--;
    free(c->in);
    flm_buf_free(&c->out);
    flm_buf_free(&c->wout);
    free(c);
}

static void flush_batch(struct nc_conn *c);

/* Closes the connection now: its held lines are put first, pending replies
 * are dropped.  Idempotent. */
static void conn_close(struct nc_conn *c)
{
    if (c->closing)
        return;
    if (c->nevs > 0) {
        flush_batch(c);
        if (c->closing) /* the FAILED reply overflowed and closed it */
            return;
    }
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, conn_free);
}

static void conn_flush(struct nc_conn *c);

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct nc_conn *c = req->data;
    if (status < 0 && status != UV_ECANCELED)
        flm_debug(&c->ns->src->c.log, "%s: shutdown failed (%s: %s)", c->peer,
                  uv_err_name(status), uv_strerror(status));
    /* Keep reading (and discarding) until the peer closes, so that unread
     * input does not turn our close into a reset that could destroy the
     * FAILED reply before the client reads it. */
    if (status < 0)
        conn_close(c);
}

static void on_write(uv_write_t *req, int status)
{
    struct nc_conn *c = req->data;
    c->writing = false;
    c->wout.len = 0;
    if (c->closing)
        return;
    if (status < 0) {
        flm_warn(&c->ns->src->c.log, "%s: closing connection: write failed (%s: %s)", c->peer,
                 uv_err_name(status), uv_strerror(status));
        conn_close(c);
        return;
    }
    conn_flush(c);
}

/* Hands queued replies to libuv (one write at a time); once everything is
 * written after a fatal reply, shuts the sending side down. */
static void conn_flush(struct nc_conn *c)
{
    if (c->closing || c->writing)
        return;
    if (c->out.len == 0) {
        if (c->failed && !c->shut) {
            c->shut = true;
            c->sreq.data = c;
            int rc = uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown);
            if (rc < 0)
                conn_close(c);
        }
        return;
    }
    struct flm_buf t = c->wout;   /* swap: out goes on the wire, wout collects */
    c->wout = c->out;
    c->out = t;
    uv_buf_t b = uv_buf_init((char *)c->wout.p, (unsigned)c->wout.len);
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        flm_warn(&c->ns->src->c.log, "%s: closing connection: write failed (%s: %s)", c->peer,
                 uv_err_name(rc), uv_strerror(rc));
        c->wout.len = 0;
        conn_close(c);
        return;
    }
    c->writing = true;
}

/* Queues a reply; a peer that stopped reading them is disconnected. */
static void conn_reply(struct nc_conn *c, const char *s, size_t n)
{
    if (c->closing || c->failed)
        return;
    int rc = flm_buf_append(&c->out, s, n);
    if (rc == FLM_OK)
        return;
    flm_warn(&c->ns->src->c.log,
             "%s: closing connection: peer is not reading replies (%zu bytes pending)", c->peer,
             c->out.len + c->wout.len);
    conn_close(c);
}

static void conn_reply_failed(struct nc_conn *c, int rc, const struct flm_err *e)
{
    char msg[600];
    int n = snprintf(msg, sizeof(msg), "FAILED: %s\n",
                     e->msg[0] != '\0' ? e->msg : flm_strerror(rc));
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(msg)) {
        n = (int)sizeof(msg) - 1;
        msg[n - 1] = '\n';
    }
    conn_reply(c, msg, (size_t)n);
}

/* Runs the chain and the selector over the lines made since the last call
 * (flm_processor_prepare); routes go to c->route: req[batch] then opt[batch]. */
static void conn_prepare(struct nc_conn *c)
{
    struct nc_src *ns = c->ns;
    uint64_t *req = c->route, *opt = c->route ? c->route + ns->batch : NULL;
    c->nevs = flm_processor_prepare(ns->src->proc, c->evs, c->nprep, c->nevs, req, opt);
    c->nprep = c->nevs;
}

/* Puts the connection's pending batch (ack off); one FAILED reply per failed
 * batch. */
static void flush_batch(struct nc_conn *c)
{
    struct nc_src *ns = c->ns;
    if (c->nevs == 0)
        return;
    conn_prepare(c);
    uint64_t *req = c->route, *opt = c->route ? c->route + ns->batch : NULL;
    size_t n = c->nevs;
    c->nevs = 0;
    c->nprep = 0;
    c->held = 0;
    ns->perr.msg[0] = '\0';
    int rc = flm_processor_put_prepared(ns->src->proc, c->evs, n, req, opt, &ns->perr);
    if (rc == FLM_OK)
        return;
    flm_log_limited(FLM_LOG_WARN, &ns->src->c.log, 0, "%s: %zu line(s) lost: %s", c->peer, n,
                    ns->perr.msg[0] ? ns->perr.msg : flm_strerror(rc));
    conn_reply_failed(c, rc, &ns->perr);
}

static struct flm_event *make_event(struct nc_src *ns, const uint8_t *p, size_t n)
{
    if (ns->enc != FLM_NC_LATIN1)
        return flm_event_new_room(p, n, NULL, 0, ns->room_slots, ns->room_bytes);
    size_t bl = flm_nc_body_len(ns->enc, p, n);
    if (bl == n)
        return flm_event_new_room(p, n, NULL, 0, ns->room_slots, ns->room_bytes);
    if (bl > ns->scratch_cap) {
        uint8_t *s = realloc(ns->scratch, bl);
        if (s == NULL)
            return NULL;
        ns->scratch = s;
        ns->scratch_cap = bl;
    }
    flm_nc_body_write(ns->enc, p, n, ns->scratch);
    return flm_event_new_room(ns->scratch, bl, NULL, 0, ns->room_slots, ns->room_bytes);
}

static void handle_line(struct nc_conn *c, const uint8_t *p, size_t n)
{
    struct nc_src *ns = c->ns;

    if (ns->enc != FLM_NC_LATIN1 && flm_log_level_of(&ns->src->c.log) >= FLM_LOG_DEBUG) {
        uint64_t bad = 0;
        (void)flm_nc_count_chars(ns->enc, p, n, &bad);
        if (bad > 0)
            flm_debug(&ns->src->c.log,
                      "%s: line of %zu bytes has %llu byte(s) that are not %s; kept as sent",
                      c->peer, n, (unsigned long long)bad, flm_nc_encoding_name(ns->enc));
    }
    struct flm_event *ev = make_event(ns, p, n);
    if (ev == NULL) {
        flm_log_limited(FLM_LOG_ERROR, &ns->src->c.log, 0, "%s: out of memory; line lost",
                        c->peer);
        struct flm_err e = {.rc = FLM_ENOMEM};
        conn_reply_failed(c, FLM_ENOMEM, &e);
        return;
    }
    if (!ns->ack) {
        c->evs[c->nevs++] = ev;
        if (c->nevs - c->nprep == NC_PREP_SLICE)
            conn_prepare(c); /* interceptors and selector while these events are in cache */
        if (c->nevs == ns->batch)
            flush_batch(c);
        return;
    }
    /* One transaction per line, as Flume does when acking every event. */
    ns->perr.msg[0] = '\0';
    int rc = flm_processor_put(ns->src->proc, &ev, 1, &ns->perr);
    if (rc == FLM_OK) {
        conn_reply(c, "OK\n", 3);
        return;
    }
    flm_log_limited(FLM_LOG_WARN, &ns->src->c.log, 0, "%s: line lost: %s", c->peer,
                    ns->perr.msg[0] ? ns->perr.msg : flm_strerror(rc));
    conn_reply_failed(c, rc, &ns->perr);
}

static void on_idle(uv_idle_t *h)
{
    (void)h; /* only there to keep the poll non-blocking */
}

/* Holds the connection's partial batch until the check callback that ends
 * this loop iteration (which decides whether it waits for more). */
static void batch_hold(struct nc_conn *c)
{
    struct nc_src *ns = c->ns;
    c->fresh = true;
    if (c->queued)
        return;
    c->queued = true;
    c->pnext = ns->pending;
    if (ns->pending == NULL)
        uv_idle_start(&ns->idle, on_idle);
    ns->pending = c;
}

/* Splits and handles every complete line in c->in; keeps the unfinished one. */
static void conn_process(struct nc_conn *c)
{
    struct nc_src *ns = c->ns;
    size_t off = 0;

    if (!ns->ack && c->evs == NULL &&
        ((c->evs = malloc(ns->batch * sizeof(*c->evs))) == NULL ||
         (flm_processor_routes(ns->src->proc) &&
          (c->route = malloc(2 * ns->batch * sizeof(*c->route))) == NULL))) {
        flm_log_limited(FLM_LOG_ERROR, &ns->src->c.log, 0,
                        "%s: closing connection: out of memory", c->peer);
        conn_close(c);
        return;
    }
    ns->room_bytes = flm_processor_header_room(ns->src->proc, &ns->room_slots);

    while (!c->closing) {
        size_t len;
        int r = flm_nc_next_line(&c->sp, c->in + off, c->in_len - off, &len);
        if (r == FLM_NC_NEED_MORE)
            break;
        if (r == FLM_NC_TOO_LONG) {
            flush_batch(c); /* the lines before it go first */
            char msg[128];
            int n = snprintf(msg, sizeof(msg),
                             "FAILED: Event exceeds the maximum length (%llu chars, including "
                             "newline)\n",
                             (unsigned long long)ns->max_chars);
            conn_reply(c, msg, (size_t)n);
            flm_log_limited(FLM_LOG_WARN, &ns->src->c.log, 0,
                            "%s: closing connection: line exceeds max-line-length (%llu chars, "
                            "including newline)",
                            c->peer, (unsigned long long)ns->max_chars);
            c->failed = true;
            off = c->in_len;
            break;
        }
        handle_line(c, c->in + off, len);
        off += len + 1;
    }
    if (c->closing)
        return;
    if (c->nevs > 0)
        batch_hold(c);
    if (off > 0) {
        c->in_len -= off;
        if (c->in_len > 0)
            memmove(c->in, c->in + off, c->in_len);
    }
}

/* After the loop's reads: puts every held batch whose connection got no new
 * lines in this iteration, or that has waited NC_HOLD_ITERS iterations;
 * keeps the others for the next (non-blocking) iteration. */
static void on_check(uv_check_t *h)
{
    struct nc_src *ns = h->data;
    struct nc_conn *list = ns->pending;
    ns->pending = NULL;
    while (list != NULL) {
        struct nc_conn *c = list;
        list = c->pnext;
        c->pnext = NULL;
        c->queued = false;
        if (c->closing || c->nevs == 0)
            continue;
        if (c->fresh && c->held < NC_HOLD_ITERS) {
            c->fresh = false;
            c->held++;
            c->queued = true;
            c->pnext = ns->pending;
            ns->pending = c;
            continue;
        }
        c->fresh = false;
        flush_batch(c);
        conn_flush(c);
    }
    if (ns->pending == NULL)
        uv_idle_stop(&ns->idle);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct nc_conn *c = h->data;
    (void)hint;
    if (c->failed)
        c->in_len = 0; /* discarding */
    size_t room = c->in_cap - c->in_len;
    if ((room < NC_IN_MINFREE || c->last_read_full) && c->in_cap < c->in_max) {
        size_t ncap = c->in_cap ? c->in_cap * 2 : NC_IN_START;
        if (ncap < c->in_len + NC_IN_MINFREE)
            ncap = c->in_len + NC_IN_MINFREE;
        if (ncap > c->in_max)
            ncap = c->in_max;
        uint8_t *p = realloc(c->in, ncap);
        if (p != NULL) {
            c->in = p;
            c->in_cap = ncap;
        }
        c->last_read_full = false;
    }
    /* len 0 (no memory, or no room) makes libuv report UV_ENOBUFS. */
    room = c->in_cap - c->in_len;
    if (room > UINT_MAX)
        room = UINT_MAX;
    *buf = uv_buf_init((char *)c->in + c->in_len, (unsigned)room);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct nc_conn *c = st->data;
    struct nc_src *ns = c->ns;

    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        if (nread == UV_EOF) {
            if (c->in_len > 0 && !c->failed)
                flm_debug(&ns->src->c.log, "%s: connection closed with %zu bytes of an "
                          "unterminated line (dropped)", c->peer, c->in_len);
            else
                flm_debug(&ns->src->c.log, "%s: connection closed by peer", c->peer);
        } else {
            flm_warn(&ns->src->c.log, "%s: closing connection: read failed (%s: %s)", c->peer,
                     uv_err_name((int)nread), uv_strerror((int)nread));
        }
        conn_close(c);
        return;
    }
    c->last_read_full = (size_t)nread == buf->len;
    if (c->failed) {
        c->discarded += (size_t)nread;
        c->in_len = 0;
        if (c->discarded > NC_DISCARD_MAX)
            conn_close(c);
        return;
    }
    c->in_len += (size_t)nread;
    conn_process(c);
    conn_flush(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct nc_src *ns = server->data;
    struct flm_logctx *log = &ns->src->c.log;

    if (status < 0) {
        flm_log_limited(FLM_LOG_WARN, log, 0, "%s: accept failed (%s: %s)", ns->where,
                        uv_err_name(status), uv_strerror(status));
        return;
    }
    struct nc_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        flm_log_limited(FLM_LOG_ERROR, log, 0, "%s: out of memory accepting a connection",
                        ns->where);
        return;
    }
    c->ns = ns;
    uv_tcp_init(&ns->loop, &c->tcp);
    c->tcp.data = c;
    c->next = ns->conns;
    if (ns->conns)
        ns->conns->prev = c;
    ns->conns = c;
    ns->nconns++;
    snprintf(c->peer, sizeof(c->peer), "?");
    int rc = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (rc < 0) {
        flm_log_limited(FLM_LOG_WARN, log, 0, "%s: accept failed (%s: %s)", ns->where,
                        uv_err_name(rc), uv_strerror(rc));
        conn_close(c);
        return;
    }
    struct sockaddr_storage ss;
    int sl = (int)sizeof(ss);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0)
        flm_net_fmt_addr(&ss, c->peer, sizeof(c->peer));
    uv_tcp_nodelay(&c->tcp, 1); /* replies are tiny; do not let Nagle delay them */
    flm_nc_splitter_init(&c->sp, ns->enc, ns->max_chars);
    /* 3 bytes per char is the most a pending line can hold (netcat_line.h). */
    c->in_max = NC_IN_FAST;
    if (ns->max_chars * 3 + NC_IN_MINFREE > c->in_max)
        c->in_max = (size_t)(ns->max_chars * 3 + NC_IN_MINFREE);
    flm_buf_init(&c->out, NC_OUT_MAX);
    flm_buf_init(&c->wout, NC_OUT_MAX);
    rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0) {
        flm_warn(log, "%s: closing connection: cannot read (%s: %s)", c->peer, uv_err_name(rc),
                 uv_strerror(rc));
        conn_close(c);
        return;
    }
    flm_debug(log, "%s: connection accepted on %s", c->peer, ns->where);
}

/* ------------------------------------------------------------ loop thread */

static void on_stop(uv_async_t *a)
{
    struct nc_src *ns = a->data;
    if (ns->nconns > 0)
        flm_info(&ns->src->c.log, "closing %zu connection(s)", ns->nconns);
    for (struct nc_conn *c = ns->conns; c != NULL; c = c->next)
        conn_close(c);
    if (!uv_is_closing((uv_handle_t *)&ns->server))
        uv_close((uv_handle_t *)&ns->server, flm_uv_close_noop);
    uv_close((uv_handle_t *)&ns->stop_async, flm_uv_close_noop);
    uv_close((uv_handle_t *)&ns->check, flm_uv_close_noop);
    uv_close((uv_handle_t *)&ns->idle, flm_uv_close_noop);
    ns->pending = NULL; /* every connection put its batch when it closed */
}

static void *nc_thread(void *arg)
{
    struct nc_src *ns = arg;
    uv_run(&ns->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* Closes the listener and the async before the thread exists (start failed). */
static void loop_teardown(struct nc_src *ns)
{
    uv_close((uv_handle_t *)&ns->server, flm_uv_close_noop);
    uv_close((uv_handle_t *)&ns->stop_async, flm_uv_close_noop);
    uv_close((uv_handle_t *)&ns->check, flm_uv_close_noop);
    uv_close((uv_handle_t *)&ns->idle, flm_uv_close_noop);
    uv_run(&ns->loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&ns->loop);
}

/* ------------------------------------------------------------- lifecycle */

static int nc_validate(void *conf, const char *comp, struct flm_diag *d)
{
    const struct nc_conf *c = conf;
    if (conf_encoding(c) < 0) {
        flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "encoding",
                     "unsupported charset '%s' (use UTF-8, ISO-8859-1 or US-ASCII)",
                     c->encoding);
        return FLM_ERR;
    }
    return FLM_OK;
}

static int nc_init(struct flm_source *src, struct flm_err *err)
{
    const struct nc_conf *conf = src->c.conf;
    int enc = conf_encoding(conf);
    if (enc < 0)
        return flm_err_set(err, FLM_ERR,
                           "encoding: unsupported charset '%s' (use UTF-8, ISO-8859-1 or US-ASCII)",
                           conf->encoding);
    struct nc_src *ns = calloc(1, sizeof(*ns));
    if (ns == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    ns->src = src;
    ns->enc = enc;
    ns->max_chars = conf->max_line_length > 0 ? (uint64_t)conf->max_line_length : 1;
    ns->ack = conf->ack_every_event;
    src->c.ctx = ns;
    return FLM_OK;
}

/* Binds and listens (so clients can connect when this returns), then starts
 * the loop thread.  Errors: FLM_ERR (cannot resolve), FLM_EIO (bind/listen,
 * errno in err->sys), FLM_ENOMEM. */
static int nc_start(struct flm_source *src, struct flm_err *err)
{
    struct nc_src *ns = src->c.ctx;
    const struct nc_conf *conf = src->c.conf;

    if (ns->running)
        return FLM_OK;
    size_t batch = flm_processor_max_batch(src->proc);
    if (batch == 0 || batch > NC_BATCH_MAX)
        batch = NC_BATCH_MAX;
    ns->batch = batch; /* connections allocate their batch arrays on first read */
    ns->pending = NULL;

    int rc = uv_loop_init(&ns->loop);
    if (rc < 0)
        return flm_err_set(err, FLM_ERR, "cannot create event loop (%s: %s)", uv_err_name(rc),
                           uv_strerror(rc));
    uv_async_init(&ns->loop, &ns->stop_async, on_stop);
    ns->stop_async.data = ns;
    uv_check_init(&ns->loop, &ns->check);
    ns->check.data = ns;
    uv_check_start(&ns->check, on_check);
    uv_idle_init(&ns->loop, &ns->idle);
    ns->idle.data = ns;
    uv_tcp_init(&ns->loop, &ns->server);
    ns->server.data = ns;
    rc = flm_uv_listen(&ns->server, conf->bind, conf->port, NC_BACKLOG, on_connection, ns->where,
                       sizeof(ns->where), err);
    if (rc != FLM_OK) {
        loop_teardown(ns);
        return rc;
    }

    char tname[16];
    snprintf(tname, sizeof(tname), "nc-%.12s", src->c.name);
    rc = flm_thread_start(&ns->thread, nc_thread, ns, tname);
    if (rc != 0) {
        loop_teardown(ns);
        flm_err_set(err, FLM_ERR, "cannot start the source thread");
        if (err != NULL)
            err->sys = rc;
        return FLM_ERR;
    }
    ns->running = true;
    flm_info(&src->c.log, "listening on %s (encoding %s, max-line-length %llu, ack-every-event %s)",
             ns->where, flm_nc_encoding_name(ns->enc), (unsigned long long)ns->max_chars,
             ns->ack ? "true" : "false");
    return FLM_OK;
}

/* Closes the listener and every connection (replies not yet written are
 * dropped) and joins the loop thread.  Returns once no put can happen. */
static void nc_stop(struct flm_source *src)
{
    struct nc_src *ns = src->c.ctx;
    if (ns == NULL || !ns->running)
        return;
    flm_uv_thread_stop(&ns->stop_async, ns->thread, &ns->loop, &src->c.log, ns->where);
    ns->running = false;
}

static void nc_destroy(struct flm_source *src)
{
    struct nc_src *ns = src->c.ctx;
    if (ns == NULL)
        return;
    nc_stop(src);
    free(ns->scratch);
    free(ns);
    src->c.ctx = NULL;
}

static const struct flm_source_ops nc_ops = {
    .init = nc_init,
    .start = nc_start,
    .process = NULL, /* event-driven: its own loop thread */
    .stop = nc_stop,
    .destroy = nc_destroy,
};

const struct flm_type flm_source_netcat = {
    .kind = FLM_SOURCE,
    .alias = "netcat",
    .klass = "org.apache.flume.source.NetcatSource",
    .summary = "Reads newline-terminated lines from TCP clients; each line is one event.",
    .props = nc_props,
    .conf_size = sizeof(struct nc_conf),
    .validate = nc_validate,
    .batch_key = NULL,
    .no_counters = true,
    .ops = &nc_ops,
};
