#pragma once

// On a worker node, the rate_limiter_actor of the local worker: it asks the
// orchestrator's limiter over the wire (PERMIT, SETTLE, COOLDOWN) and
// answers when the GRANT comes back.

#include <functional>
#include <unordered_map>

#include "actors/messages.hpp"
#include "caf/typed_response_promise.hpp"

namespace troupe {

/// What a worker node sends to the orchestrator for its limiter.
struct limiter_wire {
  std::function<void(uint64_t id, const permit_ask&)> ask;
  std::function<void(const permit_ask&, const run_usage&)> settle;
  std::function<void(const std::string& model, int64_t wait_ms)> cooldown;
  /// What the API's headers say remains (run_usage's fields; -1: not sent).
  std::function<void(const std::string& model, const run_usage& left)> calibrate;
};

/// A rate limiter whose answers come from the orchestrator: also takes
/// (permit_atom, id, granted) when a GRANT arrives.
using remote_limiter_actor = rate_limiter_actor::extend<
  caf::reacts_to<permit_atom, uint64_t, permit_ask>>;

struct remote_limiter_state {
  static inline const char* name = "remote_limiter";
  std::unordered_map<uint64_t, caf::typed_response_promise<permit_ask>> waiting;
  std::unordered_map<uint64_t, permit_ask> asks; // re-sent after a reconnection
  uint64_t next = 1;
};

remote_limiter_actor::behavior_type
remote_limiter(remote_limiter_actor::stateful_pointer<remote_limiter_state> self,
               limiter_wire wire);

} // namespace troupe
