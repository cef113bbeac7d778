#include "core/artifacts.hpp"
#include "core/sha256.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace troupe;

namespace {

/// A root with a worker's workspace, a neighbour's, and files in both.
struct tree : ::testing::Test {
  fs::path root;
  artifact_scope scope;

  void SetUp() override {
    root = fs::temp_directory_path()
           / ("troupe-artifacts-" + std::to_string(::getpid()) + "-"
              + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root);
    fs::create_directories(root / "workspaces/marie/eval");
    fs::create_directories(root / "workspaces/anga");
    fs::create_directories(root / "shared");
    write("workspaces/marie/eval/emma.md", "Emma: 16/20\n");
    write("workspaces/anga/review.md", "secret review\n");
    write("shared/notes.md", "notes");
    scope = artifact_scope::make(root.string(),
                                 (root / "workspaces/marie").string(),
                                 {"shared"});
  }
  void TearDown() override { fs::remove_all(root); }

  void write(const std::string& rel, const std::string& text) {
    std::ofstream(root / rel, std::ios::binary) << text;
  }
  std::string abs(const std::string& rel) const {
    return fs::canonical(root / rel).string();
  }
};

} // namespace

TEST_F(tree, a_relative_path_is_taken_from_the_workspace) {
  auto r = resolve_artifact("eval/emma.md", scope);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.path, abs("workspaces/marie/eval/emma.md"));
  EXPECT_EQ(scope.display(r.path), "workspaces/marie/eval/emma.md");
}

TEST_F(tree, an_absolute_path_inside_the_workspace_is_accepted) {
  auto r = resolve_artifact(abs("workspaces/marie/eval/emma.md"), scope);
  EXPECT_EQ(r.error, "");
}

TEST_F(tree, an_absolute_path_outside_is_refused) {
  auto r = resolve_artifact(abs("workspaces/anga/review.md"), scope);
  EXPECT_NE(r.error.find("is outside the workspace"), std::string::npos)
    << r.error;
  r = resolve_artifact("/etc/passwd", scope);
  EXPECT_NE(r.error.find("is outside the workspace"), std::string::npos);
}

TEST_F(tree, dot_dot_out_of_the_workspace_is_refused) {
  auto r = resolve_artifact("../anga/review.md", scope);
  EXPECT_NE(r.error.find("resolves to " + abs("workspaces/anga/review.md")),
            std::string::npos)
    << r.error;
  // `..` that stays inside is only a longer name.
  EXPECT_EQ(resolve_artifact("eval/../eval/emma.md", scope).error, "");
}

TEST_F(tree, a_symlink_out_of_the_workspace_is_refused) {
  fs::create_symlink(root / "workspaces/anga/review.md",
                     root / "workspaces/marie/link.md");
  fs::create_directory_symlink(root / "workspaces/anga",
                               root / "workspaces/marie/dir");
  EXPECT_NE(resolve_artifact("link.md", scope).error.find("outside"),
            std::string::npos);
  EXPECT_NE(resolve_artifact("dir/review.md", scope).error.find("outside"),
            std::string::npos);
}

TEST_F(tree, a_symlink_within_the_workspace_is_the_file_it_names) {
  fs::create_symlink(root / "workspaces/marie/eval/emma.md",
                     root / "workspaces/marie/latest.md");
  auto r = resolve_artifact("latest.md", scope);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.path, abs("workspaces/marie/eval/emma.md"));
}

TEST_F(tree, add_dirs_are_in_scope) {
  EXPECT_EQ(resolve_artifact(abs("shared/notes.md"), scope).error, "");
}

TEST_F(tree, missing_files_and_folders_are_named) {
  EXPECT_EQ(resolve_artifact("evaluation.md", scope).error,
            "evaluation.md does not exist");
  EXPECT_EQ(resolve_artifact("eval", scope).error, "eval is not a regular file");
  EXPECT_EQ(resolve_artifact("", scope).error, "an empty path");
}

TEST(path_within, compares_whole_components) {
  EXPECT_TRUE(path_within("/a/b/c", "/a/b"));
  EXPECT_TRUE(path_within("/a/b", "/a/b"));
  EXPECT_FALSE(path_within("/a/bc", "/a/b"));
  EXPECT_TRUE(path_within("/x", "/"));
}

TEST(sha256, of_known_text) {
  EXPECT_EQ(sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_F(tree, check_records_listed_and_written_files_with_their_digest) {
  write("workspaces/marie/draft.md", "draft");
  auto c = check_artifacts({"eval/emma.md"},
                           {abs("workspaces/marie/draft.md"),
                            abs("workspaces/marie/eval/emma.md"),
                            abs("workspaces/anga/review.md")},
                           scope);
  EXPECT_EQ(c.error, "");
  ASSERT_EQ(c.files.size(), 2u); // the neighbour's file is not ours
  EXPECT_EQ(c.artifacts, (std::vector<std::string>{
                           "workspaces/marie/eval/emma.md",
                           "workspaces/marie/draft.md"}));
  EXPECT_TRUE(c.files[0].listed);
  EXPECT_FALSE(c.files[1].listed);
  EXPECT_EQ(c.files[0].size, 12);
  EXPECT_EQ(c.files[0].sha256, sha256_hex("Emma: 16/20\n"));
}

TEST_F(tree, check_fails_on_a_claimed_file_that_is_not_there) {
  auto c = check_artifacts({"eval/emma.md", "evaluation.md"}, {}, scope);
  EXPECT_EQ(c.error, "evaluation.md does not exist");
}

TEST_F(tree, a_snapshot_diff_finds_new_and_changed_files_only) {
  auto before = snapshot_folders(scope.writable);
  ASSERT_TRUE(before);
  write("workspaces/marie/new.md", "new");
  write("shared/notes.md", "notes, longer now");
  auto after = snapshot_folders(scope.writable);
  ASSERT_TRUE(after);
  auto diff = changed_files(*before, *after);
  std::sort(diff.begin(), diff.end());
  EXPECT_EQ(diff, (std::vector<std::string>{
                    (fs::path{scope.root} / "shared/notes.md").string(),
                    (fs::path{scope.workspace} / "new.md").string()}));
  EXPECT_FALSE(snapshot_folders(scope.writable, 1)); // too many files
}

TEST(overlap, an_attempt_that_overlapped_another_is_not_alone) {
  overlap_tracker t;
  auto a = t.begin();
  EXPECT_TRUE(t.end(a));
  auto b = t.begin();
  auto c = t.begin(); // starts while b runs
  EXPECT_FALSE(t.end(c));
  EXPECT_FALSE(t.end(b)); // c started during b
  auto d = t.begin();
  EXPECT_TRUE(t.end(d));
}

TEST(result_files, round_trip_through_extra) {
  result r;
  set_files(r, {{"workspaces/marie/e.md", 5, "ab", false}});
  auto xs = files_of(r);
  ASSERT_EQ(xs.size(), 1u);
  EXPECT_EQ(xs[0].path, "workspaces/marie/e.md");
  EXPECT_EQ(xs[0].size, 5);
  EXPECT_FALSE(xs[0].listed);
}
