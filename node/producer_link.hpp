#pragma once

// A producer's connection to the orchestrator (DEALER), for caf-node submit
// and status --connect: send a command, wait for answers.

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "bridge/wire.hpp"

namespace troupe::zmqx {
struct curve_client;
}

namespace troupe::node {

class producer_link {
public:
  producer_link(const std::string& endpoint,
                std::shared_ptr<const zmqx::curve_client> curve);
  ~producer_link();

  void send(const wire::message& m);
  /// The next message, or nullopt after `timeout`.
  std::optional<wire::message> recv(std::chrono::milliseconds timeout);

private:
  struct impl;
  std::unique_ptr<impl> p_;
};

} // namespace troupe::node
