#include "core/model.hpp"

#include "core/clock.hpp"

namespace troupe {

const json* output_schema_of(const task& t) {
  if (!t.extra.is_object())
    return nullptr;
  auto i = t.extra.find(output_schema_key);
  return i != t.extra.end() && i->is_object() ? &*i : nullptr;
}

std::string_view to_string(priority x) {
  switch (x) {
    case priority::high:
      return "high";
    case priority::low:
      return "low";
    default:
      return "medium";
  }
}

std::optional<priority> parse_priority(std::string_view x) {
  if (x == "high")
    return priority::high;
  if (x == "medium")
    return priority::medium;
  if (x == "low")
    return priority::low;
  return std::nullopt;
}

std::string_view to_string(status x) {
  switch (x) {
    case status::complete:
      return "complete";
    case status::rejected:
      return "rejected";
    case status::cancelled:
      return "cancelled";
    default:
      return "failed";
  }
}

std::optional<status> parse_status(std::string_view x) {
  if (x == "complete")
    return status::complete;
  if (x == "failed")
    return status::failed;
  if (x == "rejected")
    return status::rejected;
  if (x == "cancelled")
    return status::cancelled;
  return std::nullopt;
}

usage& usage::operator+=(const usage& other) {
  input_tokens += other.input_tokens;
  output_tokens += other.output_tokens;
  cache_creation_input_tokens += other.cache_creation_input_tokens;
  cache_read_input_tokens += other.cache_read_input_tokens;
  return *this;
}

bool operator==(const usage& x, const usage& y) {
  return x.input_tokens == y.input_tokens && x.output_tokens == y.output_tokens
         && x.cache_creation_input_tokens == y.cache_creation_input_tokens
         && x.cache_read_input_tokens == y.cache_read_input_tokens;
}

result make_failure(const task& t, status st, std::string kind,
                    std::string message) {
  result r;
  r.task_id = t.task_id;
  r.worker = t.worker;
  r.state = st;
  r.completed_at = rfc3339_now();
  r.summary = message;
  r.error = error_info{std::move(kind), std::move(message)};
  return r;
}

} // namespace troupe
