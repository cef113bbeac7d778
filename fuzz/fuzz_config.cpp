// config/troupe.json: every key type-checked, nothing thrown.
#include "core/config.hpp"
#include "fuzz/fuzz_input.hpp"

using namespace troupe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::decoded(data, size,
                [](const json& j, problems& ps) { return config_from_json(j, "/nonexistent", ps); });
  return 0;
}
