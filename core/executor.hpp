#pragma once

// An executor turns one task into one result. `run` may block (it runs a
// subprocess), so the worker actor calls it off CAF's scheduler threads; an
// executor is shared by the slots of a worker and must be thread-safe.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/config.hpp"
#include "core/model.hpp"

namespace troupe {

/// The CLI reported, while running, that an API request failed and that it
/// will try again after `delay_ms` (stream-json `api_retry`). For a 429 the
/// delay is the API's retry-after: the whole account should wait that long.
struct api_retry_event {
  std::string task_id;
  std::string model;
  int status = 0; // HTTP status of the failed request; 0 if none (connection)
  int64_t delay_ms = 0;
  int attempt = 0;
};

/// Ways for a run to tell its caller what happens while it runs (called on
/// the thread that runs the executor).
struct run_hooks {
  std::function<void(const api_retry_event&)> on_api_retry;
};

class executor {
public:
  virtual ~executor() = default;

  /// Runs the task to its result; never throws.
  virtual result run(const task& t, int attempt,
                     const run_hooks& hooks = {}) const = 0;

  /// False for executors that compute their result at once and only
  /// simulate the time it takes (see latency()).
  virtual bool blocking() const { return true; }

  /// For non-blocking executors: when the result is due after the start.
  virtual std::chrono::milliseconds latency() const { return {}; }

  /// "claude", "command" or "sim".
  virtual std::string kind() const = 0;
};

using executor_ptr = std::shared_ptr<const executor>;

/// What names a task's process for cancel_child (core/process.hpp): one
/// task id runs at most once at a time in a worker.
inline std::string cancel_key_of(const task& t) {
  return t.worker + "/" + t.task_id;
}

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
