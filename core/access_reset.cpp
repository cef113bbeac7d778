#include "core/access_reset.hpp"

#include <cstdio>
#include <ctime>
#include <string>

namespace troupe {

std::optional<int64_t> regain_access_ms(std::string_view message) {
  static constexpr std::string_view marker = "regain access on ";
  auto at = message.find(marker);
  if (at == std::string_view::npos)
    return std::nullopt;
  // "2027-01-01 at 00:00 UTC", seconds optional.
  std::string rest{message.substr(at + marker.size(), 40)};
  std::tm tm{};
  int sec = 0, used = 0;
  if (std::sscanf(rest.c_str(), "%4d-%2d-%2d at %2d:%2d%n", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &used)
      != 5)
    return std::nullopt;
  auto tail = rest.substr(static_cast<size_t>(used));
  if (tail.size() > 0 && tail[0] == ':' && std::sscanf(tail.c_str(), ":%2d", &sec) == 1)
    tail = tail.substr(3);
  if (tail.rfind(" UTC", 0) != 0)
    return std::nullopt; // another zone: not guessed
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31
      || tm.tm_hour > 23 || tm.tm_min > 59 || sec > 60)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  tm.tm_sec = sec;
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

} // namespace troupe
