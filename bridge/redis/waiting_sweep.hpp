#pragma once

// What waits in the shared queue and never will stop waiting: a cycle of
// tasks that wait for each other, and a dependency nobody has queued,
// waiting or running, past the patience (serve's --dependency-wait-s, as
// for the folder queue). Pure: the runner reads the waiting tasks
// (redis_queue::waiting_tasks) and ends each one named here unrun, as
// dependency_failed; what waited for it fails in turn as its dependent.

#include <cstdint>
#include <string>
#include <vector>

#include "bridge/redis/redis_queue.hpp"

namespace troupe {

struct doomed_wait {
  size_t entry = 0;  // index into the waiting tasks
  std::string dep;   // the dependency it fails on
  std::string why;
};

/// One a task at most; of a cycle, only the task that closes it (the
/// others fail as its dependents).
std::vector<doomed_wait> sweep_waiting(const std::vector<waiting_entry>& waiting,
                                       int64_t now_ms, int64_t patience_ms);

} // namespace troupe
