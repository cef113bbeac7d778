#include "node/options.hpp"

#include <cerrno>
#include <cstdio>
#include <filesystem>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "core/cpus.hpp"

namespace troupe::node {

namespace fs = std::filesystem;

void add_common_options(CLI::App* cmd, common_options& opts, bool runs_agents) {
  cmd->add_option("--root", opts.root,
                  "folder holding tasks/, results/, workspaces/, auth-homes/, "
                  "runs/")
    ->capture_default_str();
  cmd->add_option("--config", opts.config_path,
                  "config file (default: <root>/config/troupe.json, else "
                  "./config/troupe.json)");
  if (runs_agents) {
    cmd->add_option("--executor", opts.executor,
                    "run every worker with this executor instead of its own")
      ->check(CLI::IsMember({"claude", "command", "sim"}));
    cmd->add_option("--sim-latency-ms", opts.sim_latency_ms,
                    "latency of the simulator per task")
      ->check(CLI::Range(0, 3600000));
  }
  cmd->add_option("--cpus", opts.cpus,
                  "run troupe's own threads on these CPUs only, e.g. 0 or 2-3 "
                  "(the agents it starts are not confined): shorter hand-offs "
                  "between its threads")
    ->check([](const std::string& s) {
      std::string err;
      return parse_cpu_list(s, err) ? std::string{} : err;
    });
}

bool pin_cpus(const common_options& opts) {
  if (opts.cpus.empty())
    return true;
  std::string err;
  auto set = parse_cpu_list(opts.cpus, err);
  if (!set || !pin_to_cpus(*set, err)) {
    std::fprintf(stderr, "error: --cpus: %s\n", err.c_str());
    return false;
  }
  return true;
}

stop_signals::stop_signals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGTERM);
  sigaddset(&set_, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

const char* stop_signals::wait() const {
  int sig = 0;
  sigwait(&set_, &sig);
  return sig == SIGINT ? "SIGINT" : "SIGTERM";
}

signal_watch::signal_watch(std::function<void(const char*, int)> on_signal) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  signal_fd_ = ::signalfd(-1, &set, SFD_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
  thread_ = std::thread([this, on_signal = std::move(on_signal)] {
    int n = 0;
    for (;;) {
      pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0 && errno != EINTR)
        return;
      if (fds[1].revents)
        return;
      signalfd_siginfo si{};
      if (fds[0].revents && ::read(signal_fd_, &si, sizeof(si)) == sizeof(si))
        on_signal(si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM", ++n);
    }
  });
}

signal_watch::~signal_watch() {
  uint64_t one = 1;
  [[maybe_unused]] auto w = ::write(wake_fd_, &one, sizeof(one));
  thread_.join();
  ::close(signal_fd_);
  ::close(wake_fd_);
}

std::string normalize_root(const std::string& root) {
  auto p = fs::absolute(root).lexically_normal().string();
  while (p.size() > 1 && p.back() == '/')
    p.pop_back();
  return p;
}

void print_problems(const std::string& heading, const problems& ps) {
  std::fprintf(stderr, "%s\n", heading.c_str());
  for (auto& p : ps)
    std::fprintf(stderr, "  - %s\n", p.c_str());
}

std::optional<config> load_effective_config(const common_options& opts) {
  auto path = opts.config_path;
  if (path.empty()) {
    path = (fs::path{opts.root} / "config/troupe.json").string();
    if (!fs::exists(path))
      path = "config/troupe.json";
  }
  problems ps;
  auto cfg = load_config(path, ps);
  if (cfg)
    check_config_files(*cfg, ps);
  if (!ps.empty()) {
    print_problems("error: bad config " + path + ":", ps);
    return std::nullopt;
  }
  if (opts.sim_latency_ms >= 0)
    cfg->sim.latency_ms = opts.sim_latency_ms;
  if (!opts.executor.empty()) {
    for (auto& w : cfg->workers)
      w.executor = opts.executor;
    cfg->orchestrator.executor = opts.executor;
  }
  return cfg;
}

} // namespace troupe::node
