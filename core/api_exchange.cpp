#include "core/api_exchange.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/json_codec.hpp"
#include "core/json_text.hpp"
#include "core/text.hpp"

namespace troupe {

bool names_spend_limit(std::string_view text) {
  auto lt = ascii_lower(std::string{text});
  return lt.find("spend_limit") != std::string::npos
         || lt.find("usage limits") != std::string::npos;
}

bool final_refusal(int status, std::string_view body) {
  return status == 401 || status == 403
         || ((status == 400 || status == 429) && names_spend_limit(body));
}

namespace {

// A line longer than this is no usage event (text deltas are small): it
// is skipped, so a hostile upstream cannot grow the reader without bound.
constexpr size_t max_sse_line = 1u << 20;

bool plain(unsigned char c) {
  return std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '/'
         || c == ':' || c == '@';
}

std::string encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (plain(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::optional<std::string> decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    int hi = i + 1 < s.size() ? hex_digit(s[i + 1]) : -1;
    int lo = i + 2 < s.size() ? hex_digit(s[i + 2]) : -1;
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

/// Round-trips through strtod however small the budget.
std::string fmt_usd(double v) {
  char b[40];
  std::snprintf(b, sizeof(b), "%.9g", v);
  return b;
}

} // namespace

std::string format_task_tag(const task_tag& t) {
  return "worker=" + encode(t.worker) + ";task=" + encode(t.task_id)
         + ";attempt=" + std::to_string(t.attempt) + ";prio="
         + std::string{to_string(t.prio)}
         + (t.budget_usd ? ";budget=" + fmt_usd(*t.budget_usd) : std::string{});
}

std::optional<task_tag> parse_task_tag(std::string_view value) {
  task_tag t;
  bool worker = false, task = false;
  while (!value.empty()) {
    auto end = value.find(';');
    auto part = trim(value.substr(0, end));
    value = end == std::string_view::npos ? std::string_view{} : value.substr(end + 1);
    auto eq = part.find('=');
    if (eq == std::string_view::npos)
      return std::nullopt;
    auto key = part.substr(0, eq);
    auto v = decode(part.substr(eq + 1));
    if (!v)
      return std::nullopt;
    if (key == "worker") {
      t.worker = *v;
      worker = true;
    } else if (key == "task") {
      t.task_id = *v;
      task = true;
    } else if (key == "attempt") {
      int n = 0;
      auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      if (ec != std::errc{} || p != v->data() + v->size() || n < 1)
        return std::nullopt;
      t.attempt = n;
    } else if (key == "prio") {
      auto p = parse_priority(*v);
      if (!p)
        return std::nullopt;
      t.prio = *p;
    } else if (key == "budget") {
      char* end = nullptr;
      double b = std::strtod(v->c_str(), &end);
      if (v->empty() || end != v->c_str() + v->size() || !std::isfinite(b) || b <= 0)
        return std::nullopt;
      t.budget_usd = b;
    } // other keys: a newer troupe's; ignored
  }
  if (!worker || !task || t.worker.empty())
    return std::nullopt;
  return t;
}

void sse_usage_reader::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    auto nl = bytes.find('\n');
    if (nl == std::string_view::npos) {
      if (partial_.size() + bytes.size() <= max_sse_line)
        partial_.append(bytes);
      else
        partial_.assign(max_sse_line + 1, ' '); // marked too long
      return;
    }
    auto piece = bytes.substr(0, nl);
    bytes.remove_prefix(nl + 1);
    if (partial_.empty()) {
      line(piece);
    } else {
      if (partial_.size() <= max_sse_line)
        partial_.append(piece);
      if (partial_.size() <= max_sse_line)
        line(partial_);
      partial_.clear();
    }
  }
}

void sse_usage_reader::line(std::string_view l) {
  if (!l.empty() && l.back() == '\r')
    l.remove_suffix(1);
  if (l.empty()) {
    dispatch();
    return;
  }
  auto field = l.substr(0, l.find(':'));
  auto value = field.size() < l.size() ? l.substr(field.size() + 1) : std::string_view{};
  if (!value.empty() && value.front() == ' ')
    value.remove_prefix(1);
  if (field == "event") {
    event_.assign(value);
  } else if (field == "data") {
    if (!data_.empty())
      data_ += '\n';
    if (data_.size() + value.size() <= max_sse_line)
      data_.append(value);
  }
}

void sse_usage_reader::dispatch() {
  // Only three events carry what the gateway settles; the text deltas in
  // between are not parsed.
  if (event_ == "message_start" || event_ == "message_delta"
      || event_ == "error") {
    auto j = parse_json_or_discard(data_);
    if (event_ == "message_start") {
      auto m = j.is_object() ? j.find("message") : j.end();
      if (m != j.end() && m->is_object())
        if (auto u = m->find("usage"); u != m->end() && u->is_object()) {
          used_ = usage_from_json(*u);
          started_ = true;
        }
    } else if (event_ == "message_delta") {
      auto u = j.is_object() ? j.find("usage") : j.end();
      if (u != j.end() && u->is_object()) {
        // Cumulative counts: the last one stands; input figures only
        // when the API repeats them.
        auto d = usage_from_json(*u);
        if (u->contains("output_tokens"))
          used_.output_tokens = d.output_tokens;
        if (u->contains("input_tokens"))
          used_.input_tokens = d.input_tokens;
        if (u->contains("cache_creation_input_tokens"))
          used_.cache_creation_input_tokens = d.cache_creation_input_tokens;
        if (u->contains("cache_read_input_tokens"))
          used_.cache_read_input_tokens = d.cache_read_input_tokens;
      }
    } else {
      auto e = j.is_object() ? j.find("error") : j.end();
      error_ = e != j.end() && e->is_object() ? string_member(*e, "type", "error")
                                               : "error";
    }
  }
  event_.clear();
  data_.clear();
}

usage usage_of_message(std::string_view body) {
  auto j = parse_json_or_discard(body);
  if (!j.is_object())
    return {};
  auto u = j.find("usage");
  return u != j.end() && u->is_object() ? usage_from_json(*u) : usage{};
}

bool read_limit_header(std::string_view name, std::string_view value,
                       limits_left& into) {
  static constexpr std::string_view prefix = "anthropic-ratelimit-";
  static constexpr std::string_view suffix = "-remaining";
  if (name.size() <= prefix.size() + suffix.size())
    return false;
  auto same = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size())
      return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(a[i])) != b[i])
        return false;
    return true;
  };
  if (!same(name.substr(0, prefix.size()), prefix)
      || !same(name.substr(name.size() - suffix.size()), suffix))
    return false;
  auto meter = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  double* dst = same(meter, "requests")        ? &into.requests
                : same(meter, "input-tokens")  ? &into.input_tokens
                : same(meter, "output-tokens") ? &into.output_tokens
                                               : nullptr;
  if (!dst)
    return false; // tokens-remaining (input and output together), unified-*
  auto text = trim(value);
  int64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || p != text.data() + text.size() || n < 0)
    return false;
  *dst = static_cast<double>(n);
  return true;
}

std::optional<int64_t> retry_after_ms(std::string_view value) {
  auto text = trim(value);
  if (text.empty())
    return std::nullopt;
  // Seconds, possibly fractional; far beyond a day is treated as a day.
  char* end = nullptr;
  double s = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(s) || s < 0)
    return std::nullopt;
  return static_cast<int64_t>(std::min(s, 86400.0) * 1000);
}

} // namespace troupe
