#pragma once

// Starts the gateway (bridge/gateway) for the CLIs a node runs, wired to
// the node's rate limiter (local, or the orchestrator's through the
// bridge), when the config turns it on. It is loaded from its module,
// libtroupe-gateway.so, so that a node without one does not carry libcurl
// and cpp-httplib.

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "actors/messages.hpp"
#include "core/config.hpp"

namespace troupe {
class gateway_api;
}

namespace troupe::node {

/// Keeps the gateway running; stops it (before the actor system goes) when
/// it is destroyed.
struct gateway_holder {
  std::unique_ptr<gateway_api> gw;
  /// Set first when it goes: held requests stop waiting for a permit.
  std::shared_ptr<std::atomic<bool>> stopping =
    std::make_shared<std::atomic<bool>>(false);
  /// Where a parked account is written for `caf-node status`
  /// (queue_status: tasks/.account-parked); empty: nowhere.
  std::string park_file;
  gateway_holder();
  ~gateway_holder();
  gateway_holder(gateway_holder&&) noexcept;
};

/// The URL of the gateway it started, "" when the config does not turn it
/// on, nullopt (with problems) when it cannot listen. The 429s it waits out
/// for a task become that task's api_retry events (`recorder` may be
/// invalid: none).
std::optional<std::string> start_gateway(caf::actor_system& sys,
                                         const config& cfg,
                                         rate_limiter_actor limiter,
                                         recorder_actor recorder,
                                         gateway_holder& holder,
                                         problems& out);

} // namespace troupe::node
