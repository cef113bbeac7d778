// The worker endpoint's decisions (PROTOCOL.md §3, §5, §6) without sockets
// or actors: messages in with injected time, what to do out.

#include "bridge/zmq/worker_desk.hpp"

#include <gtest/gtest.h>

#include "core/outcome.hpp"

using namespace troupe;
using namespace std::chrono_literals;
using wire::command;

namespace {

const worker_desk::time_point t0{};

task mk(const std::string& id, const std::string& worker = "marie") {
  task t;
  t.task_id = id;
  t.worker = worker;
  t.description = "do " + id;
  return t;
}

struct worker_desk_test : ::testing::Test {
  worker_desk desk{{{"marie", "anga"}, "/nonexistent", 0}};

  worker_desk::effects say(const std::string& node, const std::string& cmd, json body,
                           worker_desk::time_point now = t0) {
    desk.on_message(node, wire::message{cmd, std::move(body)}, now);
    return desk.take();
  }

  worker_desk::effects result(const std::string& node, uint64_t ticket, json r,
                              worker_desk::time_point now = t0) {
    auto body = json{{"ticket", std::to_string(ticket)}, {"result", std::move(r)}}.dump();
    desk.on_results(node, "RESULT", body, now);
    return desk.take();
  }

  static json complete(const std::string& id) {
    return {{"task_id", id}, {"worker", "marie"}, {"status", "complete"}};
  }

  void ready(const std::string& node, int slots = 1, json running = json::array()) {
    auto fx = say(node, "READY", {{"worker", "marie"}, {"slots", slots},
                                  {"node", node}, {"running", running}});
    ASSERT_TRUE(fx.messages.empty()) << fx.messages[0].body.dump();
  }

  std::vector<std::string> sent() {
    std::vector<std::string> xs;
    for (auto& t : desk.take_tasks())
      xs.push_back(t.node + ":" + json::parse(t.entry)["task"]["task_id"].get<std::string>());
    return xs;
  }
};

} // namespace

TEST_F(worker_desk_test, a_ready_that_does_not_decode_registers_nothing) {
  auto fx = say("n1", "READY", {{"worker", "marie"}, {"slots", 0}});
  ASSERT_EQ(fx.messages.size(), 1u);
  EXPECT_EQ(fx.messages[0].cmd, command::error);
  EXPECT_EQ(fx.messages[0].body["reason"],
            "READY: slots 0: must be an integer from 1 to 1024");
  EXPECT_TRUE(desk.book().nodes().empty());
  fx = say("n1", "READY", {{"worker", "fabien"}});
  ASSERT_EQ(fx.messages.size(), 1u);
  EXPECT_EQ(fx.messages[0].cmd, command::disconnect);
  EXPECT_TRUE(desk.book().nodes().empty());
  // Anything else from a node we do not know: introduce yourself.
  fx = say("n1", "HEARTBEAT", json::object());
  ASSERT_EQ(fx.messages.size(), 1u);
  EXPECT_EQ(fx.messages[0].cmd, command::disconnect);
  EXPECT_EQ(fx.messages[0].body["reason"], "unknown node: send READY");
}

TEST_F(worker_desk_test, a_task_goes_to_a_ready_node_and_its_result_is_delivered_and_acked) {
  ready("n1");
  auto fx = desk.take();
  desk.submit(7, mk("a"), "");
  desk.submit(8, mk("b"), "");
  EXPECT_EQ(sent(), (std::vector<std::string>{"n1:a"}));
  fx = result("n1", 7, complete("a"));
  ASSERT_EQ(fx.deliveries.size(), 1u);
  EXPECT_EQ(fx.deliveries[0].ticket, 7u);
  EXPECT_EQ(json::parse(fx.deliveries[0].text)["status"], "complete");
  EXPECT_EQ(desk.take_acks(), (std::map<std::string, std::vector<std::string>>{{"n1", {"7"}}}));
  EXPECT_EQ(sent(), (std::vector<std::string>{"n1:b"})); // the freed slot
  // A duplicate is acknowledged and dropped.
  fx = result("n1", 7, complete("a"));
  EXPECT_TRUE(fx.deliveries.empty());
  EXPECT_EQ(desk.take_acks().at("n1"), std::vector<std::string>{"7"});
}

TEST_F(worker_desk_test, a_result_for_another_task_fails_the_attempt_as_crashed) {
  ready("n1");
  desk.take();
  desk.submit(7, mk("a"), "");
  sent();
  auto fx = result("n1", 7, complete("z"));
  ASSERT_EQ(fx.deliveries.size(), 1u);
  EXPECT_TRUE(fx.deliveries[0].text.empty());
  auto& r = fx.deliveries[0].r;
  EXPECT_EQ(r.task_id, "a");
  EXPECT_EQ(r.state, status::failed);
  EXPECT_EQ(r.error->kind, kind::crashed);
  EXPECT_EQ(r.error->message, "the worker node answered ticket 7 (a) with a result for z");
  EXPECT_EQ(desk.book().nodes().at("n1").running.size(), 0u); // the slot is free
}

TEST_F(worker_desk_test, bodies_of_the_wrong_type_are_refused_and_change_nothing) {
  ready("n1");
  desk.take();
  for (auto& [cmd, body] : std::vector<std::pair<std::string, json>>{
         {"EVENT", {{"kind", 5}}},
         {"COOLDOWN", {{"wait_ms", "x"}}},
         {"SETTLE", {{"used", "x"}}},
         {"PERMIT", {{"id", "1"}, {"ask", {{"prio", 3}}}}},
         {"DRAIN", {{"reason", 1}}},
         {"NOPE", json::object()}}) {
    auto fx = say("n1", cmd, body);
    ASSERT_EQ(fx.messages.size(), 1u) << cmd;
    EXPECT_EQ(fx.messages[0].cmd, command::error) << cmd;
    EXPECT_TRUE(fx.task_events.empty() && fx.cooldowns.empty() && fx.settles.empty()
                && fx.permit_asks.empty())
      << cmd;
  }
  EXPECT_FALSE(desk.book().nodes().at("n1").draining);
  desk.on_results("n1", "RESULTS", "{\"results\": [", t0);
  auto fx = desk.take();
  ASSERT_EQ(fx.messages.size(), 1u);
  EXPECT_EQ(fx.messages[0].cmd, command::error);
}

TEST_F(worker_desk_test, a_nodes_messages_go_to_the_limiter_and_recorder_as_its_worker) {
  ready("n1");
  desk.take();
  auto fx = say("n1", "PERMIT", {{"id", "3"}, {"ask", {{"worker", "anga"}, {"input_tokens", 10}}}});
  ASSERT_EQ(fx.permit_asks.size(), 1u);
  EXPECT_EQ(fx.permit_asks[0].ask.worker, "marie"); // a node speaks for its own worker
  EXPECT_EQ(fx.permit_asks[0].id, 3u);
  permit_ask p;
  p.id = 3;
  p.input_tokens = 10;
  desk.granted("n1", 3, p);
  fx = desk.take();
  ASSERT_EQ(fx.messages.size(), 1u);
  EXPECT_EQ(fx.messages[0].cmd, command::grant);
  fx = say("n1", "SETTLE", {{"permit", {{"id", "3"}}}, {"used", {{"input_tokens", 12}}}});
  ASSERT_EQ(fx.settles.size(), 1u);
  EXPECT_EQ(fx.settles[0].input_tokens, 12);
  fx = say("n1", "COOLDOWN", {{"model", "opus"}, {"wait_ms", 6000}});
  ASSERT_EQ(fx.cooldowns.size(), 1u);
  EXPECT_EQ(fx.cooldowns[0].wait_ms, 6000);
  fx = say("n1", "CALIBRATE", {{"model", "opus"}, {"left", {{"input_tokens", 900}}}});
  ASSERT_EQ(fx.calibrations.size(), 1u);
  EXPECT_EQ(fx.calibrations[0].input_tokens, 900);
  EXPECT_EQ(fx.calibrations[0].requests, -1);
  fx = say("n1", "EVENT", {{"kind", "running"}, {"task_id", "a"}});
  ASSERT_EQ(fx.task_events.size(), 1u);
  EXPECT_EQ(fx.task_events[0].worker, "marie");
  // A grant for a node that died meanwhile gives its room back.
  desk.granted("gone", 4, p);
  fx = desk.take();
  ASSERT_EQ(fx.settles.size(), 1u);
  EXPECT_EQ(fx.settles[0].input_tokens, 0);
  EXPECT_TRUE(fx.messages.empty());
}

TEST_F(worker_desk_test, a_silent_node_is_dropped_its_tasks_and_permits_given_back) {
  ready("n1");
  desk.take();
  desk.submit(7, mk("a"), "");
  sent();
  permit_ask p;
  p.id = 9;
  p.input_tokens = 500;
  desk.granted("n1", 9, p);
  desk.take();
  desk.beat(t0 + 2s, 3000ms); // not silent long enough
  auto fx = desk.take();
  EXPECT_EQ(fx.messages.size(), 1u); // its HEARTBEAT
  EXPECT_EQ(desk.book().nodes().size(), 1u);
  desk.beat(t0 + 4s, 3000ms);
  fx = desk.take();
  EXPECT_TRUE(desk.book().nodes().empty());
  ASSERT_EQ(fx.settles.size(), 1u);
  EXPECT_EQ(fx.settles[0].input_tokens, 500); // at its estimate
  ASSERT_EQ(fx.published_events.size(), 1u);
  EXPECT_EQ(fx.published_events[0].topic, "node.down");
  EXPECT_EQ(fx.published_events[0].body["requeued"], 1);
  ready("n2");
  EXPECT_EQ(sent(), (std::vector<std::string>{"n2:a"}));
}

TEST_F(worker_desk_test, after_our_restart_old_work_holds_its_slot_and_answers_its_task) {
  // The node still runs tickets 501 and 502 of the orchestrator before us.
  ready("n1", 2, {"501", "502"});
  desk.take();
  desk.submit(1, mk("a"), ""); // recovered from disk
  EXPECT_TRUE(sent().empty()) << "both slots are busy";
  auto fx = result("n1", 501, complete("a"));
  ASSERT_EQ(fx.deliveries.size(), 1u);
  EXPECT_EQ(fx.deliveries[0].ticket, 1u); // the recovered task's ticket
  EXPECT_TRUE(sent().empty()) << "nothing else is queued";
  // Old work whose task we have not recovered yet is kept for it.
  fx = result("n1", 502, complete("b"));
  EXPECT_TRUE(fx.deliveries.empty());
  desk.submit(2, mk("b"), "");
  fx = desk.take();
  ASSERT_EQ(fx.deliveries.size(), 1u);
  EXPECT_EQ(fx.deliveries[0].ticket, 2u);
  EXPECT_EQ(json::parse(fx.deliveries[0].text)["task_id"], "b");
  EXPECT_TRUE(sent().empty()) << "b is not run again";
}

TEST_F(worker_desk_test, once_stopping_queued_and_new_tasks_are_answered_unrun) {
  desk.submit(1, mk("a"), "");
  desk.stop();
  auto fx = desk.take();
  ASSERT_EQ(fx.deliveries.size(), 1u);
  EXPECT_TRUE(is_stopped_result(fx.deliveries[0].r));
  desk.submit(2, mk("b"), "");
  fx = desk.take();
  ASSERT_EQ(fx.deliveries.size(), 1u);
  EXPECT_TRUE(is_stopped_result(fx.deliveries[0].r));
  ready("n1");
  EXPECT_TRUE(sent().empty());
  desk.goodbye();
  fx = desk.take();
  ASSERT_EQ(fx.messages.size(), 1u);
  EXPECT_EQ(fx.messages[0].cmd, command::disconnect);
}
