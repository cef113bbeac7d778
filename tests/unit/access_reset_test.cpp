#include "core/access_reset.hpp"

#include <gtest/gtest.h>

using namespace troupe;

TEST(access_reset, the_spend_limit_message_names_when_access_comes_back) {
  EXPECT_EQ(regain_access_ms("You have reached your specified API usage limits. "
                             "You will regain access on 2027-01-01 at 00:00 UTC."),
            1798761600000);
  EXPECT_EQ(regain_access_ms("… regain access on 2026-12-07 at 07:05:30 UTC"),
            1796627130000);
}

TEST(access_reset, a_message_without_a_moment_names_none) {
  EXPECT_FALSE(regain_access_ms("You have reached your specified API usage limits."));
  EXPECT_FALSE(regain_access_ms("You will regain access on 2027-01-01 at 00:00 CET."));
  EXPECT_FALSE(regain_access_ms("You will regain access on 2027-13-01 at 00:00 UTC."));
  EXPECT_FALSE(regain_access_ms("You will regain access on tomorrow"));
}
