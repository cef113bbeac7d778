#include "actors/orchestrator.hpp"
#include "core/otlp_trace.hpp"
#include "core/outcome.hpp"

#include <cstdio>
#include <variant>

#include "actors/worker.hpp"
#include "caf/all.hpp"
#include "core/clock.hpp"
#include "core/permissions.hpp"
#include "core/prompt.hpp"
#include "core/resume.hpp"

namespace troupe {

namespace {

using self_ptr = orchestrator_actor::stateful_pointer<orchestrator_state>;
using run_t = orchestrator_state::run;

void event(self_ptr self, const run_t& run, const char* kind, const task& t,
           std::string detail = {}) {
  if (self->state.recorder)
    self->send(self->state.recorder, event_atom_v,
               task_event{run.id, kind, t.task_id, t.worker, std::move(detail)});
}

void on_result(self_ptr self, uint64_t run_no, size_t i, result r);

void dispatch(self_ptr self, uint64_t run_no, size_t i) {
  auto& run = self->state.runs.at(run_no);
  if (auto p = run.prior.find(i); p != run.prior.end()) {
    // Complete in an earlier run, and the same task: its result stands.
    // As a message to ourselves: this may be called while iterating.
    auto r = std::move(p->second);
    run.prior.erase(p);
    run.reused[i] = true;
    event(self, run, "reused", run.wf.tasks[i], "complete in an earlier run");
    run.at_worker[i] = true;
    ++run.in_flight;
    self->send(self, std::move(r), make_ticket(run_no, i));
    return;
  }
  if (run.cancelling || run.cancel_asked[i]) {
    // As a message to ourselves: this may be called while iterating.
    run.at_worker[i] = true;
    ++run.in_flight;
    self->send(self,
               cancelled_result(run.wf.tasks[i],
                                run.cancelling ? "not run: its run was cancelled"
                                               : "cancelled before it ran"),
               make_ticket(run_no, i));
    return;
  }
  if (!run.approved[i]
      && (run.wf.tasks[i].approve
          || self->state.cfg.approve_workers.count(run.wf.tasks[i].worker))) {
    // Held until a person says yes or no (approve_atom); nothing is
    // reserved for it meanwhile.
    run.awaiting[i] = true;
    auto& est = self->state.cfg.describe_estimate;
    event(self, run, "awaiting_approval", run.wf.tasks[i],
          est ? est(run.wf.tasks[i]) : std::string{});
    return;
  }
  auto t = run.wf.tasks[i];
  // Results of dependencies inside this run; a caller (the file drop) may
  // have put those of dependencies outside it there already.
  for (auto& d : t.dependencies)
    if (auto j = run.graph->index_of(d); j != task_graph::npos
                                         && run.results[j])
      t.context["dependency_results"][d] = dependency_handoff(*run.results[j]);
  // A retry after refused output is told why, as the planner's re-ask is.
  if (!run.history[i].empty() && run.history[i].back().value("kind", "") == kind::bad_output)
    t.context[previous_failure_key] = run.history[i].back();
  if (run.budget) {
    // Its cap is reserved from what is left; a task it no longer fits
    // ends not run.
    auto not_started = run.graph->size() - run.graph->finished() - run.in_flight;
    auto least = self->state.cfg.least_cost ? self->state.cfg.least_cost(t) : 0.0;
    auto got = run.budget->reserve(t.budget_usd, not_started, least);
    if (auto why = std::get_if<std::string>(&got)) {
      // As a message to ourselves: this may be called while iterating.
      run.at_worker[i] = true;
      ++run.in_flight;
      self->send(self, make_failure(t, status::cancelled, kind::budget, *why),
                 make_ticket(run_no, i));
      return;
    }
    t.budget_usd = std::get<double>(got);
    run.share[i] = *t.budget_usd;
  }
  ++run.in_flight;
  ++run.attempts[i];
  if (self->state.cfg.trace_context) {
    if (!t.extra.is_object())
      t.extra = json::object();
    t.extra[traceparent_key] =
      traceparent_of(run.id, t.worker + "/" + t.task_id + "#" + std::to_string(run.attempts[i]));
  }
  event(self, run, "queued", t,
        run.attempts[i] > 1 ? "attempt " + std::to_string(run.attempts[i])
                            : std::string{});
  // The run handler checked that every worker exists.
  auto& w = self->state.workers.at(t.worker);
  run.at_worker[i] = true;
  self->send(w, std::move(t), make_ticket(run_no, i));
}

/// How a run ended, for its run_finished event: complete, cancelled (every
/// task that did not complete was not run), or failed.
const char* run_outcome(const run_summary& s) {
  if (s.all_complete())
    return "complete";
  for (auto& r : s.results)
    if (!r.ok() && r.state != status::cancelled)
      return "failed";
  return "cancelled";
}

void finish_run(self_ptr self, uint64_t run_no) {
  auto& run = self->state.runs.at(run_no);
  auto s = run_summary::of(
    run.wf, run.id, run.started_at,
    std::chrono::duration_cast<std::chrono::milliseconds>(self->clock().now()
                                                          - run.t0)
      .count());
  s.results.reserve(run.results.size());
  for (auto& r : run.results)
    s.results.push_back(std::move(*r));
  s.tasks = std::move(run.wf.tasks);
  auto rp = run.rp;
  if (self->state.recorder)
    self->send(self->state.recorder, event_atom_v,
               task_event{run.id, "run_finished", {}, {},
                          run_outcome(s)});
  self->state.runs.erase(run_no);
  if (!self->state.recorder || !self->state.cfg.flush_before_reply) {
    rp.deliver(std::move(s));
    return;
  }
  // The summary goes out once every result and event is on disk.
  self->request(self->state.recorder, caf::infinite, flush_atom_v)
    .then([=](bool) mutable { rp.deliver(std::move(s)); },
          [=](caf::error&) mutable { rp.deliver(std::move(s)); });
}

void record(self_ptr self, run_t& run, size_t i, result r) {
  auto& t = run.wf.tasks[i];
  // What it answers, so that a later run in this root may reuse it.
  if (r.ok()) {
    if (!r.extra.is_object())
      r.extra = json::object();
    r.extra[task_digest_key] = task_digest(t);
  }
  // A complete result's denials (on_denial "report") are in its event too.
  auto denied = denials_of(r);
  event(self, run, r.ok() ? "complete" : std::string{to_string(r.state)}.c_str(),
        t, r.ok() ? denied.empty() ? std::string{} : "denied: " + describe(denied)
           : r.error ? r.error->kind + ": " + r.error->message : r.summary);
  if (self->state.recorder)
    self->send(self->state.recorder, record_atom_v, r);
  run.results[i] = std::move(r);
}

void on_result(self_ptr self, uint64_t run_no, size_t i, result r) {
  auto& st = self->state;
  auto& run = st.runs.at(run_no);
  auto& t = run.wf.tasks[i];
  if (run.attempts[i] > 0) // a reused result keeps its own
    r.attempt = run.attempts[i];
  r.attempt = std::max(1, r.attempt);
  --run.in_flight;
  // What an earlier run spent is not spent again.
  if (run.budget)
    run.budget->settle(run.share[i], run.reused[i] ? 0.0 : r.cost_usd);
  run.share[i] = 0;
  if (r.state == status::failed && r.error && retryable(r.error->kind)) {
    auto limit = t.max_attempts ? *t.max_attempts
                 : st.cfg.max_attempts.count(t.worker)
                   ? st.cfg.max_attempts[t.worker]
                   : 1;
    run.history[i].push_back({{"attempt", run.attempts[i]},
                              {"kind", r.error->kind},
                              {"message", r.error->message},
                              {"at", r.completed_at},
                              {"duration_ms", r.duration_ms}});
    if (run.attempts[i] < limit && !st.stopping) {
      std::uniform_real_distribution<double> jitter{0.0, 1.0};
      auto delay = backoff_delay(st.cfg.backoff, run.attempts[i], jitter(st.rng));
      event(self, run, "retry", t,
            r.error->kind + ": " + r.error->message + "; again in "
              + std::to_string(delay.count()) + " ms");
      run.retry_pending[i] = true;
      self->delayed_send(self, delay, retry_atom_v, make_ticket(run_no, i));
      return;
    }
    // Out of attempts: the result is a dead letter carrying every attempt.
    r.extra["attempts"] = run.history[i];
  }
  if (r.ok()) {
    record(self, run, i, std::move(r));
    for (auto j : run.graph->complete(i))
      dispatch(self, run_no, j);
  } else {
    auto why = r.error ? failure_reason(r) : r.summary;
    auto failed_id = t.task_id;
    // What never starts because of a stop, a budget or a cancel ends
    // cancelled, not failed.
    bool not_run = r.state == status::cancelled;
    record(self, run, i, std::move(r));
    for (auto j : run.graph->fail(i))
      record(self, run, j,
             not_run ? dependency_cancelled_result(run.wf.tasks[j], failed_id, why)
                     : dependency_failed_result(run.wf.tasks[j], failed_id, why));
  }
  if (run.graph->done())
    finish_run(self, run_no);
}

} // namespace

orchestrator_actor::behavior_type
orchestrator(self_ptr self, orchestrator_settings cfg,
             std::map<std::string, worker_actor> workers,
             recorder_actor recorder) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.workers = std::move(workers);
  st.recorder = std::move(recorder);
  st.rng.seed(st.cfg.seed ? st.cfg.seed : std::random_device{}());
  if (!st.cfg.make_run_id)
    st.cfg.make_run_id = [] { return compact_utc_now(); };
  // A worker that stops takes its tasks with it: fail them, never hang.
  for (auto& [name, w] : st.workers)
    self->monitor(w);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    std::vector<std::pair<uint64_t, size_t>> lost;
    for (auto& [name, w] : st.workers)
      if (w.address() == dm.source)
        for (auto& [run_no, run] : st.runs)
          for (size_t i = 0; i < run.wf.tasks.size(); ++i)
            if (run.at_worker[i] && run.wf.tasks[i].worker == name) {
              run.at_worker[i] = false;
              lost.emplace_back(run_no, i);
            }
    for (auto [run_no, idx] : lost)
      if (st.runs.count(run_no)) {
        auto& t = st.runs.at(run_no).wf.tasks[idx];
        on_result(self, run_no, idx,
                  make_failure(t, status::failed, kind::crashed,
                               "worker " + t.worker + " stopped: "
                                 + self->system().render(dm.reason)));
      }
  });
  return {
    [=](run_atom, workflow& wf) -> caf::result<run_summary> {
      auto& st = self->state;
      for (auto& t : wf.tasks) {
        if (st.workers.count(t.worker) == 0)
          return caf::make_error(caf::sec::invalid_argument,
                                 "task \"" + t.task_id + "\": no worker named \""
                                   + t.worker + "\" is running");
      }
      auto run_no = st.next_run++;
      auto& run = st.runs[run_no];
      run.id = st.cfg.make_run_id();
      run.graph = std::make_unique<task_graph>(wf.tasks);
      run.results.resize(wf.tasks.size());
      run.attempts.resize(wf.tasks.size(), 0);
      run.at_worker.resize(wf.tasks.size(), false);
      run.history.resize(wf.tasks.size(), json::array());
      run.share.resize(wf.tasks.size(), 0.0);
      run.retry_pending.resize(wf.tasks.size(), false);
      run.reused.resize(wf.tasks.size(), false);
      run.cancel_asked.resize(wf.tasks.size(), false);
      run.awaiting.resize(wf.tasks.size(), false);
      run.approved.resize(wf.tasks.size(), false);
      for (auto& r : wf.prior)
        for (size_t i = 0; i < wf.tasks.size(); ++i)
          if (wf.tasks[i].task_id == r.task_id && wf.tasks[i].worker == r.worker)
            run.prior.emplace(i, r);
      wf.prior.clear();
      if (wf.budget_usd)
        run.budget.emplace(*wf.budget_usd);
      run.wf = std::move(wf);
      run.rp = self->make_response_promise<run_summary>();
      run.started_at = rfc3339_now();
      run.t0 = self->clock().now();
      auto rp = run.rp;
      if (self->state.recorder)
        self->send(self->state.recorder, event_atom_v,
                   task_event{run.id, "run_started", {}, {}, run.wf.name});
      auto ready = run.graph->take_initial();
      if (run.wf.tasks.empty()) {
        finish_run(self, run_no);
        return rp;
      }
      for (auto i : ready)
        dispatch(self, run_no, i);
      return rp;
    },
    [=](retry_atom, uint64_t ticket) {
      auto run_no = ticket >> 32;
      auto idx = static_cast<size_t>(ticket & 0xffffffffu);
      auto i = self->state.runs.find(run_no);
      if (i == self->state.runs.end() || !i->second.retry_pending[idx])
        return; // ended meanwhile (we are stopping)
      i->second.retry_pending[idx] = false;
      dispatch(self, run_no, idx);
    },
    [=](cancel_atom, const std::string& run_id,
        const std::string& task_id) -> int32_t {
      auto& st = self->state;
      int32_t n = 0;
      std::vector<std::pair<uint64_t, size_t>> waiting;
      for (auto& [run_no, run] : st.runs) {
        if (!run_id.empty() && run.id != run_id)
          continue;
        if (task_id.empty())
          run.cancelling = true;
        for (size_t i = 0; i < run.wf.tasks.size(); ++i) {
          auto& t = run.wf.tasks[i];
          if ((!task_id.empty() && t.task_id != task_id) || run.results[i])
            continue;
          ++n;
          if (run.retry_pending[i] || run.awaiting[i])
            waiting.emplace_back(run_no, i);
          else if (run.at_worker[i])
            self->send(st.workers.at(t.worker), cancel_atom_v, t.task_id);
          else
            run.cancel_asked[i] = true; // not released yet
        }
      }
      for (auto [run_no, i] : waiting) {
        auto r = st.runs.find(run_no);
        if (r == st.runs.end() || !(r->second.retry_pending[i] || r->second.awaiting[i]))
          continue; // ended by an earlier one
        auto why = r->second.awaiting[i] ? "cancelled while it awaited approval"
                                         : "cancelled before its retry";
        r->second.retry_pending[i] = false;
        r->second.awaiting[i] = false;
        ++r->second.in_flight; // on_result counts it back
        on_result(self, run_no, i, cancelled_result(r->second.wf.tasks[i], why));
      }
      return n;
    },
    [=](approve_atom, const std::string& run_id, const std::string& task_id,
        bool yes, const std::string& why) -> int32_t {
      auto& st = self->state;
      std::vector<std::pair<uint64_t, size_t>> found;
      for (auto& [run_no, run] : st.runs) {
        if (!run_id.empty() && run.id != run_id)
          continue;
        for (size_t i = 0; i < run.wf.tasks.size(); ++i)
          if (run.awaiting[i] && (task_id.empty() || run.wf.tasks[i].task_id == task_id))
            found.emplace_back(run_no, i);
      }
      // One at a time: an answer may end its run.
      for (auto [run_no, i] : found) {
        auto r = st.runs.find(run_no);
        if (r == st.runs.end() || !r->second.awaiting[i])
          continue;
        auto& run = r->second;
        run.awaiting[i] = false;
        auto& t = run.wf.tasks[i];
        if (yes) {
          run.approved[i] = true;
          event(self, run, "approved", t, why);
          dispatch(self, run_no, i);
        } else {
          ++run.in_flight; // on_result counts it back
          on_result(self, run_no, i,
                    make_failure(t, status::cancelled, kind::rejected,
                                 "rejected" + (why.empty() ? std::string{} : ": " + why)));
        }
      }
      return static_cast<int32_t>(found.size());
    },
    [=](stop_atom) {
      auto& st = self->state;
      st.stopping = true;
      // A retry waiting for its backoff would start after the stop: it
      // ends now, not started.
      std::vector<std::pair<uint64_t, size_t>> waiting;
      for (auto& [run_no, run] : st.runs)
        for (size_t i = 0; i < run.retry_pending.size(); ++i)
          if (run.retry_pending[i] || run.awaiting[i])
            waiting.emplace_back(run_no, i);
      for (auto [run_no, i] : waiting) {
        auto r = st.runs.find(run_no);
        if (r == st.runs.end())
          continue; // ended by an earlier one
        auto& run = r->second;
        run.retry_pending[i] = false;
        run.awaiting[i] = false;
        ++run.in_flight; // on_result counts it back
        on_result(self, run_no, i, stopped_result(run.wf.tasks[i]));
      }
    },
    [=](result& r, uint64_t ticket) {
      auto run_no = ticket >> 32;
      auto idx = static_cast<size_t>(ticket & 0xffffffffu);
      auto i = self->state.runs.find(run_no);
      if (i == self->state.runs.end() || idx >= i->second.at_worker.size()
          || !i->second.at_worker[idx])
        return; // a late duplicate: the task has its result already
      i->second.at_worker[idx] = false;
      on_result(self, run_no, idx, std::move(r));
    },
  };
}

} // namespace troupe
