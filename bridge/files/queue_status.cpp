#include "bridge/files/queue_status.hpp"

#include "core/day_spend.hpp"

#include <chrono>
#include <filesystem>
#include <map>

#include "bridge/files/account_park.hpp"
#include "bridge/files/fs_queue.hpp"
#include "core/clock.hpp"

namespace troupe {

namespace fs = std::filesystem;

namespace {

struct worker_status {
  size_t queued = 0, waiting = 0, claimed = 0, running = 0;
  size_t done = 0, failed = 0, rejected = 0, cancelled = 0;
  std::string oldest;
  double oldest_age_s = 0;
  std::map<std::string, std::vector<std::string>> waiting_for;
  std::string parked;
  std::vector<json> awaiting; // approval, with the estimate
};

size_t count_files(const std::string& dir) {
  size_t n = 0;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir, ec))
    n += e.is_regular_file(ec) ? 1 : 0;
  return n;
}

worker_status inspect_worker(const fs_queue& q, const std::string& w) {
  worker_status ws;
  auto now = fs::file_time_type::clock::now();
  for (auto& name : q.pending(w)) {
    ++ws.queued;
    std::error_code ec;
    auto path = q.tasks_dir(w) + "/" + name;
    auto age = std::chrono::duration<double>(now - fs::last_write_time(path, ec))
                 .count();
    if (!ec && (ws.oldest.empty() || age > ws.oldest_age_s)) {
      ws.oldest = name.substr(0, name.size() - 5);
      ws.oldest_age_s = age;
    }
    auto o = q.read(w, name, false, 0);
    if (o.state != fs_queue::read_state::ok)
      continue;
    std::vector<std::string> missing;
    for (auto& d : o.t.dependencies)
      if (!q.find_result(d))
        missing.push_back(d);
    if (!missing.empty()) {
      ++ws.waiting;
      ws.waiting_for[o.t.task_id] = missing;
    }
  }
  ws.claimed = q.claimed(w).size();
  ws.parked = q.parked(w);
  ws.awaiting = q.awaiting(w);
  ws.running = count_files(q.tasks_dir(w) + "/.running");
  std::error_code ec;
  for (auto& e : fs::directory_iterator(q.results_dir(w), ec)) {
    auto n = e.path().filename().string();
    if (!fs_queue::is_candidate(n))
      continue;
    auto r = q.find_result(n.substr(0, n.size() - 5), w);
    if (!r)
      continue;
    if (r->state == status::complete)
      ++ws.done;
    else if (r->state == status::rejected)
      ++ws.rejected;
    else if (r->state == status::cancelled) // not a failure: someone stopped it
      ++ws.cancelled;
    else
      ++ws.failed;
  }
  return ws;
}

} // namespace

json queue_status(const std::string& root, const std::set<std::string>& workers,
                  double spend_per_day_usd) {
  fs_queue q{root, {workers.begin(), workers.end()}, 1u << 20};
  json out = {{"root", root}, {"workers", json::object()}};
  for (auto& w : workers) {
    auto ws = inspect_worker(q, w);
    json j = {{"queued", ws.queued},   {"waiting", ws.waiting},
              {"claimed", ws.claimed}, {"running", ws.running},
              {"done", ws.done},       {"failed", ws.failed},
              {"rejected", ws.rejected}, {"cancelled", ws.cancelled}};
    j["oldest_waiting"] = ws.oldest.empty()
                            ? json(nullptr)
                            : json{{"task_id", ws.oldest},
                                   {"age_s", static_cast<int64_t>(ws.oldest_age_s)}};
    j["waiting_for"] = ws.waiting_for;
    j["parked"] = ws.parked.empty() ? json(nullptr) : json(ws.parked);
    j["awaiting_approval"] = ws.awaiting;
    out["workers"][w] = j;
  }
  auto now = unix_now_ms();
  if (auto park = read_account_park(root, now))
    out["account_parked"] = *park;
  // What the claude runs on this root cost today (UTC), against the cap.
  auto today = read_day_spend(root, utc_day(now));
  json spend = {{"day", today.day}, {"usd", today.usd}, {"runs", today.runs},
                {"cap_usd", spend_per_day_usd > 0 ? json(spend_per_day_usd) : json(nullptr)}};
  if (auto until = day_cap_holds_until(today, spend_per_day_usd, now))
    spend["capped_until"] = rfc3339_of_ms(*until);
  out["spend_today"] = std::move(spend);
  return out;
}

} // namespace troupe
