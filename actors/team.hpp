#pragma once

// Wires a whole team from config: a rate limiter, one worker per configured
// agent, a recorder and the orchestrator. Used by `caf-node run`, `serve`
// and the benchmarks, so they all run the same graph.

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "actors/messages.hpp"
#include "actors/recorder.hpp"
#include "core/config.hpp"
#include "core/executor.hpp"
#include "core/meter_store.hpp"

namespace troupe {

struct team_options {
  std::string root = ".";
  std::string executor;   // empty: each worker's own
  bool record = true;     // spawn a recorder (results/, runs/)
  recorder_settings recording;
  /// Names each run (default: a UTC time stamp).
  std::function<std::string()> make_run_id;
  /// What a task costs at the least: a run's budget does not start a task
  /// whose reservation is below it (orchestrator_settings::least_cost).
  std::function<double(const task&)> least_cost;
  /// An awaiting task's estimate in words
  /// (orchestrator_settings::describe_estimate).
  std::function<std::string(const task&)> describe_estimate;
  /// Where the rate limiter's buckets live: null, in the limiter; else a
  /// store shared with other orchestrators (bridge/redis/redis_meters).
  std::shared_ptr<meter_store> meters;
  /// Attempts carry their trace context (orchestrator_settings).
  bool trace_context = false;
  /// Also spawn the orchestrator's own LLM worker (planning, synthesis).
  bool planner = false;
  /// When set, the workers live elsewhere: this gives the actor that
  /// stands in for each (no executor is built here).
  std::function<worker_actor(const worker_config&)> remote_worker;
  /// Starts the gateway the workers' CLIs go through, once the limiter it
  /// holds requests on and the recorder it reports to exist: its URL, ""
  /// for none, nullopt (with problems) when it cannot start.
  std::function<std::optional<std::string>(rate_limiter_actor, recorder_actor,
                                           problems&)>
    gateway;
};

struct team {
  rate_limiter_actor limiter;
  std::map<std::string, worker_actor> workers;
  recorder_actor recorder;
  orchestrator_actor orchestrator;
  /// The orchestrator's LLM as a worker named "orchestrator" (its prompt,
  /// model, key; one slot; permits like any worker). Invalid when not asked
  /// for or when its executor is the simulator: then there is no LLM, and
  /// requests are routed and answers written deterministically.
  worker_actor planner;
};

/// Spawns the team; returns nullopt and adds problems if an executor cannot
/// be built.
std::optional<team> spawn_team(caf::actor_system& sys, const config& cfg,
                               const team_options& opts, problems& out);

/// Spawns one worker actor for `w` with its executor (the same settings
/// spawn_team uses; a worker node spawns its one worker with it).
worker_actor spawn_worker(caf::actor_system& sys, const config& cfg,
                          const worker_config& w, executor_ptr exec,
                          rate_limiter_actor limiter, recorder_actor recorder);

/// Stops every actor of the team (the actor system then winds down).
void stop_team(team& t);

/// The node is stopping: nothing more starts. Workers answer what waits for
/// a slot as stopped_result, the orchestrator drops retries waiting for their
/// backoff; what runs goes on.
void stop_starting(team& t);

/// Prepares a CAF config for troupe: registers the message types and picks
/// the work-sharing scheduler (measured in bench/: faster than work stealing
/// for actors that mostly wait on processes, and it does not spin when idle).
void configure_actor_system(caf::actor_system_config& cfg);

} // namespace troupe
