#pragma once

// What every target does first with libFuzzer's bytes.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "core/json_codec.hpp"

namespace troupe::fuzz {

inline std::string_view text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// The bytes as a JSON document, as the decoders get it (depth-limited,
/// never thrown), or nothing.
inline std::optional<json> document(const uint8_t* data, size_t size) {
  problems ps;
  return parse_json_text(text(data, size), ps);
}

/// The bytes decoded by `decode` (JSON, problems -> optional value).
template <class Decode>
auto decoded(const uint8_t* data, size_t size, Decode decode) {
  problems ps;
  auto j = document(data, size);
  return j ? decode(*j, ps) : decltype(decode(*j, ps)){};
}

/// The same, and what decodes must encode and decode again to the same
/// JSON (aborts, which libFuzzer reports, if not).
template <class Decode>
auto round_trip(const uint8_t* data, size_t size, Decode decode) {
  auto v = decoded(data, size, decode);
  if (v) {
    auto out = to_json(*v);
    problems ps;
    auto back = decode(out, ps);
    if (!back || to_json(*back) != out)
      std::abort();
  }
  return v;
}

} // namespace troupe::fuzz
