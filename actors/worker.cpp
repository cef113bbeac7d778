#include "actors/worker.hpp"

#include <spdlog/spdlog.h>

#include "caf/all.hpp"
#include "core/access_reset.hpp"
#include "core/clock.hpp"
#include "core/process.hpp"

namespace troupe {

namespace {

using self_ptr = worker_actor::stateful_pointer<worker_state>;

void pump(self_ptr self);

/// Answers every queued (not started) job with `answer(task)`.
template <class Answer>
void answer_queued(self_ptr self, Answer answer) {
  auto& st = self->state;
  for (auto& q : st.queue) {
    for (auto qid : q) {
      auto& j = st.jobs.at(qid);
      j.rp.deliver(answer(j.t), j.ticket);
      st.jobs.erase(qid);
    }
    q.clear();
  }
}

/// The answer to a task this parked worker does not run.
result parked_answer(const worker_state& st, const task& t) {
  auto r = parked_result(t, st.parked, st.parked_until_ms, st.parked_kind);
  if (st.parked_until_ms > 0)
    r.extra[resumes_at_key] = st.parked_until_ms;
  return r;
}

void event(self_ptr self, const char* kind, const task& t) {
  if (self->state.recorder)
    self->send(self->state.recorder, event_atom_v,
               task_event{{}, kind, t.task_id, t.worker, {}});
}

/// Parks the worker: no more runs start, queued tasks are answered as
/// parked_result. With `until_ms` (unix ms) the park ends by itself then
/// (a timer; a later park is not ended by an earlier one's timer), else
/// when a person unparks it.
void park_worker(self_ptr self, const std::string& reason, int64_t until_ms,
                 const char* why_kind) {
  auto& st = self->state;
  st.parked = reason;
  st.parked_kind = why_kind;
  st.parked_until_ms = until_ms;
  spdlog::warn("worker {} parked ({}); {}", st.cfg.name, reason,
               until_ms > 0 ? "it runs again from " + rfc3339_of_ms(until_ms)
                            : std::string{"its queued tasks are not run"});
  if (st.recorder)
    self->send(st.recorder, event_atom_v,
               task_event{{}, kind::parked, {}, st.cfg.name,
                          until_ms > 0 ? reason + "; runs again from " + rfc3339_of_ms(until_ms)
                                       : reason});
  if (until_ms > 0)
    self->delayed_send(self, std::chrono::milliseconds(std::max<int64_t>(1, until_ms - self->state.cfg.now_ms())),
                       unpark_atom_v, until_ms);
  answer_queued(self, [&](const task& t) { return parked_answer(st, t); });
}

/// Ends a job: the limiter learns what it cost, the caller gets the result.
void finish(self_ptr self, uint64_t id, result r) {
  auto& st = self->state;
  auto i = st.jobs.find(id);
  if (i == st.jobs.end())
    return;
  if (st.exec->blocking())
    forget_cancel(cancel_key_of(i->second.t)); // a cancel that found nothing
  run_usage used;
  // Requests as the CLI sent them (retries and sub-agents included), else
  // its turns (the json output format does not tell).
  auto sent = r.extra.find("api_requests");
  auto turns = r.extra.find("num_turns");
  if (sent != r.extra.end() && sent->is_number())
    used.requests = std::max(1.0, sent->get<double>());
  else if (turns != r.extra.end() && turns->is_number())
    used.requests = std::max(1.0, turns->get<double>());
  used.input_tokens = static_cast<double>(r.tokens.metered_input());
  used.output_tokens = static_cast<double>(r.tokens.output_tokens);
  used.cost_usd = r.cost_usd; // the day's spend (through a gateway, it settles each request)
  if (st.cfg.needs_permits) {
    self->send(st.limiter, settle_atom_v, i->second.permit, used);
    // The CLI gave up on a 429: its retry-after is unknown here (the
    // stream's api_retry, if any, already cooled down), so the default.
    if (r.error && r.error->kind == kind::rate_limited)
      self->send(st.limiter, cooldown_atom_v, i->second.permit.model,
                 int64_t{0});
  }
  // A spend limit that says it ends soon (within spend_wait_ms) parks the
  // whole account until then (every worker's runs wait at the limiter),
  // and this task runs again at that moment, its attempt not spent;
  // queued tasks wait too. A later end parks the worker as below.
  if (r.error && r.error->kind == kind::spend_limit
      && (st.cfg.needs_permits || st.cfg.gated))
    if (auto until = regain_access_ms(r.error->message)) {
      auto wait_ms = *until - st.cfg.now_ms();
      if (wait_ms > 0 && wait_ms <= st.cfg.spend_wait_ms) {
        self->send(st.limiter, cooldown_atom_v, std::string{every_model}, wait_ms);
        auto detail = r.error->kind + " until " + rfc3339_of_ms(*until)
                      + ": runs again then";
        spdlog::warn("worker {} parked ({}); task {} and the queued ones wait",
                     st.cfg.name, detail, i->second.t.task_id);
        if (st.recorder)
          self->send(st.recorder, event_atom_v,
                     task_event{{}, kind::parked, i->second.t.task_id, st.cfg.name, detail});
        st.queue[static_cast<int>(i->second.t.prio)].push_front(id);
        --st.busy;
        pump(self);
        return;
      }
    }
  bool park = st.parked.empty() && r.error && parks_worker(r.error->kind);
  int64_t until = 0;
  if (park && r.error->kind == kind::spend_limit)
    if (auto at = regain_access_ms(r.error->message); at && *at > st.cfg.now_ms())
      until = *at; // later than spend_wait_ms: parked, and back by itself then
  if (until > 0)
    r.extra[resumes_at_key] = until; // the file drop keeps the tasks till then
  auto reason = park ? r.error->kind + ": " + r.error->message : std::string{};
  i->second.rp.deliver(std::move(r), i->second.ticket);
  st.jobs.erase(i);
  --st.busy;
  if (park)
    park_worker(self, reason, until, kind::parked);
  pump(self);
}

void start(self_ptr self, uint64_t id) {
  auto& st = self->state;
  auto& j = st.jobs.at(id);
  j.running = true;
  event(self, "running", j.t);
  if (st.exec->blocking()) {
    // One runner per slot, and busy <= slots, so one is always idle here.
    auto r = st.idle_runners.back();
    st.idle_runners.pop_back();
    self->request(r, caf::infinite, run_atom_v, j.t)
      .then(
        [=](result& res) {
          self->state.idle_runners.push_back(r);
          finish(self, id, std::move(res));
        },
        [=](caf::error& err) {
          self->state.idle_runners.push_back(r);
          auto& job = self->state.jobs.at(id);
          finish(self, id,
                 make_failure(job.t, status::failed, kind::crashed,
                              "executor runner failed: "
                                + self->system().render(err)));
        });
    return;
  }
  // The simulator computes at once and only pretends to take time: a timer,
  // not a thread, so thousands of slots cost nothing.
  auto res = st.exec->run(j.t, 1);
  auto latency = st.exec->latency();
  if (latency.count() == 0)
    finish(self, id, std::move(res));
  else
    self->delayed_send(self, latency, done_atom_v, id, std::move(res));
}

bool pop_next(worker_state& st, uint64_t& id) {
  for (auto& q : st.queue)
    if (!q.empty()) {
      id = q.front();
      q.pop_front();
      return true;
    }
  return false;
}

void pump(self_ptr self) {
  auto& st = self->state;
  if (st.stopping)
    return;
  uint64_t id;
  while (st.busy < static_cast<size_t>(st.cfg.slots) && pop_next(st, id)) {
    ++st.busy;
    if (!st.cfg.needs_permits && !st.cfg.gated) {
      start(self, id);
      continue;
    }
    auto& j = st.jobs.at(id);
    permit_ask ask = gate_ask(st.cfg.name);
    if (st.cfg.needs_permits) {
      ask.model = j.t.model ? *j.t.model : st.cfg.model;
      ask.requests = 1;
      ask.exact = false;
      // About four bytes a token; the context only costs a dump when present.
      auto bytes = j.t.description.size()
                   + (j.t.context.empty() ? 0 : j.t.context.dump().size());
      ask.input_tokens = st.cfg.system_prompt_tokens + bytes / 4.0;
      ask.prefix_tokens = st.cfg.system_prompt_tokens; // what a warm cache serves
    }
    ask.prio = j.t.prio;
    self->request(st.limiter, caf::infinite, permit_atom_v, std::move(ask))
      .then(
        [=](permit_ask& granted) {
          auto& st = self->state;
          auto j = st.jobs.find(id);
          if (st.stopping || j->second.cancelled) {
            // Stopped or cancelled while it waited: the room goes back unused.
            if (st.cfg.needs_permits)
              self->send(st.limiter, settle_atom_v, granted, run_usage{0, 0, 0});
            j->second.rp.deliver(j->second.cancelled
                                   ? cancelled_result(j->second.t, "cancelled before it ran")
                                   : stopped_result(j->second.t),
                                 j->second.ticket);
            st.jobs.erase(j);
            --st.busy;
            pump(self);
            return;
          }
          if (granted.capped_until_ms > 0) {
            // The day's spend cap is reached: nothing of this worker's runs
            // until the day turns (the limiter granted nothing to settle).
            if (st.parked.empty())
              park_worker(self,
                          std::string{kind::spend_cap}
                            + ": the day's spend reached limits.spend_per_day_usd",
                          granted.capped_until_ms, kind::spend_cap);
            j->second.rp.deliver(parked_answer(st, j->second.t), j->second.ticket);
            st.jobs.erase(j);
            --st.busy;
            pump(self);
            return;
          }
          st.jobs.at(id).permit = std::move(granted);
          start(self, id);
        },
        [=](caf::error& err) {
          auto& job = self->state.jobs.at(id);
          finish(self, id,
                 make_failure(job.t, status::failed, kind::crashed,
                              "no permit from the rate limiter: "
                                + self->system().render(err)));
        });
  }
}

} // namespace

runner_actor::behavior_type runner(runner_actor::pointer, executor_ptr exec,
                                   run_hooks hooks) {
  return {
    [=](run_atom, const task& t) { return exec->run(t, 1, hooks); },
  };
}

run_hooks worker_hooks(const worker_settings& cfg, rate_limiter_actor limiter,
                       recorder_actor recorder) {
  run_hooks h;
  auto permits = cfg.needs_permits;
  auto name = cfg.name;
  // Runs on the runner's thread: only sends, which are thread-safe.
  h.on_api_retry = [=](const api_retry_event& ev) {
    if (permits && ev.status == 429)
      caf::anon_send(limiter, cooldown_atom_v, ev.model, ev.delay_ms);
    if (recorder)
      caf::anon_send(recorder, event_atom_v,
                     task_event{{}, "api_retry", ev.task_id, name,
                                "API " + std::to_string(ev.status)
                                  + ", the CLI retries in "
                                  + std::to_string(ev.delay_ms) + " ms"});
  };
  return h;
}

worker_actor::behavior_type worker(self_ptr self, worker_settings cfg,
                                   executor_ptr exec,
                                   rate_limiter_actor limiter,
                                   recorder_actor recorder) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.exec = std::move(exec);
  st.limiter = std::move(limiter);
  st.recorder = std::move(recorder);
  if (st.exec->blocking()) {
    auto hooks = worker_hooks(st.cfg, st.limiter, st.recorder);
    for (int i = 0; i < st.cfg.slots; ++i)
      st.idle_runners.push_back(
        st.cfg.detached_runners
          ? self->spawn<caf::detached + caf::linked>(runner, st.exec, hooks)
          : self->spawn<caf::linked>(runner, st.exec, hooks));
  }
  return {
    [=](task& t, uint64_t ticket) -> caf::result<result, uint64_t> {
      auto& st = self->state;
      if (!st.parked.empty())
        return {parked_answer(st, t), ticket};
      if (st.stopping)
        return {stopped_result(t), ticket};
      auto rp = self->make_response_promise<result, uint64_t>();
      auto id = st.next_job++;
      auto prio = static_cast<int>(t.prio);
      st.jobs.emplace(id, worker_state::job{std::move(t), ticket, rp, {}});
      st.queue[prio].push_back(id);
      pump(self);
      return rp;
    },
    [=](done_atom, uint64_t id, result& r) {
      // The simulator's result, once its latency has passed: it completes
      // now, not when it was computed.
      r.completed_at = rfc3339_now();
      finish(self, id, std::move(r));
    },
    [=](stop_atom) {
      self->state.stopping = true;
      answer_queued(self, stopped_result);
    },
    [=](cancel_atom, const std::string& task_id) {
      auto& st = self->state;
      for (auto& q : st.queue)
        for (auto qi = q.begin(); qi != q.end(); ++qi) {
          auto& j = st.jobs.at(*qi);
          if (j.t.task_id != task_id)
            continue;
          j.rp.deliver(cancelled_result(j.t, "cancelled before it ran"), j.ticket);
          st.jobs.erase(*qi);
          q.erase(qi);
          return;
        }
      for (auto& [id, j] : st.jobs) {
        if (j.t.task_id != task_id)
          continue;
        if (!j.running) {
          // Waiting for its permit: answered when the permit comes.
          j.cancelled = true;
        } else if (st.exec->blocking()) {
          // Its runner comes back with the cancelled outcome (a child
          // still being spawned is stopped as soon as it exists).
          cancel_child(cancel_key_of(j.t));
        } else {
          // The simulator's result is only a timer away: it ends now.
          auto job_id = id;
          finish(self, job_id, cancelled_result(j.t, "cancelled while it ran"));
        }
        return;
      }
      spdlog::debug("worker {}: nothing to cancel for {}", st.cfg.name, task_id);
    },
    [=](unpark_atom) {
      auto& st = self->state;
      if (st.parked.empty())
        return;
      spdlog::info("worker {} unparked (was: {})", st.cfg.name, st.parked);
      st.parked.clear();
      st.parked_until_ms = 0;
      pump(self);
    },
    [=](unpark_atom, int64_t until_ms) {
      // The park's own timer: only that park ends (an unpark and a new
      // park since then have their own end).
      auto& st = self->state;
      if (st.parked.empty() || st.parked_until_ms != until_ms)
        return;
      spdlog::info("worker {} runs again: {} is over (was: {})", st.cfg.name,
                   rfc3339_of_ms(until_ms), st.parked);
      st.parked.clear();
      st.parked_until_ms = 0;
      pump(self);
    },
  };
}

} // namespace troupe
