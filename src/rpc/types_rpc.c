/*
 * types_rpc.c - the component types of Avro and Thrift RPC sources and sinks, listed for
 * src/core/registry.c.  Add each new type's descriptor here.
 */
#include "core/component.h"

const struct flm_type *const flm_types_rpc[] = {
    NULL,
};
