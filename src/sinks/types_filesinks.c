/*
 * types_filesinks.c - the component types of file_roll and hdfs sinks, listed for
 * src/core/registry.c.  Add each new type's descriptor here.
 */
#include "core/component.h"

const struct flm_type *const flm_types_filesinks[] = {
    NULL,
};
