#include "core/dependency_wait.hpp"

#include <algorithm>
#include <deque>

namespace troupe {

std::vector<std::string> dependency_wait::add(const std::string& key, const std::string& id,
                                              const std::vector<std::string>& deps,
                                              time_point now) {
  std::vector<std::string> missing;
  for (auto& d : deps)
    if (std::find(missing.begin(), missing.end(), d) == missing.end())
      missing.push_back(d);
  auto since = now;
  if (auto i = waits_.find(key); i != waits_.end()) {
    since = i->second.since;
    remove(key);
  }
  waits_[key] = wait{id, missing, since};
  by_id_[id].insert(key);
  for (auto& d : missing)
    needed_by_[d].insert(key);
  // A cycle through this task needs a waiting task that waits for it;
  // usually none does (files come dependencies first, or a chain is
  // dropped from its end), and nothing is walked.
  if (!needed_by_.count(id))
    return {};
  // Breadth-first from what this task waits for, through waiting tasks
  // only (no recursion: a chain of dropped tasks may be long): reaching
  // `id` again closes a cycle, read back through `parent`.
  std::map<std::string, std::string> parent; // id -> the id that waits for it
  std::deque<std::string> todo;
  for (auto& d : missing)
    if (parent.emplace(d, id).second)
      todo.push_back(d);
  while (!todo.empty()) {
    auto at = todo.front();
    todo.pop_front();
    if (at == id) {
      std::vector<std::string> cycle{id};
      for (auto x = parent.at(id); x != id; x = parent.at(x))
        cycle.push_back(x);
      cycle.push_back(id);
      // Read back from the end: the order is the waits' own, a -> b -> a.
      std::reverse(cycle.begin() + 1, cycle.end() - 1);
      return cycle;
    }
    auto ks = by_id_.find(at);
    if (ks == by_id_.end())
      continue;
    for (auto& k : ks->second)
      for (auto& d : waits_.at(k).missing)
        if (parent.emplace(d, at).second)
          todo.push_back(d);
  }
  return {};
}

void dependency_wait::remove(const std::string& key) {
  auto i = waits_.find(key);
  if (i == waits_.end())
    return;
  auto drop = [&](auto& index, const std::string& at) {
    auto ks = index.find(at);
    ks->second.erase(key);
    if (ks->second.empty())
      index.erase(ks);
  };
  drop(by_id_, i->second.id);
  for (auto& d : i->second.missing)
    drop(needed_by_, d);
  waits_.erase(i);
}

std::vector<std::string> dependency_wait::waiting_for(const std::string& id) const {
  auto i = needed_by_.find(id);
  if (i == needed_by_.end())
    return {};
  return {i->second.begin(), i->second.end()};
}

std::vector<std::pair<std::string, std::string>>
dependency_wait::overdue(time_point now, std::chrono::milliseconds patience) const {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& [k, w] : waits_) {
    if (now - w.since < patience)
      continue;
    for (auto& d : w.missing)
      if (!by_id_.count(d)) {
        out.emplace_back(k, d);
        break;
      }
  }
  return out;
}

dependency_wait::time_point
dependency_wait::next_check(std::chrono::milliseconds patience) const {
  auto next = time_point::max();
  for (auto& [k, w] : waits_)
    next = std::min(next, w.since + patience);
  return next;
}

std::string dependency_wait::describe(const std::vector<std::string>& cycle) {
  std::string out;
  for (auto& id : cycle)
    out += (out.empty() ? "" : " -> ") + id;
  return out;
}

} // namespace troupe
