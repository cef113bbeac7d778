// The Claude CLI's stream-json output, line by line (what a broken CLI or
// one talking to a hostile endpoint could print), then classified into a
// result as the executor does: nothing thrown, whatever the lines hold.
#include "core/claude_executor.hpp"
#include "core/process.hpp"
#include "core/stream_json.hpp"
#include "fuzz/fuzz_input.hpp"

using namespace troupe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  stream_json_reader r{"t", "claude-sonnet-4-5", [](const api_retry_event&) {}};
  auto s = fuzz::text(data, size);
  while (!s.empty()) {
    auto nl = s.find('\n');
    r.line(s.substr(0, nl));
    s = nl == s.npos ? std::string_view{} : s.substr(nl + 1);
  }
  (void)r.api_requests();
  (void)r.written();
  process_outcome o;
  o.started = true;
  o.exit_code = size % 2; // both a clean exit and a failed one
  o.out = r.final_output();
  for (bool schema : {false, true}) {
    result res;
    res.task_id = "t";
    res.worker = "w";
    classify_claude_outcome(o, res, false, schema);
  }
  return 0;
}
