#pragma once

#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <unordered_map>
#include <vector>

#include "actors/messages.hpp"
#include "caf/typed_response_promise.hpp"
#include "core/retry.hpp"
#include "core/run_budget.hpp"
#include "core/task_graph.hpp"

namespace troupe {

struct orchestrator_settings {
  /// Attempts per task when the task does not say (by worker name).
  std::map<std::string, int> max_attempts;
  /// Makes run ids; tests inject a deterministic one.
  std::function<std::string()> make_run_id;
  /// Reply only once the recorder has written everything (true when the
  /// recorder writes the results, as in `run`; the file drop of `serve`
  /// writes them itself and needs no such round trip).
  bool flush_before_reply = true;
  /// Waits before retries; the jitter comes from `seed`.
  backoff_policy backoff;
  uint64_t seed = 0;
  /// What a task costs at the least (the low end of its estimate), so that
  /// a budget too low for it does not start it; unset: any reservation
  /// above nothing fits.
  std::function<double(const task&)> least_cost;
  /// Workers whose every task waits for approval (config "approve").
  std::set<std::string> approve_workers;
  /// What an awaiting task is expected to cost, in words, for the
  /// awaiting_approval event (and so for status); unset: nothing said.
  std::function<std::string(const task&)> describe_estimate;
  /// Each attempt carries its W3C trace context (task extra
  /// troupe_traceparent; the span ids of core/otlp_trace), which the
  /// claude executor passes to the CLI as TRACEPARENT.
  bool trace_context = false;
};

struct orchestrator_state {
  static inline const char* name = "orchestrator";

  struct run {
    std::string id;
    workflow wf;
    std::unique_ptr<task_graph> graph;
    std::vector<std::optional<result>> results;
    std::vector<int> attempts;
    std::vector<bool> at_worker; // dispatched, result not yet back
    std::vector<json> history;   // failed attempts, for the dead letter
    // The workflow's budget_usd, if any: what settled tasks cost, and what
    // the ones still going have reserved (share[i]).
    std::optional<run_budget> budget;
    std::vector<double> share;
    std::vector<bool> retry_pending; // waiting for its backoff to pass
    /// Complete results from an earlier run, by task index: handed on
    /// when the task is ready, instead of running it.
    std::map<size_t, result> prior;
    std::vector<bool> reused; // answered from `prior`
    /// Cancelled before it was released: ends cancelled when it would be.
    std::vector<bool> cancel_asked;
    /// Held for a person's approval / approved already.
    std::vector<bool> awaiting, approved;
    bool cancelling = false; // the whole run: nothing more starts
    size_t in_flight = 0;
    caf::typed_response_promise<run_summary> rp;
    std::string started_at;
    caf::actor_clock::time_point t0;
  };

  orchestrator_settings cfg;
  std::map<std::string, worker_actor> workers;
  recorder_actor recorder; // may be invalid: nothing written then
  std::map<uint64_t, run> runs;
  uint64_t next_run = 1;
  bool stopping = false; // stop_atom: no more retries
  std::minstd_rand rng;
};

/// A dispatched task's ticket: its run and its index in that run, so a
/// result finds its task without a lookup table.
inline uint64_t make_ticket(uint64_t run_no, size_t index) {
  return (run_no << 32) | static_cast<uint64_t>(index);
}

/// Spawns an ORCHESTRATOR: releases each task the moment its dependencies
/// are complete, highest priority first; hands dependents their
/// dependencies' summary, findings and artifacts; fails the dependents of a
/// failed task; replies with the run's summary.
orchestrator_actor::behavior_type
orchestrator(orchestrator_actor::stateful_pointer<orchestrator_state> self,
             orchestrator_settings cfg,
             std::map<std::string, worker_actor> workers,
             recorder_actor recorder);

} // namespace troupe
