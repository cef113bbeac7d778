#include "bridge/zmq/wire.hpp"

namespace troupe::wire {

namespace {

/// Compact; bytes that are not UTF-8 (a peer's, quoted back) are replaced,
/// never thrown on.
std::string dump_body(const json& body) {
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

} // namespace

std::vector<std::string> encode(const message& m) {
  return {protocol_id, m.cmd, dump_body(m.body)};
}

std::vector<std::string> encode(command c, const json& body) {
  return {protocol_id, name(c), dump_body(body)};
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
  return {protocol_id, std::move(cmd), std::move(body)};
}

std::optional<message> decode(const std::vector<std::string>& frames,
                              std::string& error) {
  if (frames.size() != 3) {
    error = "expected 3 frames (TRP1, command, body), got "
            + std::to_string(frames.size());
    return std::nullopt;
  }
  if (frames[0] != protocol_id) {
    error = "unknown protocol \"" + printable(frames[0]) + "\" (expected "
            + protocol_id + ")";
    return std::nullopt;
  }
  message m;
  m.cmd = frames[1];
  problems ps;
  auto j = parse_json_text(frames[2], ps);
  if (!j) {
    error = printable(frames[1]) + " body: " + ps.front();
    return std::nullopt;
  }
  if (!j->is_object()) {
    error = printable(frames[1]) + " body: must be a JSON object";
    return std::nullopt;
  }
  m.body = std::move(*j);
  return m;
}

const json& member(const json& body, const char* key) {
  static const json empty = json::object();
  auto i = body.find(key);
  return i == body.end() ? empty : *i;
}

} // namespace troupe::wire
