#include "bridge/zmq/producer_desk.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "bridge/files/queue_status.hpp"
#include "core/atomic_file.hpp"
#include "core/clock.hpp"
#include "core/outcome.hpp"
#include "core/report.hpp"

namespace troupe {

namespace {

std::string key(const std::string& worker, const std::string& task_id) {
  return worker + "/" + task_id;
}

/// Writes task files with one durability barrier; the first error or "".
std::string write_all(const std::vector<std::pair<std::string, std::string>>& files) {
  for (auto& e : write_files_atomic(files))
    if (!e.empty())
      return e;
  return {};
}

} // namespace

producer_desk::producer_desk(settings s)
  : cfg_(std::move(s)),
    q_(cfg_.root, {cfg_.workers.begin(), cfg_.workers.end()}, cfg_.max_task_bytes) {
}

void producer_desk::say(const envelope& to, wire::command cmd, json body) {
  out_.push_back({to, cmd, std::move(body)});
}

void producer_desk::refuse(const envelope& to, const std::string& what,
                           const problems& ps) {
  // The problems in the reason too: a client that shows only the reason
  // still says what to fix.
  auto reason = what;
  for (size_t i = 0; i < ps.size(); ++i)
    reason += (i == 0 ? ": " : "; ") + ps[i];
  say(to, wire::command::error, {{"reason", reason}, {"problems", ps}});
}

/// The file to write for a task, or nullopt when there is nothing to write
/// (`existing`: a result exists already; else the same task file is there
/// from an earlier submission: one task, one result) or it cannot be (the
/// reason in `err`).
std::optional<std::pair<std::string, std::string>>
producer_desk::task_file(const task& t, bool& existing, std::string& err) {
  existing = q_.find_result(t.task_id, t.worker).has_value();
  if (existing)
    return std::nullopt;
  auto name = t.task_id + ".json";
  if (q_.has_task_file(t.worker, name))
    return std::nullopt;
  // Compact, as it arrived: the file drop checks the same limit on the
  // file's size, so what passes here passes there.
  auto body = to_json(t).dump() + "\n";
  if (body.size() > cfg_.max_task_bytes) {
    err = "task " + t.task_id + ": " + std::to_string(body.size())
          + " bytes, more than the limit of " + std::to_string(cfg_.max_task_bytes);
    return std::nullopt;
  }
  return std::make_pair(q_.tasks_dir(t.worker) + "/" + name, std::move(body));
}

void producer_desk::submit_task(const envelope& from, const json& tj, bool wait,
                                const nodes_view& nodes) {
  problems ps;
  auto t = task_from_json(tj, ps);
  if (t && !cfg_.workers.count(t->worker))
    ps.push_back("worker \"" + t->worker + "\": not configured");
  if (t && std::count(t->dependencies.begin(), t->dependencies.end(), t->task_id))
    ps.push_back("dependencies: " + t->task_id + " depends on itself");
  if (!t || !ps.empty()) {
    refuse(from, "task refused", ps);
    return;
  }
  bool existing = false;
  std::string err;
  auto file = task_file(*t, existing, err);
  if (file)
    err = write_all({*file});
  if (!err.empty()) {
    say(from, wire::command::error, {{"reason", err}});
    return;
  }
  json ok = {{"task_id", t->task_id}, {"worker", t->worker}, {"existing", existing}};
  // 0 tells a producer that waits why nothing happens yet.
  if (nodes.serving)
    ok["nodes"] = nodes.serving(t->worker);
  say(from, wire::command::accepted, std::move(ok));
  if (!wait)
    return;
  if (existing)
    say(from, wire::command::result,
        {{"result", to_json(*q_.find_result(t->task_id, t->worker))}});
  else
    waiters_[key(t->worker, t->task_id)].push_back(from);
}

void producer_desk::submit_workflow(const envelope& from, const json& wj, bool wait,
                                    time_point now, const nodes_view& nodes) {
  problems ps;
  auto wf = workflow_from_json(wj, ps);
  if (wf)
    check_workflow(*wf, cfg_.workers, ps, cfg_.limits);
  if (!wf || !ps.empty()) {
    refuse(from, "workflow refused", ps);
    return;
  }
  wire_run run;
  run.run_id = "wire-" + compact_utc_now() + "-" + std::to_string(next_run_++);
  run.started_at = rfc3339_now();
  run.t0 = now;
  json ids = json::array();
  std::vector<std::pair<std::string, std::string>> files;
  std::string err;
  if (wf->budget_usd)
    run.budget.emplace(*wf->budget_usd);
  for (size_t i = 0; i < wf->tasks.size(); ++i) {
    auto& t = wf->tasks[i];
    bool existing = false;
    // With a budget, a task goes into tasks/ only when it is reserved
    // (release); checked here all the same, so that all or nothing holds.
    if (auto f = task_file(t, existing, err); f && !run.budget)
      files.push_back(std::move(*f));
    if (!err.empty())
      break;
    ids.push_back(t.task_id);
    if (!existing) {
      run.remaining.insert(key(t.worker, t.task_id));
      if (run.budget)
        run.held.push_back(i);
    }
  }
  // All or nothing: every task is checked before anything is written.
  if (err.empty())
    err = write_all(files);
  if (!err.empty()) {
    say(from, wire::command::error, {{"reason", err}});
    return;
  }
  for (auto& k : run.remaining)
    run_of_[k].insert(run.run_id);
  if (wait)
    run.reply_to = from;
  run.wf = std::move(*wf);
  std::vector<result> ended;
  if (run.budget)
    release(run, ended);
  json ok = {{"run_id", run.run_id}, {"tasks", ids}};
  // The answer a person reads is written by `caf-node run` (the planner's
  // LLM); a wire run's is its REPORT. Said, not dropped without a word.
  if (run.wf.synthesize && !cfg_.synthesizes)
    ok["notes"] = json::array({"synthesize: this orchestrator has no LLM of its own "
                               "(orchestrator.prompt, a claude executor): the REPORT is the answer"});
  if (nodes.serving) {
    // The workers of this workflow that no node serves now: its tasks wait.
    std::set<std::string> unserved;
    for (auto& t : run.wf.tasks)
      if (nodes.serving(t.worker) == 0)
        unserved.insert(t.worker);
    ok["unserved"] = unserved;
  }
  say(from, wire::command::accepted, std::move(ok));
  auto id = run.run_id;
  runs_.emplace(id, std::move(run));
  for (auto& r : ended)
    result_written(r, now);
  maybe_finish_run(id, now);
}

void producer_desk::release(wire_run& run, std::vector<result>& ended) {
  auto& b = *run.budget;
  // A task of the run without its result yet is in `remaining`.
  std::set<std::string> unanswered;
  for (auto& k : run.remaining)
    unanswered.insert(k.substr(k.find('/') + 1));
  std::vector<size_t> still;
  for (size_t n = 0; n < run.held.size(); ++n) {
    auto i = run.held[n];
    auto t = run.wf.tasks[i];
    bool ready = std::none_of(t.dependencies.begin(), t.dependencies.end(),
                              [&](const std::string& d) { return unanswered.count(d) > 0; });
    if (!ready) {
      still.push_back(i);
      continue;
    }
    // Not started: this one, the others held, and none of those written.
    auto got = b.reserve(t.budget_usd, run.held.size() - n + still.size(), 0);
    auto k = key(t.worker, t.task_id);
    std::string err;
    if (auto why = std::get_if<std::string>(&got)) {
      auto r = make_failure(t, status::cancelled, kind::budget, *why);
      r.completed_at = rfc3339_now();
      if (err = q_.complete("", r); err.empty()) {
        ended.push_back(std::move(r));
        continue;
      }
    } else {
      t.budget_usd = std::get<double>(got);
      run.share[k] = *t.budget_usd;
      bool existing = false;
      if (auto f = task_file(t, existing, err))
        err = write_all({*f});
      if (err.empty())
        continue;
    }
    spdlog::error("run {}: task {} could not be written: {}", run.run_id, t.task_id, err);
  }
  run.held = std::move(still);
}

void producer_desk::maybe_finish_run(const std::string& run_id, time_point now) {
  auto i = runs_.find(run_id);
  if (i == runs_.end() || !i->second.remaining.empty())
    return;
  auto& run = i->second;
  auto s = run_summary::of(
    run.wf, run.run_id, run.started_at,
    std::chrono::duration_cast<std::chrono::milliseconds>(now - run.t0).count());
  s.tasks = run.wf.tasks;
  for (auto& t : run.wf.tasks)
    if (auto r = q_.find_result(t.task_id, t.worker))
      s.results.push_back(*r);
  auto js = report_json(s);
  auto md = report_markdown(s);
  if (run.wf.synthesize && cfg_.synthesizes) {
    // The report goes out with the answer, once the LLM has written it.
    std::optional<double> left;
    if (run.budget)
      left = run.budget->left();
    syntheses_.push_back({run.run_id,
                          run.wf.name + (run.wf.description.empty() ? "" : "\n\n" + run.wf.description),
                          s, left});
    answering_[run.run_id] = {run.reply_to, std::move(js), std::move(md),
                              s.all_complete() ? "complete" : "failed"};
    runs_.erase(i);
    return;
  }
  // The producer still gets its REPORT: the results themselves are safe in
  // results/, only this summary of them is missing on disk.
  if (auto err = write_report(cfg_.root + "/runs/" + run.run_id, js, md); !err.empty())
    spdlog::error("run {}: the report was not written: {}", run.run_id, err);
  if (run.reply_to)
    say(*run.reply_to, wire::command::report,
        {{"run_id", run.run_id},
         {"status", s.all_complete() ? "complete" : "failed"},
         {"report", js}});
  runs_.erase(i);
}

void producer_desk::synthesized(const std::string& run_id,
                                const std::optional<std::string>& answer,
                                const std::string& error, double cost_usd) {
  auto i = answering_.find(run_id);
  if (i == answering_.end())
    return;
  auto& a = i->second;
  // As `caf-node run` writes them: the answer first, the results after.
  if (answer) {
    a.markdown = *answer + "\n\n---\n\n" + a.markdown;
    a.report["answer"] = *answer;
  } else {
    a.markdown = "> The answer could not be written (" + error + "); the results follow.\n\n"
                 + a.markdown;
    a.report["synthesis_error"] = error;
  }
  if (cost_usd > 0)
    a.report["orchestrator_cost_usd"] = cost_usd;
  if (auto err = write_report(cfg_.root + "/runs/" + run_id, a.report, a.markdown); !err.empty())
    spdlog::error("run {}: the report was not written: {}", run_id, err);
  if (a.reply_to)
    say(*a.reply_to, wire::command::report,
        {{"run_id", run_id}, {"status", a.status}, {"report", a.report}});
  answering_.erase(i);
}

void producer_desk::result_written(const result& r, time_point now) {
  auto k = key(r.worker, r.task_id);
  if (auto w = waiters_.find(k); w != waiters_.end()) {
    for (auto& env : w->second)
      say(env, wire::command::result, {{"result", to_json(r)}});
    waiters_.erase(w);
  }
  if (auto ro = run_of_.find(k); ro != run_of_.end()) {
    auto ids = std::move(ro->second);
    run_of_.erase(ro);
    for (auto& id : ids) {
      if (auto run = runs_.find(id); run != runs_.end()) {
        run->second.remaining.erase(k);
        if (run->second.budget) {
          // Its reservation comes back, less what it spent; the held
          // tasks it unblocks are reserved from what is left now.
          auto s = run->second.share.find(k);
          run->second.budget->settle(s == run->second.share.end() ? 0.0 : s->second, r.cost_usd);
          if (s != run->second.share.end())
            run->second.share.erase(s);
          std::vector<result> ended;
          release(run->second, ended);
          for (auto& e : ended)
            result_written(e, now);
        }
      }
      maybe_finish_run(id, now);
    }
  }
}

std::string producer_desk::cancel_one(const std::string& worker, const std::string& id,
                                      std::vector<result>& ended, std::string& err) {
  auto name = id + ".json";
  if (!cfg_.workers.count(worker) || !fs_queue::is_candidate(name))
    return {};
  if (!q_.claim(worker, name)) {
    // Not waiting: if it is claimed, it runs (or is about to); the serve
    // of this root stops it, and its result says cancelled.
    if (!q_.is_claimed(worker, id))
      return {};
    err = q_.ask_cancel(worker, id);
    return err.empty() ? "running" : "";
  }
  auto o = q_.read(worker, name, true, 0);
  task t;
  t.task_id = id;
  t.worker = worker;
  if (o.state == fs_queue::read_state::ok)
    t = o.t;
  auto r = cancelled_result(t, "cancelled by a producer before it ran");
  r.completed_at = rfc3339_now();
  if (err = q_.complete(name, r); !err.empty())
    return {};
  ended.push_back(std::move(r));
  return "waiting";
}

void producer_desk::cancel(const envelope& from, const wire::cancel_body& c,
                           time_point now) {
  std::string err;
  std::vector<result> ended;
  if (c.run_id.empty()) {
    auto was = cancel_one(c.worker, c.task_id, ended, err);
    if (was.empty())
      say(from, wire::command::error,
          {{"reason", err.empty() ? c.worker + "/" + c.task_id
                                      + " is neither waiting nor running (done or unknown)"
                                  : err}});
    else
      say(from, wire::command::cancelled, {{"task_id", c.task_id}, {"was", was}});
    for (auto& r : ended)
      result_written(r, now);
    return;
  }
  auto run = runs_.find(c.run_id);
  if (run == runs_.end()) {
    say(from, wire::command::error,
        {{"reason", "no run " + c.run_id + " going (finished or unknown)"}});
    return;
  }
  json waiting = json::array(), running = json::array();
  // What remains now (result_written, later, takes ended tasks out).
  auto remaining = run->second.remaining;
  for (auto& k : remaining) {
    auto slash = k.find('/');
    auto worker = k.substr(0, slash), id = k.substr(slash + 1);
    auto was = cancel_one(worker, id, ended, err);
    if (was == "running")
      running.push_back(id);
    else if (was == "waiting")
      waiting.push_back(id);
  }
  say(from, wire::command::cancelled,
      {{"run_id", c.run_id}, {"waiting", waiting}, {"running", running}});
  for (auto& r : ended)
    result_written(r, now);
}

void producer_desk::approve(const envelope& from, const wire::approve_body& a) {
  // Only a task that awaits approval here: its marker tells the file drop.
  bool awaits = cfg_.workers.count(a.worker) && valid_task_id(a.task_id);
  if (awaits) {
    awaits = false;
    for (auto& x : q_.awaiting(a.worker))
      awaits = awaits || x.value("task_id", "") == a.task_id;
  }
  if (!awaits) {
    say(from, wire::command::error,
        {{"reason", a.worker + "/" + a.task_id + " does not await approval"}});
    return;
  }
  if (auto err = q_.ask_approval(a.worker, a.task_id, a.approve, a.why); !err.empty()) {
    say(from, wire::command::error, {{"reason", err}});
    return;
  }
  say(from, wire::command::approved,
      {{"worker", a.worker}, {"task_id", a.task_id}, {"approve", a.approve}});
}

void producer_desk::on_message(const envelope& from, const wire::message& m,
                               time_point now,
                               const nodes_view& nodes) {
  using wire::command;
  std::string err;
  switch (wire::command_of(m.cmd)) {
    case command::submit: {
      wire::submit_body sb;
      if (!wire::decode(m.body, sb, err))
        break;
      if (sb.task)
        submit_task(from, *sb.task, sb.wait, nodes);
      else
        submit_workflow(from, *sb.workflow, sb.wait, now, nodes);
      return;
    }
    case command::status: {
      auto s = queue_status(cfg_.root, cfg_.workers, cfg_.spend_per_day_usd);
      s.erase("root"); // the orchestrator's own paths are not a producer's business
      if (nodes.add_to_status)
        nodes.add_to_status(s);
      say(from, command::status, std::move(s));
      return;
    }
    case command::cancel: {
      wire::cancel_body c;
      if (!wire::decode(m.body, c, err)) {
        err = m.cmd + ": " + err;
        break;
      }
      cancel(from, c, now);
      return;
    }
    case command::approve: {
      wire::approve_body a;
      if (!wire::decode(m.body, a, err))
        break; // the decoder names the command
      approve(from, a);
      return;
    }
    case command::result: {
      wire::task_ref ref;
      if (!wire::decode(m.body, ref, err)) {
        err = m.cmd + ": " + err;
        break;
      }
      auto r = cfg_.workers.count(ref.worker) ? q_.find_result(ref.task_id, ref.worker)
                                              : std::nullopt;
      if (r)
        say(from, command::result, {{"result", to_json(*r)}});
      else
        say(from, command::error,
            {{"reason", "no result for " + ref.worker + "/" + ref.task_id}});
      return;
    }
    case command::heartbeat:
      say(from, command::heartbeat, json::object());
      return;
    default:
      err = "unknown command \"" + wire::printable(m.cmd) + "\"";
  }
  say(from, command::error, {{"reason", err}});
}

} // namespace troupe
