#include "node/drop_role.hpp"
#include "node/gateway_role.hpp"

#include <cstdio>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "actors/team.hpp"
#include "bridge/files/account_park.hpp"
#include "bridge/files/file_drop.hpp"
#include "bridge/files/root_lock.hpp"
#include "bridge/redis/redis_meters.hpp"
#include "bridge/redis/redis_runner.hpp"
#include "bridge/files/fs_watcher.hpp"
#include "bridge/zmq/broker.hpp"
#include "bridge/zmq/remote_workers.hpp"
#include "caf/all.hpp"
#include "core/atomic_file.hpp"
#include "core/clock.hpp"
#include "core/process.hpp"
#include "node/commands.hpp"
#include "node/estimates.hpp"
#include "node/planning.hpp"
#include "node/progress.hpp"

namespace troupe::node {

void add_drop_role_options(CLI::App* cmd, drop_role_options& opts,
                           const char* max_bytes_help) {
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
  cmd->add_option("--http", opts.web.listen,
                  "serve the HTTP API and event stream on ADDR:PORT (port 0: any free one; "
                  "off by default; beyond loopback it needs --http-token-file)")
    ->type_name("ADDR:PORT");
  cmd->add_option("--http-token-file", opts.web.token_file,
                  "a file whose first line is the bearer token every HTTP request must carry")
    ->type_name("FILE");
  add_queue_options(cmd, opts.queue,
                    "share the task queue with other orchestrators in Redis; files dropped "
                    "here go into it");
  cmd->add_option("--queue-results", opts.queue_results,
                  "which results of the shared queue are written into this root's results/: "
                  "mine (of the tasks it imported or ran) or all (a mirror)")
    ->capture_default_str()
    ->check(CLI::IsMember({"mine", "all"}));
  cmd->add_option("--lease-s", opts.lease_s,
                  "a task this orchestrator holds without renewing for this long is taken "
                  "over by another")
    ->capture_default_str()
    ->check(CLI::PositiveNumber);
}

namespace {

/// The orchestrator's half: the broker (bound before anything runs, so a
/// taken port is a clean exit 2) and the actors that stand in for the nodes.
struct bridge_part {
  std::shared_ptr<broker> br; // shared: actors may post while they wind down
  std::unique_ptr<remote_workers> remote;
  caf::actor relay;
  bool curve = false;

  std::function<void(broker_note)> poster() const {
    return [b = br](broker_note n) { b->post(std::move(n)); };
  }
};

/// What --ready-file says: the orchestrator's endpoints as bound (a port
/// given as * is known only now), or serve's pid.
/// With --http, its URL too (serve's file is then JSON: {"pid", "http"}).
std::string ready_text(const bridge_part* bridge, const std::string& http) {
  if (!bridge && http.empty())
    return std::to_string(::getpid()) + "\n";
  json j{{"pid", ::getpid()}};
  if (bridge) {
    j["workers"] = bridge->br->workers_endpoint();
    j["producers"] = bridge->br->producers_endpoint();
    j["events"] = bridge->br->events_endpoint();
  }
  if (!http.empty())
    j["http"] = http;
  return j.dump() + "\n";
}

} // namespace

int run_drop_role(const drop_role_options& opts, const bridge_factory& make_bridge) {
  auto cfg = load_effective_config(opts.common);
  if (!cfg)
    return exit_usage;
  auto root = normalize_root(opts.common.root);
  auto workers = std::vector<std::string>{};
  for (auto& w : cfg->workers)
    workers.push_back(w.name);
  if (!pin_cpus(opts.common))
    return exit_usage;
  stop_signals stop; // before any thread starts
  // Before anything in the root is touched (prepare() clears what a
  // running holder still uses: its parks, its temp files), and held until
  // the actor system has stopped writing.
  root_lock lock{root, make_bridge ? "orchestrator" : "serve"};
  if (!lock.held()) {
    std::fprintf(stderr, "error: %s\n", lock.error().c_str());
    return exit_usage;
  }
  // --queue: the connection the file drop imports through, checked now so
  // that a wrong URL or password is a clean exit 2.
  std::shared_ptr<queue_link> shared;
  if (!opts.queue.url.empty()) {
    std::string err;
    shared = open_queue_link(opts.queue, workers, this_consumer_name(),
                             static_cast<int64_t>(opts.lease_s * 1000), err);
    if (!shared) {
      std::fprintf(stderr, "error: %s\n", err.c_str());
      return exit_usage;
    }
  }
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg);
  int handed_back = 0;
  {
    caf::actor_system sys{sys_cfg};
    gateway_holder gw; // destroyed before the actor system
    web_holder web;    // stopped before the actors whose state it shows
    progress_printer progress{0, false};
    // The folders must exist before they are watched.
    fs_queue folders{root, workers, opts.max_task_bytes};
    if (auto err = folders.prepare(); !err.empty()) {
      std::fprintf(stderr, "error: %s\n", err.c_str());
      return exit_usage;
    }
    auto http = start_web(opts.web, root, {workers.begin(), workers.end()},
                          cfg->spend_per_day_usd, web);
    if (!http)
      return exit_usage;
    // Built in the one order that works, each piece handed what it needs
    // when it is made: the broker, the team, the file drop over the team's
    // orchestrator, then the broker's loop, which talks to the file drop.
    std::optional<bridge_part> bridge;
    bool synthesizes = false;
    if (make_bridge) {
      broker_settings bs;
      if (!make_bridge(*cfg, root, bs))
        return exit_usage;
      bs.spend_per_day_usd = cfg->spend_per_day_usd; // STATUS shows it
      // With its own LLM, the orchestrator writes a submitted workflow's
      // answer, as `run` does.
      auto planner_kind = opts.common.executor.empty() ? cfg->orchestrator.executor
                                                       : opts.common.executor;
      bs.synthesizes = !cfg->orchestrator.prompt_path.empty() && planner_kind == "claude";
      synthesizes = bs.synthesizes;
      bs.publish_serving = shared != nullptr;
      bridge.emplace();
      bridge->curve = bs.curve != nullptr;
      try {
        bridge->br = std::make_shared<broker>(bs);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return exit_usage;
      }
      bridge->remote = std::make_unique<remote_workers>(sys, bridge->poster());
    }
    team_options topts;
    topts.planner = synthesizes;
    topts.root = root;
    topts.recording.root = root;
    topts.recording.write_results = false; // the file drop owns results/
    topts.recording.on_event = [&progress, &web, post = bridge ? bridge->poster() : nullptr](
                                 const task_event& e) {
      progress.on_event(e);
      web.publish(e, e.run_id);
      if (post)
        post(broker_note{broker_note::event{e}});
    };
    if (bridge)
      topts.remote_worker = [p = bridge->remote->handle()](const worker_config&) {
        return p;
      };
    auto session = (bridge ? "orchestrator-" : "serve-") + compact_utc_now();
    topts.make_run_id = [session] { return session; };
    use_estimates(topts, *cfg, std::make_shared<const run_history>(load_history(root)));
    if (shared) {
      // Every orchestrator on the queue meters one account: the buckets are
      // shared in Redis, with its own connection (the limiter's thread).
      redis_meters_settings ms;
      ms.url = shared->url;
      ms.prefix = shared->q->settings().prefix;
      ms.consumer = shared->q->settings().consumer;
      ms.warn = [](const std::string& m) { spdlog::warn("limits: {}", m); };
      topts.meters = std::make_shared<redis_meters>(std::move(ms));
    }
    problems ps;
    gw.park_file = account_park_path(root);
    topts.gateway = [&](rate_limiter_actor l, recorder_actor r, problems& ps) {
      return start_gateway(sys, *cfg, std::move(l), std::move(r), gw, ps);
    };
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
    fd.on_result = [&web, post = bridge ? bridge->poster() : nullptr](const result& r) {
      web.observe(r);
      if (post)
        post(broker_note{broker_note::written{r}});
    };
    caf::actor runner;
    if (shared) {
      redis_runner_settings rs;
      rs.url = shared->url;
      rs.queue = shared->q->settings();
      for (auto& w : cfg->workers)
        rs.capacity[w.name] = static_cast<size_t>(std::max(1, w.slots)) * 2;
      if (bridge)
        // Only what connected nodes can run: a worker no node of ours serves
        // is left to the orchestrators its nodes are connected to.
        rs.capacity_of = [br = bridge->br](const std::string& w) { return 2 * br->serving_slots(w); };
      rs.root = root;
      rs.all_results = opts.queue_results == "all";
      rs.dependency_wait_ms = fd.dependency_wait_ms;
      rs.origin = host_name() + ":" + root;
      rs.on_result = fd.on_result;
      runner = spawn_redis_runner(sys, rs, t->orchestrator);
      fd.import = [imp = shared, runner, origin = rs.origin](const task& t) {
        std::string err;
        // Redis restarted or went away since: the file stays for another
        // try until it is back.
        if (!imp->reconnect_if_broken())
          return "the queue cannot be reached: " + imp->client->error();
        if (!imp->q->enqueue(t, err))
          return err;
        // Before the file goes: a crash in between imports it again (a
        // duplicate, no change) and records it then.
        if (auto e = imp->q->note_imported(origin, t.worker, t.task_id); !e.empty())
          return e;
        // Its result comes back here, whoever runs it.
        caf::anon_send(runner, subscribe_atom_v, t.worker, t.task_id);
        return std::string{};
      };
      spdlog::info("queue: {} (prefix {}), as {}", opts.queue.url, rs.queue.prefix,
                   rs.queue.consumer);
    }
    auto drop = sys.spawn<caf::detached>(file_drop, fd, t->orchestrator);
    // Workers' "running" events: the file drop keeps the .running markers.
    // And those of tasks awaiting approval: status lists them.
    for (auto kind : {"running", "awaiting_approval", "approved"})
      caf::anon_send(t->recorder, subscribe_atom_v, std::string{kind},
                     caf::actor_cast<caf::actor>(drop));
    if (bridge) {
      broker_links links;
      for (auto& d : bridge->remote->decoders())
        links.decoders.push_back(d);
      bridge->relay = links.relay = sys.spawn(permit_relay, t->limiter, bridge->poster());
      links.limiter = t->limiter;
      links.recorder = t->recorder;
      // A worker that parked runs again when a node that takes tasks comes.
      links.worker_back = [drop](const std::string& w) {
        caf::anon_send(drop, unpark_atom_v, w);
      };
      if (synthesizes && t->planner)
        // Off the broker's thread: the LLM takes seconds. A detached actor,
        // so that the actor system waits for it at shutdown.
        links.synthesize = [&sys, team = *t, root, post = bridge->poster()](
                             producer_desk::synthesis_ask ask) {
          auto* system = &sys;
          sys.spawn<caf::detached>([=](caf::blocking_actor*) {
            caf::scoped_actor self{*system};
            std::string error;
            double cost = 0;
            auto answer = synthesize(self, team, ask.request, ask.summary, root, error, cost,
                                     ask.budget_left);
            if (!answer)
              spdlog::error("run {}: the answer could not be written: {}", ask.run_id, error);
            post(broker_note{broker_note::synthesized{ask.run_id, answer, error, cost}});
          });
        };
      bridge->br->start(links);
      spdlog::info("orchestrator: workers on {}, producers on {}, events on {}{}",
                   bridge->br->workers_endpoint(), bridge->br->producers_endpoint(),
                   bridge->br->events_endpoint(), bridge->curve ? " (CURVE)" : "");
    }
    // Local workers hear of an unpark themselves (a remote node's park is
    // its own, and ends when it comes back).
    auto local = bridge ? std::map<std::string, worker_actor>{} : t->workers;
    fs_watcher watcher{root, workers,
                       [drop, local](fs_watcher::kind k, const std::string& w,
                                     const std::string& n) {
                         if (k == fs_watcher::kind::unparked)
                           if (auto i = local.find(w); i != local.end())
                             caf::anon_send(i->second, unpark_atom_v);
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
    if (!opts.ready_file.empty())
      if (auto err = write_file_atomic(opts.ready_file, ready_text(bridge ? &*bridge : nullptr, *http));
          !err.empty())
        spdlog::warn("--ready-file: {}", err);
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
    if (runner) {
      // What the shared queue gave us and did not finish goes back to it.
      self->request(runner, caf::infinite, stop_atom_v, static_cast<int64_t>(opts.grace_s * 1000))
        .receive([&](int32_t n) { handed_back += n; }, [&](caf::error&) {});
      caf::anon_send_exit(runner, caf::exit_reason::user_shutdown);
    }
    // Children of tasks handed back must not outlive us.
    signal_all_children(SIGKILL);
    caf::anon_send_exit(drop, caf::exit_reason::user_shutdown);
    if (bridge) {
      bridge->br->stop(); // worker nodes hear DISCONNECT
      caf::anon_send_exit(bridge->relay, caf::exit_reason::user_shutdown);
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

} // namespace troupe::node
