// caf-node status: what the folders say, per worker. Reads tasks/ and
// results/ only, so it works whether or not a node is running.

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>

#include <CLI/CLI.hpp>

#include "bridge/files/queue_status.hpp"
#include "node/bridge_options.hpp"
#include "node/producer_link.hpp"
#include "core/config.hpp"
#include "core/text.hpp"
#include "node/commands.hpp"
#include "node/options.hpp"
#include "node/queue_link.hpp"

namespace troupe::node {

namespace fs = std::filesystem;

namespace {

struct status_options {
  std::string root = ".";
  std::string config_path;
  bool json_out = false;
  std::string connect; // ask a running orchestrator instead
  curve_options curve;
  queue_options queue; // also show the shared queue
};

/// An orchestrator (consumer) counts as active if it read or renewed
/// within this long (a running one does several times a second); others
/// are gone, or left from earlier runs.
constexpr int64_t active_consumer_ms = 10'000;

/// The shared queue, for the cluster view: per worker what is queued, held
/// and dead, and which orchestrators hold what.
bool queue_section(const queue_options& qo, const std::set<std::string>& workers, json& out,
                   std::string& error) {
  std::vector<std::string> ws(workers.begin(), workers.end());
  // A reader only: a consumer name never used to claim.
  auto link = open_queue_link(qo, ws, "status", 0, error);
  if (!link)
    return false;
  json q = {{"url", qo.url}, {"prefix", qo.prefix}};
  std::map<std::string, json> orchs;
  for (auto& w : ws) {
    auto n = link->q->counts(w, error);
    q["workers"][w] = {{"queued", n.queued}, {"held", n.claimed}, {"dead", n.dead}};
    for (auto& c : link->q->consumers(w, error)) {
      if (c.name == "status")
        continue;
      auto& o = orchs[c.name];
      o["name"] = c.name;
      o["held"] = o.value("held", int64_t{0}) + c.pending;
      auto idle = o.contains("idle_ms") ? std::min(o["idle_ms"].get<int64_t>(), c.idle_ms) : c.idle_ms;
      o["idle_ms"] = idle;
    }
  }
  q["waiting"] = link->q->waiting(error);
  q["results"] = link->q->results(error);
  q["orchestrators"] = json::array();
  for (auto& [name, o] : orchs) {
    o["active"] = o["idle_ms"].get<int64_t>() < active_consumer_ms;
    q["orchestrators"].push_back(o);
  }
  out["queue"] = q;
  return error.empty();
}

int print_status(const json& out, bool json_out);

int remote_status(const status_options& opts) {
  std::shared_ptr<const zmqx::curve_client> curve;
  if (!load_curve_client(opts.curve, curve))
    return exit_usage;
  producer_link link{opts.connect, curve};
  link.send({wire::name(wire::command::status), json::object()});
  auto m = link.recv(std::chrono::seconds(10));
  if (!m || m->cmd != wire::name(wire::command::status)) {
    std::fprintf(stderr, "error: %s\n", link.silence("status").c_str());
    return exit_failed;
  }
  auto out = m->body;
  if (!opts.queue.url.empty()) {
    std::set<std::string> workers;
    if (auto w = out.find("workers"); w != out.end() && w->is_object())
      for (auto& [name, _] : w->items())
        workers.insert(name);
    std::string err;
    if (!queue_section(opts.queue, workers, out, err)) {
      std::fprintf(stderr, "error: %s\n", err.c_str());
      return exit_failed;
    }
  }
  return print_status(out, opts.json_out);
}

int status_cmd(const status_options& opts) {
  if (!opts.connect.empty())
    return remote_status(opts);
  auto root = normalize_root(opts.root);
  std::set<std::string> workers;
  double cap = 0;
  auto cfg_path = opts.config_path.empty() ? root + "/config/troupe.json"
                                           : opts.config_path;
  problems ps;
  if (fs::exists(cfg_path))
    if (auto cfg = load_config(cfg_path, ps)) {
      workers = cfg->worker_names();
      cap = cfg->spend_per_day_usd;
    }
  if (!ps.empty()) {
    print_problems("error: bad config " + cfg_path + ":", ps);
    return exit_usage;
  }
  std::error_code ec;
  for (auto sub : {"/tasks", "/results"})
    for (auto& e : fs::directory_iterator(root + sub, ec))
      if (e.is_directory(ec) && e.path().filename().string()[0] != '.')
        workers.insert(e.path().filename().string());
  auto out = queue_status(root, workers, cap);
  if (!opts.queue.url.empty()) {
    std::string err;
    if (!queue_section(opts.queue, workers, out, err)) {
      std::fprintf(stderr, "error: %s\n", err.c_str());
      return exit_failed;
    }
  }
  return print_status(out, opts.json_out);
}

int print_status(const json& out, bool json_out) {
  if (json_out) {
    std::printf("%s\n", out.dump(2).c_str());
    return exit_ok;
  }
  std::printf("%-12s %7s %8s %8s %8s %6s %7s %9s %10s  %s\n", "worker", "queued",
              "waiting", "claimed", "running", "done", "failed", "rejected",
              "cancelled", "oldest waiting");
  for (auto& [w, j] : out["workers"].items()) {
    std::string oldest = "-";
    if (!j["oldest_waiting"].is_null())
      oldest = j["oldest_waiting"]["task_id"].get<std::string>() + " ("
               + std::to_string(j["oldest_waiting"]["age_s"].get<int64_t>())
               + " s)";
    // A peer of an older version sends no "cancelled".
    std::printf("%-12s %7zu %8zu %8zu %8zu %6zu %7zu %9zu %10zu  %s\n", w.c_str(),
                j["queued"].get<size_t>(), j["waiting"].get<size_t>(),
                j["claimed"].get<size_t>(), j["running"].get<size_t>(),
                j["done"].get<size_t>(), j["failed"].get<size_t>(),
                j["rejected"].get<size_t>(), j.value("cancelled", size_t{0}),
                oldest.c_str());
  }
  if (auto s = out.find("spend_today"); s != out.end() && s->is_object()) {
    // A peer of an older version sends none.
    auto cap = s->find("cap_usd");
    std::printf("spend today (%s UTC): %s in %lld claude run(s)%s\n",
                s->value("day", std::string{}).c_str(),
                usd_text(s->value("usd", 0.0)).c_str(),
                static_cast<long long>(s->value("runs", int64_t{0})),
                cap != s->end() && cap->is_number()
                  ? (" of " + usd_text(cap->get<double>()) + " a day").c_str()
                  : "");
    if (auto until = s->find("capped_until"); until != s->end() && until->is_string())
      std::printf("the day's cap is reached: claude workers are parked (spend_cap) "
                  "until %s\n", until->get<std::string>().c_str());
  }
  if (auto a = out.find("account_parked"); a != out.end() && a->is_object())
    std::printf("the account is parked: %s; no run starts until then\n",
                a->value("parked", std::string{}).c_str());
  for (auto& [w, j] : out["workers"].items())
    if (!j["parked"].is_null())
      std::printf("%s is parked: %s\n", w.c_str(),
                  j["parked"].get<std::string>().c_str());
  for (auto& [w, j] : out["workers"].items())
    if (auto a = j.find("awaiting_approval"); a != j.end() && a->is_array())
      for (auto& x : *a)
        std::printf("%s/%s awaits approval since %s: %s (caf-node approve %s, or reject %s --why ...)\n",
                    w.c_str(), x.value("task_id", "").c_str(), x.value("since", "").c_str(),
                    x.value("estimate", "").c_str(), x.value("task_id", "").c_str(),
                    x.value("task_id", "").c_str());
  for (auto& [w, j] : out["workers"].items())
    for (auto& [id, deps] : j["waiting_for"].items()) {
      std::string list;
      for (auto& d : deps)
        list += (list.empty() ? "" : ", ") + d.get<std::string>();
      std::printf("%s/%s waits for: %s\n", w.c_str(), id.c_str(), list.c_str());
    }
  if (auto n = out.find("nodes"); n != out.end()) {
    std::printf("%zu worker node(s) connected\n", n->size());
    for (auto& x : *n) {
      auto parked = x.value("parked", std::string{});
      auto state = !parked.empty()             ? "  parked after " + parked + ": gets no tasks"
                   : x.value("draining", false) ? std::string{"  draining: gets no tasks"}
                                                : std::string{};
      std::printf("  %-30s %-10s %d/%d busy%s\n", x.value("node", "").c_str(),
                  x.value("worker", "").c_str(), x.value("busy", 0), x.value("slots", 0),
                  state.c_str());
    }
  }
  if (auto q = out.find("queue"); q != out.end()) {
    std::printf("shared queue %s (prefix %s): %lld result(s), %lld task(s) waiting for dependencies\n",
                q->value("url", "").c_str(), q->value("prefix", "").c_str(),
                static_cast<long long>(q->value("results", int64_t{0})),
                static_cast<long long>(q->value("waiting", int64_t{0})));
    for (auto& [w, n] : (*q)["workers"].items())
      std::printf("  %-12s %7lld queued %7lld held %5lld dead\n", w.c_str(),
                  static_cast<long long>(n.value("queued", int64_t{0})),
                  static_cast<long long>(n.value("held", int64_t{0})),
                  static_cast<long long>(n.value("dead", int64_t{0})));
    for (auto& o : (*q)["orchestrators"])
      std::printf("  orchestrator %-40s holds %4lld, last seen %.1f s ago%s\n",
                  o.value("name", "").c_str(), static_cast<long long>(o.value("held", int64_t{0})),
                  static_cast<double>(o.value("idle_ms", int64_t{0})) / 1000,
                  o.value("active", false) ? "" : " (gone)");
  }
  return exit_ok;
}

} // namespace

command add_status(CLI::App& app) {
  auto opts = std::make_shared<status_options>();
  auto cmd = app.add_subcommand(
    "status", "per worker: queued, waiting, claimed, running, done, failed, "
              "rejected, cancelled tasks and the oldest waiting one (reads the folders)");
  cmd->add_option("--root", opts->root, "the node's root folder")
    ->capture_default_str();
  cmd->add_option("--config", opts->config_path,
                  "config naming the workers (default <root>/config/troupe.json)");
  cmd->add_flag("--json", opts->json_out, "machine-readable output");
  cmd->add_option("--connect", opts->connect,
                  "ask a running orchestrator (its producer endpoint, e.g. "
                  "tcp://orchestrator:5556) instead: also lists worker nodes");
  add_curve_client_options(cmd, opts->curve);
  add_queue_options(cmd, opts->queue,
                    "also show the shared queue: per worker, and which orchestrators hold what");
  return [opts] { return status_cmd(*opts); };
}

} // namespace troupe::node
