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
