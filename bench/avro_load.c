/*
 * avro_load.c - Avro RPC load client for the avro source benchmarks
 * (bench/bench_avro.py drives it).  Built on flumen's own Avro codec and
 * blocking client (src/rpc/avro_rpc.c), not on libflumen-client (a later
 * step).
 *
 * usage: avro_load HOST PORT CONNS BATCHES BATCH_SIZE BODY_BYTES [deflate]
 * Each of CONNS threads opens one connection and sends BATCHES appendBatch
 * calls of BATCH_SIZE events with BODY_BYTES bodies, waiting for each Status
 * (as the Flume SDK does).  Bodies are unique per event (a sequence number
 * at the start).  Output: a summary on stderr and one "result k=v" line on
 * stdout.  Exit 0 when every call got OK, 2 when some did not, 1 on errors.
 *
 * Threads: main connects every connection first (connection setup is not
 * timed), then starts one thread per connection; each owns its connection
 * and events.  The clock runs from the start barrier to the last thread's
 * end.
 */
#include "core/counters.h"
#include "rpc/avro_rpc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct worker {
    struct flm_avro_conn conn;
    struct flm_event **evs;
    long batches, batch, body;
    int level;
    long ok, failed;
    int id;
    pthread_barrier_t *bar;
};

static void *run(void *arg)
{
    struct worker *w = arg;
    char *body = malloc((size_t)w->body + 1);
    if (body == NULL)
        return NULL;
    memset(body, 'x', (size_t)w->body);
    pthread_barrier_wait(w->bar);
    unsigned long long seq = (unsigned long long)w->id << 40;
    for (long b = 0; b < w->batches; b++) {
        for (long i = 0; i < w->batch; i++) {
            snprintf(body, (size_t)w->body + 1, "%016llx", seq++);
            body[16 < w->body ? 16 : w->body - 1] = ' ';
            w->evs[i] = flm_event_new(body, (size_t)w->body, NULL, 0);
        }
        int status = -1;
        struct flm_err err = {0};
        int rc = flm_avro_call(&w->conn, FLM_AVRO_MSG_APPEND_BATCH, w->evs, (size_t)w->batch,
                               60000, &status, &err);
        for (long i = 0; i < w->batch; i++)
            flm_event_free(w->evs[i]);
        if (rc != FLM_OK) {
            fprintf(stderr, "avro_load: connection %d: %s\n", w->id, err.msg);
            w->failed += w->batches - b;
            break;
        }
        if (status == FLM_AVRO_OK)
            w->ok++;
        else
            w->failed++;
    }
    free(body);
    return NULL;
}

/* A positive decimal number, or -1. */
static long num(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    return (*s == '\0' || *end != '\0' || v < 0) ? -1 : v;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: avro_load HOST PORT CONNS BATCHES BATCH_SIZE BODY_BYTES "
                        "[deflate]\n");
        return 1;
    }
    const char *host = argv[1];
    int port = (int)num(argv[2]);
    int conns = (int)num(argv[3]);
    long batches = num(argv[4]), batch = num(argv[5]), bodyb = num(argv[6]);
    if (port < 1 || port > 65535)
        return 1;
    int level = argc > 7 && strcmp(argv[7], "deflate") == 0 ? 6 : -1;
    if (conns < 1 || batches < 1 || batch < 1 || bodyb < 17)
        return 1;
    struct worker *ws = calloc((size_t)conns, sizeof(*ws));
    pthread_t *th = calloc((size_t)conns, sizeof(*th));
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)conns + 1);
    for (int i = 0; i < conns; i++) {
        struct flm_err err = {0};
        ws[i].id = i;
        ws[i].batches = batches;
        ws[i].batch = batch;
        ws[i].body = bodyb;
        ws[i].bar = &bar;
        ws[i].evs = calloc((size_t)batch, sizeof(*ws[i].evs));
        if (flm_avro_connect(&ws[i].conn, host, port, 10000, level, NULL, &err) != FLM_OK) {
            fprintf(stderr, "avro_load: %s\n", err.msg);
            return 1;
        }
    }
    for (int i = 0; i < conns; i++)
        pthread_create(&th[i], NULL, run, &ws[i]);
    pthread_barrier_wait(&bar);
    uint64_t t0 = flm_mono_ms();
    long ok = 0, failed = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(th[i], NULL);
        ok += ws[i].ok;
        failed += ws[i].failed;
        flm_avro_close(&ws[i].conn);
        free(ws[i].evs);
    }
    double secs = (double)(flm_mono_ms() - t0) / 1000.0;
    if (secs <= 0)
        secs = 0.001;
    double evs = (double)ok * (double)batch;
    fprintf(stderr, "avro_load: %ld batches OK, %ld failed, %.0f events in %.3f s = %.0f ev/s\n",
            ok, failed, evs, secs, evs / secs);
    printf("result ok_batches=%ld failed_batches=%ld events=%.0f secs=%.3f ev_per_s=%.0f\n", ok,
           failed, evs, secs, evs / secs);
    free(ws);
    free(th);
    return failed ? 2 : 0;
}
