#include "bridge/zmq/json_scan.hpp"

#include "core/json_codec.hpp"
#include "core/json_text.hpp"

namespace troupe::jscan {

namespace {

// The same limit as every other decoder of ours (core/json_codec.hpp).
constexpr int max_depth = static_cast<int>(max_json_depth);

size_t skip_ws(std::string_view s, size_t i) {
  while (i < s.size()
         && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
    ++i;
  return i;
}

/// Four hex digits at s[i..i+4), or -1.
int hex4(std::string_view s, size_t i) {
  if (i + 4 > s.size())
    return -1;
  int v = 0;
  for (size_t k = i; k < i + 4; ++k) {
    int h = hex_digit(s[k]);
    if (h < 0)
      return -1;
    v = v * 16 + h;
  }
  return v;
}

void put_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

/// A string starting at s[i] == '"': the index after its closing quote, or
/// npos. With `out`, its value is decoded into it.
size_t scan_string(std::string_view s, size_t i, std::string* out) {
  if (i >= s.size() || s[i] != '"')
    return npos;
  ++i;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"')
      return i + 1;
    if (c < 0x20)
      return npos; // control characters must be escaped
    if (c != '\\') {
      // Plain bytes run until the next quote, escape or control character.
      size_t j = i + 1;
      while (j < s.size() && s[j] != '"' && s[j] != '\\'
             && static_cast<unsigned char>(s[j]) >= 0x20)
        ++j;
      if (out)
        out->append(s.substr(i, j - i));
      i = j;
      continue;
    }
    if (++i >= s.size())
      return npos;
    char e = s[i++];
    char plain = 0;
    switch (e) {
      case '"': plain = '"'; break;
      case '\\': plain = '\\'; break;
      case '/': plain = '/'; break;
      case 'b': plain = '\b'; break;
      case 'f': plain = '\f'; break;
      case 'n': plain = '\n'; break;
      case 'r': plain = '\r'; break;
      case 't': plain = '\t'; break;
      case 'u': {
        int hi = hex4(s, i);
        if (hi < 0)
          return npos;
        i += 4;
        uint32_t cp = static_cast<uint32_t>(hi);
        if (hi >= 0xD800 && hi <= 0xDBFF) {
          // A high surrogate needs its low half: \uDC00..\uDFFF.
          if (i + 6 > s.size() || s[i] != '\\' || s[i + 1] != 'u')
            return npos;
          int lo = hex4(s, i + 2);
          if (lo < 0xDC00 || lo > 0xDFFF)
            return npos;
          i += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (static_cast<uint32_t>(lo) - 0xDC00);
        } else if (hi >= 0xDC00 && hi <= 0xDFFF) {
          return npos; // a low surrogate alone
        }
        if (out)
          put_utf8(*out, cp);
        continue;
      }
      default:
        return npos;
    }
    if (out)
      *out += plain;
  }
  return npos;
}

size_t scan_number(std::string_view s, size_t i) {
  auto digit = [&](size_t k) { return k < s.size() && s[k] >= '0' && s[k] <= '9'; };
  if (i < s.size() && s[i] == '-')
    ++i;
  if (!digit(i))
    return npos;
  if (s[i] == '0')
    ++i;
  else
    while (digit(i))
      ++i;
  if (i < s.size() && s[i] == '.') {
    if (!digit(++i))
      return npos;
    while (digit(i))
      ++i;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-'))
      ++i;
    if (!digit(i))
      return npos;
    while (digit(i))
      ++i;
  }
  return i;
}

size_t scan_value(std::string_view s, size_t i, int depth) {
  i = skip_ws(s, i);
  if (i >= s.size())
    return npos;
  switch (s[i]) {
    case '"':
      return scan_string(s, i, nullptr);
    case '{':
    case '[': {
      if (depth >= max_depth)
        return npos;
      bool object = s[i] == '{';
      char close = object ? '}' : ']';
      i = skip_ws(s, i + 1);
      if (i < s.size() && s[i] == close)
        return i + 1;
      for (;;) {
        if (object) {
          i = scan_string(s, i, nullptr);
          if (i == npos)
            return npos;
          i = skip_ws(s, i);
          if (i >= s.size() || s[i] != ':')
            return npos;
          ++i;
        }
        i = scan_value(s, i, depth + 1);
        if (i == npos)
          return npos;
        i = skip_ws(s, i);
        if (i >= s.size())
          return npos;
        if (s[i] == close)
          return i + 1;
        if (s[i] != ',')
          return npos;
        i = skip_ws(s, i + 1);
      }
    }
    case 't':
      return s.substr(i, 4) == "true" ? i + 4 : npos;
    case 'f':
      return s.substr(i, 5) == "false" ? i + 5 : npos;
    case 'n':
      return s.substr(i, 4) == "null" ? i + 4 : npos;
    default:
      return scan_number(s, i);
  }
}

} // namespace

size_t skip_value(std::string_view s, size_t at) {
  return scan_value(s, at, 0);
}

bool is_value(std::string_view s) {
  auto i = skip_value(s, 0);
  return i != npos && skip_ws(s, i) == s.size();
}

bool cursor::fail() {
  failed_ = true;
  return false;
}

void cursor::ws() {
  i_ = skip_ws(s_, i_);
}

bool cursor::enter(char open) {
  if (failed_)
    return false;
  ws();
  if (i_ >= s_.size() || s_[i_] != open)
    return false;
  if (static_cast<int>(open_.size()) >= max_depth)
    return fail();
  ++i_;
  open_ += open;
  first_ = true;
  return true;
}

bool cursor::enter_object() {
  return enter('{');
}

bool cursor::enter_array() {
  return enter('[');
}

bool cursor::after_entry(char close) {
  // True: another entry follows; false: the container ended (or an error).
  ws();
  if (i_ >= s_.size())
    return fail();
  if (s_[i_] == close) {
    ++i_;
    open_.pop_back();
    first_ = false; // the parent has just read this container as an entry
    return false;
  }
  if (!first_) {
    if (s_[i_] != ',')
      return fail();
    ++i_;
    ws();
  }
  first_ = false;
  return true;
}

bool cursor::next_member(std::string& key) {
  if (failed_ || open_.empty() || open_.back() != '{')
    return fail();
  if (!after_entry('}'))
    return false;
  key.clear();
  i_ = scan_string(s_, i_, &key);
  if (i_ == npos)
    return fail();
  ws();
  if (i_ >= s_.size() || s_[i_] != ':')
    return fail();
  ++i_;
  return true;
}

bool cursor::next_element() {
  if (failed_ || open_.empty() || open_.back() != '[')
    return fail();
  return after_entry(']');
}

std::string_view cursor::skip() {
  if (failed_)
    return {};
  ws();
  auto start = i_;
  auto end = scan_value(s_, i_, static_cast<int>(open_.size()));
  if (end == npos) {
    fail();
    return {};
  }
  i_ = end;
  return s_.substr(start, end - start);
}

std::optional<std::string> cursor::string() {
  if (failed_)
    return std::nullopt;
  ws();
  if (i_ >= s_.size() || s_[i_] != '"') {
    skip();
    return std::nullopt;
  }
  std::string out;
  i_ = scan_string(s_, i_, &out);
  if (i_ == npos) {
    fail();
    return std::nullopt;
  }
  return out;
}

size_t cursor::at() {
  ws();
  return i_;
}

bool cursor::done() {
  if (failed_)
    return false;
  ws();
  return open_.empty() && i_ == s_.size();
}

std::optional<std::string> string_value(std::string_view raw) {
  std::string out;
  auto i = skip_ws(raw, 0);
  i = scan_string(raw, i, &out);
  if (i == npos || skip_ws(raw, i) != raw.size())
    return std::nullopt;
  return out;
}

} // namespace troupe::jscan
