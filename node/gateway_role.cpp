#include "node/gateway_role.hpp"

#include <cstdlib>

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <filesystem>

#include "bridge/files/account_park.hpp"
#include "bridge/gateway/module.hpp"
#include "caf/all.hpp"
#include "core/clock.hpp"
#include "core/pricing.hpp"
#include "core/process.hpp"
#include "node/module_loader.hpp"

namespace troupe::node {

gateway_holder::gateway_holder() = default;
gateway_holder::~gateway_holder() {
  if (stopping)
    *stopping = true;
  if (gw)
    on_cancel_child({}); // before the gateway goes
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

/// The module's entry point (node/module_loader).
gateway_make_fn load_module(std::string& error) {
  std::string why;
  auto make = reinterpret_cast<gateway_make_fn>(
    load_module_entry(gateway_module_name, gateway_module_entry, why));
  if (!make)
    error = "cannot load the gateway: " + why
            + " (build it, or turn it off: \"gateway\": {\"enabled\": false})";
  return make;
}

void log_exchange(const exchange_note& n) {
  auto who = n.worker.empty() ? std::string{"(untagged)"}
                              : n.worker + " " + n.task_id;
  if (n.budget_refused)
    spdlog::warn("gateway: {} {} {} refused: {}", who, n.method, n.path, n.error);
  else if (n.replayed)
    spdlog::info("gateway: {} {} {} -> {} from the recording ({} in, {} out)",
                 who, n.method, n.path, n.status, n.used.metered_input(),
                 n.used.output_tokens);
  else if (!n.error.empty())
    spdlog::warn("gateway: {} {} {} -> {}: {}", who, n.method, n.path,
                 n.status, n.error);
  else
    spdlog::info("gateway: {} {} {} -> {} in {} ms (held {} ms for {:.0f} "
                 "tokens{}; metered {} in, {} out, {} cache read; ${:.4f}){}",
                 who, n.method, n.path, n.status, n.total_ms, n.held_ms,
                 n.estimate,
                 n.retried ? ", " + std::to_string(n.retried) + " x 429 waited out"
                           : std::string{},
                 n.used.metered_input(), n.used.output_tokens,
                 n.used.cache_read_input_tokens, n.cost_usd,
                 n.replay_missed ? "; not in the recording" : "");
}

} // namespace

std::optional<std::string> start_gateway(caf::actor_system& sys,
                                         const config& cfg,
                                         rate_limiter_actor limiter,
                                         recorder_actor recorder,
                                         gateway_holder& holder,
                                         problems& out) {
  if (!cfg.gateway.enabled)
    return std::string{};
  auto s = cfg.gateway;
  s.upstream = upstream_of(cfg.gateway);
  s.prices = cfg.prices;
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
  // Each request's cost books the day's spend exactly, as it happens.
  h.settle = [limiter, prices = cfg.prices](const permit_ask& p, double requests,
                                            const usage& u) {
    caf::anon_send(limiter, settle_atom_v, p,
                   run_usage{requests, static_cast<double>(u.metered_input()),
                             static_cast<double>(u.output_tokens),
                             cost_of(u, price_of(p.model, prices))});
  };
  h.cool_down = [limiter](const std::string& model, int64_t wait_ms) {
    caf::anon_send(limiter, cooldown_atom_v, model, wait_ms);
  };
  h.calibrate = [limiter](const std::string& model, const limits_left& left) {
    caf::anon_send(limiter, calibrate_atom_v, model,
                   run_usage{left.requests, left.input_tokens, left.output_tokens});
  };
  h.on_park = [park_file = holder.park_file](const window_park& p) {
    spdlog::warn("gateway: the account is parked: {}; no request goes out "
                 "and no run starts until then", describe_park(p, unix_now_ms()));
    if (!park_file.empty())
      write_account_park(park_file, p);
  };
  h.on_exchange = [recorder](const exchange_note& n) {
    log_exchange(n);
    // Runs on the serving thread: a send is thread-safe.
    if (recorder && n.retried > 0 && !n.task_id.empty())
      caf::anon_send(recorder, event_atom_v,
                     task_event{{}, "api_retry", n.task_id, n.worker,
                                "API 429, waited out at the gateway ("
                                  + std::to_string(n.retried) + " x)"});
  };
  std::string error;
  auto make = load_module(error);
  if (!make) {
    out.push_back("gateway: " + error);
    return std::nullopt;
  }
  holder.gw.reset(make(s, h));
  if (!holder.gw->start(error)) {
    out.push_back("gateway: " + error);
    holder.gw.reset();
    return std::nullopt;
  }
  spdlog::info("gateway on {}, upstream {}", holder.gw->url(), s.upstream);
  // A cancelled task's requests end upstream too, not when the API is done.
  on_cancel_child([gw = holder.gw.get()](const std::string& key) {
    auto slash = key.find('/');
    if (slash != std::string::npos)
      gw->abort_task(key.substr(0, slash), key.substr(slash + 1));
  });
  return holder.gw->url();
}

} // namespace troupe::node
