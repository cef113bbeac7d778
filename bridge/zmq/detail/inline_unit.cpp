#include "bridge/zmq/detail/inline_unit.hpp"

#include "caf/actor_system.hpp"
#include "caf/resumable.hpp"
#include "caf/scheduler/abstract_coordinator.hpp"

namespace troupe {

inline_unit::inline_unit(caf::actor_system& sys, limits lim)
  : caf::execution_unit(&sys), lim_(lim) {
}

inline_unit::~inline_unit() {
  release();
}

void inline_unit::bind() {
  owner_ = std::this_thread::get_id();
}

void inline_unit::exec_later(caf::resumable* ptr) {
  if (std::this_thread::get_id() != owner_ || (running_ && !lim_.chain))
    system().scheduler().enqueue(ptr);
  else
    ready_.push_back(ptr);
}

bool inline_unit::run() {
  if (ready_.empty())
    return false;
  running_ = true;
  size_t jobs = 0;
  while (!ready_.empty()) {
    batch_.swap(ready_);
    for (auto* job : batch_) {
      // The reference CAF took when it scheduled the actor is ours now:
      // passed on when the actor goes on elsewhere, dropped when it waits
      // or is done (as CAF's own workers do).
      if (jobs++ >= lim_.max_jobs) {
        system().scheduler().enqueue(job);
        continue;
      }
      switch (job->resume(this, lim_.budget)) {
        case caf::resumable::resume_later:
          system().scheduler().enqueue(job);
          break;
        case caf::resumable::done:
        case caf::resumable::awaiting_message:
          caf::intrusive_ptr_release(job);
          break;
        default: // shutdown_execution_unit: not an actor's answer
          break;
      }
    }
    batch_.clear();
  }
  running_ = false;
  return true;
}

void inline_unit::release() {
  for (auto* job : ready_)
    system().scheduler().enqueue(job);
  ready_.clear();
}

} // namespace troupe
