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
    start({});
  }

  /// (Re)starts the recorder; `tweak` adjusts its settings.
  void start(std::function<void(recorder_settings&)> tweak) {
    if (rec)
      self->send_exit(rec, caf::exit_reason::user_shutdown);
    fs::remove_all(root);
    recorder_settings cfg;
    cfg.root = root;
    cfg.on_event = [this](const task_event& e) { seen.push_back(e); };
    if (tweak)
      tweak(cfg);
    rec = sys.spawn(recorder, cfg);
    run();
  }

  /// Queues tasks t0..t<n-1> in run "session", flushes; returns its folder.
  std::string queue_many(int n) {
    for (int i = 0; i < n; ++i)
      event("session", "queued", "t" + std::to_string(i));
    self->send(rec, flush_atom_v);
    run();
    return root + "/runs/session/";
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

  std::vector<std::string> log_lines(const std::string& run_id,
                                     const std::string& file = "events.jsonl") {
    std::ifstream in{root + "/runs/" + run_id + "/" + file};
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

CAF_TEST(a subscriber hears the events of its kind and no other) {
  self->send(rec, subscribe_atom_v, std::string{"running"},
             caf::actor_cast<caf::actor>(self));
  run();
  event("run-1", "queued", "t1");
  event("", "running", "t1");
  event("run-1", "complete", "t1");
  std::vector<task_event> heard;
  bool more = true;
  while (more)
    self->receive([&](event_atom, const task_event& e) { heard.push_back(e); },
                  caf::after(std::chrono::seconds(0)) >> [&] { more = false; });
  CAF_REQUIRE_EQUAL(heard.size(), 1u);
  CAF_CHECK_EQUAL(heard[0].kind, "running");
  CAF_CHECK_EQUAL(heard[0].task_id, "t1");
  CAF_CHECK_EQUAL(heard[0].run_id, "run-1"); // filed under its run, as logged
  CAF_CHECK_EQUAL(seen.size(), 3u);          // on_event still hears all
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

CAF_TEST(a growing event log is rotated and only the newest ones kept) {
  // One event line is about 90 bytes here: about five fit in 500.
  start([](recorder_settings& cfg) {
    cfg.log_max_bytes = 500;
    cfg.log_keep = 2;
  });
  auto dir = queue_many(40);
  CAF_CHECK(fs::exists(dir + "events.1.jsonl"));
  CAF_CHECK(fs::exists(dir + "events.2.jsonl"));
  CAF_CHECK(!fs::exists(dir + "events.3.jsonl"));
  for (auto file : {"events.jsonl", "events.1.jsonl", "events.2.jsonl"})
    CAF_CHECK_LESS_OR_EQUAL(fs::file_size(dir + file), 500u);
  // Whole lines, newest in events.jsonl, the runs of ids unbroken across
  // the files (no event lost or repeated at a rotation).
  std::vector<int> ids;
  for (auto file : {"events.2.jsonl", "events.1.jsonl", "events.jsonl"})
    for (auto& line : log_lines("session", file)) {
      auto j = json::parse(line);
      ids.push_back(std::stoi(j.at("task_id").get<std::string>().substr(1)));
    }
  CAF_REQUIRE(!ids.empty());
  CAF_CHECK_EQUAL(ids.back(), 39);
  for (size_t i = 1; i < ids.size(); ++i)
    CAF_CHECK_EQUAL(ids[i], ids[i - 1] + 1);
}

CAF_TEST(keep zero starts the event log over) {
  start([](recorder_settings& cfg) {
    cfg.log_max_bytes = 300;
    cfg.log_keep = 0;
  });
  auto dir = queue_many(20);
  CAF_CHECK(!fs::exists(dir + "events.1.jsonl"));
  auto lines = log_lines("session");
  CAF_REQUIRE(!lines.empty());
  CAF_CHECK_LESS_OR_EQUAL(fs::file_size(dir + "events.jsonl"), 300u);
  CAF_CHECK(lines.back().find("\"t19\"") != std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
