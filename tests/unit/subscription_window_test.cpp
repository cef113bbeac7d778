#include "core/subscription_window.hpp"

#include <gtest/gtest.h>

using namespace troupe;

namespace {

subscription_window read(std::initializer_list<std::pair<const char*, const char*>> hs) {
  subscription_window w;
  for (auto& [k, v] : hs)
    read_window_header(k, v, w);
  return w;
}

constexpr int64_t now_ms = 1'800'000'000'000;

} // namespace

TEST(subscription_window, the_unified_headers_are_read_in_any_case) {
  auto w = read({{"Anthropic-Ratelimit-Unified-Status", " allowed_warning "},
                 {"anthropic-ratelimit-unified-reset", "1800003600"},
                 {"anthropic-ratelimit-unified-representative-claim", "five_hour"},
                 {"anthropic-ratelimit-unified-5h-status", "allowed_warning"},
                 {"anthropic-ratelimit-unified-5h-utilization", "0.92"},
                 {"anthropic-ratelimit-unified-7d-reset", "1800500000"}});
  EXPECT_TRUE(w.any());
  EXPECT_EQ(w.status, window_warning);
  EXPECT_EQ(w.reset_s, 1800003600);
  EXPECT_EQ(w.claim, "five_hour");
  EXPECT_EQ(w.five_hour.status, window_warning);
  EXPECT_DOUBLE_EQ(w.five_hour.utilization, 0.92);
  EXPECT_EQ(w.seven_day.reset_s, 1800500000);
  EXPECT_FALSE(park_of(w, now_ms, 60000)) << "a warning parks nothing";
}

TEST(subscription_window, values_that_are_none_leave_it_unchanged) {
  subscription_window w;
  EXPECT_FALSE(read_window_header("anthropic-ratelimit-unified-status", "maybe", w));
  EXPECT_FALSE(read_window_header("anthropic-ratelimit-unified-reset", "-5", w));
  EXPECT_FALSE(read_window_header("anthropic-ratelimit-unified-reset", "12x", w));
  EXPECT_FALSE(read_window_header("anthropic-ratelimit-unified-5h-utilization", "nan", w));
  EXPECT_FALSE(read_window_header("anthropic-ratelimit-unified-9d-status", "rejected", w));
  EXPECT_FALSE(read_window_header("anthropic-ratelimit-requests-remaining", "5", w));
  EXPECT_FALSE(w.any());
}

TEST(subscription_window, a_rejection_parks_until_its_windows_reset) {
  auto w = read({{"anthropic-ratelimit-unified-status", "rejected"},
                 {"anthropic-ratelimit-unified-reset", "1800003600"},
                 {"anthropic-ratelimit-unified-representative-claim", "seven_day"}});
  auto p = park_of(w, now_ms, 60000);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->window, "seven_day");
  EXPECT_EQ(p->until_ms, 1800003600'000);
  EXPECT_EQ(describe_park(*p, now_ms),
            "seven_day window, resets 2027-01-15T09:00:00Z (in 1 h 0 min)");
}

TEST(subscription_window, a_window_that_rejects_on_its_own_parks_too) {
  auto w = read({{"anthropic-ratelimit-unified-5h-status", "rejected"},
                 {"anthropic-ratelimit-unified-5h-reset", "1800000090"},
                 {"anthropic-ratelimit-unified-7d-status", "allowed"}});
  auto p = park_of(w, now_ms, 60000);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->window, "five_hour");
  EXPECT_EQ(p->until_ms, 1800000090'000);
  EXPECT_NE(describe_park(*p, now_ms).find("(in 1 min 30 s)"), std::string::npos);
}

TEST(subscription_window, a_rejection_without_a_reset_parks_for_the_fallback) {
  auto w = read({{"anthropic-ratelimit-unified-status", "rejected"}});
  auto p = park_of(w, now_ms, 60000);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->window, "subscription");
  EXPECT_EQ(p->until_ms, now_ms + 60000);
  // A reset already past is no park into the past.
  w.reset_s = 1;
  EXPECT_EQ(park_of(w, now_ms, 60000)->until_ms, now_ms);
}
