/*
 * sinkproc.h - shared by the failover and load_balance sink processors: the
 * clock their penalties are measured on.  Tests replace it (set it before
 * any group runs and restore it after; it is read on the group's runner
 * thread without synchronisation).
 */
#ifndef FLM_SINKPROC_H
#define FLM_SINKPROC_H

#include <stdint.h>

/* Milliseconds on a clock that never goes backwards; default flm_mono_ms. */
extern uint64_t (*flm_sinkproc_clock)(void);

/* min(cap_ms, 2^k * 1000 ms) without overflow, for k >= 0. */
static inline uint64_t flm_sinkproc_penalty(unsigned k, uint64_t cap_ms)
{
    if (k >= 40)
        return cap_ms;
    uint64_t p = (1ull << k) * 1000u;
    return p < cap_ms ? p : cap_ms;
}

#endif
