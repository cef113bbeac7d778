#pragma once

// The worker endpoint's decisions (docs/PROTOCOL.md §3, §5, §6), without
// sockets or actors: which node is registered and what a READY may say,
// what a RESULT ends (or hands to another node, or parks a node), the work
// a node still runs from before our restart, permits a dead node held,
// liveness. Messages in, with the time; what to do out, as lists the
// broker's thread carries out (frames to nodes, events to publish, results
// to deliver, messages for the limiter and the recorder). Tasks to send
// stay in the dispatcher's hands until the end of the broker's pass, so a
// batching node gets one TASKS.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/zmq/dispatcher.hpp"
#include "bridge/zmq/protocol.hpp"
#include "bridge/zmq/wire.hpp"

namespace troupe {

class worker_desk {
public:
  using time_point = std::chrono::steady_clock::time_point;

  struct settings {
    std::set<std::string> workers; // configured names
    std::string root;              // where handed-on files are kept
    size_t handoff_max_bytes = 1u << 20;
  };

  /// What the broker's thread is to do, in the order the desk decided it.
  struct effects {
    struct message {
      std::string node; // the transport's identity
      wire::command cmd;
      json body;
    };
    /// A result to answer: `text` the result's JSON as the node sent it;
    /// `r` stands when text is empty or does not decode.
    struct delivery {
      uint64_t ticket;
      result r;
      std::string text;
    };
    struct published {
      std::string topic;
      json body;
    };
    struct event {
      std::string kind, task_id, worker, detail;
    };
    struct permit_ask_from {
      std::string node;
      uint64_t id;
      permit_ask ask;
    };
    struct settle {
      permit_ask permit;
      double requests, input_tokens, output_tokens, cost_usd;
    };
    struct cooldown {
      std::string model;
      int64_t wait_ms;
    };

    std::vector<message> messages;
    std::vector<delivery> deliveries;
    std::vector<published> published_events;
    std::vector<event> task_events;          // to the recorder
    std::vector<permit_ask_from> permit_asks; // to the rate limiter
    std::vector<settle> settles;             // to the rate limiter
    std::vector<cooldown> cooldowns;         // to the rate limiter
    std::vector<wire::calibrate_body> calibrations; // to the rate limiter
    std::vector<std::string> workers_back;   // a parked worker may run again
  };

  explicit worker_desk(settings s);
  ~worker_desk();

  /// Any message but RESULT/RESULTS, decoded.
  void on_message(const std::string& node, const wire::message& m, time_point now);
  /// A RESULT or RESULTS body, read in place (the fast path: the result's
  /// text is delivered whole, decoded on the asker's side).
  void on_results(const std::string& node, std::string_view cmd, std::string_view body,
                  time_point now);
  /// A task to run under `ticket` (`wire`: the task already as JSON text).
  void submit(uint64_t ticket, task t, std::string wire);
  /// The rate limiter granted node's permit `id`.
  void granted(const std::string& node, uint64_t id, const permit_ask& p);
  /// Cancel `task_id`: queued, it is answered cancelled now; running on a
  /// node, that node is told CANCEL {"ticket"} and its result follows.
  void cancel(const std::string& task_id);
  /// We stop: nothing new goes out, what is queued is answered unrun.
  void stop();
  /// A heartbeat interval passed: HEARTBEAT to every node, and the nodes
  /// silent for longer than `timeout` are declared dead.
  void beat(time_point now, std::chrono::milliseconds timeout);
  /// DISCONNECT to every node (we shut down).
  void goodbye();

  /// The tasks to send now, each as its TASK entry ({"ticket", "task"}
  /// with its dependencies' files), per node in order. `batching`: the
  /// node takes TASKS.
  struct outgoing_task {
    std::string node;
    std::string entry;
    bool batching;
  };
  /// Valid until the next call (the buffers keep their capacity: at
  /// thousands of results a second, growing them again each pass shows).
  std::vector<outgoing_task>& take_tasks();
  bool has_tasks() const;
  /// The ACKs owed, per node: the tickets of the results since the last.
  std::map<std::string, std::vector<std::string>> take_acks();
  /// What is to be done so far; clear() once it is done.
  effects& pending();
  void clear();
  /// pending(), moved out and cleared (for tests).
  effects take();

  const dispatcher& book() const;

private:
  struct state;
  std::unique_ptr<state> s_;
};

} // namespace troupe
