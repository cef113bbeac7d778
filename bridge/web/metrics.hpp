#pragma once

// What GET /metrics exposes, in Prometheus's text format, through
// prometheus-cpp (Debian prometheus-cpp-dev): counters fed by the node's
// results and events as they come, gauges read from its status at each
// scrape. Counters start at 0 with the process, as Prometheus expects.

#include <memory>
#include <string>

#include "bridge/web/web_server.hpp"
#include "core/json_codec.hpp"

namespace troupe {

class web_metrics {
public:
  web_metrics();
  ~web_metrics();
  void observe(const task_observation& t);
  void event(const std::string& kind, const std::string& worker);
  /// The text of a scrape, its gauges set from `status` (GET /api/status).
  std::string scrape(const json& status);

private:
  struct impl;
  std::unique_ptr<impl> p_;
};

} // namespace troupe
