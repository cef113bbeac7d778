#include "core/process.hpp"

#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <poll.h>
#include <pthread.h>
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

TEST(process, a_name_without_a_slash_is_found_on_path) {
  process_spec s;
  s.argv = {"echo", "found"};
  s.env = inherit_env({"PATH"});
  auto o = run_process(s);
  ASSERT_TRUE(o.exited_ok()) << o.describe();
  EXPECT_EQ(o.out, "found\n");
  s.argv = {"troupe-no-such-agent-cli"};
  o = run_process(s);
  EXPECT_FALSE(o.started);
  EXPECT_EQ(o.start_error, "troupe-no-such-agent-cli: No such file or directory");
}

TEST(process, a_file_that_may_not_be_run_is_reported) {
  auto file = std::filesystem::temp_directory_path() / "troupe-not-executable";
  std::ofstream(file) << "#!/bin/sh\necho never\n";
  std::filesystem::permissions(file, std::filesystem::perms::owner_read
                                       | std::filesystem::perms::owner_write);
  process_spec s;
  s.argv = {file.string()};
  auto o = run_process(s);
  EXPECT_FALSE(o.started);
  EXPECT_EQ(o.start_error, file.string() + ": Permission denied");
  std::filesystem::remove(file);
}

TEST(process, a_missing_working_directory_is_reported) {
  auto s = sh("echo never");
  s.cwd = "/nonexistent/troupe-workspace";
  auto o = run_process(s);
  EXPECT_FALSE(o.started);
  EXPECT_EQ(o.start_error,
            "working directory /nonexistent/troupe-workspace: No such file or directory");
  EXPECT_TRUE(o.out.empty());
}

TEST(process, the_child_starts_with_default_signals_in_its_own_group) {
  // What this process ignores or blocks, the agent must not inherit: an
  // agent that cannot be stopped by SIGTERM, or dies silently on SIGPIPE
  // unlike everywhere else, would be hard to diagnose.
  // glibc's own two signals (32, 33) too: its wrappers cannot touch them,
  // but a CI runner may start us with them ignored (seen: one did).
  struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)();
    uint64_t mask;
  } ign{SIG_IGN, 0, nullptr, 0}, old_33{};
  ::syscall(SYS_rt_sigaction, 33, &ign, &old_33, sizeof(uint64_t));
  auto old_usr1 = ::signal(SIGUSR1, SIG_IGN);
  auto old_alrm = ::signal(SIGALRM, SIG_IGN);
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &block, &old_mask);
  process_spec s;
  s.argv = {"cat", "/proc/self/stat", "/proc/self/status"};
  s.env = inherit_env({"PATH"});
  auto o = run_process(s);
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ::signal(SIGUSR1, old_usr1);
  ::signal(SIGALRM, old_alrm);
  ::syscall(SYS_rt_sigaction, 33, &old_33, nullptr, sizeof(uint64_t));
  ASSERT_TRUE(o.exited_ok()) << o.describe();
  EXPECT_NE(o.out.find("SigIgn:\t0000000000000000"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("SigBlk:\t0000000000000000"), std::string::npos) << o.out;
  // /proc/self/stat: "pid (comm) state ppid pgrp ...": its own group.
  std::istringstream stat{o.out};
  std::string pid, comm, state, ppid, pgrp;
  stat >> pid >> comm >> state >> ppid >> pgrp;
  EXPECT_EQ(pgrp, pid);
  EXPECT_EQ(ppid, std::to_string(::getpid()));
}

TEST(process, child_closing_stdin_early_is_not_fatal) {
  auto s = sh("exec 0<&-; echo done");
  s.stdin_data = std::string(1 << 20, 'x');
  auto o = run_process(s);
  EXPECT_TRUE(o.exited_ok());
  EXPECT_EQ(o.out, "done\n");
}

TEST(process, stdout_lines_are_handed_over_as_they_arrive) {
  // The second line is only written once the first was seen: proof that
  // lines are delivered while the child runs, not at its end.
  auto dir = std::filesystem::temp_directory_path()
             / ("troupe-lines-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto go = (dir / "go").string();
  auto s = sh("echo first; while [ ! -e " + go + " ]; do sleep 0.01; done; "
              "printf 'second\\nno newline'");
  std::vector<std::string> lines;
  s.on_line = [&](std::string_view l) {
    lines.emplace_back(l);
    if (l == "first")
      std::ofstream{go} << "x";
  };
  auto o = run_process(s);
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(o.exited_ok()) << o.describe();
  EXPECT_EQ(lines, (std::vector<std::string>{"first", "second", "no newline"}));
  EXPECT_TRUE(o.out.empty());
}

TEST(process, a_line_longer_than_the_cap_is_cut) {
  auto s = sh("head -c 5000 /dev/zero | tr '\\\\0' x; echo; echo short");
  s.max_output = 1000;
  std::vector<size_t> sizes;
  s.on_line = [&](std::string_view l) { sizes.push_back(l.size()); };
  auto o = run_process(s);
  EXPECT_TRUE(o.truncated);
  EXPECT_EQ(sizes, (std::vector<size_t>{1000, 5}));
}

TEST(process, silence_beyond_the_stall_limit_kills_the_group) {
  auto s = sh("echo started; sleep 300 & sleep 300");
  s.stall_timeout = 300ms;
  s.kill_grace = 200ms;
  std::vector<std::string> lines;
  s.on_line = [&](std::string_view l) { lines.emplace_back(l); };
  auto o = run_process(s);
  EXPECT_TRUE(o.stalled);
  EXPECT_FALSE(o.timed_out);
  EXPECT_EQ(o.term_signal, SIGTERM);
  EXPECT_GE(o.duration_ms, 300);
  EXPECT_LT(o.duration_ms, 5000);
  EXPECT_EQ(lines, std::vector<std::string>{"started"});
  EXPECT_EQ(o.describe(), "killed after a stall (no output)");
}

TEST(process, steady_output_is_no_stall) {
  // 0.1 s between lines, 0.4 s of work in all, a stall limit of 0.3 s.
  auto s = sh("for i in 1 2 3 4; do echo $i; sleep 0.1; done");
  s.stall_timeout = 300ms;
  auto o = run_process(s);
  EXPECT_TRUE(o.exited_ok()) << o.describe();
  EXPECT_FALSE(o.stalled);
}

namespace {

/// Runs `s` on a thread and cancels it once its first line is out.
process_outcome run_and_cancel_after_first_line(process_spec s) {
  std::promise<void> started;
  auto once = std::make_shared<std::once_flag>();
  s.on_line = [&](std::string_view) { std::call_once(*once, [&] { started.set_value(); }); };
  auto f = std::async(std::launch::async, [&] { return run_process(s); });
  started.get_future().wait();
  EXPECT_TRUE(cancel_child(s.cancel_key));
  return f.get();
}

} // namespace

TEST(process, a_cancel_stops_the_whole_process_group_of_a_running_child) {
  auto pidfile = std::filesystem::temp_directory_path() / "troupe-proc-cancel";
  std::filesystem::remove(pidfile);
  auto s = sh("sleep 300 & echo $! > " + pidfile.string() + "; echo started; sleep 300");
  s.cancel_key = "marie/cancel-me";
  auto o = run_and_cancel_after_first_line(s);
  EXPECT_TRUE(o.cancelled);
  EXPECT_FALSE(o.timed_out);
  EXPECT_EQ(o.describe(), "cancelled");
  pid_t grandchild = 0;
  std::ifstream(pidfile) >> grandchild;
  ASSERT_GT(grandchild, 0);
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, grandchild, 0));
  if (fd >= 0) {
    pollfd p{fd, POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 5000), 1) << "grandchild still running";
    ::close(fd);
  }
}

TEST(process, a_child_that_ignores_the_cancel_is_killed_after_its_grace) {
  auto s = sh("trap '' TERM; echo started; sleep 300");
  s.cancel_key = "marie/stubborn";
  s.kill_grace = 200ms;
  auto o = run_and_cancel_after_first_line(s);
  EXPECT_TRUE(o.cancelled);
  EXPECT_EQ(o.term_signal, SIGKILL);
}

TEST(process, a_cancel_that_comes_before_the_child_stops_it_as_it_starts) {
  EXPECT_FALSE(cancel_child("anga/early"));
  auto s = sh("sleep 300");
  s.cancel_key = "anga/early";
  auto o = run_process(s);
  EXPECT_TRUE(o.cancelled);
  EXPECT_LT(o.duration_ms, 5000);
  // Taken by that child: the next one with the key runs.
  auto again = sh("exit 0");
  again.cancel_key = "anga/early";
  EXPECT_TRUE(run_process(again).exited_ok());
}

TEST(process, forget_cancel_voids_a_cancel_that_found_nothing) {
  EXPECT_FALSE(cancel_child("anga/forgotten"));
  forget_cancel("anga/forgotten");
  auto s = sh("exit 0");
  s.cancel_key = "anga/forgotten";
  auto o = run_process(s);
  EXPECT_FALSE(o.cancelled);
  EXPECT_TRUE(o.exited_ok());
}
