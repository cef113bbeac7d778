#include "core/json_codec.hpp"

#include <algorithm>
#include <climits>
#include <limits>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace troupe {

namespace {

/// Renders a value for an error message, shortened so that a huge field
/// never floods the log.
std::string show(const json& v) {
  auto s = v.dump();
  if (s.size() > 80)
    s = s.substr(0, 77) + "...";
  return s;
}

void bad(problems& out, const std::string& field, const json& v,
         std::string_view reason) {
  out.push_back(field + " " + show(v) + ": " + std::string{reason});
}

void missing(problems& out, const std::string& field) {
  out.push_back(field + ": required");
}

std::optional<std::string> nonempty_string(const json& j, const char* key,
                                           const std::string& prefix,
                                           problems& out, bool required) {
  auto i = j.find(key);
  if (i == j.end()) {
    if (required)
      missing(out, prefix + key);
    return std::nullopt;
  }
  if (!i->is_string() || i->get_ref<const std::string&>().empty()) {
    bad(out, prefix + key, *i, "must be a non-empty string");
    return std::nullopt;
  }
  return i->get<std::string>();
}

std::optional<double> positive_number(const json& j, const char* key,
                                      const std::string& prefix, problems& out,
                                      bool allow_zero) {
  auto i = j.find(key);
  if (i == j.end() || i->is_null())
    return std::nullopt;
  if (!i->is_number() || i->get<double>() < 0
      || (!allow_zero && i->get<double>() == 0)) {
    bad(out, prefix + key, *i,
        allow_zero ? "must be a number >= 0" : "must be a number > 0");
    return std::nullopt;
  }
  return i->get<double>();
}

template <class Names>
json extra_fields(const json& j, const Names& known) {
  json extra; // stays null when every field is known
  // A linear scan: a dozen short names, and no allocation per call (this
  // runs for every task and result that crosses the bridge).
  for (auto& [key, value] : j.items())
    if (std::find(known.begin(), known.end(), key) == known.end())
      extra[key] = value;
  return extra;
}

std::vector<std::string> string_list(const json& j, const char* key,
                                     const std::string& prefix, problems& out) {
  std::vector<std::string> xs;
  auto i = j.find(key);
  if (i == j.end() || i->is_null())
    return xs;
  if (!i->is_array()) {
    bad(out, prefix + key, *i, "must be an array of strings");
    return xs;
  }
  for (size_t n = 0; n < i->size(); ++n) {
    auto& x = (*i)[n];
    if (!x.is_string()) {
      bad(out, prefix + key + "[" + std::to_string(n) + "]", x,
          "must be a string");
      continue;
    }
    xs.push_back(x.get<std::string>());
  }
  return xs;
}

void merge_extra(json& j, const json& extra) {
  for (auto& [key, value] : extra.items())
    if (!j.contains(key))
      j[key] = value;
}

} // namespace

bool valid_task_id(std::string_view id) {
  auto alnum = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9');
  };
  if (id.empty() || id.size() > 128 || !alnum(id[0]))
    return false;
  for (char c : id.substr(1))
    if (!alnum(c) && c != '.' && c != '_' && c != '-')
      return false;
  return true;
}

bool json_depth_within(std::string_view text, size_t limit) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit)
        return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

json parse_json_or_discard(std::string_view text) {
  if (!json_depth_within(text))
    return json(json::value_t::discarded);
  return json::parse(text.begin(), text.end(), nullptr, false);
}

std::string string_member(const json& j, const char* key,
                          const std::string& fallback) {
  if (!j.is_object())
    return fallback;
  auto i = j.find(key);
  return i != j.end() && i->is_string() ? i->get<std::string>() : fallback;
}

bool bool_member(const json& j, const char* key, bool fallback) {
  if (!j.is_object())
    return fallback;
  auto i = j.find(key);
  return i != j.end() && i->is_boolean() ? i->get<bool>() : fallback;
}

int64_t saturating_int(const json& v, int64_t fallback) {
  constexpr auto hi = std::numeric_limits<int64_t>::max();
  constexpr auto lo = std::numeric_limits<int64_t>::min();
  if (v.is_number_unsigned())
    return v.get<uint64_t>() > static_cast<uint64_t>(hi) ? hi : v.get<int64_t>();
  if (v.is_number_integer())
    return v.get<int64_t>();
  if (!v.is_number_float())
    return fallback;
  auto d = v.get<double>();
  if (!(d == d))
    return fallback; // NaN (nlohmann reads none, but a json built in code may hold one)
  // 2^63 is exactly representable; anything at or past it saturates.
  if (d >= 9223372036854775808.0)
    return hi;
  if (d <= -9223372036854775808.0)
    return lo;
  return static_cast<int64_t>(d);
}

int64_t int_member(const json& j, const char* key, int64_t fallback) {
  if (!j.is_object())
    return fallback;
  auto i = j.find(key);
  return i == j.end() ? fallback : saturating_int(*i, fallback);
}

std::optional<json> parse_json_text(std::string_view text, problems& out) {
  if (!json_depth_within(text)) {
    out.push_back("not valid JSON: nested deeper than "
                  + std::to_string(max_json_depth) + " levels");
    return std::nullopt;
  }
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    // A parse error, or a number out of range (1e400): nlohmann prefixes
    // "[json.exception.parse_error.101] ": keep the reason.
    std::string what = e.what();
    if (auto pos = what.find("] "); pos != std::string::npos)
      what = what.substr(pos + 2);
    out.push_back("not valid JSON: " + what);
    return std::nullopt;
  }
}

std::optional<task> task_from_json(const json& j, problems& out,
                                   const std::string& prefix) {
  auto before = out.size();
  if (!j.is_object()) {
    out.push_back((prefix.empty() ? std::string{"task"}
                                  : prefix.substr(0, prefix.size() - 1))
                  + ": must be a JSON object");
    return std::nullopt;
  }
  task t;
  if (auto i = j.find("task_id"); i == j.end()) {
    missing(out, prefix + "task_id");
  } else if (!i->is_string() || !valid_task_id(i->get_ref<const std::string&>())) {
    bad(out, prefix + "task_id", *i,
        "must match " + std::string{task_id_pattern});
  } else {
    t.task_id = i->get<std::string>();
  }
  if (auto w = nonempty_string(j, "worker", prefix, out, true))
    t.worker = *w;
  if (auto d = nonempty_string(j, "description", prefix, out, true))
    t.description = *d;
  t.dependencies = string_list(j, "dependencies", prefix, out);
  for (size_t n = 0; n < t.dependencies.size(); ++n)
    if (!valid_task_id(t.dependencies[n]))
      bad(out, prefix + "dependencies[" + std::to_string(n) + "]",
          t.dependencies[n], "must match " + std::string{task_id_pattern});
  if (auto i = j.find("priority"); i != j.end() && !i->is_null()) {
    std::optional<priority> p;
    if (i->is_string())
      p = parse_priority(i->get_ref<const std::string&>());
    if (p)
      t.prio = *p;
    else
      bad(out, prefix + "priority", *i, "must be one of high, medium, low");
  }
  if (auto i = j.find("context"); i != j.end() && !i->is_null()) {
    if (i->is_object())
      t.context = *i;
    else
      bad(out, prefix + "context", *i, "must be an object");
  }
  t.timeout_s = positive_number(j, "timeout_s", prefix, out, false);
  if (auto i = j.find("max_attempts"); i != j.end() && !i->is_null()) {
    if (i->is_number_integer() && i->get<int64_t>() >= 1
        && i->get<int64_t>() <= 100)
      t.max_attempts = i->get<int>();
    else
      bad(out, prefix + "max_attempts", *i, "must be an integer from 1 to 100");
  }
  t.model = nonempty_string(j, "model", prefix, out, false);
  t.budget_usd = positive_number(j, "budget_usd", prefix, out, true);
  if (auto i = j.find("approve"); i != j.end() && !i->is_null()) {
    if (i->is_boolean())
      t.approve = i->get<bool>();
    else
      bad(out, prefix + "approve", *i, "must be true or false");
  }
  if (auto i = j.find(output_schema_key); i != j.end() && !i->is_object())
    bad(out, prefix + output_schema_key, *i, "must be a JSON Schema object");
  t.extra = extra_fields(j, task_fields);
  if (out.size() != before)
    return std::nullopt;
  return t;
}

json to_json(const task& t) {
  json j = {{"task_id", t.task_id},
            {"worker", t.worker},
            {"description", t.description},
            {"dependencies", t.dependencies},
            {"priority", std::string{to_string(t.prio)}},
            {"context", t.context.is_null() ? json::object() : t.context}};
  if (t.timeout_s)
    j["timeout_s"] = *t.timeout_s;
  if (t.max_attempts)
    j["max_attempts"] = *t.max_attempts;
  if (t.model)
    j["model"] = *t.model;
  if (t.budget_usd)
    j["budget_usd"] = *t.budget_usd;
  if (t.approve) // absent when false: older digests stay the same
    j["approve"] = true;
  merge_extra(j, t.extra);
  return j;
}

json to_json(const usage& u) {
  return {{"input_tokens", u.input_tokens},
          {"output_tokens", u.output_tokens},
          {"cache_creation_input_tokens", u.cache_creation_input_tokens},
          {"cache_read_input_tokens", u.cache_read_input_tokens}};
}

usage usage_from_json(const json& j) {
  usage u;
  if (!j.is_object())
    return u;
  auto get = [&](const char* key) { return int_member(j, key); };
  u.input_tokens = get("input_tokens");
  u.output_tokens = get("output_tokens");
  u.cache_creation_input_tokens = get("cache_creation_input_tokens");
  u.cache_read_input_tokens = get("cache_read_input_tokens");
  return u;
}

json to_json(const result& r) {
  json j = {{"task_id", r.task_id},
            {"status", std::string{to_string(r.state)}},
            {"worker", r.worker},
            {"completed_at", r.completed_at},
            {"artifacts", r.artifacts},
            {"summary", r.summary},
            {"findings", r.findings},
            {"attempt", r.attempt},
            {"duration_ms", r.duration_ms},
            {"model", r.model},
            {"session_id", r.session_id},
            {"usage", to_json(r.tokens)},
            {"cost_usd", r.cost_usd}};
  if (r.error)
    j["error"] = {{"kind", r.error->kind}, {"message", r.error->message}};
  if (r.simulated)
    j["simulated"] = true;
  merge_extra(j, r.extra);
  return j;
}

std::optional<result> result_from_json(const json& j, problems& out) {
  auto before = out.size();
  if (!j.is_object()) {
    out.push_back("result: must be a JSON object");
    return std::nullopt;
  }
  result r;
  auto str = [&](const char* key, std::string& dst, bool required) {
    auto i = j.find(key);
    if (i == j.end() || i->is_null()) {
      if (required)
        missing(out, key);
    } else if (i->is_string()) {
      dst = i->get<std::string>();
    } else {
      bad(out, key, *i, "must be a string");
    }
  };
  str("task_id", r.task_id, true);
  std::string st;
  str("status", st, true);
  if (!st.empty()) {
    if (auto s = parse_status(st))
      r.state = *s;
    else
      bad(out, "status", st,
          "must be one of complete, failed, rejected, cancelled");
  }
  str("worker", r.worker, false);
  str("completed_at", r.completed_at, false);
  str("summary", r.summary, false);
  str("model", r.model, false);
  str("session_id", r.session_id, false);
  r.artifacts = string_list(j, "artifacts", "", out);
  r.findings = string_list(j, "findings", "", out);
  if (auto i = j.find("attempt"); i != j.end() && i->is_number_integer())
    r.attempt = static_cast<int>(std::clamp<int64_t>(saturating_int(*i), INT32_MIN, INT32_MAX));
  if (auto i = j.find("duration_ms"); i != j.end())
    r.duration_ms = saturating_int(*i, r.duration_ms);
  if (auto i = j.find("usage"); i != j.end())
    r.tokens = usage_from_json(*i);
  if (auto i = j.find("cost_usd"); i != j.end() && i->is_number())
    r.cost_usd = i->get<double>();
  if (auto i = j.find("error"); i != j.end() && i->is_object()) {
    error_info e;
    e.kind = string_member(*i, "kind");
    e.message = string_member(*i, "message");
    r.error = e;
  }
  if (auto i = j.find("simulated"); i != j.end() && i->is_boolean())
    r.simulated = i->get<bool>();
  r.extra = extra_fields(j, result_fields);
  if (out.size() != before)
    return std::nullopt;
  return r;
}

std::optional<workflow> workflow_from_json(const json& j, problems& out) {
  auto before = out.size();
  if (!j.is_object()) {
    out.push_back("workflow: must be a JSON object");
    return std::nullopt;
  }
  workflow w;
  if (auto n = nonempty_string(j, "name", "", out, true))
    w.name = *n;
  if (auto i = j.find("description"); i != j.end() && !i->is_null()) {
    if (i->is_string())
      w.description = i->get<std::string>();
    else
      bad(out, "description", *i, "must be a string");
  }
  if (auto i = j.find("synthesize"); i != j.end() && !i->is_null()) {
    if (i->is_boolean())
      w.synthesize = i->get<bool>();
    else
      bad(out, "synthesize", *i, "must be true or false");
  }
  w.budget_usd = positive_number(j, "budget_usd", "", out, true);
  auto i = j.find("tasks");
  if (i == j.end()) {
    missing(out, "tasks");
  } else if (!i->is_array() || i->empty()) {
    bad(out, "tasks", *i, "must be a non-empty array of tasks");
  } else {
    for (size_t n = 0; n < i->size(); ++n)
      if (auto t = task_from_json((*i)[n], out,
                                  "tasks[" + std::to_string(n) + "]."))
        w.tasks.push_back(std::move(*t));
  }
  static constexpr std::array<std::string_view, 5> workflow_fields{
    "name", "description", "tasks", "synthesize", "budget_usd"};
  w.extra = extra_fields(j, workflow_fields);
  // A workflow's schema is its tasks' unless they bring their own.
  if (auto s = j.find(output_schema_key); s != j.end()) {
    if (!s->is_object())
      bad(out, output_schema_key, *s, "must be a JSON Schema object");
    else
      for (auto& t : w.tasks)
        if (!output_schema_of(t)) {
          if (!t.extra.is_object())
            t.extra = json::object();
          t.extra[output_schema_key] = *s;
        }
  }
  if (out.size() != before)
    return std::nullopt;
  return w;
}

json to_json(const workflow& w) {
  json tasks = json::array();
  for (auto& t : w.tasks)
    tasks.push_back(to_json(t));
  json j = {{"name", w.name},
            {"description", w.description},
            {"tasks", tasks},
            {"synthesize", w.synthesize}};
  if (w.budget_usd)
    j["budget_usd"] = *w.budget_usd;
  merge_extra(j, w.extra);
  return j;
}

std::optional<std::string> read_text_file(const std::string& path,
                                          problems& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    out.push_back("cannot read " + path + ": " + std::strerror(errno));
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace troupe
