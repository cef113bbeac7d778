#include "core/estimate.hpp"
#include "core/text.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <queue>

#include "core/pricing.hpp"

namespace troupe {

namespace {

// A worker without a history: what a run of the CLI does, as a range.
// Turns are API requests; the low end is one request on a warm cache.
constexpr double prior_turns_expected = 2, prior_turns_high = 8;
constexpr double prior_output_low = 50, prior_output_expected = 600,
                 prior_output_high = 4000;
// Each turn resends the conversation so far: later ones carry more.
constexpr double prior_context_growth = 1.5;
constexpr double prior_seconds_low = 5, prior_seconds_expected = 30,
                 prior_seconds_high = 180;
// The most recent results of a worker that count.
constexpr size_t history_depth = 50;

double quantile(std::vector<double> xs, double q) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  auto pos = q * static_cast<double>(xs.size() - 1);
  auto lo = static_cast<size_t>(std::floor(pos));
  auto hi = std::min(lo + 1, xs.size() - 1);
  return xs[lo] + (xs[hi] - xs[lo]) * (pos - static_cast<double>(lo));
}

/// From samples: the 10th percentile, the median and the 90th, widened by
/// 1 + 1/sqrt(n), so that a history of one run says "from half to twice".
spread from_samples(const std::vector<double>& xs) {
  auto widen = 1.0 + 1.0 / std::sqrt(static_cast<double>(xs.size()));
  return {quantile(xs, 0.1) / widen, quantile(xs, 0.5), quantile(xs, 0.9) * widen};
}

spread exactly(double x) { return {x, x, x}; }

spread capped(spread s, double cap) {
  return {std::min(s.low, cap), std::min(s.expected, cap), std::min(s.high, cap)};
}


std::string seconds_text(double s) {
  char b[48];
  if (s < 90)
    std::snprintf(b, sizeof(b), "%.0f s", s);
  else if (s < 5400)
    std::snprintf(b, sizeof(b), "%.0f min %02.0f s", std::floor(s / 60),
                  std::fmod(s, 60));
  else
    std::snprintf(b, sizeof(b), "%.1f h", s / 3600);
  return b;
}

std::string tokens_text(double n) {
  char b[32];
  if (n >= 10000)
    std::snprintf(b, sizeof(b), "%.0fk", n / 1000);
  else
    std::snprintf(b, sizeof(b), "%.0f", n);
  return b;
}

json spread_json(const spread& s) {
  return {{"low", s.low}, {"expected", s.expected}, {"high", s.high}};
}

/// Wall time of the tasks on their workers' slots: each starts when its
/// dependencies are done and a slot of its worker is free; tasks are taken
/// in the order they become ready, as the orchestrator releases them.
double makespan(const workflow& wf, const config& cfg,
                const std::vector<double>& seconds) {
  std::map<std::string, std::vector<double>> free_at; // per worker, per slot
  for (auto& t : wf.tasks) {
    auto w = cfg.find_worker(t.worker);
    free_at[t.worker].resize(static_cast<size_t>(w ? w->slots : 1), 0.0);
  }
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < wf.tasks.size(); ++i)
    index[wf.tasks[i].task_id] = i;
  // Dependencies inside the workflow (one outside was met by its caller).
  std::vector<size_t> unmet(wf.tasks.size(), 0);
  std::vector<std::vector<size_t>> dependents(wf.tasks.size());
  std::vector<double> ready(wf.tasks.size(), 0);
  for (size_t i = 0; i < wf.tasks.size(); ++i)
    for (auto& d : wf.tasks[i].dependencies)
      if (auto j = index.find(d); j != index.end()) {
        ++unmet[i];
        dependents[j->second].push_back(i);
      }
  using entry = std::pair<double, size_t>; // ready at, task
  std::priority_queue<entry, std::vector<entry>, std::greater<>> queue;
  for (size_t i = 0; i < wf.tasks.size(); ++i)
    if (unmet[i] == 0)
      queue.push({0.0, i});
  double end = 0;
  while (!queue.empty()) {
    auto [at, i] = queue.top();
    queue.pop();
    auto& slots = free_at[wf.tasks[i].worker];
    auto slot = std::min_element(slots.begin(), slots.end());
    auto done = *slot = std::max(at, *slot) + seconds[i];
    end = std::max(end, done);
    for (auto j : dependents[i]) {
      ready[j] = std::max(ready[j], done);
      if (--unmet[j] == 0)
        queue.push({ready[j], j});
    }
  }
  return end;
}

/// The least time the limits let `tokens` through in (per minute ceilings).
double limit_floor_s(double tokens, double per_min) {
  return per_min > 0 ? tokens / per_min * 60.0 : 0.0;
}

} // namespace

bool spread::contains(double x) const {
  // A cent's ten-thousandth either way: printed figures round.
  return x + 1e-6 >= low && x - 1e-6 <= high;
}

spread& spread::operator+=(const spread& o) {
  low += o.low;
  expected += o.expected;
  high += o.high;
  return *this;
}

double worker_prompt_tokens(const config& cfg, const worker_config& w) {
  std::error_code ec;
  auto size = std::filesystem::file_size(w.prompt_path, ec);
  auto tokens = ec ? 0.0 : static_cast<double>(size) / 4.0;
  if (w.executor == "claude")
    tokens += static_cast<double>(cfg.claude.overhead_tokens);
  return tokens;
}

task_estimate estimate_task(const task& t, const config& cfg,
                            const worker_config& w, const run_history& history,
                            const std::string& executor_kind) {
  task_estimate e;
  e.task_id = t.task_id;
  e.worker = t.worker;
  e.model = t.model ? *t.model : w.model;
  auto kind = executor_kind.empty() ? w.executor : executor_kind;
  auto deadline = t.timeout_s ? *t.timeout_s : w.deadline_s;
  auto cap = t.budget_usd ? t.budget_usd : w.max_budget_usd;
  if (kind == "sim") {
    // The simulator's figures are its config's: exact.
    auto& s = cfg.sim;
    auto in = static_cast<double>(s.input_tokens + static_cast<int64_t>(t.description.size() / 4));
    auto out = static_cast<double>(s.output_tokens);
    e.basis = "simulator";
    e.input_tokens = exactly(in);
    e.output_tokens = exactly(out);
    e.cost_usd = exactly((in * s.usd_per_mtok_in + out * s.usd_per_mtok_out) / 1e6);
    e.duration_s = exactly(s.latency_ms / 1000.0);
  } else {
    std::vector<double> cost, warm, in, out, secs;
    if (auto h = history.find(w.name); h != history.end()) {
      auto from = h->second.size() > history_depth ? h->second.size() - history_depth : 0;
      for (size_t i = from; i < h->second.size(); ++i) {
        auto& p = h->second[i];
        cost.push_back(p.cost_usd);
        warm.push_back(p.warm_cost_usd > 0 ? p.warm_cost_usd : p.cost_usd);
        in.push_back(p.input_tokens);
        out.push_back(p.output_tokens);
        secs.push_back(p.duration_ms / 1000.0);
      }
    }
    if (!secs.empty())
      e.duration_s = from_samples(secs);
    else
      e.duration_s = {prior_seconds_low, prior_seconds_expected, prior_seconds_high};
    e.calls_api = kind == "claude";
    if (!e.calls_api) {
      e.basis = "no API calls";
    } else if (!cost.empty()) {
      e.basis = "history (" + std::to_string(cost.size())
                + (cost.size() == 1 ? " run)" : " runs)");
      e.cost_usd = from_samples(cost);
      // The runs seen may have written the prompt cache that the next one
      // reads: the low end is theirs as if the cache were warm.
      e.cost_usd.low = std::min(e.cost_usd.low, from_samples(warm).low);
      e.input_tokens = from_samples(in);
      e.output_tokens = from_samples(out);
    } else {
      e.basis = "list price";
      auto p = price_of(e.model, cfg.prices);
      auto bytes = t.description.size() + (t.context.empty() ? 0 : t.context.dump().size());
      auto sent = worker_prompt_tokens(cfg, w) + static_cast<double>(bytes) / 4.0;
      auto high_turns = std::min<double>(prior_turns_high, std::max(1, w.max_turns));
      // Metered input, as the limits count it: on a warm cache only the
      // task is new; a cold one writes the whole prefix once; without a
      // cache every turn sends it all again.
      auto task_part = static_cast<double>(bytes) / 4.0;
      e.input_tokens = {task_part, sent + prior_output_expected,
                        sent * high_turns * prior_context_growth};
      e.output_tokens = {prior_output_low, prior_output_expected, prior_output_high};
      auto per_m = [](double tokens, double rate) { return tokens * rate / 1e6; };
      e.cost_usd = {
        per_m(sent, p.cache_read) + per_m(prior_output_low, p.output),
        per_m(sent, p.cache_write)
          + per_m(sent * (prior_turns_expected - 1), p.cache_read)
          + per_m(prior_output_expected, p.output),
        per_m(sent * high_turns * prior_context_growth, p.input)
          + per_m(prior_output_high, p.output)};
    }
  }
  if (cap)
    e.cost_usd = capped(e.cost_usd, *cap);
  e.duration_s = capped(e.duration_s, deadline);
  return e;
}

plan_estimate estimate_plan(const workflow& wf, const config& cfg,
                            const run_history& history,
                            const std::vector<std::string>& reused,
                            const std::string& executor_kind) {
  plan_estimate p;
  std::vector<double> lo, mid, hi;
  std::map<std::string, double> tokens_by_worker;
  spread api_in, api_out; // of the tasks that call the API
  for (auto& t : wf.tasks) {
    task_estimate e;
    auto w = cfg.find_worker(t.worker);
    if (std::find(reused.begin(), reused.end(), t.task_id) != reused.end() || !w) {
      e.task_id = t.task_id;
      e.worker = t.worker;
      e.basis = w ? "reused" : "no such worker";
    } else {
      e = estimate_task(t, cfg, *w, history, executor_kind);
    }
    p.input_tokens += e.input_tokens;
    p.output_tokens += e.output_tokens;
    p.cost_usd += e.cost_usd;
    if (e.calls_api) {
      tokens_by_worker[t.worker] += e.input_tokens.expected;
      api_in += e.input_tokens;
      api_out += e.output_tokens;
    }
    lo.push_back(e.duration_s.low);
    mid.push_back(e.duration_s.expected);
    hi.push_back(e.duration_s.high);
    p.tasks.push_back(std::move(e));
  }
  p.duration_s = {makespan(wf, cfg, lo), makespan(wf, cfg, mid), makespan(wf, cfg, hi)};
  p.paced_by = "slots";
  // The limits let so many tokens through a minute, whatever the slots.
  auto floor_s = std::max(limit_floor_s(api_in.expected, cfg.limits.input_tokens_per_min),
                          limit_floor_s(api_out.expected, cfg.limits.output_tokens_per_min));
  for (auto& [name, tokens] : tokens_by_worker)
    if (auto w = cfg.find_worker(name))
      floor_s = std::max(floor_s, limit_floor_s(tokens, w->limits.input_tokens_per_min));
  if (floor_s > p.duration_s.expected) {
    p.paced_by = "rate limits";
    p.duration_s.expected = floor_s;
    p.duration_s.high = std::max(p.duration_s.high, floor_s);
  }
  return p;
}

std::string budget_verdict(const plan_estimate& e, double budget) {
  if (e.cost_usd.high <= budget)
    return "fits: even the high estimate, " + usd_text(e.cost_usd.high)
           + ", is within the budget of " + usd_text(budget);
  if (e.cost_usd.expected <= budget)
    return "may not fit: the expected " + usd_text(e.cost_usd.expected)
           + " is within the budget of " + usd_text(budget) + ", the high estimate, "
           + usd_text(e.cost_usd.high) + ", is not; tasks that no longer fit end "
             "cancelled (budget)";
  return "does not fit: the expected " + usd_text(e.cost_usd.expected)
         + " is above the budget of " + usd_text(budget)
         + "; tasks that no longer fit end cancelled (budget)";
}

json to_json(const plan_estimate& e) {
  json tasks = json::array();
  for (auto& t : e.tasks)
    tasks.push_back({{"task_id", t.task_id},
                     {"worker", t.worker},
                     {"model", t.model},
                     {"basis", t.basis},
                     {"input_tokens", spread_json(t.input_tokens)},
                     {"output_tokens", spread_json(t.output_tokens)},
                     {"cost_usd", spread_json(t.cost_usd)},
                     {"duration_s", spread_json(t.duration_s)}});
  return {{"tasks", tasks},
          {"input_tokens", spread_json(e.input_tokens)},
          {"output_tokens", spread_json(e.output_tokens)},
          {"cost_usd", spread_json(e.cost_usd)},
          {"duration_s", spread_json(e.duration_s)},
          {"paced_by", e.paced_by}};
}

std::string estimate_text(const plan_estimate& e, std::optional<double> budget) {
  size_t wid = 4, wwk = 6, wbasis = 5;
  for (auto& t : e.tasks) {
    wid = std::max(wid, t.task_id.size());
    wwk = std::max(wwk, t.worker.size());
    wbasis = std::max(wbasis, t.basis.size());
  }
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-*s  %-*s  %-*s  %-28s  %-16s  %s\n",
                static_cast<int>(wid), "task", static_cast<int>(wwk), "worker",
                static_cast<int>(wbasis), "basis", "cost low / expected / high",
                "tokens in / out", "duration");
  out += line;
  for (auto& t : e.tasks) {
    auto cost = usd_text(t.cost_usd.low) + " / " + usd_text(t.cost_usd.expected) + " / "
                + usd_text(t.cost_usd.high);
    auto tokens = tokens_text(t.input_tokens.expected) + " / "
                  + tokens_text(t.output_tokens.expected);
    std::snprintf(line, sizeof line, "%-*s  %-*s  %-*s  %-28s  %-16s  %s\n",
                  static_cast<int>(wid), t.task_id.c_str(), static_cast<int>(wwk),
                  t.worker.c_str(), static_cast<int>(wbasis), t.basis.c_str(),
                  cost.c_str(), tokens.c_str(), seconds_text(t.duration_s.expected).c_str());
    out += line;
  }
  out += "\ntotal: " + usd_text(e.cost_usd.low) + " / " + usd_text(e.cost_usd.expected) + " / "
         + usd_text(e.cost_usd.high) + " (low / expected / high), "
         + tokens_text(e.input_tokens.expected) + " tokens in, "
         + tokens_text(e.output_tokens.expected) + " out expected\n";
  out += "duration: " + seconds_text(e.duration_s.expected) + " expected (from "
         + seconds_text(e.duration_s.low) + " to " + seconds_text(e.duration_s.high)
         + "), paced by the " + e.paced_by + "\n";
  if (budget)
    out += "budget: " + budget_verdict(e, *budget) + "\n";
  return out;
}

namespace {

struct compared {
  const task_estimate* est;
  const result* actual;
  bool counted; // it ran here to a result with a cost
  bool inside;
};

std::vector<compared> compare(const plan_estimate& e, const std::vector<result>& actual) {
  std::vector<compared> xs;
  for (auto& t : e.tasks)
    for (auto& r : actual)
      if (r.task_id == t.task_id && r.worker == t.worker) {
        bool counted = t.basis != "reused" && r.ok();
        xs.push_back({&t, &r, counted, t.cost_usd.contains(r.cost_usd)});
        break;
      }
  return xs;
}

} // namespace

json estimate_vs_actual_json(const plan_estimate& e, const std::vector<result>& actual,
                             double duration_ms) {
  auto xs = compare(e, actual);
  json tasks = json::array();
  size_t counted = 0, inside = 0;
  double spent = 0;
  for (auto& x : xs) {
    spent += x.actual->cost_usd;
    json j{{"task_id", x.est->task_id},
           {"worker", x.est->worker},
           {"basis", x.est->basis},
           {"cost_usd", spread_json(x.est->cost_usd)},
           {"actual_cost_usd", x.actual->cost_usd}};
    if (x.counted) {
      j["inside"] = x.inside;
      ++counted;
      inside += x.inside ? 1 : 0;
    }
    tasks.push_back(std::move(j));
  }
  return {{"tasks", tasks},
          {"cost_usd", spread_json(e.cost_usd)},
          {"actual_cost_usd", spent},
          {"duration_s", spread_json(e.duration_s)},
          {"actual_duration_s", duration_ms / 1000.0},
          {"compared", counted},
          {"inside", inside}};
}

std::string estimate_vs_actual_markdown(const plan_estimate& e,
                                        const std::vector<result>& actual,
                                        double duration_ms) {
  auto xs = compare(e, actual);
  std::string md = "## Estimate and actual\n\n"
                   "| task | estimated cost (low / expected / high) | actual | inside |\n"
                   "|---|---|---|---|\n";
  size_t counted = 0, inside = 0;
  double spent = 0;
  for (auto& x : xs) {
    spent += x.actual->cost_usd;
    md += "| " + x.est->task_id + " | " + usd_text(x.est->cost_usd.low) + " / "
          + usd_text(x.est->cost_usd.expected) + " / " + usd_text(x.est->cost_usd.high) + " ("
          + x.est->basis + ") | " + usd_text(x.actual->cost_usd) + " | "
          + (x.counted ? x.inside ? "yes" : "no" : "-") + " |\n";
    if (x.counted) {
      ++counted;
      inside += x.inside ? 1 : 0;
    }
  }
  md += "\n" + std::to_string(inside) + " of " + std::to_string(counted)
        + " completed tasks cost what their range said. The run cost " + usd_text(spent)
        + " against " + usd_text(e.cost_usd.low) + " to " + usd_text(e.cost_usd.high)
        + " (expected " + usd_text(e.cost_usd.expected) + ") and took "
        + seconds_text(duration_ms / 1000.0) + " against "
        + seconds_text(e.duration_s.low) + " to " + seconds_text(e.duration_s.high)
        + " (expected " + seconds_text(e.duration_s.expected) + ").\n";
  return md;
}

std::string estimate_words(const task_estimate& e) {
  return usd_text(e.cost_usd.low) + " to " + usd_text(e.cost_usd.high) + ", expected "
         + usd_text(e.cost_usd.expected) + " (" + e.basis + ")";
}

} // namespace troupe
