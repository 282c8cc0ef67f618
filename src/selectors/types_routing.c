/*
 * types_routing.c - the component types of selectors, sink processors and interceptors (routing), listed for
 * src/core/registry.c.  Add each new type's descriptor here.
 */
#include "core/component.h"

const struct flm_type *const flm_types_routing[] = {
    NULL,
};
