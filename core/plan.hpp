#pragma once

// Plain-language requests: what the orchestrator's LLM is asked to plan and
// to synthesise, how its plan is read and checked, and the deterministic
// router and answer used when no LLM is at hand (the simulator).

#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/json_codec.hpp"

namespace troupe {

/// A file given with --context: its name and text (JSON if it parses).
struct context_file {
  std::string name; // as given on the command line
  std::string text;
  json parsed;      // null if the file is not JSON
};

/// Reads context files (each at most `max_bytes`); one problem per file
/// that is missing, unreadable, a folder or too large.
std::vector<context_file> load_context_files(const std::vector<std::string>& paths,
                                             problems& out,
                                             size_t max_bytes = 256 * 1024);

/// The planner's task text: the request, the workers and their roles, the
/// context, the limits; after a refused plan, its errors to fix.
std::string planning_prompt(const config& cfg, const std::string& request,
                            const std::vector<context_file>& context,
                            const problems& previous_errors = {},
                            const std::string& previous_answer = {});

/// Reads the planner's answer into a workflow named after the request and
/// checks it: JSON (bare, or the last fenced block), a task list, the task
/// format, configured workers, unique ids, existing dependencies, no cycle,
/// at most max_tasks and max_depth, and no (worker, description) twice.
/// Returns nullopt with every problem in `out`.
std::optional<workflow> read_plan(const std::string& answer, const config& cfg,
                                  const std::string& request, problems& out);

/// The same checks for a workflow built some other way (the router).
bool check_plan(const workflow& wf, const config& cfg, problems& out);

/// Without an LLM: routes the request to the workers whose `keywords`
/// (or, failing those, whose role words) it mentions. A request about
/// "all" / "each" / "every" (or tous, toutes, chaque) items of a context list
/// (a JSON array, an object's array, or the lines of a text file) fans out
/// one task per item to the best-matching worker. Deterministic. Returns
/// nullopt with a problem when no worker matches.
std::optional<workflow> route_request(const config& cfg,
                                      const std::string& request,
                                      const std::vector<context_file>& context,
                                      problems& out);

struct run_summary;

/// The synthesiser's task text: the request and each task's status,
/// summary, findings, artifacts and error, never a transcript.
/// `root` given: the content of each small text file the results name (at
/// most synthesis_file_bytes each, synthesis_total_bytes in all, found in
/// the workspaces or in the orchestrator's copies under artifacts/) is
/// shown too; never a transcript.
inline constexpr size_t synthesis_file_bytes = 4096;
inline constexpr size_t synthesis_total_bytes = 16384;
std::string synthesis_prompt(const std::string& request, const run_summary& s,
                             const std::string& root = {});

} // namespace troupe
