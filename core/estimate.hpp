#pragma once

// What a workflow will cost and how long it will take, before it runs:
// per task and in total, a low / expected / high range of tokens, cost and
// duration. A worker with a history (its complete results in this root)
// is estimated from it; one without, from the model's list price and the
// size of what each request sends. The duration schedules the tasks on the
// workers' slots, in dependency order, and no faster than the configured
// rate limits let their tokens through. Pure: the history is passed in.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/model.hpp"

namespace troupe {

struct spread {
  double low = 0, expected = 0, high = 0;
  bool contains(double x) const;
  spread& operator+=(const spread& o);
};

/// One complete result of a worker, as far as estimates care.
struct past_run {
  double cost_usd = 0;
  double input_tokens = 0; // metered: uncached and cache writes
  double output_tokens = 0;
  double duration_ms = 0;
  /// What it would have cost on a warm prompt cache: its cache writes
  /// read instead (a run soon after another of the same prompt).
  double warm_cost_usd = 0;
};

/// By worker: its complete, not simulated results, oldest first.
using run_history = std::map<std::string, std::vector<past_run>>;

struct task_estimate {
  std::string task_id, worker, model;
  /// "history (N runs)" (or "(1 run)"), "list price", "simulator", "no API calls",
  /// "reused": how the range was reached.
  std::string basis;
  spread input_tokens, output_tokens, cost_usd, duration_s;
  bool calls_api = false; // its tokens go through the rate limits
};

struct plan_estimate {
  std::vector<task_estimate> tasks; // workflow order
  spread input_tokens, output_tokens, cost_usd;
  /// Wall time of the whole plan on the configured slots and limits.
  spread duration_s;
  /// What holds the expected duration: "slots" or "rate limits".
  std::string paced_by;
};

/// Tokens a worker's requests carry besides the task: its prompt file
/// (four bytes a token) and, for the claude executor, the CLI's own.
double worker_prompt_tokens(const config& cfg, const worker_config& w);

/// The estimate of one task of `w` (the executor `executor_kind`, empty:
/// the worker's own).
task_estimate estimate_task(const task& t, const config& cfg,
                            const worker_config& w, const run_history& history,
                            const std::string& executor_kind = {});

/// The estimate of `wf`; tasks named in `reused` cost nothing (their
/// complete result from an earlier run is handed on).
plan_estimate estimate_plan(const workflow& wf, const config& cfg,
                            const run_history& history,
                            const std::vector<std::string>& reused = {},
                            const std::string& executor_kind = {});

/// "fits", "may not fit" or "does not fit", with the figures.
std::string budget_verdict(const plan_estimate& e, double budget_usd);

/// One task's cost range in words: "$0.0100 to $0.0400, expected $0.0200
/// (list price)".
std::string estimate_words(const task_estimate& e);

json to_json(const plan_estimate& e);
/// A table for people: one line a task, then the total and the duration.
std::string estimate_text(const plan_estimate& e, std::optional<double> budget_usd);

/// The estimate beside what the run spent and took, task by task, and how
/// many fell inside their range: for report.json ("estimate") and
/// report.md.
json estimate_vs_actual_json(const plan_estimate& e, const std::vector<result>& actual,
                             double duration_ms);
std::string estimate_vs_actual_markdown(const plan_estimate& e,
                                        const std::vector<result>& actual,
                                        double duration_ms);

} // namespace troupe
