#include "bridge/files/file_drop.hpp"

#include "core/outcome.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "bridge/files/fs_watcher.hpp"
#include "caf/all.hpp"
#include "core/clock.hpp"
#include "core/prompt.hpp"

namespace troupe {

namespace {

using self_ptr = file_drop_actor::stateful_pointer<file_drop_state>;

std::string key(const std::string& a, const std::string& b) {
  return a + "/" + b;
}

void process(self_ptr self, const std::string& worker, const std::string& name);

void schedule_tick(self_ptr self) {
  auto& st = self->state;
  if (st.tick_scheduled || st.deferred.empty())
    return;
  st.tick_scheduled = true;
  self->delayed_send(self, std::chrono::milliseconds(st.cfg.quiet_ms / 4 + 1),
                     tick_atom_v);
}

void submit(self_ptr self, file_drop_state::entry e) {
  auto& st = self->state;
  auto& t = e.t;
  for (auto& d : t.dependencies)
    if (auto r = st.q->find_result(d))
      t.context["dependency_results"][d] = dependency_handoff(*r);
  workflow wf;
  wf.name = t.task_id;
  wf.synthesize = false;
  wf.tasks.push_back(t);
  auto k = key(e.worker, t.task_id);
  spdlog::debug("{}: submitted", k);
  st.inflight.emplace(k, std::move(e));
  self->send(st.orch, run_atom_v, std::move(wf));
}

void settle(self_ptr self, const std::string& id, const result& r);

/// Ends a task file we hold without running it: `r` is its result.
/// Whether it was written.
bool end_unrun(self_ptr self, const file_drop_state::entry& e, const result& r) {
  auto& st = self->state;
  if (!st.q->claim(e.worker, e.name))
    return false; // vanished meanwhile
  if (auto err = st.q->complete(e.name, r); !err.empty()) {
    spdlog::error("{}/{}: {}", e.worker, e.t.task_id, err);
    return false;
  }
  if (st.cfg.on_result)
    st.cfg.on_result(r);
  return true;
}

/// As end_unrun, and what waited for it fails too.
void fail_unrun(self_ptr self, const file_drop_state::entry& e, const result& r) {
  if (end_unrun(self, e, r))
    settle(self, e.t.task_id, r);
}

/// Takes waiting node `n` out of the book.
file_drop_state::entry take(self_ptr self, task_graph::node n) {
  auto& st = self->state;
  auto w = st.waiting.find(n);
  auto e = std::move(w->second);
  st.waiting.erase(w);
  st.waiting_node.erase(key(e.worker, e.name));
  st.deps.remove(n);
  return e;
}

void schedule_deps_check(self_ptr self);

/// Decides what to do with a valid task file: no-op, wait, fail, or run.
/// A file that waited before keeps its waiting time, `since`.
void consider(self_ptr self, file_drop_state::entry e,
              std::optional<task_graph::time_point> since = {}) {
  auto& st = self->state;
  auto& t = e.t;
  if (st.cfg.import) {
    if (auto err = st.cfg.import(t); !err.empty()) {
      spdlog::error("{}/{}: not put into the queue, kept for another try: {}", e.worker,
                    t.task_id, err);
      st.deferred.insert(key(e.worker, e.name));
      schedule_tick(self);
      return;
    }
    spdlog::debug("{}/{}: put into the queue", e.worker, t.task_id);
    st.q->discard(e.worker, e.name);
    return;
  }
  if (st.q->find_result(t.task_id, e.worker)) {
    spdlog::info("{}/{}: already has a result; the new file is a no-op",
                 e.worker, t.task_id);
    st.q->discard(e.worker, e.name);
    return;
  }
  std::vector<std::string> missing;
  for (auto& d : t.dependencies) {
    auto r = st.q->find_result(d);
    if (!r) {
      missing.push_back(d);
      continue;
    }
    if (!r->ok()) {
      // A failed dependency fails the task, with the reason, at once.
      fail_unrun(self, e, dependent_result(t, d, *r));
      return;
    }
  }
  if (!missing.empty()) {
    auto [n, cycle] = st.deps.add(t.task_id, missing, t.prio,
                                  since.value_or(self->clock().now()));
    if (!cycle.empty()) {
      // Waiting would never end. This task fails naming the cycle; the
      // others in it then fail as its dependents.
      auto why = "dependency cycle: " + task_graph::describe(cycle);
      spdlog::warn("{}/{}: {}", e.worker, t.task_id, why);
      st.deps.remove(n);
      fail_unrun(self, e, dependency_failed_result(t, cycle[1], why));
      return;
    }
    spdlog::debug("{}/{}: waits for {}", e.worker, t.task_id, missing.front());
    st.waiting_node[key(e.worker, e.name)] = n;
    st.waiting.emplace(n, std::move(e));
    schedule_deps_check(self);
    return;
  }
  if (!st.q->claim(e.worker, e.name))
    return; // vanished meanwhile
  submit(self, std::move(e));
}

/// A result for `id`, `r`, is on disk: what waited for it goes on (looked
/// at again), or fails with it, transitively, naming it.
void settle(self_ptr self, const std::string& id, const result& r) {
  auto& st = self->state;
  if (!st.deps.awaited(id))
    return;
  if (r.ok()) {
    for (auto n : st.deps.settle(id, true)) {
      auto since = st.deps.since(n);
      auto e = take(self, n);
      if (!st.stopping)
        consider(self, std::move(e), since); // runs, or waits for another
    }
    return;
  }
  for (auto n : st.deps.settle(id, false)) {
    auto e = take(self, n);
    if (!st.stopping) // else its file stays for the next start
      end_unrun(self, e, dependent_result(e.t, id, r));
  }
}

/// A result for `task_id` appeared (another node's, or ours).
void wake(self_ptr self, const std::string& task_id) {
  auto& st = self->state;
  if (!st.deps.awaited(task_id))
    return; // most results: nothing waits, nothing read
  if (auto r = st.q->find_result(task_id))
    settle(self, task_id, *r);
}

/// Whether some task file or run here may still provide `id`.
bool provided(self_ptr self, const std::string& id) {
  auto& st = self->state;
  for (auto& w : st.cfg.workers)
    if (st.inflight.count(key(w, id)) || st.q->has_task_file(w, id + ".json"))
      return true;
  return st.q->find_result(id).has_value();
}

/// Fails the tasks that waited too long for a dependency nothing provides.
void check_deps(self_ptr self) {
  auto& st = self->state;
  st.deps_check_scheduled = false;
  if (st.stopping)
    return;
  auto patience = std::chrono::milliseconds(st.cfg.dependency_wait_ms);
  for (auto& [n, dep] : st.deps.overdue(self->clock().now(), patience)) {
    // One failed here may have doomed a later one already.
    if (!st.waiting.count(n) || provided(self, dep))
      continue;
    auto e = take(self, n);
    auto why = "no task " + dep + " in tasks/, running or done after "
               + std::to_string(patience.count() / 1000) + " s";
    spdlog::warn("{}/{}: fails: dependency {}", e.worker, e.t.task_id, why);
    fail_unrun(self, e, dependency_failed_result(e.t, dep, why));
  }
  schedule_deps_check(self);
}

void schedule_deps_check(self_ptr self) {
  auto& st = self->state;
  if (st.deps_check_scheduled || st.waiting.empty())
    return;
  st.deps_check_scheduled = true;
  // At the oldest wait's deadline, but not more often than a quarter of the
  // patience while a dependency is still on its way.
  auto patience = std::chrono::milliseconds(st.cfg.dependency_wait_ms);
  auto due = std::chrono::ceil<std::chrono::milliseconds>(
    st.deps.next_check(patience) - self->clock().now());
  auto delay = std::clamp(due, patience / 4, patience);
  self->delayed_send(self, delay, retry_atom_v);
}

/// A park that ends by itself (the answer says when, resumes_at_key):
/// its marker goes then.
void end_park_later(self_ptr self, const result& r) {
  auto until = r.extra.is_object() ? r.extra.value(resumes_at_key, int64_t{0}) : 0;
  if (until <= 0)
    return;
  self->state.park_ends[r.worker] = until;
  auto wait = std::max<int64_t>(1, until - unix_now_ms());
  self->delayed_send(self, std::chrono::milliseconds(wait), unpark_atom_v, r.worker, until);
}

/// tasks/<worker>/<id>.cancel appeared: the task ends cancelled, whether
/// it waits for dependencies, waits in tasks/ (a parked worker), or runs.
void cancel(self_ptr self, const std::string& worker, const std::string& id) {
  auto& st = self->state;
  std::error_code ec;
  std::filesystem::remove(st.q->tasks_dir(worker) + "/" + id + cancel_suffix, ec);
  if (st.inflight.count(key(worker, id))) {
    spdlog::info("{}/{}: cancelled while it runs: stopping it", worker, id);
    self->request(st.orch, caf::infinite, cancel_atom_v, std::string{}, id)
      .then([=](int32_t n) {
        if (n == 0)
          spdlog::warn("{}/{}: the orchestrator had nothing to cancel", worker, id);
      });
    return;
  }
  auto name = id + ".json";
  if (auto w = st.waiting_node.find(key(worker, name)); w != st.waiting_node.end()) {
    auto e = take(self, w->second);
    spdlog::info("{}/{}: cancelled while it waited for dependencies", worker, id);
    fail_unrun(self, e, cancelled_result(e.t, "cancelled before it ran"));
    return;
  }
  auto o = st.q->read(worker, name, false, 0);
  if (o.state == fs_queue::read_state::ok || o.state == fs_queue::read_state::bad) {
    task t = o.t;
    t.task_id = id;
    t.worker = worker;
    spdlog::info("{}/{}: cancelled before it ran", worker, id);
    fail_unrun(self, file_drop_state::entry{worker, name, t},
               cancelled_result(t, "cancelled before it ran"));
    return;
  }
  spdlog::warn("{}/{}: nothing to cancel (not waiting, not running)", worker, id);
}

/// tasks/<worker>/<id>.approve or .reject appeared: the orchestrator
/// hears the answer, if the task awaits one.
void answer_approval(self_ptr self, const std::string& worker, const std::string& id,
                     bool yes) {
  auto& st = self->state;
  auto why = fs_queue::take_marker(st.q->tasks_dir(worker) + "/" + id
                                   + (yes ? approve_suffix : reject_suffix));
  if (yes)
    why.clear();
  if (!st.inflight.count(key(worker, id))) {
    spdlog::warn("{}/{}: nothing awaits approval under this id", worker, id);
    return;
  }
  self->request(st.orch, caf::infinite, approve_atom_v, std::string{}, id, yes, why)
    .then([=](int32_t n) {
      if (n == 0)
        spdlog::warn("{}/{}: {} ignored: the task does not await approval", worker, id,
                     yes ? "approve" : "reject");
      else
        spdlog::info("{}/{}: {}", worker, id, yes ? "approved" : "rejected: " + why);
    });
}

void process(self_ptr self, const std::string& worker, const std::string& name) {
  auto& st = self->state;
  if (auto id = fs_queue::cancel_marker_id(name); !id.empty()) {
    if (!st.stopping)
      cancel(self, worker, id);
    return;
  }
  for (bool yes : {true, false})
    if (auto id = fs_queue::marker_id(name, yes ? approve_suffix : reject_suffix);
        !id.empty()) {
      if (!st.stopping)
        answer_approval(self, worker, id, yes);
      return;
    }
  if (st.stopping || !fs_queue::is_candidate(name) || st.parked.count(worker))
    return;
  auto k = key(worker, name);
  if (st.waiting_node.count(k))
    return; // known, waiting for its dependencies
  auto o = st.q->read(worker, name, false, st.cfg.quiet_ms);
  switch (o.state) {
    case fs_queue::read_state::vanished:
      st.deferred.erase(k);
      return;
    case fs_queue::read_state::not_ready:
      st.deferred.insert(k);
      schedule_tick(self);
      return;
    case fs_queue::read_state::bad:
      st.deferred.erase(k);
      spdlog::warn("{}/{}: rejected: {}", worker, name, o.reason);
      st.q->reject(worker, name, o.reason);
      if (st.cfg.on_result)
        if (auto r = st.q->find_result(name.substr(0, name.size() - 5), worker))
          st.cfg.on_result(*r);
      return;
    case fs_queue::read_state::ok:
      st.deferred.erase(k);
      break;
  }
  if (st.inflight.count(key(worker, o.t.task_id)))
    return; // the same id is running: looked at again when it finishes
  consider(self, file_drop_state::entry{worker, name, std::move(o.t)});
}

void scan(self_ptr self) {
  auto& st = self->state;
  for (auto& w : st.cfg.workers)
    for (auto& name : st.q->pending(w))
      process(self, w, name);
}

/// Claims left by an earlier process: done ones are dropped, others rerun.
void recover(self_ptr self) {
  auto& st = self->state;
  for (auto& w : st.cfg.workers)
    for (auto& name : st.q->claimed(w)) {
      auto o = st.q->read(w, name, true, 0);
      if (o.state != fs_queue::read_state::ok) {
        if (o.state == fs_queue::read_state::bad)
          st.q->reject(w, name, o.reason, true);
        continue;
      }
      if (st.q->find_result(o.t.task_id, w)) {
        // Crashed between writing the result and dropping the claim.
        std::error_code ec;
        std::filesystem::remove(st.q->tasks_dir(w) + "/.claimed/" + name, ec);
        continue;
      }
      if (st.cfg.import) {
        // Claimed before this root's node used the shared queue: it goes
        // there like a new file (the claim back into tasks/ first).
        if (st.q->hand_back(w, name))
          process(self, w, name);
        continue;
      }
      spdlog::info("{}/{}: recovered a claimed task; running it again", w,
                   o.t.task_id);
      submit(self, file_drop_state::entry{w, name, std::move(o.t)});
    }
}

void maybe_finish_stop(self_ptr self);

/// Writes the results received since the last commit, drops their claims,
/// and wakes what waited for them.
void commit(self_ptr self) {
  auto& st = self->state;
  if (st.to_commit.empty())
    return;
  auto batch = std::move(st.to_commit);
  st.to_commit.clear();
  std::vector<std::pair<std::string, result>> items;
  items.reserve(batch.size());
  for (auto& [e, r] : batch)
    items.emplace_back(e.name, r);
  auto errs = st.q->complete_all(items);
  for (size_t i = 0; i < batch.size(); ++i) {
    auto& [e, r] = batch[i];
    if (!errs[i].empty()) {
      spdlog::error("{}/{}: result not written ({}); the claim stays for "
                    "recovery",
                    r.worker, r.task_id, errs[i]);
    } else {
      spdlog::debug("{}/{}: result written", r.worker, r.task_id);
      if (st.cfg.on_result)
        st.cfg.on_result(r);
      settle(self, r.task_id, r);
    }
    // A second file with this id may have arrived while it ran.
    process(self, e.worker, e.name);
  }
  maybe_finish_stop(self);
}

void maybe_finish_stop(self_ptr self) {
  auto& st = self->state;
  if (st.stop_rp && st.inflight.empty()) {
    st.stop_rp->deliver(int32_t{0});
    st.stop_rp.reset();
  }
}

} // namespace

file_drop_actor::behavior_type file_drop(self_ptr self, file_drop_settings cfg,
                                         orchestrator_actor orch) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.orch = std::move(orch);
  st.q = std::make_unique<fs_queue>(st.cfg.root, st.cfg.workers,
                                    st.cfg.max_task_bytes);
  if (auto err = st.q->prepare(); !err.empty())
    spdlog::error("file drop: {}", err);
  recover(self);
  scan(self);
  self->set_error_handler([=](caf::error& err) {
    spdlog::error("file drop: {}", self->system().render(err));
  });
  return {
    [=](fs_event_atom, int32_t kind, const std::string& worker,
        const std::string& name) {
      switch (static_cast<fs_watcher::kind>(kind)) {
        case fs_watcher::kind::task:
          spdlog::debug("{}/{}: dropped", worker, name);
          process(self, worker, name);
          break;
        case fs_watcher::kind::result:
          if (name.size() > 5 && name[0] != '.')
            wake(self, name.substr(0, name.size() - 5));
          break;
        case fs_watcher::kind::rescan:
          scan(self);
          break;
        case fs_watcher::kind::unparked:
          // caf-node unpark: the worker's tasks, kept in tasks/, run again.
          self->send(self, unpark_atom_v, worker);
          break;
      }
    },
    [=](event_atom, const task_event& e) {
      // Only while the task is ours: a late event must not leave a marker
      // behind a result that is already written.
      auto& st = self->state;
      if (!st.inflight.count(key(e.worker, e.task_id)))
        return;
      if (e.kind == "running")
        st.q->mark_running(e.worker, e.task_id);
      else if (e.kind == "awaiting_approval")
        st.q->mark_awaiting(e.worker, e.task_id, e.detail);
      else if (e.kind == "approved")
        st.q->clear_awaiting(e.worker, e.task_id);
    },
    [=](run_summary& s) {
      auto& st = self->state;
      if (s.results.empty())
        return;
      auto& r = s.results.front();
      auto i = st.inflight.find(key(r.worker, r.task_id));
      if (i == st.inflight.end())
        return; // handed back at shutdown: the next start runs it again
      spdlog::debug("{}/{}: result back", r.worker, r.task_id);
      bool parked_answer = r.error && (r.error->kind == kind::parked
                                       || r.error->kind == kind::spend_cap);
      if (is_stopped_result(r) || parked_answer) {
        // Not run: the task goes back to tasks/ and waits for a restart
        // (once the cause, credentials or a spend limit, is fixed), or for
        // the moment the park ends by itself.
        st.q->hand_back(i->second.worker, i->second.name);
        if (parked_answer && st.parked.insert(r.worker).second) {
          spdlog::warn("{}: parked; its tasks stay in tasks/{}/ ({})",
                       r.worker, r.worker, r.error->message);
          st.q->park(r.worker, r.error->message);
          end_park_later(self, r);
        }
        st.inflight.erase(i);
        maybe_finish_stop(self);
        return;
      }
      if (r.error && parks_worker(r.error->kind)
          && st.parked.insert(r.worker).second) {
        // The worker parks after this failure: say so where status reads.
        spdlog::warn("{}: parked after {}; its tasks stay in tasks/{}/",
                     r.worker, r.error->kind, r.worker);
        st.q->park(r.worker, r.error->kind + ": " + r.error->message);
        end_park_later(self, r);
      }
      if (st.to_commit.empty())
        self->send(self, flush_atom_v); // behind the results already queued
      st.to_commit.emplace_back(std::move(i->second), std::move(r));
      st.inflight.erase(i);
    },
    [=](flush_atom) { commit(self); },
    [=](retry_atom) { check_deps(self); },
    [=](tick_atom) {
      auto& st = self->state;
      st.tick_scheduled = false;
      auto keys = st.deferred; // process() edits the set
      for (auto& k : keys) {
        auto slash = k.find('/');
        process(self, k.substr(0, slash), k.substr(slash + 1));
      }
      schedule_tick(self);
    },
    [=](unpark_atom, const std::string& worker) {
      // A node of the worker is back (a restarted container with fixed
      // credentials): its tasks, kept in tasks/, run again.
      auto& st = self->state;
      if (st.stopping || !st.parked.erase(worker))
        return;
      spdlog::info("{}: unparked; the worker runs again", worker);
      st.park_ends.erase(worker);
      st.q->unpark(worker);
      scan(self);
    },
    [=](unpark_atom, const std::string& worker, int64_t until_ms) {
      // The marker goes, as `caf-node unpark` removes it: the watcher
      // then unparks the local worker first, and this drop after it.
      auto& st = self->state;
      auto i = st.park_ends.find(worker);
      if (st.stopping || i == st.park_ends.end() || i->second != until_ms)
        return;
      st.park_ends.erase(i);
      spdlog::info("{}: its park is over; its tasks in tasks/{}/ run again", worker, worker);
      st.q->unpark(worker);
    },
    [=](stop_atom, int64_t grace_ms) -> caf::result<int32_t> {
      auto& st = self->state;
      st.stopping = true;
      commit(self); // results already received are written, not dropped
      if (st.inflight.empty())
        return int32_t{0};
      auto rp = self->make_response_promise<int32_t>();
      st.stop_rp = rp;
      self->delayed_send(self, std::chrono::milliseconds(grace_ms),
                         deadline_atom_v);
      return rp;
    },
    [=](deadline_atom) {
      auto& st = self->state;
      if (!st.stop_rp)
        return;
      // Grace is over: what still runs goes back to tasks/ for next time.
      commit(self);
      int32_t n = 0;
      for (auto& [k, e] : st.inflight)
        n += st.q->hand_back(e.worker, e.name) ? 1 : 0;
      st.inflight.clear();
      st.stop_rp->deliver(n);
      st.stop_rp.reset();
    },
  };
}

} // namespace troupe
