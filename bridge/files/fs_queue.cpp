#include "bridge/files/fs_queue.hpp"
#include "core/outcome.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic_file.hpp"
#include "core/clock.hpp"

namespace troupe {

namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size()
         && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string stem_of(const std::string& name) {
  return ends_with(name, ".json") ? name.substr(0, name.size() - 5) : name;
}

std::vector<std::string> list(const std::string& dir) {
  std::vector<std::string> xs;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file(ec) && fs_queue::is_candidate(e.path().filename()))
      xs.push_back(e.path().filename());
  return xs;
}

/// A stem that is safe as a result file name: no separators, not hidden.
bool usable_stem(const std::string& stem) {
  return !stem.empty() && stem[0] != '.' && stem.find('/') == std::string::npos
         && stem.size() <= 200;
}

} // namespace

fs_queue::fs_queue(std::string root, std::vector<std::string> workers,
                   size_t max_task_bytes)
  : root_(std::move(root)), workers_(std::move(workers)),
    max_bytes_(max_task_bytes) {
}

std::string fs_queue::tasks_dir(const std::string& w) const {
  return root_ + "/tasks/" + w;
}

std::string fs_queue::results_dir(const std::string& w) const {
  return root_ + "/results/" + w;
}

std::string fs_queue::prepare() {
  for (auto& w : workers_) {
    std::error_code ec;
    for (std::string dir : {tasks_dir(w), tasks_dir(w) + "/.claimed",
                            tasks_dir(w) + "/.running", tasks_dir(w) + "/.awaiting",
                            tasks_dir(w) + "/.rejected", results_dir(w)})
      if (fs::create_directories(dir, ec); ec)
        return "cannot create " + dir + ": " + ec.message();
    // Leftovers of a crash: temp results (never renamed) and run markers.
    for (auto& e : fs::directory_iterator(results_dir(w), ec)) {
      auto n = e.path().filename().string();
      if (n[0] == '.' && n.find(".tmp.") != std::string::npos)
        fs::remove(e.path(), ec);
    }
    // A task that awaited approval awaits it again once it is ready.
    for (auto sub : {"/.running", "/.awaiting"})
      for (auto& e : fs::directory_iterator(tasks_dir(w) + sub, ec))
        fs::remove(e.path(), ec);
    fs::remove(tasks_dir(w) + "/" + parked_marker, ec);
  }
  return {};
}

bool fs_queue::is_candidate(const std::string& name) {
  if (name.empty() || name[0] == '.' || !ends_with(name, ".json"))
    return false;
  return !ends_with(name, ".tmp") && !ends_with(name, ".swp")
         && !ends_with(name, "~");
}

std::vector<std::string> fs_queue::pending(const std::string& worker) const {
  return list(tasks_dir(worker));
}

std::vector<std::string> fs_queue::claimed(const std::string& worker) const {
  return list(tasks_dir(worker) + "/.claimed");
}

fs_queue::read_outcome fs_queue::read(const std::string& worker,
                                      const std::string& name,
                                      bool from_claimed,
                                      int64_t quiet_ms) const {
  read_outcome out;
  auto path = tasks_dir(worker) + (from_claimed ? "/.claimed/" : "/") + name;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return out; // vanished
  struct stat st {};
  ::fstat(fd, &st);
  auto now = std::chrono::system_clock::now().time_since_epoch();
  auto mtime = std::chrono::seconds(st.st_mtim.tv_sec)
               + std::chrono::nanoseconds(st.st_mtim.tv_nsec);
  out.age_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - mtime)
                 .count();
  if (static_cast<size_t>(st.st_size) > max_bytes_) {
    ::close(fd);
    out.state = read_state::bad;
    out.reason = "file is " + std::to_string(st.st_size)
                 + " bytes, more than the limit of "
                 + std::to_string(max_bytes_);
    return out;
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < text.size()) {
    auto n = ::read(fd, text.data() + got, text.size() - got);
    if (n <= 0)
      break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  text.resize(got);
  // An empty file is someone's open-then-write, not yet a task; a file that
  // does not parse may still be growing until it has been quiet long
  // enough, closed or not: `>` then `>>` closes it between the halves.
  bool maybe_growing = !from_claimed && out.age_ms < quiet_ms;
  if (text.empty() && maybe_growing) {
    out.state = read_state::not_ready;
    return out;
  }
  problems ps;
  auto j = parse_json_text(text, ps);
  if (!j && maybe_growing) {
    out.state = read_state::not_ready;
    return out;
  }
  std::optional<task> t;
  if (j)
    t = task_from_json(*j, ps);
  if (t && t->worker != worker)
    ps.push_back("worker \"" + t->worker + "\": does not match the folder tasks/"
                 + worker + "/");
  if (t && t->task_id + ".json" != name)
    ps.push_back("task_id \"" + t->task_id + "\": the file must be named "
                 + t->task_id + ".json");
  if (!ps.empty()) {
    out.state = read_state::bad;
    for (auto& p : ps)
      out.reason += (out.reason.empty() ? "" : "; ") + p;
    return out;
  }
  out.state = read_state::ok;
  out.t = std::move(*t);
  return out;
}

bool fs_queue::claim(const std::string& worker, const std::string& name) {
  auto from = tasks_dir(worker) + "/" + name;
  auto to = tasks_dir(worker) + "/.claimed/" + name;
  return std::rename(from.c_str(), to.c_str()) == 0;
}

bool fs_queue::hand_back(const std::string& worker, const std::string& name) {
  auto from = tasks_dir(worker) + "/.claimed/" + name;
  auto to = tasks_dir(worker) + "/" + name;
  std::error_code ec;
  fs::remove(tasks_dir(worker) + "/.running/" + stem_of(name), ec);
  fs::remove(tasks_dir(worker) + "/.awaiting/" + stem_of(name) + ".json", ec);
  return std::rename(from.c_str(), to.c_str()) == 0;
}

std::string fs_queue::complete(const std::string& name, const result& r) {
  return complete_all({{name, r}}).front();
}

std::vector<std::string> fs_queue::complete_all(
  const std::vector<std::pair<std::string, result>>& items) {
  std::vector<std::pair<std::string, std::string>> files;
  files.reserve(items.size());
  for (auto& [name, r] : items)
    files.emplace_back(results_dir(r.worker) + "/" + r.task_id + ".json",
                       to_json(r).dump(2) + "\n");
  auto errs = write_files_atomic(files);
  std::error_code ec;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!errs[i].empty())
      continue; // the claim stays: recovery will run the task again
    auto& [name, r] = items[i];
    if (!name.empty())
      fs::remove(tasks_dir(r.worker) + "/.claimed/" + name, ec);
    fs::remove(tasks_dir(r.worker) + "/.running/" + r.task_id, ec);
    fs::remove(tasks_dir(r.worker) + "/.awaiting/" + r.task_id + ".json", ec);
  }
  return errs;
}

void fs_queue::reject(const std::string& worker, const std::string& name,
                      const std::string& reason, bool from_claimed) {
  auto from = tasks_dir(worker) + (from_claimed ? "/.claimed/" : "/") + name;
  auto to = tasks_dir(worker) + "/.rejected/" + name;
  std::error_code ec;
  if (fs::exists(to, ec))
    to += "." + compact_utc_now() + "." + std::to_string(::getpid());
  std::rename(from.c_str(), to.c_str());
  auto stem = stem_of(name);
  if (!usable_stem(stem))
    return;
  auto path = results_dir(worker) + "/" + stem + ".json";
  if (fs::exists(path, ec))
    return; // never overwrite a task's real result with a rejection
  result r;
  r.task_id = stem;
  r.worker = worker;
  r.state = status::rejected;
  r.completed_at = rfc3339_now();
  r.summary = "rejected: " + reason;
  r.error = error_info{kind::bad_input, reason};
  write_file_atomic(path, to_json(r).dump(2) + "\n");
}

void fs_queue::discard(const std::string& worker, const std::string& name) {
  std::error_code ec;
  fs::remove(tasks_dir(worker) + "/" + name, ec);
}

std::optional<result> fs_queue::find_result(const std::string& task_id,
                                            const std::string& worker) const {
  auto try_one = [&](const std::string& w) -> std::optional<result> {
    problems ps;
    auto text = read_text_file(results_dir(w) + "/" + task_id + ".json", ps);
    if (!text)
      return std::nullopt;
    auto j = parse_json_text(*text, ps);
    return j ? result_from_json(*j, ps) : std::nullopt;
  };
  if (!worker.empty())
    return try_one(worker);
  for (auto& w : workers_)
    if (auto r = try_one(w))
      return r;
  return std::nullopt;
}

void fs_queue::park(const std::string& worker, const std::string& reason) {
  write_file_atomic(tasks_dir(worker) + "/" + parked_marker, reason + "\n");
}

void fs_queue::unpark(const std::string& worker) {
  std::error_code ec;
  fs::remove(tasks_dir(worker) + "/" + parked_marker, ec);
}

std::string fs_queue::parked(const std::string& worker) const {
  problems ps;
  auto text = read_text_file(tasks_dir(worker) + "/" + parked_marker, ps);
  if (!text)
    return {};
  while (!text->empty() && text->back() == '\n')
    text->pop_back();
  return *text;
}

void fs_queue::mark_running(const std::string& worker,
                            const std::string& task_id) {
  auto path = tasks_dir(worker) + "/.running/" + task_id;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0)
    ::close(fd);
}

std::string fs_queue::ask_cancel(const std::string& worker,
                                 const std::string& task_id) const {
  return write_file_atomic(tasks_dir(worker) + "/" + task_id + cancel_suffix, "");
}

std::string fs_queue::cancel_marker_id(const std::string& name) {
  return marker_id(name, cancel_suffix);
}

std::string fs_queue::ask_approval(const std::string& worker, const std::string& task_id,
                                   bool yes, const std::string& why) const {
  return write_file_atomic(tasks_dir(worker) + "/" + task_id
                             + (yes ? approve_suffix : reject_suffix),
                           why);
}

void fs_queue::mark_awaiting(const std::string& worker, const std::string& task_id,
                             const std::string& estimate) {
  json j = {{"task_id", task_id}, {"worker", worker}, {"since", rfc3339_now()},
            {"estimate", estimate}};
  write_file_atomic(tasks_dir(worker) + "/.awaiting/" + task_id + ".json", j.dump() + "\n");
}

void fs_queue::clear_awaiting(const std::string& worker, const std::string& task_id) {
  std::error_code ec;
  fs::remove(tasks_dir(worker) + "/.awaiting/" + task_id + ".json", ec);
}

std::vector<json> fs_queue::awaiting(const std::string& worker) const {
  std::vector<json> xs;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(tasks_dir(worker) + "/.awaiting", ec)) {
    problems ps;
    if (auto text = read_text_file(e.path().string(), ps))
      if (auto j = json::parse(*text, nullptr, false); j.is_object())
        xs.push_back(std::move(j));
  }
  std::sort(xs.begin(), xs.end(), [](const json& a, const json& b) {
    return a.value("since", "") < b.value("since", "");
  });
  return xs;
}

std::string fs_queue::take_marker(const std::string& path) {
  problems ps;
  auto text = read_text_file(path, ps).value_or("");
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
    text.pop_back();
  std::error_code ec;
  fs::remove(path, ec);
  return text;
}

std::string fs_queue::marker_id(const std::string& name, const char* suffix_text) {
  std::string_view n{name}, suffix{suffix_text};
  if (n.size() <= suffix.size() || n[0] == '.'
      || n.substr(n.size() - suffix.size()) != suffix)
    return {};
  auto id = std::string{n.substr(0, n.size() - suffix.size())};
  return valid_task_id(id) ? id : std::string{};
}

bool fs_queue::is_claimed(const std::string& worker, const std::string& task_id) const {
  std::error_code ec;
  return fs::exists(tasks_dir(worker) + "/.claimed/" + task_id + ".json", ec);
}

bool fs_queue::has_task_file(const std::string& worker, const std::string& name) const {
  std::error_code ec;
  return fs::exists(tasks_dir(worker) + "/" + name, ec)
         || fs::exists(tasks_dir(worker) + "/.claimed/" + name, ec);
}

} // namespace troupe
