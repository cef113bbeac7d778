#include "core/executor_common.hpp"
#include "core/outcome.hpp"

#include <filesystem>

#include "core/agents.hpp"
#include "core/clock.hpp"
#include "core/handoff.hpp"
#include "core/prompt.hpp"

namespace troupe {


namespace fs = std::filesystem;

worker_paths worker_paths::make(const std::string& root,
                                const std::string& worker) {
  worker_paths p;
  p.root = fs::absolute(root).lexically_normal().string();
  p.workspace_rel = "workspaces/" + worker;
  p.workspace = p.root + "/" + p.workspace_rel;
  p.auth_home = p.root + "/auth-homes/" + worker;
  return p;
}

result begin_result(const task& t, int attempt, const std::string& model) {
  result r;
  r.task_id = t.task_id;
  r.worker = t.worker;
  r.attempt = attempt;
  r.model = t.model ? *t.model : model;
  return r;
}

void end_result(result& r) {
  r.completed_at = rfc3339_now();
}

worker_files worker_files::make(const worker_paths& p, const worker_config& w) {
  for (auto& d : w.add_dirs) {
    std::error_code ec;
    fs::create_directories(fs::path{d}.is_absolute() ? fs::path{d}
                                                      : fs::path{p.root} / d,
                           ec);
  }
  worker_files f;
  f.scope = artifact_scope::make(p.root, p.workspace, w.add_dirs);
  return f;
}

attempt_files::attempt_files(const worker_files& w)
  : w_(w), ticket_(w.overlap->begin()) {
  if (ticket_.alone_at_start)
    before_ = snapshot_folders(w_.scope.writable);
}

attempt_files::~attempt_files() {
  if (!ended_)
    w_.overlap->end(ticket_);
}

void attempt_files::check(result& r, const std::vector<std::string>& written) {
  ended_ = true;
  bool alone = w_.overlap->end(ticket_);
  if (!r.ok())
    return;
  auto all = written;
  if (alone && before_)
    if (auto after = snapshot_folders(w_.scope.writable)) {
      // A worker node writes a task's inputs while others run: they are
      // nobody's work.
      auto inputs = w_.scope.workspace + "/" + inputs_folder;
      for (auto& f : changed_files(*before_, *after))
        if (!path_within(f, inputs))
          all.push_back(f);
    }
  auto c = check_artifacts(r.artifacts, all, w_.scope);
  if (!c.error.empty()) {
    r.summary.clear();
    fail_result(r, kind::bad_output,
                "the reported artifacts do not check out: " + c.error);
    return;
  }
  r.artifacts = std::move(c.artifacts);
  set_files(r, c.files);
}

void fail_result(result& r, std::string kind, std::string message) {
  r.state = status::failed;
  if (r.summary.empty())
    r.summary = message;
  r.error = error_info{std::move(kind), std::move(message)};
}

bool classify_supervision(const process_outcome& o, result& r) {
  if (!o.started) {
    fail_result(r, kind::crashed, "could not start " + o.start_error);
    return true;
  }
  if (o.cancelled) {
    fail_result(r, kind::cancelled, "cancelled while it ran; process group stopped");
    r.state = status::cancelled;
    return true;
  }
  if (o.timed_out) {
    fail_result(r, kind::timeout,
                "no result within the deadline of "
                  + std::to_string(o.duration_ms / 1000)
                  + " s; process group killed");
    return true;
  }
  if (o.stalled) {
    fail_result(r, kind::stalled,
                "no output for the stall limit (after "
                  + std::to_string(o.duration_ms / 1000)
                  + " s in all); process group killed");
    return true;
  }
  return false;
}

std::string tail(const std::string& s, size_t n) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

std::string crash_message(const std::string& what, const process_outcome& o) {
  auto said = tail(o.err.empty() ? o.out : o.err);
  return what + " " + o.describe() + (said.empty() ? "" : ": " + said);
}

std::chrono::milliseconds task_deadline(const task& t, const worker_config& w) {
  double s = t.timeout_s ? *t.timeout_s : w.deadline_s;
  return std::chrono::milliseconds(static_cast<int64_t>(s * 1000));
}

} // namespace troupe
