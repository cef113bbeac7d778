#pragma once

// The orchestrator's book of remote worker nodes, free of sockets and actors
// so that it is tested with injected time: which node serves which worker,
// its free slots, what it runs; a queue per worker for tasks no node can
// take yet; liveness; requeueing the tasks of a dead node.

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/model.hpp"

namespace troupe {

class dispatcher {
public:
  using time_point = std::chrono::steady_clock::time_point;

  /// A task to send: TASK {ticket, task} to `node`. `t` and `wire` point
  /// into the open job: valid while the ticket is open (running on `node`),
  /// which a caller that holds on to them checks first. `wire` is the task as
  /// submit() got it encoded (empty: encode `t`).
  struct send_task {
    std::string node;
    uint64_t ticket;
    const task* t;
    const std::string* wire;
  };

  struct node_info {
    std::string id; // the transport's identity of the connection
    std::string name;
    std::string worker;
    int slots = 1;
    std::set<uint64_t> running;
    /// Tickets its READY said it runs that no job here has: work from
    /// before our restart. Each holds a slot until its result comes.
    std::set<uint64_t> foreign;
    time_point last_seen;
    bool draining = false; // DRAIN: finishes what it runs, gets nothing new
    /// Set when it failed in a way that needs a person (its credentials, a
    /// spend limit): why. It gets nothing new either.
    std::string parked;
  };

  /// A task for `worker` under `ticket`; sent at once if a node is free.
  /// `wire`: the task already encoded for the wire, if the caller has it.
  std::vector<send_task> submit(uint64_t ticket, task t, const std::string& worker,
                                std::string wire = {});

  /// A node said READY. `running`: tickets it still runs from before a
  /// reconnection (they are taken back from the queue or another node);
  /// those no job here has (we restarted) are `foreign` and hold a slot.
  /// `parked`: the READY says its worker parked (see park()): it gets
  /// nothing new.
  std::vector<send_task> ready(const std::string& id, const std::string& name,
                               const std::string& worker, int slots,
                               const std::vector<uint64_t>& running,
                               time_point now, const std::string& parked = {});

  /// Any message from a node: it is alive. False if the node is unknown.
  bool seen(const std::string& id, time_point now);

  /// A node's result for `ticket`: the slot is free again. Returns true the
  /// first time a ticket ends (deliver it), false for a duplicate or an
  /// unknown ticket (acknowledge and drop it). `next` gets what can now go.
  bool finished(const std::string& id, uint64_t ticket,
                std::vector<send_task>& next);

  /// A node's result for one of its `foreign` tickets: the slot is free
  /// again. If a queued job of the node's worker has `task_id` (we recovered
  /// that task after our restart), it ends with this result: its ticket is
  /// returned (deliver it). Nullopt if the ticket was not foreign there or
  /// no queued job matches. `next` gets what can now go.
  struct foreign_end {
    bool was_foreign = false;
    std::optional<uint64_t> job; // the queued job it answers
  };
  foreign_end finished_foreign(const std::string& id, uint64_t ticket,
                               const std::string& task_id,
                               std::vector<send_task>& next);

  /// A node left (DISCONNECT) or was declared dead: its running tickets go
  /// back to the front of their worker's queue. Returns the node (if it was
  /// known) and, in `next`, what other nodes can take now.
  std::optional<node_info> drop(const std::string& id,
                                std::vector<send_task>& next);

  /// The node is stopping: it keeps what it runs and gets nothing new.
  void drain(const std::string& id);

  /// Node `id` answered `ticket` without running it because it is stopping
  /// (a TASK that crossed its DRAIN): the node drains, and the ticket goes
  /// back to the front of its worker's queue for another node. False (and
  /// nothing changes) unless the ticket was running on that node.
  bool handed_back(const std::string& id, uint64_t ticket,
                   std::vector<send_task>& next);

  /// Node `id` answered `ticket` with a failure that needs a person or a
  /// `parked` answer (its worker has parked): it gets nothing new, `why`
  /// says so in status. If another node of its worker takes tasks, the
  /// ticket goes back to the front of the queue for it: true. Else false,
  /// and the answer stands (the whole worker parks).
  bool park(const std::string& id, uint64_t ticket, const std::string& why,
            std::vector<send_task>& next);

  /// Cancel every open job of `task_id`: queued ones are removed (node
  /// empty: answer them cancelled), running ones stay until their node's
  /// result comes (node set: ask it to stop them).
  struct cancelled_job {
    uint64_t ticket;
    std::string node;
    task t;
  };
  std::vector<cancelled_job> cancel(const std::string& task_id);

  /// No task goes out to a node any more (we are stopping): what is queued,
  /// or requeued from a node that leaves, stays queued for take_queued().
  void pause() { paused_ = true; }

  /// Removes and returns every queued job (not sent to any node), oldest
  /// first per worker: what is answered without running when we stop.
  std::vector<std::pair<uint64_t, task>> take_queued();

  /// Nodes silent for longer than `timeout`.
  std::vector<std::string> silent_since(time_point now,
                                        std::chrono::milliseconds timeout) const;

  const std::map<std::string, node_info>& nodes() const { return nodes_; }
  size_t queued(const std::string& worker) const;
  /// Nodes of `worker` that take tasks now (not draining, not parked).
  size_t serving(const std::string& worker) const;
  size_t outstanding() const { return jobs_.size(); }
  /// The task of an open ticket (queued or running), or null.
  const task* task_of(uint64_t ticket) const {
    auto i = jobs_.find(ticket);
    return i == jobs_.end() ? nullptr : &i->second.t;
  }

private:
  struct job {
    task t;
    std::string worker;
    std::string node; // empty while queued
    std::string wire;
  };

  void pump(const std::string& worker, std::vector<send_task>& out);
  node_info* free_node(const std::string& worker);
  /// Removes a queued job of `worker` with `task_id`; its ticket.
  std::optional<uint64_t> take_queued_job(const std::string& worker,
                                          const std::string& task_id);

  std::map<std::string, node_info> nodes_;
  std::map<uint64_t, job> jobs_;
  std::map<std::string, std::deque<uint64_t>> queues_;
  bool paused_ = false;
};

} // namespace troupe
