#pragma once

// The task queue on Redis Streams, shared by any number of orchestrators
// (docs/QUEUE.md is the contract: keys, lease, exactly one result).
//
// Each worker has a stream per priority, read through one consumer group;
// every orchestrator is a consumer. A claimed entry is leased: it stays in
// the group's pending list under its consumer, and an entry idle longer
// than the lease is taken over by another consumer (XAUTOCLAIM). The one
// result of a task is written with HSETNX inside the script that also
// acknowledges the entry and releases what waited for it, so a crash
// between "written" and "acknowledged" cannot happen.
//
// Blocking calls on one redis_client: one queue per thread.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bridge/redis/redis_client.hpp"
#include "core/model.hpp"

namespace troupe {

struct redis_queue_settings {
  /// Before every key; one prefix is one queue (docs/QUEUE.md lists keys).
  std::string prefix = "troupe:";
  std::string group = "troupe";
  /// This orchestrator's name in the group: unique per process.
  std::string consumer;
  /// How long a claim holds without extend(): past it, another consumer
  /// may take the task over.
  int64_t lease_ms = 30'000;
  /// A task delivered this many times (its holders died running it) goes
  /// to the dead letters instead of an orchestrator's worker once more.
  int64_t max_deliveries = 5;
};

/// One task this consumer holds.
struct claimed_task {
  task t;
  std::string stream; // its stream's key
  std::string entry;  // its entry id in the stream
  int64_t deliveries = 1;
  bool taken_over = false; // from a consumer whose lease had expired
  /// A dependency failed first: finish it as dependency_failed, unrun.
  std::string doomed_by;
  /// Non-empty: delivered too often; finish it failed, with this reason
  /// (a copy is in the worker's dead-letter stream).
  std::string dead;
};

/// A task entry that could not be decoded (written by something else).
struct bad_entry {
  std::string stream, entry, task_id, reason;
};

/// A task waiting in Redis for dependencies, as waiting_tasks() reads it.
struct waiting_entry {
  task t;
  int64_t since_ms = 0; // when it began to wait (unix ms)
  /// Its dependencies without a result yet.
  std::vector<std::string> missing;
  /// Of those, the ones no orchestrator has queued, waiting or running.
  std::vector<std::string> unknown;
};

class redis_queue {
public:
  enum class enqueued { queued, waiting, duplicate, done };

  redis_queue(redis_client& c, redis_queue_settings s);

  /// Creates each worker's streams and group (idempotent). "" or why not.
  std::string prepare(const std::vector<std::string>& workers);

  /// Puts `t` in its worker's stream, or among the waiting when one of
  /// its dependencies has no result yet. A task id that is queued, waiting
  /// or running already is a duplicate; one with a result is done. Both
  /// change nothing.
  std::optional<enqueued> enqueue(const task& t, std::string& error);

  /// New tasks of `worker`, high priority first: up to `max` from each
  /// priority's stream (one round trip), so up to 3 x max in all.
  std::vector<claimed_task> claim(const std::string& worker, size_t max, std::string& error,
                                  std::vector<bad_entry>* bad = nullptr);

  /// Up to `max` tasks of `worker` whose lease expired, now ours.
  std::vector<claimed_task> take_over(const std::string& worker, size_t max, std::string& error,
                                      std::vector<bad_entry>* bad = nullptr);

  /// Renews the lease of each held task; returns the entries no longer
  /// ours (taken over, or finished by another), whose runs should stop.
  std::vector<std::string> extend(const std::vector<const claimed_task*>& held,
                                  std::string& error);

  /// Writes the result of a held task (c.entry) or of a waiting one
  /// (c.entry empty) and acknowledges it. True if it is the task's one
  /// result; false if another was there first (then it is kept).
  std::optional<bool> complete(const claimed_task& c, const result& r, std::string& error);

  /// Up to `max` of the tasks waiting for dependencies (all of them when
  /// fewer wait), in one round trip; entries that do not decode are left
  /// out.
  std::vector<waiting_entry> waiting_tasks(size_t max, std::string& error);

  /// Gives a held task back, unrun, at the end of its stream.
  std::string release(const claimed_task& c);

  /// The one result of `task_id`, if any.
  std::optional<result> find_result(const std::string& task_id, std::string& error);

  /// Tasks a root imported, whose results go back into that root's
  /// results/ whoever runs them ("worker/task_id" in a set per origin,
  /// kept in Redis so that a restarted node still writes them).
  std::string note_imported(const std::string& origin, const std::string& worker,
                            const std::string& task_id);
  std::vector<std::pair<std::string, std::string>> imported(const std::string& origin,
                                                            std::string& error);
  void forget_imported(const std::string& origin, const std::string& worker,
                       const std::string& task_id);

  struct worker_counts {
    int64_t queued = 0;  // in the streams, not yet claimed
    int64_t claimed = 0; // in the group's pending lists
    int64_t dead = 0;
  };
  worker_counts counts(const std::string& worker, std::string& error);
  int64_t waiting(std::string& error);
  int64_t results(std::string& error);

  /// The orchestrators (consumers) in `worker`'s group: what each holds
  /// and how long since it last read or renewed.
  struct consumer_info {
    std::string name;
    int64_t pending = 0;
    int64_t idle_ms = 0;
  };
  std::vector<consumer_info> consumers(const std::string& worker, std::string& error);

  std::string stream_key(const std::string& worker, priority p) const;
  std::string dead_key(const std::string& worker) const;
  /// The channel a message "<task_id>" is published on for each result.
  std::string results_channel() const { return s_.prefix + "results"; }
  /// The channel a message "<worker>" is published on whenever a task of
  /// that worker becomes ready (enqueued, released, given back): an idle
  /// orchestrator claims at once instead of at its next poll.
  std::string ready_channel() const { return s_.prefix + "ready"; }
  const redis_queue_settings& settings() const { return s_; }

private:
  std::vector<claimed_task> decode(const redis_reply& entries, const std::string& stream,
                                   bool taken_over, std::vector<bad_entry>* bad);
  std::string key(const char* name) const { return s_.prefix + name; }

  redis_client& c_;
  redis_queue_settings s_;
};

} // namespace troupe
