// What the gateway reads from the wire: a request body (what a CLI, or any
// local process, sends it), an answer's event stream cut anywhere, a tag
// header and limit headers. Nothing thrown, nothing unbounded.
#include "core/api_exchange.hpp"
#include "core/prompt_cache.hpp"
#include "fuzz/fuzz_input.hpp"

using namespace troupe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto s = fuzz::text(data, size);
  if (auto shape = shape_of_request(s)) {
    prompt_cache c;
    steady_time t0{};
    (void)c.metered_estimate(*shape, t0);
    c.store(*shape, t0);
    if (c.metered_estimate(*shape, t0) > tokens_of_bytes(shape->bytes))
      __builtin_trap(); // a warm estimate never exceeds the cold one
  }
  sse_usage_reader r;
  size_t cut = size ? data[0] % (size + 1) : 0;
  r.feed(s.substr(0, cut));
  r.feed(s.substr(cut));
  (void)r.used();
  if (auto tag = parse_task_tag(s)) {
    auto again = parse_task_tag(format_task_tag(*tag));
    if (!again || again->task_id != tag->task_id || again->worker != tag->worker)
      __builtin_trap(); // what was read is written back the same
  }
  limits_left l;
  auto colon = s.find(':');
  if (colon != std::string_view::npos)
    read_limit_header(s.substr(0, colon), s.substr(colon + 1), l);
  (void)retry_after_ms(s);
  (void)usage_of_message(s);
  return 0;
}
