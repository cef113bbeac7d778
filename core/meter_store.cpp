#include "core/meter_store.hpp"

#include <algorithm>

namespace troupe {

using meters = local_meter_store::meters;

meters::meters(const rate_limits& l, steady_time now)
  : requests(l.requests_per_min, now),
    input(l.input_tokens_per_min, now),
    output(l.output_tokens_per_min, now) {
}

meters::meters(const rate_limits& l, const meter_amounts& level, steady_time now)
  : requests(l.requests_per_min, level.requests, now),
    input(l.input_tokens_per_min, level.input, now),
    output(l.output_tokens_per_min, level.output, now) {
}

void meters::refill(steady_time now) {
  requests.refill(now);
  input.refill(now);
  output.refill(now);
}

bool meters::can_take(const meter_amounts& a) const {
  return requests.can_take(a.requests) && input.can_take(a.input)
         && output.can_take(a.output);
}

void meters::reserve(const meter_amounts& a) {
  requests.reserve(a.requests);
  input.reserve(a.input);
  output.reserve(a.output);
}

void meters::settle(const meter_amounts& reserved, const meter_amounts& used) {
  requests.settle(reserved.requests, used.requests);
  input.settle(reserved.input, used.input);
  output.settle(reserved.output, used.output);
}

steady_duration meters::time_until(const meter_amounts& a) const {
  return std::max({requests.time_until(a.requests), input.time_until(a.input),
                   output.time_until(a.output)});
}

meters& local_meter_store::at(const meter_ref& m, steady_time now) {
  auto i = meters_.find(m.key);
  if (i == meters_.end())
    i = meters_.emplace(m.key, meters{m.limits, now}).first;
  i->second.refill(now);
  return i->second;
}

reserve_outcome local_meter_store::reserve(const meter_ref& global,
                                           const meter_ref& worker,
                                           const meter_amounts& a,
                                           steady_time now) {
  auto& g = at(global, now);
  auto& w = at(worker, now);
  if (!g.can_take(a))
    return reserve_outcome::global_blocked;
  if (!w.can_take(a))
    return reserve_outcome::worker_blocked;
  g.reserve(a);
  w.reserve(a);
  return reserve_outcome::granted;
}

steady_duration local_meter_store::time_until(const meter_ref& global,
                                              const meter_ref& worker,
                                              const meter_amounts& a,
                                              steady_time now) {
  auto d = at(global, now).time_until(a);
  return std::max(d, at(worker, now).time_until(a));
}

void local_meter_store::settle(const meter_ref& m, const meter_amounts& reserved,
                               const meter_amounts& used, steady_time now) {
  at(m, now).settle(reserved, used);
}

meter_amounts local_meter_store::empty(const meter_ref& m, steady_time now) {
  auto& g = at(m, now);
  meter_amounts taken;
  auto take_all = [](token_bucket& b, double& out) {
    if (b.level() <= 0)
      return;
    out = b.level();
    b.take(b.level());
  };
  take_all(g.requests, taken.requests);
  take_all(g.input, taken.input);
  take_all(g.output, taken.output);
  return taken;
}

void local_meter_store::cap(const meter_ref& m, const meter_amounts& remaining,
                            steady_time now) {
  auto& g = at(m, now);
  if (remaining.requests >= 0)
    g.requests.cap(remaining.requests);
  if (remaining.input >= 0)
    g.input.cap(remaining.input);
  if (remaining.output >= 0)
    g.output.cap(remaining.output);
}

} // namespace troupe
