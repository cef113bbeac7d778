#pragma once

// Dropped task files wait for their dependencies one by one, without a
// workflow around them. This book keeps what each waits for, and decides
// the two things waiting alone never ends: a cycle among waiting tasks,
// and a dependency that nothing provides. Pure, with injected time: the
// file drop asks the disk whether a dependency exists, this decides when.

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace troupe {

class dependency_wait {
public:
  using time_point = std::chrono::steady_clock::time_point;

  /// Task `id` (known to the caller as `key`) waits for the ids in
  /// `missing` (no result yet). Returns the cycle this closes among waiting
  /// tasks as ids, e.g. {a, b, a}, or nothing. A key added again replaces
  /// what it waited for; its waiting time runs on.
  std::vector<std::string> add(const std::string& key, const std::string& id,
                               const std::vector<std::string>& missing,
                               time_point now);

  void remove(const std::string& key);
  bool contains(const std::string& key) const { return waits_.count(key) != 0; }
  bool empty() const { return waits_.empty(); }

  /// The keys waiting for `id`, in key order.
  std::vector<std::string> waiting_for(const std::string& id) const;

  /// Waiting tasks that have waited longer than `patience` for a
  /// dependency that is not itself a waiting task: (key, that dependency),
  /// for the caller to look for on disk.
  std::vector<std::pair<std::string, std::string>>
  overdue(time_point now, std::chrono::milliseconds patience) const;

  /// When overdue() can next find something: the oldest wait plus
  /// `patience` (nothing waits: time_point::max()).
  time_point next_check(std::chrono::milliseconds patience) const;

  /// "a -> b -> a"
  static std::string describe(const std::vector<std::string>& cycle);

private:
  struct wait {
    std::string id;
    std::vector<std::string> missing;
    time_point since;
  };
  std::map<std::string, wait> waits_;                   // by key
  std::map<std::string, std::set<std::string>> by_id_;     // task id -> keys
  std::map<std::string, std::set<std::string>> needed_by_; // dependency -> keys
};

} // namespace troupe
