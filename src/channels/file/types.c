/*
 * types.c - the component types of the file channel, listed for
 * src/core/registry.c.  Add each new type's descriptor here.
 */
#include "core/component.h"

const struct flm_type *const flm_types_filechannel[] = {
    NULL,
};
