#pragma once

// The orchestrator's side of the ZeroMQ bridge (docs/PROTOCOL.md): one
// thread owns the worker ROUTER, the producer ROUTER and the events PUB.
// Remote worker nodes get tasks from the dispatcher and return results;
// producers submit tasks and workflows, which are written into tasks/ (the
// file drop then runs them, so they are as durable as dropped files); events
// go out on PUB. Actors talk to it through post().

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>

#include "actors/messages.hpp"
#include "bridge/zmq/producer_desk.hpp"
#include "bridge/zmq/protocol.hpp"
#include "core/workflow_check.hpp"

namespace troupe {

namespace zmqx {
struct curve_server;
}

struct broker_settings {
  std::string workers_endpoint = "tcp://*:5555";
  std::string producers_endpoint = "tcp://*:5556";
  std::string events_endpoint = "tcp://*:5557";
  std::string root;                 // absolute
  std::set<std::string> workers;    // configured names
  workflow_limits limits;
  size_t max_task_bytes = 1u << 20;
  double spend_per_day_usd = 0; // the config's, for STATUS
  bool synthesizes = false;     // links.synthesize writes workflows' answers
  /// Files kept per result and handed on per dependent (PROTOCOL.md §10).
  size_t handoff_max_bytes = 1u << 20;
  std::chrono::milliseconds heartbeat = wire::default_heartbeat;
  int liveness = wire::default_liveness;
  std::shared_ptr<const zmqx::curve_server> curve; // null: no encryption
  /// Keep serving_slots() up to date (a shared queue claims by it).
  bool publish_serving = false;
};

/// What other threads tell the broker.
struct broker_note {
  /// From remote_workers: `ticket` is the wire's; `wire` the task as JSON
  /// text, encoded on the sender's thread so that the broker's does not
  /// have to; `reply` where the result goes.
  struct dispatch { uint64_t ticket; task t; std::string wire; reply_address reply; };
  struct grant { std::string node; uint64_t id; permit_ask permit; };
  struct event { task_event e; };                        // from the recorder
  struct written { result r; };                          // from the file drop
  struct stop {}; // tasks not sent to a node yet are answered stopped
  struct cancel { std::string task_id; };               // from remote_workers
  /// A wire run's written answer (links.synthesize's reply).
  struct synthesized {
    std::string run_id;
    std::optional<std::string> answer;
    std::string error;
    double cost_usd = 0;
  };
  std::variant<dispatch, grant, event, written, stop, cancel, synthesized> v;
};

/// The actors the broker hands things to (all thread-safe to send to).
struct broker_links {
  /// Decode and answer results when many arrive at once (one at a time,
  /// the broker does it itself).
  std::vector<caf::typed_actor<caf::reacts_to<done_atom, std::vector<ticketed_result>>>>
    decoders;
  caf::actor relay;         // (permit_atom, node, id, ask) -> limiter -> grant; required
  rate_limiter_actor limiter;
  recorder_actor recorder;  // events from worker nodes
  /// Called on the broker's thread when a node of `worker` that takes tasks
  /// says READY: a worker that parked (none of its nodes took tasks) may
  /// run again. Optional.
  std::function<void(const std::string& worker)> worker_back;
  /// Writes a finished wire run's answer off the broker's thread, then
  /// posts broker_note::synthesized (settings.synthesizes). Optional.
  std::function<void(producer_desk::synthesis_ask)> synthesize;
};

class broker {
public:
  /// Binds the three endpoints; throws std::runtime_error with the reason.
  explicit broker(broker_settings s);
  ~broker();

  /// Starts the loop thread.
  void start(broker_links links);
  /// Stops it: tells worker nodes, closes the sockets.
  void stop();

  void post(broker_note n);

  /// Slots of `worker`'s connected nodes that take tasks (not draining,
  /// not parked), from any thread; with settings.publish_serving only.
  size_t serving_slots(const std::string& worker) const;

  /// The endpoints actually bound (a port 0 / "*" becomes its number).
  std::string workers_endpoint() const;
  std::string producers_endpoint() const;
  std::string events_endpoint() const;

private:
  struct impl;
  std::unique_ptr<impl> p_;
};

} // namespace troupe
