#pragma once

// A worker node's side of the ZeroMQ bridge (docs/PROTOCOL.md §3, §5): one
// thread owns a DEALER to the orchestrator. It says READY, takes TASKs and
// hands them to the local worker actor, sends RESULTs until acknowledged,
// relays the worker's permit asks and settles, beats its heart, and
// reconnects with backoff when the orchestrator goes silent.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <string>
#include <variant>

#include "actors/messages.hpp"
#include "bridge/zmq/protocol.hpp"
#include "bridge/zmq/remote_limiter.hpp"

namespace troupe {

namespace zmqx {
struct curve_client;
}

struct worker_client_settings {
  /// The orchestrator's workers endpoint; several, comma-separated, for
  /// orchestrators sharing a queue: one at a time, the next on reconnection.
  std::string endpoint;
  std::string worker;
  int slots = 1;
  std::string node;     // a name for logs and status
  /// The node's root: a result's files are read from it and a dependent's
  /// inputs written into it (PROTOCOL.md §10), up to handoff_max_bytes.
  std::string root;
  size_t handoff_max_bytes = 1u << 20;
  std::chrono::milliseconds heartbeat = wire::default_heartbeat;
  int liveness = wire::default_liveness;
  std::shared_ptr<const zmqx::curve_client> curve;
  /// Called on the client's thread each time the orchestrator first answers
  /// after a (re)connection.
  std::function<void()> on_connected;
};

struct client_note {
  struct done { uint64_t ticket; result r; };
  struct ask { uint64_t id; permit_ask a; };
  struct settle { permit_ask p; run_usage used; };
  struct cooldown { std::string model; int64_t wait_ms; };
  struct calibrate { std::string model; double requests, input_tokens, output_tokens; };
  struct event { task_event e; };
  struct drain { std::string reason; };
  std::variant<done, ask, settle, cooldown, calibrate, event, drain> v;
};

class worker_client {
public:
  explicit worker_client(worker_client_settings s);
  ~worker_client();

  /// `worker` runs the tasks (its answers come straight back to this
  /// client's thread), `limiter` gets GRANTs.
  void start(caf::actor_system& sys, worker_actor worker, remote_limiter_actor limiter);
  /// Says DISCONNECT and stops.
  void stop();
  /// Asks for no new task (DRAIN) and waits, up to `grace`, until what runs
  /// here has ended and its results are acknowledged; false if time ran out
  /// (or stop_waiting() was called).
  bool drain(const std::string& reason, std::chrono::milliseconds grace);
  /// Ends a drain() wait now (a second signal).
  void stop_waiting();
  void post(client_note n);

  /// True once the orchestrator answered since the last (re)connection.
  bool connected() const;

private:
  struct impl;
  std::unique_ptr<impl> p_;
};

} // namespace troupe
