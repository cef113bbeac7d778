// The producer endpoint's decisions (PROTOCOL.md §4) without sockets: real
// files in a temporary root, injected time, the answers as a list.

#include "bridge/zmq/producer_desk.hpp"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

#include "core/outcome.hpp"

using namespace troupe;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using wire::command;

namespace {

const producer_desk::time_point t0{};
const producer_desk::envelope alice{"alice"}, bob{"bob", ""};

class producer_desk_test : public ::testing::Test {
protected:
  void SetUp() override {
    root = fs::temp_directory_path()
           / ("troupe-desk-" + std::to_string(::getpid()) + "-"
              + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root);
    drop = std::make_unique<fs_queue>(root.string(), std::vector<std::string>{"marie", "anga"},
                                      1u << 20);
    ASSERT_EQ(drop->prepare(), "");
    desk = std::make_unique<producer_desk>(
      producer_desk::settings{root.string(), {"marie", "anga"}, {}, 600});
  }
  void TearDown() override { fs::remove_all(root); }

  std::vector<producer_desk::answer> say(const producer_desk::envelope& from,
                                         const std::string& cmd, json body,
                                         producer_desk::time_point now = t0) {
    producer_desk::nodes_view nodes{[](json& s) { s["nodes"] = json::array(); },
                                    [](const std::string& w) { return w == "marie" ? 2u : 0u; }};
    desk->on_message(from, wire::message{cmd, std::move(body)}, now, nodes);
    return desk->take();
  }

  /// What the file drop does once a task ran: claim, write the result.
  void finish(const std::string& worker, const std::string& id, status st,
              producer_desk::time_point now, double cost_usd = 0) {
    ASSERT_TRUE(drop->claim(worker, id + ".json"));
    task t;
    t.task_id = id;
    t.worker = worker;
    auto r = st == status::complete ? result{} : make_failure(t, st, kind::crashed, "boom");
    r.task_id = id;
    r.worker = worker;
    r.state = st;
    r.cost_usd = cost_usd;
    ASSERT_EQ(drop->complete(id + ".json", r), "");
    desk->result_written(r, now);
  }

  static json task_json(const std::string& id, const std::string& worker = "marie") {
    return {{"task_id", id}, {"worker", worker}, {"description", "do " + id}};
  }

  fs::path root;
  std::unique_ptr<fs_queue> drop;
  std::unique_ptr<producer_desk> desk;
};

} // namespace

TEST_F(producer_desk_test, a_task_is_written_compact_and_a_waiting_producer_told) {
  auto out = say(alice, "SUBMIT", {{"task", task_json("t1")}, {"wait", true}});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].to, alice);
  EXPECT_EQ(out[0].cmd, command::accepted);
  EXPECT_EQ(out[0].body, (json{{"task_id", "t1"}, {"worker", "marie"}, {"existing", false},
                               {"nodes", 2}}));
  std::ifstream in{root / "tasks/marie/t1.json"};
  std::string text{std::istreambuf_iterator<char>(in), {}};
  EXPECT_EQ(text.find('\n'), text.size() - 1) << "one line: compact";
  // The same id again, while it waits: nothing more is written.
  EXPECT_EQ(say(bob, "SUBMIT", {{"task", task_json("t1")}})[0].cmd, command::accepted);
  finish("marie", "t1", status::complete, t0 + 1s);
  out = desk->take();
  ASSERT_EQ(out.size(), 1u) << "bob did not ask to wait";
  EXPECT_EQ(out[0].to, alice);
  EXPECT_EQ(out[0].cmd, command::result);
  EXPECT_EQ(out[0].body["result"]["task_id"], "t1");
  // Once there is a result, a submission is a no-op that says so.
  out = say(bob, "SUBMIT", {{"task", task_json("t1")}, {"wait", true}});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].body["existing"], true);
  EXPECT_EQ(out[1].cmd, command::result);
}

TEST_F(producer_desk_test, the_size_limit_is_measured_on_what_arrived) {
  // 600 bytes at most. Pretty-printed, this task would be well over that.
  json t = task_json("deep");
  json deep = 1;
  for (int i = 0; i < 24; ++i)
    deep = json{{"a", deep}};
  t["context"] = deep;
  ASSERT_GT(t.dump(2).size(), 600u);
  ASSERT_LT(t.dump().size(), 600u);
  EXPECT_EQ(say(alice, "SUBMIT", {{"task", t}})[0].cmd, command::accepted);
  t["task_id"] = "big";
  t["description"] = std::string(700, 'x');
  auto out = say(alice, "SUBMIT", {{"task", t}});
  ASSERT_EQ(out[0].cmd, command::error);
  EXPECT_NE(out[0].body["reason"].get<std::string>().find("more than the limit of 600"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(root / "tasks/marie/big.json"));
}

TEST_F(producer_desk_test, a_refused_task_says_every_problem_in_its_reason) {
  auto t = task_json("self", "fabien");
  t["dependencies"] = {"self"};
  auto out = say(alice, "SUBMIT", {{"task", t}});
  ASSERT_EQ(out[0].cmd, command::error);
  EXPECT_EQ(out[0].body["reason"],
            "task refused: worker \"fabien\": not configured; dependencies: self depends on itself");
  EXPECT_EQ(out[0].body["problems"].size(), 2u);
  EXPECT_EQ(say(alice, "SUBMIT", {{"task", t}, {"workflow", {}}})[0].body["reason"],
            "SUBMIT: give \"task\" or \"workflow\", not both");
}

TEST_F(producer_desk_test, a_workflow_reports_once_every_task_has_a_result) {
  json wf = {{"name", "two"},
             {"tasks", {task_json("w1"), task_json("w2", "anga")}}};
  wf["tasks"][1]["dependencies"] = {"w1"};
  auto out = say(alice, "SUBMIT", {{"workflow", wf}, {"wait", true}});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].cmd, command::accepted);
  auto run_id = out[0].body["run_id"].get<std::string>();
  EXPECT_EQ(run_id.rfind("wire-", 0), 0u);
  EXPECT_EQ(out[0].body["tasks"], (json{"w1", "w2"}));
  EXPECT_EQ(out[0].body["unserved"], (json{"anga"})); // no node of anga: its task waits
  EXPECT_EQ(desk->open_runs(), 1u);
  finish("marie", "w1", status::complete, t0 + 1s);
  EXPECT_TRUE(desk->take().empty());
  finish("anga", "w2", status::failed, t0 + 3s);
  out = desk->take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].cmd, command::report);
  EXPECT_EQ(out[0].body["status"], "failed");
  auto& report = out[0].body["report"];
  EXPECT_EQ(report["duration_ms"], 3000);
  EXPECT_EQ(report["counts"]["complete"], 1);
  EXPECT_EQ(report["counts"]["failed"], 1);
  EXPECT_TRUE(fs::exists(root / "runs" / run_id / "report.json"));
  EXPECT_TRUE(fs::exists(root / "runs" / run_id / "report.md"));
  EXPECT_EQ(desk->open_runs(), 0u);
}

TEST_F(producer_desk_test, a_workflow_is_written_all_or_nothing) {
  json wf = {{"name", "w"}, {"tasks", {task_json("ok"), task_json("huge")}}};
  wf["tasks"][1]["description"] = std::string(700, 'x');
  auto out = say(alice, "SUBMIT", {{"workflow", wf}});
  ASSERT_EQ(out[0].cmd, command::error);
  EXPECT_FALSE(fs::exists(root / "tasks/marie/ok.json"));
  EXPECT_EQ(desk->open_runs(), 0u);
  // Refused by the checks of `validate`, with every problem.
  json cyc = {{"name", "c"}, {"tasks", {task_json("a"), task_json("b")}}};
  cyc["tasks"][0]["dependencies"] = {"b"};
  cyc["tasks"][1]["dependencies"] = {"a"};
  out = say(alice, "SUBMIT", {{"workflow", cyc}});
  EXPECT_NE(out[0].body["reason"].get<std::string>().find("workflow refused: dependency cycle"),
            std::string::npos);
}

TEST_F(producer_desk_test, a_workflow_budget_is_reserved_task_by_task_as_they_become_ready) {
  auto b2 = task_json("b2");
  b2["dependencies"] = {"b1"};
  auto b3 = task_json("b3");
  b3["dependencies"] = {"b1"};
  json wf = {{"name", "w"}, {"budget_usd", 0.3}, {"tasks", {task_json("b1"), b2, b3}}};
  auto out = say(alice, "SUBMIT", {{"workflow", wf}, {"wait", true}});
  ASSERT_EQ(out[0].cmd, command::accepted);
  // Only b1 is ready: it goes into tasks/ with a third of the budget.
  auto read_task = [&](const char* id) {
    std::ifstream in(root / "tasks/marie" / (std::string{id} + ".json"));
    return json::parse(in);
  };
  ASSERT_TRUE(fs::exists(root / "tasks/marie/b1.json"));
  EXPECT_FALSE(fs::exists(root / "tasks/marie/b2.json"));
  EXPECT_NEAR(read_task("b1")["budget_usd"].get<double>(), 0.1, 1e-12);
  // It spent 0.02: the 0.08 it did not spend comes back, and b2 and b3
  // share the 0.28 left.
  finish("marie", "b1", status::complete, t0, 0.02);
  EXPECT_NEAR(read_task("b2")["budget_usd"].get<double>(), 0.14, 1e-12);
  EXPECT_NEAR(read_task("b3")["budget_usd"].get<double>(), 0.14, 1e-12);
}

TEST_F(producer_desk_test, a_waiting_task_is_cancelled_and_its_waiters_hear_it) {
  say(alice, "SUBMIT", {{"task", task_json("c1")}, {"wait", true}});
  auto out = say(bob, "CANCEL", {{"worker", "marie"}, {"task_id", "c1"}});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].to, bob);
  EXPECT_EQ(out[0].cmd, command::cancelled);
  EXPECT_EQ(out[0].body["was"], "waiting");
  EXPECT_EQ(out[1].to, alice);
  EXPECT_EQ(out[1].body["result"]["status"], "cancelled");
  out = say(bob, "CANCEL", {{"worker", "marie"}, {"task_id", "c1"}});
  EXPECT_EQ(out[0].cmd, command::error);
  EXPECT_EQ(say(bob, "CANCEL", {{"worker", "marie"}, {"task_id", 7}})[0].body["reason"],
            "CANCEL: task_id 7: must be a non-empty string");
}

TEST_F(producer_desk_test, status_result_and_heartbeat_answer_in_place) {
  auto out = say(bob, "STATUS", json::object());
  ASSERT_EQ(out[0].cmd, command::status);
  EXPECT_FALSE(out[0].body.contains("root"));
  EXPECT_TRUE(out[0].body["nodes"].is_array()); // from add_nodes
  EXPECT_TRUE(out[0].body["workers"].contains("marie"));
  EXPECT_EQ(say(bob, "RESULT", {{"worker", "marie"}, {"task_id", "none"}})[0].body["reason"],
            "no result for marie/none");
  EXPECT_EQ(say(bob, "HEARTBEAT", json::object())[0].cmd, command::heartbeat);
  EXPECT_EQ(say(bob, "NOPE", json::object())[0].body["reason"], "unknown command \"NOPE\"");
}

TEST_F(producer_desk_test, a_workflow_to_synthesize_is_reported_once_its_answer_is_written) {
  desk = std::make_unique<producer_desk>(
    producer_desk::settings{root.string(), {"marie", "anga"}, {}, 600, 0, true});
  json wf = {{"name", "w"}, {"synthesize", true}, {"budget_usd", 0.5}, {"tasks", {task_json("s1")}}};
  auto out = say(alice, "SUBMIT", {{"workflow", wf}, {"wait", true}});
  ASSERT_EQ(out[0].cmd, command::accepted);
  EXPECT_FALSE(out[0].body.contains("notes")); // it will be answered
  auto run_id = out[0].body["run_id"].get<std::string>();
  finish("marie", "s1", status::complete, t0, 0.1);
  EXPECT_TRUE(desk->take().empty()); // no REPORT before the answer
  auto asks = desk->take_syntheses();
  ASSERT_EQ(asks.size(), 1u);
  EXPECT_EQ(asks[0].run_id, run_id);
  EXPECT_EQ(asks[0].summary.results.size(), 1u);
  ASSERT_TRUE(asks[0].budget_left);
  EXPECT_NEAR(*asks[0].budget_left, 0.4, 1e-12); // what the task left
  desk->synthesized(run_id, std::string{"# The answer"}, "", 0.02);
  out = desk->take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].cmd, command::report);
  EXPECT_EQ(out[0].body["report"]["answer"], "# The answer");
  std::ifstream md(root / "runs" / run_id / "report.md");
  std::string first;
  std::getline(md, first);
  EXPECT_EQ(first, "# The answer");
}

TEST_F(producer_desk_test, without_an_llm_a_workflow_to_synthesize_is_told_so) {
  json wf = {{"name", "w"}, {"tasks", {task_json("n1")}}};
  auto out = say(alice, "SUBMIT", {{"workflow", wf}});
  ASSERT_EQ(out[0].cmd, command::accepted);
  ASSERT_TRUE(out[0].body.contains("notes"));
  EXPECT_NE(out[0].body["notes"][0].get<std::string>().find("the REPORT is the answer"),
            std::string::npos);
}
