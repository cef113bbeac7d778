// Benchmarks of the spine, in one process: orchestrator -> workers ->
// rate limiter -> executor and back, through the same team wiring as
// `caf-node run` (actors/team.cpp). Prints one line per figure.
//
//   bench_pipeline <source dir> [scale] [inproc|command|true|slots] [slots]
//
// (`true`: only the /bin/true throughput of section 2, for profiling.)
//
// 1. simulator at 0 ms, many tasks: the actors' own throughput, peak RSS;
// 2. command executor running /bin/true, 1,000 tasks, 3 workers: tasks/s;
//    and sequential single tasks: p50 overhead over a bare spawn;
// 3. 50 ms executors, 1,000 tasks, 3 workers x 8 slots: tasks/s against the
//    ceiling of slots / latency (simulator and `sleep 0.05`).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include "actors/team.hpp"
#include "caf/all.hpp"
#include "core/process.hpp"
#include "cpu_time.hpp"

using namespace troupe;
namespace fs = std::filesystem;
using clk = std::chrono::steady_clock;

namespace {

std::string src_dir;

config make_config(const std::string& executor, int slots,
                   std::vector<std::string> argv = {}, int sim_ms = 0) {
  json j = {{"workers", json::object()}};
  for (auto [name, prompt] : {std::pair{"marie", "DANCE.md"},
                              {"anga", "ANGA.md"}, {"fabien", "FABIEN.md"}})
    j["workers"][name] = {{"prompt", src_dir + "/prompts/" + prompt},
                          {"executor", executor},
                          {"slots", slots}};
  j["executors"] = {{"sim", {{"latency_ms", sim_ms}}}};
  if (!argv.empty())
    j["executors"]["command"] = {{"argv", argv}};
  problems ps;
  auto cfg = config_from_json(j, "/", ps);
  if (!cfg) {
    std::fprintf(stderr, "bad bench config: %s\n", ps.at(0).c_str());
    std::exit(2);
  }
  return *cfg;
}

workflow make_workflow(size_t n) {
  workflow wf;
  wf.name = "bench";
  const char* workers[] = {"marie", "anga", "fabien"};
  wf.tasks.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    task t;
    t.task_id = "t" + std::to_string(i);
    t.worker = workers[i % 3];
    t.description = "Summarise the attached diff and list risky changes.";
    wf.tasks.push_back(std::move(t));
  }
  return wf;
}

struct outcome {
  double seconds = 0;
  size_t complete = 0;
  double self_cpu = 0;  // seconds of CPU in this process (all threads)
  double child_cpu = 0; // seconds of CPU in the reaped children
};


/// Runs one workflow through a fresh team; no recorder unless `root` given.
outcome run_once(const config& cfg, const workflow& wf,
                 const std::string& root = {}) {
  caf::actor_system_config sc;
  configure_actor_system(sc);
  caf::actor_system sys{sc};
  team_options opts;
  opts.root = root.empty() ? fs::temp_directory_path().string() : root;
  opts.record = !root.empty();
  problems ps;
  auto t = spawn_team(sys, cfg, opts, ps);
  if (!t) {
    std::fprintf(stderr, "team: %s\n", ps.at(0).c_str());
    std::exit(2);
  }
  outcome o;
  caf::scoped_actor self{sys};
  auto t0 = clk::now();
  auto self0 = bench::cpu_seconds(RUSAGE_SELF);
  auto child0 = bench::cpu_seconds(RUSAGE_CHILDREN);
  self->request(t->orchestrator, caf::infinite, run_atom_v, wf)
    .receive(
      [&](run_summary& s) {
        o.seconds = std::chrono::duration<double>(clk::now() - t0).count();
        o.complete = s.count(status::complete);
        o.self_cpu = bench::cpu_seconds(RUSAGE_SELF) - self0;
        o.child_cpu = bench::cpu_seconds(RUSAGE_CHILDREN) - child0;
      },
      [&](caf::error& e) { std::fprintf(stderr, "run failed\n"); });
  stop_team(*t);
  return o;
}

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs.empty() ? 0 : xs[xs.size() / 2];
}

void report(const char* name, double value, const char* unit,
            const std::string& note = {}) {
  std::printf("%-48s %12.1f %-8s %s\n", name, value, unit, note.c_str());
  std::fflush(stdout);
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_pipeline <source dir> [scale]\n");
    return 2;
  }
  src_dir = argv[1];
  double scale = argc > 2 ? std::atof(argv[2]) : 1.0;
  auto n_fast = static_cast<size_t>(200000 * scale);
  std::string only = argc > 3 ? argv[3] : "";
  int slots_true = argc > 4 ? std::atoi(argv[4]) : 4;
  auto want = [&](const char* section) { return only.empty() || only == section; };

  // 1. The actors alone.
  if (want("inproc")) {
    auto cfg = make_config("sim", 8);
    auto wf = make_workflow(n_fast);
    run_once(cfg, make_workflow(1000)); // warm-up
    std::vector<double> rates;
    for (int i = 0; i < 3; ++i) {
      auto o = run_once(cfg, wf);
      if (o.complete != n_fast)
        std::fprintf(stderr, "only %zu of %zu complete\n", o.complete, n_fast);
      rates.push_back(o.complete / o.seconds);
    }
    report("sim 0 ms, in-process: tasks/s (median of 3)", median(rates),
           "tasks/s", std::to_string(n_fast) + " tasks, 3 workers x 8 slots");
    report("sim 0 ms, in-process: peak RSS", peak_rss_mb(), "MB",
           "whole process, " + std::to_string(n_fast) + "-task workflow held in memory");
  }

  // 2. /bin/true through the command executor.
  if (want("command") || only == "true") {
    auto cfg = make_config("command", slots_true, {"/bin/true"});
    auto wf = make_workflow(1000);
    std::vector<double> rates, self_us, child_us;
    for (int i = 0; i < 3; ++i) {
      auto o = run_once(cfg, wf);
      rates.push_back(o.complete / o.seconds);
      self_us.push_back(o.self_cpu * 1e6 / static_cast<double>(wf.tasks.size()));
      child_us.push_back(o.child_cpu * 1e6 / static_cast<double>(wf.tasks.size()));
    }
    report(("/bin/true, 1,000 tasks, 3 workers x " + std::to_string(slots_true) + " slots").c_str(), median(rates),
           "tasks/s", "median of 3, results not written");
    // Where the CPU goes: less noisy than the rate on a shared machine.
    report("  CPU per task in troupe's process", median(self_us), "us",
           "user + system, all threads");
    report("  CPU per task in the /bin/true child", median(child_us), "us",
           "the floor pays this too");
    if (only == "true")
      return 0;
    auto shm = fs::path{"/dev/shm"}.string();
    auto root = (fs::exists(shm) ? shm : fs::temp_directory_path().string())
                + "/troupe-bench-" + std::to_string(::getpid());
    rates.clear();
    for (int i = 0; i < 3; ++i) {
      fs::remove_all(root);
      fs::create_directories(root);
      auto o = run_once(cfg, wf, root);
      rates.push_back(o.complete / o.seconds);
    }
    fs::remove_all(root);
    report("/bin/true, 1,000 tasks, results written (tmpfs)", median(rates),
           "tasks/s", "median of 3, tmp+fsync+rename per result");
    // Overhead of one task over the bare spawn, sequentially.
    process_spec bare;
    bare.argv = {"/bin/true"};
    bare.env = inherit_env({"PATH"});
    bare.cwd = fs::temp_directory_path().string();
    std::vector<double> spawn_ms, task_ms;
    for (int i = 0; i < 200; ++i) {
      auto t0 = clk::now();
      run_process(bare);
      spawn_ms.push_back(
        std::chrono::duration<double, std::milli>(clk::now() - t0).count());
    }
    caf::actor_system_config sc;
    configure_actor_system(sc);
    caf::actor_system sys{sc};
    team_options opts;
    opts.root = fs::temp_directory_path().string();
    opts.record = false;
    problems ps;
    auto t = spawn_team(sys, cfg, opts, ps);
    caf::scoped_actor self{sys};
    auto one = make_workflow(1);
    for (int i = 0; i < 200; ++i) {
      auto t0 = clk::now();
      self->request(t->orchestrator, caf::infinite, run_atom_v, one)
        .receive([&](run_summary&) {}, [&](caf::error&) {});
      task_ms.push_back(
        std::chrono::duration<double, std::milli>(clk::now() - t0).count());
    }
    stop_team(*t);
    auto bare_p50 = median(spawn_ms);
    auto task_p50 = median(task_ms);
    report("bare spawn of /bin/true: p50", bare_p50 * 1000, "us");
    report("one task through the pipeline: p50", task_p50 * 1000, "us");
    report("p50 overhead of one task over the bare spawn",
           (task_p50 - bare_p50) * 1000, "us");
  }

  // 3. 50 ms executors: are the slots kept busy?
  if (want("slots")) {
    auto wf = make_workflow(1000);
    auto ceiling = 24 / 0.050;
    auto o = run_once(make_config("sim", 8, {}, 50), wf);
    report("sim 50 ms, 1,000 tasks, 3 x 8 slots", o.complete / o.seconds,
           "tasks/s",
           "ceiling " + std::to_string(static_cast<int>(ceiling)) + "/s");
    o = run_once(make_config("command", 8, {"sleep", "0.05"}), wf);
    report("sleep 0.05, 1,000 tasks, 3 x 8 slots", o.complete / o.seconds,
           "tasks/s",
           "ceiling " + std::to_string(static_cast<int>(ceiling)) + "/s");
  }
  return 0;
}
