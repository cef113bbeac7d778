#pragma once

// What an agent is told (the task text on stdin) and what we take back from
// its answer (summary, findings, artifacts).

#include <string>
#include <string_view>
#include <vector>

#include "core/model.hpp"

namespace troupe {

/// What a dependent gets of a finished dependency in
/// context.dependency_results: summary, findings, artifacts; never a
/// transcript.
json dependency_handoff(const result& r);

/// Marks a task whose description is sent as it is (no context section, no
/// report instructions) and whose whole answer comes back as the summary:
/// the orchestrator's planning and synthesis.
void make_raw(task& t);
bool is_raw(const task& t);

/// Context key of a retry: {"kind", "message"} of the attempt before, whose
/// output was refused, so the agent can do better (as the planner's re-ask).
inline constexpr const char* previous_failure_key = "troupe_previous_failure";

/// The task text: description, context (dependency results and a previous
/// failure apart), the reason a previous attempt was refused, and how to
/// report: a JSON report block, or the structured output its
/// output_schema asks for. A raw task: its description.
std::string compose_task_prompt(const task& t);

struct agent_report {
  std::string summary;
  std::vector<std::string> findings;
  std::vector<std::string> artifacts;
  bool structured = false; // true if a JSON report block was found
};

/// Takes the last ```json block holding an object with "summary" from the
/// agent's answer; otherwise the whole (trimmed) answer is the summary.
agent_report extract_report(std::string_view text);

} // namespace troupe
