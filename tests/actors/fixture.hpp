#pragma once

// Shared pieces of the actor suites: the test config that registers the
// type-ID block, and a scripted executor whose outcomes the test decides.

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "actors/messages.hpp"
#include "caf/test/dsl.hpp"
#include "core/executor.hpp"

namespace troupe::testing {

struct test_config : caf::actor_system_config {
  test_config() {
    add_message_types<caf::id_block::troupe>();
  }
};

/// Runs nothing: returns what the test scripted, and remembers each call.
/// Under the deterministic scheduler everything runs on one thread.
class scripted_executor : public executor {
public:
  /// Per task id, the error kind of each attempt ("" = complete).
  std::map<std::string, std::vector<std::string>> outcomes;
  /// Per error kind, its message (default "scripted <kind>").
  std::map<std::string, std::string> messages;
  std::chrono::milliseconds lat{0};
  bool is_blocking = false;
  double cost = 0; // cost_usd of every run
  /// Per task id, its cost instead of `cost`.
  std::map<std::string, double> costs;
  /// Set: a run honours its budget_usd as the CLI does, spending at most
  /// this much past it (its last turn); unset: it ignores the cap.
  std::optional<double> past_cap;

  mutable std::vector<task> seen;

  result run(const task& t, int, const run_hooks& = {}) const override {
    seen.push_back(t);
    result r;
    r.task_id = t.task_id;
    r.worker = t.worker;
    auto attempt = 0;
    for (auto& s : seen)
      attempt += s.task_id == t.task_id ? 1 : 0;
    auto c = costs.count(t.task_id) ? costs.at(t.task_id) : cost;
    if (past_cap && t.budget_usd)
      c = std::min(c, *t.budget_usd + *past_cap);
    r.cost_usd = c;
    std::string kind;
    if (auto i = outcomes.find(t.task_id); i != outcomes.end()
                                           && attempt <= int(i->second.size()))
      kind = i->second[attempt - 1];
    if (kind.empty()) {
      r.state = status::complete;
      r.summary = "did " + t.task_id;
      r.findings = {"finding of " + t.task_id};
      r.artifacts = {"workspaces/" + t.worker + "/" + t.task_id + ".md"};
      r.tokens.input_tokens = 100;
      r.tokens.output_tokens = 10;
    } else {
      r.state = status::failed;
      auto m = messages.find(kind);
      r.error = error_info{kind, m != messages.end() ? m->second : "scripted " + kind};
    }
    return r;
  }
  bool blocking() const override { return is_blocking; }
  std::chrono::milliseconds latency() const override { return lat; }
  std::string kind() const override { return "scripted"; }

  std::vector<std::string> order() const {
    std::vector<std::string> xs;
    for (auto& t : seen)
      xs.push_back(t.task_id);
    return xs;
  }
};

inline task mk_task(std::string id, std::string worker,
                    std::vector<std::string> deps = {},
                    priority p = priority::medium) {
  task t;
  t.task_id = std::move(id);
  t.worker = std::move(worker);
  t.description = "do " + t.task_id;
  t.dependencies = std::move(deps);
  t.prio = p;
  return t;
}

} // namespace troupe::testing
