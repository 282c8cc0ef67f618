/*
 * loadclient.c - a load client built on libflumen-client (the public API
 * only): N threads, each with its own client (= one connection), send
 * appendBatch calls of BATCH events with BODY-byte bodies to an avro or
 * thrift source and wait for each Status, as Flume's SDK does.
 *
 * usage: loadclient -H host -p port [-t] [-z] [-c conns] [-n batches]
 *                   [-b batch] [-s body]
 *   -t thrift (compact) instead of avro, -z avro deflate; defaults: 1
 *   connection, 1000 batches per connection, 1000 events per batch, 200 B.
 *
 * Threads: main creates the clients and makes one untimed warm-up call on
 * each (connect + handshake), then starts one thread per client; the clock
 * runs from the start barrier until the last thread ends.  Bodies are
 * unique (a sequence number at the start).  Output: one line on stdout,
 * "result KIND conns=... events=... secs=... ev_per_s=... mb_per_s=...
 * failed_batches=... client_cpu_s=..." (client_cpu_s: the whole process).
 * Exit 0 when every batch was acknowledged OK, 2 otherwise, 1 on usage or
 * setup errors.
 */
#include <flumen/client.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

struct worker {
    struct flumen_client *c;
    struct flumen_event *evs;
    char *bodies;
    long batches, batch, body;
    long ok, failed;
    int id;
    pthread_barrier_t *bar;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Stamps sequence numbers into the bodies of the next batch. */
static void stamp(struct worker *w, unsigned long long *seq)
{
    for (long i = 0; i < w->batch; i++) {
        char *b = w->bodies + i * w->body;
        char tmp[24];
        snprintf(tmp, sizeof(tmp), "%016llx", (*seq)++);
        memcpy(b, tmp, 16);
    }
}

static void *run(void *arg)
{
    struct worker *w = arg;
    unsigned long long seq = ((unsigned long long)w->id << 40) + 1000000;
    pthread_barrier_wait(w->bar);
    for (long k = 0; k < w->batches; k++) {
        stamp(w, &seq);
        int rc = flumen_append_batch(w->c, w->evs, (size_t)w->batch);
        if (rc == FLUMEN_OK) {
            w->ok++;
        } else {
            w->failed++;
            fprintf(stderr, "loadclient: connection %d: %s: %s\n", w->id, flumen_strerror(rc),
                    flumen_client_error(w->c));
        }
    }
    return NULL;
}

static long num(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    return (*s == '\0' || *end != '\0' || v < 0) ? -1 : v;
}

int main(int argc, char **argv)
{
    const char *host = NULL, *port = NULL;
    bool thrift = false, deflate = false;
    long conns = 1, batches = 1000, batch = 1000, body = 200;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-t") == 0) {
            thrift = true;
        } else if (strcmp(a, "-z") == 0) {
            deflate = true;
        } else if (v != NULL && strcmp(a, "-H") == 0) {
            host = v;
            i++;
        } else if (v != NULL && strcmp(a, "-p") == 0) {
            port = v;
            i++;
        } else if (v != NULL && strcmp(a, "-c") == 0) {
            conns = num(v);
            i++;
        } else if (v != NULL && strcmp(a, "-n") == 0) {
            batches = num(v);
            i++;
        } else if (v != NULL && strcmp(a, "-b") == 0) {
            batch = num(v);
            i++;
        } else if (v != NULL && strcmp(a, "-s") == 0) {
            body = num(v);
            i++;
        } else {
            host = NULL;
            break;
        }
    }
    if (host == NULL || port == NULL || conns < 1 || conns > 1024 || batches < 1 || batch < 1 ||
        body < 17) {
        fprintf(stderr, "usage: loadclient -H host -p port [-t] [-z] [-c conns] [-n batches] "
                        "[-b batch] [-s body>=17]\n");
        return 1;
    }
    char bs[32];
    snprintf(bs, sizeof(bs), "%ld", batch);
    const char *props[] = {"client.type", thrift ? "thrift" : "default", "hostname", host,
                           "port", port, "batch-size", bs,
                           "compression-type", deflate ? "deflate" : "none",
                           "request-timeout", "60000", NULL};

    struct worker *ws = calloc((size_t)conns, sizeof(*ws));
    pthread_t *th = calloc((size_t)conns, sizeof(*th));
    pthread_barrier_t bar;
    if (ws == NULL || th == NULL)
        return 1;
    pthread_barrier_init(&bar, NULL, (unsigned)conns + 1);
    for (long i = 0; i < conns; i++) {
        struct worker *w = &ws[i];
        char why[512];
        w->id = (int)i;
        w->batches = batches;
        w->batch = batch;
        w->body = body;
        w->bar = &bar;
        w->evs = calloc((size_t)batch, sizeof(*w->evs));
        w->bodies = malloc((size_t)(batch * body));
        if (w->evs == NULL || w->bodies == NULL)
            return 1;
        memset(w->bodies, 'x', (size_t)(batch * body));
        for (long k = 0; k < batch; k++) {
            w->bodies[k * body + 16] = ' ';
            w->evs[k] = (struct flumen_event){NULL, 0, w->bodies + k * body, (size_t)body};
        }
        if (flumen_client_new(&w->c, props, why, sizeof(why)) != FLUMEN_OK) {
            fprintf(stderr, "loadclient: %s\n", why);
            return 1;
        }
        unsigned long long seq = (unsigned long long)i << 40;
        stamp(w, &seq);
        int rc = flumen_append_batch(w->c, w->evs, 1);   /* connect + handshake, untimed */
        if (rc != FLUMEN_OK) {
            fprintf(stderr, "loadclient: warm-up: %s: %s\n", flumen_strerror(rc),
                    flumen_client_error(w->c));
            return 1;
        }
    }
    for (long i = 0; i < conns; i++)
        pthread_create(&th[i], NULL, run, &ws[i]);
    pthread_barrier_wait(&bar);
    double t0 = now_s();
    long ok = 0, failed = 0;
    for (long i = 0; i < conns; i++)
        pthread_join(th[i], NULL);
    double secs = now_s() - t0;
    for (long i = 0; i < conns; i++) {
        ok += ws[i].ok;
        failed += ws[i].failed;
        flumen_client_free(ws[i].c);
        free(ws[i].evs);
        free(ws[i].bodies);
    }
    if (secs <= 0)
        secs = 1e-6;
    double evs = (double)ok * (double)batch;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    printf("result %s conns=%ld batch=%ld body=%ld events=%.0f secs=%.3f ev_per_s=%.0f "
           "mb_per_s=%.1f failed_batches=%ld client_cpu_s=%.2f\n",
           thrift ? "thrift" : deflate ? "avro+deflate" : "avro", conns, batch, body, evs, secs,
           evs / secs, evs * (double)body / secs / 1e6, failed, cpu);
    pthread_barrier_destroy(&bar);
    free(ws);
    free(th);
    return failed ? 2 : 0;
}
