#pragma once

// What a worker's CLI may do, and what it was refused. Print mode has nobody
// to approve a tool, so a worker's grants are all in its config: the
// permission mode (acceptEdits lets it write inside its workspace and
// add_dirs, and nowhere else), allow rules for what the mode does not cover
// (read-only commands), deny rules, and extra folders. Rules that would open
// the filesystem beyond those folders are refused when the config is read;
// the CLI's `permission_denials` become the result's `denials`
// (docs/PROTOCOL.md, docs/CONFIG.md).

#include <string>
#include <vector>

#include "core/model.hpp"
#include "core/outcome.hpp"

namespace troupe {

/// The modes a worker may run in, and why the others are refused.
inline constexpr const char* permission_mode_names =
  "acceptEdits, dontAsk, plan or manual";
/// Empty when `mode` is allowed, else why not.
std::string check_permission_mode(const std::string& mode);

/// Empty when an `allowed_tools` rule is acceptable, else why not.
std::string check_allowed_rule(const std::string& rule);

/// Empty when an `add_dirs` entry is acceptable, else why not.
std::string check_add_dir(const std::string& dir);

/// What a worker does about a denial: fail the task, or report it beside a
/// complete result.
inline constexpr const char* on_denial_fail = "fail";
inline constexpr const char* on_denial_report = "report";

/// One refused tool call: the tool and a short form of its input (the file,
/// command, pattern or URL it was for).
struct denial {
  std::string tool;
  std::string input;
};

/// The `permission_denials` of a CLI result object.
std::vector<denial> denials_from_cli(const json& cli_result);

/// "Write /abs/evaluation.md; Bash rm -rf x", for messages and events.
std::string describe(const std::vector<denial>& xs);

/// The `denials` field of a result, kept in `extra`.
inline constexpr const char* result_denials_key = "denials";
inline constexpr const char* permission_denied_kind = kind::permission_denied;
void set_denials(result& r, const std::vector<denial>& xs);
std::vector<denial> denials_of(const result& r);

/// With on_denial "fail", a complete result that had denials becomes a
/// `permission_denied` failure (never retried: the same grants would be
/// refused again). The denials stay in the result either way.
void apply_denial_policy(result& r, const std::string& on_denial);

} // namespace troupe
