#include "core/limiter_core.hpp"

#include <gtest/gtest.h>

using namespace troupe;
using namespace std::chrono_literals;

namespace {

permit_ask ask(uint64_t id, std::string worker, double in,
               priority p = priority::medium, std::string model = "claude-sonnet-4-5") {
  permit_ask a;
  a.id = id;
  a.worker = std::move(worker);
  a.model = std::move(model);
  a.prio = p;
  a.input_tokens = in;
  return a;
}

std::vector<uint64_t> ids(const std::vector<permit_ask>& xs) {
  std::vector<uint64_t> out;
  for (auto& x : xs)
    out.push_back(x.id);
  return out;
}

} // namespace

TEST(limiter_core, a_permit_needs_both_worker_and_global_room) {
  steady_time t0{};
  rate_limits global{0, 1000, 0};
  limiter_core l{global, {{"marie", rate_limits{0, 300, 0}}}, t0};
  l.enqueue(ask(1, "marie", 200));
  l.enqueue(ask(2, "marie", 200)); // marie's bucket has 100 left
  l.enqueue(ask(3, "anga", 700));  // global has 800 left
  auto first = l.grant(t0);
  EXPECT_EQ(ids(first), (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(l.waiting(), 1u);
  for (auto& g : first) // both runs end, using what they reserved
    l.settle(g, 1, g.input_tokens, 0, t0);
  // marie needs 100 more at 5/s: 20 s.
  EXPECT_EQ(*l.next_try(t0), 20s);
  EXPECT_TRUE(l.grant(t0 + 19s).empty());
  EXPECT_EQ(ids(l.grant(t0 + 20s)), (std::vector<uint64_t>{2}));
}

TEST(limiter_core, high_priority_first_fifo_within_a_priority) {
  steady_time t0{};
  limiter_core l{rate_limits{3, 0, 0}, {}, t0};
  l.enqueue(ask(1, "w", 1, priority::low));
  l.enqueue(ask(2, "w", 1));
  l.enqueue(ask(3, "w", 1, priority::high));
  l.enqueue(ask(4, "w", 1));
  EXPECT_EQ(ids(l.grant(t0)), (std::vector<uint64_t>{3, 2, 4}));
}

TEST(limiter_core, large_request_is_never_starved_by_small_ones) {
  steady_time t0{};
  limiter_core l{rate_limits{0, 1000, 0}, {}, t0};
  l.enqueue(ask(1, "w", 900));
  auto first = l.grant(t0);
  ASSERT_EQ(first.size(), 1u);
  l.settle(first[0], 1, 900, 0, t0);
  l.enqueue(ask(2, "w", 800)); // must wait for refill
  l.enqueue(ask(3, "w", 10));  // would fit now, but queues behind 2
  EXPECT_TRUE(l.grant(t0 + 1s).empty());
  // 2 needs 700 more at 1000/min: 42 s after t0.
  auto got = l.grant(t0 + 42s);
  EXPECT_EQ(ids(got), (std::vector<uint64_t>{2}));
  EXPECT_TRUE(l.grant(t0 + 42s).empty());
}

TEST(limiter_core, model_classes_have_separate_global_buckets) {
  steady_time t0{};
  limiter_core l{rate_limits{1, 0, 0}, {}, t0};
  l.enqueue(ask(1, "a", 1, priority::medium, "claude-sonnet-4-5"));
  l.enqueue(ask(2, "b", 1, priority::medium, "claude-sonnet-4-5-20250929"));
  l.enqueue(ask(3, "c", 1, priority::medium, "claude-haiku-4-5"));
  EXPECT_EQ(ids(l.grant(t0)), (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(model_class("claude-opus-4-1"), "opus");
}

TEST(limiter_core, settle_reconciles_estimate_with_actual_usage) {
  steady_time t0{};
  limiter_core l{rate_limits{0, 0, 600}, {}, t0};
  auto a = ask(1, "w", 0);
  a.output_tokens = 500;
  l.enqueue(a);
  auto granted = l.grant(t0);
  ASSERT_EQ(granted.size(), 1u);
  // The run used only 100: 400 come back, so 500 fit again at once.
  l.settle(granted[0], 1, 0, 100, t0);
  auto b = ask(2, "w", 0);
  b.output_tokens = 500;
  l.enqueue(b);
  EXPECT_EQ(l.grant(t0).size(), 1u);
  EXPECT_DOUBLE_EQ(l.avg_output("w"), 100);
  // Later asks of this worker expect what its runs really used.
  permit_ask next = ask(3, "w", 10);
  l.estimate(next, t0);
  EXPECT_DOUBLE_EQ(next.output_tokens, 100);
  EXPECT_DOUBLE_EQ(next.input_tokens, 10); // the prompt's own size is the floor
  l.enqueue(next);
  auto got = l.grant(t0 + std::chrono::minutes(1));
  ASSERT_EQ(got.size(), 1u);
  l.settle(got[0], 1, 900, 100, t0 + std::chrono::minutes(1));
  permit_ask third = ask(4, "w", 10);
  l.estimate(third, t0 + std::chrono::minutes(1));
  EXPECT_DOUBLE_EQ(third.input_tokens, 900); // the first warm run's own
  l.enqueue(third);
  got = l.grant(t0 + std::chrono::minutes(2));
  ASSERT_EQ(got.size(), 1u);
  l.settle(got[0], 1, 400, 100, t0 + std::chrono::minutes(2));
  permit_ask fourth = ask(5, "w", 10);
  l.estimate(fourth, t0 + std::chrono::minutes(2));
  EXPECT_DOUBLE_EQ(fourth.input_tokens, 800); // 900 + 0.2 * (400 - 900)
}

TEST(limiter_core, cold_and_warm_runs_are_estimated_apart) {
  // 12,000 of the ask are the cached prefix (tool schemas, system prompt).
  steady_time t0{};
  limiter_core l{rate_limits{}, {}, t0};
  auto run = [&](uint64_t id, steady_time at, double used) {
    auto a = ask(id, "w", 12100);
    a.prefix_tokens = 12000;
    l.estimate(a, at);
    l.enqueue(a);
    auto g = l.grant(at);
    EXPECT_EQ(g.size(), 1u);
    if (used > 0)
      l.settle(g.at(0), 1, used, 10, at + 10s);
    return a.input_tokens;
  };
  // Cold, nothing known: the whole prompt, prefix included.
  EXPECT_DOUBLE_EQ(run(1, t0, 15000), 12100);
  // Warm now, no warm run seen yet: a cold run's figures.
  EXPECT_DOUBLE_EQ(run(2, t0 + 20s, 2000), 15000);
  // Warm: what warm runs use, not held to the prefix.
  EXPECT_DOUBLE_EQ(run(3, t0 + 40s, 0), 2000);
  // Five minutes after the last run ended, the cache is gone: cold again.
  EXPECT_DOUBLE_EQ(run(4, t0 + 30s + 5min, 0), 15000);
  EXPECT_DOUBLE_EQ(run(5, t0 + 30s + 5min - 1s, 0), 2000);
}

TEST(limiter_core, a_cooldown_counts_no_token_twice) {
  // Six runs granted on 3,000 each use 11,000 each; the API answers 429 at
  // 10 s with retry-after 20 s, and the runs end at 15 s.
  steady_time t0{};
  limiter_core l{rate_limits{0, 60000, 0}, {}, t0};
  for (uint64_t i = 1; i <= 6; ++i)
    l.enqueue(ask(i, "w", 3000));
  auto first = l.grant(t0);
  ASSERT_EQ(first.size(), 6u);
  // Emptied at 10 s: the 42,000 it held were already spent at the API, by
  // these runs' overruns (8,000 each, 48,000 in all).
  l.cool_down("claude-sonnet-4-5", t0 + 10s, 20s);
  for (auto& g : first)
    l.settle(g, 1, 11000, 0, t0 + 15s);
  // Only the 6,000 the emptying did not stand for are taken: 5,000 refilled
  // by 15 s, -1,000 then, 14,000 when the pause ends at 30 s. Counted
  // twice, the bucket would sit at -28,000 then, for 40 s more.
  l.enqueue(ask(7, "w", 12000));
  EXPECT_TRUE(l.grant(t0 + 29s).empty()); // paused
  EXPECT_EQ(ids(l.grant(t0 + 30s)), (std::vector<uint64_t>{7}));
  // A run granted after the cooldown is settled in full: its overrun counts.
  l.enqueue(ask(8, "w", 1000));
  auto g8 = l.grant(t0 + 35s); // 2,000 + 5,000 refilled
  ASSERT_EQ(g8.size(), 1u);
  l.settle(g8[0], 1, 11000, 0, t0 + 35s); // 10,000 over: -4,000
  l.enqueue(ask(9, "w", 5000));
  EXPECT_TRUE(l.grant(t0 + 43s).empty()); // 4,000
  EXPECT_EQ(l.grant(t0 + 44s).size(), 1u);
}

TEST(limiter_core, a_cooldown_for_another_clients_traffic_credits_nothing) {
  // Nothing of ours out when the 429 came: our later overruns all count.
  steady_time t0{};
  limiter_core l{rate_limits{0, 60000, 0}, {}, t0};
  l.cool_down("claude-sonnet-4-5", t0, 1s);
  l.enqueue(ask(1, "w", 1000));
  auto g = l.grant(t0 + 2s); // 2,000 refilled
  ASSERT_EQ(g.size(), 1u);
  l.settle(g[0], 1, 3000, 0, t0 + 2s); // -1,000
  l.enqueue(ask(2, "w", 1000));
  EXPECT_TRUE(l.grant(t0 + 3s).empty()); // 0
  EXPECT_EQ(l.grant(t0 + 4s).size(), 1u);
}

TEST(limiter_core, unsettled_permits_hold_capacity_the_api_may_not_have) {
  steady_time t0{};
  limiter_core l{rate_limits{0, 600, 0}, {}, t0};
  l.enqueue(ask(1, "w", 400));
  auto first = l.grant(t0);
  ASSERT_EQ(first.size(), 1u);
  // The run has not reached the API yet: its 400 still occupy the bucket,
  // however long we wait, so only 200 can go out meanwhile.
  l.enqueue(ask(2, "w", 300));
  EXPECT_TRUE(l.grant(t0 + std::chrono::hours(1)).empty());
  l.settle(first[0], 1, 400, 0, t0 + std::chrono::hours(1));
  EXPECT_TRUE(l.grant(t0 + std::chrono::hours(1)).empty()); // 200 < 300
  EXPECT_EQ(l.grant(t0 + std::chrono::hours(1) + 10s).size(), 1u);
}

TEST(limiter_core, unlimited_when_no_meter_has_a_limit) {
  EXPECT_TRUE((limiter_core{{}, {{"w", {}}}, steady_time{}}.unlimited()));
  EXPECT_FALSE((limiter_core{{}, {{"w", {1, 0, 0}}}, steady_time{}}.unlimited()));
}

TEST(limiter_core, a_request_held_at_the_gateway_is_reserved_as_asked) {
  steady_time t0{};
  limiter_core l{rate_limits{0, 10000, 0}, {}, t0};
  // A run's averages exist...
  auto run = ask(1, "w", 100);
  l.enqueue(run);
  auto g = l.grant(t0);
  l.settle(g[0], 2, 5000, 300, t0);
  // ...but a request's own figures are what it is held for, and its
  // settle teaches the run averages nothing.
  auto req = ask(2, "w", 800);
  req.exact = true;
  req.prefix_tokens = 500; // ignored: the gateway already left out the cache
  l.estimate(req, t0);
  EXPECT_DOUBLE_EQ(req.input_tokens, 800);
  EXPECT_DOUBLE_EQ(req.requests, 1);
  l.enqueue(req);
  auto got = l.grant(t0);
  ASSERT_EQ(got.size(), 1u);
  l.settle(got[0], 1, 810, 20, t0);
  EXPECT_DOUBLE_EQ(l.avg_output("w"), 300);
}

TEST(limiter_core, the_apis_remaining_headers_lower_the_global_buckets) {
  steady_time t0{};
  limiter_core l{rate_limits{0, 6000, 0}, {}, t0};
  // Another client of the account used most of the minute: the API says
  // 1000 remain, though this limiter granted nothing yet.
  l.calibrate("claude-sonnet-4-5", -1, 1000, -1, t0);
  l.enqueue(ask(1, "w", 1500));
  EXPECT_TRUE(l.grant(t0).empty());
  EXPECT_EQ(*l.next_try(t0), 5s); // 500 more at 100/s
  // A header never raises the level: what is reserved here may not have
  // reached the API yet.
  l.calibrate("claude-sonnet-4-5", -1, 6000, -1, t0);
  EXPECT_TRUE(l.grant(t0).empty());
  EXPECT_EQ(ids(l.grant(t0 + 5s)), (std::vector<uint64_t>{1}));
  // Another model class is not touched.
  l.enqueue(ask(2, "w", 6000, priority::medium, "claude-opus-4-1"));
  EXPECT_EQ(ids(l.grant(t0 + 5s)), (std::vector<uint64_t>{2}));
}

TEST(limiter_core, an_account_wide_pause_holds_every_class_and_empties_nothing) {
  steady_time t0{};
  limiter_core l{rate_limits{0, 60000, 0}, {}, t0};
  l.cool_down(every_model, t0, 30s);
  EXPECT_EQ(l.account_paused_until(), t0 + 30s);
  EXPECT_EQ(l.paused_until("claude-opus-4-5"), t0 + 30s);
  l.enqueue(ask(1, "w", 50000));
  l.enqueue(ask(2, "w", 1000, priority::medium, "claude-haiku-4-5"));
  EXPECT_TRUE(l.grant(t0 + 29s).empty());
  EXPECT_EQ(*l.next_try(t0 + 29s), 1s);
  // The bucket was not emptied: the 50,000 fit at once when it ends.
  EXPECT_EQ(ids(l.grant(t0 + 30s)), (std::vector<uint64_t>{1, 2}));
  // A shorter pause later does not cut a longer one short.
  l.cool_down(every_model, t0 + 40s, 60s);
  l.cool_down(every_model, t0 + 41s, 1s);
  EXPECT_EQ(l.account_paused_until(), t0 + 100s);
}

TEST(limiter_core, a_small_ask_behind_a_blocked_one_does_not_wake_the_limiter_early) {
  steady_time t0{};
  limiter_core l{rate_limits{0, 600, 0}, {}, t0}; // 10 a second
  l.enqueue(ask(1, "marie", 500));
  auto first = l.grant(t0);
  ASSERT_EQ(first.size(), 1u);
  l.settle(first[0], 1, 500, 0, t0); // it used what it reserved
  l.enqueue(ask(2, "anga", 300)); // 100 left: 20 s
  l.enqueue(ask(3, "fabien", 50)); // fits now, but waits behind anga
  EXPECT_TRUE(l.grant(t0).empty());
  // Its own size says "now"; its turn comes with anga's, in 20 s. Counting
  // it woke the limiter every millisecond until then (against Redis, a
  // round trip each time).
  EXPECT_EQ(*l.next_try(t0), 20s);
  EXPECT_EQ(ids(l.grant(t0 + 20s)), (std::vector<uint64_t>{2}));
  EXPECT_EQ(*l.next_try(t0 + 20s), 5s); // fabien's own turn: 50 at 10 a second
}
