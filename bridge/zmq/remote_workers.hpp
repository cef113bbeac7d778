#pragma once

// On the orchestrator, the actors that stand in for the worker nodes:
// `remote_workers` is the worker_actor of every configured worker when the
// workers run on their own nodes: it hands each task to the broker, which
// answers when the node's result comes back. `permit_relay` asks the local
// rate limiter for a remote node's permit and posts the grant back to the
// broker. (On a worker node, remote_limiter.hpp is the other half.)

#include <functional>
#include <memory>

#include "actors/messages.hpp"
#include "bridge/zmq/broker.hpp"
#include "bridge/zmq/detail/callback_actor.hpp"

namespace caf {
class actor_system;
}

namespace troupe {

/// Sends `r` as the answer (result, ticket) the worker_actor interface
/// promises; thread-safe (an enqueue, as CAF's response promise does).
/// `ctx`: the sender's execution unit, where an idle asker is woken (none:
/// CAF's scheduler).
void answer(const reply_address& to, result r, caf::execution_unit* ctx = nullptr);

/// A result that came as JSON text (ticketed_result::text), decoded; one
/// that does not decode fails the task x.r names (crashed).
result decode_result(const ticketed_result& x);

/// Answers x.reply with x's result, decoded first if it came as text.
void answer(ticketed_result& x, caf::execution_unit* ctx = nullptr);

/// Decodes results that came as JSON text and answers them.
using result_decoder_actor
  = caf::typed_actor<caf::reacts_to<done_atom, std::vector<ticketed_result>>>;

result_decoder_actor::behavior_type result_decoder(result_decoder_actor::pointer);

/// The worker_actor of every remote worker. Not a scheduled actor but a
/// callback_actor: its mailbox is a callback run on the sender's thread, so
/// (task, ticket) goes to the broker at once as a dispatch note
/// (its JSON encoded there), with where to answer; the broker (or a
/// decoder) answers when the node's result is in. No hop through an actor
/// in either direction. stop_atom becomes a stop note.
class remote_workers {
public:
  remote_workers(caf::actor_system& sys, std::function<void(broker_note)> post);
  /// Ends the companion and the decoders.
  ~remote_workers();
  remote_workers(const remote_workers&) = delete;
  remote_workers& operator=(const remote_workers&) = delete;

  worker_actor handle() const;
  /// One per scheduler thread: where the broker spreads many results.
  const std::vector<result_decoder_actor>& decoders() const { return decoders_; }

private:
  std::unique_ptr<callback_actor> proxy_;
  std::vector<result_decoder_actor> decoders_;
};

/// (permit_atom, node, id, ask): asks `limiter`, posts the grant.
caf::behavior permit_relay(caf::event_based_actor* self,
                           rate_limiter_actor limiter,
                           std::function<void(broker_note)> post);

} // namespace troupe
