// The book of dropped tasks waiting for dependencies: cycles and
// dependencies nothing provides are found, with injected time.

#include "core/dependency_wait.hpp"

#include <gtest/gtest.h>

using namespace troupe;
using namespace std::chrono_literals;
using strings = std::vector<std::string>;

namespace {
const dependency_wait::time_point t0{};
}

TEST(dependency_wait, a_dependency_that_arrives_wakes_its_waiters) {
  dependency_wait w;
  EXPECT_TRUE(w.add("marie/b.json", "b", {"a"}, t0).empty());
  EXPECT_TRUE(w.add("anga/c.json", "c", {"a", "b", "a"}, t0).empty());
  EXPECT_EQ(w.waiting_for("a"), (strings{"anga/c.json", "marie/b.json"}));
  EXPECT_EQ(w.waiting_for("b"), (strings{"anga/c.json"}));
  w.remove("marie/b.json");
  EXPECT_EQ(w.waiting_for("a"), (strings{"anga/c.json"}));
  w.remove("anga/c.json");
  EXPECT_TRUE(w.empty());
  EXPECT_TRUE(w.waiting_for("a").empty());
}

TEST(dependency_wait, the_task_that_closes_a_cycle_names_it) {
  dependency_wait w;
  EXPECT_TRUE(w.add("k/a", "a", {"b"}, t0).empty());
  EXPECT_TRUE(w.add("k/b", "b", {"c", "x"}, t0).empty());
  auto cycle = w.add("k/c", "c", {"a"}, t0);
  EXPECT_EQ(cycle, (strings{"c", "a", "b", "c"}));
  EXPECT_EQ(dependency_wait::describe(cycle), "c -> a -> b -> c");
  // A task that depends on itself is the shortest cycle.
  EXPECT_EQ(w.add("k/s", "s", {"s"}, t0), (strings{"s", "s"}));
}

TEST(dependency_wait, a_long_chain_is_no_cycle_and_needs_no_recursion) {
  dependency_wait w;
  for (int i = 1; i < 20000; ++i)
    ASSERT_TRUE(w.add("k/" + std::to_string(i), std::to_string(i),
                      {std::to_string(i - 1)}, t0)
                  .empty());
  EXPECT_EQ(w.add("k/0", "0", {"19999"}, t0).size(), 20001u);
}

TEST(dependency_wait, only_a_dependency_nothing_waiting_provides_is_overdue) {
  dependency_wait w;
  w.add("k/b", "b", {"a"}, t0);        // a: not waiting here
  w.add("k/c", "c", {"b"}, t0 + 5s);   // b: waiting here, not overdue
  EXPECT_EQ(w.next_check(10s), t0 + 10s);
  EXPECT_TRUE(w.overdue(t0 + 9s, 10s).empty());
  using pairs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(w.overdue(t0 + 20s, 10s), (pairs{{"k/b", "a"}}));
  // Added again (looked at again), it keeps its waiting time.
  w.add("k/b", "b", {"a"}, t0 + 20s);
  EXPECT_EQ(w.overdue(t0 + 20s, 10s), (pairs{{"k/b", "a"}}));
  w.remove("k/b");
  w.remove("k/c");
  EXPECT_EQ(w.next_check(10s), dependency_wait::time_point::max());
}
