#pragma once

// Runs a task with the Claude Code CLI (`claude -p`, the task text on stdin,
// never through a shell; the flags and environment in docs/CONFIG.md) and
// classifies what came back.

#include "core/executor_common.hpp"
#include "core/inputs.hpp"
#include "core/process.hpp"

namespace troupe {

class claude_executor : public executor {
public:
  /// `agents`: the worker's sub-agents as the CLI's --agents object
  /// (core/agents.hpp), or empty.
  claude_executor(claude_settings s, worker_config w, worker_paths p,
                  json agents = json::object());

  result run(const task& t, int attempt,
             const run_hooks& hooks = {}) const override;
  std::string kind() const override { return "claude"; }

  /// The argv for one task (public so tests can check it).
  std::vector<std::string> argv_for(const task& t) const;
  std::vector<std::string> argv_for(const task& t,
                                    const std::vector<input_file>& inputs) const;

  /// The dependencies' files this task may read (core/inputs.hpp).
  std::vector<input_file> inputs_for(const task& t) const;

  /// The environment of every run: a minimal allow-list, the worker's own
  /// config dir and key, and a low retry count.
  std::vector<std::string> env() const;
  /// env() for one attempt of a task: through the gateway when there is
  /// one (ANTHROPIC_BASE_URL, and the task's tag in
  /// ANTHROPIC_CUSTOM_HEADERS).
  std::vector<std::string> env_for(const task& t, int attempt) const;

private:
  bool streaming() const;
  /// The task's own cap, else the worker's: the CLI's --max-budget-usd,
  /// and the gateway's per request.
  std::optional<double> budget_of(const task& t) const {
    return t.budget_usd ? t.budget_usd : worker_.max_budget_usd;
  }

  claude_settings settings_;
  worker_config worker_;
  worker_paths paths_;
  worker_files files_;
  json agents_;
  std::vector<std::string> shared_; // folders a dependent may be granted
};

/// Turns the CLI's outcome into a result (pure; unit-tested on its own).
/// `r` arrives with task_id, worker, attempt and model set. `raw`: the
/// whole answer is the summary (no report block is looked for). `schema`:
/// the task had an output_schema, so the report is the CLI's
/// `structured_output` (kept as the result's `output`), and a run without
/// one is bad output.
void classify_claude_outcome(const process_outcome& o, result& r,
                             bool raw = false, bool schema = false);

} // namespace troupe
