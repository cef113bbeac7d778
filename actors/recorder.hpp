#pragma once

#include <fstream>
#include <functional>
#include <map>
#include <memory>

#include "actors/messages.hpp"

namespace troupe {

struct recorder_settings {
  /// Results go to <root>/results/<worker>/<task_id>.json; runs' event logs
  /// to <root>/runs/<run_id>/events.jsonl. Empty: write nothing.
  std::string root;
  /// False when someone else owns results/ (the file drop of `serve`).
  bool write_results = true;
  /// Called for every event (live progress); on the recorder's thread.
  std::function<void(const task_event&)> on_event;
  /// An events.jsonl that grows past this is renamed events.1.jsonl (the
  /// older ones shift up to events.<keep>.jsonl, the oldest is dropped) and
  /// a new one is started. keep = 0: the log starts over. 0 bytes: no limit.
  /// spawn_team sets both from the config's `events` (its defaults).
  int64_t log_max_bytes = 0;
  int log_keep = 0;
};

/// An open events.jsonl and how much it holds.
struct event_log {
  std::string dir;
  std::ofstream out;
  int64_t bytes = 0;
};

struct recorder_state {
  static inline const char* name = "recorder";
  recorder_settings cfg;
  std::map<std::string, std::unique_ptr<event_log>> logs; // by run id
  std::map<std::string, std::string> run_of;  // "worker/task_id" -> run id
  /// Who else hears events (subscribe_atom): the kind (empty: all), whom.
  std::vector<std::pair<std::string, caf::actor>> subscribers;
  bool healthy = true;
  bool flush_queued = false; // a tick is on its way to flush the logs
};

/// One line of events.jsonl: {"ts", "event", "task_id"?, "worker"?,
/// "detail"?}, stamped now. The HTTP event stream sends the same.
json event_json(const task_event& e);

/// Spawns a RECORDER: writes each result atomically, appends events to the
/// run's events.jsonl, reports progress. Blocking file I/O: spawn detached.
recorder_actor::behavior_type
recorder(recorder_actor::stateful_pointer<recorder_state> self,
         recorder_settings cfg);

} // namespace troupe
