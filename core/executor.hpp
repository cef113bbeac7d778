#pragma once

// An executor turns one task into one result. `run` may block (it runs a
// subprocess), so the worker actor calls it off CAF's scheduler threads; an
// executor is shared by the slots of a worker and must be thread-safe.

#include <chrono>
#include <memory>
#include <string>

#include "core/config.hpp"
#include "core/model.hpp"

namespace troupe {

class executor {
public:
  virtual ~executor() = default;

  /// Runs the task to its result; never throws.
  virtual result run(const task& t, int attempt) const = 0;

  /// False for executors that compute their result at once and only
  /// simulate the time it takes (see latency()).
  virtual bool blocking() const { return true; }

  /// For non-blocking executors: when the result is due after the start.
  virtual std::chrono::milliseconds latency() const { return {}; }

  /// "claude", "command" or "sim".
  virtual std::string kind() const = 0;
};

using executor_ptr = std::shared_ptr<const executor>;

/// Where a worker's files live, all under one root.
struct worker_paths {
  std::string root;          // absolute
  std::string workspace;     // root/workspaces/<worker>
  std::string workspace_rel; // workspaces/<worker>
  std::string auth_home;     // root/auth-homes/<worker>

  static worker_paths make(const std::string& root, const std::string& worker);
};

/// Builds the executor `kind` for a worker (config's choice if kind is empty).
/// Creates the worker's workspace folder. Returns null and adds a problem if
/// the executor cannot be built (e.g. a command executor without argv).
executor_ptr make_executor(const std::string& kind, const config& cfg,
                           const worker_config& w, const std::string& root,
                           std::vector<std::string>& problems);

} // namespace troupe
