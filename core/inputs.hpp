#pragma once

// What a dependent may read of its dependencies' work. A dependency's result
// names its files relative to the project root (`workspaces/marie/x.md`);
// the dependent runs in its own workspace, so each file is resolved to an
// absolute path it can open, and granted to it for reading only (a
// `Read(//abs/path)` rule: the CLI refuses reads outside the working
// folders otherwise, and no write rule is added). Only regular files inside
// the folders a node shares between its workers (the workspaces and the
// orchestrator's artifact copies) are granted: a task's context can be
// written by whoever drops a task file, so it must not open an auth home or
// /etc (docs/PROTOCOL.md, "Files handed to dependents").

#include <string>
#include <vector>

#include "core/model.hpp"

namespace troupe {

/// One file of a dependency, as the dependent sees it.
struct input_file {
  std::string dependency; // the task id it comes from
  std::string named;      // as the dependency's result names it
  std::string path;       // absolute and canonical; empty if not readable
  std::string why_not;    // set when `path` is empty
};

/// One file a result names (`named`, relative to `root` or absolute),
/// readable when it is a regular file inside `readable` (canonical folders).
input_file resolve_input(const std::string& dependency, const std::string& named,
                         const std::string& root,
                         const std::vector<std::string>& readable);

/// The folders of `root` whose files a dependent may be granted.
std::vector<std::string> shared_folders(const std::string& root);

/// The files of t.context.dependency_results, resolved against `root` and
/// checked against `readable` (canonical folders). At most `max_files`.
std::vector<input_file> dependency_inputs(const task& t,
                                          const std::string& root,
                                          const std::vector<std::string>& readable,
                                          size_t max_files = 200);

/// The CLI allow rule that lets an agent read exactly `abs`.
std::string read_rule(const std::string& abs);

/// `t` with each dependency's artifacts replaced by the paths the dependent
/// can open (a file that is not readable keeps its name, with the reason).
task with_input_paths(const task& t, const std::vector<input_file>& inputs);

} // namespace troupe
