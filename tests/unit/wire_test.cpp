// TRP1 frames (docs/PROTOCOL.md §2) and the CURVE key files.

#include "bridge/zmq/wire.hpp"
#include "bridge/zmq/curve.hpp"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace troupe;
namespace fs = std::filesystem;

TEST(wire, a_message_is_three_frames_and_back) {
  wire::message m{"SUBMIT", {{"task", {{"task_id", "t1"}}}, {"wait", true}}};
  auto frames = wire::encode(m);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0], "TRP1");
  EXPECT_EQ(frames[1], "SUBMIT");
  std::string err;
  auto back = wire::decode(frames, err);
  ASSERT_TRUE(back) << err;
  EXPECT_EQ(back->cmd, "SUBMIT");
  EXPECT_EQ(back->body, m.body);
}

TEST(wire, bad_frames_are_refused_with_the_reason) {
  std::string err;
  EXPECT_FALSE(wire::decode({"TRP1", "STATUS"}, err));
  EXPECT_EQ(err, "expected 3 frames (TRP1, command, body), got 2");
  EXPECT_FALSE(wire::decode({"MDPC01", "STATUS", "{}"}, err));
  EXPECT_EQ(err, "unknown protocol \"MDPC01\" (expected TRP1)");
  EXPECT_FALSE(wire::decode({"TRP1", "STATUS", "[1]"}, err));
  EXPECT_EQ(err, "STATUS body: must be a JSON object");
  EXPECT_FALSE(wire::decode({"TRP1", "STATUS", "{\"a\":"}, err));
  EXPECT_EQ(err.rfind("STATUS body: not valid JSON", 0), 0u) << err;
  EXPECT_FALSE(wire::decode({"\xff", "STATUS", "{}"}, err));
  EXPECT_EQ(err, "unknown protocol \"\\xff\" (expected TRP1)");
}

TEST(wire, a_body_nested_too_deep_is_refused_unparsed) {
  std::string deep(100'000, '[');
  deep += std::string(100'000, ']');
  std::string err;
  EXPECT_FALSE(wire::decode({"TRP1", "SUBMIT", "{\"task\":" + deep + "}"}, err));
  EXPECT_EQ(err, "SUBMIT body: not valid JSON: nested deeper than 128 levels");
}

TEST(wire, bytes_that_are_not_utf8_are_replaced_when_sent_back) {
  // A reason quoting a peer's bytes must not throw while it is encoded.
  auto frames = wire::encode(wire::command::error, {{"reason", std::string{"\xff"}}});
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[1], "ERROR");
  EXPECT_EQ(frames[2], "{\"reason\":\"\xef\xbf\xbd\"}");
}

TEST(wire, ids_travel_as_decimal_strings_without_loss) {
  uint64_t big = 18446744073709551557ull; // beyond a double's 2^53
  EXPECT_EQ(wire::id_value(json(wire::id_text(big))), big);
  EXPECT_EQ(wire::id_value(json(42u)), 42u);
  EXPECT_FALSE(wire::id_value(json("12x")));
  EXPECT_FALSE(wire::id_value(json(nullptr)));
}

TEST(wire, a_permit_survives_the_trip) {
  permit_ask a;
  a.id = 9;
  a.worker = "marie";
  a.model = "claude-opus-4-1";
  a.prio = priority::high;
  a.requests = 2;
  a.input_tokens = 4000;
  a.output_tokens = 600;
  permit_ask b;
  problems ps;
  ASSERT_TRUE(wire::permit_from(wire::permit_json(a), b, ps, "permit"));
  EXPECT_TRUE(ps.empty());
  EXPECT_EQ(b.id, 9u);
  EXPECT_EQ(b.worker, "marie");
  EXPECT_EQ(b.model, "claude-opus-4-1");
  EXPECT_EQ(b.prio, priority::high);
  EXPECT_EQ(b.requests, 2);
  EXPECT_EQ(b.input_tokens, 4000);
  EXPECT_EQ(b.output_tokens, 600);
}

TEST(wire, a_batch_of_one_is_the_single_command) {
  wire::batch b{"RESULT", "RESULTS", "results"};
  EXPECT_TRUE(b.empty());
  json entry{{"ticket", "7"}, {"result", {{"task_id", "t7"}}}};
  EXPECT_FALSE(b.add(entry));
  std::string err;
  auto m = wire::decode(b.take(), err);
  ASSERT_TRUE(m) << err;
  EXPECT_EQ(m->cmd, "RESULT");
  EXPECT_EQ(m->body, entry);
  EXPECT_TRUE(b.empty());
}

TEST(wire, a_batch_carries_its_entries_in_order_and_starts_again_empty) {
  wire::batch b{"TASK", "TASKS", "tasks"};
  for (int i = 0; i < 3; ++i)
    b.add({{"ticket", std::to_string(i)}, {"task", {{"task_id", "t" + std::to_string(i)}}}});
  std::string err;
  auto m = wire::decode(b.take(), err);
  ASSERT_TRUE(m) << err;
  EXPECT_EQ(m->cmd, "TASKS");
  ASSERT_EQ(m->body["tasks"].size(), 3u);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(m->body["tasks"][i]["ticket"], std::to_string(i));
  b.add({{"ticket", "9"}});
  m = wire::decode(b.take(), err);
  ASSERT_TRUE(m) << err;
  EXPECT_EQ(m->cmd, "TASK");
  EXPECT_EQ(m->body["ticket"], "9");
}

TEST(wire, a_batch_is_full_at_its_entry_or_byte_limit) {
  wire::batch b{"TASK", "TASKS", "tasks"};
  for (size_t i = 1; i < wire::batch::max_entries; ++i)
    ASSERT_FALSE(b.add({{"ticket", std::to_string(i)}}));
  EXPECT_TRUE(b.add({{"ticket", "last"}}));
  b.take();
  // Two entries of half the byte limit fill it: a peer's message limit is
  // never approached, however large the tasks are.
  json big{{"ticket", "1"}, {"task", {{"description", std::string(wire::batch::max_bytes / 2, 'x')}}}};
  EXPECT_FALSE(b.add(big));
  EXPECT_TRUE(b.add(big));
  std::string err;
  auto m = wire::decode(b.take(), err);
  ASSERT_TRUE(m) << err;
  EXPECT_EQ(m->body["tasks"].size(), 2u);
}

TEST(wire, a_ticketed_entry_is_the_single_commands_body) {
  auto e = json::parse(wire::ticketed_entry(42, "result", R"({"task_id":"t"})"));
  EXPECT_EQ(e, json({{"ticket", "42"}, {"result", {{"task_id", "t"}}}}));
}

TEST(wire, entries_are_the_body_or_the_objects_of_its_batch) {
  wire::message one{"TASK", {{"ticket", "1"}}};
  auto xs = wire::entries(one, "TASKS", "tasks");
  ASSERT_EQ(xs.size(), 1u);
  EXPECT_EQ(xs[0], &one.body);
  wire::message many{"TASKS", {{"tasks", {{{"ticket", "1"}}, 7, {{"ticket", "2"}}}}}};
  xs = wire::entries(many, "TASKS", "tasks");
  ASSERT_EQ(xs.size(), 2u); // the 7 is left out
  EXPECT_EQ(xs[1]->at("ticket"), "2");
  wire::message none{"TASKS", {{"tasks", "not an array"}}};
  EXPECT_TRUE(wire::entries(none, "TASKS", "tasks").empty());
}

TEST(curve_keys, keygen_writes_a_private_secret_and_a_matching_public_key) {
  auto dir = fs::temp_directory_path() / ("troupe-keys-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  ASSERT_EQ(zmqx::keygen((dir / "marie").string()), "");
  struct stat st{};
  ASSERT_EQ(::stat((dir / "marie.secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string err;
  auto sec = zmqx::read_key((dir / "marie.secret").string(), true, err);
  auto pub = zmqx::read_key((dir / "marie.pub").string(), false, err);
  ASSERT_TRUE(sec && pub) << err;
  EXPECT_EQ(zmqx::public_of(*sec), *pub);
  auto allowed = zmqx::read_allow_list(dir.string(), err);
  ASSERT_TRUE(allowed) << err;
  EXPECT_EQ(*allowed, std::set<std::string>{*pub});
  ::chmod((dir / "marie.secret").c_str(), 0640);
  EXPECT_FALSE(zmqx::read_key((dir / "marie.secret").string(), true, err));
  EXPECT_NE(err.find("must not be readable by group or others"), std::string::npos);
  std::ofstream(dir / "bad.pub") << "not a key";
  EXPECT_FALSE(zmqx::read_allow_list(dir.string(), err));
  EXPECT_NE(err.find("not a Z85 CURVE key"), std::string::npos);
  fs::remove_all(dir);
}
