/*
 * types_routing.c - the component types of selectors, sink processors and interceptors (routing), listed for
 * src/core/registry.c.  Add each new type's descriptor here.
 */
#include "core/component.h"

extern const struct flm_type flm_selector_multiplexing, flm_selector_load_balancing;
extern const struct flm_type flm_sinkproc_failover, flm_sinkproc_load_balance;
extern const struct flm_type flm_interceptor_timestamp, flm_interceptor_host,
    flm_interceptor_static, flm_interceptor_remove_header, flm_interceptor_uuid,
    flm_interceptor_search_replace, flm_interceptor_regex_filter, flm_interceptor_regex_extractor;

const struct flm_type *const flm_types_routing[] = {
    &flm_selector_multiplexing,
    &flm_selector_load_balancing,
    &flm_sinkproc_failover,
    &flm_sinkproc_load_balance,
    &flm_interceptor_timestamp,
    &flm_interceptor_host,
    &flm_interceptor_static,
    &flm_interceptor_remove_header,
    &flm_interceptor_uuid,
    &flm_interceptor_search_replace,
    &flm_interceptor_regex_filter,
    &flm_interceptor_regex_extractor,
    NULL,
};
