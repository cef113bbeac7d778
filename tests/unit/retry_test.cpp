#include "core/retry.hpp"
#include "core/outcome.hpp"

#include <gtest/gtest.h>

using namespace troupe;
using namespace std::chrono_literals;

TEST(retry, what_is_worth_another_attempt) {
  for (auto k : {"timeout", "stalled", "crashed", "bad_output", "overloaded",
                 "server_error", "rate_limited", "connection"})
    EXPECT_TRUE(retryable(k)) << k;
  for (auto k : {"auth", "not_logged_in", "spend_limit", "budget", "max_turns",
                 "dependency_failed", "bad_input"})
    EXPECT_FALSE(retryable(k)) << k;
}

TEST(retry, backoff_doubles_is_capped_and_jittered) {
  backoff_policy p{1000, 5000};
  EXPECT_EQ(backoff_delay(p, 1, 1.0), 1000ms);
  EXPECT_EQ(backoff_delay(p, 1, 0.0), 500ms);
  EXPECT_EQ(backoff_delay(p, 2, 1.0), 2000ms);
  EXPECT_EQ(backoff_delay(p, 3, 1.0), 4000ms);
  EXPECT_EQ(backoff_delay(p, 4, 1.0), 5000ms); // capped
  EXPECT_EQ(backoff_delay(p, 40, 0.0), 2500ms);
  EXPECT_EQ(backoff_delay(p, 2, 0.5), 1500ms);
}
