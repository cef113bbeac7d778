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
};

/// Asks the planner for a plan; a refused plan goes back with its errors
/// until orchestrator.plan_attempts calls were made.
plan_outcome plan_request(caf::scoped_actor& self, const team& t,
                          const config& cfg, const std::string& request,
                          const std::vector<context_file>& context);

/// The LLM's answer to the request from the run's results (and the small
/// files they name, read under `root`); nullopt with the reason in `error`
/// if the call failed.
std::optional<std::string> synthesize(caf::scoped_actor& self, const team& t,
                                      const std::string& request,
                                      const run_summary& s, const std::string& root,
                                      std::string& error);

} // namespace troupe::node
