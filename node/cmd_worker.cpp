// caf-node worker <name> --connect tcp://orchestrator:5555: one worker on
// its own node. Runs its executors here (its own workspace, auth home and
// key), takes permits from the orchestrator's rate limiter, and reconnects
// by itself when the orchestrator goes away.

#include <csignal>
#include <cstdio>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "actors/team.hpp"
#include "bridge/zmq/remote_limiter.hpp"
#include "bridge/zmq/worker_client.hpp"
#include "caf/all.hpp"
#include "core/atomic_file.hpp"
#include "core/process.hpp"
#include "node/bridge_options.hpp"
#include "node/commands.hpp"
#include "node/gateway_role.hpp"
#include "node/options.hpp"

namespace troupe::node {

namespace {

struct worker_options {
  common_options common;
  std::string name;
  std::string connect;
  std::string node;
  int slots = 0; // 0: as configured
  liveness_options live;
  curve_options curve;
  std::string ready_file;
  double grace_s = 30;
};

int worker_cmd(const worker_options& opts) {
  auto cfg = load_effective_config(opts.common);
  if (!cfg)
    return exit_usage;
  auto* w = cfg->find_worker(opts.name);
  if (!w) {
    std::string names;
    for (auto& n : cfg->worker_names())
      names += (names.empty() ? "" : ", ") + n;
    std::fprintf(stderr, "error: worker \"%s\" is not in %s (configured: %s)\n",
                 opts.name.c_str(), cfg->source.c_str(), names.c_str());
    return exit_usage;
  }
  auto wc = *w;
  if (opts.slots > 0)
    wc.slots = opts.slots;
  worker_client_settings cs;
  cs.endpoint = opts.connect;
  cs.worker = wc.name;
  cs.slots = wc.slots;
  cs.root = normalize_root(opts.common.root);
  cs.handoff_max_bytes = static_cast<size_t>(cfg->handoff_max_kb) * 1024;
  cs.node = opts.node.empty() ? wc.name + "@" + host_name("node") + ":" + std::to_string(::getpid())
                              : opts.node;
  cs.heartbeat = std::chrono::milliseconds(opts.live.heartbeat_ms);
  cs.liveness = opts.live.liveness;
  if (!load_curve_client(opts.curve, cs.curve))
    return exit_usage;
  if (!opts.ready_file.empty())
    cs.on_connected = [path = opts.ready_file] {
      write_file_atomic(path, std::to_string(::getpid()) + "\n");
    };
  if (!pin_cpus(opts.common))
    return exit_usage;
  stop_signals stop; // before any thread starts
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg);
  {
    caf::actor_system sys{sys_cfg};
    gateway_holder gw; // destroyed before the actor system
    problems ps;
    auto root = normalize_root(opts.common.root);
    auto client = std::make_shared<worker_client>(cs);
    auto post = [client](client_note n) { client->post(std::move(n)); };
    limiter_wire lw;
    lw.ask = [post](uint64_t id, const permit_ask& a) {
      post(client_note{client_note::ask{id, a}});
    };
    lw.settle = [post](const permit_ask& p, const run_usage& u) {
      post(client_note{client_note::settle{p, u}});
    };
    lw.cooldown = [post](const std::string& m, int64_t wait) {
      post(client_note{client_note::cooldown{m, wait}});
    };
    lw.calibrate = [post](const std::string& m, const run_usage& left) {
      post(client_note{client_note::calibrate{m, left.requests, left.input_tokens,
                                              left.output_tokens}});
    };
    auto limiter = sys.spawn(remote_limiter, lw);
    recorder_settings rs; // writes nothing here: events go to the orchestrator
    rs.on_event = [post](const task_event& e) {
      post(client_note{client_note::event{e}});
    };
    auto rec = sys.spawn(recorder, rs);
    // The gateway holds each request on the orchestrator's limiter.
    auto url = wc.executor == "claude" ? start_gateway(sys, *cfg, limiter, rec, gw, ps)
                                       : std::optional<std::string>{""};
    auto run_cfg = *cfg;
    if (url)
      run_cfg.claude.gateway_url = *url;
    auto exec = url ? make_executor("", run_cfg, wc, root, ps) : nullptr;
    if (!exec) {
      print_problems("error: cannot start worker " + wc.name + ":", ps);
      caf::anon_send_exit(limiter, caf::exit_reason::user_shutdown);
      caf::anon_send_exit(rec, caf::exit_reason::user_shutdown);
      return exit_usage;
    }
    auto wk = spawn_worker(sys, run_cfg, wc, exec, limiter, rec);
    client->start(sys, wk, limiter);
    spdlog::info("worker node {} ({} slots, {} executor) connecting to {}{}",
                 cs.node, wc.slots, exec->kind(), cs.endpoint,
                 cs.curve ? " (CURVE)" : "");
    auto sig = stop.wait();
    // Drain: no new task; what runs here may finish and be delivered. A
    // second signal, or the end of the grace, cuts it short: then the
    // orchestrator requeues what still ran here.
    spdlog::info("{}: draining: no new tasks; waiting up to {} s for the "
                 "running ones (again to leave at once)",
                 sig, opts.grace_s);
    bool drained;
    {
      signal_watch again{[&](const char*, int) { client->stop_waiting(); }};
      drained = client->drain(
        std::string{sig} + ": node stopping",
        std::chrono::milliseconds(static_cast<int64_t>(opts.grace_s * 1000)));
    }
    if (drained)
      spdlog::info("drained: every result delivered; leaving");
    else
      spdlog::info("leaving; the orchestrator requeues what still ran here");
    client->stop();
    signal_all_children(SIGKILL);
    for (auto a : {caf::actor_cast<caf::actor>(wk), caf::actor_cast<caf::actor>(limiter),
                   caf::actor_cast<caf::actor>(rec)})
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }
  return exit_ok;
}

} // namespace

command add_worker(CLI::App& app) {
  auto opts = std::make_shared<worker_options>();
  auto cmd = app.add_subcommand(
    "worker", "run one worker on its own node, connected to an orchestrator");
  cmd->add_option("name", opts->name, "the worker's name in the config")
    ->required();
  cmd->add_option("--connect", opts->connect,
                  "the orchestrator's workers endpoint, e.g. "
                  "tcp://orchestrator:5555; several, comma-separated, for orchestrators "
                  "sharing a --queue: served by one, it moves to the next when that one "
                  "goes silent or stops")
    ->required();
  add_common_options(cmd, opts->common);
  cmd->add_option("--node", opts->node, "this node's name in logs and status");
  cmd->add_option("--slots", opts->slots, "tasks at once (default: the config's)")
    ->check(CLI::Range(1, 256));
  add_liveness_options(cmd, opts->live);
  add_curve_client_options(cmd, opts->curve);
  cmd->add_option("--grace-s", opts->grace_s,
                  "on SIGTERM/SIGINT, how long running tasks may go on to "
                  "finish (keep it under the container's stop timeout)")
    ->capture_default_str()
    ->check(CLI::NonNegativeNumber);
  cmd->add_option("--ready-file", opts->ready_file,
                  "write this file (our pid) each time the orchestrator "
                  "answers after a (re)connection");
  return [opts] { return worker_cmd(*opts); };
}

} // namespace troupe::node
