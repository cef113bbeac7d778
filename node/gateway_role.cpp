#include "node/gateway_role.hpp"

#include <cstdlib>

#include <spdlog/spdlog.h>

#include "bridge/gateway/gateway.hpp"
#include "caf/all.hpp"

namespace troupe::node {

gateway_holder::gateway_holder() = default;
gateway_holder::~gateway_holder() {
  if (stopping)
    *stopping = true;
  gw.reset();
}
gateway_holder::gateway_holder(gateway_holder&&) noexcept = default;

namespace {

std::string upstream_of(const gateway_settings& s) {
  if (!s.upstream.empty())
    return s.upstream;
  if (auto* env = std::getenv("ANTHROPIC_BASE_URL"); env && *env)
    return env;
  return anthropic_api_url;
}

void log_exchange(const exchange_note& n) {
  auto who = n.worker.empty() ? std::string{"(untagged)"}
                              : n.worker + " " + n.task_id;
  if (!n.error.empty())
    spdlog::warn("gateway: {} {} {} -> {}: {}", who, n.method, n.path,
                 n.status, n.error);
  else
    spdlog::info("gateway: {} {} {} -> {} in {} ms (held {} ms for {:.0f} "
                 "tokens{}; metered {} in, {} out, {} cache read)",
                 who, n.method, n.path, n.status, n.total_ms, n.held_ms,
                 n.estimate,
                 n.retried ? ", " + std::to_string(n.retried) + " x 429 waited out"
                           : std::string{},
                 n.used.metered_input(), n.used.output_tokens,
                 n.used.cache_read_input_tokens);
}

} // namespace

std::optional<std::string> start_gateway(caf::actor_system& sys,
                                         const config& cfg,
                                         rate_limiter_actor limiter,
                                         gateway_holder& holder,
                                         problems& out) {
  if (!cfg.gateway.enabled)
    return std::string{};
  auto s = cfg.gateway;
  s.upstream = upstream_of(cfg.gateway);
  gateway_hooks h;
  // Each held request waits on its own HTTP thread: the limiter's answer
  // is the hold. A plain send, answered as a message, so that the wait also
  // ends when the limiter goes (CAF 0.17 leaves a dropped promise
  // unanswered) or the node stops.
  h.acquire = [&sys, limiter, stop = holder.stopping](
                permit_ask a) -> std::optional<permit_ask> {
    caf::scoped_actor self{sys};
    self->monitor(limiter);
    self->send(limiter, permit_atom_v, std::move(a));
    std::optional<permit_ask> granted;
    for (bool waiting = true; waiting && !*stop;)
      self->receive([&](permit_ask& g) { granted = std::move(g); waiting = false; },
                    [&](caf::down_msg&) { waiting = false; },
                    [&](caf::error&) { waiting = false; },
                    caf::after(std::chrono::seconds(1)) >> [] {});
    return granted;
  };
  h.settle = [limiter](const permit_ask& p, double requests, const usage& u) {
    caf::anon_send(limiter, settle_atom_v, p,
                   run_usage{requests, static_cast<double>(u.metered_input()),
                             static_cast<double>(u.output_tokens)});
  };
  h.cool_down = [limiter](const std::string& model, int64_t wait_ms) {
    caf::anon_send(limiter, cooldown_atom_v, model, wait_ms);
  };
  h.calibrate = [limiter](const std::string& model, const limits_left& left) {
    caf::anon_send(limiter, calibrate_atom_v, model,
                   run_usage{left.requests, left.input_tokens, left.output_tokens});
  };
  h.on_exchange = log_exchange;
  holder.gw = std::make_unique<gateway>(s, std::move(h));
  std::string error;
  if (!holder.gw->start(error)) {
    out.push_back("gateway: " + error);
    holder.gw.reset();
    return std::nullopt;
  }
  spdlog::info("gateway on {}, upstream {}", holder.gw->url(), s.upstream);
  return holder.gw->url();
}

} // namespace troupe::node
