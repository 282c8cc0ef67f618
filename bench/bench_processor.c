/*
 * bench_processor.c - the channel processor's put path alone, without a
 * network or a load generator on the same two cores: this thread plays a
 * netcat source (200-byte events made with the header room the chain asks
 * for, the chain and selector run every 64 events, one put per 1000), the
 * agent's null sinks drain the memory channels on their own threads.
 *
 * Cases (issue 6): plain = no interceptors, replicating, one channel;
 * routing = timestamp + host + static -> multiplexing over two channels
 * (every event to c1).  Runs alternate between the cases; the figures are
 * medians.  Prints events/s and MB/s of the put loop, this thread's CPU ns
 * per event, the process's CPU and peak RSS.
 *
 * usage: bench_processor [--events N] [--runs R] [--only plain|routing]   (--only: for
 *        profiling one case)
 */
#include "core/agent.h"
#include "core/component.h"
#include "core/config/properties.h"
#include "core/counters.h"
#include "core/log.h"
#include "core/props.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define BATCH 1000
#define SLICE 64
#define BODY 200

static const char PLAIN[] =
    "a1.sources = r1\n"
    "a1.channels = c1\n"
    "a1.sinks = k1\n"
    "a1.sources.r1.type = seq\n"
    "a1.sources.r1.totalEvents = 1\n"
    "a1.sources.r1.channels = c1\n"
    "a1.channels.c1.type = memory\n"
    "a1.channels.c1.capacity = 100000\n"
    "a1.channels.c1.transactionCapacity = 1000\n"
    "a1.sinks.k1.type = null\n"
    "a1.sinks.k1.batchSize = 1000\n"
    "a1.sinks.k1.channel = c1\n";

static const char ROUTING[] =
    "a1.sources = r1\n"
    "a1.channels = c1 c2\n"
    "a1.sinks = k1 k2\n"
    "a1.sources.r1.type = seq\n"
    "a1.sources.r1.totalEvents = 1\n"
    "a1.sources.r1.channels = c1 c2\n"
    "a1.sources.r1.interceptors = ts hn st\n"
    "a1.sources.r1.interceptors.ts.type = timestamp\n"
    "a1.sources.r1.interceptors.hn.type = host\n"
    "a1.sources.r1.interceptors.st.type = static\n"
    "a1.sources.r1.interceptors.st.key = datacenter\n"
    "a1.sources.r1.interceptors.st.value = east\n"
    "a1.sources.r1.selector.type = multiplexing\n"
    "a1.sources.r1.selector.header = datacenter\n"
    "a1.sources.r1.selector.mapping.east = c1\n"
    "a1.sources.r1.selector.default = c2\n"
    "a1.channels.c1.type = memory\n"
    "a1.channels.c1.capacity = 100000\n"
    "a1.channels.c1.transactionCapacity = 1000\n"
    "a1.channels.c2.type = memory\n"
    "a1.channels.c2.capacity = 100000\n"
    "a1.channels.c2.transactionCapacity = 1000\n"
    "a1.sinks.k1.type = null\n"
    "a1.sinks.k1.batchSize = 1000\n"
    "a1.sinks.k1.channel = c1\n"
    "a1.sinks.k2.type = null\n"
    "a1.sinks.k2.batchSize = 1000\n"
    "a1.sinks.k2.channel = c2\n";

struct result {
    double eps, cpu_ns;
};

static double secs(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct flm_agent *agent_up(const char *conf)
{
    struct flm_kvs kv;
    struct flm_diag d;
    struct flm_agent *a = NULL;
    struct flm_err err = {0};
    flm_kvs_init(&kv);
    flm_diag_init(&d);
    if (flm_properties_parse(conf, strlen(conf), "bench.conf", &kv, &err) != FLM_OK ||
        flm_agent_build(&kv, "a1", NULL, &d, &a) != FLM_OK || flm_agent_start(a, &err) != FLM_OK) {
        for (size_t i = 0; i < d.n; i++)
            fprintf(stderr, "%s: %s\n", d.v[i].key, d.v[i].msg);
        fprintf(stderr, "agent did not start: %s\n", err.msg);
        exit(2);
    }
    flm_diag_free(&d);
    flm_kvs_free(&kv);
    return a;
}

static struct result run(const char *conf, long long events)
{
    struct flm_agent *a = agent_up(conf);
    struct flm_component *comps[16];
    size_t nc = flm_agent_components(a, comps, 16);
    struct flm_source *src = NULL;
    struct flm_channel *chans[4];
    size_t nch = 0;
    for (size_t i = 0; i < nc; i++) {
        if (comps[i]->type->kind == FLM_SOURCE)
            src = (struct flm_source *)comps[i];
        else if (comps[i]->type->kind == FLM_CHANNEL && nch < 4)
            chans[nch++] = (struct flm_channel *)comps[i];
    }
    struct flm_processor *p = src->proc;
    struct flm_event **evs = malloc(BATCH * sizeof(*evs));
    uint64_t *route = malloc(2 * BATCH * sizeof(*route));
    char body[BODY];
    memset(body, 'x', sizeof(body));
    bool routes = flm_processor_routes(p);
    uint64_t *req = routes ? route : NULL, *opt = routes ? route + BATCH : NULL;
    long long lost = 0;

    double w0 = secs(CLOCK_MONOTONIC), c0 = secs(CLOCK_THREAD_CPUTIME_ID);
    for (long long done = 0; done < events;) {
        size_t slots, bytes = flm_processor_header_room(p, &slots), n = 0, prep = 0;
        while (n < BATCH && done < events) {
            memcpy(body, &done, sizeof(done)); /* distinct bodies, no formatting cost */
            done++;
            evs[n++] = flm_event_new_room(body, sizeof(body), NULL, 0, slots, bytes);
            if (n - prep == SLICE)
                prep = n = flm_processor_prepare(p, evs, prep, n, req, opt);
        }
        n = flm_processor_prepare(p, evs, prep, n, req, opt);
        struct flm_err err = {0};
        if (flm_processor_put_prepared(p, evs, n, req, opt, &err) != FLM_OK)
            lost += (long long)n;
    }
    double cpu = secs(CLOCK_THREAD_CPUTIME_ID) - c0;
    bool empty = false;
    while (!empty) { /* the sinks' share: wall time until they drained */
        empty = true;
        for (size_t i = 0; i < nch; i++)
            empty = empty && flm_channel_size(chans[i]) == 0;
        if (!empty)
            nanosleep(&(struct timespec){0, 200000}, NULL);
    }
    double wall = secs(CLOCK_MONOTONIC) - w0;
    flm_agent_stop(a, false, 0);
    flm_agent_free(a);
    free(evs);
    free(route);
    if (lost > 0)
        fprintf(stderr, "warning: %lld events lost (channel full)\n", lost);
    return (struct result){(double)events / wall, cpu * 1e9 / (double)events};
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    long long events = 5000000;
    int runs = 5, only = -1;
    long long v;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--only") == 0)
            only = strcmp(argv[i + 1], "routing") == 0;
        else if (strcmp(argv[i], "--events") == 0)
            events = flm_parse_long(argv[i + 1], &v) == FLM_OK ? v : -1;
        else if (strcmp(argv[i], "--runs") == 0)
            runs = flm_parse_long(argv[i + 1], &v) == FLM_OK && v <= 64 ? (int)v : -1;
    }
    if (runs < 1 || runs > 64 || events < BATCH) {
        fprintf(stderr, "usage: bench_processor [--events N>=1000] [--runs 1..64]\n");
        return 2;
    }
    atomic_store(&flm_log_level_global, FLM_LOG_WARN);
    double eps[2][64], cpu[2][64], ratio[64];
    const char *names[2] = {"plain", "routing"};
    const char *confs[2] = {PLAIN, ROUTING};
    double p0 = secs(CLOCK_PROCESS_CPUTIME_ID), t0 = secs(CLOCK_MONOTONIC);
    for (int r = 0; r < runs; r++) {
        for (int k = 0; k < 2; k++) {
            int c = r % 2 ? 1 - k : k; /* alternate which case goes first */
            if (only >= 0)
                c = only;
            struct result res = run(confs[c], events);
            eps[c][r] = res.eps;
            cpu[c][r] = res.cpu_ns;
            printf("run %d %-8s %10.0f events/s %7.1f MB/s %6.1f source-thread CPU ns/event\n",
                   r + 1, names[c], res.eps, res.eps * BODY / 1e6, res.cpu_ns);
            fflush(stdout);
        }
        if (only < 0)
            ratio[r] = eps[1][r] / eps[0][r];
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    for (int c = 0; c < 2; c++) {
        if (only >= 0 && c != only)
            continue;
        double e = median(eps[c], runs);
        printf("median %-8s %10.0f events/s %7.1f MB/s %6.1f source-thread CPU ns/event\n",
               names[c], e, e * BODY / 1e6, median(cpu[c], runs));
    }
    if (only < 0)
        printf("routing / plain (median of runs) = %.3f\n", median(ratio, runs));
    printf("process: %.1f s CPU over %.1f s wall, peak RSS %.1f MiB\n",
           secs(CLOCK_PROCESS_CPUTIME_ID) - p0, secs(CLOCK_MONOTONIC) - t0,
           (double)ru.ru_maxrss / 1024.0);
    return 0;
}
