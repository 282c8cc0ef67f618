/*
 * types_rpc.c - the component types of Avro and Thrift RPC sources and sinks, listed for
 * src/core/registry.c.  Add each new type's descriptor here.
 */
#include "core/component.h"

extern const struct flm_type flm_source_thrift;
extern const struct flm_type flm_sink_thrift;
extern const struct flm_type flm_source_avro;
extern const struct flm_type flm_sink_avro;

const struct flm_type *const flm_types_rpc[] = {
    &flm_source_thrift,
    &flm_sink_thrift,
    &flm_source_avro,
    &flm_sink_avro,
    NULL,
};
