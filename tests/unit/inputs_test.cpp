#include "core/inputs.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/prompt.hpp"

namespace fs = std::filesystem;
using namespace troupe;

namespace {

/// A root where marie wrote an evaluation, beside an auth home and a file
/// outside the shared folders.
struct deps : ::testing::Test {
  fs::path root;

  void SetUp() override {
    root = fs::temp_directory_path()
           / ("troupe-inputs-" + std::to_string(::getpid()) + "-"
              + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root);
    fs::create_directories(root / "workspaces/marie");
    fs::create_directories(root / "auth-homes/marie/.claude");
    write("workspaces/marie/evaluation.md", "Emma 16/20\n");
    write("auth-homes/marie/.claude/.credentials.json", "{}");
    root = fs::canonical(root);
  }
  void TearDown() override { fs::remove_all(root); }

  void write(const std::string& rel, const std::string& text) {
    std::ofstream(root / rel, std::ios::binary) << text;
  }

  task dependent(const json& artifacts) const {
    task t;
    t.task_id = "poster";
    t.worker = "fabien";
    t.description = "Make a poster.";
    t.context["dependency_results"]["eval"] = {
      {"worker", "marie"}, {"summary", "Evaluated."}, {"artifacts", artifacts}};
    return t;
  }

  std::vector<input_file> inputs(const json& artifacts) const {
    return dependency_inputs(dependent(artifacts), root.string(),
                             shared_folders(root.string()));
  }
};

} // namespace

TEST_F(deps, a_dependency_file_resolves_to_an_absolute_path) {
  auto in = inputs({"workspaces/marie/evaluation.md"});
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0].dependency, "eval");
  EXPECT_EQ(in[0].path, (root / "workspaces/marie/evaluation.md").string());
  EXPECT_EQ(read_rule(in[0].path),
            "Read(/" + (root / "workspaces/marie/evaluation.md").string() + ")");
}

TEST_F(deps, files_outside_the_shared_folders_are_not_granted) {
  auto in = inputs({"auth-homes/marie/.claude/.credentials.json", "/etc/passwd",
                    "workspaces/marie/../../auth-homes/marie/.claude/.credentials.json"});
  ASSERT_EQ(in.size(), 3u);
  for (auto& f : in) {
    EXPECT_TRUE(f.path.empty()) << f.named;
    EXPECT_EQ(f.why_not, "outside the folders shared between workers") << f.named;
  }
}

TEST_F(deps, a_symlink_out_of_the_workspaces_is_not_granted) {
  fs::create_symlink(root / "auth-homes/marie/.claude/.credentials.json",
                     root / "workspaces/marie/link.md");
  auto in = inputs({"workspaces/marie/link.md"});
  ASSERT_EQ(in.size(), 1u);
  EXPECT_TRUE(in[0].path.empty());
}

TEST_F(deps, missing_folders_and_odd_names_are_not_granted) {
  write("workspaces/marie/a(1).md", "x");
  auto in = inputs({"workspaces/marie/gone.md", "workspaces/marie",
                    "workspaces/marie/a(1).md", ""});
  ASSERT_EQ(in.size(), 4u);
  EXPECT_EQ(in[0].why_not, "not on this node");
  EXPECT_EQ(in[1].why_not, "not a regular file");
  EXPECT_EQ(in[2].why_not, "its name cannot be granted to the CLI");
  EXPECT_EQ(in[3].why_not, "an empty path");
}

TEST_F(deps, the_prompt_shows_the_paths_the_dependent_can_open) {
  auto t = dependent({"workspaces/marie/evaluation.md", "workspaces/marie/gone.md"});
  auto in = dependency_inputs(t, root.string(), shared_folders(root.string()));
  auto prompt = compose_task_prompt(with_input_paths(t, in));
  EXPECT_NE(prompt.find("Files it wrote: "
                        + (root / "workspaces/marie/evaluation.md").string()
                        + " workspaces/marie/gone.md (not readable: not on this node)"),
            std::string::npos)
    << prompt;
}

TEST_F(deps, the_number_of_files_is_capped) {
  json many = json::array();
  for (int i = 0; i < 10; ++i)
    many.push_back("workspaces/marie/evaluation.md");
  EXPECT_EQ(dependency_inputs(dependent(many), root.string(),
                              shared_folders(root.string()), 4)
              .size(),
            4u);
}
