#pragma once

// The producer endpoint's decisions (docs/PROTOCOL.md §4), without sockets:
// a decoded message in, the answers out. SUBMIT writes tasks into tasks/
// (the file drop runs them, so they are as durable as dropped files); a
// producer that waits is told when a result is written, and a wire
// workflow's REPORT goes out once all of its tasks have one. Time is
// injected, so a test drives it with files alone.

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bridge/files/fs_queue.hpp"
#include "core/report.hpp" // run_summary
#include "core/run_budget.hpp"
#include "bridge/zmq/protocol.hpp"
#include "core/workflow_check.hpp"
#include "bridge/zmq/wire.hpp"

namespace troupe {

class producer_desk {
public:
  using time_point = std::chrono::steady_clock::time_point;
  /// A producer's return address: the ROUTER identity, plus the empty
  /// delimiter for REQ peers.
  using envelope = std::vector<std::string>;

  struct settings {
    std::string root; // absolute
    std::set<std::string> workers;
    workflow_limits limits;
    size_t max_task_bytes = 1u << 20;
    double spend_per_day_usd = 0;
    /// The node has the orchestrator's LLM: a workflow's synthesize is
    /// answered with its written answer (asked through take_syntheses).
    bool synthesizes = false;
  };

  /// A finished wire run whose answer the orchestrator's LLM is to write.
  struct synthesis_ask {
    std::string run_id;
    std::string request; // the workflow's name and description
    run_summary summary;
    std::optional<double> budget_left; // what the tasks left of budget_usd
  };

  struct answer {
    envelope to;
    wire::command cmd;
    json body;
  };

  explicit producer_desk(settings s);

  /// What the desk asks of the worker nodes' side (it knows only the
  /// folders). Either may be empty.
  struct nodes_view {
    /// Adds the nodes to a STATUS.
    std::function<void(json& status)> add_to_status;
    /// How many connected nodes take tasks of `worker` now.
    std::function<size_t(const std::string& worker)> serving;
  };

  /// One message from a producer.
  void on_message(const envelope& from, const wire::message& m, time_point now,
                  const nodes_view& nodes);

  /// A result was written into results/ (by the file drop).
  void result_written(const result& r, time_point now);

  /// The answers so far, in order; the desk holds none after.
  std::vector<answer> take() { return std::move(out_); }

  /// Answers to write, since the last call.
  std::vector<synthesis_ask> take_syntheses() { return std::move(syntheses_); }
  /// The LLM's answer for a run (nullopt: `error` says why, and the REPORT
  /// goes without one): kept in its report, and the REPORT goes out.
  void synthesized(const std::string& run_id, const std::optional<std::string>& answer,
                   const std::string& error, double cost_usd);

  /// Wire workflows not finished yet.
  size_t open_runs() const { return runs_.size(); }

private:
  /// A workflow submitted over the wire, until each of its tasks has a
  /// result.
  struct wire_run {
    std::string run_id;
    std::optional<envelope> reply_to; // set when the producer waits
    workflow wf;
    std::set<std::string> remaining; // worker/task_id
    std::string started_at;
    time_point t0;
    /// The workflow's budget_usd: each task's cap is reserved from what is
    /// left when it is written into tasks/ (once its dependencies have
    /// results), and what it did not spend comes back with its result.
    std::optional<run_budget> budget;
    std::map<std::string, double> share; // worker/task_id → its reservation
    std::vector<size_t> held;            // indexes not written yet
  };
  /// Writes the held tasks of a budgeted run whose dependencies all have
  /// results, each with its reserved cap; one the budget no longer fits
  /// gets its `cancelled` (budget) result, in `ended`.
  void release(wire_run& run, std::vector<result>& ended);

  void say(const envelope& to, wire::command cmd, json body);
  void refuse(const envelope& to, const std::string& what, const problems& ps);
  std::optional<std::pair<std::string, std::string>>
  task_file(const task& t, bool& existing, std::string& err);
  void submit_task(const envelope& from, const json& tj, bool wait, const nodes_view& nodes);
  void submit_workflow(const envelope& from, const json& wj, bool wait, time_point now,
                       const nodes_view& nodes);
  void maybe_finish_run(const std::string& run_id, time_point now);
  void cancel(const envelope& from, const wire::cancel_body& c, time_point now);
  void approve(const envelope& from, const wire::approve_body& a);
  /// Cancels worker/id: a waiting one gets its `cancelled` result now
  /// ("waiting"), a running one is asked to stop ("running"); "" if it is
  /// neither (done or unknown).
  /// A waiting one's result goes to `ended`, for result_written() once the
  /// canceller has its answer.
  std::string cancel_one(const std::string& worker, const std::string& id,
                         std::vector<result>& ended, std::string& err);

  /// Finished runs waiting for their written answer: their report, and
  /// who waits for it.
  struct answering {
    std::optional<envelope> reply_to;
    json report;
    std::string markdown;
    std::string status;
  };
  std::map<std::string, answering> answering_;
  std::vector<synthesis_ask> syntheses_;
  settings cfg_;
  fs_queue q_;
  std::vector<answer> out_;
  std::map<std::string, std::vector<envelope>> waiters_; // worker/task_id
  std::map<std::string, wire_run> runs_;
  std::map<std::string, std::set<std::string>> run_of_; // worker/task_id
  uint64_t next_run_ = 1;
};

} // namespace troupe
