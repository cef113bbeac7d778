// caf-node orchestrator: serve's file drop, with the workers on their own
// nodes behind the ZeroMQ broker, which also takes producers' submissions
// and publishes events (docs/PROTOCOL.md).

#include <CLI/CLI.hpp>

#include "bridge/zmq/broker.hpp"
#include "core/workflow_check.hpp"
#include "node/bridge_options.hpp"
#include "node/commands.hpp"
#include "node/drop_role.hpp"

namespace troupe::node {

namespace {

struct orchestrator_options {
  drop_role_options role;
  std::string workers_ep = "tcp://*:5555";
  std::string producers_ep = "tcp://*:5556";
  std::string events_ep = "tcp://*:5557";
  liveness_options live;
  curve_options curve;
};

int orchestrate(const orchestrator_options& opts) {
  return run_drop_role(opts.role, [&opts](const config& cfg, const std::string& root,
                                          broker_settings& bs) {
    bs.workers_endpoint = opts.workers_ep;
    bs.producers_endpoint = opts.producers_ep;
    bs.events_endpoint = opts.events_ep;
    bs.root = root;
    bs.workers = cfg.worker_names();
    bs.limits = workflow_limits{}; // as for a workflow file given to run
    bs.max_task_bytes = opts.role.max_task_bytes;
    bs.handoff_max_bytes = static_cast<size_t>(cfg.handoff_max_kb) * 1024;
    bs.heartbeat = std::chrono::milliseconds(opts.live.heartbeat_ms);
    bs.liveness = opts.live.liveness;
    return load_curve_server(opts.curve, bs.curve);
  });
}

} // namespace

command add_orchestrator(CLI::App& app) {
  auto opts = std::make_shared<orchestrator_options>();
  auto cmd = app.add_subcommand(
    "orchestrator",
    "run the orchestrator node: the file drop, the rate limiter and the "
    "ZeroMQ broker for worker nodes and producers (docs/PROTOCOL.md)");
  // Its workers run on the worker nodes, each with its own executor.
  add_common_options(cmd, opts->role.common, false);
  cmd->add_option("--workers", opts->workers_ep, "endpoint for worker nodes")
    ->capture_default_str();
  cmd->add_option("--producers", opts->producers_ep,
                  "endpoint for producers (submit, status)")
    ->capture_default_str();
  cmd->add_option("--events", opts->events_ep, "PUB endpoint for events")
    ->capture_default_str();
  add_liveness_options(cmd, opts->live);
  add_curve_server_options(cmd, opts->curve);
  add_drop_role_options(cmd, opts->role, "larger tasks (dropped or submitted) are refused");
  cmd->add_option("--ready-file", opts->role.ready_file,
                  "write this file once the endpoints are bound and the "
                  "folders watched: {\"pid\", \"workers\", \"producers\", "
                  "\"events\"} (the endpoints as bound: a port given as * "
                  "appears as its number)");
  return [opts] { return orchestrate(*opts); };
}

} // namespace troupe::node
