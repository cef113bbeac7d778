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

/// The task text: description, context (dependency results apart), and the
/// instruction to end with a JSON report block. A raw task: its description.
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
