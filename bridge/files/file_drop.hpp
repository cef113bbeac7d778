#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include "actors/messages.hpp"
#include "bridge/files/fs_queue.hpp"
#include "core/task_graph.hpp"
#include "caf/typed_response_promise.hpp"

namespace troupe {

struct file_drop_settings {
  std::string root;
  std::vector<std::string> workers;
  size_t max_task_bytes = 1u << 20;
  /// A file that does not parse yet and was written less than this long ago
  /// is given time instead of being rejected, even once closed (a shell's
  /// `>` then `>>` closes it half written).
  int64_t quiet_ms = 2000;
  /// A task that waits this long for a dependency that no file in tasks/
  /// provides (none waiting, claimed or running, no result) fails, naming
  /// it. Dependencies dropped later than that are not waited for.
  int64_t dependency_wait_ms = 60'000;
  /// Called (on the file drop's thread) for each result it has written.
  std::function<void(const result&)> on_result;
  /// When set (a shared queue: --queue), a valid task file is not run
  /// here: it is handed to this (on the file drop's thread), and its file
  /// goes once it returns "" (else the error; the file stays and is tried
  /// again). The queue then owns dependencies, the run and the result.
  std::function<std::string(const task&)> import;
};

struct file_drop_state {
  static inline const char* name = "file_drop";

  /// A task file we are responsible for.
  struct entry {
    std::string worker;
    std::string name; // file name in tasks/<worker>/
    task t;
  };

  file_drop_settings cfg;
  std::unique_ptr<fs_queue> q;
  orchestrator_actor orch;
  /// Claimed and submitted, by "worker/task_id".
  std::unordered_map<std::string, entry> inflight;
  /// Valid tasks waiting for dependency results, by their node in `deps`,
  /// and those nodes by "worker/name".
  std::unordered_map<task_graph::node, entry> waiting;
  std::unordered_map<std::string, task_graph::node> waiting_node;
  /// What `waiting` waits for, in the dependency engine `run` uses too
  /// (open): releases them as results arrive, fails what a failure dooms,
  /// finds cycles and dependencies nothing provides.
  task_graph deps;
  bool deps_check_scheduled = false;
  /// Files that may still be being written, by "worker/name".
  std::set<std::string> deferred;
  /// Results received but not yet written: written together (one
  /// durability barrier) once the mailbox has no more of them queued.
  std::vector<std::pair<entry, result>> to_commit;
  /// Workers that parked (see parks_worker): their tasks stay in tasks/.
  std::set<std::string> parked;
  /// Of those, the ones whose park ends by itself: when (unix ms). Then
  /// the park marker goes, as `caf-node unpark` removes it.
  std::map<std::string, int64_t> park_ends;
  bool tick_scheduled = false;
  bool stopping = false;
  std::optional<caf::typed_response_promise<int32_t>> stop_rp;
};

/// Spawns a FILE DROP: claims valid task files (dependencies permitting),
/// submits them to the orchestrator, writes their results, drops the claim;
/// rejects bad files with a `rejected` result. Does blocking file I/O: spawn
/// it detached. Feed it fs_watcher events as (fs_event_atom, kind, worker,
/// name) and workers' "running" events (it keeps the .running markers); on
/// start it recovers claims and takes the files already there.
file_drop_actor::behavior_type
file_drop(file_drop_actor::stateful_pointer<file_drop_state> self,
          file_drop_settings cfg, orchestrator_actor orch);

} // namespace troupe
