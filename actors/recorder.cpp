#include "actors/recorder.hpp"

#include <filesystem>

#include <spdlog/spdlog.h>

#include "caf/all.hpp"
#include "core/atomic_file.hpp"
#include "core/clock.hpp"
#include "core/json_codec.hpp"

namespace troupe {

namespace fs = std::filesystem;

namespace {

using self_ptr = recorder_actor::stateful_pointer<recorder_state>;

std::string log_name(const std::string& dir, int generation) {
  return dir + (generation == 0 ? "/events.jsonl"
                                : "/events." + std::to_string(generation) + ".jsonl");
}

bool open_log(event_log& log) {
  log.out.open(log_name(log.dir, 0), std::ios::app);
  std::error_code ec;
  auto size = fs::file_size(log_name(log.dir, 0), ec);
  log.bytes = ec ? 0 : static_cast<int64_t>(size);
  return static_cast<bool>(log.out);
}

/// Shifts events.N.jsonl up by one (dropping the oldest), makes the current
/// log events.1.jsonl and starts a new one.
bool rotate(event_log& log, int keep) {
  log.out.close();
  std::error_code ec;
  fs::remove(log_name(log.dir, keep), ec);
  for (int g = keep - 1; g >= 0; --g) // a missing generation is skipped
    fs::rename(log_name(log.dir, g), log_name(log.dir, g + 1), ec);
  return open_log(log); // keep = 0 removed the current log above
}

event_log* log_for(recorder_state& st, const std::string& run_id) {
  if (st.cfg.root.empty() || run_id.empty())
    return nullptr;
  auto& slot = st.logs[run_id];
  if (!slot) {
    slot = std::make_unique<event_log>();
    slot->dir = st.cfg.root + "/runs/" + run_id;
    std::error_code ec;
    fs::create_directories(slot->dir, ec);
    if (!open_log(*slot)) {
      spdlog::error("cannot open {}/events.jsonl", slot->dir);
      st.healthy = false;
    }
  }
  return slot.get();
}

void append(recorder_state& st, event_log& log, const std::string& line) {
  auto n = static_cast<int64_t>(line.size()) + 1;
  if (st.cfg.log_max_bytes > 0 && log.bytes > 0
      && log.bytes + n > st.cfg.log_max_bytes && !rotate(log, st.cfg.log_keep)) {
    spdlog::error("cannot start a new {}/events.jsonl", log.dir);
    st.healthy = false;
  }
  log.out << line << '\n';
  log.bytes += n;
}

} // namespace

json event_json(const task_event& e) {
  json j = {{"ts", rfc3339_now()}, {"event", e.kind}};
  if (!e.task_id.empty())
    j["task_id"] = e.task_id;
  if (!e.worker.empty())
    j["worker"] = e.worker;
  if (!e.detail.empty())
    j["detail"] = e.detail;
  return j;
}

recorder_actor::behavior_type recorder(self_ptr self, recorder_settings cfg) {
  self->state.cfg = std::move(cfg);
  return {
    [=](event_atom, task_event& e) {
      auto& st = self->state;
      auto key = e.worker + "/" + e.task_id;
      if (e.run_id.empty()) {
        auto i = st.run_of.find(key);
        if (i != st.run_of.end())
          e.run_id = i->second;
      } else if (e.kind == "queued") {
        st.run_of[key] = e.run_id;
      } else if (parse_status(e.kind)) {
        // The task's last event: a long-running node must not keep one
        // entry per task it ever ran.
        st.run_of.erase(key);
      }
      if (auto log = log_for(st, e.run_id)) {
        append(st, *log, event_json(e).dump());
        // Flushed once the events queued now are written: a long-running
        // node's log is on disk within moments, at one write per burst.
        if (!st.flush_queued) {
          st.flush_queued = true;
          self->send(self, tick_atom_v);
        }
      }
      if (st.cfg.on_event)
        st.cfg.on_event(e);
      for (auto& [kind, whom] : st.subscribers)
        if (kind.empty() || kind == e.kind)
          caf::anon_send(whom, event_atom_v, e); // whom is untyped
    },
    [=](subscribe_atom, std::string& kind, caf::actor& whom) {
      self->state.subscribers.emplace_back(std::move(kind), std::move(whom));
    },
    [=](record_atom, const result& r) {
      auto& st = self->state;
      if (st.cfg.root.empty() || !st.cfg.write_results)
        return;
      auto dir = st.cfg.root + "/results/" + r.worker;
      std::error_code ec;
      fs::create_directories(dir, ec);
      auto err = write_file_atomic(dir + "/" + r.task_id + ".json",
                                   to_json(r).dump(2) + "\n");
      if (!err.empty()) {
        spdlog::error("result of {} not written: {}", r.task_id, err);
        st.healthy = false;
      }
    },
    [=](flush_atom) {
      for (auto& [id, log] : self->state.logs)
        log->out.flush();
      return self->state.healthy;
    },
    [=](tick_atom) {
      self->state.flush_queued = false;
      for (auto& [id, log] : self->state.logs)
        log->out.flush();
    },
  };
}

} // namespace troupe
