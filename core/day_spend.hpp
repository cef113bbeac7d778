#pragma once

// The account's spend per UTC day (config limits.spend_per_day_usd): what
// the claude workers' runs cost today, kept in <root>/spend/<day>.json so
// that a restart (or a second node on the same root) goes on counting from
// it. Once the day's spend reaches the cap, no claude run starts until the
// day turns (the rate limiter refuses its permit; the worker parks with
// `spend_cap`).

#include <cstdint>
#include <optional>
#include <string>

namespace troupe {

struct day_spend {
  std::string day; // YYYY-MM-DD, UTC
  double usd = 0;
  int64_t runs = 0;
};

/// The UTC day of a moment: "2026-12-07".
std::string utc_day(int64_t unix_ms);

/// The first moment of the UTC day after the one of `unix_ms`.
int64_t next_utc_day_ms(int64_t unix_ms);

/// <root>/spend/<day>.json
std::string day_spend_path(const std::string& root, const std::string& day);

/// What the file says was spent on `day` ({day, 0, 0} when none, or when
/// it cannot be read: a torn or foreign file does not stop the node).
day_spend read_day_spend(const std::string& root, const std::string& day);

/// Adds one run's cost to the day's file, under a lock (another process on
/// the same root adds its own): the day's total after it. "" in `error` on
/// success, else why the file could not be written (the total is then the
/// one in memory).
day_spend book_day_spend(const std::string& root, const std::string& day,
                         double usd, std::string& error);

/// The cap as a pure decision: a run may start at `now_ms` unless the
/// day's spend has reached `cap_usd` (0: no cap). Returns when it may
/// start again (the next day), or nullopt when it may start now.
std::optional<int64_t> day_cap_holds_until(const day_spend& today,
                                           double cap_usd, int64_t now_ms);

} // namespace troupe
