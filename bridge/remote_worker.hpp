#pragma once

// The actors that stand in for what lives on other nodes.
//
// On the orchestrator: `remote_workers` is the worker_actor of every
// configured worker when the workers run on their own nodes: it hands each
// task to the broker under a ticket and answers when the node's result comes
// back. `permit_relay` asks the local rate limiter for a remote node's
// permit and posts the grant back to the broker.
//
// On a worker node: `remote_limiter` is the rate_limiter_actor of the local
// worker: it asks the orchestrator's limiter over the wire.

#include <functional>
#include <unordered_map>

#include "actors/messages.hpp"
#include "bridge/broker.hpp"
#include "caf/typed_response_promise.hpp"

namespace troupe {

/// Decodes results that came as JSON text (ticketed_result::text).
using result_decoder_actor
  = caf::typed_actor<caf::reacts_to<done_atom, std::vector<ticketed_result>>>;

struct remote_workers_state {
  static inline const char* name = "remote_workers";
  struct call {
    caf::typed_response_promise<result, uint64_t> rp;
    uint64_t ticket; // the caller's
  };
  std::unordered_map<uint64_t, call> pending;
  /// Tickets never repeat across restarts (the clock in µs as the start):
  /// a late result from before a restart cannot pass for a new task's.
  uint64_t next = 0;
  /// Spawned when many results come at once.
  std::vector<result_decoder_actor> decoders;
};

/// The worker_actor of remote workers; the broker also gives it, in one
/// message, all the results one pass of its loop received.
using remote_workers_actor = worker_actor::extend<
  caf::reacts_to<done_atom, std::vector<ticketed_result>>>;

remote_workers_actor::behavior_type
remote_workers(remote_workers_actor::stateful_pointer<remote_workers_state> self,
               std::function<void(broker_note)> post);

/// (permit_atom, node, id, ask): asks `limiter`, posts the grant.
caf::behavior permit_relay(caf::event_based_actor* self,
                           rate_limiter_actor limiter,
                           std::function<void(broker_note)> post);

/// What a worker node sends to the orchestrator for its limiter.
struct limiter_wire {
  std::function<void(uint64_t id, const permit_ask&)> ask;
  std::function<void(const permit_ask&, const run_usage&)> settle;
  std::function<void(const std::string& model, int64_t wait_ms)> cooldown;
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
