#include "bridge/files/root_lock.hpp"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

using namespace troupe;
namespace fs = std::filesystem;

namespace {

std::string fresh_root(const char* name) {
  auto root = fs::temp_directory_path() / ("troupe-lock-" + std::to_string(::getpid()) + name);
  fs::remove_all(root);
  return root.string();
}

} // namespace

TEST(root_lock, the_first_holder_wins_and_the_second_is_told_who) {
  auto root = fresh_root("a");
  root_lock first{root, "serve"};
  ASSERT_TRUE(first.held()) << first.error();
  // flock is per open file: a second open in this process is a second node.
  root_lock second{root, "orchestrator"};
  EXPECT_FALSE(second.held());
  EXPECT_NE(second.error().find("in use by caf-node serve (pid " + std::to_string(::getpid())),
            std::string::npos)
    << second.error();
  fs::remove_all(root);
}

TEST(root_lock, a_released_lock_is_taken_again_and_names_the_new_holder) {
  auto root = fresh_root("b");
  { root_lock first{root, "serve"}; ASSERT_TRUE(first.held()); }
  root_lock again{root, "orchestrator"};
  ASSERT_TRUE(again.held()) << again.error();
  std::ifstream in{root + "/" + root_lock_name};
  std::string text{std::istreambuf_iterator<char>(in), {}};
  EXPECT_NE(text.find("\"role\":\"orchestrator\""), std::string::npos) << text;
  fs::remove_all(root);
}

TEST(root_lock, a_refusal_without_a_readable_holder_still_says_what_to_do) {
  auto why = root_lock::refusal("/r", "not json");
  EXPECT_NE(why.find("root /r is in use by another process"), std::string::npos) << why;
  EXPECT_NE(why.find("another --root"), std::string::npos) << why;
}

TEST(root_lock, a_root_that_cannot_be_made_is_an_error_not_a_lock) {
  root_lock l{"/proc/troupe-no-such-root", "serve"};
  EXPECT_FALSE(l.held());
  EXPECT_NE(l.error().find("cannot open"), std::string::npos) << l.error();
}
