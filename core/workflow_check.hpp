#pragma once

// Cross-task checks of a workflow: unique ids, dependencies that exist, no
// cycle (named), only configured workers, bounded size.

#include <set>
#include <string>

#include "core/json_codec.hpp"

namespace troupe {

struct workflow_limits {
  size_t max_tasks = 10000;
  size_t max_depth = 1000;
};

/// Appends one message per problem; returns true if there was none.
bool check_workflow(const workflow& w, const std::set<std::string>& workers,
                    problems& out, const workflow_limits& limits = {});

} // namespace troupe
