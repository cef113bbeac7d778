#pragma once

// The team's two uses of the cost preview while it runs: a budget does not
// start a task below the low end of its estimate, and a task awaiting
// approval shows its estimate. Both from the root's history.

#include <memory>

#include "actors/team.hpp"
#include "core/run_history.hpp"

namespace troupe::node {

/// Sets topts.least_cost and topts.describe_estimate from `history`.
void use_estimates(team_options& topts, const config& cfg,
                   std::shared_ptr<const run_history> history);

} // namespace troupe::node
