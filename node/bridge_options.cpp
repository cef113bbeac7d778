#include "node/bridge_options.hpp"

#include <cstdio>

#include <CLI/CLI.hpp>

#include "bridge/zmq/curve.hpp"

namespace troupe::node {

void add_liveness_options(CLI::App* cmd, liveness_options& opts) {
  cmd->add_option("--heartbeat-ms", opts.heartbeat_ms,
                  "heartbeat interval (the same on every node)")
    ->capture_default_str()
    ->check(CLI::Range(10, 600000));
  cmd->add_option("--liveness", opts.liveness,
                  "a peer silent for this many intervals is gone")
    ->capture_default_str()
    ->check(CLI::Range(1, 1000));
}

void add_curve_server_options(CLI::App* cmd, curve_options& opts) {
  cmd->add_option("--curve-secret", opts.secret,
                  "this orchestrator's secret key file (caf-node keygen): "
                  "CURVE on every endpoint");
  cmd->add_option("--allow", opts.allow,
                  "folder of the clients' public keys (*.pub): only these "
                  "may connect");
}

void add_curve_client_options(CLI::App* cmd, curve_options& opts) {
  cmd->add_option("--curve-secret", opts.secret,
                  "our secret key file (caf-node keygen)");
  cmd->add_option("--server-key", opts.server_key,
                  "the orchestrator's public key file (*.pub)");
}

bool load_curve_server(const curve_options& opts,
                       std::shared_ptr<const zmqx::curve_server>& out) {
  if (opts.secret.empty() && opts.allow.empty())
    return true;
  if (opts.secret.empty() || opts.allow.empty()) {
    std::fprintf(stderr, "error: --curve-secret and --allow go together\n");
    return false;
  }
  std::string err;
  auto secret = zmqx::read_key(opts.secret, true, err);
  auto allowed = secret ? zmqx::read_allow_list(opts.allow, err) : std::nullopt;
  if (!secret || !allowed) {
    std::fprintf(stderr, "error: %s\n", err.c_str());
    return false;
  }
  out = std::make_shared<zmqx::curve_server>(zmqx::curve_server{*secret, *allowed});
  return true;
}

bool load_curve_client(const curve_options& opts,
                       std::shared_ptr<const zmqx::curve_client>& out) {
  if (opts.secret.empty() && opts.server_key.empty())
    return true;
  if (opts.secret.empty() || opts.server_key.empty()) {
    std::fprintf(stderr, "error: --curve-secret and --server-key go together\n");
    return false;
  }
  std::string err;
  auto secret = zmqx::read_key(opts.secret, true, err);
  auto server = secret ? zmqx::read_key(opts.server_key, false, err) : std::nullopt;
  if (!secret || !server) {
    std::fprintf(stderr, "error: %s\n", err.c_str());
    return false;
  }
  out = std::make_shared<zmqx::curve_client>(
    zmqx::curve_client{*secret, zmqx::public_of(*secret), *server});
  return true;
}

} // namespace troupe::node
