#include "core/budget_ledger.hpp"

#include <gtest/gtest.h>

using namespace troupe;
using namespace std::chrono_literals;

namespace {
task_tag tagged(double budget, int attempt = 1) {
  return {"marie", "t1", attempt, priority::medium, budget};
}
} // namespace

TEST(budget_ledger, refuses_the_request_that_would_pass_the_budget) {
  budget_ledger l;
  steady_time now{};
  auto t = tagged(0.10);
  ASSERT_FALSE(l.admit(t, 0.04, now));
  l.settle(t, 0.04, 0.05); // cost more than expected
  ASSERT_FALSE(l.admit(t, 0.04, now));
  l.settle(t, 0.04, 0.03);
  EXPECT_DOUBLE_EQ(l.spent(t), 0.08);
  auto why = l.admit(t, 0.04, now);
  ASSERT_TRUE(why);
  EXPECT_EQ(why->rfind(gateway_budget_error, 0), 0u);
  EXPECT_NE(why->find("$0.0800 of its $0.1000 budget in 2 requests"), std::string::npos) << *why;
  // A smaller one still fits.
  EXPECT_FALSE(l.admit(t, 0.01, now));
}

TEST(budget_ledger, counts_what_is_in_flight) {
  budget_ledger l;
  steady_time now{};
  auto t = tagged(0.10);
  ASSERT_FALSE(l.admit(t, 0.06, now));
  auto why = l.admit(t, 0.06, now); // a sub-agent's, in parallel
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("$0.0600 more in flight"), std::string::npos) << *why;
  l.settle(t, 0.06, 0.02);
  EXPECT_FALSE(l.admit(t, 0.06, now));
}

TEST(budget_ledger, keeps_attempts_apart_and_leaves_unbudgeted_alone) {
  budget_ledger l;
  steady_time now{};
  ASSERT_FALSE(l.admit(tagged(0.1, 1), 0.09, now));
  l.settle(tagged(0.1, 1), 0.09, 0.09);
  EXPECT_FALSE(l.admit(tagged(0.1, 2), 0.09, now)); // a retry starts afresh
  task_tag free{"marie", "t2", 1, priority::medium, std::nullopt};
  EXPECT_FALSE(l.admit(free, 1e9, now));
  l.settle(free, 1e9, 1e9);
  EXPECT_EQ(l.size(), 2u);
}

TEST(budget_ledger, forgets_attempts_long_over) {
  budget_ledger l;
  steady_time now{};
  ASSERT_FALSE(l.admit(tagged(0.1, 1), 0.01, now));
  l.settle(tagged(0.1, 1), 0.01, 0.01);
  ASSERT_FALSE(l.admit(tagged(0.1, 2), 0.01, now + 2h));
  EXPECT_EQ(l.size(), 1u);
  EXPECT_DOUBLE_EQ(l.spent(tagged(0.1, 1)), 0);
}
