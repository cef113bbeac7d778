#pragma once

// A continuously refilled token bucket (Anthropic's model of a per-minute
// limit). Time is passed in, never read, so tests control it.

#include <chrono>

namespace troupe {

using steady_time = std::chrono::steady_clock::time_point;
using steady_duration = std::chrono::steady_clock::duration;

class token_bucket {
public:
  /// `per_min` tokens per minute, capacity one minute's worth; 0: unlimited.
  token_bucket(double per_min, steady_time now);
  token_bucket() = default;
  /// One whose level is known (as another process last reported it).
  token_bucket(double per_min, double level, steady_time now)
    : per_min_(per_min), level_(level), last_(now) {}

  bool unlimited() const { return per_min_ <= 0; }
  double capacity() const { return per_min_; }

  /// Adds what has accrued since the last call, up to capacity.
  void refill(steady_time now);

  /// True if `n` can be taken now (after refill). A request above capacity
  /// needs a full bucket, so it waits but is never refused for ever.
  bool can_take(double n) const;

  /// Takes `n`; the level may go below zero (a run that used more than
  /// estimated), which delays later takes until it is paid back.
  void take(double n);

  /// Returns `n` (an estimate that was too high), up to capacity.
  void give_back(double n);

  /// Takes `n` for a run that has not reached the API yet. Until it is
  /// settled, `n` also occupies capacity: the API's own bucket may sit full
  /// meanwhile (and lose its refill), so ours must not count refill into
  /// room the API does not have.
  void reserve(double n);

  /// Ends a reservation of `reserved` that actually cost `actual`.
  void settle(double reserved, double actual);

  double pending() const { return pending_; }

  /// How long until can_take(n) holds, assuming nothing else happens.
  steady_duration time_until(double n) const;

  double level() const { return level_; }

  /// Lowers the level to what the API says remains (never raises it: what
  /// is reserved here may not have reached the API yet).
  void cap(double remaining);

private:
  double need(double n) const { return n > per_min_ ? per_min_ : n; }

  double per_min_ = 0;
  double level_ = 0;
  double pending_ = 0;
  steady_time last_{};
};

} // namespace troupe
