#include "bridge/redis/redis_runner.hpp"

#include <memory>
#include <set>

#include <spdlog/spdlog.h>

#include "bridge/files/fs_queue.hpp"
#include "caf/all.hpp"
#include "core/clock.hpp"
#include "core/outcome.hpp"
#include "core/prompt.hpp"

namespace troupe {

namespace {

struct runner_state {
  static inline const char* name = "redis_runner";
  redis_runner_settings cfg;
  orchestrator_actor orch;
  std::unique_ptr<redis_client> client;
  std::unique_ptr<redis_queue> q;
  std::unique_ptr<fs_queue> folders;
  /// What this orchestrator holds, by task id.
  std::map<std::string, claimed_task> held;
  std::map<std::string, size_t> held_per_worker;
  /// Lost to another orchestrator while it ran: its result is not ours.
  std::set<std::string> lost;
  /// Imported here, no result seen yet: (worker, id).
  std::set<std::pair<std::string, std::string>> watched;
  /// Workers not claimed for until then (unix ms): they parked.
  std::map<std::string, int64_t> paused;
  int64_t next_extend_ms = 0;
  int64_t next_take_over_ms = 0;
  bool tick_scheduled = false;
  bool stopping = false;
  std::optional<caf::response_promise> stop_rp;
  std::string last_error; // logged once until it changes
};

using self_ptr = caf::stateful_actor<runner_state>*;

void note_error(self_ptr self, const std::string& err) {
  auto& st = self->state;
  if (err.empty() || err == st.last_error)
    return;
  st.last_error = err;
  spdlog::error("redis queue: {}", err);
}

/// Writes `r` into results/<worker>/ here, once, and tells on_result.
void export_result(self_ptr self, const result& r) {
  auto& st = self->state;
  if (!st.folders)
    return;
  if (st.folders->find_result(r.task_id, r.worker))
    return;
  if (auto err = st.folders->complete(r.task_id + ".json", r); !err.empty()) {
    spdlog::error("{}/{}: result not written into results/: {}", r.worker, r.task_id, err);
    return;
  }
  if (st.cfg.on_result)
    st.cfg.on_result(r);
}

/// Writes the one result of a held task (or learns that another won).
void finish(self_ptr self, const claimed_task& c, const result& r) {
  auto& st = self->state;
  std::string err;
  auto first = st.q->complete(c, r, err);
  if (!first) {
    // Redis is away: the lease runs out and another orchestrator (or
    // this one, later) runs the task again.
    note_error(self, err);
    return;
  }
  if (*first) {
    export_result(self, r);
  } else if (auto kept = st.q->find_result(c.t.task_id, err)) {
    spdlog::info("{}/{}: another orchestrator's result was first; it stays", c.t.worker,
                 c.t.task_id);
    export_result(self, *kept);
  }
  if (st.watched.erase({c.t.worker, c.t.task_id}))
    st.q->forget_imported(st.cfg.origin, c.t.worker, c.t.task_id);
}

void submit(self_ptr self, claimed_task c) {
  auto& st = self->state;
  std::string err;
  if (!c.dead.empty()) {
    result r;
    r.task_id = c.t.task_id;
    r.worker = c.t.worker;
    r.state = status::failed;
    r.completed_at = rfc3339_now();
    r.error = error_info{kind::crashed, c.dead};
    spdlog::warn("{}/{}: {}", c.t.worker, c.t.task_id, c.dead);
    finish(self, c, r);
    return;
  }
  if (!c.doomed_by.empty()) {
    auto dep = st.q->find_result(c.doomed_by, err);
    auto why = dep ? failure_reason(*dep) : "failed";
    finish(self, c, dep && dep->state == status::cancelled
                      ? dependency_cancelled_result(c.t, c.doomed_by, why)
                      : dependency_failed_result(c.t, c.doomed_by, why));
    return;
  }
  auto& t = c.t;
  for (auto& d : t.dependencies)
    if (auto r = st.q->find_result(d, err))
      t.context["dependency_results"][d] = dependency_handoff(*r);
  if (c.taken_over)
    spdlog::info("{}/{}: taken over from a quiet orchestrator (delivery {})", t.worker, t.task_id,
                 c.deliveries);
  workflow wf;
  wf.name = t.task_id;
  wf.synthesize = false;
  wf.tasks.push_back(t);
  st.held_per_worker[t.worker]++;
  auto id = t.task_id;
  st.held.emplace(id, std::move(c));
  self->send(st.orch, run_atom_v, std::move(wf));
}

void schedule(self_ptr self, int64_t ms) {
  auto& st = self->state;
  if (st.tick_scheduled)
    return;
  st.tick_scheduled = true;
  if (ms <= 0)
    self->send(self, tick_atom_v);
  else
    self->delayed_send(self, std::chrono::milliseconds(ms), tick_atom_v);
}

/// Renews the leases; a task another orchestrator took is stopped here.
void extend(self_ptr self) {
  auto& st = self->state;
  std::vector<const claimed_task*> mine;
  for (auto& [id, c] : st.held)
    if (!st.lost.count(id))
      mine.push_back(&c);
  if (mine.empty())
    return;
  std::string err;
  auto gone = st.q->extend(mine, err);
  note_error(self, err);
  for (auto& entry : gone)
    for (auto& [id, c] : st.held)
      if (c.entry == entry && st.lost.insert(id).second) {
        spdlog::warn("{}/{}: its lease went to another orchestrator; stopping it here", c.t.worker,
                     id);
        self->send(st.orch, cancel_atom_v, std::string{}, id);
      }
}

/// Results of tasks imported here that another orchestrator finished.
void poll_watched(self_ptr self) {
  auto& st = self->state;
  if (st.watched.empty())
    return;
  std::vector<std::pair<std::string, std::string>> done;
  std::string err;
  size_t looked = 0;
  for (auto& w : st.watched) {
    if (++looked > 256)
      break; // a bounded share per tick
    if (st.held.count(w.second))
      continue; // ours: written when it ends
    if (auto r = st.q->find_result(w.second, err)) {
      export_result(self, *r);
      done.push_back(w);
    }
  }
  note_error(self, err);
  for (auto& w : done) {
    st.watched.erase(w);
    st.q->forget_imported(st.cfg.origin, w.first, w.second);
  }
}

void tick(self_ptr self) {
  auto& st = self->state;
  st.tick_scheduled = false;
  if (st.stopping)
    return;
  auto now = unix_now_ms();
  auto lease = st.cfg.queue.lease_ms;
  if (now >= st.next_extend_ms) {
    extend(self);
    st.next_extend_ms = now + std::max<int64_t>(1, lease / 3);
  }
  size_t got = 0;
  // Due every half lease, and first in line for room: a worker whose
  // slots new tasks keep full would otherwise never take anything over.
  bool take_over = now >= st.next_take_over_ms;
  bool took_over_all = true;
  std::string err;
  for (auto& [worker, cap] : st.cfg.capacity) {
    if (auto p = st.paused.find(worker); p != st.paused.end()) {
      if (now < p->second)
        continue;
      st.paused.erase(p);
    }
    auto room = [&] { return cap > st.held_per_worker[worker] ? cap - st.held_per_worker[worker] : 0; };
    std::vector<bad_entry> bad;
    if (take_over) {
      if (room() == 0)
        took_over_all = false; // looked at again as soon as one ends
      else
        for (auto& c : st.q->take_over(worker, room(), err, &bad)) {
          ++got;
          submit(self, std::move(c));
        }
    }
    if (room() > 0)
      for (auto& c : st.q->claim(worker, room(), err, &bad)) {
        ++got;
        submit(self, std::move(c));
      }
    for (auto& b : bad) {
      // Not ours to decode: left in the pending list, it would come back
      // at every take-over. Acknowledged with a rejected result instead.
      spdlog::warn("redis queue: entry {} of {} ({}): {}", b.entry, b.stream, b.task_id, b.reason);
      claimed_task c;
      c.stream = b.stream;
      c.entry = b.entry;
      c.t.task_id = b.task_id;
      c.t.worker = worker;
      if (valid_task_id(b.task_id)) {
        result r;
        r.task_id = b.task_id;
        r.worker = worker;
        r.state = status::rejected;
        r.completed_at = rfc3339_now();
        r.error = error_info{kind::bad_input, b.reason};
        finish(self, c, r);
      } else {
        st.client->command({"XACK", b.stream, st.cfg.queue.group, b.entry});
      }
    }
  }
  if (take_over && took_over_all)
    st.next_take_over_ms = now + std::max<int64_t>(1, lease / 2);
  note_error(self, err);
  if (err.empty())
    st.last_error.clear();
  poll_watched(self);
  schedule(self, got > 0 ? 0 : st.cfg.idle_poll_ms);
}

void maybe_finish_stop(self_ptr self) {
  auto& st = self->state;
  if (st.stop_rp && st.held.empty()) {
    st.stop_rp->deliver(int32_t{0});
    st.stop_rp.reset();
  }
}

caf::behavior runner(self_ptr self, redis_runner_settings cfg, orchestrator_actor orch) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.orch = std::move(orch);
  st.client = std::make_unique<redis_client>(st.cfg.url, std::chrono::milliseconds(2000));
  st.q = std::make_unique<redis_queue>(*st.client, st.cfg.queue);
  if (!st.cfg.root.empty()) {
    std::vector<std::string> workers;
    for (auto& [w, cap] : st.cfg.capacity)
      workers.push_back(w);
    st.folders = std::make_unique<fs_queue>(st.cfg.root, workers, 1u << 20);
  }
  if (!st.client->connected()) {
    note_error(self, st.client->error());
  } else if (!st.cfg.origin.empty()) {
    // Imported by an earlier run of this root: still owed a result file.
    std::string err;
    for (auto& w : st.q->imported(st.cfg.origin, err))
      st.watched.insert(w);
    note_error(self, err);
  }
  schedule(self, 0);
  return {
    [=](tick_atom) {
      auto& st = self->state;
      if (!st.client->connected() && !st.stopping) {
        // Reconnect: the lease of what we held may be gone meanwhile; the
        // extend below tells which.
        st.client = std::make_unique<redis_client>(st.cfg.url, std::chrono::milliseconds(2000));
        st.q = std::make_unique<redis_queue>(*st.client, st.cfg.queue);
        if (!st.client->connected()) {
          note_error(self, st.client->error());
          st.tick_scheduled = false;
          schedule(self, 500);
          return;
        }
        spdlog::info("redis queue: connected again");
      }
      tick(self);
    },
    [=](run_summary& s) {
      auto& st = self->state;
      if (s.results.empty())
        return;
      auto& r = s.results.front();
      auto i = st.held.find(r.task_id);
      if (i == st.held.end())
        return;
      auto c = std::move(i->second);
      st.held.erase(i);
      st.held_per_worker[c.t.worker]--;
      bool was_lost = st.lost.erase(r.task_id) > 0;
      bool parked = r.error && (r.error->kind == kind::parked || r.error->kind == kind::spend_cap);
      if (was_lost) {
        // Its result is another orchestrator's to write.
      } else if (is_stopped_result(r) || parked) {
        // Not run: back to the queue for whoever can run it.
        if (auto err = st.q->release(c); !err.empty())
          note_error(self, err);
        if (parked) {
          auto until = r.extra.is_object() ? r.extra.value(resumes_at_key, int64_t{0}) : 0;
          st.paused[r.worker] = until > 0 ? until : unix_now_ms() + 60'000;
          spdlog::warn("{}: parked here ({}); its tasks stay in the queue for others",
                       r.worker, r.error->message);
        }
      } else {
        finish(self, c, r);
      }
      maybe_finish_stop(self);
      schedule(self, 0);
    },
    [=](subscribe_atom, const std::string& worker, const std::string& id) {
      self->state.watched.emplace(worker, id);
    },
    [=](stop_atom, int64_t grace_ms) -> caf::result<int32_t> {
      auto& st = self->state;
      st.stopping = true;
      if (st.held.empty())
        return int32_t{0};
      auto rp = self->make_response_promise();
      st.stop_rp = rp;
      self->delayed_send(self, std::chrono::milliseconds(grace_ms), deadline_atom_v);
      return caf::delegated<int32_t>{};
    },
    [=](deadline_atom) {
      auto& st = self->state;
      if (!st.stop_rp)
        return;
      int32_t n = 0;
      for (auto& [id, c] : st.held)
        n += st.q->release(c).empty() ? 1 : 0;
      st.held.clear();
      st.stop_rp->deliver(n);
      st.stop_rp.reset();
    },
  };
}

} // namespace

caf::actor spawn_redis_runner(caf::actor_system& sys, redis_runner_settings cfg,
                              orchestrator_actor orch) {
  return sys.spawn<caf::detached>(runner, std::move(cfg), std::move(orch));
}

} // namespace troupe
