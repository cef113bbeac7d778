#pragma once

// Tasks and results written straight to compact JSON text, without building
// a document first: what crosses the bridge thousands of times a second.
// The text decodes (task_from_json, result_from_json) to what to_json()
// describes; only the order of keys and the spelling of numbers may differ.
// Files keep using to_json(...).dump(2).

#include <string>

#include "core/model.hpp"

namespace troupe {

void append_json(std::string& out, const task& t);
void append_json(std::string& out, const result& r);

/// A JSON string literal; text that is not valid UTF-8 makes nlohmann's
/// escaping (and its error) decide, as with to_json().dump().
void append_json_string(std::string& out, std::string_view s);

/// The value of one hex digit, or -1 (JSON's \u escapes, percent-encoding).
inline int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

} // namespace troupe
