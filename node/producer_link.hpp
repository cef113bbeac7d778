#pragma once

// A producer's connection to the orchestrator (DEALER), for caf-node submit
// and status --connect: send a command, wait for answers.

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "bridge/zmq/wire.hpp"

namespace troupe::zmqx {
struct curve_client;
}

namespace troupe::node {

struct curve_options;

/// One question to the orchestrator at `endpoint` (CANCEL, APPROVE): its
/// answer's body printed on stdout and exit_ok; an ERROR's reason, or the
/// silence, on stderr and exit_failed; bad keys exit_usage.
int ask_orchestrator(const std::string& endpoint, const curve_options& curve,
                     wire::command cmd, const json& body);

class producer_link {
public:
  producer_link(std::string endpoint,
                std::shared_ptr<const zmqx::curve_client> curve);
  ~producer_link();

  void send(const wire::message& m);
  /// The next message, or nullopt after `timeout`, at once when the
  /// orchestrator refuses our handshake (keys), or when no connection is up
  /// after `connect_grace`: then problem() says why.
  std::optional<wire::message> recv(std::chrono::milliseconds timeout);
  /// Why nothing came back, if the connection is the reason; else empty.
  std::string problem() const;
  /// Whether a connection to the orchestrator was ever up (if not, nothing
  /// we sent can have arrived).
  bool reached() const;
  /// "no <what> from <endpoint>", with problem() when there is one.
  std::string silence(const std::string& what) const;

  /// How long recv() waits for a connection to come up at all.
  static constexpr std::chrono::milliseconds connect_grace{5000};

private:
  struct impl;
  std::unique_ptr<impl> p_;
};

} // namespace troupe::node
