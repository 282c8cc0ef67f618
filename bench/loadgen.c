/*
 * loadgen.c - TCP load generator for the netcat source benchmarks
 * (bench/run_bench.py drives it; see bench/README.md).
 *
 * Writes N lines of exactly L bytes (newline included) over C TCP
 * connections to host:port as fast as the sockets accept them.  Every line is
 * unique: a zero-padded decimal sequence number, a space, filler, '\n'.
 * Lines are built in a per-connection buffer of whole lines (a template whose
 * filler is written once; only the digits change per line) and sent with
 * large write() calls, so the generator costs a small fraction of what the
 * agent spends per line.
 *
 * Two modes:
 *  - default (ack-every-event = false on the source): write everything, then
 *    shut down the write side and read until the agent closes the connection,
 *    counting any "FAILED: ..." replies;
 *  - --ack (ack-every-event = true): keep at most --window lines unanswered
 *    per connection and read one reply line ("OK" or "FAILED: ...") for every
 *    line sent.  --window 1 is a strict request/response client.
 *
 * Output: one human-readable summary on stderr and one "result k=v ..." line
 * on stdout for scripts.  MB means 10^6 bytes.
 *
 * Threads: main parses options, connects every connection (so the timer does
 * not include connection setup), then starts one sender thread per
 * connection; each thread owns its socket and buffers.  The clock starts when
 * all threads have passed a barrier and stops when the last one finishes.
 *
 * Exit status: 0 when every line was written (and, with --ack, answered OK),
 * 1 on a usage or connection error, 2 when some lines failed or went
 * unanswered.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define LG_DEFAULT_BATCH (256u * 1024u) /* bytes per write in the fast mode */
#define LG_EOF_TIMEOUT_MS 60000         /* wait for the agent's close after our shutdown */

struct lg_opts {
    const char *host;
    const char *port;
    unsigned long long lines;
    size_t len;          /* bytes per line, newline included */
    unsigned conns;
    bool ack;
    unsigned long long window;
    size_t batch;        /* bytes per write (rounded down to whole lines) */
    bool nodelay;
};

struct lg_conn {
    const struct lg_opts *o;
    pthread_barrier_t *bar;
    int fd;
    unsigned long long first, count; /* sequence numbers [first, first + count) */
    unsigned digits;                 /* width of the sequence number */
    /* results */
    unsigned long long sent, ok, failed;
    double t_sent;   /* s after start when the last byte was accepted by the kernel */
    double t_done;   /* s after start when the agent closed / the last reply came */
    int err;         /* errno of a fatal socket error, 0 if none */
    double t0;       /* start time (monotonic s), written by the thread after the barrier */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen --port P [--host H] [--lines N] [--size L] [--conns C]\n"
            "               [--ack [--window W]] [--batch BYTES] [--nodelay]\n"
            "  --host H      target host (default 127.0.0.1)\n"
            "  --port P      target TCP port (required)\n"
            "  --lines N     total lines over all connections (default 1000000)\n"
            "  --size L      bytes per line including the newline (default 200)\n"
            "  --conns C     TCP connections, one thread each (default 1)\n"
            "  --ack         read one reply line (OK / FAILED) per line sent\n"
            "  --window W    --ack: unanswered lines allowed per connection (default 1)\n"
            "  --batch B     bytes per write in the default mode (default 262144)\n"
            "  --nodelay     set TCP_NODELAY (useful with --ack)\n");
}

/* Parses an unsigned decimal option value into *out; false when it is not
 * a number in [min, max]. */
static bool parse_u64(const char *s, unsigned long long min, unsigned long long max,
                      unsigned long long *out)
{
    if (s == NULL || *s == '\0' || *s == '-')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* Fills opts from argv; false (after printing why) on a usage error. */
static bool parse_args(int argc, char **argv, struct lg_opts *o)
{
    unsigned long long v;
    o->host = "127.0.0.1";
    o->port = NULL;
    o->lines = 1000000;
    o->len = 200;
    o->conns = 1;
    o->ack = false;
    o->window = 1;
    o->batch = LG_DEFAULT_BATCH;
    o->nodelay = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--ack") == 0) {
            o->ack = true;
            continue;
        }
        if (strcmp(a, "--nodelay") == 0) {
            o->nodelay = true;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return false;
        }
        if (val == NULL) {
            fprintf(stderr, "loadgen: %s needs a value\n", a);
            return false;
        }
        i++;
        if (strcmp(a, "--host") == 0) {
            o->host = val;
        } else if (strcmp(a, "--port") == 0) {
            if (!parse_u64(val, 1, 65535, &v))
                goto bad;
            o->port = val;
        } else if (strcmp(a, "--lines") == 0) {
            if (!parse_u64(val, 1, 1000000000000ULL, &v))
                goto bad;
            o->lines = v;
        } else if (strcmp(a, "--size") == 0) {
            if (!parse_u64(val, 2, 64u * 1024 * 1024, &v))
                goto bad;
            o->len = (size_t)v;
        } else if (strcmp(a, "--conns") == 0) {
            if (!parse_u64(val, 1, 1024, &v))
                goto bad;
            o->conns = (unsigned)v;
        } else if (strcmp(a, "--window") == 0) {
            if (!parse_u64(val, 1, 1000000, &v))
                goto bad;
            o->window = v;
        } else if (strcmp(a, "--batch") == 0) {
            if (!parse_u64(val, 1, 64u * 1024 * 1024, &v))
                goto bad;
            o->batch = (size_t)v;
        } else {
            fprintf(stderr, "loadgen: unknown option %s\n", a);
            usage();
            return false;
        }
        continue;
    bad:
        fprintf(stderr, "loadgen: bad value for %s: %s\n", a, val);
        return false;
    }
    if (o->port == NULL) {
        usage();
        return false;
    }
    return true;
}

static unsigned digits_of(unsigned long long v)
{
    unsigned d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

/* Connected blocking TCP socket to host:port, or -1 (reason printed). */
static int connect_to(const struct lg_opts *o)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(o->host, o->port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "loadgen: %s:%s: %s\n", o->host, o->port, gai_strerror(rc));
        return -1;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "loadgen: connect %s:%s: %s\n", o->host, o->port, strerror(saved));
        return -1;
    }
    if (o->nodelay) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return fd;
}

/* Writes all of buf; 0 or an errno value. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Writes the zero-padded decimal v into the width bytes at p. */
static void put_digits(char *p, unsigned width, unsigned long long v)
{
    for (unsigned i = width; i-- > 0;) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* A buffer of nl whole lines: digits left blank, then " ", filler, "\n".
 * NULL on ENOMEM. */
static char *make_template(size_t len, unsigned digits, size_t nl)
{
    char *b = malloc(len * nl);
    if (b == NULL)
        return NULL;
    for (size_t i = 0; i < nl; i++) {
        char *l = b + i * len;
        memset(l, '0', digits < len - 1 ? digits : len - 1);
        for (size_t k = digits; k < len - 1; k++)
            l[k] = k == digits ? ' ' : (char)('a' + (k % 26));
        l[len - 1] = '\n';
    }
    return b;
}

/* Reply parser state: counts reply lines and whether each started "OK". */
struct lg_reply {
    bool at_start;   /* next byte starts a reply line */
    bool cur_ok;     /* current line started with 'O' */
};

static void reply_feed(struct lg_reply *r, const char *p, size_t n, struct lg_conn *c)
{
    for (size_t i = 0; i < n; i++) {
        if (r->at_start) {
            r->cur_ok = p[i] == 'O';
            r->at_start = false;
        }
        if (p[i] == '\n') {
            if (r->cur_ok)
                c->ok++;
            else
                c->failed++;
            r->at_start = true;
        }
    }
}

/* Default mode: everything as fast as possible, then wait for the close. */
static void run_fast(struct lg_conn *c)
{
    const struct lg_opts *o = c->o;
    size_t per = o->batch / o->len;
    if (per == 0)
        per = 1;
    if (per > c->count)
        per = (size_t)c->count;
    char *buf = make_template(o->len, c->digits, per ? per : 1);
    if (buf == NULL) {
        c->err = ENOMEM;
        return;
    }
    unsigned long long seq = c->first, end = c->first + c->count;
    unsigned w = c->digits < o->len - 1 ? c->digits : (unsigned)(o->len - 1);
    while (seq < end) {
        size_t k = end - seq < per ? (size_t)(end - seq) : per;
        for (size_t i = 0; i < k; i++)
            put_digits(buf + i * o->len, w, seq + i);
        int e = write_all(c->fd, buf, k * o->len);
        if (e != 0) {
            c->err = e;
            break;
        }
        seq += k;
        c->sent += k;
    }
    c->t_sent = now_s() - c->t0;
    free(buf);
    if (c->err != 0)
        return;
    /* Half-close and drain until the agent closes: replies here are
     * "FAILED: ..." lines only. */
    shutdown(c->fd, SHUT_WR);
    struct lg_reply r = {true, false};
    char rb[4096];
    for (;;) {
        struct pollfd pfd = {c->fd, POLLIN, 0};
        int pr = poll(&pfd, 1, LG_EOF_TIMEOUT_MS);
        if (pr == 0) {
            c->err = ETIMEDOUT;
            break;
        }
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            c->err = errno;
            break;
        }
        ssize_t n = read(c->fd, rb, sizeof(rb));
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != ECONNRESET)
                c->err = errno;
            break;
        }
        reply_feed(&r, rb, (size_t)n, c);
    }
    c->t_done = now_s() - c->t0;
}

/* --ack mode: at most window lines unanswered; one reply line per line. */
static void run_ack(struct lg_conn *c)
{
    const struct lg_opts *o = c->o;
    size_t per = o->window < c->count ? (size_t)o->window : (size_t)c->count;
    char *buf = make_template(o->len, c->digits, per ? per : 1);
    if (buf == NULL) {
        c->err = ENOMEM;
        return;
    }
    unsigned w = c->digits < o->len - 1 ? c->digits : (unsigned)(o->len - 1);
    unsigned long long seq = c->first, end = c->first + c->count;
    struct lg_reply r = {true, false};
    char rb[65536];
    while (c->ok + c->failed < c->count) {
        unsigned long long outstanding = c->sent - (c->ok + c->failed);
        if (seq < end && outstanding < o->window) {
            unsigned long long room = o->window - outstanding;
            size_t k = end - seq < room ? (size_t)(end - seq) : (size_t)room;
            for (size_t i = 0; i < k; i++)
                put_digits(buf + i * o->len, w, seq + i);
            int e = write_all(c->fd, buf, k * o->len);
            if (e != 0) {
                c->err = e;
                break;
            }
            seq += k;
            c->sent += k;
            if (seq == end)
                c->t_sent = now_s() - c->t0;
        }
        ssize_t n = read(c->fd, rb, sizeof(rb));
        if (n == 0) {
            c->err = EPIPE; /* closed by the agent before every reply came */
            break;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            c->err = errno;
            break;
        }
        reply_feed(&r, rb, (size_t)n, c);
    }
    c->t_done = now_s() - c->t0;
    free(buf);
}

static void *conn_main(void *arg)
{
    struct lg_conn *c = arg;
    pthread_barrier_wait(c->bar);
    c->t0 = now_s();
    if (c->o->ack)
        run_ack(c);
    else
        run_fast(c);
    return NULL;
}

int main(int argc, char **argv)
{
    struct lg_opts o;
    if (!parse_args(argc, argv, &o))
        return 1;
    signal(SIGPIPE, SIG_IGN);

    struct lg_conn *cs = calloc(o.conns, sizeof(*cs));
    pthread_t *th = calloc(o.conns, sizeof(*th));
    pthread_barrier_t bar;
    if (cs == NULL || th == NULL || pthread_barrier_init(&bar, NULL, o.conns + 1) != 0) {
        fprintf(stderr, "loadgen: out of memory\n");
        return 1;
    }
    unsigned digits = digits_of(o.lines - 1);
    if (digits + 1 > o.len)
        fprintf(stderr, "loadgen: warning: --size %zu is too short for %u-digit numbers; "
                        "lines are truncated and no longer unique\n", o.len, digits);
    unsigned long long per = o.lines / o.conns, extra = o.lines % o.conns, next = 0;
    for (unsigned i = 0; i < o.conns; i++) {
        cs[i].o = &o;
        cs[i].bar = &bar;
        cs[i].digits = digits;
        cs[i].first = next;
        cs[i].count = per + (i < extra ? 1 : 0);
        next += cs[i].count;
        if ((cs[i].fd = connect_to(&o)) < 0)
            return 1;
    }
    for (unsigned i = 0; i < o.conns; i++) {
        if (pthread_create(&th[i], NULL, conn_main, &cs[i]) != 0) {
            fprintf(stderr, "loadgen: cannot start thread\n");
            return 1;
        }
    }
    pthread_barrier_wait(&bar);
    unsigned long long sent = 0, ok = 0, failed = 0;
    double t_sent = 0, t_done = 0;
    int err = 0;
    for (unsigned i = 0; i < o.conns; i++) {
        pthread_join(th[i], NULL);
        close(cs[i].fd);
        sent += cs[i].sent;
        ok += cs[i].ok;
        failed += cs[i].failed;
        if (cs[i].t_sent > t_sent)
            t_sent = cs[i].t_sent;
        if (cs[i].t_done > t_done)
            t_done = cs[i].t_done;
        if (cs[i].err != 0 && err == 0)
            err = cs[i].err;
    }
    double secs = o.ack ? t_done : t_sent;
    if (secs <= 0)
        secs = 1e-9;
    double bytes = (double)sent * (double)o.len;
    fprintf(stderr,
            "loadgen: %llu lines x %zu B over %u conn%s%s: sent in %.3f s, done in %.3f s: "
            "%.3f M lines/s, %.1f MB/s (ok=%llu failed=%llu)%s%s\n",
            sent, o.len, o.conns, o.conns == 1 ? "" : "s", o.ack ? " (ack)" : "", t_sent,
            t_done, (double)sent / secs / 1e6, bytes / secs / 1e6, ok, failed,
            err ? " error: " : "", err ? strerror(err) : "");
    printf("result lines=%llu bytes=%.0f conns=%u ack=%d window=%llu sent_s=%.6f done_s=%.6f "
           "lines_per_s=%.0f mb_per_s=%.3f ok=%llu failed=%llu error=%d\n",
           sent, bytes, o.conns, o.ack ? 1 : 0, o.window, t_sent, t_done,
           (double)sent / secs, bytes / secs / 1e6, ok, failed, err);
    pthread_barrier_destroy(&bar);
    free(cs);
    free(th);
    if (err != 0 || sent != o.lines)
        return 2;
    if (failed != 0 || (o.ack && ok != o.lines))
        return 2;
    return 0;
}
