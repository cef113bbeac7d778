#pragma once

// runs/<id>/timeline.svg: one lane per worker, each attempt of each task a
// bar from its start to its end, coloured by how it ended. Built from the
// report's results (their completed_at and duration_ms, and the earlier
// attempts a result carries), so it needs no event log.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/json_codec.hpp"

namespace troupe {

struct timeline_bar {
  std::string lane;  // the worker
  std::string label; // the task id (with the attempt when there were several)
  int64_t from_ms = 0, to_ms = 0;
  std::string outcome; // complete, failed, cancelled, rejected, or a failure kind's attempt
};

/// When a result's last attempt ran, in unix ms: from its completed_at
/// less its duration_ms to its completed_at; nullopt if it never ran.
std::optional<std::pair<int64_t, int64_t>> last_attempt_of(const json& result);

/// The bars of report.json's "tasks" (results); results without a time
/// (never started) have none.
std::vector<timeline_bar> timeline_bars(const json& results);

/// The picture, standalone SVG; a note when there is nothing to draw.
std::string timeline_svg(const std::vector<timeline_bar>& bars);

} // namespace troupe
