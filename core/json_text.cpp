#include "core/json_text.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "core/json_codec.hpp"

namespace troupe {

namespace {

void key(std::string& out, const char* k, bool& first) {
  if (!first)
    out += ',';
  first = false;
  out += '"';
  out += k; // our own field names: nothing to escape
  out += "\":";
}

void number(std::string& out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void number(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null"; // as nlohmann writes it
    return;
  }
  // Shortest text that reads back as the same double; nlohmann reads it.
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void strings(std::string& out, const std::vector<std::string>& xs) {
  out += '[';
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i)
      out += ',';
    append_json_string(out, xs[i]);
  }
  out += ']';
}

/// The unknown fields kept in `extra`, after the known ones (as merge_extra:
/// a known field is never overridden).
template <class Names>
void extras(std::string& out, const json& extra, const Names& known) {
  if (!extra.is_object())
    return;
  for (auto& [k, v] : extra.items()) {
    if (std::find(known.begin(), known.end(), k) != known.end())
      continue;
    out += ',';
    append_json_string(out, k);
    out += ':';
    out += v.dump();
  }
}

} // namespace

void append_json_string(std::string& out, std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) {
      // Not plain ASCII: nlohmann checks the UTF-8 (and throws as dump()
      // does on bytes that are not).
      out += json(std::string{s}).dump();
      return;
    }
  out += '"';
  size_t run = 0; // start of the bytes not yet copied
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    out.append(s.substr(run, i - run));
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        static const char* hex = "0123456789abcdef";
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
      }
    }
  }
  out.append(s.substr(run));
  out += '"';
}

void append_json(std::string& out, const task& t) {
  bool first = true;
  out += '{';
  key(out, "task_id", first);
  append_json_string(out, t.task_id);
  key(out, "worker", first);
  append_json_string(out, t.worker);
  key(out, "description", first);
  append_json_string(out, t.description);
  key(out, "dependencies", first);
  strings(out, t.dependencies);
  key(out, "priority", first);
  append_json_string(out, to_string(t.prio));
  key(out, "context", first);
  out += t.context.is_null() ? "{}" : t.context.dump();
  if (t.timeout_s) {
    key(out, "timeout_s", first);
    number(out, *t.timeout_s);
  }
  if (t.max_attempts) {
    key(out, "max_attempts", first);
    number(out, int64_t{*t.max_attempts});
  }
  if (t.model) {
    key(out, "model", first);
    append_json_string(out, *t.model);
  }
  if (t.budget_usd) {
    key(out, "budget_usd", first);
    number(out, *t.budget_usd);
  }
  extras(out, t.extra, task_fields);
  out += '}';
}

void append_json(std::string& out, const result& r) {
  bool first = true;
  out += '{';
  key(out, "task_id", first);
  append_json_string(out, r.task_id);
  key(out, "status", first);
  append_json_string(out, to_string(r.state));
  key(out, "worker", first);
  append_json_string(out, r.worker);
  key(out, "completed_at", first);
  append_json_string(out, r.completed_at);
  key(out, "artifacts", first);
  strings(out, r.artifacts);
  key(out, "summary", first);
  append_json_string(out, r.summary);
  key(out, "findings", first);
  strings(out, r.findings);
  key(out, "attempt", first);
  number(out, int64_t{r.attempt});
  key(out, "duration_ms", first);
  number(out, r.duration_ms);
  key(out, "model", first);
  append_json_string(out, r.model);
  key(out, "session_id", first);
  append_json_string(out, r.session_id);
  key(out, "usage", first);
  out += "{\"input_tokens\":";
  number(out, r.tokens.input_tokens);
  out += ",\"output_tokens\":";
  number(out, r.tokens.output_tokens);
  out += ",\"cache_creation_input_tokens\":";
  number(out, r.tokens.cache_creation_input_tokens);
  out += ",\"cache_read_input_tokens\":";
  number(out, r.tokens.cache_read_input_tokens);
  out += '}';
  key(out, "cost_usd", first);
  number(out, r.cost_usd);
  if (r.error) {
    key(out, "error", first);
    out += "{\"kind\":";
    append_json_string(out, r.error->kind);
    out += ",\"message\":";
    append_json_string(out, r.error->message);
    out += '}';
  }
  if (r.simulated) {
    key(out, "simulated", first);
    out += "true";
  }
  extras(out, r.extra, result_fields);
  out += '}';
}

} // namespace troupe
