// The broker's in-place JSON reader against nlohmann's parser: whatever
// nlohmann accepts (and is within the scanner's 512 levels) the scanner
// accepts too, and a value it steps over is one nlohmann accepts.
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "bridge/zmq/json_scan.hpp"
#include "core/json_codec.hpp"
#include "fuzz/fuzz_input.hpp"

using namespace troupe;

namespace {
/// Reads everything: each member key and string, the rest skipped.
void walk(jscan::cursor& c, int depth) {
  if (depth > 64) {
    c.skip();
    return;
  }
  if (c.enter_object()) {
    std::string key;
    while (c.next_member(key))
      walk(c, depth + 1);
  } else if (c.enter_array()) {
    while (c.next_element())
      walk(c, depth + 1);
  } else {
    c.string();
  }
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto s = fuzz::text(data, size);
  auto end = jscan::skip_value(s);
  // nlohmann checks UTF-8, the scanner does not: compare only valid text.
  // nlohmann also takes a NUL byte for the end of its input ("0\0" is
  // accepted), where RFC 8259 and the scanner refuse it: no verdict then.
  bool shallow = json_depth_within(s, 500);
  bool has_nul = s.find('\0') != s.npos;
  bool accepted = shallow && !has_nul && nlohmann::json::accept(s);
  bool scanned = end != jscan::npos && s.find_first_not_of(" \t\r\n", end) == s.npos;
  if (accepted && !scanned)
    std::abort(); // valid JSON the scanner refuses
  if (scanned && end > 0 && shallow) {
    auto v = parse_json_or_discard(s.substr(0, end));
    (void)v; // UTF-8 may still refuse it: no verdict
  }
  jscan::cursor c{s};
  walk(c, 0);
  c.done();
  return 0;
}
