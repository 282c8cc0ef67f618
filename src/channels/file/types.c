/*
 * types.c - the component types of the file channel, listed for
 * src/core/registry.c.  Add each new type's descriptor here.
 */
#include "core/component.h"

extern const struct flm_type flm_channel_file;

const struct flm_type *const flm_types_filechannel[] = {
    &flm_channel_file,
    NULL,
};
