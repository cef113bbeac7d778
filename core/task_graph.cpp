#include "core/task_graph.hpp"

#include <algorithm>

namespace troupe {

task_graph::task_graph(const std::vector<task>& tasks)
  : prio_(tasks.size()),
    dependents_(tasks.size()),
    unmet_(tasks.size(), 0),
    state_(tasks.size(), node_state::waiting) {
  index_.reserve(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    index_.emplace(tasks[i].task_id, i);
    prio_[i] = tasks[i].prio;
  }
  for (size_t i = 0; i < tasks.size(); ++i)
    for (auto& dep : tasks[i].dependencies)
      if (auto j = index_of(dep); j != npos) {
        dependents_[j].push_back(i);
        ++unmet_[i];
      }
}

void task_graph::order(std::vector<size_t>& xs) const {
  std::stable_sort(xs.begin(), xs.end(), [this](size_t a, size_t b) {
    return prio_[a] < prio_[b];
  });
}

std::vector<size_t> task_graph::take_initial() {
  std::vector<size_t> ready;
  for (size_t i = 0; i < state_.size(); ++i)
    if (unmet_[i] == 0 && state_[i] == node_state::waiting) {
      state_[i] = node_state::released;
      ready.push_back(i);
    }
  order(ready);
  return ready;
}

std::vector<size_t> task_graph::complete(size_t i) {
  std::vector<size_t> ready;
  if (state_[i] == node_state::complete || state_[i] == node_state::failed)
    return ready;
  state_[i] = node_state::complete;
  ++finished_;
  for (auto d : dependents_[i])
    if (--unmet_[d] == 0 && state_[d] == node_state::waiting) {
      state_[d] = node_state::released;
      ready.push_back(d);
    }
  order(ready);
  return ready;
}

std::vector<size_t> task_graph::fail(size_t i) {
  std::vector<size_t> doomed;
  if (state_[i] == node_state::complete || state_[i] == node_state::failed)
    return doomed;
  state_[i] = node_state::failed;
  ++finished_;
  // Breadth-first, so a task is listed after the dependency that dooms it.
  std::vector<size_t> frontier{i};
  while (!frontier.empty()) {
    std::vector<size_t> next;
    for (auto f : frontier)
      for (auto d : dependents_[f])
        if (state_[d] == node_state::waiting) {
          state_[d] = node_state::failed;
          ++finished_;
          doomed.push_back(d);
          next.push_back(d);
        }
    frontier.swap(next);
  }
  return doomed;
}

size_t task_graph::index_of(const std::string& id) const {
  auto i = index_.find(id);
  return i == index_.end() ? npos : i->second;
}

} // namespace troupe
