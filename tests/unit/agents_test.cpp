#include "core/agents.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

using namespace troupe;

namespace fs = std::filesystem;

TEST(agent_file, front_matter_and_body_become_the_cli_definition) {
  problems ps;
  auto a = parse_agent("---\nname: copy-editor\n"
                       "description: \"Checks copy: tone, length\"\n"
                       "tools: Read, Grep ,Glob\nmodel: haiku\n---\n\n"
                       "You edit copy.\nKeep it short.\n",
                       "x.md", ps);
  ASSERT_TRUE(a) << ps.at(0);
  EXPECT_EQ(a->name, "copy-editor");
  EXPECT_EQ(a->spec, json::parse(R"({"description": "Checks copy: tone, length",
    "prompt": "You edit copy.\nKeep it short.",
    "tools": ["Read", "Grep", "Glob"], "model": "haiku"})"));
}

TEST(agent_file, tools_and_model_are_optional) {
  problems ps;
  auto a = parse_agent("---\nname: a\ndescription: d\n---\nbody", "x.md", ps);
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->spec.contains("tools"));
  EXPECT_FALSE(a->spec.contains("model"));
}

TEST(agent_file, each_problem_names_the_file) {
  auto first = [](const std::string& text) {
    problems ps;
    EXPECT_FALSE(parse_agent(text, "bad.md", ps)) << text;
    return ps.empty() ? std::string{} : ps.front();
  };
  EXPECT_EQ(first("name: a\n"),
            "bad.md: must start with a front-matter block (---)");
  EXPECT_NE(first("---\nname: a\ndescription: d\n").find("not closed"),
            std::string::npos);
  EXPECT_NE(first("---\nname: Bad Name\ndescription: d\n---\nb").find("name must"),
            std::string::npos);
  EXPECT_NE(first("---\nname: a\n---\nb").find("description is required"),
            std::string::npos);
  EXPECT_NE(first("---\nname: a\ndescription: d\n---\n  \n").find("empty"),
            std::string::npos);
  EXPECT_NE(first("---\nname: a\ndescription: d\ncolour: red\n---\nb")
              .find("unknown key colour"),
            std::string::npos);
  EXPECT_NE(first("---\nname a\n---\nb").find("not `key: value`"),
            std::string::npos);
}

namespace {

struct agents_dir : ::testing::Test {
  fs::path dir = fs::temp_directory_path()
                 / ("troupe-agents-" + std::to_string(::getpid()));
  void SetUp() override { fs::create_directories(dir); }
  void TearDown() override { fs::remove_all(dir); }
  void put(const std::string& file, const std::string& text) {
    std::ofstream{dir / file} << text;
  }
};

} // namespace

TEST_F(agents_dir, every_md_file_is_one_agent_and_other_files_are_ignored) {
  put("b.md", "---\nname: beta\ndescription: d\n---\nB");
  put("a.md", "---\nname: alpha\ndescription: d\n---\nA");
  put("notes.txt", "not an agent");
  problems ps;
  auto all = load_agents(dir.string(), ps);
  EXPECT_TRUE(ps.empty()) << ps.at(0);
  EXPECT_EQ(all.size(), 2u);
  EXPECT_EQ(all["alpha"]["prompt"], "A");
}

TEST_F(agents_dir, a_name_used_twice_and_a_missing_folder_are_problems) {
  put("a.md", "---\nname: same\ndescription: d\n---\nA");
  put("b.md", "---\nname: same\ndescription: d\n---\nB");
  problems ps;
  load_agents(dir.string(), ps);
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_NE(ps[0].find("name same is used twice"), std::string::npos);
  ps.clear();
  load_agents((dir / "nope").string(), ps);
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_NE(ps[0].find("agents folder not found"), std::string::npos);
}

TEST_F(agents_dir, a_set_too_large_for_one_argument_is_refused) {
  put("a.md", "---\nname: big\ndescription: d\n---\n" + std::string(120000, 'x'));
  problems ps;
  load_agents(dir.string(), ps);
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_NE(ps[0].find("shorten them"), std::string::npos);
}

TEST(shipped_agents, each_worker_has_valid_sub_agents_on_a_cheaper_model) {
  for (auto w : {"marie", "anga", "fabien"}) {
    problems ps;
    auto all = load_agents(TROUPE_SOURCE_DIR "/prompts/agents/" + std::string{w}, ps);
    EXPECT_TRUE(ps.empty()) << ps.at(0);
    ASSERT_FALSE(all.empty()) << w;
    for (auto& [name, spec] : all.items())
      EXPECT_EQ(spec.value("model", ""), "haiku") << w << "/" << name;
  }
}
