#pragma once

// Runs one supervised child process: argv without a shell, a given
// environment and working directory, stdin written then closed, stdout and
// stderr captured up to a cap, and a wall-clock deadline after which the
// whole process group gets SIGTERM, then SIGKILL.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace troupe {

struct process_spec {
  std::vector<std::string> argv;
  std::vector<std::string> env; // "KEY=value"; exactly this, nothing inherited
  std::string cwd;              // empty: the caller's
  std::string stdin_data;
  std::chrono::milliseconds deadline{std::chrono::minutes(15)};
  std::chrono::milliseconds kill_grace{2000};
  size_t max_output = 8u << 20; // per stream; the rest is read and dropped
  /// 0: off. Otherwise the group is killed (as at the deadline) when stdout
  /// stays silent this long: a CLI that streams events and stops is stuck.
  std::chrono::milliseconds stall_timeout{0};
  /// When set, stdout is handed over line by line as it arrives (without
  /// the newline) instead of being collected in `out`; a line longer than
  /// max_output is cut and marks the outcome truncated.
  std::function<void(std::string_view)> on_line;
  /// When set, cancel_child(cancel_key) stops this child (see there).
  std::string cancel_key;
};

struct process_outcome {
  bool started = false;
  std::string start_error;
  int exit_code = -1;   // valid when the child exited normally
  int term_signal = 0;  // the signal that ended it, if any
  bool timed_out = false;
  bool stalled = false; // killed after stall_timeout without output
  bool truncated = false;
  bool cancelled = false; // stopped by cancel_child
  std::string out;
  std::string err;
  int64_t duration_ms = 0;

  bool exited_ok() const { return started && term_signal == 0 && exit_code == 0; }
  /// "exit code 3", "killed by signal 9", ...
  std::string describe() const;
};

process_outcome run_process(const process_spec& spec);

/// Sends `sig` to the process group of every child run_process is
/// supervising right now (a node shutting down takes its children along).
/// Returns how many groups it signalled.
size_t signal_all_children(int sig);

/// The same, and from now on every child run_process starts gets `sig` as
/// soon as it exists: an interrupted node lets nothing new run, even a child
/// that was being spawned at this very moment.
size_t stop_all_children(int sig);

/// Stops the child started with `key` as its cancel_key: SIGTERM to its
/// process group, SIGKILL after its kill_grace, and its outcome says
/// cancelled. If none runs under that key right now, the next one started
/// with it is stopped as soon as it exists (a cancel that comes while the
/// child is being spawned is not lost), until forget_cancel(key). Returns
/// whether a running child was signalled.
bool cancel_child(const std::string& key);

/// The task behind `key` has ended: a cancel that found no child is void.
void forget_cancel(const std::string& key);

/// Also told of every cancel_child(key), after it: what else works for
/// that child (the gateway ends its requests upstream). One listener;
/// an empty function removes it.
void on_cancel_child(std::function<void(const std::string& key)> listener);

/// Builds the minimal environment: the listed variables of this process (if
/// set) plus the given extra ones.
std::vector<std::string> inherit_env(const std::vector<std::string>& names);

/// This machine's name (gethostname), or `fallback` if it has none.
std::string host_name(const std::string& fallback = "?");

} // namespace troupe
