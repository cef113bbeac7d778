#pragma once

// Exports a finished run as OpenTelemetry spans (core/otlp_trace) over
// OTLP/HTTP JSON when OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, through libtroupe-otlp.so.
// A failure is logged, never fatal: the run's own report stands.

#include "core/json_codec.hpp"

namespace troupe::node {

void export_trace(const json& report);

/// Whether runs are exported: then attempts carry their trace context.
bool trace_export_enabled();

} // namespace troupe::node
