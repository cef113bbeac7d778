#pragma once

// Reading JSON text in place, in one pass, without building a document. The
// broker reads the few fields it needs from each RESULT this way (ticket,
// task_id, status, error.kind) and hands the result's own text on; decoding
// it whole is done off the broker's thread. Strict about the grammar
// (RFC 8259): what is not valid JSON is refused. UTF-8 is not checked;
// whoever decodes a value whole (nlohmann) does.

#include <optional>
#include <string>
#include <string_view>

namespace troupe::jscan {

inline constexpr size_t npos = std::string_view::npos;

/// A position in JSON text that moves forward only. Once something is not
/// valid JSON the cursor fails for good: every call returns false/empty.
///
///   cursor c{text};
///   if (c.enter_object())
///     while (c.next_member(key))
///       if (key == "ticket") ticket = c.string(); else c.skip();
///   bool good = c.done();
class cursor {
public:
  explicit cursor(std::string_view s) : s_(s) {}

  /// At `{` (or `[`): steps into it. False if the next value is not one.
  bool enter_object();
  bool enter_array();
  /// Inside an object: the next member's key, the cursor then at its value
  /// (which must be read or skipped before the next call). False at the
  /// closing `}` (stepped over) or on an error.
  bool next_member(std::string& key);
  /// Inside an array: true with the cursor at the next element, false at
  /// the closing `]` (stepped over) or on an error.
  bool next_element();

  /// Steps over the next value; its raw text, or empty on an error.
  std::string_view skip();
  /// The next value if it is a string (decoded); else it is skipped.
  std::optional<std::string> string();

  /// Where the next value starts (whitespace skipped), and the text from
  /// such a place to here: the raw text of what was read in between.
  size_t at();
  std::string_view since(size_t from) const { return s_.substr(from, i_ - from); }

  /// True if nothing went wrong and only whitespace is left.
  bool done();
  bool failed() const { return failed_; }

private:
  bool fail();
  void ws();
  bool enter(char open);
  /// After a member or element: `,` or the closing bracket.
  bool after_entry(char close);

  std::string_view s_;
  size_t i_ = 0;
  bool failed_ = false;
  std::string open_; // the brackets entered, innermost last
  bool first_ = false; // no entry read yet in the innermost container
};

/// The index just after the JSON value that starts at `at` (whitespace
/// before it skipped), or npos if no valid value is there. Nesting deeper
/// than 512 levels is refused.
size_t skip_value(std::string_view s, size_t at = 0);

/// True if `s` is exactly one JSON value (whitespace around it allowed).
bool is_value(std::string_view s);

/// The value of a JSON string given as its raw text (with the quotes),
/// escapes decoded to UTF-8; nullopt if `raw` is not one valid string.
std::optional<std::string> string_value(std::string_view raw);

} // namespace troupe::jscan
