#pragma once

// Command-line options of the ZeroMQ roles: liveness and CURVE keys.

#include <memory>
#include <string>

#include "bridge/zmq/protocol.hpp"

namespace CLI {
class App;
}

namespace troupe::zmqx {
struct curve_server;
struct curve_client;
} // namespace troupe::zmqx

namespace troupe::node {

struct liveness_options {
  int heartbeat_ms = static_cast<int>(wire::default_heartbeat.count());
  int liveness = wire::default_liveness;
};

void add_liveness_options(CLI::App* cmd, liveness_options& opts);

struct curve_options {
  std::string secret;     // our secret key file
  std::string server_key; // clients: the orchestrator's public key file
  std::string allow;      // the orchestrator: folder of allowed *.pub
};

void add_curve_server_options(CLI::App* cmd, curve_options& opts);
void add_curve_client_options(CLI::App* cmd, curve_options& opts);

/// Null without keys; the keys otherwise. Prints the problem and returns
/// false when a key file is bad or options are incomplete.
bool load_curve_server(const curve_options& opts,
                       std::shared_ptr<const zmqx::curve_server>& out);
bool load_curve_client(const curve_options& opts,
                       std::shared_ptr<const zmqx::curve_client>& out);

} // namespace troupe::node
