#pragma once

#include <deque>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "actors/messages.hpp"
#include "core/clock.hpp"
#include "core/outcome.hpp"
#include "caf/typed_response_promise.hpp"
#include "core/executor.hpp"

namespace troupe {

struct worker_settings {
  std::string name;
  std::string model;
  int slots = 1;
  /// Tokens every run sends besides the task (the system prompt, the CLI's
  /// own overhead), estimated; added to each ask.
  double system_prompt_tokens = 0;
  /// Run blocking executors on detached actors (own threads). Tests under
  /// the deterministic scheduler turn it off.
  bool detached_runners = true;
  /// False for executors that do not call the Anthropic API: nothing to
  /// meter, so the worker skips the permit round trip.
  bool needs_permits = true;
  /// The gateway holds each request: a run waits only while the account
  /// is paused (gate_ask), and takes no permit.
  bool gated = false;
  /// A spend limit that ends within this is waited for (config
  /// limits.spend_wait_s).
  int64_t spend_wait_ms = 3'600'000;
  /// When a named end (a spend limit's, the day cap's) comes.
  wall_clock now_ms = unix_now_ms;
};

struct worker_state {
  static inline const char* name = "worker";

  struct job {
    task t;
    uint64_t ticket;
    caf::typed_response_promise<result, uint64_t> rp;
    permit_ask permit;
    /// Cancelled while it waited for its permit: answered once it comes.
    bool cancelled = false;
    bool running = false; // handed to its executor

  };

  worker_settings cfg;
  executor_ptr exec;
  rate_limiter_actor limiter;
  recorder_actor recorder; // may be invalid: no events then
  std::deque<uint64_t> queue[3]; // job ids by priority, FIFO within one
  std::unordered_map<uint64_t, job> jobs;
  std::vector<runner_actor> idle_runners;
  size_t busy = 0; // slots waiting for a permit or running
  uint64_t next_job = 1;
  /// Set after a failure that needs a person (auth, not_logged_in,
  /// spend_limit): no more runs start; tasks get a `parked` answer.
  std::string parked;
  const char* parked_kind = kind::parked; // what its answers say (spend_cap)
  /// When the park ends by itself (unix ms; 0: when a person acts).
  int64_t parked_until_ms = 0;
  /// Set by stop_atom: the node shuts down; what has not started is
  /// answered with stopped_result, what runs finishes.
  bool stopping = false;
};

/// Spawns a RUNNER: runs a (blocking) executor for one task at a time.
runner_actor::behavior_type runner(runner_actor::pointer self,
                                   executor_ptr exec, run_hooks hooks);

/// What a worker's runs report while they run: a 429 the CLI retries cools
/// the account down for the API's retry-after at once (not when the run
/// ends), and every API retry becomes an event.
run_hooks worker_hooks(const worker_settings& cfg, rate_limiter_actor limiter,
                       recorder_actor recorder);

/// Spawns a WORKER: N slots over a priority queue; a permit from the rate
/// limiter before each run, the actual usage back after it. Parks after a
/// failure that needs a person (see parks_worker).
worker_actor::behavior_type
worker(worker_actor::stateful_pointer<worker_state> self, worker_settings cfg,
       executor_ptr exec, rate_limiter_actor limiter, recorder_actor recorder);

} // namespace troupe
