#include "bridge/gateway/recording.hpp"

#include <filesystem>

#include "core/atomic_file.hpp"
#include "core/json_codec.hpp"
#include "core/text.hpp"

namespace troupe {

namespace {

// What a recording file says it is, so a stray JSON file is no answer.
constexpr const char* recording_format = "troupe-recording/1";

std::string path_of(const std::string& dir, const std::string& key) {
  return dir + "/" + key + ".json";
}

} // namespace

std::vector<std::pair<std::string, std::string>>
recorded_headers(const std::vector<std::pair<std::string, std::string>>& headers) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& [k, v] : headers) {
    auto lk = ascii_lower(k);
    bool kept = lk == "anthropic-version" || lk == "anthropic-beta" || lk == "content-type";
    out.emplace_back(lk, kept ? v : "[redacted]");
  }
  return out;
}

std::optional<recorded_answer> recording::find(const std::string& key) const {
  problems ps;
  auto text = read_text_file(path_of(dir_, key), ps);
  if (!text)
    return std::nullopt;
  auto j = parse_json_or_discard(*text);
  if (!j.is_object() || j.value("format", "") != recording_format)
    return std::nullopt;
  auto a = j.find("answer");
  if (a == j.end() || !a->is_object() || !(*a)["status"].is_number_integer()
      || !(*a)["body"].is_string() || !(*a)["content_type"].is_string())
    return std::nullopt;
  return recorded_answer{(*a)["status"].get<int>(), (*a)["content_type"].get<std::string>(),
                         (*a)["body"].get<std::string>()};
}

std::string recording::store(const std::string& key, const recorded_request& req,
                             const recorded_answer& answer) const {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  json headers = json::object();
  for (auto& [k, v] : recorded_headers(req.headers))
    headers[k] = v;
  json j{{"format", recording_format},
         {"key", key},
         {"request",
          {{"method", req.method},
           {"path", req.path},
           {"model", req.model},
           {"bytes", req.bytes},
           {"headers", headers}}},
         {"answer",
          {{"status", answer.status},
           {"content_type", answer.content_type},
           {"body", answer.body}}}};
  return write_file_atomic(path_of(dir_, key),
                           j.dump(1, ' ', false, json::error_handler_t::replace) + "\n");
}

} // namespace troupe
