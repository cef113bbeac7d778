#include "node/planning.hpp"
#include "core/outcome.hpp"

#include <spdlog/spdlog.h>

#include "caf/all.hpp"
#include "core/prompt.hpp"

namespace troupe::node {

namespace {

/// One raw call of the orchestrator's LLM worker.
result ask_planner(caf::scoped_actor& self, const team& t, std::string id,
                   std::string text) {
  task q;
  q.task_id = std::move(id);
  q.worker = "orchestrator";
  q.description = std::move(text);
  q.prio = priority::high;
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

} // namespace

plan_outcome plan_request(caf::scoped_actor& self, const team& t,
                          const config& cfg, const std::string& request,
                          const std::vector<context_file>& context) {
  plan_outcome out;
  if (!t.planner) {
    out.wf = route_request(cfg, request, context, out.errors);
    return out;
  }
  std::string previous;
  for (int n = 1; n <= cfg.orchestrator.plan_attempts; ++n) {
    spdlog::info("planning with the orchestrator's model, attempt {} of {}", n,
                 cfg.orchestrator.plan_attempts);
    auto r = ask_planner(self, t, "plan-" + std::to_string(n),
                         planning_prompt(cfg, request, context, out.errors,
                                         previous));
    ++out.attempts;
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
                                      std::string& error) {
  spdlog::info("writing the answer with the orchestrator's model");
  auto r = ask_planner(self, t, "synthesis", synthesis_prompt(request, s, root));
  if (!r.ok()) {
    error = failure_text(r);
    return std::nullopt;
  }
  return r.summary;
}

} // namespace troupe::node
