#include "bridge/redis/redis_runner.hpp"
#include "bridge/redis/waiting_sweep.hpp"

#include <algorithm>
#include <atomic>
#include <memory>
#include <deque>
#include <set>
#include <thread>

#include <spdlog/spdlog.h>

#include "bridge/files/fs_queue.hpp"
#include <mutex>

#include "caf/all.hpp"
#include "core/clock.hpp"
#include "core/outcome.hpp"
#include "core/prompt.hpp"

namespace troupe {

namespace {

/// Listens on the queue's channels on a thread of its own (a blocking
/// SUBSCRIBE) and wakes the runner, at most one wake-up in its mailbox at a
/// time: a worker with a task ready is claimed for at once, and a result
/// another orchestrator wrote is known at once; the runner's own polls are
/// a backstop.
struct waker {
  std::atomic<bool> stop{false};
  std::mutex m;                     // guards all below
  redis_client* current = nullptr;  // for interrupt()
  bool pending = false;             // a wake-up is in the runner's mailbox
  std::set<std::string> ready;      // workers with a task ready
  std::vector<std::string> results; // task ids with a result
  bool reconnected = false;         // missed messages: look at everything
  std::thread thread;

  void start(redis_url u, std::string ready_channel, std::string results_channel,
             caf::actor runner) {
    thread = std::thread([this, u, ready_channel, results_channel, runner] {
      auto wake = [&](auto&& add) {
        bool send = false;
        {
          std::lock_guard<std::mutex> g{m};
          add();
          send = !pending;
          pending = true;
        }
        if (send)
          caf::anon_send(runner, flush_atom_v);
      };
      while (!stop) {
        redis_client c{u, std::chrono::milliseconds(2000)};
        if (c.connected()) {
          {
            std::lock_guard<std::mutex> g{m};
            current = &c;
          }
          if (!stop && !c.command({"SUBSCRIBE", ready_channel, results_channel}).is_error()) {
            wake([&] { reconnected = true; });
            std::string ch, payload;
            while (!stop && c.next_message(ch, payload))
              wake([&] {
                if (ch == ready_channel)
                  ready.insert(payload);
                else
                  results.push_back(payload);
              });
          }
          std::lock_guard<std::mutex> g{m};
          current = nullptr;
        }
        for (int i = 0; i < 10 && !stop; ++i) // back off 0.5 s, stoppable
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
  }
  void halt() {
    stop = true;
    {
      std::lock_guard<std::mutex> g{m};
      if (current)
        current->interrupt();
    }
    if (thread.joinable())
      thread.join();
  }
};

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
  /// Claimed, leased to us, not yet sent to the orchestrator (a claim
  /// reads up to room from each priority): by worker, high priority first.
  std::map<std::string, std::deque<claimed_task>> backlog;
  /// Workers that may have tasks ready: claimed for at the next tick.
  std::set<std::string> dirty;
  /// Imported here, no result seen yet: task id -> worker.
  std::map<std::string, std::string> watched;
  /// Workers not claimed for until then (unix ms): they parked.
  std::map<std::string, int64_t> paused;
  int64_t next_extend_ms = 0;
  int64_t next_take_over_ms = 0;
  int64_t next_watch_ms = 0;
  int64_t next_sweep_ms = 0;
  /// At most one immediate tick in the mailbox; a delayed one counts only
  /// if it is the latest scheduled (poll_gen).
  bool immediate_pending = false;
  uint64_t poll_gen = 0;
  std::shared_ptr<waker> wake;
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

/// The result of a task that ends without running: `state`, kind and why.
result unrun_result(const task& t, status state, const char* why_kind, const std::string& why) {
  result r;
  r.task_id = t.task_id;
  r.worker = t.worker;
  r.state = state;
  r.completed_at = rfc3339_now();
  r.error = error_info{why_kind, why};
  return r;
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
  if (st.watched.erase(c.t.task_id))
    st.q->forget_imported(st.cfg.origin, c.t.worker, c.t.task_id);
}

/// A result another orchestrator wrote for a task imported here.
void collect(self_ptr self, const std::string& id) {
  auto& st = self->state;
  auto w = st.watched.find(id);
  if (st.held.count(id))
    return; // ours: written when it ends
  if (w == st.watched.end() && !st.cfg.all_results)
    return; // another root's
  std::string err;
  if (auto r = st.q->find_result(id, err)) {
    export_result(self, *r);
    if (w != st.watched.end()) {
      st.q->forget_imported(st.cfg.origin, w->second, id);
      st.watched.erase(w);
    }
  }
  note_error(self, err);
}

size_t room(self_ptr self, const std::string& worker) {
  auto& st = self->state;
  auto cap = st.cfg.capacity_of ? st.cfg.capacity_of(worker) : st.cfg.capacity[worker];
  auto used = st.held_per_worker[worker];
  return cap > used ? cap - used : 0;
}

/// Sends a claimed task to the orchestrator, or finishes it unrun (a dead
/// letter, a doomed dependent).
void run(self_ptr self, claimed_task c) {
  auto& st = self->state;
  // Our own lease ran out (a tick came late) and we took the task over
  // from ourselves: it runs here already. If it was lost meanwhile, its
  // run's answer is dropped and the entry, no longer renewed, is taken over
  // again later.
  if (st.held.count(c.t.task_id))
    return;
  std::string err;
  if (!c.dead.empty()) {
    spdlog::warn("{}/{}: {}", c.t.worker, c.t.task_id, c.dead);
    finish(self, c, unrun_result(c.t, status::failed, kind::crashed, c.dead));
    return;
  }
  if (!c.doomed_by.empty()) {
    auto dep = st.q->find_result(c.doomed_by, err);
    finish(self, c, dep ? dependent_result(c.t, c.doomed_by, *dep)
                        : dependency_failed_result(c.t, c.doomed_by, "failed"));
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

/// Runs from the worker's backlog while it has room, and while Redis can
/// be reached: cut off, this orchestrator cannot renew the backlog's
/// leases, which another takes over; after a reconnection, the extend in
/// the next tick tells which are still ours.
void run_backlog(self_ptr self, const std::string& worker) {
  auto& st = self->state;
  if (!st.client->connected())
    return;
  auto& b = st.backlog[worker];
  while (!b.empty() && room(self, worker) > 0) {
    auto c = std::move(b.front());
    b.pop_front();
    run(self, std::move(c));
  }
}

void schedule(self_ptr self, int64_t ms) {
  auto& st = self->state;
  if (ms <= 0) {
    if (!st.immediate_pending) {
      st.immediate_pending = true;
      self->send(self, tick_atom_v, uint64_t{0});
    }
    return;
  }
  self->delayed_send(self, std::chrono::milliseconds(ms), tick_atom_v, ++st.poll_gen);
}

/// Renews the leases of all we hold, running or in the backlog; a task
/// another orchestrator took is stopped here (or dropped from the backlog).
void extend(self_ptr self) {
  auto& st = self->state;
  std::vector<const claimed_task*> mine;
  for (auto& [id, c] : st.held)
    if (!st.lost.count(id))
      mine.push_back(&c);
  for (auto& [w, b] : st.backlog)
    for (auto& c : b)
      mine.push_back(&c);
  if (mine.empty())
    return;
  std::string err;
  auto gone_list = st.q->extend(mine, err);
  note_error(self, err);
  std::set<std::string> gone(gone_list.begin(), gone_list.end());
  if (gone.empty())
    return;
  for (auto& [id, c] : st.held)
    if (gone.count(c.entry) && st.lost.insert(id).second) {
      spdlog::warn("{}/{}: its lease went to another orchestrator; stopping it here", c.t.worker,
                   id);
      self->send(st.orch, cancel_atom_v, std::string{}, id);
    }
  for (auto& [w, b] : st.backlog)
    b.erase(std::remove_if(b.begin(), b.end(), [&](auto& c) { return gone.count(c.entry) > 0; }),
            b.end());
}

/// Ends what waits for ever: a cycle, a dependency nobody provides
/// (waiting_sweep). Every orchestrator sweeps; the one result is kept once.
void sweep(self_ptr self, int64_t now) {
  auto& st = self->state;
  std::string err;
  auto waiting = st.q->waiting_tasks(1000, err);
  note_error(self, err);
  for (auto& d : sweep_waiting(waiting, now, st.cfg.dependency_wait_ms)) {
    claimed_task c; // never claimed: no entry to acknowledge
    c.t = waiting[d.entry].t;
    spdlog::warn("{}/{}: fails: dependency {}", c.t.worker, c.t.task_id, d.why);
    finish(self, c, dependency_failed_result(c.t, d.dep, d.why));
  }
}

/// The backstop for missed messages: results of tasks imported here.
void poll_watched(self_ptr self) {
  auto& st = self->state;
  std::vector<std::string> ids;
  for (auto& [id, w] : st.watched) {
    if (ids.size() >= 256)
      break; // a bounded share per poll
    ids.push_back(id);
  }
  for (auto& id : ids)
    collect(self, id);
}

/// Claims for the workers that may have tasks (all of them when `full`),
/// taking over expired leases first when that is due.
void tick(self_ptr self, bool full) {
  auto& st = self->state;
  if (st.stopping)
    return;
  auto now = unix_now_ms();
  auto lease = st.cfg.queue.lease_ms;
  if (now >= st.next_extend_ms) {
    extend(self);
    st.next_extend_ms = now + std::max<int64_t>(1, lease / 3);
  }
  // Due every half lease, and first in line for room: a worker whose
  // slots new tasks keep full would otherwise never take anything over.
  bool take_over = now >= st.next_take_over_ms;
  bool took_over_all = true;
  bool more = false; // a claim filled the room: there may be more
  std::string err;
  for (auto& [worker, cap] : st.cfg.capacity) {
    if (auto p = st.paused.find(worker); p != st.paused.end()) {
      if (now < p->second)
        continue;
      st.paused.erase(p);
    }
    run_backlog(self, worker);
    std::vector<bad_entry> bad;
    if (take_over) {
      if (room(self, worker) == 0)
        took_over_all = false; // looked at again as soon as one ends
      else
        for (auto& c : st.q->take_over(worker, room(self, worker), err, &bad))
          run(self, std::move(c));
    }
    if ((full || st.dirty.count(worker)) && room(self, worker) > 0
        && st.backlog[worker].empty()) {
      st.dirty.erase(worker);
      auto want = room(self, worker);
      auto got = st.q->claim(worker, want, err, &bad);
      if (got.size() >= want) {
        st.dirty.insert(worker);
        more = true;
      }
      for (auto& c : got)
        st.backlog[worker].push_back(std::move(c));
      run_backlog(self, worker);
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
        finish(self, c, unrun_result(c.t, status::rejected, kind::bad_input, b.reason));
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
  if (now >= st.next_sweep_ms) {
    sweep(self, now);
    st.next_sweep_ms =
      now + std::clamp<int64_t>(st.cfg.dependency_wait_ms / 4, 1000, 30'000);
  }
  if (full && now >= st.next_watch_ms) {
    poll_watched(self);
    st.next_watch_ms = now + st.cfg.watched_poll_ms;
  }
  if (more)
    schedule(self, 0);
  // Idle or not: often enough to renew leases and take over in time.
  schedule(self, std::clamp<int64_t>(lease / 4, 1, st.cfg.idle_poll_ms));
}

void maybe_finish_stop(self_ptr self) {
  auto& st = self->state;
  if (st.stop_rp && st.held.empty()) {
    st.stop_rp->deliver(int32_t{0});
    st.stop_rp.reset();
  }
}

/// Gives back, unrun, what waits in the backlogs.
int32_t release_backlog(self_ptr self) {
  auto& st = self->state;
  int32_t n = 0;
  for (auto& [w, b] : st.backlog) {
    for (auto& c : b)
      n += st.q->release(c).empty() ? 1 : 0;
    b.clear();
  }
  return n;
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
    for (auto& [w, id] : st.q->imported(st.cfg.origin, err))
      st.watched.emplace(id, w);
    note_error(self, err);
  }
  st.wake = std::make_shared<waker>();
  st.wake->start(st.cfg.url, st.q->ready_channel(), st.q->results_channel(),
                 caf::actor_cast<caf::actor>(self));
  self->attach_functor([w = st.wake] { w->halt(); });
  schedule(self, 0);
  return {
    [=](flush_atom) {
      // The channels: a worker has a task ready, or a task has a result.
      auto& st = self->state;
      std::set<std::string> ready;
      std::vector<std::string> results;
      bool everything = false;
      {
        std::lock_guard<std::mutex> g{st.wake->m};
        st.wake->pending = false;
        ready.swap(st.wake->ready);
        results.swap(st.wake->results);
        everything = std::exchange(st.wake->reconnected, false);
      }
      for (auto& id : results)
        collect(self, id);
      st.dirty.insert(ready.begin(), ready.end());
      if (everything)
        for (auto& [w, cap] : st.cfg.capacity)
          st.dirty.insert(w);
      if (!st.dirty.empty())
        schedule(self, 0);
    },
    [=](tick_atom, uint64_t gen) {
      auto& st = self->state;
      bool full = gen != 0;
      if (gen == 0)
        st.immediate_pending = false;
      else if (gen != st.poll_gen)
        return; // an older poll, overtaken by a later schedule
      if (!st.client->connected() && !st.stopping) {
        // Reconnect: the lease of what we held may be gone meanwhile; the
        // extend in the tick tells which.
        st.client = std::make_unique<redis_client>(st.cfg.url, std::chrono::milliseconds(2000));
        st.q = std::make_unique<redis_queue>(*st.client, st.cfg.queue);
        if (!st.client->connected()) {
          note_error(self, st.client->error());
          schedule(self, 500);
          return;
        }
        spdlog::info("redis queue: connected again");
        full = true;
      }
      tick(self, full);
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
          for (auto& b : st.backlog[r.worker])
            st.q->release(b);
          st.backlog[r.worker].clear();
        }
      } else {
        finish(self, c, r);
      }
      maybe_finish_stop(self);
      if (st.stopping)
        return;
      if (!st.backlog[c.t.worker].empty()) {
        run_backlog(self, c.t.worker);
      } else {
        st.dirty.insert(c.t.worker); // room again: more may wait
        schedule(self, 0);
      }
    },
    [=](subscribe_atom, const std::string& worker, const std::string& id) {
      self->state.watched.emplace(id, worker);
    },
    [=](stop_atom, int64_t grace_ms) -> caf::result<int32_t> {
      auto& st = self->state;
      st.stopping = true;
      auto given_back = release_backlog(self);
      if (st.held.empty())
        return given_back;
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
