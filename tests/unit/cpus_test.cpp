// Pinning troupe's own threads (core/cpus): the CPU list syntax, and agents
// started by a pinned thread keep the CPUs the node had.

#include "core/cpus.hpp"

#include <thread>

#include <gtest/gtest.h>

#include "core/process.hpp"

using namespace troupe;

TEST(cpus, lists_and_ranges_parse_and_print_as_the_kernel_does) {
  std::string err;
  for (auto [text, canonical] : std::vector<std::pair<std::string, std::string>>{
         {"0", "0"}, {"0-2", "0-2"}, {"3,1", "1,3"}, {"0,2,4-6", "0,2,4-6"}, {"1-1", "1"},
         {"0,1,2", "0-2"}}) {
    auto set = parse_cpu_list(text, err);
    ASSERT_TRUE(set) << text << ": " << err;
    EXPECT_EQ(cpu_list_text(*set), canonical) << text;
  }
}

TEST(cpus, anything_else_is_refused_with_the_reason) {
  for (std::string bad : {"", "a", "1,", ",1", "3-1", "1-", "-1", "0x1", "1 ", "99999", "1,,2"}) {
    std::string err;
    EXPECT_FALSE(parse_cpu_list(bad, err)) << bad;
    EXPECT_NE(err.find("CPU list"), std::string::npos) << bad;
  }
}

TEST(cpus, a_pinned_thread_runs_on_its_cpus_and_its_children_on_the_nodes) {
  cpu_set_t before;
  ASSERT_EQ(::sched_getaffinity(0, sizeof before, &before), 0);
  if (CPU_COUNT(&before) < 2)
    GTEST_SKIP() << "needs two CPUs to tell them apart";
  int first = 0;
  while (!CPU_ISSET(first, &before))
    ++first;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  std::string err, mine, child;
  bool pinned = false;
  process_outcome out;
  // In a thread of its own: the test's thread keeps its CPUs.
  std::thread t{[&] {
    pinned = pin_to_cpus(one, err);
    cpu_set_t now;
    ::sched_getaffinity(0, sizeof now, &now);
    mine = cpu_list_text(now);
    process_spec spec;
    spec.argv = {"grep", "Cpus_allowed_list", "/proc/self/status"};
    spec.env = {"PATH=/usr/bin:/bin"};
    out = run_process(spec);
  }};
  t.join();
  ASSERT_TRUE(pinned) << err;
  EXPECT_EQ(mine, std::to_string(first));
  ASSERT_TRUE(out.exited_ok()) << out.describe() << " " << out.err;
  EXPECT_EQ(out.out, "Cpus_allowed_list:\t" + cpu_list_text(before) + "\n");
}

TEST(cpus, a_cpu_that_is_not_here_is_refused) {
  cpu_set_t far;
  CPU_ZERO(&far);
  CPU_SET(CPU_SETSIZE - 1, &far);
  std::string err;
  bool pinned = true;
  std::thread t{[&] { pinned = pin_to_cpus(far, err); }};
  t.join();
  EXPECT_FALSE(pinned);
  EXPECT_NE(err.find("cannot run on CPUs 1023"), std::string::npos) << err;
}
