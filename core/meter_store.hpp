#pragma once

// Where the rate limiter's buckets live. In one process they are plain
// token buckets (local_meter_store); orchestrators that share a queue share
// them in Redis (bridge/redis/redis_meters), so that together they stay
// within the one account's limits. The limiter's logic (limiter_core) only
// ever sees this interface.

#include <map>
#include <memory>
#include <string>

#include "core/config.hpp"
#include "core/token_bucket.hpp"

namespace troupe {

/// Requests, input and output tokens: what a permit reserves, what a run
/// used, what a bucket holds.
struct meter_amounts {
  double requests = 0;
  double input = 0;
  double output = 0;
};

/// One set of three buckets: the global ones of a model class
/// ("global:sonnet") or a worker's own ("worker:marie"), with their limits.
struct meter_ref {
  std::string key;
  rate_limits limits;
};

enum class reserve_outcome { granted, global_blocked, worker_blocked };

class meter_store {
public:
  virtual ~meter_store() = default;

  /// Reserves `a` from the global buckets and the worker's at once, or
  /// from neither, and says which ones blocked it.
  virtual reserve_outcome reserve(const meter_ref& global, const meter_ref& worker,
                                  const meter_amounts& a, steady_time now) = 0;

  /// How long until reserve() of `a` can succeed, if nothing else happens.
  virtual steady_duration time_until(const meter_ref& global,
                                     const meter_ref& worker,
                                     const meter_amounts& a, steady_time now) = 0;

  /// Ends a reservation of `reserved` that cost `used`.
  virtual void settle(const meter_ref& m, const meter_amounts& reserved,
                      const meter_amounts& used, steady_time now) = 0;

  /// Empties the buckets (a 429: the API's own are empty); returns what
  /// they held.
  virtual meter_amounts empty(const meter_ref& m, steady_time now) = 0;

  /// Lowers the buckets to what the API says remains (negative: not said).
  virtual void cap(const meter_ref& m, const meter_amounts& remaining,
                   steady_time now) = 0;
};

/// The buckets in this process.
class local_meter_store final : public meter_store {
public:
  reserve_outcome reserve(const meter_ref& global, const meter_ref& worker,
                          const meter_amounts& a, steady_time now) override;
  steady_duration time_until(const meter_ref& global, const meter_ref& worker,
                             const meter_amounts& a, steady_time now) override;
  void settle(const meter_ref& m, const meter_amounts& reserved,
              const meter_amounts& used, steady_time now) override;
  meter_amounts empty(const meter_ref& m, steady_time now) override;
  void cap(const meter_ref& m, const meter_amounts& remaining,
           steady_time now) override;

  /// The three buckets of a key as they are now (for tests and mirrors).
  struct meters {
    token_bucket requests, input, output;
    meters(const rate_limits& l, steady_time now);
    meters(const rate_limits& l, const meter_amounts& level, steady_time now);
    void refill(steady_time now);
    bool can_take(const meter_amounts& a) const;
    void reserve(const meter_amounts& a);
    void settle(const meter_amounts& reserved, const meter_amounts& used);
    steady_duration time_until(const meter_amounts& a) const;
  };

private:
  meters& at(const meter_ref& m, steady_time now);
  std::map<std::string, meters> meters_;
};

} // namespace troupe
