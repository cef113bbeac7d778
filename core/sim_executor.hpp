#pragma once

// The built-in simulator: no process, no network. Deterministic output from
// the task, configurable latency and token usage, and every result says it
// is simulated. For demos, tests and benchmarks.
//
// A task can ask for a failure with context {"sim_outcome": "failed",
// "sim_error_kind": "rate_limited"} (kind defaults to "crashed").

#include "core/executor.hpp"

namespace troupe {

class sim_executor : public executor {
public:
  sim_executor(sim_settings s, worker_config w);

  result run(const task& t, int attempt,
             const run_hooks& hooks = {}) const override;
  bool blocking() const override { return false; }
  std::chrono::milliseconds latency() const override;
  std::string kind() const override { return "sim"; }

private:
  sim_settings settings_;
  worker_config worker_;
};

} // namespace troupe
