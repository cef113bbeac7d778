#include "node/planning.hpp"
#include "core/outcome.hpp"

#include <cstdio>

#include <spdlog/spdlog.h>

#include "caf/all.hpp"
#include "core/prompt.hpp"

namespace troupe::node {

namespace {

/// One raw call of the orchestrator's LLM worker.
result ask_planner(caf::scoped_actor& self, const team& t, std::string id,
                   std::string text, std::optional<double> cap) {
  task q;
  q.task_id = std::move(id);
  q.worker = "orchestrator";
  q.description = std::move(text);
  q.prio = priority::high;
  q.budget_usd = cap; // the CLI's --max-budget-usd, the gateway's cap
  make_raw(q);
  std::optional<result> answer;
  self->request(t.planner, caf::infinite, q, uint64_t{0})
    .receive([&](result& r, uint64_t) { answer = std::move(r); },
             [&](caf::error& err) {
               answer = make_failure(q, status::failed, kind::crashed,
                                     "the orchestrator's worker failed: "
                                       + self->system().render(err));
             });
  return std::move(*answer);
}

std::string failure_text(const result& r) {
  return r.error ? r.error->kind + ": " + r.error->message
                 : std::string{to_string(r.state)};
}

std::string spent_text(double budget, double spent) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "the budget of $%.4f is spent ($%.4f)", budget, spent);
  return buf;
}

} // namespace

plan_outcome plan_request(caf::scoped_actor& self, const team& t,
                          const config& cfg, const std::string& request,
                          const std::vector<context_file>& context,
                          std::optional<double> budget_usd) {
  plan_outcome out;
  if (!t.planner) {
    out.wf = route_request(cfg, request, context, out.errors);
    return out;
  }
  std::string previous;
  for (int n = 1; n <= cfg.orchestrator.plan_attempts; ++n) {
    std::optional<double> cap;
    if (budget_usd) {
      cap = *budget_usd - out.cost_usd;
      if (*cap <= 1e-9) {
        out.errors = {"not planned: " + spent_text(*budget_usd, out.cost_usd)};
        return out;
      }
    }
    spdlog::info("planning with the orchestrator's model, attempt {} of {}", n,
                 cfg.orchestrator.plan_attempts);
    auto r = ask_planner(self, t, "plan-" + std::to_string(n),
                         planning_prompt(cfg, request, context, out.errors,
                                         previous),
                         cap);
    ++out.attempts;
    out.cost_usd += r.cost_usd;
    if (!r.ok()) {
      // The call itself failed (API, auth, timeout): no plan to correct.
      out.errors = {"the planner's call failed: " + failure_text(r)};
      return out;
    }
    problems ps;
    out.wf = read_plan(r.summary, cfg, request, ps);
    if (out.wf) {
      out.errors.clear();
      return out;
    }
    for (auto& p : ps)
      spdlog::warn("plan refused: {}", p);
    out.errors = std::move(ps);
    previous = r.summary;
  }
  return out;
}

std::optional<std::string> synthesize(caf::scoped_actor& self, const team& t,
                                      const std::string& request,
                                      const run_summary& s, const std::string& root,
                                      std::string& error, double& cost_usd,
                                      std::optional<double> budget_usd) {
  cost_usd = 0;
  if (budget_usd && *budget_usd <= 1e-9) {
    error = "not written: the run's budget is spent";
    return std::nullopt;
  }
  spdlog::info("writing the answer with the orchestrator's model");
  auto r = ask_planner(self, t, "synthesis", synthesis_prompt(request, s, root), budget_usd);
  cost_usd = r.cost_usd;
  if (!r.ok()) {
    error = failure_text(r);
    return std::nullopt;
  }
  return r.summary;
}

} // namespace troupe::node
