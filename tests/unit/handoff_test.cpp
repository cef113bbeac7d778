#include "core/handoff.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/artifacts.hpp"
#include "core/sha256.hpp"

namespace fs = std::filesystem;
using namespace troupe;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

/// Three roots, as in the compose topology: marie's node, the
/// orchestrator's and fabien's node.
struct nodes : ::testing::Test {
  fs::path base, marie, orch, fabien;

  void SetUp() override {
    base = fs::temp_directory_path()
           / ("troupe-handoff-" + std::to_string(::getpid()) + "-"
              + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(base);
    marie = base / "marie";
    orch = base / "orch";
    fabien = base / "fabien";
    for (auto& d : {marie / "workspaces/marie/notes", orch, fabien})
      fs::create_directories(d);
  }
  void TearDown() override { fs::remove_all(base); }

  /// A complete result of marie's that wrote `files` (name → content).
  result wrote(const std::vector<std::pair<std::string, std::string>>& files) {
    result r;
    r.task_id = "eval";
    r.worker = "marie";
    r.state = status::complete;
    std::vector<artifact_file> fs_;
    for (auto& [name, text] : files) {
      std::ofstream(marie / "workspaces/marie" / name, std::ios::binary) << text;
      fs_.push_back({"workspaces/marie/" + name, static_cast<int64_t>(text.size()),
                     sha256_hex(text), true});
      r.artifacts.push_back("workspaces/marie/" + name);
    }
    set_files(r, fs_);
    return r;
  }

  task dependent_of(const result& r) {
    task t;
    t.task_id = "poster";
    t.worker = "fabien";
    t.context["dependency_results"]["eval"] = {
      {"worker", r.worker}, {"artifacts", r.artifacts}};
    return t;
  }
};

} // namespace

TEST(base64, round_trips_every_padding) {
  for (std::string s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    auto e = base64_encode(s);
    EXPECT_EQ(e.size() % 4, 0u);
    auto d = base64_decode(e);
    ASSERT_TRUE(d) << e;
    EXPECT_EQ(*d, s);
  }
  EXPECT_EQ(base64_encode("Emma"), "RW1tYQ==");
  EXPECT_FALSE(base64_decode("RW1tY"));
  EXPECT_FALSE(base64_decode("R!1tYQ=="));
}

TEST(handoff_names, only_plain_relative_names_are_kept) {
  EXPECT_EQ(check_handoff_name("notes/draft.md"), "");
  EXPECT_NE(check_handoff_name(""), "");
  EXPECT_NE(check_handoff_name("/etc/passwd"), "");
  EXPECT_NE(check_handoff_name("../../auth-homes/x"), "");
  EXPECT_NE(check_handoff_name("notes/../../x"), "");
  EXPECT_NE(check_handoff_name("./x"), "");
}

TEST_F(nodes, a_file_travels_from_the_writer_to_the_dependents_workspace) {
  auto r = wrote({{"evaluation.md", "# Emma\n16/20\n"}, {"notes/draft.md", "draft"}});
  std::vector<std::string> left;
  auto packed = pack_result_files(r, marie.string(), 1 << 20, left);
  ASSERT_EQ(packed.size(), 2u);
  EXPECT_TRUE(left.empty());
  EXPECT_TRUE(store_result_files(packed, "marie", "eval", orch.string(), 1 << 20).empty());
  EXPECT_EQ(slurp(orch / "artifacts/marie/eval/notes/draft.md"), "draft");

  auto t = dependent_of(r);
  auto inputs = task_inputs(t, orch.string(), 1 << 20);
  ASSERT_EQ(inputs.size(), 2u);
  EXPECT_TRUE(place_inputs(t, inputs, fabien.string()).empty());
  EXPECT_EQ(slurp(fabien / "workspaces/fabien/inputs/eval/evaluation.md"),
            "# Emma\n16/20\n");
  EXPECT_EQ(t.context["dependency_results"]["eval"]["artifacts"],
            json({"workspaces/fabien/inputs/eval/evaluation.md",
                  "workspaces/fabien/inputs/eval/notes/draft.md"}));
}

TEST_F(nodes, the_size_per_task_is_capped_at_both_ends) {
  auto r = wrote({{"small.md", "12345"}, {"big.md", std::string(100, 'x')}});
  std::vector<std::string> left;
  auto packed = pack_result_files(r, marie.string(), 50, left);
  ASSERT_EQ(packed.size(), 1u);
  EXPECT_EQ(packed[0]["name"], "small.md");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_NE(left[0].find("big.md"), std::string::npos);
  auto all = pack_result_files(r, marie.string(), 1000, left);
  EXPECT_EQ(store_result_files(all, "marie", "eval", orch.string(), 50).size(), 1u);
  EXPECT_FALSE(fs::exists(orch / "artifacts/marie/eval/big.md"));
  store_result_files(all, "marie", "eval", orch.string(), 1000);
  EXPECT_EQ(task_inputs(dependent_of(r), orch.string(), 50).size(), 1u);
}

TEST_F(nodes, a_file_changed_since_the_run_is_not_handed_on) {
  auto r = wrote({{"evaluation.md", "v1"}});
  std::ofstream(marie / "workspaces/marie/evaluation.md") << "v2, another task's";
  std::vector<std::string> left;
  EXPECT_TRUE(pack_result_files(r, marie.string(), 1 << 20, left).empty());
  EXPECT_EQ(left.size(), 1u);
}

TEST_F(nodes, bad_entries_are_refused_and_nothing_lands_outside) {
  auto good = base64_encode("x");
  json files = {
    {{"name", "../../escape.md"}, {"sha256", sha256_hex("x")}, {"data", good}},
    {{"name", "ok.md"}, {"sha256", sha256_hex("y")}, {"data", good}},
    {{"name", "b64.md"}, {"sha256", sha256_hex("x")}, {"data", "%%%%"}},
    "not an object"};
  EXPECT_EQ(store_result_files(files, "marie", "eval", orch.string(), 1 << 20).size(), 4u);
  EXPECT_FALSE(fs::exists(orch / "escape.md"));
  EXPECT_FALSE(fs::exists(base / "escape.md"));
  EXPECT_FALSE(fs::exists(orch / "artifacts/marie/eval/ok.md"));

  task t;
  t.task_id = "poster";
  t.worker = "fabien";
  json inputs = {{{"dependency", "../x"}, {"path", "p"}, {"name", "a.md"},
                  {"sha256", sha256_hex("x")}, {"data", good}}};
  EXPECT_EQ(place_inputs(t, inputs, fabien.string()).size(), 1u);
  EXPECT_FALSE(fs::exists(fabien / "workspaces/fabien/x"));
}

TEST_F(nodes, a_context_naming_other_folders_gets_no_inputs) {
  fs::create_directories(orch / "auth-homes/marie");
  std::ofstream(orch / "auth-homes/marie/key") << "secret";
  task t;
  t.task_id = "poster";
  t.worker = "fabien";
  t.context["dependency_results"]["../../auth-homes"] = {
    {"worker", "marie"}, {"artifacts", {"workspaces/marie/key"}}};
  t.context["dependency_results"]["eval"] = {
    {"worker", "../auth-homes/marie"}, {"artifacts", {"workspaces/../auth-homes/marie/key"}}};
  EXPECT_TRUE(task_inputs(t, orch.string(), 1 << 20).empty());
}
