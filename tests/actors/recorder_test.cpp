#define CAF_SUITE recorder

#include "actors/recorder.hpp"

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "caf/all.hpp"
#include "fixture.hpp"

using namespace troupe;
using namespace troupe::testing;
namespace fs = std::filesystem;

namespace {

using recorder_impl = caf::stateful_actor<recorder_state, recorder_actor::base>;

struct fixture : test_coordinator_fixture<test_config> {
  std::string root = (fs::temp_directory_path()
                      / ("troupe-recorder-" + std::to_string(::getpid())))
                       .string();
  std::vector<task_event> seen;
  recorder_actor rec;

  fixture() {
    fs::remove_all(root);
    recorder_settings cfg;
    cfg.root = root;
    cfg.on_event = [this](const task_event& e) { seen.push_back(e); };
    rec = sys.spawn(recorder, cfg);
    run();
  }

  ~fixture() {
    fs::remove_all(root);
  }

  void event(std::string run_id, std::string kind, std::string task_id) {
    self->send(rec, event_atom_v,
               task_event{std::move(run_id), std::move(kind),
                          std::move(task_id), "anga", {}});
    run();
  }

  size_t entries() {
    return deref<recorder_impl>(rec).state.run_of.size();
  }

  std::vector<std::string> log_lines(const std::string& run_id) {
    std::ifstream in{root + "/runs/" + run_id + "/events.jsonl"};
    std::vector<std::string> xs;
    for (std::string line; std::getline(in, line);)
      xs.push_back(line);
    return xs;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(recorder_tests, fixture)

CAF_TEST(worker events are filed under the run of their task) {
  event("run-1", "queued", "t1");
  event("", "running", "t1"); // workers do not know the run
  CAF_REQUIRE_EQUAL(seen.size(), 2u);
  CAF_CHECK_EQUAL(seen[1].run_id, "run-1");
  event("run-1", "complete", "t1");
  auto lines = log_lines("run-1");
  CAF_REQUIRE_EQUAL(lines.size(), 3u);
  CAF_CHECK(lines[1].find("\"event\":\"running\"") != std::string::npos);
  CAF_CHECK(lines[2].find("\"event\":\"complete\"") != std::string::npos);
}

CAF_TEST(a finished task leaves nothing behind in a long-running node) {
  for (int i = 0; i < 100; ++i) {
    auto id = "t" + std::to_string(i);
    event("session", "queued", id);
    event("", "running", id);
    // Every terminal status ends the task: complete, failed, cancelled...
    event("session", i % 3 == 0 ? "complete" : i % 3 == 1 ? "failed" : "cancelled",
          id);
  }
  CAF_CHECK_EQUAL(entries(), 0u);
  // A retry is not the end: the task keeps its run until its last event.
  event("session", "queued", "again");
  event("session", "retry", "again");
  event("", "running", "again");
  CAF_CHECK_EQUAL(seen.back().run_id, "session");
  CAF_CHECK_EQUAL(entries(), 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
