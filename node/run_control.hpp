#pragma once

// Asking a `caf-node run` going in another terminal to cancel itself:
// `caf-node cancel --run RUN_ID` writes runs/<run_id>/cancel, and the run
// watches its folder for it (inotify on its own thread).

#include <functional>
#include <string>
#include <thread>

namespace troupe::node {

/// The marker's name in runs/<run_id>/.
inline constexpr const char* run_cancel_marker = "cancel";

class run_cancel_watch {
public:
  /// Calls `on_cancel` (on the watch's thread) once the marker appears in
  /// `run_dir`. A folder that cannot be watched is logged, not fatal.
  run_cancel_watch(const std::string& run_dir, std::function<void()> on_cancel);
  ~run_cancel_watch();
  run_cancel_watch(const run_cancel_watch&) = delete;
  run_cancel_watch& operator=(const run_cancel_watch&) = delete;

private:
  int inotify_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;
};

} // namespace troupe::node
