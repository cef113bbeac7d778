#include "node/trace_export.hpp"

#include <cstdlib>

#include <spdlog/spdlog.h>

#include "core/otlp_trace.hpp"
#include "node/module_loader.hpp"

namespace troupe::node {

namespace {

using post_fn = int (*)(const char*, const char*, const char*, char*, size_t);

std::string env(const char* name) {
  auto* v = std::getenv(name);
  return v ? v : "";
}

} // namespace

bool trace_export_enabled() {
  return !env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").empty()
         || !env("OTEL_EXPORTER_OTLP_ENDPOINT").empty();
}

void export_trace(const json& report) {
  // As the OpenTelemetry SDKs read them: the signal's own endpoint is the
  // whole URL; the general one gets /v1/traces appended.
  auto url = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  if (url.empty()) {
    url = env("OTEL_EXPORTER_OTLP_ENDPOINT");
    if (url.empty())
      return;
    while (!url.empty() && url.back() == '/')
      url.pop_back();
    url += "/v1/traces";
  }
  auto service = env("OTEL_SERVICE_NAME");
  std::string why;
  auto post = reinterpret_cast<post_fn>(load_module_entry("libtroupe-otlp.so", "troupe_otlp_post", why));
  if (!post) {
    spdlog::warn("the trace was not exported: {}", why);
    return;
  }
  auto body = otlp_trace_of(report, service.empty() ? "troupe" : service).dump();
  char error[256] = {0};
  if (post(url.c_str(), env("OTEL_EXPORTER_OTLP_HEADERS").c_str(), body.c_str(), error,
           sizeof error)
      != 0)
    spdlog::warn("the trace was not exported to {}: {}", url, error);
  else
    spdlog::info("trace {} exported to {}", trace_id_of(string_member(report, "run_id")), url);
}

} // namespace troupe::node
