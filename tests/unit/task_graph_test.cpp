#include "core/task_graph.hpp"

#include <gtest/gtest.h>

using namespace troupe;

namespace {

task mk(std::string id, std::vector<std::string> deps = {},
        priority p = priority::medium) {
  task t;
  t.task_id = std::move(id);
  t.worker = "w";
  t.description = "d";
  t.dependencies = std::move(deps);
  t.prio = p;
  return t;
}

} // namespace

TEST(task_graph, diamond_releases_join_only_after_both_branches) {
  std::vector<task> ts{mk("a"), mk("b", {"a"}), mk("c", {"a"}),
                       mk("d", {"b", "c"})};
  task_graph g{ts};
  EXPECT_EQ(g.take_initial(), (std::vector<size_t>{0}));
  EXPECT_EQ(g.complete(0), (std::vector<size_t>{1, 2}));
  EXPECT_TRUE(g.complete(1).empty()); // d still waits for c
  EXPECT_EQ(g.complete(2), (std::vector<size_t>{3}));
  EXPECT_FALSE(g.done());
  g.complete(3);
  EXPECT_TRUE(g.done());
}

TEST(task_graph, a_slow_branch_never_holds_back_an_unrelated_one) {
  // a -> b and x -> y: y is ready as soon as x completes, whatever a does.
  std::vector<task> ts{mk("a"), mk("b", {"a"}), mk("x"), mk("y", {"x"})};
  task_graph g{ts};
  EXPECT_EQ(g.take_initial(), (std::vector<size_t>{0, 2}));
  EXPECT_EQ(g.complete(2), (std::vector<size_t>{3}));
}

TEST(task_graph, high_priority_first_then_file_order) {
  std::vector<task> ts{mk("l", {}, priority::low), mk("m1"),
                       mk("h", {}, priority::high), mk("m2")};
  task_graph g{ts};
  EXPECT_EQ(g.take_initial(), (std::vector<size_t>{2, 1, 3, 0}));
}

TEST(task_graph, failure_dooms_transitive_dependents_only) {
  std::vector<task> ts{mk("a"), mk("b", {"a"}), mk("c", {"b"}), mk("x"),
                       mk("y", {"x", "b"})};
  task_graph g{ts};
  g.take_initial();
  g.complete(0);
  auto doomed = g.fail(1);
  EXPECT_EQ(doomed, (std::vector<size_t>{2, 4}));
  EXPECT_EQ(g.state(3), task_graph::node_state::released);
  EXPECT_TRUE(g.complete(3).empty()); // y already failed
  EXPECT_TRUE(g.done());
}

TEST(task_graph, repeated_completion_is_ignored) {
  std::vector<task> ts{mk("a"), mk("b", {"a"})};
  task_graph g{ts};
  g.take_initial();
  EXPECT_EQ(g.complete(0).size(), 1u);
  EXPECT_TRUE(g.complete(0).empty());
  EXPECT_EQ(g.finished(), 1u);
}

// Open use: the file drop's tasks arrive one by one, with injected time.

namespace {
using namespace std::chrono_literals;
using strings = std::vector<std::string>;
using nodes = std::vector<task_graph::node>;
const task_graph::time_point t0{};
constexpr auto med = priority::medium;
} // namespace

TEST(task_graph_open, a_result_from_outside_releases_what_waited_for_it) {
  task_graph g;
  auto b = g.add("b", {"a"}, med, t0).n;
  auto c = g.add("c", {"a", "b", "a"}, priority::high, t0).n;
  EXPECT_TRUE(g.awaited("a"));
  EXPECT_TRUE(g.awaited("b"));
  // c waits for b as well: only b is ready.
  EXPECT_EQ(g.settle("a", true), (nodes{b}));
  EXPECT_FALSE(g.awaited("a"));
  EXPECT_EQ(g.state(c), task_graph::node_state::waiting);
  // b is taken out to run; c waits on for b's result.
  g.remove(b);
  EXPECT_TRUE(g.awaited("b"));
  EXPECT_EQ(g.settle("b", true), (nodes{c}));
  g.remove(c);
  EXPECT_EQ(g.size(), 0u);
}

TEST(task_graph_open, the_task_that_closes_a_cycle_names_it) {
  task_graph g;
  EXPECT_TRUE(g.add("a", {"b"}, med, t0).cycle.empty());
  EXPECT_TRUE(g.add("b", {"c", "x"}, med, t0).cycle.empty());
  auto cycle = g.add("c", {"a"}, med, t0).cycle;
  EXPECT_EQ(cycle, (strings{"c", "a", "b", "c"}));
  EXPECT_EQ(task_graph::describe(cycle), "c -> a -> b -> c");
  // A task that depends on itself is the shortest cycle.
  EXPECT_EQ(g.add("s", {"s"}, med, t0).cycle, (strings{"s", "s"}));
}

TEST(task_graph_open, a_long_chain_is_no_cycle_and_needs_no_recursion) {
  task_graph g;
  for (int i = 1; i < 20000; ++i)
    ASSERT_TRUE(g.add(std::to_string(i), {std::to_string(i - 1)}, med, t0)
                  .cycle.empty());
  EXPECT_EQ(g.add("0", {"19999"}, med, t0).cycle.size(), 20001u);
}

TEST(task_graph_open, a_failure_dooms_a_long_chain_breadth_first) {
  // 0 <- 1 <- ... <- 99999, and y waits for x and 1: all fail with 0,
  // without recursion, each after the one that dooms it.
  task_graph g;
  std::vector<task_graph::node> chain;
  for (int i = 1; i < 100000; ++i)
    chain.push_back(g.add(std::to_string(i), {std::to_string(i - 1)}, med, t0).n);
  auto y = g.add("y", {"x", "1"}, med, t0).n;
  auto doomed = g.settle("0", false);
  ASSERT_EQ(doomed.size(), chain.size() + 1);
  EXPECT_EQ(doomed[0], chain[0]);
  EXPECT_EQ(doomed[1], chain[1]);
  EXPECT_EQ(doomed[2], y);
  EXPECT_EQ(doomed.back(), chain.back());
  // y no longer waits for x either.
  EXPECT_FALSE(g.awaited("x"));
  for (auto n : doomed)
    g.remove(n);
  EXPECT_EQ(g.size(), 0u);
}

TEST(task_graph_open, only_a_dependency_no_task_here_provides_is_overdue) {
  task_graph g;
  auto b = g.add("b", {"a"}, med, t0).n;       // a: no task here
  auto c = g.add("c", {"b"}, med, t0 + 5s).n;  // b: waits here, not overdue
  EXPECT_EQ(g.next_check(10s), t0 + 10s);
  EXPECT_TRUE(g.overdue(t0 + 9s, 10s).empty());
  using pairs = std::vector<std::pair<task_graph::node, std::string>>;
  EXPECT_EQ(g.overdue(t0 + 20s, 10s), (pairs{{b, "a"}}));
  // Looked at again, b keeps its waiting time.
  auto since = g.since(b);
  g.remove(b);
  b = g.add("b", {"a"}, med, since).n;
  EXPECT_EQ(g.overdue(t0 + 20s, 10s), (pairs{{b, "a"}}));
  g.remove(b);
  // b gone, c now waits for a dependency no task here provides.
  EXPECT_EQ(g.overdue(t0 + 20s, 10s), (pairs{{c, "b"}}));
  g.remove(c);
  EXPECT_EQ(g.next_check(10s), task_graph::time_point::max());
}

TEST(task_graph_open, removed_slots_are_reused_and_waiters_move_on) {
  task_graph g;
  // Two tasks of one id (two workers' folders): the waiters stay when the
  // first is taken out, and any result for the id meets them.
  auto a1 = g.add("a", {"z"}, med, t0).n;
  auto a2 = g.add("a", {"z"}, med, t0).n;
  auto w = g.add("w", {"a"}, med, t0).n;
  g.remove(a1);
  EXPECT_TRUE(g.awaited("a"));
  g.remove(a2);
  EXPECT_TRUE(g.awaited("a")); // absent now, still awaited
  EXPECT_EQ(g.settle("a", true), (nodes{w}));
  g.remove(w);
  // A long serve holds only what waits.
  task_graph::node most = 0;
  for (int i = 0; i < 1000; ++i) {
    auto n = g.add("t" + std::to_string(i), {"q"}, med, t0).n;
    most = std::max(most, n);
    g.remove(n);
  }
  EXPECT_LT(most, 3u); // the three slots above, again and again
  EXPECT_EQ(g.size(), 0u);
  EXPECT_FALSE(g.awaited("q"));
  EXPECT_FALSE(g.awaited("z"));
}
