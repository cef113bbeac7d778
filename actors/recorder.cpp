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

std::ofstream* log_for(recorder_state& st, const std::string& run_id) {
  if (st.cfg.root.empty() || run_id.empty())
    return nullptr;
  auto& slot = st.logs[run_id];
  if (!slot) {
    auto dir = st.cfg.root + "/runs/" + run_id;
    std::error_code ec;
    fs::create_directories(dir, ec);
    slot = std::make_unique<std::ofstream>(dir + "/events.jsonl",
                                           std::ios::app);
    if (!*slot) {
      spdlog::error("cannot open {}/events.jsonl", dir);
      st.healthy = false;
    }
  }
  return slot.get();
}

} // namespace

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
        json j = {{"ts", rfc3339_now()}, {"event", e.kind}};
        if (!e.task_id.empty())
          j["task_id"] = e.task_id;
        if (!e.worker.empty())
          j["worker"] = e.worker;
        if (!e.detail.empty())
          j["detail"] = e.detail;
        *log << j.dump() << '\n';
        // Flushed once the events queued now are written: a long-running
        // node's log is on disk within moments, at one write per burst.
        if (!st.flush_queued) {
          st.flush_queued = true;
          self->send(self, tick_atom_v);
        }
      }
      if (st.cfg.on_event)
        st.cfg.on_event(e);
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
        log->flush();
      return self->state.healthy;
    },
    [=](tick_atom) {
      self->state.flush_queued = false;
      for (auto& [id, log] : self->state.logs)
        log->flush();
    },
  };
}

} // namespace troupe
