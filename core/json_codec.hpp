#pragma once

// Strict JSON codec for the model. Every violation becomes one message that
// names the field and the reason, e.g.
//   task_id "../x": must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$
// Unknown fields are kept in `extra`, never rejected.

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.hpp"

namespace troupe {

using problems = std::vector<std::string>;

inline constexpr std::string_view task_id_pattern
  = "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$";

/// The fields the README defines for a task and a result; any other field
/// is kept in `extra`.
inline constexpr std::array<std::string_view, 11> task_fields{
  "task_id", "worker", "description", "dependencies", "priority",
  "context", "timeout_s", "max_attempts", "model", "budget_usd", "approve"};
inline constexpr std::array<std::string_view, 15> result_fields{
  "task_id", "status", "worker", "completed_at", "artifacts",
  "summary", "findings", "attempt", "duration_ms", "model",
  "session_id", "usage", "cost_usd", "error", "simulated"};

/// True if `id` matches task_id_pattern (safe as a file name, no traversal).
bool valid_task_id(std::string_view id);

/// Documents nested deeper than this are refused before they are parsed:
/// nlohmann's copy, dump and comparison recurse, so 100,000 nested arrays
/// (200 KB) would overflow the stack of whoever touches them.
inline constexpr size_t max_json_depth = 128;

/// True if no array or object in `text` is nested deeper than `limit`
/// (brackets inside strings do not count). One pass, no allocation.
bool json_depth_within(std::string_view text, size_t limit = max_json_depth);

/// Parses text as JSON; on failure adds "not valid JSON: <why>" (or the
/// depth limit it passed).
std::optional<json> parse_json_text(std::string_view text, problems& out);

/// The same without a reason: a discarded value if `text` is not JSON or
/// is nested too deep.
json parse_json_or_discard(std::string_view text);

/// A member of JSON that someone else wrote (the CLI's output): its value
/// if it is a string (a boolean), else `fallback`. nlohmann's value()
/// throws on a member of another type.
std::string string_member(const json& j, const char* key,
                          const std::string& fallback = "");
bool bool_member(const json& j, const char* key, bool fallback);
/// A number as an int64_t, saturated (4e41 is INT64_MAX, not undefined
/// behaviour as a cast would be), fractions cut; `fallback` if no number.
int64_t saturating_int(const json& v, int64_t fallback = 0);
int64_t int_member(const json& j, const char* key, int64_t fallback = 0);

/// Decodes a task. `prefix` is prepended to field names ("tasks[2].").
std::optional<task> task_from_json(const json& j, problems& out,
                                   const std::string& prefix = "");
json to_json(const task& t);

std::optional<result> result_from_json(const json& j, problems& out);
json to_json(const result& r);
json to_json(const usage& u);
usage usage_from_json(const json& j);

/// Decodes a workflow file (its tasks are decoded but not cross-checked:
/// see workflow_check.hpp for ids, dependencies, cycles and workers).
std::optional<workflow> workflow_from_json(const json& j, problems& out);
json to_json(const workflow& w);

/// Reads a whole file; on failure adds "cannot read <path>: <why>".
std::optional<std::string> read_text_file(const std::string& path,
                                          problems& out);

} // namespace troupe
