#pragma once

// When a failed run is worth another attempt, and how long to wait first.

#include <chrono>
#include <string>

namespace troupe {

struct backoff_policy {
  int64_t base_ms = 2000;
  int64_t max_ms = 60000;
};

/// Exponential backoff with jitter: base * 2^(attempt-1), capped, times a
/// factor in [0.5, 1) drawn from `jitter01` in [0, 1), so that retries of
/// many tasks do not come back at the same instant.
std::chrono::milliseconds backoff_delay(const backoff_policy& p, int attempt,
                                        double jitter01);

} // namespace troupe
