#pragma once

// A subscription's usage windows (Claude Pro and Max): the API reports them
// on every answer in anthropic-ratelimit-unified-* headers: the binding
// window's status and reset, and each window's own (5 hours, 7 days). A
// `rejected` status means the account gets nothing until that reset, for
// every worker at once: the gateway parks them all (limiter_core's
// account-wide pause), instead of letting each run fail on its own.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace troupe {

/// Header names, as the API sends them (any case on the wire).
inline constexpr const char* unified_header_prefix = "anthropic-ratelimit-unified-";

/// The statuses the API sends: within, close to, and past the window.
inline constexpr const char* window_allowed = "allowed";
inline constexpr const char* window_warning = "allowed_warning";
inline constexpr const char* window_rejected = "rejected";

struct subscription_window {
  /// One window's own figures; status empty when not sent.
  struct one {
    std::string status;
    int64_t reset_s = 0;        // unix seconds; 0: not sent
    double utilization = -1;    // 0..1; < 0: not sent
  };
  std::string status;           // the binding window's; empty: none sent
  int64_t reset_s = 0;          // when the binding window resets (unix s)
  std::string claim;            // which one binds: five_hour, seven_day, ...
  one five_hour, seven_day;

  bool any() const { return !status.empty() || !five_hour.status.empty()
                            || !seven_day.status.empty(); }
};

/// Reads one header (any case) into `into`; false if it is none of them or
/// its value is not one (then `into` is unchanged).
bool read_window_header(std::string_view name, std::string_view value,
                        subscription_window& into);

/// A rejected account, and until when (unix ms) and why.
struct window_park {
  int64_t until_ms = 0;
  std::string window; // "five_hour", ...
};

/// When the windows say the account is rejected: parked until the reset
/// of the window that rejects it (the binding one's, else the latest of the
/// rejected ones). A rejection without any reset parks for
/// `fallback_ms`, so that a missing header does not mean never or now.
std::optional<window_park> park_of(const subscription_window& w, int64_t now_ms,
                                   int64_t fallback_ms);

/// "five_hour window, resets 2026-12-07T11:00:00Z (in 3 h 12 min)".
std::string describe_park(const window_park& p, int64_t now_ms);

} // namespace troupe
