#pragma once

// Dependency bookkeeping for one run: which tasks are ready, which become
// ready when one completes, which must fail when one fails. Each task is
// released the moment its own dependencies are complete (no supersteps).
// Assumes a graph that passed check_workflow (ids unique, no cycle).

#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/model.hpp"

namespace troupe {

class task_graph {
public:
  enum class node_state { waiting, released, complete, failed };

  explicit task_graph(const std::vector<task>& tasks);

  /// Tasks with no dependencies, highest priority first, then file order.
  /// Marks them released.
  std::vector<size_t> take_initial();

  /// Marks `i` complete and returns the dependents that became ready,
  /// highest priority first. Marks them released.
  std::vector<size_t> complete(size_t i);

  /// Marks `i` failed and returns every transitive dependent that has not
  /// finished, in dependency order. Marks them failed too.
  std::vector<size_t> fail(size_t i);

  /// Index of a task id, or npos.
  size_t index_of(const std::string& id) const;

  node_state state(size_t i) const { return state_[i]; }
  size_t size() const { return state_.size(); }
  size_t finished() const { return finished_; }
  bool done() const { return finished_ == state_.size(); }

  static constexpr size_t npos = static_cast<size_t>(-1);

private:
  void order(std::vector<size_t>& xs) const;

  std::vector<priority> prio_;
  std::vector<std::vector<size_t>> dependents_;
  std::vector<size_t> unmet_;
  std::vector<node_state> state_;
  std::unordered_map<std::string, size_t> index_;
  size_t finished_ = 0;
};

} // namespace troupe
