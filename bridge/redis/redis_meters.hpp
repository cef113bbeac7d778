#pragma once

// The rate limiter's buckets in Redis: every orchestrator on one queue
// reserves from, settles into and calibrates the same buckets, so that
// together they stay inside the one account's limits (docs/QUEUE.md,
// "Shared limits"). Each operation is one Lua script, atomic in Redis and
// timed by Redis's own clock, so that orchestrators on hosts whose clocks
// differ still refill one bucket alike.
//
// What an orchestrator holds reserved is kept under its name: one that
// dies holding reservations stops counting against the buckets once it
// has not been seen for `stale` (a live one is seen at each of its own
// operations).
//
// Not thread-safe (one blocking connection): the limiter's own.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "bridge/redis/redis_client.hpp"
#include "core/meter_store.hpp"

namespace troupe {

struct redis_meters_settings {
  redis_url url;
  std::string prefix = "troupe:";
  /// This orchestrator's name: what it holds reserved is kept under it.
  std::string consumer;
  std::chrono::milliseconds timeout{2000};
  std::chrono::milliseconds stale{120'000};
  /// An idle bucket's key goes after this (it is full long before).
  std::chrono::milliseconds ttl{300'000};
  /// Told when Redis cannot be reached, once per outage, and when it can
  /// again.
  std::function<void(const std::string&)> warn;
};

class redis_meters final : public meter_store {
public:
  explicit redis_meters(redis_meters_settings s);
  ~redis_meters() override;

  /// While Redis cannot be reached nothing is granted (an orchestrator cut
  /// off from the others cannot know what they take), and it is tried
  /// again each second.
  reserve_outcome reserve(const meter_ref& global, const meter_ref& worker,
                          const meter_amounts& a, steady_time now) override;
  /// From the levels Redis last gave for these buckets.
  steady_duration time_until(const meter_ref& global, const meter_ref& worker,
                             const meter_amounts& a, steady_time now) override;
  /// Lost while Redis cannot be reached: a settlement only ever returns
  /// what an estimate overstated, or books an overrun that the API's own
  /// headers (cap) catch.
  void settle(const meter_ref& m, const meter_amounts& reserved,
              const meter_amounts& used, steady_time now) override;
  meter_amounts empty(const meter_ref& m, steady_time now) override;
  void cap(const meter_ref& m, const meter_amounts& remaining,
           steady_time now) override;

private:
  redis_client* client(steady_time now);
  redis_reply run(const std::string& script, const std::vector<std::string>& keys,
                  std::vector<std::string> args, steady_time now);
  void remember(const meter_ref& m, const redis_reply& r, size_t first,
                steady_time now);
  std::string key(const meter_ref& m) const;

  redis_meters_settings s_;
  std::unique_ptr<redis_client> c_;
  steady_time next_connect_{};
  bool down_ = false;
  /// Each bucket as Redis last said, for time_until().
  std::map<std::string, local_meter_store::meters> seen_;
};

} // namespace troupe
