#pragma once

// A run as OpenTelemetry spans, in OTLP/HTTP's JSON encoding (the body of
// POST /v1/traces), following the GenAI semantic conventions: one span per
// run, under it the planning step, each task attempt (`invoke_agent
// {worker}`) and the synthesis. Built from report.json alone, so it is pure
// and a test checks it against the run. Ids are derived from the run id
// (trace) and the span's key, so another process can name the same span.

#include <string>

#include "core/json_codec.hpp"

namespace troupe {

/// 32 hex digits: the run's trace id.
std::string trace_id_of(const std::string& run_id);
/// 16 hex digits: the span of `key` in the run ("run", "planning",
/// "synthesis", "<worker>/<task_id>#<attempt>").
std::string span_id_of(const std::string& run_id, const std::string& key);

/// The W3C trace context of that span: "00-<trace>-<span>-01".
std::string traceparent_of(const std::string& run_id, const std::string& key);
/// Where a task attempt carries it (task.extra), for its executor.
inline constexpr const char* traceparent_key = "troupe_traceparent";

/// {"resourceSpans": [...]} for report.json `report`; service.name
/// `service`.
json otlp_trace_of(const json& report, const std::string& service);

} // namespace troupe
