#pragma once

// What the folders say, per worker: queued, waiting (and for what),
// claimed, running, done, failed, rejected, cancelled, the oldest waiting task, and
// why a worker is parked. Reads tasks/ and results/ only.

#include <set>
#include <string>

#include "core/json_codec.hpp"

namespace troupe {

/// {"root", "workers": {name: {"queued", "waiting", "claimed", "running",
/// "done", "failed", "rejected", "cancelled", "oldest_waiting", "waiting_for",
/// "parked", "awaiting_approval": [{"task_id", "since", "estimate"}]}},
/// "account_parked"?: {"window", "until_ms", "in_s", "parked"},
/// "spend_today": {"day", "usd", "runs", "cap_usd" (null: none),
/// "capped_until"?}} (the claude runs' cost today, <root>/spend/).
json queue_status(const std::string& root, const std::set<std::string>& workers,
                  double spend_per_day_usd = 0);

} // namespace troupe
