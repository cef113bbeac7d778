#include "core/event_ring.hpp"

#include <thread>

#include <gtest/gtest.h>

using namespace troupe;
using namespace std::chrono_literals;

namespace {
std::vector<uint64_t> ids(const event_batch& b) {
  std::vector<uint64_t> out;
  for (auto& e : b.events)
    out.push_back(e.id);
  return out;
}
} // namespace

TEST(event_ring, numbers_events_and_resumes_after_an_id) {
  event_ring r{10};
  for (int i = 0; i < 5; ++i)
    r.publish("e" + std::to_string(i));
  EXPECT_EQ(ids(r.after(0, 100)), (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(ids(r.after(3, 100)), (std::vector<uint64_t>{4, 5}));
  EXPECT_EQ(r.after(3, 100).events[0].text, "e3");
  EXPECT_TRUE(r.after(5, 100).events.empty());
  EXPECT_EQ(ids(r.after(0, 2)), (std::vector<uint64_t>{1, 2}));
}

TEST(event_ring, a_reader_too_far_behind_is_told_how_many_it_missed) {
  event_ring r{3};
  for (int i = 0; i < 10; ++i)
    r.publish("e");
  auto b = r.after(2, 100); // 3..7 are gone; 8, 9, 10 are kept
  EXPECT_EQ(b.missed, 5u);
  EXPECT_EQ(ids(b), (std::vector<uint64_t>{8, 9, 10}));
  EXPECT_EQ(r.after(7, 100).missed, 0u);
  EXPECT_EQ(r.after(0, 100).missed, 0u); // a new reader gets what is kept
}

TEST(event_ring, an_id_from_before_a_restart_starts_over) {
  event_ring r{10};
  r.publish("a");
  r.publish("b");
  EXPECT_EQ(ids(r.after(500, 100)), (std::vector<uint64_t>{1, 2}));
}

TEST(event_ring, a_waiting_reader_wakes_for_an_event_or_the_close) {
  event_ring r{10};
  std::thread writer{[&] { r.publish("x"); }};
  auto b = r.wait_after(0, 10, 10s);
  writer.join();
  ASSERT_EQ(b.events.size(), 1u);
  std::thread closer{[&] { r.close(); }};
  auto none = r.wait_after(1, 10, 10s);
  closer.join();
  EXPECT_TRUE(none.events.empty());
  EXPECT_TRUE(r.closed());
}
