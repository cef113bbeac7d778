#pragma once

// The one dependency engine, for `run`, a workflow over the bridge and the
// file drop of `serve`: which tasks are ready, which become ready when a
// dependency completes, which fail (transitively, without recursion) when
// one fails, and, for tasks that arrive one by one, the two things waiting
// alone never ends: a cycle among waiting tasks, and a dependency nothing
// provides. Each task is released the moment its own dependencies are met
// (no supersteps). Pure, with injected time.
//
// A task waits for dependency ids, not for nodes: any result for the id
// meets it, from a node here (complete) or from outside (settle: the file
// drop's results on disk, another node's).
//
// Two ways in:
// - closed, a whole workflow at once (the constructor): it passed
//   check_workflow (ids unique, no cycle), and a dependency that names no
//   task of it counts as met (its caller resolved it: the file drop hands
//   one task with the results of its outside dependencies);
// - open, a stream (add): each task with the dependencies still missing;
//   the caller removes a node once it has taken it out (run, failed, its
//   file gone), and slots are reused, so a long `serve` holds only what
//   waits.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/model.hpp"

namespace troupe {

class task_graph {
public:
  using time_point = std::chrono::steady_clock::time_point;
  using node = size_t;
  enum class node_state { waiting, released, complete, failed, removed };
  static constexpr node npos = static_cast<node>(-1);

  task_graph() = default;

  /// A closed graph of a workflow's tasks; node i is tasks[i].
  explicit task_graph(const std::vector<task>& tasks);

  /// Tasks with no unmet dependency, highest priority first, then in
  /// order. Marks them released.
  std::vector<node> take_initial();

  /// Marks `i` complete and returns the waiting tasks that became ready,
  /// highest priority first. Marks them released.
  std::vector<node> complete(node i);

  /// Marks `i` failed and returns every task that waits for it,
  /// transitively, breadth-first (a task after the one that dooms it).
  /// Marks them failed too.
  std::vector<node> fail(node i);

  /// A result for `id` from outside the graph: as complete() (`ok`) or
  /// fail() of a task with that id.
  std::vector<node> settle(const std::string& id, bool ok);

  /// Open use: task `id` waits for the ids in `missing` (none has a result
  /// yet; repeats count once) since `since`. Returns its node and the cycle
  /// it closes among waiting tasks, e.g. {a, b, a}, or nothing; a node that
  /// closes a cycle still waits until the caller removes it.
  struct added {
    node n;
    std::vector<std::string> cycle;
  };
  added add(const std::string& id, const std::vector<std::string>& missing,
            priority p, time_point since);

  /// Forgets node `i`; what waited for its id waits on for the id.
  void remove(node i);

  /// Whether some waiting task waits for `id`.
  bool awaited(const std::string& id) const;

  /// Open use: waiting tasks that have waited longer than `patience` for a
  /// dependency that is no task here: (node, that id), for the caller to
  /// look for elsewhere (on disk).
  std::vector<std::pair<node, std::string>>
  overdue(time_point now, std::chrono::milliseconds patience) const;

  /// When overdue() can next find something: the oldest wait plus
  /// `patience` (nothing waits: time_point::max()).
  time_point next_check(std::chrono::milliseconds patience) const;

  /// A node of id `id`, or npos.
  node index_of(const std::string& id) const;

  node_state state(node i) const { return nodes_[i].state; }
  const std::string& id(node i) const { return *nodes_[i].id; }
  time_point since(node i) const {
    return i < open_.size() ? open_[i].since : time_point{};
  }
  /// Nodes held (not removed).
  size_t size() const { return nodes_.size() - free_.size(); }
  /// Of those, complete or failed.
  size_t finished() const { return finished_; }
  bool done() const { return finished_ == size(); }

  /// "a -> b -> a"
  static std::string describe(const std::vector<std::string>& cycle);

private:
  // What run's fast path touches: 40 bytes a task.
  struct node_t {
    const std::string* id = nullptr; // the key in first_
    priority prio = priority::medium;
    node_state state = node_state::removed;
    // The first node of an id keeps the waiting tasks that wait for it,
    // found without hashing the id.
    bool first = false;
    uint32_t unmet = 0; // dependency ids without a result
    std::vector<node> dependents;
  };
  // Open adds only (empty for a closed graph): what a node waits for, for
  // cycles, overdue() and remove().
  struct open_t {
    std::vector<std::string> waits;
    time_point since{};
    node next_same = npos; // another node of the same id
  };

  /// The waiting tasks that wait for `id`: kept by the first node of that
  /// id, or, while no node has it, in absent_.
  std::vector<node>* waiters(const std::string& id);
  const std::vector<node>* waiters(const std::string& id) const;
  /// Empties the waiters of node i's id, or of `id`, and returns them.
  std::vector<node> take_waiters(node i);
  std::vector<node> take_waiters(const std::string& id);
  std::vector<node> settle(std::vector<node> queue, const std::string& id, bool ok);
  node make_node(const std::string& id, priority p, node_state s);
  void order(std::vector<node>& xs) const;
  std::vector<std::string> find_cycle(node n) const;
  /// Takes `i` out of the waiter lists of the ids it still waits for.
  void unlink_waits(node i);
  void finish(node i, node_state s);
  /// complete() (ok) or fail().
  std::vector<node> end(node i, bool ok);

  std::vector<node_t> nodes_;
  std::vector<open_t> open_;
  std::vector<node> free_;
  std::unordered_map<std::string, node> first_;               // id -> first node
  std::unordered_map<std::string, std::vector<node>> absent_; // id -> waiters
  size_t finished_ = 0;
};

} // namespace troupe
