#pragma once

// Pieces shared by the process-based executors.

#include <memory>

#include "core/artifacts.hpp"
#include "core/executor.hpp"
#include "core/process.hpp"

namespace troupe {

/// A result for `t` with the bookkeeping fields filled in.
result begin_result(const task& t, int attempt, const std::string& model);

/// Closes a run: the completion time.
void end_result(result& r);

/// The folders a worker writes in, made once per executor, with what tells
/// its attempts whether they ran alone in them.
struct worker_files {
  artifact_scope scope;
  std::shared_ptr<overlap_tracker> overlap = std::make_shared<overlap_tracker>();

  /// Creates the add_dirs (the CLI refuses a missing one).
  static worker_files make(const worker_paths& p, const worker_config& w);
};

/// One attempt's files: the writable folders are snapshot at its start
/// (when no other attempt of the executor is running), so that what it
/// wrote is found even when it neither listed it nor used a tool the
/// stream shows (a Bash redirect, a command executor).
class attempt_files {
public:
  explicit attempt_files(const worker_files& w);
  ~attempt_files();
  attempt_files(const attempt_files&) = delete;
  attempt_files& operator=(const attempt_files&) = delete;

  /// For a complete result: each reported artifact must be a regular file
  /// in scope, else the attempt fails as bad_output naming the path; the
  /// files written (`written`, and the snapshot's difference when this
  /// attempt ran alone) are added; `artifacts` and `files` are set.
  void check(result& r, const std::vector<std::string>& written);

private:
  const worker_files& w_;
  overlap_tracker::ticket ticket_;
  bool ended_ = false;
  std::optional<folder_snapshot> before_;
};

/// Marks `r` failed with `kind` and `message`.
void fail_result(result& r, std::string kind, std::string message);

/// Maps a timeout or a failure to start onto `r`; returns true if it did.
bool classify_supervision(const process_outcome& o, result& r);

/// The last `n` bytes of a stream, for error messages.
std::string tail(const std::string& s, size_t n = 400);

/// "<what> exit code 3: <the end of its stderr, else stdout>", without the
/// colon when it printed nothing.
std::string crash_message(const std::string& what, const process_outcome& o);

/// The deadline of a task: its own timeout_s, else the worker's.
std::chrono::milliseconds task_deadline(const task& t, const worker_config& w);

} // namespace troupe
