/*
 * types_filesinks.c - the component types of file_roll and hdfs sinks, listed for
 * src/core/registry.c.  Add each new type's descriptor here.
 */
#include "core/component.h"

extern const struct flm_type flm_sink_file_roll, flm_sink_hdfs;

const struct flm_type *const flm_types_filesinks[] = {
    &flm_sink_file_roll,
    &flm_sink_hdfs,
    NULL,
};
