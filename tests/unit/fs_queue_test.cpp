#include "bridge/files/fs_queue.hpp"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

using namespace troupe;
namespace fs = std::filesystem;

namespace {

class fs_queue_test : public ::testing::Test {
protected:
  void SetUp() override {
    root = fs::temp_directory_path()
           / ("troupe-fsq-" + std::to_string(::getpid()) + "-"
              + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root);
    q = std::make_unique<fs_queue>(root.string(), std::vector<std::string>{"marie", "anga"}, 4096);
    ASSERT_EQ(q->prepare(), "");
  }
  void TearDown() override { fs::remove_all(root); }

  void drop(const std::string& worker, const std::string& name,
            const std::string& body) {
    std::ofstream(root / "tasks" / worker / name) << body;
  }

  fs::path root;
  std::unique_ptr<fs_queue> q;
};

} // namespace

TEST_F(fs_queue_test, candidates_exclude_hidden_temp_and_editor_files) {
  EXPECT_TRUE(fs_queue::is_candidate("eval-001.json"));
  EXPECT_FALSE(fs_queue::is_candidate(".eval-001.json"));
  EXPECT_FALSE(fs_queue::is_candidate("eval-001.json.tmp"));
  EXPECT_FALSE(fs_queue::is_candidate("eval-001.json.swp"));
  EXPECT_FALSE(fs_queue::is_candidate("eval-001.json~"));
  EXPECT_FALSE(fs_queue::is_candidate("notes.txt"));
}

TEST_F(fs_queue_test, unparsable_young_file_is_not_ready_even_once_closed) {
  // `>` then `>>`: the first half is closed before the second comes.
  drop("marie", "a.json", R"({"task_id": "a", "wor)");
  auto o = q->read("marie", "a.json", false, 60000);
  EXPECT_EQ(o.state, fs_queue::read_state::not_ready);
  o = q->read("marie", "a.json", false, 0); // quiet long enough
  EXPECT_EQ(o.state, fs_queue::read_state::bad);
  drop("marie", "empty.json", "");
  EXPECT_EQ(q->read("marie", "empty.json", false, 60000).state,
            fs_queue::read_state::not_ready);
  EXPECT_EQ(q->read("marie", "gone.json", false, 0).state,
            fs_queue::read_state::vanished);
  // A claimed file is never still being written.
  drop("marie", "a.json", R"({"task_id": "a", "wor)");
  ASSERT_TRUE(q->claim("marie", "a.json"));
  EXPECT_EQ(q->read("marie", "a.json", true, 60000).state, fs_queue::read_state::bad);
}

TEST_F(fs_queue_test, checks_folder_name_and_size) {
  drop("marie", "b.json", R"({"task_id": "b", "worker": "anga", "description": "x"})");
  auto o = q->read("marie", "b.json", false, 0);
  EXPECT_EQ(o.state, fs_queue::read_state::bad);
  EXPECT_EQ(o.reason, "worker \"anga\": does not match the folder tasks/marie/");
  drop("marie", "c.json", R"({"task_id": "d", "worker": "marie", "description": "x"})");
  EXPECT_EQ(q->read("marie", "c.json", false, 0).reason,
            "task_id \"d\": the file must be named d.json");
  drop("marie", "big.json", std::string(5000, ' '));
  EXPECT_EQ(q->read("marie", "big.json", false, 0).reason,
            "file is 5000 bytes, more than the limit of 4096");
}

TEST_F(fs_queue_test, claim_complete_and_hand_back) {
  drop("marie", "t.json", R"({"task_id": "t", "worker": "marie", "description": "x"})");
  ASSERT_TRUE(q->claim("marie", "t.json"));
  EXPECT_FALSE(q->claim("marie", "t.json")); // already gone
  EXPECT_EQ(q->claimed("marie"), std::vector<std::string>{"t.json"});
  EXPECT_TRUE(q->pending("marie").empty());
  ASSERT_TRUE(q->hand_back("marie", "t.json"));
  EXPECT_EQ(q->pending("marie"), std::vector<std::string>{"t.json"});
  ASSERT_TRUE(q->claim("marie", "t.json"));
  result r;
  r.task_id = "t";
  r.worker = "marie";
  r.state = status::complete;
  EXPECT_EQ(q->complete("t.json", r), "");
  EXPECT_TRUE(q->claimed("marie").empty());
  auto back = q->find_result("t");
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->ok());
  EXPECT_FALSE(q->find_result("t", "anga"));
}

TEST_F(fs_queue_test, rejection_never_overwrites_a_real_result) {
  result r;
  r.task_id = "done";
  r.worker = "marie";
  r.state = status::complete;
  r.summary = "the real one";
  ASSERT_EQ(q->complete("", r), "");
  drop("marie", "done.json", "garbage");
  q->reject("marie", "done.json", "not valid JSON");
  EXPECT_EQ(q->find_result("done")->summary, "the real one");
  EXPECT_TRUE(fs::exists(root / "tasks/marie/.rejected/done.json"));
  drop("marie", "fresh.json", "garbage");
  q->reject("marie", "fresh.json", "not valid JSON");
  auto rej = q->find_result("fresh");
  ASSERT_TRUE(rej);
  EXPECT_EQ(rej->state, status::rejected);
  EXPECT_EQ(rej->error->message, "not valid JSON");
}

TEST_F(fs_queue_test, prepare_removes_crash_leftovers) {
  std::ofstream(root / "results/marie/.x.json.tmp.123.0") << "{";
  std::ofstream(root / "tasks/marie/.running/x") << "";
  ASSERT_EQ(q->prepare(), "");
  EXPECT_FALSE(fs::exists(root / "results/marie/.x.json.tmp.123.0"));
  EXPECT_FALSE(fs::exists(root / "tasks/marie/.running/x"));
}
