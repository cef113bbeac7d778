// caf-node serve: the long-running single node. Watches tasks/<worker>/ of
// every configured worker and runs what is dropped there; results appear in
// results/<worker>/. SIGTERM or SIGINT: stop claiming, let running tasks
// finish within the grace period, hand the rest back to tasks/, exit 0.
//
// caf-node orchestrator: the same, with the workers on their own nodes
// behind the ZeroMQ broker, which also takes producers' submissions and
// publishes events (docs/PROTOCOL.md).

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <mutex>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "actors/team.hpp"
#include "bridge/zmq/broker.hpp"
#include "bridge/files/file_drop.hpp"
#include "bridge/zmq/remote_workers.hpp"
#include "bridge/files/fs_watcher.hpp"
#include "caf/all.hpp"
#include "core/atomic_file.hpp"
#include "core/clock.hpp"
#include "core/json_codec.hpp"
#include "core/process.hpp"
#include "core/workflow_check.hpp"
#include "node/bridge_options.hpp"
#include "node/commands.hpp"
#include "node/options.hpp"
#include "node/progress.hpp"

namespace troupe::node {

namespace fs = std::filesystem;

namespace {

struct serve_options {
  common_options common;
  double grace_s = 30;
  size_t max_task_bytes = 1u << 20;
  int64_t quiet_ms = 2000;
  double dependency_wait_s = 60;
  std::string ready_file;
  // orchestrator only
  bool bridge = false;
  std::string workers_ep = "tcp://*:5555";
  std::string producers_ep = "tcp://*:5556";
  std::string events_ep = "tcp://*:5557";
  liveness_options live;
  curve_options curve;
};

int serve(const serve_options& opts) {
  auto cfg = load_effective_config(opts.common);
  if (!cfg)
    return exit_usage;
  auto root = normalize_root(opts.common.root);
  std::vector<std::string> workers;
  for (auto& w : cfg->workers)
    workers.push_back(w.name);
  if (!pin_cpus(opts.common))
    return exit_usage;
  stop_signals stop; // before any thread starts
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg);
  int handed_back = 0;
  {
    caf::actor_system sys{sys_cfg};
    progress_printer progress{0, false};
    // The folders must exist before they are watched.
    fs_queue folders{root, workers, opts.max_task_bytes};
    if (auto err = folders.prepare(); !err.empty()) {
      std::fprintf(stderr, "error: %s\n", err.c_str());
      return exit_usage;
    }
    team_options topts;
    topts.root = root;
    topts.recording.root = root;
    topts.recording.write_results = false; // the file drop owns results/
    // Workers' "running" events go on to the file drop (it keeps the
    // .running markers); it is spawned after the team, hence the holder.
    struct drop_holder {
      std::mutex mtx;
      file_drop_actor handle;
    };
    auto holder = std::make_shared<drop_holder>();
    topts.recording.on_event = [&progress, holder](const task_event& e) {
      if (e.kind == "running") {
        std::lock_guard<std::mutex> guard{holder->mtx};
        if (holder->handle)
          caf::anon_send(holder->handle, event_atom_v, e);
      }
      progress.on_event(e);
    };
    // The orchestrator's broker: bound before anything runs, so a taken
    // port is a clean exit 2.
    std::shared_ptr<broker> br; // shared: actors may post while they wind down
    std::unique_ptr<remote_workers> remote; // the workers on other nodes, when br is set
    caf::actor relay;
    if (opts.bridge) {
      broker_settings bs;
      bs.workers_endpoint = opts.workers_ep;
      bs.producers_endpoint = opts.producers_ep;
      bs.events_endpoint = opts.events_ep;
      bs.root = root;
      bs.workers = cfg->worker_names();
      bs.limits = workflow_limits{}; // as for a workflow file given to run
      bs.max_task_bytes = opts.max_task_bytes;
      bs.handoff_max_bytes = static_cast<size_t>(cfg->handoff_max_kb) * 1024;
      bs.heartbeat = std::chrono::milliseconds(opts.live.heartbeat_ms);
      bs.liveness = opts.live.liveness;
      if (!load_curve_server(opts.curve, bs.curve))
        return exit_usage;
      try {
        br = std::make_shared<broker>(bs);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return exit_usage;
      }
      auto b = br;
      auto post = [b](broker_note n) { b->post(std::move(n)); };
      remote = std::make_unique<remote_workers>(sys, post);
      topts.remote_worker = [p = remote->handle()](const worker_config&) { return p; };
      auto inner = topts.recording.on_event;
      topts.recording.on_event = [inner, b](const task_event& e) {
        inner(e);
        b->post(broker_note{broker_note::event{e}});
      };
    }
    auto session = (opts.bridge ? "orchestrator-" : "serve-") + compact_utc_now();
    topts.make_run_id = [session] { return session; };
    problems ps;
    auto t = spawn_team(sys, *cfg, topts, ps);
    if (!t) {
      print_problems("error: cannot start the workers:", ps);
      return exit_usage;
    }
    file_drop_settings fd;
    fd.root = root;
    fd.workers = workers;
    fd.max_task_bytes = opts.max_task_bytes;
    fd.quiet_ms = opts.quiet_ms;
    fd.dependency_wait_ms = static_cast<int64_t>(opts.dependency_wait_s * 1000);
    if (br) {
      auto b = br;
      fd.on_result = [b](const result& r) {
        b->post(broker_note{broker_note::written{r}});
      };
      auto post = [b](broker_note n) { b->post(std::move(n)); };
      broker_links links;
      for (auto& d : remote->decoders())
        links.decoders.push_back(d);
      relay = links.relay = sys.spawn(permit_relay, t->limiter, post);
      links.limiter = t->limiter;
      links.recorder = t->recorder;
      // A worker that parked runs again when a node that takes tasks comes.
      links.worker_back = [holder](const std::string& w) {
        std::lock_guard<std::mutex> guard{holder->mtx};
        if (holder->handle)
          caf::anon_send(holder->handle, unpark_atom_v, w);
      };
      br->start(links);
      spdlog::info("orchestrator: workers on {}, producers on {}, events on "
                   "{}{}",
                   br->workers_endpoint(), br->producers_endpoint(),
                   br->events_endpoint(), opts.curve.secret.empty() ? "" : " (CURVE)");
    }
    auto drop = sys.spawn<caf::detached>(file_drop, fd, t->orchestrator);
    {
      std::lock_guard<std::mutex> guard{holder->mtx};
      holder->handle = drop;
    }
    fs_watcher watcher{root, workers,
                       [drop](fs_watcher::kind k, const std::string& w,
                              const std::string& n) {
                         caf::anon_send(drop, fs_event_atom_v,
                                        static_cast<int32_t>(k), w, n);
                       }};
    if (auto err = watcher.start(); !err.empty()) {
      std::fprintf(stderr, "error: %s\n", err.c_str());
      stop_team(*t);
      caf::anon_send_exit(drop, caf::exit_reason::user_shutdown);
      return exit_usage;
    }
    // Files dropped between the file drop's first scan and the watches.
    caf::anon_send(drop, fs_event_atom_v,
                   static_cast<int32_t>(fs_watcher::kind::rescan),
                   std::string{}, std::string{});
    if (!opts.ready_file.empty()) {
      // The orchestrator's says where it listens (a port given as * is
      // known only now).
      auto text = br ? json{{"pid", ::getpid()},
                            {"workers", br->workers_endpoint()},
                            {"producers", br->producers_endpoint()},
                            {"events", br->events_endpoint()}}
                           .dump() + "\n"
                     : std::to_string(::getpid()) + "\n";
      if (auto err = write_file_atomic(opts.ready_file, text); !err.empty())
        spdlog::warn("--ready-file: {}", err);
    }
    spdlog::info("serving {} (workers: {}; events in runs/{}/); stop with "
                 "SIGTERM or Ctrl-C",
                 root, fmt::join(workers, ", "), session);
    auto sig = stop.wait();
    spdlog::info("{}: no new tasks; waiting up to {} s for running ones "
                 "(again to stop at once)",
                 sig, opts.grace_s);
    watcher.stop();
    // Nothing new starts: queued tasks come back unrun (handed back to
    // tasks/ at once), running ones have the grace period.
    stop_starting(*t);
    caf::scoped_actor self{sys};
    {
      auto stopped = self->request(drop, caf::infinite, stop_atom_v,
                                   static_cast<int64_t>(opts.grace_s * 1000));
      // A second signal ends the grace now: what runs goes back to tasks/.
      // Watched only once the stop is on its way: a deadline that came
      // first would be ignored.
      signal_watch again{[&](const char*, int) { caf::anon_send(drop, deadline_atom_v); }};
      std::move(stopped).receive([&](int32_t n) { handed_back = n; },
                                 [&](caf::error&) {});
    }
    // Children of tasks handed back must not outlive us.
    signal_all_children(SIGKILL);
    caf::anon_send_exit(drop, caf::exit_reason::user_shutdown);
    if (br) {
      br->stop(); // worker nodes hear DISCONNECT
      caf::anon_send_exit(relay, caf::exit_reason::user_shutdown);
    }
    stop_team(*t);
  }
  if (handed_back > 0)
    spdlog::info("{} unfinished task(s) handed back to tasks/ for the next "
                 "start",
                 handed_back);
  spdlog::info("stopped");
  return exit_ok;
}

/// What serve and the orchestrator share: both run a file drop.
void add_file_drop_options(CLI::App* cmd, serve_options& opts, const char* max_bytes_help) {
  cmd->add_option("--grace-s", opts.grace_s,
                  "on SIGTERM/SIGINT, how long running tasks may finish")
    ->capture_default_str()
    ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-task-bytes", opts.max_task_bytes, max_bytes_help)
    ->capture_default_str();
  cmd->add_option("--quiet-ms", opts.quiet_ms,
                  "a file that does not parse yet is given this long since "
                  "its last write before it is rejected (unless its writer "
                  "closed it)")
    ->capture_default_str();
  cmd->add_option("--dependency-wait-s", opts.dependency_wait_s,
                  "a task whose dependency no file in tasks/ provides (none "
                  "waiting, claimed or running, no result) fails after this long")
    ->capture_default_str()
    ->check(CLI::PositiveNumber);
}

} // namespace

command add_serve(CLI::App& app) {
  auto opts = std::make_shared<serve_options>();
  auto cmd = app.add_subcommand(
    "serve", "run the single node: watch tasks/<worker>/, write results/<worker>/");
  add_common_options(cmd, opts->common);
  add_file_drop_options(cmd, *opts, "larger task files are rejected");
  cmd->add_option("--ready-file", opts->ready_file,
                  "write this file (our pid) once the folders are watched");
  return [opts] { return serve(*opts); };
}

command add_orchestrator(CLI::App& app) {
  auto opts = std::make_shared<serve_options>();
  opts->bridge = true;
  auto cmd = app.add_subcommand(
    "orchestrator",
    "run the orchestrator node: the file drop, the rate limiter and the "
    "ZeroMQ broker for worker nodes and producers (docs/PROTOCOL.md)");
  add_common_options(cmd, opts->common);
  cmd->add_option("--workers", opts->workers_ep, "endpoint for worker nodes")
    ->capture_default_str();
  cmd->add_option("--producers", opts->producers_ep,
                  "endpoint for producers (submit, status)")
    ->capture_default_str();
  cmd->add_option("--events", opts->events_ep, "PUB endpoint for events")
    ->capture_default_str();
  add_liveness_options(cmd, opts->live);
  add_curve_server_options(cmd, opts->curve);
  add_file_drop_options(cmd, *opts, "larger tasks (dropped or submitted) are refused");
  cmd->add_option("--ready-file", opts->ready_file,
                  "write this file once the endpoints are bound and the "
                  "folders watched: {\"pid\", \"workers\", \"producers\", "
                  "\"events\"} (the endpoints as bound: a port given as * "
                  "appears as its number)");
  return [opts] { return serve(*opts); };
}

} // namespace troupe::node
