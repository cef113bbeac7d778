#pragma once

// Reads the Claude CLI's `--output-format stream-json --verbose` output line
// by line as it arrives: one JSON event per line, the last being the same
// `result` object that `--output-format json` prints. Keeps the result line,
// the `api_retry` events and the files the file tools wrote (a tool_use of
// Write, Edit, MultiEdit or NotebookEdit whose tool_result is not an error);
// everything else is only counted.

#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/executor.hpp"

namespace troupe {

class stream_json_reader {
public:
  /// `on_retry` (may be empty) hears each api_retry event as it arrives;
  /// task_id and model are copied into every event.
  stream_json_reader(std::string task_id, std::string model,
                     std::function<void(const api_retry_event&)> on_retry);

  void line(std::string_view l);

private:
  void take_tool_blocks(const json& message, bool from_assistant);

public:
  /// The `result` line, or else the last line that was not a JSON event
  /// (what the CLI printed instead), for classify_claude_outcome.
  const std::string& final_output() const;

  const std::vector<api_retry_event>& retries() const { return retries_; }
  /// API requests the CLI sent: each answer (an assistant message id, a
  /// sub-agent's included) and each attempt it retried.
  size_t api_requests() const { return answers_.size() + retries_.size(); }
  size_t events() const { return events_; }
  /// Absolute paths written by a file tool that succeeded, in order.
  const std::vector<std::string>& written() const { return written_; }

private:
  std::string task_id_, model_;
  std::function<void(const api_retry_event&)> on_retry_;
  std::string result_line_, other_line_;
  std::vector<api_retry_event> retries_;
  std::map<std::string, std::string> pending_writes_; // tool_use id -> path
  std::vector<std::string> written_;
  std::set<std::string> answers_; // assistant message ids
  size_t events_ = 0;
};

} // namespace troupe
