#include "core/workflow_check.hpp"

#include <gtest/gtest.h>

using namespace troupe;

namespace {

problems check(const std::string& tasks_json,
               std::set<std::string> workers = {"marie", "anga"}) {
  problems ps;
  auto w = workflow_from_json(
    json::parse(R"({"name": "t", "tasks": )" + tasks_json + "}"), ps);
  EXPECT_TRUE(w) << (ps.empty() ? "" : ps[0]);
  if (w)
    check_workflow(*w, workers, ps);
  return ps;
}

} // namespace

TEST(workflow_check, valid_dag_passes) {
  EXPECT_TRUE(check(R"([{"task_id": "a", "worker": "marie", "description": "x"},
    {"task_id": "b", "worker": "anga", "description": "x", "dependencies": ["a"]}])")
                .empty());
}

TEST(workflow_check, duplicate_ids) {
  auto ps = check(R"([{"task_id": "a", "worker": "marie", "description": "x"},
    {"task_id": "a", "worker": "marie", "description": "y"}])");
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0], "tasks[1].task_id \"a\": duplicate id (also tasks[0])");
}

TEST(workflow_check, unknown_worker) {
  auto ps = check(R"([{"task_id": "a", "worker": "zoe", "description": "x"}])");
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0], "tasks[0].worker \"zoe\": not a configured worker "
                   "(configured: anga, marie)");
}

TEST(workflow_check, missing_dependency) {
  auto ps = check(R"([{"task_id": "a", "worker": "marie", "description": "x",
    "dependencies": ["ghost"]}])");
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0], "tasks[0] \"a\": dependency \"ghost\" does not exist");
}

TEST(workflow_check, cycle_is_named) {
  auto ps = check(R"([{"task_id": "a", "worker": "marie", "description": "x", "dependencies": ["c"]},
    {"task_id": "b", "worker": "marie", "description": "x", "dependencies": ["a"]},
    {"task_id": "c", "worker": "marie", "description": "x", "dependencies": ["b"]}])");
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0], "dependency cycle: a -> c -> b -> a");
}

TEST(workflow_check, self_dependency) {
  auto ps = check(R"([{"task_id": "a", "worker": "marie", "description": "x",
    "dependencies": ["a"]}])");
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0], "tasks[0] \"a\": depends on itself");
}

TEST(workflow_check, size_and_depth_limits) {
  workflow w;
  w.name = "deep";
  for (int i = 0; i < 5; ++i) {
    task t;
    t.task_id = "t" + std::to_string(i);
    t.worker = "marie";
    t.description = "x";
    if (i > 0)
      t.dependencies = {"t" + std::to_string(i - 1)};
    w.tasks.push_back(t);
  }
  problems ps;
  EXPECT_FALSE(check_workflow(w, {"marie"}, ps, {4, 100}));
  EXPECT_EQ(ps.at(0), "tasks: 5 tasks, at most 4 allowed");
  ps.clear();
  EXPECT_FALSE(check_workflow(w, {"marie"}, ps, {100, 3}));
  EXPECT_EQ(ps.at(0), "tasks: dependency chain of depth 5, at most 3 allowed");
}
