#pragma once

// The message graph of troupe in one place: the type-ID block shared by code
// and tests, the inspect() of every message type, and the typed interface of
// every actor.
//
//   orchestrator --task--> worker --permit_ask--> rate_limiter
//        ^                   |  \--settle-------> rate_limiter
//        +------result-------+
//        +--task_event/result--> recorder (results/, events.jsonl, progress)

#include <cstdint>
#include <string>
#include <vector>

#include "caf/actor_control_block.hpp"
#include "caf/fwd.hpp"
#include "caf/message_id.hpp"
#include "caf/meta/load_callback.hpp"
#include "caf/meta/type_name.hpp"
#include "caf/type_id.hpp"
#include "caf/typed_actor.hpp"
#include "caf/replies_to.hpp"

#include "core/limiter_core.hpp"
#include "core/model.hpp"
#include "core/report.hpp"

namespace troupe {

/// A state change of a task, for the event log and live progress.
struct task_event {
  std::string run_id; // empty from workers: the recorder knows the task's run
  std::string kind; // queued, running, complete, failed, ...
  std::string task_id;
  std::string worker;
  std::string detail;
};

/// Where the answer to one (task, ticket) goes: its sender, the id of its
/// message (a request is answered as its response), and its ticket.
struct reply_address {
  caf::strong_actor_ptr to;
  caf::message_id mid;
  uint64_t ticket = 0;
};

/// A result on its way to whoever asked for it: results that arrive
/// together travel as one message (a vector of these). `text`, when set, is
/// the result as JSON, still to be decoded (`r` then only names the task and
/// its worker).
struct ticketed_result {
  reply_address reply;
  result r;
  std::string text;
};

/// What a run's settle message reports back to the limiter.
struct run_usage {
  double requests = 1;
  double input_tokens = 0;
  double output_tokens = 0;
  /// What it cost (USD), booked against the day's spend cap; 0 for runs
  /// that do not call the API (or calls not priced here).
  double cost_usd = 0;
};

} // namespace troupe

CAF_BEGIN_TYPE_ID_BLOCK(troupe, caf::first_custom_type_id)

  CAF_ADD_TYPE_ID(troupe, (troupe::task))
  CAF_ADD_TYPE_ID(troupe, (troupe::result))
  CAF_ADD_TYPE_ID(troupe, (troupe::workflow))
  CAF_ADD_TYPE_ID(troupe, (troupe::run_summary))
  CAF_ADD_TYPE_ID(troupe, (troupe::permit_ask))
  CAF_ADD_TYPE_ID(troupe, (troupe::run_usage))
  CAF_ADD_TYPE_ID(troupe, (troupe::task_event))
  CAF_ADD_TYPE_ID(troupe, (troupe::reply_address))
  CAF_ADD_TYPE_ID(troupe, (troupe::ticketed_result))
  CAF_ADD_TYPE_ID(troupe, (std::vector<troupe::ticketed_result>))

  CAF_ADD_ATOM(troupe, troupe, run_atom, "run")
  CAF_ADD_ATOM(troupe, troupe, permit_atom, "permit")
  CAF_ADD_ATOM(troupe, troupe, settle_atom, "settle")
  CAF_ADD_ATOM(troupe, troupe, tick_atom, "tick")
  CAF_ADD_ATOM(troupe, troupe, done_atom, "done")
  CAF_ADD_ATOM(troupe, troupe, flush_atom, "flush")
  CAF_ADD_ATOM(troupe, troupe, event_atom, "event")
  CAF_ADD_ATOM(troupe, troupe, record_atom, "record")
  CAF_ADD_ATOM(troupe, troupe, fs_event_atom, "fsevent")
  CAF_ADD_ATOM(troupe, troupe, stop_atom, "stop")
  CAF_ADD_ATOM(troupe, troupe, deadline_atom, "deadline")
  CAF_ADD_ATOM(troupe, troupe, retry_atom, "retry")
  CAF_ADD_ATOM(troupe, troupe, cooldown_atom, "cooldown")
  CAF_ADD_ATOM(troupe, troupe, calibrate_atom, "calibrate")
  CAF_ADD_ATOM(troupe, troupe, unpark_atom, "unpark")
  CAF_ADD_ATOM(troupe, troupe, subscribe_atom, "subscribe")
  CAF_ADD_ATOM(troupe, troupe, cancel_atom, "cancel")
  CAF_ADD_ATOM(troupe, troupe, approve_atom, "approve")

CAF_END_TYPE_ID_BLOCK(troupe)

namespace troupe {

// -- inspect: JSON-valued fields travel as their text ----------------------

namespace detail {

/// Binds a JSON value to a string for the inspector: dumped before saving,
/// parsed after loading.
template <class Inspector>
struct json_field {
  json& value;
  std::string text;
  explicit json_field(json& v) : value(v) {
    if constexpr (Inspector::reads_state)
      text = v.dump();
  }
  void load() { value = json::parse(text, nullptr, false); }
};

template <class T>
double opt_num(const std::optional<T>& x) {
  return x ? static_cast<double>(*x) : -1.0;
}

template <class T>
void set_opt_num(std::optional<T>& x, double v) {
  if (v >= 0)
    x = static_cast<T>(v);
  else
    x.reset();
}

} // namespace detail

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task& x) {
  detail::json_field<Inspector> ctx{x.context}, extra{x.extra};
  auto prio = static_cast<uint8_t>(x.prio);
  auto timeout = detail::opt_num(x.timeout_s);
  auto attempts = detail::opt_num(x.max_attempts);
  auto budget = detail::opt_num(x.budget_usd);
  auto model = x.model.value_or("");
  return f(caf::meta::type_name("task"), x.task_id, x.worker, x.description,
           x.dependencies, prio, ctx.text, timeout, attempts, model, budget,
           x.approve, extra.text, caf::meta::load_callback([&]() -> caf::error {
             x.prio = static_cast<priority>(prio);
             ctx.load();
             extra.load();
             detail::set_opt_num(x.timeout_s, timeout);
             detail::set_opt_num(x.max_attempts, attempts);
             detail::set_opt_num(x.budget_usd, budget);
             if (model.empty())
               x.model.reset();
             else
               x.model = model;
             return caf::none;
           }));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, usage& x) {
  return f(caf::meta::type_name("usage"), x.input_tokens, x.output_tokens,
           x.cache_creation_input_tokens, x.cache_read_input_tokens);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, result& x) {
  detail::json_field<Inspector> extra{x.extra};
  auto st = static_cast<uint8_t>(x.state);
  bool has_error = x.error.has_value();
  auto kind = has_error ? x.error->kind : std::string{};
  auto message = has_error ? x.error->message : std::string{};
  return f(caf::meta::type_name("result"), x.task_id, st, x.worker,
           x.completed_at, x.artifacts, x.summary, x.findings, x.attempt,
           x.duration_ms, x.model, x.session_id, x.tokens, x.cost_usd,
           has_error, kind, message, x.simulated, extra.text,
           caf::meta::load_callback([&]() -> caf::error {
             x.state = static_cast<status>(st);
             extra.load();
             if (has_error)
               x.error = error_info{kind, message};
             else
               x.error.reset();
             return caf::none;
           }));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, workflow& x) {
  detail::json_field<Inspector> extra{x.extra};
  auto budget = detail::opt_num(x.budget_usd);
  return f(caf::meta::type_name("workflow"), x.name, x.description, x.tasks,
           x.synthesize, budget, extra.text, x.prior,
           caf::meta::load_callback([&]() -> caf::error {
             extra.load();
             detail::set_opt_num(x.budget_usd, budget);
             return caf::none;
           }));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, run_summary& x) {
  return f(caf::meta::type_name("run_summary"), x.run_id, x.workflow_name,
           x.workflow_description, x.started_at, x.finished_at, x.duration_ms,
           x.tasks, x.results);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reply_address& x) {
  return f(caf::meta::type_name("reply_address"), x.to, x.mid, x.ticket);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ticketed_result& x) {
  return f(caf::meta::type_name("ticketed_result"), x.reply, x.r, x.text);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, permit_ask& x) {
  auto prio = static_cast<uint8_t>(x.prio);
  return f(caf::meta::type_name("permit_ask"), x.id, x.worker, x.model, prio,
           x.requests, x.input_tokens, x.prefix_tokens, x.output_tokens,
           x.exact, x.capped_until_ms,
           caf::meta::load_callback([&]() -> caf::error {
             x.prio = static_cast<priority>(prio);
             return caf::none;
           }));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, run_usage& x) {
  return f(caf::meta::type_name("run_usage"), x.requests, x.input_tokens,
           x.output_tokens, x.cost_usd);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_event& x) {
  return f(caf::meta::type_name("task_event"), x.run_id, x.kind, x.task_id, x.worker,
           x.detail);
}

// -- actor interfaces -------------------------------------------------------

/// Hands out permits to call the API; takes back what a run actually used.
using rate_limiter_actor = caf::typed_actor<
  caf::replies_to<permit_atom, permit_ask>::with<permit_ask>,
  // A run (or one request, through the gateway) is over: what it used
  // returns to the buckets, what it cost counts against the day's cap.
  caf::reacts_to<settle_atom, permit_ask, run_usage>,
  // A 429: the model's class waits wait_ms (0: the configured default).
  caf::reacts_to<cooldown_atom, std::string, int64_t>,
  // What the API's headers say remains of the model's limits (a field < 0:
  // not sent).
  caf::reacts_to<calibrate_atom, std::string, run_usage>,
  caf::reacts_to<tick_atom>>;

/// Runs one worker's tasks on N slots; replies with each task's result and
/// the caller's ticket (which the caller uses to find the task again).
/// stop_atom: start nothing more; tasks not started are answered at once
/// with stopped_result (the node is shutting down).
using worker_actor = caf::typed_actor<
  caf::replies_to<task, uint64_t>::with<result, uint64_t>,
  caf::reacts_to<done_atom, uint64_t, result>, caf::reacts_to<stop_atom>,
  // Parked no more (caf-node unpark): tasks sent from now on run.
  caf::reacts_to<unpark_atom>,
  // A park's own end (its until, unix ms): the park ends if it is still
  // that one.
  caf::reacts_to<unpark_atom, int64_t>,
  // Cancel the task of this id: answered `cancelled` at once if it has not
  // started, its process group stopped if it runs.
  caf::reacts_to<cancel_atom, std::string>>;

/// Runs a blocking executor off the scheduler (spawned detached).
using runner_actor
  = caf::typed_actor<caf::replies_to<run_atom, task>::with<result>>;

/// Takes a workflow to its summary: dependencies, priorities, failures.
/// Workers' results come back as plain messages: CAF 0.17 keeps pending
/// request handlers in a vector, so thousands of outstanding requests in
/// one actor would cost O(n) per reply.
/// stop_atom: the node is stopping: no more retries; a task waiting for
/// one ends as stopped_result (its workers answer the rest the same way).
/// A task with "approve" (or of a worker whose config says so) is held
/// once ready, in awaiting_approval, until approve_atom says yes or no.
/// cancel_atom (run id, task id; empty: any): ends the matching tasks of
/// the runs going on `cancelled`, running ones stopped at their worker,
/// waiting ones not started; replies how many it took on.
using orchestrator_actor = caf::typed_actor<
  caf::replies_to<run_atom, workflow>::with<run_summary>,
  caf::replies_to<cancel_atom, std::string, std::string>::with<int32_t>,
  // (run id, task id; empty: any; yes, why): a task awaiting approval
  // starts (yes) or ends cancelled, kind rejected, with `why`; replies
  // how many it found awaiting.
  caf::replies_to<approve_atom, std::string, std::string, bool, std::string>::with<int32_t>,
  caf::reacts_to<result, uint64_t>,
  caf::reacts_to<retry_atom, uint64_t>, caf::reacts_to<stop_atom>>;

/// Writes results and the event log; replies to flush once all is written.
/// subscribe_atom: events of one kind (empty: every kind) also go to that
/// actor, as (event_atom, task_event) (the file drop follows "running").
using recorder_actor = caf::typed_actor<
  caf::reacts_to<event_atom, task_event>,
  caf::reacts_to<subscribe_atom, std::string, caf::actor>,
  caf::reacts_to<record_atom, result>,
  caf::replies_to<flush_atom>::with<bool>,
  caf::reacts_to<tick_atom>>; // flushes event logs (sent to itself)

/// The file drop (bridge/): turns files in tasks/<worker>/ into one-task
/// runs of the orchestrator and their summaries into results/<worker>/.
using file_drop_actor = caf::typed_actor<
  caf::reacts_to<fs_event_atom, int32_t, std::string, std::string>,
  caf::reacts_to<event_atom, task_event>,
  caf::reacts_to<run_summary>,
  caf::reacts_to<flush_atom>,
  caf::reacts_to<tick_atom>,
  caf::reacts_to<deadline_atom>,
  caf::reacts_to<retry_atom>, // look again at what waits for dependencies
  caf::reacts_to<unpark_atom, std::string>,
  // A park's own end (worker, unix ms): its marker goes, if it is still
  // that park.
  caf::reacts_to<unpark_atom, std::string, int64_t>,
  caf::replies_to<stop_atom, int64_t>::with<int32_t>>;

} // namespace troupe
