// A result file or a RESULT body: text -> JSON -> result, and back.
#include "core/json_codec.hpp"
#include "fuzz/fuzz_input.hpp"

using namespace troupe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::round_trip(data, size, [](const json& j, problems& ps) { return result_from_json(j, ps); });
  return 0;
}
