#pragma once

// A worker's sub-agents: Markdown files in the CLI's own format (a
// front-matter block with name, description, and optionally tools and
// model, then the sub-agent's prompt), read from the worker's `agents`
// folder and passed to every run as `--agents=<json>`. Reading them here,
// rather than copying them into the worker's login folder, lets `validate`
// name a broken definition and keeps the login folder the user's own.

#include <optional>
#include <string>

#include "core/json_codec.hpp"

namespace troupe {

/// One definition decoded: {"description", "prompt", "tools"?, "model"?}
/// under its name, or a problem naming the file.
struct agent_definition {
  std::string name;
  json spec;
};

/// Decodes one file's text; adds problems prefixed with `where`.
std::optional<agent_definition> parse_agent(const std::string& text,
                                            const std::string& where,
                                            problems& out);

/// Every `*.md` of `dir` as the CLI's --agents object (sorted by file
/// name; a name used twice is a problem, and so is a set too large to pass
/// as one argument).
json load_agents(const std::string& dir, problems& out);

} // namespace troupe
