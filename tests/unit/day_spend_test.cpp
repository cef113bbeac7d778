#include "core/day_spend.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

using namespace troupe;

namespace {

constexpr int64_t dec7_noon = 1796644800000; // 2026-12-07T12:00:00Z

struct temp_root {
  std::filesystem::path p = std::filesystem::temp_directory_path()
                            / ("troupe-day-spend-" + std::to_string(::getpid()));
  temp_root() { std::filesystem::remove_all(p); }
  ~temp_root() { std::filesystem::remove_all(p); }
};

} // namespace

TEST(day_spend, days_are_utc_and_turn_at_midnight) {
  EXPECT_EQ(utc_day(dec7_noon), "2026-12-07");
  EXPECT_EQ(next_utc_day_ms(dec7_noon), 1796688000000); // 2026-12-08T00:00:00Z
  EXPECT_EQ(utc_day(next_utc_day_ms(dec7_noon) - 1), "2026-12-07");
  EXPECT_EQ(utc_day(next_utc_day_ms(dec7_noon)), "2026-12-08");
  // The first moment of a day belongs to it; the next day starts a day on.
  EXPECT_EQ(next_utc_day_ms(1796688000000), 1796688000000 + 86'400'000);
}

TEST(day_spend, the_cap_holds_until_the_day_turns_and_only_on_its_day) {
  day_spend today{"2026-12-07", 0.5, 3};
  EXPECT_FALSE(day_cap_holds_until(today, 0, dec7_noon)); // no cap
  EXPECT_FALSE(day_cap_holds_until(today, 0.6, dec7_noon));
  EXPECT_EQ(day_cap_holds_until(today, 0.5, dec7_noon), 1796688000000);
  EXPECT_EQ(day_cap_holds_until(today, 0.4, dec7_noon), 1796688000000);
  // Yesterday's spend does not hold today.
  EXPECT_FALSE(day_cap_holds_until(today, 0.4, 1796688000000));
}

TEST(day_spend, bookings_add_up_in_the_file_from_several_threads) {
  temp_root root;
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i)
    ts.emplace_back([&] {
      for (int k = 0; k < 25; ++k) {
        std::string err;
        book_day_spend(root.p.string(), "2026-12-07", 0.01, err);
        EXPECT_EQ(err, "");
      }
    });
  for (auto& t : ts)
    t.join();
  auto d = read_day_spend(root.p.string(), "2026-12-07");
  EXPECT_EQ(d.runs, 100);
  EXPECT_NEAR(d.usd, 1.0, 1e-9);
  EXPECT_EQ(read_day_spend(root.p.string(), "2026-12-08").usd, 0.0);
}

TEST(day_spend, a_torn_or_foreign_file_reads_as_nothing_spent) {
  temp_root root;
  std::filesystem::create_directories(root.p / "spend");
  std::ofstream(day_spend_path(root.p.string(), "2026-12-07")) << "{\"usd\": ";
  EXPECT_EQ(read_day_spend(root.p.string(), "2026-12-07").usd, 0.0);
  std::ofstream(day_spend_path(root.p.string(), "2026-12-07")) << "{\"usd\": -3, \"runs\": \"x\"}";
  auto d = read_day_spend(root.p.string(), "2026-12-07");
  EXPECT_EQ(d.usd, 0.0);
  EXPECT_EQ(d.runs, 0);
}
