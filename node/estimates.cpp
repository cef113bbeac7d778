#include "node/estimates.hpp"

#include "core/estimate.hpp"

namespace troupe::node {

void use_estimates(team_options& topts, const config& cfg,
                   std::shared_ptr<const run_history> history) {
  topts.least_cost = [cfg, history](const task& t) {
    auto w = cfg.find_worker(t.worker);
    return w ? estimate_task(t, cfg, *w, *history).cost_usd.low : 0.0;
  };
  topts.describe_estimate = [cfg, history](const task& t) {
    auto w = cfg.find_worker(t.worker);
    return w ? "estimate " + estimate_words(estimate_task(t, cfg, *w, *history))
             : std::string{};
  };
}

} // namespace troupe::node
