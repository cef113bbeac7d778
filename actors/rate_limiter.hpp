#pragma once

#include <map>
#include <set>
#include <memory>
#include <vector>

#include "actors/messages.hpp"
#include "caf/actor_clock.hpp"
#include "caf/typed_response_promise.hpp"
#include "core/clock.hpp"
#include "core/day_spend.hpp"
#include "core/meter_store.hpp"

namespace troupe {

/// The account's spend per UTC day: booked in <root>/spend/ (empty root:
/// not kept), and with a cap (limits.spend_per_day_usd; 0: none) no claude
/// run starts once it is reached, until the day turns.
struct day_cap_settings {
  std::string root;
  double usd_per_day = 0;
  wall_clock now_ms = unix_now_ms; // which day it is
};

struct rate_limiter_state {
  static inline const char* name = "rate_limiter";
  std::unique_ptr<limiter_core> core;
  std::map<uint64_t, caf::typed_response_promise<permit_ask>> waiting;
  /// Gate asks (gate_ask) waiting for the account's pause to end.
  std::vector<std::pair<permit_ask, caf::typed_response_promise<permit_ask>>> gates;
  uint64_t next_id = 1;
  /// When the wake-ups already set are due: one is set only if none is
  /// due by then, so that wake-ups never pile up (each would set another).
  std::multiset<caf::actor_clock::time_point> ticks;
  caf::timespan default_cooldown{std::chrono::seconds(10)};
  day_cap_settings cap;
  day_spend today; // as last read or booked
  bool cap_told = false; // the log said the cap is reached, today
};

/// Spawns a RATE LIMITER: grants permits within the global and per-worker
/// buckets, waking itself when the next waiting permit can be granted.
/// `store`: where the buckets live (null: in this actor; a shared store
/// blocks on its I/O, so spawn the limiter detached then).
rate_limiter_actor::behavior_type
rate_limiter(rate_limiter_actor::stateful_pointer<rate_limiter_state> self,
             rate_limits global, std::map<std::string, rate_limits> per_worker,
             caf::timespan default_cooldown, day_cap_settings cap,
             std::shared_ptr<meter_store> store);

} // namespace troupe
