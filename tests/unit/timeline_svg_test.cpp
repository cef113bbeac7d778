#include "core/timeline_svg.hpp"

#include <gtest/gtest.h>

#include "core/clock.hpp"

using namespace troupe;

TEST(rfc3339, reads_what_troupe_writes) {
  EXPECT_EQ(ms_of_rfc3339("2026-12-07T14:30:00.250Z"), 1796653800250);
  EXPECT_EQ(ms_of_rfc3339("2026-12-07T14:30:00Z"), 1796653800000);
  EXPECT_EQ(ms_of_rfc3339(rfc3339_of_ms(1796653800123)), 1796653800123);
  for (auto bad : {"", "2026-12-07", "2026-12-07T14:30:00+01:00", "2026-13-07T14:30:00Z",
                   "2026-12-07T14:30:00.5Zx"})
    EXPECT_FALSE(ms_of_rfc3339(bad)) << bad;
}

TEST(timeline, one_bar_per_attempt_on_its_workers_lane) {
  auto results = json::parse(R"([
    {"task_id": "a", "worker": "marie", "status": "complete",
     "completed_at": "2026-12-07T10:00:02.000Z", "duration_ms": 2000},
    {"task_id": "b", "worker": "anga", "status": "failed",
     "completed_at": "2026-12-07T10:00:09.000Z", "duration_ms": 1000,
     "attempts": [{"attempt": 1, "kind": "timeout", "at": "2026-12-07T10:00:05.000Z", "duration_ms": 3000},
                  {"attempt": 2, "kind": "timeout", "at": "2026-12-07T10:00:09.000Z", "duration_ms": 1000}]},
    {"task_id": "c", "worker": "fabien", "status": "cancelled", "duration_ms": 0}])");
  auto bars = timeline_bars(results);
  ASSERT_EQ(bars.size(), 3u); // a; b's first attempt and its last; c never ran
  EXPECT_EQ(bars[0].lane, "marie");
  EXPECT_EQ(bars[1].label, "b #1");
  EXPECT_EQ(bars[1].to_ms - bars[1].from_ms, 3000);
  EXPECT_EQ(bars[2].outcome, "failed");
  auto svg = timeline_svg(bars);
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  size_t n = 0;
  for (auto p = svg.find("class=\"attempt\""); p != std::string::npos;
       p = svg.find("class=\"attempt\"", p + 1))
    ++n;
  EXPECT_EQ(n, 3u);
  EXPECT_NE(svg.find("#2e9e5b"), std::string::npos); // complete in green
  EXPECT_NE(svg.find(">anga<"), std::string::npos);
  EXPECT_NE(timeline_svg({}).find("No attempt ran."), std::string::npos);
}

TEST(timeline, names_are_escaped) {
  auto svg = timeline_svg({{"<w>", "t&1", 0, 10, "complete"}});
  EXPECT_EQ(svg.find("<w>"), std::string::npos);
  EXPECT_NE(svg.find("&lt;w&gt;"), std::string::npos);
  EXPECT_NE(svg.find("t&amp;1"), std::string::npos);
}
