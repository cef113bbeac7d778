#pragma once

// An orchestrator's side of the shared Redis queue: claims its share of
// each worker's tasks (no more than it has room for), runs them through
// the orchestrator actor, and writes their one result; renews the leases
// of what it holds and takes over tasks whose holder went quiet
// (docs/QUEUE.md). Results are also written into this orchestrator's
// results/<worker>/ for the tasks it ran or imported, so that the file
// drop's readers and waiting producers see them as before.
//
// Blocking Redis calls: spawn it detached.

#include <functional>
#include <map>
#include <string>

#include "actors/messages.hpp"
#include "bridge/redis/redis_queue.hpp"
#include "bridge/redis/redis_url.hpp"

namespace troupe {

struct redis_runner_settings {
  redis_url url;
  redis_queue_settings queue;
  /// Tasks held at once per worker: its slots here, with room for the next
  /// ones to be on their way.
  std::map<std::string, size_t> capacity;
  /// When set (worker nodes serve the workers), the capacity of a worker
  /// now, asked at each claim: none while no node of it is connected, so
  /// that another orchestrator's nodes get its tasks.
  std::function<size_t(const std::string& worker)> capacity_of;
  /// Where results/<worker>/ are written ("": nowhere).
  std::string root;
  /// Write every result of the queue there (a mirror), not only those of
  /// tasks this root imported or ran.
  bool all_results = false;
  /// This root's name in the queue (host:root): what it imported is
  /// recorded under it, so that its results come back here even after a
  /// restart.
  std::string origin;
  /// How long an idle runner waits before it looks again: a backstop, since
  /// the ready channel wakes it when a task can be claimed.
  int64_t idle_poll_ms = 200;
  /// How often it looks for results of what this root imported, another
  /// backstop (the results channel announces each one): one look per
  /// watched task, so not at every idle poll.
  int64_t watched_poll_ms = 2000;
  /// How long a task may wait for a dependency nobody has queued, waiting
  /// or running before it fails (serve's --dependency-wait-s).
  int64_t dependency_wait_ms = 60'000;
  /// Called (on the runner's thread) for each result written into root.
  std::function<void(const result&)> on_result;
};

/// Spawns the runner (detached). It also takes (subscribe_atom, worker,
/// task_id): a task the file drop put into the queue, whose result it
/// writes into root once any orchestrator has finished it; and
/// (stop_atom, grace_ms) -> int32_t: it claims nothing more, waits up to
/// the grace for what runs, then gives the rest back to the queue and
/// replies how many.
caf::actor spawn_redis_runner(caf::actor_system& sys, redis_runner_settings cfg,
                              orchestrator_actor orch);

} // namespace troupe
