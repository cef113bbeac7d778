#include "core/json_text.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "core/json_codec.hpp"

namespace troupe {

namespace {

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

/// Writes one JSON object, member by member: w.add("name", value).
class object_writer {
public:
  explicit object_writer(std::string& out) : out_(out) {
    out_ += '{';
  }
  void add(const char* k, std::string_view v) {
    key(k);
    append_json_string(out_, v);
  }
  void add(const char* k, int64_t v) {
    key(k);
    number(out_, v);
  }
  void add(const char* k, double v) {
    key(k);
    number(out_, v);
  }
  void add(const char* k, const std::vector<std::string>& xs) {
    key(k);
    strings(out_, xs);
  }
  /// A member whose value is JSON text already.
  void add_json(const char* k, std::string_view text) {
    key(k);
    out_ += text;
  }
  /// A member that is an object: write its members with the writer returned,
  /// then close() it.
  object_writer add_object(const char* k) {
    key(k);
    return object_writer{out_};
  }
  /// The unknown fields kept in `extra`, after the known ones (as
  /// merge_extra: a known field is never overridden).
  template <class Names>
  void add_extras(const json& extra, const Names& known) {
    if (!extra.is_object())
      return;
    for (auto& [k, v] : extra.items()) {
      if (std::find(known.begin(), known.end(), k) != known.end())
        continue;
      comma();
      append_json_string(out_, k);
      out_ += ':';
      out_ += v.dump();
    }
  }
  void close() {
    out_ += '}';
  }

private:
  void comma() {
    if (!first_)
      out_ += ',';
    first_ = false;
  }
  void key(const char* k) {
    comma();
    out_ += '"';
    out_ += k; // our own field names: nothing to escape
    out_ += "\":";
  }

  std::string& out_;
  bool first_ = true;
};

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
  object_writer w{out};
  w.add("task_id", t.task_id);
  w.add("worker", t.worker);
  w.add("description", t.description);
  w.add("dependencies", t.dependencies);
  w.add("priority", to_string(t.prio));
  w.add_json("context", t.context.is_null() ? "{}" : t.context.dump());
  if (t.timeout_s)
    w.add("timeout_s", *t.timeout_s);
  if (t.max_attempts)
    w.add("max_attempts", int64_t{*t.max_attempts});
  if (t.model)
    w.add("model", *t.model);
  if (t.budget_usd)
    w.add("budget_usd", *t.budget_usd);
  if (t.approve)
    w.add_json("approve", "true");
  w.add_extras(t.extra, task_fields);
  w.close();
}

void append_json(std::string& out, const result& r) {
  object_writer w{out};
  w.add("task_id", r.task_id);
  w.add("status", to_string(r.state));
  w.add("worker", r.worker);
  w.add("completed_at", r.completed_at);
  w.add("artifacts", r.artifacts);
  w.add("summary", r.summary);
  w.add("findings", r.findings);
  w.add("attempt", int64_t{r.attempt});
  w.add("duration_ms", r.duration_ms);
  w.add("model", r.model);
  w.add("session_id", r.session_id);
  auto usage = w.add_object("usage");
  usage.add("input_tokens", r.tokens.input_tokens);
  usage.add("output_tokens", r.tokens.output_tokens);
  usage.add("cache_creation_input_tokens", r.tokens.cache_creation_input_tokens);
  usage.add("cache_read_input_tokens", r.tokens.cache_read_input_tokens);
  usage.close();
  w.add("cost_usd", r.cost_usd);
  if (r.error) {
    auto e = w.add_object("error");
    e.add("kind", r.error->kind);
    e.add("message", r.error->message);
    e.close();
  }
  if (r.simulated)
    w.add_json("simulated", "true");
  w.add_extras(r.extra, result_fields);
  w.close();
}

} // namespace troupe
