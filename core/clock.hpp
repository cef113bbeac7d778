#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <string>

namespace troupe {

/// Current UTC time as RFC 3339 with milliseconds, e.g. 2025-11-17T09:30:00.123Z.
std::string rfc3339_now();

/// The same for a moment given in unix milliseconds.
std::string rfc3339_of_ms(int64_t unix_ms);

/// Unix milliseconds of "YYYY-MM-DDTHH:MM:SS[.fff]Z" (UTC only, as troupe
/// writes them); nullopt for anything else.
std::optional<int64_t> ms_of_rfc3339(std::string_view text);

/// Milliseconds since the unix epoch, on the system clock.
inline int64_t unix_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

/// Where an actor reads the wall clock: unix_now_ms, or in tests a clock
/// that follows the deterministic scheduler's (a day can then turn).
using wall_clock = std::function<int64_t()>;

/// A compact UTC stamp for ids, e.g. 20251117T093000Z.
std::string compact_utc_now();

/// Milliseconds on the steady clock since an arbitrary epoch.
inline int64_t steady_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch())
    .count();
}

} // namespace troupe
