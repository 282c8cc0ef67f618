/*
 * processor.h - construction of a source's channel processor (the put path
 * is declared in component.h).  Built by the agent at config time.
 */
#ifndef FLM_PROCESSOR_H
#define FLM_PROCESSOR_H

#include "core/component.h"

/* Takes ownership of sel (may not be NULL) and of the interceptor array
 * (n may be 0).  The channels are borrowed from the agent. */
int flm_processor_new(struct flm_selector *sel, struct flm_interceptor **ics, size_t nics,
                      struct flm_processor **out);
void flm_processor_free(struct flm_processor *p);
/* Frees a selector/interceptor built by the agent (ops->destroy, conf, struct). */
void flm_selector_free(struct flm_selector *sel);
void flm_interceptor_free(struct flm_interceptor *ic);

#endif
