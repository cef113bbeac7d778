#pragma once

// The task, result and workflow model (README, "Task, result, workflow"). Plain structs: the JSON
// codec (json_codec.hpp) turns them into files, the actors trade them as
// messages (actors/messages.hpp adds their CAF inspect()).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace troupe {

using json = nlohmann::json;

enum class priority : uint8_t { high = 0, medium = 1, low = 2 };

/// Returns "high", "medium" or "low".
std::string_view to_string(priority x);
std::optional<priority> parse_priority(std::string_view x);

enum class status : uint8_t { complete, failed, rejected, cancelled };

/// Returns "complete", "failed", "rejected" or "cancelled".
std::string_view to_string(status x);
std::optional<status> parse_status(std::string_view x);

/// Token counts as the Messages API reports them.
struct usage {
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t cache_creation_input_tokens = 0;
  int64_t cache_read_input_tokens = 0;

  /// What the input-tokens-per-minute meter counts (cache reads do not).
  int64_t metered_input() const {
    return input_tokens + cache_creation_input_tokens;
  }
  usage& operator+=(const usage& other);
};

bool operator==(const usage& x, const usage& y);

/// One unit of work for one worker.
struct task {
  std::string task_id;
  std::string worker;
  std::string description;
  std::vector<std::string> dependencies;
  priority prio = priority::medium;
  /// An object; null stands for {} (no allocation for the common case).
  json context;
  std::optional<double> timeout_s;
  std::optional<int> max_attempts;
  std::optional<std::string> model;
  std::optional<double> budget_usd;
  /// Waits in awaiting_approval until a person approves it (or its
  /// worker's config says "approve": true).
  bool approve = false;
  /// Fields this version does not know, kept verbatim for round trips
  /// (null when there are none).
  json extra;
};

struct error_info {
  std::string kind;
  std::string message;
};

/// The one result of a task.
struct result {
  std::string task_id;
  status state = status::failed;
  std::string worker;
  std::string completed_at;
  std::vector<std::string> artifacts;
  std::string summary;
  std::vector<std::string> findings;
  int attempt = 1;
  int64_t duration_ms = 0;
  std::string model;
  std::string session_id;
  troupe::usage tokens;
  double cost_usd = 0;
  std::optional<error_info> error;
  /// True when the built-in simulator made this result.
  bool simulated = false;
  json extra; // unknown fields and extras such as num_turns; null if none

  bool ok() const { return state == status::complete; }
};

/// `extra` key of a task's (or a workflow's, for its tasks) JSON Schema for
/// the agent's report, and of a result's report that was checked against it.
inline constexpr const char* output_schema_key = "output_schema";
inline constexpr const char* result_output_key = "output";

/// The task's output_schema, or null.
const json* output_schema_of(const task& t);

/// `extra` key of a result's usage and cost per model (a run's sub-agents
/// may use other models than its own).
inline constexpr const char* result_models_key = "models";

/// A set of tasks with dependencies, run as one.
struct workflow {
  std::string name;
  std::string description;
  std::vector<task> tasks;
  bool synthesize = true;
  std::optional<double> budget_usd;
  json extra;
  /// Not in its JSON: complete results of its tasks from an earlier run
  /// (core/resume.hpp), which the orchestrator hands on instead of
  /// running those tasks again.
  std::vector<result> prior;
};

/// Builds a failed (or other non-complete) result for `t`.
result make_failure(const task& t, status st, std::string kind,
                    std::string message);

} // namespace troupe
