// A task file or a TASK body: text -> JSON -> task. What decodes must
// encode and decode again to the same task.
#include "core/json_codec.hpp"
#include "fuzz/fuzz_input.hpp"

using namespace troupe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::round_trip(data, size, [](const json& j, problems& ps) { return task_from_json(j, ps); });
  return 0;
}
