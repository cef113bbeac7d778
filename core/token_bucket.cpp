#include "core/token_bucket.hpp"

#include <algorithm>
#include <cmath>

namespace troupe {

token_bucket::token_bucket(double per_min, steady_time now)
  : per_min_(per_min), level_(per_min), last_(now) {
}

void token_bucket::refill(steady_time now) {
  if (unlimited() || now <= last_)
    return;
  std::chrono::duration<double> dt = now - last_;
  auto room = per_min_ - pending_;
  if (level_ < room)
    level_ = std::min(room, level_ + dt.count() * per_min_ / 60.0);
  last_ = now;
}

bool token_bucket::can_take(double n) const {
  // A tiny epsilon absorbs floating-point dust from continuous refills.
  return unlimited() || level_ + 1e-9 >= need(n);
}

void token_bucket::take(double n) {
  if (!unlimited())
    level_ -= n;
}

void token_bucket::cap(double remaining) {
  if (!unlimited() && remaining < level_)
    level_ = remaining;
}

void token_bucket::give_back(double n) {
  if (!unlimited())
    level_ = std::min(per_min_, level_ + n);
}

void token_bucket::reserve(double n) {
  if (unlimited())
    return;
  level_ -= n;
  pending_ += n;
}

void token_bucket::settle(double reserved, double actual) {
  if (unlimited())
    return;
  pending_ = std::max(0.0, pending_ - reserved);
  if (actual > reserved)
    level_ -= actual - reserved;
  else
    level_ = std::min(per_min_ - pending_, level_ + (reserved - actual));
}

steady_duration token_bucket::time_until(double n) const {
  if (can_take(n))
    return steady_duration::zero();
  double missing = need(n) - level_;
  std::chrono::duration<double> secs(missing * 60.0 / per_min_);
  return std::chrono::ceil<steady_duration>(secs);
}

} // namespace troupe
