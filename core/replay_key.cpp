#include "core/replay_key.hpp"

#include <algorithm>

#include "core/json_codec.hpp"
#include "core/sha256.hpp"

namespace troupe {

namespace {

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  if (from.empty())
    return;
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

/// The CLI's <system-reminder> blocks say how the session stands (tokens
/// left, the date), not what was asked: out of the key.
void strip_reminders(std::string& s) {
  static const std::string open = "<system-reminder>", close = "</system-reminder>";
  for (size_t at = s.find(open); at != std::string::npos; at = s.find(open, at)) {
    auto end = s.find(close, at);
    if (end == std::string::npos)
      break;
    s.erase(at, end + close.size() - at);
  }
}

} // namespace

std::string replay_text(std::string_view body,
                        const std::vector<std::string>& volatile_paths) {
  auto j = parse_json_or_discard(body);
  std::string text;
  if (j.is_object()) {
    j.erase("metadata");
    // nlohmann's objects are sorted maps: one dump per content.
    text = j.dump(-1, ' ', false, json::error_handler_t::replace);
  } else {
    text = std::string{body};
  }
  strip_reminders(text);
  // Longest first: a path inside another is not cut in two.
  auto paths = volatile_paths;
  std::sort(paths.begin(), paths.end(),
            [](auto& a, auto& b) { return a.size() > b.size(); });
  for (auto& p : paths) {
    // As the JSON dump writes it, and as it is.
    replace_all(text, json(p).dump().substr(1, json(p).dump().size() - 2), "<root>");
    replace_all(text, p, "<root>");
  }
  return text;
}

std::string replay_key(std::string_view method, std::string_view path,
                       std::string_view body,
                       const std::vector<std::string>& volatile_paths) {
  std::string all{method};
  all += ' ';
  all += path;
  all += '\n';
  all += replay_text(body, volatile_paths);
  return sha256_hex(all);
}

} // namespace troupe
