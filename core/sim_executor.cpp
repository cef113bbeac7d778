#include "core/sim_executor.hpp"
#include "core/json_codec.hpp"
#include "core/outcome.hpp"

#include <cstdio>

#include "core/clock.hpp"
#include "core/executor_common.hpp"

namespace troupe {

namespace {

/// FNV-1a: a stable hash, so the same task gives the same output everywhere.
uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string first_words(const std::string& s, size_t n) {
  if (s.size() <= n)
    return s;
  auto cut = s.rfind(' ', n);
  return s.substr(0, cut == std::string::npos ? n : cut) + "...";
}

} // namespace

sim_executor::sim_executor(sim_settings s, worker_config w)
  : settings_(std::move(s)), worker_(std::move(w)) {
}

std::chrono::milliseconds sim_executor::latency() const {
  return std::chrono::milliseconds(settings_.latency_ms);
}

result sim_executor::run(const task& t, int attempt, const run_hooks&) const {
  auto r = begin_result(t, attempt, worker_.model);
  r.simulated = true;
  r.duration_ms = settings_.latency_ms;
  auto h = fnv1a(t.task_id + "\n" + t.description);
  char sid[40];
  std::snprintf(sid, sizeof(sid), "sim-%016llx",
                static_cast<unsigned long long>(h));
  r.session_id = sid;
  r.tokens.input_tokens = settings_.input_tokens
                          + static_cast<int64_t>(t.description.size() / 4);
  r.tokens.output_tokens = settings_.output_tokens;
  r.cost_usd = (r.tokens.input_tokens * settings_.usd_per_mtok_in
                + r.tokens.output_tokens * settings_.usd_per_mtok_out)
               / 1e6;
  // The cap holds here as the CLI's does: the run stops where it reaches
  // it, having spent it.
  auto cap = t.budget_usd ? t.budget_usd : worker_.max_budget_usd;
  if (cap && r.cost_usd > *cap) {
    char msg[128];
    std::snprintf(msg, sizeof msg, "simulated run reached its budget of $%.4f", *cap);
    r.cost_usd = *cap;
    fail_result(r, kind::budget, msg);
  } else if (t.context.is_object() && string_member(t.context, "sim_outcome") == "failed") {
    fail_result(r, string_member(t.context, "sim_error_kind", kind::crashed),
                "simulated failure requested by the task");
  } else {
    r.state = status::complete;
    r.summary = "[simulated] " + worker_.name + " handled " + t.task_id + ": "
                + first_words(t.description, 100);
    auto deps = t.context.find("dependency_results");
    size_t n_deps = deps != t.context.end() && deps->is_object()
                      ? deps->size()
                      : 0;
    r.findings = {"simulated finding " + std::to_string(h % 97) + " for "
                    + t.task_id,
                  "built on " + std::to_string(n_deps)
                    + " dependency result(s)"};
  }
  r.completed_at = rfc3339_now();
  return r;
}

} // namespace troupe
