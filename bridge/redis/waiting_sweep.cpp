#include "bridge/redis/waiting_sweep.hpp"

#include "core/task_graph.hpp"

namespace troupe {

std::vector<doomed_wait> sweep_waiting(const std::vector<waiting_entry>& waiting,
                                       int64_t now_ms, int64_t patience_ms) {
  std::vector<doomed_wait> out;
  std::vector<bool> taken(waiting.size(), false);
  // The waiting tasks as the file drop's graph holds them: one that closes
  // a cycle is named by add().
  task_graph g;
  for (size_t i = 0; i < waiting.size(); ++i) {
    auto& w = waiting[i];
    auto [n, cycle] = g.add(w.t.task_id, w.missing, w.t.prio, {});
    if (!cycle.empty()) {
      g.remove(n);
      out.push_back({i, cycle[1], "dependency cycle: " + task_graph::describe(cycle)});
      taken[i] = true;
    }
  }
  for (size_t i = 0; i < waiting.size(); ++i) {
    auto& w = waiting[i];
    if (taken[i] || w.unknown.empty() || now_ms - w.since_ms <= patience_ms)
      continue;
    auto& dep = w.unknown.front();
    out.push_back({i, dep,
                   "no task " + dep + " queued, running or done after "
                     + std::to_string(patience_ms / 1000) + " s"});
  }
  return out;
}

} // namespace troupe
