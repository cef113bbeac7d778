#pragma once

// A CAF execution unit owned by a thread that is not CAF's: the broker's
// loop, a worker node's client loop. A message that thread sends with this
// unit as its context wakes the receiving actor here, on this thread, when
// the thread next calls run(), instead of on one of CAF's scheduler threads.
// The round trip of a task then crosses no thread inside a process but
// ZeroMQ's own: on a VM each wake-up of another core costs tens of µs.
//
// Bounded on purpose, so the loop stays responsive and a busy actor graph
// does not move onto its thread: an actor runs here for at most `budget`
// messages per wake-up, then goes back to CAF's scheduler; at most
// `max_jobs` wake-ups per run(). What an actor running here wakes in turn
// runs here too only with `chain` (a worker node, whose few actors are all
// light); otherwise CAF schedules it as usual (the broker, whose askers may
// write files).

#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

#include "caf/execution_unit.hpp"

namespace troupe {

class inline_unit : public caf::execution_unit {
public:
  struct limits {
    size_t budget;   // messages per wake-up
    bool chain;      // also run what the actors running here wake
    size_t max_jobs; // wake-ups per run()
  };
  inline_unit(caf::actor_system& sys, limits lim);
  /// What is still waiting goes to CAF's scheduler.
  ~inline_unit() override;
  inline_unit(const inline_unit&) = delete;
  inline_unit& operator=(const inline_unit&) = delete;

  /// The calling thread becomes the one that runs actors here; from any
  /// other thread exec_later() hands them to CAF's scheduler.
  void bind();
  /// Called by CAF when an idle actor gets a message sent with this unit as
  /// the context.
  void exec_later(caf::resumable* ptr) override;
  /// Runs the actors woken here; true if there were any.
  bool run();
  /// Actors wait here to run: the loop must not sleep before run().
  bool pending() const { return !ready_.empty(); }
  /// Hands what waits to CAF's scheduler (before the owning thread ends).
  void release();

private:
  std::vector<caf::resumable*> ready_;
  std::vector<caf::resumable*> batch_;
  std::atomic<std::thread::id> owner_{}; // read by any sender's thread
  bool running_ = false;
  limits lim_;
};

} // namespace troupe
