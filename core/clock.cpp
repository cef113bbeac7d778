#include "core/clock.hpp"

#include <cstdio>
#include <ctime>

namespace troupe {

std::string rfc3339_of_ms(int64_t unix_ms) {
  auto secs = static_cast<std::time_t>(unix_ms / 1000);
  auto ms = unix_ms % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

std::optional<int64_t> ms_of_rfc3339(std::string_view text) {
  std::tm tm{};
  int ms = 0, used = 0;
  std::string s{text.substr(0, 40)};
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used)
        != 6
      || used != 19)
    return std::nullopt;
  auto rest = std::string_view{s}.substr(19);
  if (!rest.empty() && rest[0] == '.') {
    size_t digits = 1;
    int scale = 100;
    while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') {
      if (scale > 0)
        ms += (rest[digits] - '0') * scale;
      scale /= 10;
      ++digits;
    }
    rest = rest.substr(digits);
  }
  if (rest != "Z" || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31
      || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + ms;
}

std::string rfc3339_now() { return rfc3339_of_ms(unix_now_ms()); }

std::string compact_utc_now() {
  auto secs = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

} // namespace troupe
