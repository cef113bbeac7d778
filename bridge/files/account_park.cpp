#include "bridge/files/account_park.hpp"

#include <filesystem>

#include "core/atomic_file.hpp"

namespace troupe {

std::string account_park_path(const std::string& root) {
  return root + "/tasks/.account-parked";
}

void write_account_park(const std::string& path, const window_park& park) {
  // Best effort: status is a view; the park itself is the limiter's.
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path{path}.parent_path(), ec);
  write_file_atomic(path,
                    json{{"window", park.window}, {"until_ms", park.until_ms}}.dump() + "\n");
}

std::optional<json> read_account_park(const std::string& root, int64_t now_ms) {
  problems ps;
  auto text = read_text_file(account_park_path(root), ps);
  if (!text)
    return std::nullopt;
  auto j = parse_json_or_discard(*text);
  if (!j.is_object() || !j.contains("until_ms") || !j["until_ms"].is_number_integer()
      || !j.contains("window") || !j["window"].is_string())
    return std::nullopt;
  window_park p{j["until_ms"].get<int64_t>(), j["window"].get<std::string>()};
  if (p.until_ms <= now_ms)
    return std::nullopt;
  return json{{"window", p.window},
              {"until_ms", p.until_ms},
              {"in_s", (p.until_ms - now_ms + 999) / 1000},
              {"parked", describe_park(p, now_ms)}};
}

} // namespace troupe
