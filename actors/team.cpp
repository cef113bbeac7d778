#include "actors/team.hpp"

#include <filesystem>

#include "actors/orchestrator.hpp"
#include "actors/rate_limiter.hpp"
#include "actors/worker.hpp"
#include "caf/all.hpp"
#include "core/executor.hpp"

namespace troupe {

void configure_actor_system(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::troupe>();
  cfg.set("scheduler.policy", caf::atom("sharing"));
}

void stop_team(team& t) {
  auto reason = caf::exit_reason::user_shutdown;
  caf::anon_send_exit(t.orchestrator, reason);
  for (auto& [name, w] : t.workers)
    caf::anon_send_exit(w, reason);
  if (t.planner)
    caf::anon_send_exit(t.planner, reason);
  caf::anon_send_exit(t.limiter, reason);
  if (t.recorder)
    caf::anon_send_exit(t.recorder, reason);
}

void stop_starting(team& t) {
  caf::anon_send(t.orchestrator, stop_atom_v);
  for (auto& [name, w] : t.workers)
    caf::anon_send(w, stop_atom_v);
  if (t.planner)
    caf::anon_send(t.planner, stop_atom_v);
}

worker_actor spawn_worker(caf::actor_system& sys, const config& cfg,
                          const worker_config& w, executor_ptr exec,
                          rate_limiter_actor limiter, recorder_actor recorder) {
  worker_settings ws;
  ws.name = w.name;
  ws.model = w.model;
  ws.slots = w.slots;
  // Permits meter calls to the Anthropic API: only the claude executor
  // makes them (the simulator and other CLIs do not spend this account).
  // Even with no limit configured they are asked for: a 429 must still
  // hold every worker for its retry-after.
  // With a gateway, it holds each of the run's requests instead.
  ws.needs_permits = exec->kind() == "claude" && cfg.claude.gateway_url.empty();
  ws.gated = exec->kind() == "claude" && !cfg.claude.gateway_url.empty();
  ws.spend_wait_ms = static_cast<int64_t>(cfg.spend_wait_s * 1000);
  std::error_code ec;
  auto size = std::filesystem::file_size(w.prompt_path, ec);
  ws.system_prompt_tokens = ec ? 0 : static_cast<double>(size) / 4.0;
  if (exec->kind() == "claude")
    ws.system_prompt_tokens += static_cast<double>(cfg.claude.overhead_tokens);
  return sys.spawn(worker, ws, std::move(exec), std::move(limiter),
                   std::move(recorder));
}

std::optional<team> spawn_team(caf::actor_system& sys, const config& file_cfg,
                               const team_options& opts, problems& out) {
  team t;
  std::map<std::string, rate_limits> per_worker;
  for (auto& w : file_cfg.workers)
    per_worker[w.name] = w.limits;
  day_cap_settings cap;
  if (opts.record) // where results are kept, so is the day's spend
    cap.root = std::filesystem::absolute(opts.root).lexically_normal().string();
  cap.usd_per_day = file_cfg.spend_per_day_usd;
  auto cooldown = caf::timespan{
    std::chrono::milliseconds(static_cast<int64_t>(file_cfg.cooldown_s * 1000))};
  // A shared store waits on Redis: off the scheduler's threads.
  t.limiter = opts.meters ? sys.spawn<caf::detached>(rate_limiter, file_cfg.limits, per_worker,
                                                     cooldown, cap, opts.meters)
                          : sys.spawn(rate_limiter, file_cfg.limits, per_worker, cooldown,
                                      std::move(cap), opts.meters);
  if (opts.record) {
    auto rs = opts.recording;
    rs.log_max_bytes = file_cfg.events_max_mb << 20;
    rs.log_keep = file_cfg.events_keep;
    if (rs.root.empty())
      rs.root = std::filesystem::absolute(opts.root).lexically_normal().string();
    t.recorder = sys.spawn<caf::detached>(recorder, std::move(rs));
  }
  auto abandon = [&] {
    caf::anon_send_exit(t.limiter, caf::exit_reason::user_shutdown);
    if (t.recorder)
      caf::anon_send_exit(t.recorder, caf::exit_reason::user_shutdown);
  };
  auto cfg = file_cfg;
  // Only the claude executor calls the API; the planner uses the gateway
  // too when the workers are remote.
  auto kind_of = [&](const worker_config& w) {
    return opts.executor.empty() ? w.executor : opts.executor;
  };
  bool calls_api = opts.planner && kind_of(cfg.orchestrator.as_worker()) == "claude";
  for (auto& w : cfg.workers)
    calls_api = calls_api || (!opts.remote_worker && kind_of(w) == "claude");
  if (opts.gateway && calls_api) {
    auto url = opts.gateway(t.limiter, t.recorder, out);
    if (!url) {
      abandon();
      return std::nullopt;
    }
    cfg.claude.gateway_url = *url;
  }
  std::vector<std::pair<worker_config, executor_ptr>> execs;
  for (auto& w : cfg.workers) {
    if (opts.remote_worker) {
      execs.emplace_back(w, nullptr);
      continue;
    }
    auto e = make_executor(opts.executor, cfg, w, opts.root, out);
    if (!e) {
      abandon();
      return std::nullopt;
    }
    execs.emplace_back(w, std::move(e));
  }
  orchestrator_settings os;
  os.make_run_id = opts.make_run_id;
  os.least_cost = opts.least_cost;
  os.describe_estimate = opts.describe_estimate;
  os.trace_context = opts.trace_context;
  for (auto& w : cfg.workers)
    if (w.approve)
      os.approve_workers.insert(w.name);
  os.flush_before_reply = opts.recording.write_results;
  os.backoff = {cfg.orchestrator.retry_base_ms, cfg.orchestrator.retry_max_ms};
  for (auto& [w, e] : execs) {
    t.workers[w.name] = e ? spawn_worker(sys, cfg, w, e, t.limiter, t.recorder)
                          : opts.remote_worker(w);
    os.max_attempts[w.name] = w.max_attempts;
  }
  t.orchestrator = sys.spawn(orchestrator, os, t.workers, t.recorder);
  if (opts.planner) {
    auto ow = cfg.orchestrator.as_worker();
    auto kind = opts.executor.empty() ? ow.executor : opts.executor;
    if (kind != "sim") {
      if (ow.prompt_path.empty()) {
        out.push_back("orchestrator.prompt: required to plan and synthesise "
                      "with the " + kind + " executor");
        stop_team(t);
        return std::nullopt;
      }
      auto e = make_executor(kind, cfg, ow, opts.root, out);
      if (!e) {
        stop_team(t);
        return std::nullopt;
      }
      // Its events would name no run: the node logs planning itself.
      t.planner = spawn_worker(sys, cfg, ow, e, t.limiter, recorder_actor{});
    }
  }
  return t;
}

} // namespace troupe
