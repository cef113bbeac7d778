#include "core/task_graph.hpp"

#include <algorithm>
#include <deque>
#include <map>

namespace troupe {

task_graph::task_graph(const std::vector<task>& tasks) {
  nodes_.resize(tasks.size());
  first_.reserve(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    auto& x = nodes_[i];
    auto at = first_.emplace(tasks[i].task_id, i).first; // ids are unique
    x.id = &at->first;
    x.prio = tasks[i].prio;
    x.state = node_state::waiting;
    x.first = true;
  }
  // Edges after all nodes, so that a task may name one listed after it.
  // Closed: a dependency is only counted, nothing kept in open_.
  for (size_t i = 0; i < tasks.size(); ++i)
    for (auto& d : tasks[i].dependencies)
      if (auto j = first_.find(d); j != first_.end()) {
        nodes_[j->second].dependents.push_back(i);
        ++nodes_[i].unmet;
      }
}

task_graph::node task_graph::make_node(const std::string& id, priority p,
                                       node_state s) {
  node n;
  if (free_.empty()) {
    n = nodes_.size();
    nodes_.emplace_back();
  } else {
    n = free_.back();
    free_.pop_back();
  }
  open_.resize(nodes_.size());
  auto& x = nodes_[n];
  x.prio = p;
  x.state = s;
  auto [at, fresh] = first_.emplace(id, n);
  x.id = &at->first;
  x.first = fresh;
  if (!fresh) {
    // Another task of this id: the first one keeps the waiters.
    open_[n].next_same = open_[at->second].next_same;
    open_[at->second].next_same = n;
  } else if (auto a = absent_.find(id); a != absent_.end()) {
    x.dependents = std::move(a->second);
    absent_.erase(a);
  }
  return n;
}

std::vector<task_graph::node>* task_graph::waiters(const std::string& id) {
  if (auto f = first_.find(id); f != first_.end())
    return &nodes_[f->second].dependents;
  if (auto a = absent_.find(id); a != absent_.end())
    return &a->second;
  return nullptr;
}

const std::vector<task_graph::node>*
task_graph::waiters(const std::string& id) const {
  return const_cast<task_graph*>(this)->waiters(id);
}

std::vector<task_graph::node> task_graph::take_waiters(node i) {
  std::vector<node> out;
  if (nodes_[i].first)
    out.swap(nodes_[i].dependents);
  else
    out = take_waiters(*nodes_[i].id);
  return out;
}

std::vector<task_graph::node> task_graph::take_waiters(const std::string& id) {
  std::vector<node> out;
  if (auto* ws = waiters(id)) {
    out.swap(*ws);
    absent_.erase(id); // no-op when a node keeps the list
  }
  return out;
}

void task_graph::order(std::vector<node>& xs) const {
  std::stable_sort(xs.begin(), xs.end(), [this](node a, node b) {
    return nodes_[a].prio < nodes_[b].prio;
  });
}

void task_graph::finish(node i, node_state s) {
  nodes_[i].state = s;
  ++finished_;
}

void task_graph::unlink_waits(node i) {
  if (i >= open_.size())
    return; // a closed graph's node
  for (auto& d : open_[i].waits) {
    auto* ws = waiters(d);
    if (!ws)
      continue;
    if (auto at = std::find(ws->begin(), ws->end(), i); at != ws->end())
      ws->erase(at);
    if (ws->empty())
      absent_.erase(d); // no-op when a node keeps the list
  }
  open_[i].waits.clear();
}

std::vector<task_graph::node> task_graph::take_initial() {
  std::vector<node> ready;
  for (node i = 0; i < nodes_.size(); ++i)
    if (nodes_[i].unmet == 0 && nodes_[i].state == node_state::waiting) {
      nodes_[i].state = node_state::released;
      ready.push_back(i);
    }
  order(ready);
  return ready;
}

std::vector<task_graph::node> task_graph::complete(node i) {
  return end(i, true);
}

std::vector<task_graph::node> task_graph::fail(node i) {
  return end(i, false);
}

std::vector<task_graph::node> task_graph::end(node i, bool ok) {
  auto s = nodes_[i].state;
  if (s == node_state::complete || s == node_state::failed
      || s == node_state::removed)
    return {}; // ended already: a repeat changes nothing
  finish(i, ok ? node_state::complete : node_state::failed);
  return settle(take_waiters(i), *nodes_[i].id, ok);
}

std::vector<task_graph::node> task_graph::settle(const std::string& id, bool ok) {
  return settle(take_waiters(id), id, ok);
}

std::vector<task_graph::node>
task_graph::settle(std::vector<node> queue, const std::string& id, bool ok) {
  std::vector<node> out;
  if (ok) {
    for (auto w : queue) {
      auto& x = nodes_[w];
      if (x.state != node_state::waiting)
        continue;
      if (w < open_.size()) {
        auto& ws = open_[w].waits;
        if (auto at = std::find(ws.begin(), ws.end(), id); at != ws.end())
          ws.erase(at);
      }
      if (--x.unmet == 0) {
        x.state = node_state::released;
        out.push_back(w);
      }
    }
    order(out);
    return out;
  }
  // Breadth-first through the queue as it grows (no recursion: a chain of
  // dropped tasks may be long), so a task is listed after what dooms it.
  for (size_t k = 0; k < queue.size(); ++k) {
    auto w = queue[k];
    if (nodes_[w].state != node_state::waiting)
      continue;
    unlink_waits(w);
    finish(w, node_state::failed);
    out.push_back(w);
    auto more = take_waiters(w);
    queue.insert(queue.end(), more.begin(), more.end());
  }
  return out;
}

task_graph::added task_graph::add(const std::string& id,
                                  const std::vector<std::string>& missing,
                                  priority p, time_point since) {
  auto n = make_node(id, p, node_state::waiting);
  open_[n].since = since;
  for (auto& d : missing) {
    auto& ws = open_[n].waits;
    if (std::find(ws.begin(), ws.end(), d) != ws.end())
      continue;
    ws.push_back(d);
    if (auto* list = waiters(d))
      list->push_back(n);
    else
      absent_[d].push_back(n);
    ++nodes_[n].unmet;
  }
  if (nodes_[n].unmet == 0)
    nodes_[n].state = node_state::released;
  // A cycle through this task needs a waiting task that waits for it;
  // usually none does (files come dependencies first, or a chain is
  // dropped from its end), and nothing is walked.
  if (!awaited(id))
    return {n, {}};
  return {n, find_cycle(n)};
}

std::vector<std::string> task_graph::find_cycle(node n) const {
  // Breadth-first from what this task waits for, through waiting tasks
  // only: reaching its id again closes a cycle, read back through `parent`.
  auto& id = *nodes_[n].id;
  std::map<std::string, std::string> parent; // id -> the id that waits for it
  std::deque<std::string> todo;
  for (auto& d : open_[n].waits)
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
    auto f = first_.find(at);
    for (auto m = f == first_.end() ? npos : f->second; m != npos;
         m = open_[m].next_same)
      if (nodes_[m].state == node_state::waiting)
        for (auto& d : open_[m].waits)
          if (parent.emplace(d, at).second)
            todo.push_back(d);
  }
  return {};
}

void task_graph::remove(node i) {
  auto& x = nodes_[i];
  if (x.state == node_state::removed)
    return;
  open_.resize(nodes_.size());
  unlink_waits(i);
  if (x.state == node_state::complete || x.state == node_state::failed)
    --finished_;
  auto f = first_.find(*x.id);
  auto next = open_[i].next_same;
  if (f->second == i) {
    // What waited for this id waits on: for its next task, or absent.
    if (next != npos) {
      f->second = next;
      nodes_[next].first = true;
      nodes_[next].dependents = std::move(x.dependents);
    } else {
      if (!x.dependents.empty())
        absent_[*x.id] = std::move(x.dependents);
      first_.erase(f);
    }
  } else {
    auto m = f->second;
    while (open_[m].next_same != i)
      m = open_[m].next_same;
    open_[m].next_same = next;
  }
  x = node_t{};
  open_[i] = open_t{};
  free_.push_back(i);
}

bool task_graph::awaited(const std::string& id) const {
  auto* ws = waiters(id);
  return ws && !ws->empty();
}

std::vector<std::pair<task_graph::node, std::string>>
task_graph::overdue(time_point now, std::chrono::milliseconds patience) const {
  std::vector<std::pair<node, std::string>> out;
  for (node i = 0; i < open_.size(); ++i) {
    auto& w = open_[i];
    if (nodes_[i].state != node_state::waiting || now - w.since < patience)
      continue;
    for (auto& d : w.waits)
      if (!first_.count(d)) {
        out.emplace_back(i, d);
        break;
      }
  }
  return out;
}

task_graph::time_point
task_graph::next_check(std::chrono::milliseconds patience) const {
  auto next = time_point::max();
  for (node i = 0; i < open_.size(); ++i)
    if (nodes_[i].state == node_state::waiting && !open_[i].waits.empty())
      next = std::min(next, open_[i].since + patience);
  return next;
}

task_graph::node task_graph::index_of(const std::string& id) const {
  auto i = first_.find(id);
  return i == first_.end() ? npos : i->second;
}

std::string task_graph::describe(const std::vector<std::string>& cycle) {
  std::string out;
  for (auto& id : cycle)
    out += (out.empty() ? "" : " -> ") + id;
  return out;
}

} // namespace troupe
