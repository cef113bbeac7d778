#include "bridge/files/file_drop.hpp"

#include "core/outcome.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "bridge/files/fs_watcher.hpp"
#include "caf/all.hpp"
#include "core/prompt.hpp"

namespace troupe {

namespace {

using self_ptr = file_drop_actor::stateful_pointer<file_drop_state>;

std::string key(const std::string& a, const std::string& b) {
  return a + "/" + b;
}

void process(self_ptr self, const std::string& worker, const std::string& name,
             bool just_closed);

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

void wake(self_ptr self, const std::string& task_id);

/// Ends a task file we hold without running it: `r` is its result.
void fail_unrun(self_ptr self, const file_drop_state::entry& e, const result& r) {
  auto& st = self->state;
  if (!st.q->claim(e.worker, e.name))
    return; // vanished meanwhile
  if (auto err = st.q->complete(e.name, r); !err.empty())
    spdlog::error("{}/{}: {}", e.worker, e.t.task_id, err);
  else if (st.cfg.on_result)
    st.cfg.on_result(r);
  wake(self, e.t.task_id);
}

void schedule_deps_check(self_ptr self);

/// Decides what to do with a valid task file: no-op, wait, fail, or run.
void consider(self_ptr self, file_drop_state::entry e) {
  auto& st = self->state;
  auto& t = e.t;
  auto k = key(e.worker, e.name);
  if (st.q->find_result(t.task_id, e.worker)) {
    spdlog::info("{}/{}: already has a result; the new file is a no-op",
                 e.worker, t.task_id);
    st.deps.remove(k);
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
      st.deps.remove(k);
      fail_unrun(self, e, dependency_failed_result(t, d, failure_reason(*r)));
      return;
    }
  }
  if (!missing.empty()) {
    auto cycle = st.deps.add(k, t.task_id, missing, self->clock().now());
    if (!cycle.empty()) {
      // Waiting would never end. This task fails naming the cycle; the
      // others in it then fail as its dependents.
      auto why = "dependency cycle: " + dependency_wait::describe(cycle);
      spdlog::warn("{}/{}: {}", e.worker, t.task_id, why);
      st.deps.remove(k);
      st.waiting.erase(k);
      fail_unrun(self, e, dependency_failed_result(t, cycle[1], why));
      return;
    }
    spdlog::debug("{}/{}: waits for {}", e.worker, t.task_id, missing.front());
    st.waiting.insert_or_assign(k, std::move(e));
    schedule_deps_check(self);
    return;
  }
  st.deps.remove(k);
  st.waiting.erase(k);
  if (!st.q->claim(e.worker, e.name))
    return; // vanished meanwhile
  submit(self, std::move(e));
}

/// Re-examines the tasks that waited for `task_id`.
void wake(self_ptr self, const std::string& task_id) {
  auto& st = self->state;
  for (auto& k : st.deps.waiting_for(task_id)) {
    auto w = st.waiting.find(k);
    if (w == st.waiting.end()) {
      st.deps.remove(k);
      continue;
    }
    auto e = std::move(w->second);
    st.waiting.erase(w);
    if (st.stopping)
      st.deps.remove(k);
    else
      consider(self, std::move(e)); // waits again, or goes on
  }
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
  for (auto& [k, dep] : st.deps.overdue(self->clock().now(), patience)) {
    if (provided(self, dep))
      continue;
    auto w = st.waiting.find(k);
    st.deps.remove(k);
    if (w == st.waiting.end())
      continue;
    auto e = std::move(w->second);
    st.waiting.erase(w);
    auto why = "no task " + dep + " in tasks/, running or done after "
               + std::to_string(patience.count() / 1000) + " s";
    spdlog::warn("{}/{}: fails: dependency {}", e.worker, e.t.task_id, why);
    fail_unrun(self, e, dependency_failed_result(e.t, dep, why));
  }
  schedule_deps_check(self);
}

void schedule_deps_check(self_ptr self) {
  auto& st = self->state;
  if (st.deps_check_scheduled || st.deps.empty())
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

void process(self_ptr self, const std::string& worker, const std::string& name,
             bool just_closed) {
  auto& st = self->state;
  if (st.stopping || !fs_queue::is_candidate(name) || st.parked.count(worker))
    return;
  auto k = key(worker, name);
  if (st.waiting.count(k))
    return; // known, waiting for its dependencies
  auto o = st.q->read(worker, name, false, just_closed, st.cfg.quiet_ms);
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
      process(self, w, name, false);
}

/// Claims left by an earlier process: done ones are dropped, others rerun.
void recover(self_ptr self) {
  auto& st = self->state;
  for (auto& w : st.cfg.workers)
    for (auto& name : st.q->claimed(w)) {
      auto o = st.q->read(w, name, true, true, 0);
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
    if (!errs[i].empty())
      spdlog::error("{}/{}: result not written ({}); the claim stays for "
                    "recovery",
                    r.worker, r.task_id, errs[i]);
    else if (st.cfg.on_result)
      st.cfg.on_result(r);
    spdlog::debug("{}/{}: result written", r.worker, r.task_id);
    wake(self, r.task_id);
    // A second file with this id may have arrived while it ran.
    process(self, e.worker, e.name, false);
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
          process(self, worker, name, true);
          break;
        case fs_watcher::kind::result:
          if (name.size() > 5 && name[0] != '.')
            wake(self, name.substr(0, name.size() - 5));
          break;
        case fs_watcher::kind::rescan:
          scan(self);
          break;
      }
    },
    [=](event_atom, const task_event& e) {
      // Only while the task is ours: a late event must not leave a marker
      // behind a result that is already written.
      if (e.kind == "running"
          && self->state.inflight.count(key(e.worker, e.task_id)))
        self->state.q->mark_running(e.worker, e.task_id);
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
      if (is_stopped_result(r) || (r.error && r.error->kind == kind::parked)) {
        // Not run: the task goes back to tasks/ and waits for a restart
        // (once the cause, credentials or a spend limit, is fixed).
        st.q->hand_back(i->second.worker, i->second.name);
        if (r.error->kind == kind::parked && st.parked.insert(r.worker).second) {
          spdlog::warn("{}: parked; its tasks stay in tasks/{}/ ({})",
                       r.worker, r.worker, r.error->message);
          st.q->park(r.worker, r.error->message);
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
        process(self, k.substr(0, slash), k.substr(slash + 1), false);
      }
      schedule_tick(self);
    },
    [=](unpark_atom, const std::string& worker) {
      // A node of the worker is back (a restarted container with fixed
      // credentials): its tasks, kept in tasks/, run again.
      auto& st = self->state;
      if (st.stopping || !st.parked.erase(worker))
        return;
      spdlog::info("{}: a node that takes tasks is up; the worker runs again", worker);
      st.q->unpark(worker);
      scan(self);
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
