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
};

struct recorder_state {
  static inline const char* name = "recorder";
  recorder_settings cfg;
  std::map<std::string, std::unique_ptr<std::ofstream>> logs; // by run id
  std::map<std::string, std::string> run_of;  // "worker/task_id" -> run id
  bool healthy = true;
  bool flush_queued = false; // a tick is on its way to flush the logs
};

/// Spawns a RECORDER: writes each result atomically, appends events to the
/// run's events.jsonl, reports progress. Blocking file I/O: spawn detached.
recorder_actor::behavior_type
recorder(recorder_actor::stateful_pointer<recorder_state> self,
         recorder_settings cfg);

} // namespace troupe
