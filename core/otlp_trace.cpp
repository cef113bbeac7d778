#include "core/otlp_trace.hpp"

#include "core/clock.hpp"
#include "core/sha256.hpp"
#include "core/timeline_svg.hpp"

namespace troupe {

namespace {

// OTLP's span kinds and status codes (opentelemetry/proto/trace/v1).
constexpr int span_kind_internal = 1;
constexpr int span_kind_client = 3;
constexpr int status_ok = 1;
constexpr int status_error = 2;

std::string nanos(int64_t ms) { return std::to_string(ms) + "000000"; }

json attr(const std::string& key, const json& v) {
  json value;
  if (v.is_string())
    value = {{"stringValue", v}};
  else if (v.is_boolean())
    value = {{"boolValue", v}};
  else if (v.is_number_integer())
    value = {{"intValue", std::to_string(v.get<int64_t>())}}; // OTLP JSON: int64 as a string
  else
    value = {{"doubleValue", v.is_number() ? v.get<double>() : 0.0}};
  return {{"key", key}, {"value", value}};
}

json span(const std::string& run_id, const std::string& key, const std::string& parent,
          const std::string& name, int kind, int64_t from_ms, int64_t to_ms, json attrs,
          bool ok, const std::string& message = {}) {
  json s = {{"traceId", trace_id_of(run_id)},
            {"spanId", span_id_of(run_id, key)},
            {"name", name},
            {"kind", kind},
            {"startTimeUnixNano", nanos(from_ms)},
            {"endTimeUnixNano", nanos(std::max(from_ms, to_ms))},
            {"attributes", std::move(attrs)},
            {"status", {{"code", ok ? status_ok : status_error}}}};
  if (!parent.empty())
    s["parentSpanId"] = span_id_of(run_id, parent);
  if (!ok && !message.empty())
    s["status"]["message"] = message;
  return s;
}

int64_t ms_or(const json& j, const char* key, int64_t fallback) {
  return ms_of_rfc3339(string_member(j, key)).value_or(fallback);
}

} // namespace

std::string trace_id_of(const std::string& run_id) {
  return sha256_hex("troupe trace " + run_id).substr(0, 32);
}

std::string span_id_of(const std::string& run_id, const std::string& key) {
  return sha256_hex("troupe span " + run_id + "\n" + key).substr(0, 16);
}

std::string traceparent_of(const std::string& run_id, const std::string& key) {
  return "00-" + trace_id_of(run_id) + "-" + span_id_of(run_id, key) + "-01";
}

json otlp_trace_of(const json& report, const std::string& service) {
  auto run_id = string_member(report, "run_id");
  auto started = ms_or(report, "started_at", 0), finished = ms_or(report, "finished_at", started);
  json spans = json::array();
  auto phases = report.find("phases");
  auto phase = [&](const char* key, const char* name) {
    if (phases == report.end() || !phases->is_object() || !phases->contains(key))
      return;
    auto& p = (*phases)[key];
    auto from = ms_or(p, "started_at", started), to = ms_or(p, "finished_at", from);
    started = std::min(started, from);
    finished = std::max(finished, to);
    spans.push_back(span(run_id, key, "run", name, span_kind_client, from, to,
                         {attr("gen_ai.operation.name", "invoke_agent"),
                          attr("gen_ai.agent.name", "orchestrator"),
                          attr("gen_ai.provider.name", "anthropic"),
                          attr("troupe.cost_usd", p.value("cost_usd", 0.0))},
                         p.value("ok", true)));
  };
  phase("planning", "invoke_agent orchestrator (planning)");
  phase("synthesis", "invoke_agent orchestrator (synthesis)");
  double total = report.value("orchestrator_cost_usd", 0.0);
  if (auto tasks = report.find("tasks"); tasks != report.end() && tasks->is_array())
    for (auto& r : *tasks) {
      if (!r.is_object())
        continue;
      auto worker = string_member(r, "worker"), id = string_member(r, "task_id");
      auto ran = last_attempt_of(r);
      if (!ran)
        continue; // never ran
      auto attempt = r.value("attempt", 1);
      auto st = string_member(r, "status");
      auto& u = r.contains("usage") && r["usage"].is_object() ? r["usage"] : json::object();
      json attrs = {attr("gen_ai.operation.name", "invoke_agent"),
                    attr("gen_ai.agent.name", worker),
                    attr("gen_ai.provider.name", "anthropic"),
                    attr("troupe.task_id", id),
                    attr("troupe.attempt", attempt),
                    attr("troupe.cost_usd", r.value("cost_usd", 0.0)),
                    attr("troupe.status", st)};
      if (auto m = string_member(r, "model"); !m.empty())
        attrs.push_back(attr("gen_ai.request.model", m));
      for (auto [from, to] : {std::pair{"input_tokens", "gen_ai.usage.input_tokens"},
                              std::pair{"output_tokens", "gen_ai.usage.output_tokens"},
                              std::pair{"cache_read_input_tokens", "gen_ai.usage.cache_read.input_tokens"},
                              std::pair{"cache_creation_input_tokens",
                                        "gen_ai.usage.cache_creation.input_tokens"}})
        if (auto v = u.find(from); v != u.end() && v->is_number_integer())
          attrs.push_back(attr(to, v->get<int64_t>()));
      total += r.value("cost_usd", 0.0);
      std::string message;
      if (auto e = r.find("error"); e != r.end() && e->is_object())
        message = string_member(*e, "kind") + ": " + string_member(*e, "message");
      auto [from, to] = *ran;
      started = std::min(started, from);
      finished = std::max(finished, to);
      spans.push_back(span(run_id, worker + "/" + id + "#" + std::to_string(attempt), "run",
                           "invoke_agent " + worker, span_kind_client, from, to,
                           std::move(attrs), st == "complete", message));
    }
  auto status = string_member(report, "status");
  spans.insert(spans.begin(),
               span(run_id, "run", "", "troupe.run " + string_member(report, "workflow"),
                    span_kind_internal, started, finished,
                    {attr("troupe.run_id", run_id), attr("troupe.cost_usd", total),
                     attr("troupe.status", status)},
                    status == "complete"));
  return {{"resourceSpans",
           json::array({{{"resource", {{"attributes", json::array({attr("service.name", service)})}}},
                         {"scopeSpans",
                          json::array({{{"scope", {{"name", "troupe"}}}, {"spans", spans}}})}}})}};
}

} // namespace troupe
