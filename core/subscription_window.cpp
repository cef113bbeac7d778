#include "core/subscription_window.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <ctime>

#include "core/text.hpp"

namespace troupe {

namespace {

bool parse_int(std::string_view text, int64_t& out) {
  auto t = trim(text);
  int64_t n = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
  if (ec != std::errc{} || p != t.data() + t.size() || n < 0)
    return false;
  out = n;
  return true;
}

bool parse_fraction(std::string_view text, double& out) {
  auto t = trim(text);
  if (t.empty())
    return false;
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size() || !std::isfinite(v) || v < 0)
    return false;
  out = v;
  return true;
}

bool parse_status(std::string_view text, std::string& out) {
  auto t = ascii_lower(trim(text));
  if (t != window_allowed && t != window_warning && t != window_rejected)
    return false;
  out = t;
  return true;
}

} // namespace

bool read_window_header(std::string_view name, std::string_view value,
                        subscription_window& into) {
  auto n = ascii_lower(std::string{name});
  std::string_view prefix = unified_header_prefix;
  if (n.compare(0, prefix.size(), prefix) != 0)
    return false;
  std::string_view rest = std::string_view{n}.substr(prefix.size());
  if (rest == "status")
    return parse_status(value, into.status);
  if (rest == "reset")
    return parse_int(value, into.reset_s);
  if (rest == "representative-claim") {
    auto c = trim(value);
    if (c.empty())
      return false;
    into.claim = c;
    return true;
  }
  for (auto [tag, w] : {std::pair{std::string_view{"5h-"}, &into.five_hour},
                        std::pair{std::string_view{"7d-"}, &into.seven_day}}) {
    if (rest.substr(0, tag.size()) != tag)
      continue;
    auto field = rest.substr(tag.size());
    if (field == "status")
      return parse_status(value, w->status);
    if (field == "reset")
      return parse_int(value, w->reset_s);
    if (field == "utilization")
      return parse_fraction(value, w->utilization);
  }
  return false;
}

std::optional<window_park> park_of(const subscription_window& w, int64_t now_ms,
                                   int64_t fallback_ms) {
  // The latest reset of a window that rejects on its own.
  window_park own;
  int64_t own_reset_s = 0;
  for (auto [name, one] : {std::pair{"five_hour", &w.five_hour},
                           std::pair{"seven_day", &w.seven_day}})
    if (one->status == window_rejected && (own.window.empty() || one->reset_s > own_reset_s)) {
      own.window = name;
      own_reset_s = one->reset_s;
    }
  window_park p;
  int64_t reset_s = 0;
  if (w.status == window_rejected) {
    p.window = !w.claim.empty() ? w.claim : !own.window.empty() ? own.window : "subscription";
    reset_s = w.reset_s > 0 ? w.reset_s : own_reset_s;
  } else if (!own.window.empty()) {
    p.window = own.window;
    reset_s = own_reset_s;
  } else {
    return std::nullopt;
  }
  p.until_ms = reset_s > 0 ? std::max(now_ms, reset_s * 1000) : now_ms + fallback_ms;
  return p;
}

std::string describe_park(const window_park& p, int64_t now_ms) {
  std::time_t t = static_cast<std::time_t>(p.until_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  auto left_s = std::max<int64_t>(0, (p.until_ms - now_ms + 999) / 1000);
  std::string in = left_s >= 3600
                     ? std::to_string(left_s / 3600) + " h " + std::to_string(left_s % 3600 / 60) + " min"
                   : left_s >= 60 ? std::to_string(left_s / 60) + " min " + std::to_string(left_s % 60) + " s"
                                  : std::to_string(left_s) + " s";
  return p.window + " window, resets " + when + " (in " + in + ")";
}

} // namespace troupe
