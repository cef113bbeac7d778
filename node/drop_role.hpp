#pragma once

// What `caf-node serve` and `caf-node orchestrator` both run: the folders,
// the actor team, the file drop over tasks/<worker>/, until SIGTERM or
// SIGINT. With a bridge (the orchestrator), the team's workers are the
// worker nodes behind the ZeroMQ broker.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "node/options.hpp"
#include "node/queue_link.hpp"
#include "node/web_role.hpp"

namespace CLI {
class App;
}

namespace troupe {
struct broker_settings;
}

namespace troupe::node {

struct drop_role_options {
  common_options common;
  double grace_s = 30;
  size_t max_task_bytes = 1u << 20;
  int64_t quiet_ms = 2000;
  double dependency_wait_s = 60;
  std::string ready_file;
  web_options web; // --http, --http-token-file
  /// --queue: tasks go through a Redis queue other orchestrators share
  /// (docs/QUEUE.md).
  queue_options queue;
  double lease_s = 30;
  /// --queue-results: "mine" (what this root imported or ran) or "all".
  std::string queue_results = "mine";
};

/// The options of the file drop: --grace-s, --max-task-bytes, --quiet-ms,
/// --dependency-wait-s, --http, --http-token-file (not the common ones or --ready-file, whose help
/// differs per command).
void add_drop_role_options(CLI::App* cmd, drop_role_options& opts,
                           const char* max_bytes_help);

/// Fills the broker's settings from the loaded config and the absolute
/// root; false (exit 2) after printing why it cannot (a key file).
using bridge_factory =
  std::function<bool(const config& cfg, const std::string& root, broker_settings& out)>;

/// Runs the role until a signal, then stops it: nothing new starts,
/// running tasks have the grace period (a second signal ends it), the rest
/// goes back to tasks/. `bridge` empty: a single node. The exit code.
int run_drop_role(const drop_role_options& opts, const bridge_factory& bridge);

} // namespace troupe::node
