#include "core/cpus.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>

#include "core/spawn.hpp"

namespace troupe {

std::optional<cpu_set_t> parse_cpu_list(std::string_view whole, std::string& error) {
  cpu_set_t set;
  CPU_ZERO(&set);
  auto bad = [&](std::string why) -> std::optional<cpu_set_t> {
    error = "CPU list \"" + std::string{whole} + "\": " + why;
    return std::nullopt;
  };
  auto text = whole;
  if (text.empty())
    return bad("empty");
  auto number = [&](std::string_view s, int& out) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && end == s.data() + s.size() && out >= 0 && out < CPU_SETSIZE;
  };
  while (!text.empty()) {
    auto comma = text.find(',');
    auto item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    if (comma != std::string_view::npos && text.empty())
      return bad("ends with a comma");
    int lo = 0, hi = 0;
    auto dash = item.find('-');
    if (dash == std::string_view::npos) {
      if (!number(item, lo))
        return bad("\"" + std::string{item} + "\" is not a CPU number");
      hi = lo;
    } else if (!number(item.substr(0, dash), lo) || !number(item.substr(dash + 1), hi)
               || hi < lo) {
      return bad("\"" + std::string{item} + "\" is not a range of CPUs (low-high)");
    }
    for (int c = lo; c <= hi; ++c)
      CPU_SET(c, &set);
  }
  return set;
}

bool pin_to_cpus(const cpu_set_t& cpus, std::string& error) {
  cpu_set_t before;
  if (::sched_getaffinity(0, sizeof before, &before) != 0) {
    error = std::string{"sched_getaffinity: "} + std::strerror(errno);
    return false;
  }
  if (::sched_setaffinity(0, sizeof cpus, &cpus) != 0) {
    error = "cannot run on CPUs " + cpu_list_text(cpus) + ": " + std::strerror(errno)
            + " (available: " + cpu_list_text(before) + ")";
    return false;
  }
  set_children_cpus(before);
  return true;
}

std::string cpu_list_text(const cpu_set_t& cpus) {
  std::string out;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (!CPU_ISSET(c, &cpus))
      continue;
    int end = c;
    while (end + 1 < CPU_SETSIZE && CPU_ISSET(end + 1, &cpus))
      ++end;
    if (!out.empty())
      out += ',';
    out += std::to_string(c);
    if (end > c)
      out += "-" + std::to_string(end);
    c = end;
  }
  return out;
}

} // namespace troupe
