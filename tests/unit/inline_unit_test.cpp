// The execution unit that runs actors on a loop thread of our own
// (bridge/inline_unit): where an actor runs, and when it goes back to CAF.
// A real actor system with its scheduler threads: what matters here is
// which thread runs what.

#include "bridge/zmq/detail/inline_unit.hpp"

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "caf/all.hpp"

using namespace troupe;
using namespace std::chrono_literals;

namespace {

/// The thread each message ran on, in order; waitable.
struct trace {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<std::thread::id> threads;

  void add() {
    std::lock_guard<std::mutex> guard{mtx};
    threads.push_back(std::this_thread::get_id());
    cv.notify_all();
  }
  size_t size() {
    std::lock_guard<std::mutex> guard{mtx};
    return threads.size();
  }
  /// Waits until n messages ran (false after a generous cap: a failure).
  bool wait_for(size_t n) {
    std::unique_lock<std::mutex> lock{mtx};
    return cv.wait_for(lock, 30s, [&] { return threads.size() >= n; });
  }
  std::thread::id at(size_t i) {
    std::lock_guard<std::mutex> guard{mtx};
    return threads.at(i);
  }
};

/// Records the thread of each int it gets; forwards it to `next` if set.
caf::behavior probe(caf::event_based_actor* self, trace* t, caf::actor next) {
  return {
    [=](int x) {
      t->add();
      if (next)
        self->send(next, x);
    },
  };
}

/// Lazily initialised, so the actor is idle until its first message: that
/// message is what schedules it (else CAF's scheduler would start it).
caf::actor spawn_probe(caf::actor_system& sys, trace& t, caf::actor next = {}) {
  return sys.spawn<caf::lazy_init>(probe, &t, next);
}

void send_with(inline_unit& u, const caf::actor& to, int x) {
  caf::actor_cast<caf::abstract_actor*>(to)->enqueue(
    caf::make_mailbox_element(nullptr, caf::make_message_id(), {}, x), &u);
}

struct inline_unit_test : ::testing::Test {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::unique_ptr<inline_unit> unit; // after sys: released before it ends
  const std::thread::id here = std::this_thread::get_id();

  /// A unit owned by this (the test's) thread.
  inline_unit& bound(inline_unit::limits lim = {4, false, 64}) {
    unit = std::make_unique<inline_unit>(sys, lim);
    unit->bind();
    return *unit;
  }
};

} // namespace

TEST_F(inline_unit_test, an_idle_actor_runs_on_the_owning_thread_at_run) {
  trace t;
  auto& u = bound();
  auto a = spawn_probe(sys, t);
  EXPECT_FALSE(u.pending());
  send_with(u, a, 1);
  EXPECT_EQ(t.size(), 0u); // waits for run(): nobody else has it
  EXPECT_TRUE(u.pending());
  EXPECT_TRUE(u.run());
  EXPECT_FALSE(u.pending());
  ASSERT_EQ(t.size(), 1u); // ran within run()
  EXPECT_EQ(t.at(0), here);
  EXPECT_FALSE(u.run()); // nothing left
  // Idle again: the next message comes back here too.
  send_with(u, a, 2);
  EXPECT_TRUE(u.run());
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t.at(1), here);
}

TEST_F(inline_unit_test, a_send_from_another_thread_goes_to_the_scheduler) {
  trace t;
  auto& u = bound();
  auto a = spawn_probe(sys, t);
  std::thread other{[&] { send_with(u, a, 1); }};
  auto other_id = other.get_id();
  other.join();
  ASSERT_TRUE(t.wait_for(1));
  EXPECT_NE(t.at(0), here);
  EXPECT_NE(t.at(0), other_id); // a scheduler thread
  EXPECT_FALSE(u.run());
}

TEST_F(inline_unit_test, after_its_budget_an_actor_goes_on_in_the_scheduler) {
  trace t;
  auto& u = bound();
  auto a = spawn_probe(sys, t);
  for (int i = 0; i < 10; ++i)
    send_with(u, a, i);
  EXPECT_TRUE(u.run());
  ASSERT_TRUE(t.wait_for(10)); // nothing is lost
  for (size_t i = 0; i < 4; ++i)
    EXPECT_EQ(t.at(i), here) << "message " << i;
  for (size_t i = 4; i < 10; ++i)
    EXPECT_NE(t.at(i), here) << "message " << i;
}

TEST_F(inline_unit_test, what_an_inline_actor_wakes_runs_here_with_chain_within_max_jobs) {
  struct variant {
    inline_unit::limits lim;
    bool b_here;
  };
  for (auto v : {variant{{4, false, 64}, false}, // CAF schedules b
                 variant{{4, true, 64}, true},   // b runs here too
                 variant{{4, true, 1}, false}}) { // b is the run's 2nd job
    trace ta, tb;
    auto& u = bound(v.lim);
    auto b = spawn_probe(sys, tb);
    auto a = spawn_probe(sys, ta, b);
    send_with(u, a, 1);
    EXPECT_TRUE(u.run());
    ASSERT_EQ(ta.size(), 1u);
    EXPECT_EQ(ta.at(0), here);
    ASSERT_TRUE(tb.wait_for(1));
    EXPECT_EQ(tb.at(0) == here, v.b_here) << "chain " << v.lim.chain << ", max_jobs "
                                          << v.lim.max_jobs;
    EXPECT_FALSE(u.run());
  }
}

TEST_F(inline_unit_test, release_hands_waiting_actors_to_the_scheduler) {
  trace t;
  auto& u = bound();
  auto a = spawn_probe(sys, t);
  send_with(u, a, 1);
  u.release();
  ASSERT_TRUE(t.wait_for(1));
  EXPECT_NE(t.at(0), here);
  EXPECT_FALSE(u.run());
}
