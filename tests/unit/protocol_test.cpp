// The TRP1 bodies (docs/PROTOCOL.md §3, §4), one test per row: each body
// survives its trip, and each field of the wrong type or out of range is
// refused with a reason that names it, never thrown.

#include "bridge/zmq/protocol.hpp"

#include <gtest/gtest.h>

using namespace troupe;
using namespace troupe::wire;

namespace {

template <class Body, class... Key>
std::string refused(const json& j, Key... key) {
  Body b;
  std::string err;
  EXPECT_FALSE(decode(j, b, err, key...)) << j.dump();
  return err;
}

} // namespace

TEST(protocol, every_command_has_one_name_both_ways) {
  for (auto c : {command::ready, command::task, command::tasks, command::result,
                 command::results, command::ack, command::event, command::permit,
                 command::grant, command::settle, command::cooldown, command::drain,
                 command::submit, command::accepted, command::status, command::cancel,
                 command::cancelled, command::report, command::heartbeat,
                 command::disconnect, command::error, command::calibrate})
    EXPECT_EQ(command_of(name(c)), c) << name(c);
  EXPECT_EQ(name(command::settle), "SETTLE");
  EXPECT_EQ(command_of("ready"), command::unknown); // ASCII capitals only
  EXPECT_EQ(command_of("\xff"), command::unknown);
  EXPECT_EQ(command_of(""), command::unknown);
}

TEST(protocol, a_peers_bytes_are_quoted_printable) {
  EXPECT_EQ(printable("READY"), "READY");
  EXPECT_EQ(printable("\xff\x01\\"), "\\xff\\x01\\x5c");
  EXPECT_EQ(printable(std::string(100, 'a')), std::string(64, 'a') + "...");
}

TEST(protocol, ready) {
  ready_body r;
  r.worker = "marie";
  r.slots = 4;
  r.node = "marie@h1";
  r.running = {41, 18446744073709551557ull};
  r.batch = true;
  ready_body back;
  std::string err;
  ASSERT_TRUE(decode(encode(r), back, err)) << err;
  EXPECT_EQ(back.worker, "marie");
  EXPECT_EQ(back.slots, 4);
  EXPECT_EQ(back.node, "marie@h1");
  EXPECT_EQ(back.running, r.running);
  EXPECT_TRUE(back.batch);
  EXPECT_TRUE(back.parked.empty());
  // Defaults: one slot, the node named after its worker.
  ready_body least;
  ASSERT_TRUE(decode(json{{"worker", "anga"}}, least, err));
  EXPECT_EQ(least.slots, 1);
  EXPECT_EQ(least.node, "anga");
  EXPECT_FALSE(least.batch);
}

TEST(protocol, ready_refuses_slots_out_of_range_and_wrong_types) {
  EXPECT_EQ(refused<ready_body>(json{{"worker", "marie"}, {"slots", "two"}}),
            "READY: slots \"two\": must be an integer from 1 to 1024");
  for (auto slots : {json(0), json(-1), json(4294967297ll), json(1e9), json(1.5)})
    EXPECT_NE(refused<ready_body>(json{{"worker", "marie"}, {"slots", slots}}).find("slots"),
              std::string::npos);
  EXPECT_EQ(refused<ready_body>(json::object()), "READY: worker: required");
  EXPECT_EQ(refused<ready_body>(json{{"worker", 5}}),
            "READY: worker 5: must be a non-empty string");
  EXPECT_EQ(refused<ready_body>(json{{"worker", "m"}, {"running", "41"}}),
            "READY: running \"41\": must be an array of decimal id strings");
  EXPECT_EQ(refused<ready_body>(json{{"worker", "m"}, {"running", {"41", "x"}}}),
            "READY: running \"x\": must hold decimal id strings only");
  EXPECT_EQ(refused<ready_body>(json{{"worker", "m"}, {"batch", "yes"}}),
            "READY: batch \"yes\": must be true or false");
  EXPECT_EQ(refused<ready_body>(json::array()), "READY: body: must be an object");
}

TEST(protocol, event) {
  event_body e{"running", "t1", ""};
  event_body back;
  std::string err;
  ASSERT_TRUE(decode(encode(e), back, err));
  EXPECT_EQ(back.kind, "running");
  EXPECT_EQ(back.task_id, "t1");
  EXPECT_EQ(refused<event_body>(json{{"kind", 5}}), "EVENT: kind 5: must be a string");
}

TEST(protocol, permit_and_grant) {
  permit_body p;
  p.id = 7;
  p.ask.model = "claude-sonnet-4";
  p.ask.prio = priority::high;
  p.ask.input_tokens = 4000;
  p.ask.prefix_tokens = 3000;
  p.ask.output_tokens = 600;
  for (const char* key : {"ask", "permit"}) {
    permit_body back;
    std::string err;
    ASSERT_TRUE(decode(encode(p, key), back, err, key)) << err;
    EXPECT_EQ(back.id, 7u);
    EXPECT_EQ(back.ask.model, "claude-sonnet-4");
    EXPECT_EQ(back.ask.prio, priority::high);
    EXPECT_EQ(back.ask.input_tokens, 4000);
    EXPECT_EQ(back.ask.prefix_tokens, 3000);
    EXPECT_EQ(back.ask.output_tokens, 600);
  }
  // prefix_tokens is optional: a node that does not send it asks cold.
  permit_body old;
  std::string err;
  ASSERT_TRUE(decode(json{{"id", "8"}, {"ask", {{"input_tokens", 10}}}}, old, err, "ask"))
    << err;
  EXPECT_EQ(old.ask.prefix_tokens, 0);
  EXPECT_EQ(refused<permit_body>(json{{"ask", json::object()}}, "ask"),
            "PERMIT: id: required");
  EXPECT_EQ(refused<permit_body>(json{{"id", "7"}, {"ask", {{"prio", "urgent"}}}}, "ask"),
            "PERMIT: ask.prio \"urgent\": must be \"high\", \"medium\" or \"low\"");
  EXPECT_EQ(refused<permit_body>(json{{"id", "7"}, {"permit", {{"input_tokens", "x"}}}},
                                 "permit"),
            "GRANT: permit.input_tokens \"x\": must be a number >= 0");
  EXPECT_EQ(refused<permit_body>(json{{"id", 7.5}}, "ask"),
            "PERMIT: id 7.5: must be a decimal id string");
}

TEST(protocol, settle) {
  settle_body s;
  s.permit.id = 9;
  s.requests = 3;
  s.input_tokens = 3811;
  s.output_tokens = 512;
  settle_body back;
  std::string err;
  ASSERT_TRUE(decode(encode(s), back, err)) << err;
  EXPECT_EQ(back.permit.id, 9u);
  EXPECT_EQ(back.requests, 3);
  EXPECT_EQ(back.input_tokens, 3811);
  EXPECT_EQ(back.output_tokens, 512);
  EXPECT_EQ(refused<settle_body>(json{{"used", "x"}}), "SETTLE: used: must be an object");
  EXPECT_EQ(refused<settle_body>(json{{"used", {{"requests", -1}}}}),
            "SETTLE: used.requests -1: must be a number >= 0");
}

TEST(protocol, cooldown) {
  cooldown_body c{"claude-opus-4-1", 6000};
  cooldown_body back;
  std::string err;
  ASSERT_TRUE(decode(encode(c), back, err));
  EXPECT_EQ(back.model, "claude-opus-4-1");
  EXPECT_EQ(back.wait_ms, 6000);
  EXPECT_EQ(refused<cooldown_body>(json{{"wait_ms", "x"}}),
            "COOLDOWN: wait_ms \"x\": must be an integer from 0 to 86400000");
  EXPECT_FALSE(refused<cooldown_body>(json{{"wait_ms", -5}}).empty());
  // The account parked on a 7-day window: longer than any retry-after.
  cooldown_body week{every_model, 6 * 86'400'000LL};
  ASSERT_TRUE(decode(encode(week), back, err)) << err;
  EXPECT_EQ(back.wait_ms, week.wait_ms);
  EXPECT_FALSE(refused<cooldown_body>(json{{"model", "claude-opus-4-1"},
                                           {"wait_ms", 6 * 86'400'000LL}}).empty());
}

TEST(protocol, calibrate_carries_what_remains) {
  calibrate_body c{"claude-sonnet-4-5", -1, 4000, 0};
  calibrate_body back;
  std::string err;
  ASSERT_TRUE(decode(encode(c), back, err)) << err;
  EXPECT_EQ(back.model, "claude-sonnet-4-5");
  EXPECT_EQ(back.requests, -1); // not sent stays unknown
  EXPECT_EQ(back.input_tokens, 4000);
  EXPECT_EQ(back.output_tokens, 0);
  EXPECT_EQ(refused<calibrate_body>(json{{"left", 3}}), "CALIBRATE: left: must be an object");
  EXPECT_FALSE(refused<calibrate_body>(json{{"left", {{"input_tokens", -2}}}}).empty());
}

TEST(protocol, ack_takes_tickets_or_one_ticket) {
  ack_body a{{42, 43}};
  ack_body back;
  std::string err;
  ASSERT_TRUE(decode(encode(a), back, err));
  EXPECT_EQ(back.tickets, (std::vector<uint64_t>{42, 43}));
  ack_body one;
  ASSERT_TRUE(decode(json{{"ticket", "42"}}, one, err));
  EXPECT_EQ(one.tickets, (std::vector<uint64_t>{42}));
  EXPECT_FALSE(refused<ack_body>(json{{"tickets", 42}}).empty());
}

TEST(protocol, drain_disconnect_and_error_carry_a_reason) {
  reason_body r;
  std::string err;
  ASSERT_TRUE(decode(encode(reason_body{"stopping"}), r, err));
  EXPECT_EQ(r.reason, "stopping");
  EXPECT_EQ(refused<reason_body>(json{{"reason", 1}}), "reason 1: must be a string");
}

TEST(protocol, submit_takes_a_task_or_a_workflow_never_both) {
  submit_body s;
  std::string err;
  json task = {{"task", {{"task_id", "t1"}}}};
  ASSERT_TRUE(decode(task, s, err));
  ASSERT_NE(s.task, nullptr);
  EXPECT_EQ(s.workflow, nullptr);
  EXPECT_FALSE(s.wait); // PROTOCOL.md §4: the default
  json both = {{"task", json::object()}, {"workflow", json::object()}};
  EXPECT_EQ(refused<submit_body>(both), "SUBMIT: give \"task\" or \"workflow\", not both");
  EXPECT_EQ(refused<submit_body>(json::object()), "SUBMIT: needs \"task\" or \"workflow\"");
  EXPECT_EQ(refused<submit_body>(json{{"task", json::object()}, {"wait", "yes"}}),
            "SUBMIT: wait \"yes\": must be true or false");
}

TEST(protocol, result_and_cancel_name_a_task) {
  task_ref r;
  std::string err;
  ASSERT_TRUE(decode(json{{"worker", "marie"}, {"task_id", "t1"}}, r, err));
  EXPECT_EQ(r.worker, "marie");
  EXPECT_EQ(r.task_id, "t1");
  EXPECT_EQ(refused<task_ref>(json{{"worker", 5}, {"task_id", "t1"}}),
            "worker 5: must be a non-empty string");
  EXPECT_EQ(refused<task_ref>(json{{"worker", "marie"}, {"task_id", 7}}),
            "task_id 7: must be a non-empty string");
}

TEST(protocol, ids_travel_as_decimal_strings) {
  EXPECT_EQ(id_value(json("18446744073709551615")), 18446744073709551615ull);
  EXPECT_FALSE(id_value(json("")));
  EXPECT_FALSE(id_value(json("-1")));
  EXPECT_FALSE(id_value(json("18446744073709551616"))); // overflows
  EXPECT_FALSE(id_value(json(-1)));
}
