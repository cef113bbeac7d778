#include "bridge/zmq/wire.hpp"

#include <charconv>

namespace troupe::wire {

std::vector<std::string> encode(const message& m) {
  return {protocol, m.cmd, m.body.dump()};
}

std::string ticketed_entry(uint64_t ticket, std::string_view key,
                           std::string_view value_json) {
  auto id = id_text(ticket);
  std::string out;
  out.reserve(key.size() + value_json.size() + id.size() + 20);
  out.append("{\"").append(key).append("\":").append(value_json);
  out.append(",\"ticket\":\"").append(id).append("\"}");
  return out;
}

std::vector<const json*> entries(const message& m, std::string_view plural,
                                 const char* key) {
  std::vector<const json*> out;
  if (m.cmd != plural) {
    out.push_back(&m.body);
    return out;
  }
  if (auto xs = m.body.find(key); xs != m.body.end() && xs->is_array())
    for (auto& x : *xs)
      if (x.is_object())
        out.push_back(&x);
  return out;
}

batch::batch(std::string single, std::string plural, std::string key)
  : single_(std::move(single)), plural_(std::move(plural)), key_(std::move(key)) {
}

bool batch::add(const json& entry) {
  return add_text(entry.dump());
}

bool batch::add_text(std::string_view entry) {
  if (count_++ > 0)
    body_ += ',';
  body_ += entry;
  return count_ >= max_entries || body_.size() >= max_bytes;
}

std::vector<std::string> batch::take() {
  // One allocation for the body; body_ keeps its capacity for the next
  // batch (growing a buffer of many KiB again each time makes glibc
  // consolidate its free lists on every large request).
  std::string body;
  if (count_ == 1) {
    body = body_;
  } else {
    body.reserve(key_.size() + body_.size() + 8);
    body.append("{\"").append(key_).append("\":[").append(body_).append("]}");
  }
  auto cmd = count_ == 1 ? single_ : plural_;
  body_.clear();
  count_ = 0;
  return {protocol, std::move(cmd), std::move(body)};
}

std::optional<message> decode(const std::vector<std::string>& frames,
                              std::string& error) {
  if (frames.size() != 3) {
    error = "expected 3 frames (TRP1, command, body), got "
            + std::to_string(frames.size());
    return std::nullopt;
  }
  if (frames[0] != protocol) {
    error = "unknown protocol \"" + frames[0].substr(0, 16) + "\" (expected TRP1)";
    return std::nullopt;
  }
  message m;
  m.cmd = frames[1];
  auto j = json::parse(frames[2], nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    error = "body: not a JSON object";
    return std::nullopt;
  }
  m.body = std::move(j);
  return m;
}

const json& member(const json& body, const char* key) {
  static const json empty = json::object();
  auto i = body.find(key);
  return i == body.end() ? empty : *i;
}

std::string id_text(uint64_t id) {
  return std::to_string(id);
}

std::optional<uint64_t> id_value(const json& j) {
  uint64_t v = 0;
  if (j.is_number_unsigned())
    return j.get<uint64_t>();
  if (!j.is_string())
    return std::nullopt;
  auto s = j.get<std::string>();
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size())
    return std::nullopt;
  return v;
}

json permit_json(const permit_ask& a) {
  return {{"id", id_text(a.id)},
          {"worker", a.worker},
          {"model", a.model},
          {"prio", std::string{to_string(a.prio)}},
          {"requests", a.requests},
          {"input_tokens", a.input_tokens},
          {"output_tokens", a.output_tokens}};
}

permit_ask permit_from(const json& j) {
  permit_ask a;
  if (!j.is_object())
    return a;
  a.id = id_value(j.value("id", json{})).value_or(0);
  a.worker = j.value("worker", "");
  a.model = j.value("model", "");
  auto prio = j.value("prio", "medium");
  a.prio = prio == "high" ? priority::high
                          : prio == "low" ? priority::low : priority::medium;
  a.requests = j.value("requests", 1.0);
  a.input_tokens = j.value("input_tokens", 0.0);
  a.output_tokens = j.value("output_tokens", 0.0);
  return a;
}

} // namespace troupe::wire
