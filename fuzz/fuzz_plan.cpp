// The planner's answer (an LLM's text): read into a workflow and checked
// against a config of three workers.
#include "core/config.hpp"
#include "core/plan.hpp"
#include "fuzz/fuzz_input.hpp"

using namespace troupe;

namespace {
config make_config() {
  config c;
  for (const char* name : {"marie", "anga", "fabien"}) {
    worker_config w;
    w.name = name;
    c.workers.push_back(w);
  }
  return c;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const config cfg = make_config();
  problems ps;
  read_plan(std::string{fuzz::text(data, size)}, cfg, "a request", ps);
  return 0;
}
