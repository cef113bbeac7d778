#include "core/config.hpp"

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/agents.hpp"
#include "core/json_reader.hpp"
#include "core/permissions.hpp"

namespace troupe {

namespace fs = std::filesystem;

namespace {

const std::set<std::string> executor_kinds{"claude", "command", "sim"};

void read_executor_kind(json_reader& r, std::string& dst) {
  if (auto v = r.get("executor")) {
    if (v->is_string() && executor_kinds.count(v->get<std::string>()))
      dst = v->get<std::string>();
    else
      r.fail("executor", *v, "must be one of claude, command, sim");
  }
}

void read_limits(json_reader& parent, const std::string& key,
                 rate_limits& dst, double* cooldown_s = nullptr,
                 double* spend_wait_s = nullptr,
                 double* spend_per_day_usd = nullptr) {
  if (auto v = parent.get(key)) {
    json_reader r(*v, parent.at(key), parent.out());
    if (cooldown_s) // global only
      r.number("cooldown_s", *cooldown_s, 0, false);
    if (spend_wait_s)
      r.number("spend_wait_s", *spend_wait_s, 0, false);
    if (spend_per_day_usd)
      r.number("spend_per_day_usd", *spend_per_day_usd, 0, false);
    r.number("requests_per_min", dst.requests_per_min, 0, false);
    r.number("input_tokens_per_min", dst.input_tokens_per_min, 0, false);
    r.number("output_tokens_per_min", dst.output_tokens_per_min, 0, false);
  }
}

std::string resolve(const std::string& base_dir, const std::string& p) {
  if (p.empty() || fs::path{p}.is_absolute())
    return p;
  return (fs::path{base_dir} / p).lexically_normal().string();
}

/// A list whose every entry `check` accepts (it returns why not).
void checked_strings(json_reader& r, const std::string& key,
                     std::vector<std::string>& dst,
                     std::string (*check)(const std::string&)) {
  r.strings(key, dst);
  if (!check)
    return;
  for (auto& x : dst)
    if (auto why = check(x); !why.empty())
      r.fail(key, x, why);
}

void read_permissions(json_reader& r, worker_config& w) {
  if (auto v = r.get("permission_mode")) {
    auto why = v->is_string() ? check_permission_mode(v->get<std::string>())
                              : std::string{"must be a string"};
    if (why.empty())
      w.permission_mode = v->get<std::string>();
    else
      r.fail("permission_mode", *v, why);
  }
  checked_strings(r, "allowed_tools", w.allowed_tools, &check_allowed_rule);
  checked_strings(r, "disallowed_tools", w.disallowed_tools, nullptr);
  checked_strings(r, "add_dirs", w.add_dirs, &check_add_dir);
  if (auto v = r.get("on_denial")) {
    if (v->is_string()
        && (*v == on_denial_fail || *v == on_denial_report))
      w.on_denial = v->get<std::string>();
    else
      r.fail("on_denial", *v, "must be fail or report");
  }
}

bool valid_worker_name(const std::string& n) {
  // A worker name becomes a folder name: same rule as task ids.
  return valid_task_id(n) && n.size() <= 64;
}

} // namespace

worker_config orchestrator_config::as_worker() const {
  worker_config w;
  w.name = "orchestrator";
  w.prompt_path = prompt_path;
  w.role = "plans requests and writes the answer from the results";
  w.model = model;
  w.slots = 1;
  w.executor = executor;
  w.deadline_s = deadline_s;
  w.max_turns = max_turns;
  w.max_attempts = 1;
  w.api_key_env = api_key_env;
  w.tools = {""}; // "--tools=": none; it only reads and writes text
  w.permission_mode = "dontAsk"; // and nothing it could ask for
  return w;
}

const worker_config* config::find_worker(const std::string& name) const {
  for (auto& w : workers)
    if (w.name == name)
      return &w;
  return nullptr;
}

std::set<std::string> config::worker_names() const {
  std::set<std::string> xs;
  for (auto& w : workers)
    xs.insert(w.name);
  return xs;
}

std::optional<config> config_from_json(const json& j,
                                       const std::string& base_dir,
                                       problems& out) {
  auto before = out.size();
  config cfg;
  {
    json_reader top(j, "", out);
    if (auto ws = top.get("workers")) {
      if (!ws->is_object() || ws->empty()) {
        top.fail("workers", *ws, "must be an object with at least one worker");
      } else {
        for (auto& [name, wj] : ws->items()) {
          worker_config w;
          w.name = name;
          if (!valid_worker_name(name))
            out.push_back("workers." + name
                          + ": worker name must match "
                            "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");
          else if (name == "orchestrator")
            out.push_back("workers.orchestrator: the name is reserved for the "
                          "planner (configure it under \"orchestrator\")");
          json_reader r(wj, "workers." + name, out);
          std::string prompt;
          r.str("prompt", prompt);
          if (prompt.empty() && wj.is_object() && !wj.contains("prompt"))
            out.push_back(r.at("prompt") + ": required");
          w.prompt_path = resolve(base_dir, prompt);
          r.str("role", w.role, true);
          r.strings("keywords", w.keywords);
          r.str("model", w.model);
          r.integer("slots", w.slots, 1, 256);
          read_executor_kind(r, w.executor);
          r.number("deadline_s", w.deadline_s, 0, true);
          r.integer("max_turns", w.max_turns, 1, 1000);
          r.integer("max_attempts", w.max_attempts, 1, 100);
          if (wj.is_object() && wj.contains("max_budget_usd")) {
            double b = 0;
            r.number("max_budget_usd", b, 0, true);
            w.max_budget_usd = b;
          }
          r.str("api_key_env", w.api_key_env);
          r.strings("tools", w.tools);
          read_permissions(r, w);
          std::string agents;
          r.str("agents", agents);
          w.agents_dir = resolve(base_dir, agents);
          read_limits(r, "limits", w.limits);
          r.boolean("approve", w.approve);
          cfg.workers.push_back(std::move(w));
        }
      }
    } else {
      out.push_back("workers: required");
    }
    if (auto oj = top.get("orchestrator")) {
      json_reader r(*oj, "orchestrator", out);
      std::string prompt;
      r.str("prompt", prompt);
      cfg.orchestrator.prompt_path = resolve(base_dir, prompt);
      r.str("model", cfg.orchestrator.model);
      read_executor_kind(r, cfg.orchestrator.executor);
      r.number("deadline_s", cfg.orchestrator.deadline_s, 0, true);
      r.integer("max_tasks", cfg.orchestrator.max_tasks, 1, 10000);
      r.integer("max_depth", cfg.orchestrator.max_depth, 1, 1000);
      r.integer("retry_base_ms", cfg.orchestrator.retry_base_ms, 0, 3600000);
      r.integer("retry_max_ms", cfg.orchestrator.retry_max_ms, 0, 3600000);
      r.integer("max_turns", cfg.orchestrator.max_turns, 1, 1000);
      r.integer("plan_attempts", cfg.orchestrator.plan_attempts, 1, 10);
      r.str("api_key_env", cfg.orchestrator.api_key_env);
    }
    read_limits(top, "limits", cfg.limits, &cfg.cooldown_s, &cfg.spend_wait_s,
              &cfg.spend_per_day_usd);
    if (auto ej = top.get("events")) {
      json_reader r(*ej, "events", out);
      r.integer("max_mb", cfg.events_max_mb, 1, 1 << 20);
      r.integer("keep", cfg.events_keep, 0, 100);
    }
    if (auto hj = top.get("handoff")) {
      json_reader r(*hj, "handoff", out);
      // Far below the 64 MiB a peer accepts in one message, base64 and all.
      r.integer("max_kb", cfg.handoff_max_kb, 0, 16384);
    }
    if (auto gj = top.get("gateway")) {
      json_reader r(*gj, "gateway", out);
      r.boolean("enabled", cfg.gateway.enabled);
      r.str("host", cfg.gateway.host);
      r.integer("port", cfg.gateway.port, 0, 65535);
      r.str("upstream", cfg.gateway.upstream, true);
      if (auto& u = cfg.gateway.upstream; !u.empty()
          && u.rfind("http://", 0) != 0 && u.rfind("https://", 0) != 0)
        r.fail("upstream", u, "must start with http:// or https://");
      r.str("ca_file", cfg.gateway.ca_file, true);
      r.integer("threads", cfg.gateway.threads, 1, 1024);
      r.number("window_wait_s", cfg.gateway.window_wait_s, 0, false);
    }
    if (auto pj = top.get("prices")) {
      if (!pj->is_object())
        out.push_back("prices: must be an object of model names and prices");
      else
        for (auto& [name, v] : pj->items()) {
          json_reader r(v, "prices." + name, out);
          model_price p;
          p.input = p.output = -1;
          if (r.require("input"))
            r.number("input", p.input, 0, false);
          if (r.require("output"))
            r.number("output", p.output, 0, false);
          auto derived = price_from_input(std::max(0.0, p.input), p.output);
          p.cache_write = derived.cache_write;
          p.cache_read = derived.cache_read;
          r.number("cache_write", p.cache_write, 0, false);
          r.number("cache_read", p.cache_read, 0, false);
          if (name.empty())
            out.push_back("prices: a model name must not be empty");
          cfg.prices.emplace_back(name, p);
        }
      // The longest name first: it is the most specific.
      std::stable_sort(cfg.prices.begin(), cfg.prices.end(), [](auto& a, auto& b) {
        return a.first.size() > b.first.size();
      });
    }
    if (auto ej = top.get("executors")) {
      json_reader e(*ej, "executors", out);
      if (auto cj = e.get("claude")) {
        json_reader r(*cj, "executors.claude", out);
        r.str("bin", cfg.claude.bin);
        r.integer("max_retries", cfg.claude.max_retries, 0, 10);
        if (auto v = r.get("output_format")) {
          if (v->is_string()
              && (*v == "json" || *v == "stream-json"))
            cfg.claude.output_format = v->get<std::string>();
          else
            r.fail("output_format", *v, "must be json or stream-json");
        }
        r.number("stall_s", cfg.claude.stall_s, 0, false);
        r.integer("max_output_bytes", cfg.claude.max_output_bytes, 1024,
                  int64_t{1} << 32);
        r.integer("kill_grace_ms", cfg.claude.kill_grace_ms, 0, 60000);
        r.strings("pass_env", cfg.claude.pass_env);
        r.integer("overhead_tokens", cfg.claude.overhead_tokens, 0, 1000000);
      }
      if (auto cj = e.get("command")) {
        json_reader r(*cj, "executors.command", out);
        r.strings("argv", cfg.command.argv);
        r.integer("max_output_bytes", cfg.command.max_output_bytes, 1024,
                  int64_t{1} << 32);
        r.integer("kill_grace_ms", cfg.command.kill_grace_ms, 0, 60000);
      }
      if (auto sj = e.get("sim")) {
        json_reader r(*sj, "executors.sim", out);
        r.integer("latency_ms", cfg.sim.latency_ms, 0, 3600000);
        r.integer("input_tokens", cfg.sim.input_tokens, 0, 10000000);
        r.integer("output_tokens", cfg.sim.output_tokens, 0, 10000000);
        r.number("usd_per_mtok_in", cfg.sim.usd_per_mtok_in, 0, false);
        r.number("usd_per_mtok_out", cfg.sim.usd_per_mtok_out, 0, false);
      }
    }
  } // readers report unknown keys when they go out of scope
  if (out.size() != before)
    return std::nullopt;
  return cfg;
}

std::optional<config> load_config(const std::string& path, problems& out) {
  auto text = read_text_file(path, out);
  if (!text)
    return std::nullopt;
  problems local;
  auto j = parse_json_text(*text, local);
  if (!j) {
    for (auto& p : local)
      out.push_back(path + ": " + p);
    return std::nullopt;
  }
  auto base = fs::absolute(fs::path{path}).parent_path().string();
  auto cfg = config_from_json(*j, base, out);
  if (cfg)
    cfg->source = path;
  return cfg;
}

bool check_config_files(const config& cfg, problems& out) {
  auto before = out.size();
  for (auto& w : cfg.workers)
    if (!w.prompt_path.empty() && !fs::is_regular_file(w.prompt_path))
      out.push_back("workers." + w.name + ".prompt: file not found: "
                    + w.prompt_path);
  for (auto& w : cfg.workers)
    if (!w.agents_dir.empty()) {
      problems ps;
      load_agents(w.agents_dir, ps);
      for (auto& p : ps)
        out.push_back("workers." + w.name + ".agents: " + p);
    }
  auto& o = cfg.orchestrator;
  if (!o.prompt_path.empty() && !fs::is_regular_file(o.prompt_path))
    out.push_back("orchestrator.prompt: file not found: " + o.prompt_path);
  return out.size() == before;
}

} // namespace troupe
