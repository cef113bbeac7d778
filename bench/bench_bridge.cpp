// Benchmarks of the ZeroMQ bridge: the orchestrator's actors and broker in
// this process, each worker a real `caf-node worker` process with the
// simulator at 0 ms, over TCP on loopback. Prints one line per figure.
//
//   bench_bridge <caf-node> <source dir> [tasks] [nodes] [pinned]
//
// `pinned`: this process (the orchestrator) runs on CPU 0 and the worker
// nodes on CPU 1 (caf-node --cpus 1), a core per service: every
// hand-off between a node's own threads stays on its core. Unpinned, the
// kernel spreads the threads over the cores, and on a VM each wake-up of
// another core costs tens of µs.
//
// 1. throughput: one workflow of `tasks` independent tasks through the
//    orchestrator actor, the broker, the nodes and back: tasks/s;
// 2. round trip: 2,000 single tasks one after another, from the worker
//    proxy through a node and back: p50/p99 in µs. Measured twice: from
//    this thread (a scoped actor, so two more thread hand-offs than a real
//    run pays), and from an actor, as the orchestrator sends its tasks.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <spawn.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "actors/team.hpp"
#include "bridge/zmq/broker.hpp"
#include "bridge/zmq/remote_workers.hpp"
#include "caf/all.hpp"

extern char** environ;

using namespace troupe;
namespace fs = std::filesystem;
using clk = std::chrono::steady_clock;

namespace {

pid_t spawn(const std::vector<std::string>& argv) {
  std::vector<char*> a;
  for (auto& s : argv)
    a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, a[0], nullptr, nullptr, a.data(), environ) != 0) {
    std::perror("posix_spawn");
    std::exit(2);
  }
  return pid;
}

long rss_kb(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  return -1;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_bridge <caf-node> <source dir> [tasks] [nodes] [pinned]\n");
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  bool pinned = argc > 5 && std::string{argv[5]} == "pinned";
  if (pinned && std::thread::hardware_concurrency() < 2) {
    std::fprintf(stderr, "pinned: needs 2 CPUs; running unpinned\n");
    pinned = false;
  }
  if (pinned) {
    // Before any thread exists: the actor system's and ZeroMQ's inherit it.
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    CPU_SET(0, &cpus);
    if (::sched_setaffinity(0, sizeof cpus, &cpus) != 0) {
      std::perror("sched_setaffinity");
      return 2;
    }
  }
  const char* how = pinned ? ", pinned (orchestrator CPU 0, nodes CPU 1)" : "";
  std::string caf_node = fs::absolute(argv[1]).string();
  std::string src = fs::absolute(argv[2]).lexically_normal().string();
  size_t n = argc > 3 ? std::stoul(argv[3]) : 100000;
  int nodes = argc > 4 ? std::stoi(argv[4]) : 3;
  auto dir = fs::temp_directory_path() / ("troupe-bench-bridge-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  // Workers w0..wN-1, the simulator at 0 ms, many slots: the bridge, not
  // the executor, sets the pace.
  json cj = {{"workers", json::object()}, {"executors", {{"sim", {{"latency_ms", 0}}}}}};
  for (int i = 0; i < nodes; ++i)
    cj["workers"]["w" + std::to_string(i)] = {
      {"prompt", src + "/prompts/ANGA.md"}, {"executor", "sim"}, {"slots", 256}};
  auto cfg_path = (dir / "config.json").string();
  std::ofstream(cfg_path) << cj.dump(2);
  problems ps;
  auto cfg = config_from_json(cj, "/", ps);
  if (!cfg) {
    std::fprintf(stderr, "bad config: %s\n", ps.at(0).c_str());
    return 2;
  }
  caf::actor_system_config sc;
  configure_actor_system(sc);
  caf::actor_system sys{sc};
  broker_settings bs;
  bs.workers_endpoint = "tcp://127.0.0.1:*";
  bs.producers_endpoint = "tcp://127.0.0.1:*";
  bs.events_endpoint = "tcp://127.0.0.1:*";
  bs.root = dir.string();
  bs.workers = cfg->worker_names();
  auto br = std::make_shared<broker>(bs);
  auto post = [br](broker_note x) { br->post(std::move(x)); };
  remote_workers remote{sys, post};
  auto proxy = remote.handle();
  team_options topts;
  topts.root = dir.string();
  topts.record = false;
  topts.remote_worker = [proxy](const worker_config&) { return proxy; };
  auto t = spawn_team(sys, *cfg, topts, ps);
  if (!t) {
    std::fprintf(stderr, "team: %s\n", ps.at(0).c_str());
    return 2;
  }
  broker_links links;
  for (auto& d : remote.decoders())
    links.decoders.push_back(d);
  links.relay = sys.spawn(permit_relay, t->limiter, post);
  links.limiter = t->limiter;
  links.recorder = t->recorder;
  br->start(links);
  std::vector<pid_t> pids;
  for (int i = 0; i < nodes; ++i) {
    auto name = "w" + std::to_string(i);
    std::vector<std::string> argv_node{caf_node, "worker", name, "--connect", br->workers_endpoint(),
                          "--config", cfg_path, "--root", (dir / name).string(),
                          "--ready-file", (dir / (name + ".ready")).string(),
                          "--log-level", "warn"};
    if (pinned)
      argv_node.insert(argv_node.end(), {"--cpus", "1"});
    pids.push_back(spawn(argv_node));
  }
  for (int i = 0; i < nodes; ++i)
    while (!fs::exists(dir / ("w" + std::to_string(i) + ".ready"))) {
      if (::waitpid(pids[i], nullptr, WNOHANG) == pids[i]) {
        std::fprintf(stderr, "worker node w%d exited\n", i);
        return 2;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  long idle_rss = 0;
  for (auto p : pids)
    idle_rss = std::max(idle_rss, rss_kb(p));
  std::printf("bridge idle worker node RSS (max of %d): %.1f MB\n", nodes,
              idle_rss / 1024.0);

  caf::scoped_actor self{sys};
  auto run = [&](size_t count) {
    workflow wf;
    wf.name = "bench";
    for (size_t i = 0; i < count; ++i) {
      task x;
      x.task_id = "t" + std::to_string(i);
      x.worker = "w" + std::to_string(i % nodes);
      x.description = "Summarise the attached diff and list risky changes.";
      wf.tasks.push_back(std::move(x));
    }
    size_t ok = 0;
    auto t0 = clk::now();
    self->request(t->orchestrator, caf::infinite, run_atom_v, wf)
      .receive([&](run_summary& s) { ok = s.count(status::complete); },
               [&](caf::error& e) { std::fprintf(stderr, "%s\n", sys.render(e).c_str()); });
    return std::make_pair(std::chrono::duration<double>(clk::now() - t0).count(), ok);
  };
  run(std::min<size_t>(n / 10, 10000)); // warm-up
  auto [secs, ok] = run(n);
  std::printf("bridge throughput%s, simulator at 0 ms, %zu tasks over %d worker "
              "nodes: %.0f tasks/s (%zu complete, %.2f s)\n",
              how, n, nodes, n / secs, ok, secs);
  long peak = 0;
  for (auto p : pids)
    peak = std::max(peak, rss_kb(p));
  std::printf("bridge worker node RSS after the run (max): %.1f MB\n", peak / 1024.0);

  std::vector<double> us;
  for (int i = 0; i < 2000; ++i) {
    task x;
    x.task_id = "rt" + std::to_string(i);
    x.worker = "w0";
    x.description = "ping";
    auto t0 = clk::now();
    self->request(proxy, caf::infinite, x, uint64_t{0})
      .receive([&](result&, uint64_t) {}, [&](caf::error&) {});
    us.push_back(std::chrono::duration<double, std::micro>(clk::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  std::printf("bridge round trip%s (from a thread -> node -> back), 2000 sequential: "
              "p50 %.0f us, p99 %.0f us\n",
              how, us[us.size() / 2], us[us.size() * 99 / 100]);
  // The same from an actor on the scheduler, as the orchestrator talks to
  // the workers: a plain send, the answer (result, ticket) a plain message;
  // no hand-off to and from a blocked thread at either end.
  auto from_actor = self->spawn([proxy](caf::event_based_actor* a) -> caf::behavior {
    auto times = std::make_shared<std::vector<double>>();
    auto done = std::make_shared<caf::response_promise>();
    auto t0 = std::make_shared<clk::time_point>();
    auto ping = [=] { // one ping; its answer sends the next
      task x;
      x.task_id = "ra" + std::to_string(times->size());
      x.worker = "w0";
      x.description = "ping";
      *t0 = clk::now();
      a->send(proxy, std::move(x), uint64_t{times->size()});
    };
    return {
      [=](run_atom) {
        *done = a->make_response_promise();
        ping();
        return *done;
      },
      [=](result&, uint64_t) {
        times->push_back(std::chrono::duration<double, std::micro>(clk::now() - *t0).count());
        if (times->size() == 2000)
          done->deliver(*times);
        else
          ping();
      },
    };
  });
  self->request(from_actor, caf::infinite, run_atom_v)
    .receive([&](std::vector<double>& v) { us = std::move(v); },
             [&](caf::error& e) { std::fprintf(stderr, "%s\n", sys.render(e).c_str()); });
  std::sort(us.begin(), us.end());
  if (!us.empty())
    std::printf("bridge round trip%s from an actor (as the orchestrator sends), 2000 "
                "sequential: p50 %.0f us, p99 %.0f us\n",
                how, us[us.size() / 2], us[us.size() * 99 / 100]);
  for (auto p : pids)
    ::kill(p, SIGTERM);
  for (auto p : pids)
    ::waitpid(p, nullptr, 0);
  br->stop();
  stop_team(*t);
  caf::anon_send_exit(links.relay, caf::exit_reason::user_shutdown);
  fs::remove_all(dir);
  return 0;
}
