#pragma once

// Pieces shared by the process-based executors.

#include "core/executor.hpp"
#include "core/process.hpp"

namespace troupe {

/// A result for `t` with the bookkeeping fields filled in.
result begin_result(const task& t, int attempt, const std::string& model);

/// Closes a run: artifacts of a complete result made relative to the root
/// (and kept inside the worker's workspace), and the completion time.
void end_result(result& r, const worker_paths& paths);

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
