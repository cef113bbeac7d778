#include "core/process.hpp"

#include <csignal>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include <cerrno>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

using namespace troupe;
using namespace std::chrono_literals;

namespace {

process_spec sh(std::string script) {
  process_spec s;
  s.argv = {"/bin/sh", "-c", std::move(script)};
  s.env = inherit_env({"PATH"});
  s.deadline = 20s;
  return s;
}


} // namespace

TEST(process, stdin_arrives_byte_for_byte_without_a_shell) {
  std::string hostile = "quotes ' \" `backticks` $(rm -rf /) ${HOME} \\ \n"
                        "newlines\n\n; | & > < * ? \x01\x7f end";
  hostile += std::string(300000, 'z'); // larger than a pipe buffer
  process_spec s;
  s.argv = {"cat"};
  s.env = inherit_env({"PATH"});
  s.stdin_data = hostile;
  auto o = run_process(s);
  ASSERT_TRUE(o.exited_ok()) << o.describe();
  EXPECT_EQ(o.out, hostile);
}

TEST(process, environment_is_exactly_what_was_given) {
  auto s = sh("env");
  s.env.push_back("ONLY_THIS=1");
  ::setenv("TROUPE_SECRET_TEST", "leak", 1);
  auto o = run_process(s);
  ASSERT_TRUE(o.exited_ok());
  EXPECT_NE(o.out.find("ONLY_THIS=1"), std::string::npos);
  EXPECT_EQ(o.out.find("TROUPE_SECRET_TEST"), std::string::npos);
}

TEST(process, working_directory_and_exit_code) {
  auto dir = std::filesystem::temp_directory_path() / "troupe-proc-cwd";
  std::filesystem::create_directories(dir);
  auto s = sh("pwd; echo oops >&2; exit 3");
  s.cwd = dir.string();
  auto o = run_process(s);
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_EQ(o.out, dir.string() + "\n");
  EXPECT_EQ(o.err, "oops\n");
  EXPECT_EQ(o.describe(), "exit code 3");
}

TEST(process, deadline_kills_the_whole_process_group) {
  auto pidfile = std::filesystem::temp_directory_path() / "troupe-proc-child";
  std::filesystem::remove(pidfile);
  // The child starts a grandchild and both ignore their stdin forever.
  auto s = sh("sleep 300 & echo $! > " + pidfile.string() + "; sleep 300");
  s.deadline = 300ms;
  s.kill_grace = 200ms;
  auto o = run_process(s);
  EXPECT_TRUE(o.timed_out);
  EXPECT_EQ(o.term_signal, SIGTERM);
  EXPECT_LT(o.duration_ms, 5000);
  pid_t grandchild = 0;
  std::ifstream(pidfile) >> grandchild;
  ASSERT_GT(grandchild, 0);
  // Await the grandchild's end through a pidfd (readable once it exits),
  // with a generous bound instead of a guessed sleep.
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, grandchild, 0));
  if (fd < 0) {
    EXPECT_EQ(errno, ESRCH); // already gone
    return;
  }
  pollfd p{fd, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 5000), 1) << "grandchild still running";
  ::close(fd);
}

TEST(process, sigterm_ignoring_child_gets_sigkill_after_grace) {
  auto s = sh("trap '' TERM; sleep 300");
  s.deadline = 200ms;
  s.kill_grace = 200ms;
  auto o = run_process(s);
  EXPECT_TRUE(o.timed_out);
  EXPECT_EQ(o.term_signal, SIGKILL);
}

TEST(process, output_is_capped) {
  auto s = sh("head -c 100000 /dev/zero");
  s.max_output = 1000;
  auto o = run_process(s);
  EXPECT_TRUE(o.exited_ok());
  EXPECT_TRUE(o.truncated);
  EXPECT_EQ(o.out.size(), 1000u);
}

TEST(process, missing_program_is_reported) {
  process_spec s;
  s.argv = {"/nonexistent/agent-cli"};
  auto o = run_process(s);
  EXPECT_FALSE(o.started);
  EXPECT_EQ(o.start_error, "/nonexistent/agent-cli: No such file or directory");
}

TEST(process, child_closing_stdin_early_is_not_fatal) {
  auto s = sh("exec 0<&-; echo done");
  s.stdin_data = std::string(1 << 20, 'x');
  auto o = run_process(s);
  EXPECT_TRUE(o.exited_ok());
  EXPECT_EQ(o.out, "done\n");
}
