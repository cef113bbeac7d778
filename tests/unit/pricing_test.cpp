#include "core/pricing.hpp"

#include <gtest/gtest.h>

using namespace troupe;

TEST(pricing, knows_each_family_by_its_dated_name) {
  EXPECT_DOUBLE_EQ(price_of("claude-sonnet-4-5-20250929").input, 3);
  EXPECT_DOUBLE_EQ(price_of("claude-opus-4-5-20251101").output, 25);
  EXPECT_DOUBLE_EQ(price_of("claude-opus-4-1-20250805").output, 75);
  EXPECT_DOUBLE_EQ(price_of("claude-haiku-4-5-20251001").input, 1);
  EXPECT_DOUBLE_EQ(price_of("claude-3-5-haiku-20241022").input, 0.8);
  // Unknown: the dearest, so that a budget stops early rather than late.
  EXPECT_DOUBLE_EQ(price_of("someone-elses-model").output, 75);
}

TEST(pricing, the_users_table_comes_first) {
  price_table own{{"sonnet", price_from_input(6, 30)}};
  EXPECT_DOUBLE_EQ(price_of("claude-sonnet-4-5", own).input, 6);
  EXPECT_DOUBLE_EQ(price_of("claude-sonnet-4-5", own).cache_read, 0.6);
  EXPECT_DOUBLE_EQ(price_of("claude-haiku-4-5", own).input, 1);
}

TEST(pricing, a_response_costs_each_meter_at_its_rate) {
  usage u;
  u.input_tokens = 1000;
  u.cache_creation_input_tokens = 10000;
  u.cache_read_input_tokens = 100000;
  u.output_tokens = 2000;
  // 1000 x 3 + 10000 x 3.75 + 100000 x 0.3 + 2000 x 15, per million.
  EXPECT_NEAR(cost_of(u, price_of("claude-sonnet-4-5")), 0.1005, 1e-12);
  EXPECT_DOUBLE_EQ(cost_of(usage{}, price_of("claude-sonnet-4-5")), 0);
}
