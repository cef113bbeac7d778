// caf-node status: what the folders say, per worker. Reads tasks/ and
// results/ only, so it works whether or not a node is running.

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>

#include <CLI/CLI.hpp>

#include "bridge/fs_queue.hpp"
#include "core/config.hpp"
#include "node/commands.hpp"
#include "node/options.hpp"

namespace troupe::node {

namespace fs = std::filesystem;

namespace {

struct status_options {
  std::string root = ".";
  std::string config_path;
  bool json_out = false;
};

struct worker_status {
  size_t queued = 0, waiting = 0, claimed = 0, running = 0;
  size_t done = 0, failed = 0, rejected = 0;
  std::string oldest;
  double oldest_age_s = 0;
  std::map<std::string, std::vector<std::string>> waiting_for;
  std::string parked;
};

size_t count_files(const std::string& dir) {
  size_t n = 0;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir, ec))
    n += e.is_regular_file(ec) ? 1 : 0;
  return n;
}

worker_status inspect_worker(const fs_queue& q, const std::string& w) {
  worker_status ws;
  auto now = fs::file_time_type::clock::now();
  for (auto& name : q.pending(w)) {
    ++ws.queued;
    std::error_code ec;
    auto path = q.tasks_dir(w) + "/" + name;
    auto age = std::chrono::duration<double>(now - fs::last_write_time(path, ec))
                 .count();
    if (!ec && (ws.oldest.empty() || age > ws.oldest_age_s)) {
      ws.oldest = name.substr(0, name.size() - 5);
      ws.oldest_age_s = age;
    }
    auto o = q.read(w, name, false, true, 0);
    if (o.state != fs_queue::read_state::ok)
      continue;
    std::vector<std::string> missing;
    for (auto& d : o.t.dependencies)
      if (!q.find_result(d))
        missing.push_back(d);
    if (!missing.empty()) {
      ++ws.waiting;
      ws.waiting_for[o.t.task_id] = missing;
    }
  }
  ws.claimed = q.claimed(w).size();
  ws.parked = q.parked(w);
  ws.running = count_files(q.tasks_dir(w) + "/.running");
  std::error_code ec;
  for (auto& e : fs::directory_iterator(q.results_dir(w), ec)) {
    auto n = e.path().filename().string();
    if (!fs_queue::is_candidate(n))
      continue;
    auto r = q.find_result(n.substr(0, n.size() - 5), w);
    if (!r)
      continue;
    if (r->state == status::complete)
      ++ws.done;
    else if (r->state == status::rejected)
      ++ws.rejected;
    else
      ++ws.failed;
  }
  return ws;
}

int status_cmd(const status_options& opts) {
  auto root = normalize_root(opts.root);
  std::set<std::string> workers;
  auto cfg_path = opts.config_path.empty() ? root + "/config/troupe.json"
                                           : opts.config_path;
  problems ps;
  if (fs::exists(cfg_path))
    if (auto cfg = load_config(cfg_path, ps))
      workers = cfg->worker_names();
  if (!ps.empty()) {
    print_problems("error: bad config " + cfg_path + ":", ps);
    return exit_usage;
  }
  std::error_code ec;
  for (auto sub : {"/tasks", "/results"})
    for (auto& e : fs::directory_iterator(root + sub, ec))
      if (e.is_directory(ec) && e.path().filename().string()[0] != '.')
        workers.insert(e.path().filename().string());
  fs_queue q{root, {workers.begin(), workers.end()}, 1u << 20};
  json out = {{"root", root}, {"workers", json::object()}};
  for (auto& w : workers) {
    auto ws = inspect_worker(q, w);
    json j = {{"queued", ws.queued},   {"waiting", ws.waiting},
              {"claimed", ws.claimed}, {"running", ws.running},
              {"done", ws.done},       {"failed", ws.failed},
              {"rejected", ws.rejected}};
    j["oldest_waiting"] = ws.oldest.empty()
                            ? json(nullptr)
                            : json{{"task_id", ws.oldest},
                                   {"age_s", static_cast<int64_t>(ws.oldest_age_s)}};
    j["waiting_for"] = ws.waiting_for;
    j["parked"] = ws.parked.empty() ? json(nullptr) : json(ws.parked);
    out["workers"][w] = j;
  }
  if (opts.json_out) {
    std::printf("%s\n", out.dump(2).c_str());
    return exit_ok;
  }
  std::printf("%-12s %7s %8s %8s %8s %6s %7s %9s  %s\n", "worker", "queued",
              "waiting", "claimed", "running", "done", "failed", "rejected",
              "oldest waiting");
  for (auto& [w, j] : out["workers"].items()) {
    std::string oldest = "-";
    if (!j["oldest_waiting"].is_null())
      oldest = j["oldest_waiting"]["task_id"].get<std::string>() + " ("
               + std::to_string(j["oldest_waiting"]["age_s"].get<int64_t>())
               + " s)";
    std::printf("%-12s %7zu %8zu %8zu %8zu %6zu %7zu %9zu  %s\n", w.c_str(),
                j["queued"].get<size_t>(), j["waiting"].get<size_t>(),
                j["claimed"].get<size_t>(), j["running"].get<size_t>(),
                j["done"].get<size_t>(), j["failed"].get<size_t>(),
                j["rejected"].get<size_t>(), oldest.c_str());
  }
  for (auto& [w, j] : out["workers"].items())
    if (!j["parked"].is_null())
      std::printf("%s is parked: %s\n", w.c_str(),
                  j["parked"].get<std::string>().c_str());
  for (auto& [w, j] : out["workers"].items())
    for (auto& [id, deps] : j["waiting_for"].items()) {
      std::string list;
      for (auto& d : deps)
        list += (list.empty() ? "" : ", ") + d.get<std::string>();
      std::printf("%s/%s waits for: %s\n", w.c_str(), id.c_str(), list.c_str());
    }
  return exit_ok;
}

} // namespace

command add_status(CLI::App& app) {
  auto opts = std::make_shared<status_options>();
  auto cmd = app.add_subcommand(
    "status", "per worker: queued, waiting, claimed, running, done, failed, "
              "rejected tasks and the oldest waiting one (reads the folders)");
  cmd->add_option("--root", opts->root, "the node's root folder")
    ->capture_default_str();
  cmd->add_option("--config", opts->config_path,
                  "config naming the workers (default <root>/config/troupe.json)");
  cmd->add_flag("--json", opts->json_out, "machine-readable output");
  return [opts] { return status_cmd(*opts); };
}

} // namespace troupe::node
