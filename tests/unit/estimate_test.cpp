#include "core/estimate.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include <filesystem>
#include <fstream>

#include "core/json_codec.hpp"
#include "core/run_history.hpp"

using namespace troupe;

namespace {

task mk(std::string id, std::string worker, std::vector<std::string> deps = {}) {
  task t;
  t.task_id = std::move(id);
  t.worker = std::move(worker);
  t.description = std::string(400, 'x'); // 100 tokens
  t.dependencies = std::move(deps);
  return t;
}

config two_workers(int marie_slots = 1) {
  config cfg;
  worker_config m;
  m.name = "marie";
  m.slots = marie_slots;
  m.model = "claude-sonnet-4-5";
  worker_config a = m;
  a.name = "anga";
  cfg.workers = {m, a};
  return cfg;
}

past_run took(double cost, double seconds) {
  return {cost, 1000, 100, seconds * 1000};
}

} // namespace

TEST(estimate, without_history_the_list_price_gives_a_wide_ordered_range) {
  auto cfg = two_workers();
  auto e = estimate_task(mk("t", "marie"), cfg, cfg.workers[0], {});
  EXPECT_EQ(e.basis, "list price");
  EXPECT_TRUE(e.calls_api);
  EXPECT_LT(e.cost_usd.low, e.cost_usd.expected);
  EXPECT_LT(e.cost_usd.expected, e.cost_usd.high);
  // The low end is one request on a warm cache: the CLI's overhead read
  // from the cache ($0.30/M for Sonnet) plus a short answer ($15/M).
  auto sent = cfg.claude.overhead_tokens + 100.0;
  EXPECT_NEAR(e.cost_usd.low, sent * 0.30 / 1e6 + 50 * 15.0 / 1e6, 1e-9);
}

TEST(estimate, a_history_of_cold_runs_reaches_down_to_what_a_warm_cache_costs) {
  auto cfg = two_workers();
  // Ten runs that each wrote the prompt cache: $0.05, of it $0.04 on
  // writes; on a warm cache they would have read it for a tenth of that.
  run_history h;
  for (int i = 0; i < 10; ++i) {
    auto p = took(0.05, 10);
    p.warm_cost_usd = 0.0135;
    h["marie"].push_back(p);
  }
  auto e = estimate_task(mk("t", "marie"), cfg, cfg.workers[0], h);
  EXPECT_NEAR(e.cost_usd.expected, 0.05, 1e-12);
  EXPECT_NEAR(e.cost_usd.low, 0.0135 / (1 + 1 / std::sqrt(10.0)), 1e-12);
  EXPECT_TRUE(e.cost_usd.contains(0.0135));
}

TEST(estimate, a_cap_bounds_every_end_of_the_range) {
  auto cfg = two_workers();
  auto t = mk("t", "marie");
  t.budget_usd = 0.01;
  auto e = estimate_task(t, cfg, cfg.workers[0], {});
  EXPECT_LE(e.cost_usd.high, 0.01);
  EXPECT_LE(e.cost_usd.expected, 0.01);
}

TEST(estimate, a_history_gives_its_median_widened_by_how_little_is_known) {
  auto cfg = two_workers();
  run_history h;
  h["marie"] = {took(0.02, 10), took(0.04, 20), took(0.03, 30), took(0.05, 40)};
  auto e = estimate_task(mk("t", "marie"), cfg, cfg.workers[0], h);
  EXPECT_EQ(e.basis, "history (4 runs)");
  EXPECT_NEAR(e.cost_usd.expected, 0.035, 1e-9);
  // The 10th and 90th percentiles (0.023, 0.047), widened 1.5 times for 4 runs.
  EXPECT_NEAR(e.cost_usd.low, 0.023 / 1.5, 1e-9);
  EXPECT_NEAR(e.cost_usd.high, 0.047 * 1.5, 1e-9);
  EXPECT_NEAR(e.duration_s.expected, 25, 1e-9);
  for (auto& p : h["marie"])
    EXPECT_TRUE(e.cost_usd.contains(p.cost_usd));
}

TEST(estimate, the_simulator_is_exact_and_calls_no_api) {
  auto cfg = two_workers();
  auto e = estimate_task(mk("t", "marie"), cfg, cfg.workers[0], {}, "sim");
  EXPECT_EQ(e.basis, "simulator");
  EXPECT_FALSE(e.calls_api);
  EXPECT_DOUBLE_EQ(e.cost_usd.low, e.cost_usd.high);
  EXPECT_NEAR(e.cost_usd.expected, (1600 * 3.0 + 400 * 15.0) / 1e6, 1e-12);
}

TEST(estimate, the_duration_schedules_tasks_on_their_workers_slots) {
  auto cfg = two_workers(1);
  run_history h;
  h["marie"] = {took(0.01, 10)};
  h["anga"] = {took(0.01, 10)};
  workflow wf;
  // marie has one slot: a and b one after the other; c waits for both;
  // d runs beside them on anga.
  wf.tasks = {mk("a", "marie"), mk("b", "marie"), mk("c", "anga", {"a", "b"}),
              mk("d", "anga")};
  auto p = estimate_plan(wf, cfg, h);
  EXPECT_EQ(p.paced_by, "slots");
  EXPECT_NEAR(p.duration_s.expected, 30, 1e-9);
  cfg.workers[0].slots = 2;
  EXPECT_NEAR(estimate_plan(wf, cfg, h).duration_s.expected, 20, 1e-9);
}

TEST(estimate, a_tight_token_limit_paces_the_plan) {
  auto cfg = two_workers(4);
  cfg.limits.input_tokens_per_min = 1000;
  run_history h;
  h["marie"] = {took(0.01, 1)}; // 1000 metered tokens a run
  workflow wf;
  wf.tasks = {mk("a", "marie"), mk("b", "marie"), mk("c", "marie")};
  auto p = estimate_plan(wf, cfg, h);
  EXPECT_EQ(p.paced_by, "rate limits");
  EXPECT_NEAR(p.duration_s.expected, 180, 1e-9); // 3000 tokens at 1000/min
}

TEST(estimate, reused_tasks_cost_nothing) {
  auto cfg = two_workers();
  workflow wf;
  wf.tasks = {mk("a", "marie"), mk("b", "marie", {"a"})};
  auto p = estimate_plan(wf, cfg, {}, {"a"});
  EXPECT_EQ(p.tasks[0].basis, "reused");
  EXPECT_DOUBLE_EQ(p.tasks[0].cost_usd.high, 0);
  EXPECT_DOUBLE_EQ(p.cost_usd.high, p.tasks[1].cost_usd.high);
}

TEST(estimate, the_verdict_holds_the_range_against_the_budget) {
  plan_estimate p;
  p.cost_usd = {0.01, 0.05, 0.2};
  EXPECT_EQ(budget_verdict(p, 0.3).rfind("fits:", 0), 0u);
  EXPECT_EQ(budget_verdict(p, 0.1).rfind("may not fit:", 0), 0u);
  EXPECT_EQ(budget_verdict(p, 0.02).rfind("does not fit:", 0), 0u);
}

TEST(estimate, beside_the_actuals_it_counts_the_completed_tasks_inside_their_range) {
  auto cfg = two_workers();
  run_history h;
  h["marie"] = {took(0.02, 10)};
  workflow wf;
  wf.tasks = {mk("a", "marie"), mk("b", "marie")};
  auto p = estimate_plan(wf, cfg, h); // 0.01 to 0.04
  result a, b;
  a.task_id = "a";
  b.task_id = "b";
  a.worker = b.worker = "marie";
  a.state = b.state = status::complete;
  a.cost_usd = 0.03;
  b.cost_usd = 0.05;
  auto j = estimate_vs_actual_json(p, {a, b}, 12000);
  EXPECT_EQ(j["compared"], 2);
  EXPECT_EQ(j["inside"], 1);
  EXPECT_NEAR(j["actual_cost_usd"].get<double>(), 0.08, 1e-12);
  EXPECT_EQ(j["tasks"][1]["inside"], false);
  auto md = estimate_vs_actual_markdown(p, {a, b}, 12000);
  EXPECT_NE(md.find("1 of 2 completed tasks cost what their range said"), std::string::npos);
}

TEST(run_history, a_result_counts_once_in_results_and_in_reports) {
  namespace fs = std::filesystem;
  auto root = fs::temp_directory_path() / ("troupe-history-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "results/marie");
  fs::create_directories(root / "runs/r1");
  fs::create_directories(root / "runs/r2");
  auto mk_result = [](const std::string& id, const std::string& at, double cost) {
    result r;
    r.task_id = id;
    r.worker = "marie";
    r.state = status::complete;
    r.completed_at = at;
    r.cost_usd = cost;
    return to_json(r);
  };
  auto write = [](const fs::path& p, const json& j) { std::ofstream(p) << j.dump(); };
  // t1 ran twice (its file has the second), t2 once; r2 reused t1's second.
  write(root / "results/marie/t1.json", mk_result("t1", "2026-12-02T10:00:00Z", 0.2));
  write(root / "results/marie/t2.json", mk_result("t2", "2026-12-01T10:00:00Z", 0.1));
  write(root / "runs/r1/report.json",
        {{"tasks", {mk_result("t1", "2026-12-01T09:00:00Z", 0.3),
                    mk_result("t2", "2026-12-01T10:00:00Z", 0.1)}}});
  write(root / "runs/r2/report.json",
        {{"tasks", {mk_result("t1", "2026-12-02T10:00:00Z", 0.2)}}});
  auto h = load_history(root.string());
  ASSERT_EQ(h["marie"].size(), 3u);
  EXPECT_DOUBLE_EQ(h["marie"][0].cost_usd, 0.3); // oldest first
  EXPECT_DOUBLE_EQ(h["marie"][1].cost_usd, 0.1);
  EXPECT_DOUBLE_EQ(h["marie"][2].cost_usd, 0.2);
  fs::remove_all(root);
}
