/*
 * agent_internal.h - what a built agent holds; shared by agent_build.c (the
 * config cascade) and agent.c (lifecycle).  Not for components.
 */
#ifndef FLM_AGENT_INTERNAL_H
#define FLM_AGENT_INTERNAL_H

#include "core/agent.h"

#include <pthread.h>


struct runner {
    pthread_t th;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic bool stop;        /* leave after the current call */
    _Atomic bool drain;       /* leave once a call finds nothing to do */
    _Atomic uint64_t deadline; /* mono ms; drain bound */
    struct flm_source *src;   /* pollable source, or */
    struct flm_sinkgroup *grp; /* sink group */
    struct flm_logctx *log;
};

struct chan_slot {
    struct flm_channel *ch;
    void *newconf;            /* reused channel: conf to apply at start */
    bool reused;              /* ch came from the previous agent */
    bool moved;               /* ch was taken over by the next agent */
    bool live;                /* initialised and usable */
    int nusers;
};

struct src_slot {
    struct flm_source *src;
    struct flm_selector *sel;       /* until handed to the processor */
    struct flm_interceptor **ics;
    size_t nics;
    size_t *chan;                    /* indexes into chans */
    size_t nchan;
    bool live;
    struct runner *r;
};

struct sink_slot {
    struct flm_sink *sink;
    size_t chan;
    bool live;
    bool grouped;
};

struct group_slot {
    struct flm_sinkgroup *g;
    size_t *members;                 /* indexes into sinks */
    size_t nmembers;
    bool implicit;                   /* the default group of an ungrouped sink */
    bool live;
    struct runner *r;
};

struct flm_agent {
    char name[64];
    struct chan_slot *chans;
    size_t nchans;
    struct src_slot *srcs;
    size_t nsrcs;
    struct sink_slot *sinks;
    size_t nsinks;
    struct group_slot *groups;
    size_t ngroups;
    bool started;
};

/* Frees what agent_build allocated for a component (typed conf). */
void flm_comp_release(struct flm_component *c);
/* Frees a source slot (source, processor or pending selector/interceptors). */
void flm_src_slot_free(struct src_slot *s);

#endif
