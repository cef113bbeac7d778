#include "bridge/zmq/dispatcher.hpp"

#include <algorithm>

namespace troupe {

dispatcher::node_info* dispatcher::free_node(const std::string& worker) {
  // The node with most free slots: spreads work over equal nodes.
  node_info* best = nullptr;
  int best_free = 0;
  for (auto& [id, n] : nodes_) {
    if (n.worker != worker || n.draining)
      continue;
    auto free = n.slots - static_cast<int>(n.running.size() + n.foreign.size());
    if (free > best_free) {
      best = &n;
      best_free = free;
    }
  }
  return best;
}

void dispatcher::pump(const std::string& worker, std::vector<send_task>& out) {
  if (paused_)
    return;
  auto& q = queues_[worker];
  while (!q.empty()) {
    auto* n = free_node(worker);
    if (!n)
      return;
    auto ticket = q.front();
    q.pop_front();
    auto& j = jobs_.at(ticket);
    j.node = n->id;
    n->running.insert(ticket);
    out.push_back({n->id, ticket, &j.t, &j.wire});
  }
}

std::vector<dispatcher::send_task>
dispatcher::submit(uint64_t ticket, task t, const std::string& worker,
                   std::string wire) {
  jobs_[ticket] = job{std::move(t), worker, {}, std::move(wire)};
  queues_[worker].push_back(ticket);
  std::vector<send_task> out;
  pump(worker, out);
  return out;
}

std::vector<dispatcher::send_task>
dispatcher::ready(const std::string& id, const std::string& name,
                  const std::string& worker, int slots,
                  const std::vector<uint64_t>& running, time_point now,
                  const std::string& parked) {
  std::vector<send_task> out;
  if (nodes_.count(id))
    drop(id, out); // a second READY on one connection: start afresh
  auto& n = nodes_[id];
  n.id = id;
  n.name = name;
  n.worker = worker;
  n.slots = std::max(1, slots);
  n.last_seen = now;
  n.parked = parked;
  n.draining = !parked.empty();
  for (auto ticket : running) {
    auto j = jobs_.find(ticket);
    if (j == jobs_.end()) {
      // From before a restart of ours (tickets never repeat), or ended
      // meanwhile: either way the node is busy with it until it answers.
      n.foreign.insert(ticket);
      continue;
    }
    if (j->second.worker != worker)
      continue; // not this node's to run
    if (j->second.node.empty()) {
      auto& q = queues_[worker];
      q.erase(std::remove(q.begin(), q.end(), ticket), q.end());
    } else if (auto other = nodes_.find(j->second.node); other != nodes_.end()) {
      other->second.running.erase(ticket);
    }
    j->second.node = id;
    n.running.insert(ticket);
  }
  pump(worker, out);
  return out;
}

bool dispatcher::seen(const std::string& id, time_point now) {
  auto i = nodes_.find(id);
  if (i == nodes_.end())
    return false;
  i->second.last_seen = now;
  return true;
}

bool dispatcher::finished(const std::string& id, uint64_t ticket,
                          std::vector<send_task>& next) {
  auto j = jobs_.find(ticket);
  if (j == jobs_.end())
    return false;
  auto worker = j->second.worker;
  if (!j->second.node.empty())
    if (auto n = nodes_.find(j->second.node); n != nodes_.end())
      n->second.running.erase(ticket);
  if (j->second.node.empty()) {
    // Requeued after its node was thought dead, and done after all.
    auto& q = queues_[worker];
    q.erase(std::remove(q.begin(), q.end(), ticket), q.end());
  }
  jobs_.erase(j);
  (void) id;
  pump(worker, next);
  return true;
}

std::optional<uint64_t> dispatcher::take_queued_job(const std::string& worker,
                                                    const std::string& task_id) {
  auto& q = queues_[worker];
  for (auto i = q.begin(); i != q.end(); ++i) {
    if (jobs_.at(*i).t.task_id != task_id)
      continue;
    auto ticket = *i;
    q.erase(i);
    jobs_.erase(ticket);
    return ticket;
  }
  return std::nullopt;
}

std::vector<dispatcher::cancelled_job> dispatcher::cancel(const std::string& task_id) {
  std::vector<cancelled_job> out;
  for (auto i = jobs_.begin(); i != jobs_.end();) {
    if (i->second.t.task_id != task_id) {
      ++i;
      continue;
    }
    out.push_back({i->first, i->second.node, i->second.t});
    if (!i->second.node.empty()) {
      ++i;
      continue;
    }
    auto& q = queues_[i->second.worker];
    q.erase(std::remove(q.begin(), q.end(), i->first), q.end());
    i = jobs_.erase(i);
  }
  return out;
}

dispatcher::foreign_end
dispatcher::finished_foreign(const std::string& id, uint64_t ticket,
                             const std::string& task_id,
                             std::vector<send_task>& next) {
  foreign_end out;
  auto n = nodes_.find(id);
  if (n == nodes_.end() || n->second.foreign.erase(ticket) == 0)
    return out;
  out.was_foreign = true;
  auto worker = n->second.worker;
  out.job = take_queued_job(worker, task_id);
  pump(worker, next);
  return out;
}

std::optional<dispatcher::node_info>
dispatcher::drop(const std::string& id, std::vector<send_task>& next) {
  auto i = nodes_.find(id);
  if (i == nodes_.end())
    return std::nullopt;
  auto n = std::move(i->second);
  nodes_.erase(i);
  auto& q = queues_[n.worker];
  // Back to the front, oldest first: they were dispatched before the rest.
  for (auto t = n.running.rbegin(); t != n.running.rend(); ++t) {
    jobs_.at(*t).node.clear();
    q.push_front(*t);
  }
  pump(n.worker, next);
  return n;
}

void dispatcher::drain(const std::string& id) {
  if (auto i = nodes_.find(id); i != nodes_.end())
    i->second.draining = true;
}

bool dispatcher::handed_back(const std::string& id, uint64_t ticket,
                             std::vector<send_task>& next) {
  auto j = jobs_.find(ticket);
  auto n = nodes_.find(id);
  if (j == jobs_.end() || n == nodes_.end() || j->second.node != id)
    return false;
  n->second.running.erase(ticket);
  n->second.draining = true; // its DRAIN may still be on the way
  j->second.node.clear();
  queues_[j->second.worker].push_front(ticket);
  pump(j->second.worker, next);
  return true;
}

bool dispatcher::park(const std::string& id, uint64_t ticket, const std::string& why,
                      std::vector<send_task>& next) {
  auto n = nodes_.find(id);
  if (n == nodes_.end())
    return false;
  n->second.draining = true;
  if (n->second.parked.empty())
    n->second.parked = why;
  auto& worker = n->second.worker;
  bool other = std::any_of(nodes_.begin(), nodes_.end(), [&](auto& x) {
    return x.first != id && x.second.worker == worker && !x.second.draining;
  });
  return other && handed_back(id, ticket, next);
}

std::vector<std::pair<uint64_t, task>> dispatcher::take_queued() {
  std::vector<std::pair<uint64_t, task>> out;
  for (auto& [worker, q] : queues_) {
    for (auto ticket : q) {
      auto j = jobs_.find(ticket);
      out.emplace_back(ticket, std::move(j->second.t));
      jobs_.erase(j);
    }
    q.clear();
  }
  return out;
}

std::vector<std::string>
dispatcher::silent_since(time_point now, std::chrono::milliseconds timeout) const {
  std::vector<std::string> out;
  for (auto& [id, n] : nodes_)
    if (now - n.last_seen > timeout)
      out.push_back(id);
  return out;
}

size_t dispatcher::queued(const std::string& worker) const {
  auto i = queues_.find(worker);
  return i == queues_.end() ? 0 : i->second.size();
}

size_t dispatcher::serving(const std::string& worker) const {
  return static_cast<size_t>(std::count_if(nodes_.begin(), nodes_.end(), [&](auto& x) {
    return x.second.worker == worker && !x.second.draining;
  }));
}

} // namespace troupe
