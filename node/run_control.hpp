#pragma once

// Talking to a `caf-node run` going in another terminal, through its
// folder (inotify on its own thread): `caf-node cancel --run RUN_ID`
// writes runs/<run_id>/cancel; `caf-node approve|reject TASK --run RUN_ID`
// writes runs/<run_id>/<task_id>.approve or .reject (holding why), for a
// task listed in runs/<run_id>/awaiting/.

#include <functional>
#include <string>
#include <thread>

namespace troupe::node {

/// The marker's name in runs/<run_id>/.
inline constexpr const char* run_cancel_marker = "cancel";
/// Where a run lists its tasks awaiting approval, one <task_id>.json each.
inline constexpr const char* run_awaiting_dir = "awaiting";

class run_control_watch {
public:
  /// Calls `on_cancel` once the cancel marker appears in `run_dir`, and
  /// `on_answer(task_id, yes, why)` for each approve/reject marker (the
  /// marker is removed), both on the watch's thread. A folder that cannot
  /// be watched is logged, not fatal.
  run_control_watch(const std::string& run_dir, std::function<void()> on_cancel,
                    std::function<void(const std::string&, bool, const std::string&)> on_answer);
  ~run_control_watch();
  run_control_watch(const run_control_watch&) = delete;
  run_control_watch& operator=(const run_control_watch&) = delete;

private:
  int inotify_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;
};

} // namespace troupe::node
