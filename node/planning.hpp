#pragma once

// Planning a plain-language request and synthesising the answer, through the
// orchestrator's own LLM worker (team::planner), or without an LLM through
// the deterministic router and template.

#include <optional>
#include <string>
#include <vector>

#include "actors/team.hpp"
#include "core/plan.hpp"
#include "core/report.hpp"

namespace caf {
class scoped_actor;
}

namespace troupe::node {

struct plan_outcome {
  std::optional<workflow> wf;
  problems errors;  // of the last attempt when there is no plan
  int attempts = 0; // LLM calls made (0 with the router)
  double cost_usd = 0; // what those calls cost
};

/// Asks the planner for a plan; a refused plan goes back with its errors
/// until orchestrator.plan_attempts calls were made. With a budget, each
/// call may spend what the earlier ones left of it.
plan_outcome plan_request(caf::scoped_actor& self, const team& t,
                          const config& cfg, const std::string& request,
                          const std::vector<context_file>& context,
                          std::optional<double> budget_usd = std::nullopt);

/// The LLM's answer to the request from the run's results (and the small
/// files they name, read under `root`); nullopt with the reason in `error`
/// if the call failed, or if `budget_usd` (what the run left) is spent.
/// `cost_usd` gets what the call cost.
std::optional<std::string> synthesize(caf::scoped_actor& self, const team& t,
                                      const std::string& request,
                                      const run_summary& s, const std::string& root,
                                      std::string& error, double& cost_usd,
                                      std::optional<double> budget_usd = std::nullopt);

} // namespace troupe::node
