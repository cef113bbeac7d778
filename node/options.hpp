#pragma once

// Options shared by the commands that start workers (run, serve, ...).

#include <csignal>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "core/config.hpp"

namespace CLI {
class App;
}

namespace troupe::node {

struct common_options {
  std::string root = ".";
  std::string config_path; // empty: <root>/config/troupe.json, else ./config
  std::string executor;    // empty: as configured per worker
  int sim_latency_ms = -1; // -1: as configured
  std::string cpus;        // empty: wherever the kernel puts them
};

/// `runs_agents`: the command runs workers itself, so --executor and
/// --sim-latency-ms mean something (not for the orchestrator, whose workers
/// are the nodes).
void add_common_options(CLI::App* cmd, common_options& opts, bool runs_agents = true);

/// --cpus: pins this process's threads (call it before any thread starts);
/// prints the reason to stderr and returns false if it cannot.
bool pin_cpus(const common_options& opts);

/// Loads the config and applies the command-line overrides; prints every
/// problem to stderr and returns nullopt on failure.
std::optional<config> load_effective_config(const common_options& opts);

/// An absolute, normal form of a root folder, without a trailing slash.
std::string normalize_root(const std::string& root);

/// SIGTERM and SIGINT, blocked in the calling thread: call it before any
/// thread starts, so that every thread inherits the mask and only
/// wait() takes them.
class stop_signals {
public:
  stop_signals();
  /// Waits for one; returns its name ("SIGTERM" or "SIGINT").
  const char* wait() const;

private:
  sigset_t set_;
};

/// Calls on_signal(name, n) on its own thread for the n-th SIGTERM or SIGINT
/// while it lives (a first Ctrl-C stops gently, a second one hard). Create
/// it after a stop_signals, which keeps the signals from everyone else.
class signal_watch {
public:
  explicit signal_watch(std::function<void(const char* name, int n)> on_signal);
  ~signal_watch();
  signal_watch(const signal_watch&) = delete;
  signal_watch& operator=(const signal_watch&) = delete;

private:
  int signal_fd_ = -1;
  int wake_fd_ = -1; // written by the destructor
  std::thread thread_;
};

/// Prints problems to stderr, one per line, after a heading.
void print_problems(const std::string& heading, const problems& ps);

} // namespace troupe::node
