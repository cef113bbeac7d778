#include "core/run_budget.hpp"

#include <gtest/gtest.h>

using namespace troupe;

TEST(run_budget, shares_what_is_left_and_takes_back_what_was_not_spent) {
  run_budget b{1.0};
  auto first = b.reserve(std::nullopt, 4, 0);
  ASSERT_TRUE(std::holds_alternative<double>(first));
  EXPECT_DOUBLE_EQ(std::get<double>(first), 0.25);
  EXPECT_DOUBLE_EQ(std::get<double>(b.reserve(std::nullopt, 3, 0)), 0.25);
  EXPECT_DOUBLE_EQ(b.reserved(), 0.5);
  EXPECT_DOUBLE_EQ(b.left(), 0.5);
  b.settle(0.25, 0.05);
  EXPECT_DOUBLE_EQ(b.spent(), 0.05);
  EXPECT_DOUBLE_EQ(b.left(), 0.7);
}

TEST(run_budget, an_own_cap_is_kept_but_never_more_than_is_left) {
  run_budget b{1.0};
  EXPECT_DOUBLE_EQ(std::get<double>(b.reserve(0.1, 5, 0)), 0.1);
  EXPECT_DOUBLE_EQ(std::get<double>(b.reserve(3.0, 5, 0)), 0.9);
  EXPECT_DOUBLE_EQ(b.left(), 0.0);
}

TEST(run_budget, a_reservation_below_the_least_cost_does_not_fit) {
  run_budget b{0.5};
  b.book(0.46); // the planner
  auto got = b.reserve(std::nullopt, 1, 0.05);
  ASSERT_TRUE(std::holds_alternative<std::string>(got));
  EXPECT_NE(std::get<std::string>(got).find(
              "reservation of $0.0400 ($0.0400 left of the budget of $0.5000) "
              "does not fit: such a task costs at least $0.0500"),
            std::string::npos);
  EXPECT_DOUBLE_EQ(b.reserved(), 0.0);
}

TEST(run_budget, nothing_left_says_what_was_spent_and_what_is_reserved) {
  run_budget b{0.2};
  ASSERT_TRUE(std::holds_alternative<double>(b.reserve(std::nullopt, 1, 0)));
  auto got = b.reserve(std::nullopt, 1, 0);
  ASSERT_TRUE(std::holds_alternative<std::string>(got));
  EXPECT_EQ(std::get<std::string>(got),
            "not run: the budget of $0.2000 is spent ($0.0000 spent, $0.2000 "
            "reserved by running tasks)");
  b.settle(0.2, 0.25); // overspent by its last turn
  EXPECT_DOUBLE_EQ(b.left(), 0.0);
  EXPECT_EQ(std::get<std::string>(b.reserve(std::nullopt, 1, 0)),
            "not run: the budget of $0.2000 is spent ($0.2500)");
}
