#include "core/resume.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/json_codec.hpp"

using namespace troupe;

namespace {

task mk(std::string id, std::vector<std::string> deps = {}, std::string text = "do it") {
  task t;
  t.task_id = std::move(id);
  t.worker = "marie";
  t.description = std::move(text);
  t.dependencies = std::move(deps);
  return t;
}

workflow chain() { // a -> b -> c, and d alone
  workflow wf;
  wf.tasks = {mk("a"), mk("b", {"a"}), mk("c", {"b"}), mk("d")};
  return wf;
}

std::map<std::string, std::string> all_complete(const workflow& wf) {
  std::map<std::string, std::string> m;
  for (auto& t : wf.tasks)
    m[t.task_id] = task_digest(t);
  return m;
}

} // namespace

TEST(resume, the_same_complete_tasks_are_not_run_again) {
  auto wf = chain();
  EXPECT_EQ(reusable_tasks(wf, all_complete(wf)), (std::vector<std::string>{"a", "b", "c", "d"}));
  auto done = all_complete(wf);
  done.erase("c"); // interrupted before c ended
  EXPECT_EQ(reusable_tasks(wf, done), (std::vector<std::string>{"a", "b", "d"}));
}

TEST(resume, a_changed_task_runs_again_and_so_does_all_it_reaches) {
  auto wf = chain();
  auto done = all_complete(wf);
  wf.tasks[1].description = "do it better"; // b
  EXPECT_EQ(reusable_tasks(wf, done), (std::vector<std::string>{"a", "d"}));
  // The digest covers the worker, the context and the dependencies too.
  auto t = mk("x");
  auto d = task_digest(t);
  t.context["k"] = 1;
  EXPECT_NE(task_digest(t), d);
}

TEST(resume, prior_results_reads_complete_results_that_say_what_they_answer) {
  char tmpl[] = "/tmp/troupe-resume-XXXXXX";
  std::string root = ::mkdtemp(tmpl);
  std::filesystem::create_directories(root + "/results/marie");
  auto wf = chain();
  auto write = [&](const task& t, const char* state, bool digest) {
    result r;
    r.task_id = t.task_id;
    r.worker = t.worker;
    r.state = std::string{state} == "complete" ? status::complete : status::failed;
    if (digest)
      r.extra = {{task_digest_key, task_digest(t)}};
    std::ofstream{root + "/results/marie/" + t.task_id + ".json"} << to_json(r).dump();
  };
  write(wf.tasks[0], "complete", true);
  write(wf.tasks[1], "failed", true);    // b runs again, so c does
  write(wf.tasks[2], "complete", true);
  write(wf.tasks[3], "complete", false); // from before digests: runs again
  auto prior = prior_results(wf, root);
  ASSERT_EQ(prior.size(), 1u);
  EXPECT_EQ(prior[0].task_id, "a");
  std::filesystem::remove_all(root);
}
