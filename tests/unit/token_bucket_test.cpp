#include "core/token_bucket.hpp"

#include <gtest/gtest.h>

using namespace troupe;
using namespace std::chrono_literals;

TEST(token_bucket, starts_full_and_refills_continuously) {
  steady_time t0{};
  token_bucket b{60, t0}; // one per second
  EXPECT_TRUE(b.can_take(60));
  b.take(60);
  EXPECT_FALSE(b.can_take(1));
  b.refill(t0 + 500ms);
  EXPECT_NEAR(b.level(), 0.5, 1e-9);
  EXPECT_FALSE(b.can_take(1));
  EXPECT_EQ(b.time_until(1), 500ms);
  b.refill(t0 + 1s);
  EXPECT_TRUE(b.can_take(1));
}

TEST(token_bucket, never_exceeds_capacity) {
  steady_time t0{};
  token_bucket b{120, t0};
  b.take(10);
  b.refill(t0 + 1h);
  EXPECT_DOUBLE_EQ(b.level(), 120);
  b.give_back(50);
  EXPECT_DOUBLE_EQ(b.level(), 120);
}

TEST(token_bucket, request_larger_than_capacity_waits_for_a_full_bucket) {
  steady_time t0{};
  token_bucket b{100, t0};
  b.take(100);
  EXPECT_FALSE(b.can_take(500));
  EXPECT_EQ(b.time_until(500), 60s); // a full refill, not never
  b.refill(t0 + 60s);
  EXPECT_TRUE(b.can_take(500));
}

TEST(token_bucket, overdraft_is_paid_back_before_the_next_take) {
  steady_time t0{};
  token_bucket b{60, t0};
  b.take(90); // a run used more than estimated
  EXPECT_DOUBLE_EQ(b.level(), -30);
  EXPECT_EQ(b.time_until(1), 31s);
}

TEST(token_bucket, zero_means_unlimited) {
  token_bucket b{0, steady_time{}};
  EXPECT_TRUE(b.unlimited());
  b.take(1e12);
  EXPECT_TRUE(b.can_take(1e12));
  EXPECT_EQ(b.time_until(1e12), steady_duration::zero());
}

TEST(token_bucket, reserved_tokens_occupy_capacity_until_settled) {
  steady_time t0{};
  token_bucket b{60, t0};
  b.reserve(30); // granted, not yet at the API
  b.refill(t0 + 1h);
  // The API's bucket may have sat full all that time: no refill into the
  // reserved half.
  EXPECT_DOUBLE_EQ(b.level(), 30);
  b.settle(30, 20); // the run used 20
  EXPECT_DOUBLE_EQ(b.pending(), 0);
  EXPECT_DOUBLE_EQ(b.level(), 40);
  b.refill(t0 + 2h);
  EXPECT_DOUBLE_EQ(b.level(), 60);
  b.reserve(10);
  b.settle(10, 25); // used more than reserved: the difference is owed
  EXPECT_DOUBLE_EQ(b.level(), 35);
}
