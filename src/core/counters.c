/*
 * counters.c - counter names (Flume's MBean attribute names, metrics.md 3),
 * clocks, and Java's Double.toString for ChannelFillPercentage.
 */
#include "core/counters.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const flm_src_ctr_names[FLM_SRC_NCTR] = {
    "EventReceivedCount", "EventAcceptedCount", "AppendReceivedCount",
    "AppendAcceptedCount", "AppendBatchReceivedCount", "AppendBatchAcceptedCount",
    "OpenConnectionCount", "EventReadFail", "ChannelWriteFail", "GenericProcessingFail",
};
const char *const flm_ch_ctr_names[FLM_CH_NCTR] = {
    "EventPutAttemptCount", "EventPutSuccessCount", "EventTakeAttemptCount",
    "EventTakeSuccessCount",
};
const char *const flm_sink_ctr_names[FLM_SINK_NCTR] = {
    "ConnectionCreatedCount", "ConnectionClosedCount", "ConnectionFailedCount",
    "BatchEmptyCount", "BatchUnderflowCount", "BatchCompleteCount",
    "EventDrainAttemptCount", "EventDrainSuccessCount", "EventWriteFail", "ChannelReadFail",
};

uint64_t flm_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t flm_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void flm_counters_start(struct flm_counters *c)
{
    for (int i = 0; i < FLM_CTR_MAX; i++)
        atomic_store_explicit(&c->v[i], 0, memory_order_relaxed);
    atomic_store(&c->start_time, flm_now_ms());
    atomic_store(&c->stop_time, 0);
}

void flm_counters_stop(struct flm_counters *c)
{
    atomic_store(&c->stop_time, flm_now_ms());
}

void flm_java_double(double v, char *buf, unsigned cap)
{
    if (isnan(v)) {
        snprintf(buf, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, cap, v > 0 ? "Infinity" : "-Infinity");
        return;
    }
    if (v == 0) {
        snprintf(buf, cap, signbit(v) ? "-0.0" : "0.0");
        return;
    }
    /* Shortest digits that round-trip, as Java's algorithm (close enough for
     * the values counters produce). */
    char digits[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(digits, sizeof(digits), "%.*e", prec - 1, v);
        if (strtod(digits, NULL) == v)
            break;
    }
    /* digits = [-]d.ddde[+-]XX */
    const char *p = digits;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    char mant[24];
    int ml = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            mant[ml++] = *p;
    mant[ml] = '\0';
    int exp = (int)strtol(p + 1, NULL, 10);
    while (ml > 1 && mant[ml - 1] == '0')
        mant[--ml] = '\0';
    size_t n = 0;
    if (neg)
        buf[n++] = '-';
    double av = fabs(v);
    if (av >= 1e-3 && av < 1e7) {
        if (exp >= 0) {
            for (int i = 0; i <= exp; i++)
                buf[n++] = i < ml ? mant[i] : '0';
            buf[n++] = '.';
            if (exp + 1 < ml)
                for (int i = exp + 1; i < ml; i++)
                    buf[n++] = mant[i];
            else
                buf[n++] = '0';
        } else {
            buf[n++] = '0';
            buf[n++] = '.';
            for (int i = 0; i < -exp - 1; i++)
                buf[n++] = '0';
            for (int i = 0; i < ml; i++)
                buf[n++] = mant[i];
        }
        buf[n] = '\0';
    } else {
        buf[n++] = mant[0];
        buf[n++] = '.';
        if (ml > 1)
            for (int i = 1; i < ml; i++)
                buf[n++] = mant[i];
        else
            buf[n++] = '0';
        snprintf(buf + n, cap - n, "E%d", exp);
    }
}
