#pragma once

// Cross-task checks of a workflow: unique ids, dependencies that exist, no
// cycle (named), only configured workers, bounded size.

#include <set>
#include <string>
#include <vector>

#include "core/json_codec.hpp"

namespace troupe {

struct workflow_limits {
  size_t max_tasks = 10000;
  size_t max_depth = 1000;
};

/// The graph alone: unique ids, dependencies that exist, no cycle (named),
/// bounded depth. Tasks without an id (refused by their decoder) are only
/// counted. Appends one message per problem; returns true if none.
bool check_task_graph(const std::vector<task>& tasks, problems& out,
                      const workflow_limits& limits = {});

/// The graph and the workers. Appends one message per problem; returns
/// true if there was none.
bool check_workflow(const workflow& w, const std::set<std::string>& workers,
                    problems& out, const workflow_limits& limits = {});

} // namespace troupe
