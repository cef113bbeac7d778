#include "node/web_role.hpp"

#include <algorithm>
#include <deque>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "actors/recorder.hpp"
#include "bridge/files/fs_queue.hpp"
#include "bridge/files/queue_status.hpp"
#include "bridge/web/module.hpp"
#include "core/atomic_file.hpp"
#include "core/json_codec.hpp"
#include "node/module_loader.hpp"
#include "node/run_control.hpp"

namespace troupe::node {

namespace fs = std::filesystem;

web_holder::web_holder() = default;
web_holder::~web_holder() {
  if (web)
    web->stop();
}
web_holder::web_holder(web_holder&&) noexcept = default;

void web_holder::publish(const task_event& e, const std::string& run_id) const {
  if (!web)
    return;
  // While no stream was ever opened the event is only counted: its text
  // would cost the recorder's thread for nobody.
  if (!web->watched()) {
    web->publish({}, e.kind, e.worker);
    return;
  }
  auto j = event_json(e);
  j["run_id"] = run_id;
  web->publish(j.dump(), e.kind, e.worker);
}

void web_holder::observe(const result& r) const {
  if (!web)
    return;
  task_observation t;
  t.worker = r.worker;
  t.model = r.model;
  t.status = std::string{to_string(r.state)};
  t.duration_s = static_cast<double>(r.duration_ms) / 1000.0;
  t.input_tokens = r.tokens.input_tokens;
  t.output_tokens = r.tokens.output_tokens;
  t.cache_creation_tokens = r.tokens.cache_creation_input_tokens;
  t.cache_read_tokens = r.tokens.cache_read_input_tokens;
  t.cost_usd = r.cost_usd;
  web->observe(t);
}

namespace {

// The events of one run that GET /api/runs/<id> returns, the newest: enough
// for a 10,000-task run of the file drop (five events a task).
constexpr size_t run_events_shown = 200000;

web_reply reply(int status, const json& body) { return {status, body.dump()}; }
web_reply not_found(const std::string& what) { return reply(404, {{"error", what}}); }

std::optional<json> read_json(const fs::path& p) {
  std::ifstream in{p};
  if (!in)
    return std::nullopt;
  auto j = json::parse(in, nullptr, false);
  if (j.is_discarded())
    return std::nullopt;
  return j;
}

/// A name that is one path component of ours: no '/', no leading '.'.
bool plain_name(const std::string& s) {
  return !s.empty() && s[0] != '.' && s.find('/') == std::string::npos && s.size() <= 255;
}

/// One line per run in runs/: its report's summary once it has one.
json runs_of(const std::string& root) {
  json out = json::array();
  std::error_code ec;
  for (auto& d : fs::directory_iterator(root + "/runs", ec)) {
    if (!d.is_directory(ec))
      continue;
    json r = {{"run_id", d.path().filename().string()}};
    if (auto rep = read_json(d.path() / "report.json"); rep && rep->is_object()) {
      for (auto k : {"status", "workflow", "started_at", "finished_at", "duration_ms",
                     "counts", "totals"})
        if (auto i = rep->find(k); i != rep->end())
          r[k] = *i;
    } else {
      r["status"] = "running"; // or stopped before it wrote a report
    }
    out.push_back(std::move(r));
  }
  // Newest first: run ids begin with their UTC start.
  std::sort(out.begin(), out.end(), [](const json& a, const json& b) {
    return a["run_id"].get<std::string>() > b["run_id"].get<std::string>();
  });
  return out;
}

json run_of(const fs::path& dir) {
  json out = {{"run_id", dir.filename().string()}};
  out["report"] = read_json(dir / "report.json").value_or(json{});
  out["workflow"] = read_json(dir / "workflow.json").value_or(json{});
  std::deque<json> events;
  std::ifstream in{dir / "events.jsonl"};
  for (std::string line; std::getline(in, line);) {
    auto e = json::parse(line, nullptr, false);
    if (e.is_discarded())
      continue;
    events.push_back(std::move(e));
    if (events.size() > run_events_shown)
      events.pop_front();
  }
  out["events"] = json::array();
  for (auto& e : events)
    out["events"].push_back(std::move(e));
  return out;
}

/// A task by its worker and id: its result, or where it waits.
web_reply task_of(const std::string& root, const std::set<std::string>& workers,
                  const std::string& worker, const std::string& id) {
  if (!workers.count(worker))
    return not_found("no worker \"" + worker + "\" here");
  if (!valid_task_id(id))
    return reply(400, {{"error", "\"" + id + "\" is not a task id"}});
  fs_queue q{root, {worker}, 0};
  auto dir = fs::path{q.tasks_dir(worker)};
  json out = {{"worker", worker}, {"task_id", id}};
  if (auto r = read_json(fs::path{q.results_dir(worker)} / (id + ".json"))) {
    out["state"] = string_member(*r, "status", "unknown");
    out["result"] = std::move(*r);
  } else if (auto a = read_json(dir / ".awaiting" / (id + ".json"))) {
    out["state"] = "awaiting_approval";
    out["awaiting"] = std::move(*a);
  } else if (q.is_claimed(worker, id)) {
    out["state"] = "running";
  } else if (fs::exists(dir / (id + ".json"))) {
    out["state"] = "waiting";
  } else {
    return not_found("no task " + worker + "/" + id + " here");
  }
  if (auto t = read_json(dir / (id + ".json")))
    out["task"] = std::move(*t);
  else if (auto c = read_json(dir / ".claimed" / (id + ".json")))
    out["task"] = std::move(*c);
  return reply(200, out);
}

/// The actions, by the same markers as `caf-node cancel|approve|reject|unpark`.
web_reply act(const std::string& root, const std::set<std::string>& workers,
              const std::string& action, const std::string& scope, const std::string& name,
              const std::string& worker, const std::string& why) {
  if (scope == "run") {
    auto dir = fs::path{root} / "runs" / name;
    if (!plain_name(name) || !fs::is_directory(dir))
      return not_found("no run " + name);
    if (fs::exists(dir / "report.json"))
      return reply(409, {{"error", "run " + name + " has finished"}});
    if (auto err = write_file_atomic((dir / run_cancel_marker).string(), ""); !err.empty())
      return reply(500, {{"error", err}});
    return reply(202, {{"asked", "cancel"}, {"run_id", name}});
  }
  if (!workers.count(worker))
    return not_found("no worker \"" + worker + "\" here");
  fs_queue q{root, {worker}, 0};
  if (scope == "worker") {
    if (q.parked(worker).empty())
      return reply(409, {{"error", worker + " is not parked"}});
    std::error_code ec;
    if (!fs::remove(fs::path{q.tasks_dir(worker)} / parked_marker, ec) && ec)
      return reply(500, {{"error", ec.message()}});
    return reply(202, {{"asked", "unpark"}, {"worker", worker}});
  }
  if (!valid_task_id(name))
    return reply(400, {{"error", "\"" + name + "\" is not a task id"}});
  auto dir = fs::path{q.tasks_dir(worker)};
  std::string err;
  if (action == "cancel") {
    if (!fs::exists(dir / (name + ".json")) && !q.is_claimed(worker, name))
      return reply(409, {{"error", worker + "/" + name + " is neither waiting nor running"}});
    err = q.ask_cancel(worker, name);
  } else {
    if (!fs::exists(dir / ".awaiting" / (name + ".json")))
      return reply(409, {{"error", worker + "/" + name + " does not await approval"}});
    err = q.ask_approval(worker, name, action == "approve", why);
  }
  if (!err.empty())
    return reply(500, {{"error", err}});
  return reply(202, {{"asked", action}, {"worker", worker}, {"task_id", name}});
}

} // namespace

std::optional<std::string> start_web(const web_options& opts, const std::string& root,
                                     const std::set<std::string>& workers,
                                     double spend_per_day_usd, web_holder& holder) {
  if (opts.listen.empty())
    return std::string{};
  std::string err;
  auto at = parse_listen_address(opts.listen, err);
  if (!at) {
    std::fprintf(stderr, "error: --http %s\n", err.c_str());
    return std::nullopt;
  }
  web_settings s;
  s.at = *at;
  if (!opts.token_file.empty()) {
    s.token = read_token_file(opts.token_file, err);
    if (s.token.empty()) {
      std::fprintf(stderr, "error: --http-token-file: %s\n", err.c_str());
      return std::nullopt;
    }
  } else if (!is_loopback_host(at->host)) {
    std::fprintf(stderr,
                 "error: --http %s is reachable beyond this machine: give "
                 "--http-token-file FILE (its first line is the bearer token)\n",
                 opts.listen.c_str());
    return std::nullopt;
  }
  web_hooks h;
  h.status = [root, workers, spend_per_day_usd] {
    return reply(200, queue_status(root, workers, spend_per_day_usd));
  };
  h.runs = [root] { return reply(200, json{{"runs", runs_of(root)}}); };
  h.run = [root](const std::string& id) {
    auto dir = fs::path{root} / "runs" / id;
    if (!plain_name(id) || !fs::is_directory(dir))
      return not_found("no run " + id);
    return reply(200, run_of(dir));
  };
  h.timeline = [root](const std::string& id) {
    auto file = fs::path{root} / "runs" / id / "timeline.svg";
    std::ifstream in{file};
    if (!plain_name(id) || !in)
      return not_found("no timeline for run " + id + " (it has no report yet)");
    std::string svg{std::istreambuf_iterator<char>{in}, {}};
    return web_reply{200, std::move(svg), "image/svg+xml"};
  };
  h.task = [root, workers](const std::string& w, const std::string& id) {
    return task_of(root, workers, w, id);
  };
  h.act = [root, workers](const std::string& action, const std::string& scope,
                          const std::string& name, const std::string& w, const std::string& why) {
    auto r = act(root, workers, action, scope, name, w, why);
    spdlog::info("http: {} {} {}: {}", action, scope, name, r.status);
    return r;
  };
  std::string why;
  auto make = reinterpret_cast<web_make_fn>(load_module_entry(web_module_name, web_module_entry, why));
  if (!make) {
    std::fprintf(stderr, "error: cannot start --http: %s\n", why.c_str());
    return std::nullopt;
  }
  holder.web.reset(make(s, h));
  if (!holder.web->start(err)) {
    std::fprintf(stderr, "error: --http: %s\n", err.c_str());
    holder.web.reset();
    return std::nullopt;
  }
  auto url = holder.web->url();
  spdlog::info("http on {}{}", url, s.token.empty() ? "" : " (bearer token required)");
  return url;
}

} // namespace troupe::node
