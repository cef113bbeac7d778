#include "core/report.hpp"
#include "core/text.hpp"
#include "core/outcome.hpp"

#include <cstdio>
#include <filesystem>
#include <map>

#include "core/atomic_file.hpp"
#include "core/clock.hpp"
#include "core/artifacts.hpp"
#include "core/json_codec.hpp"
#include "core/timeline_svg.hpp"
#include "core/permissions.hpp"

namespace troupe {

namespace {

std::string money(double usd) { return usd_text(usd); }

std::string percent(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f %%", x * 100);
  return buf;
}

/// Cache reads as a share of all input the model saw.
double cache_read_ratio(const usage& u) {
  auto all = u.input_tokens + u.cache_creation_input_tokens
             + u.cache_read_input_tokens;
  return all == 0 ? 0 : static_cast<double>(u.cache_read_input_tokens) / all;
}

struct totals {
  usage tokens;
  double cost = 0;
  int64_t duration_ms = 0;
  size_t tasks = 0, complete = 0;

  void add(const result& r) {
    tokens += r.tokens;
    cost += r.cost_usd;
    duration_ms += r.duration_ms;
    ++tasks;
    complete += r.ok() ? 1 : 0;
  }

  json to_json() const {
    return {{"tasks", tasks},
            {"complete", complete},
            {"usage", troupe::to_json(tokens)},
            {"cache_read_ratio", cache_read_ratio(tokens)},
            {"cost_usd", cost},
            {"busy_ms", duration_ms}};
  }
};


/// One model's share of a run, from the results' `models`.
struct model_totals {
  usage tokens;
  double cost = 0;
  size_t tasks = 0;
};

/// What both renderings sum up: the run's totals, per worker and per
/// model, simulated?
struct tally {
  totals all;
  std::map<std::string, totals> by_worker;
  std::map<std::string, model_totals> by_model;
  bool simulated = false;

  explicit tally(const run_summary& s) {
    for (auto& r : s.results) {
      all.add(r);
      by_worker[r.worker].add(r);
      simulated |= r.simulated;
      add_models(r);
    }
  }

  void add_models(const result& r) {
    if (!r.extra.is_object())
      return;
    auto ms = r.extra.find(result_models_key);
    if (ms == r.extra.end() || !ms->is_object())
      return;
    for (auto& [name, m] : ms->items()) {
      if (!m.is_object())
        continue;
      auto& t = by_model[name];
      ++t.tasks;
      if (auto u = m.find("usage"); u != m.end())
        t.tokens += usage_from_json(*u);
      if (auto c = m.find("cost_usd"); c != m.end() && c->is_number())
        t.cost += c->get<double>();
    }
  }

  json models_json() const {
    json out = json::object();
    for (auto& [name, m] : by_model)
      out[name] = {{"tasks", m.tasks},
                   {"usage", troupe::to_json(m.tokens)},
                   {"cost_usd", m.cost}};
    return out;
  }
};

/// What a person can do about a failure of this kind.
std::string advice(const std::string& kind) {
  static const std::map<std::string, std::string> table{
    {kind::auth, "the API key or login of this worker is refused: check its key "
             "variable or log it in again (make cli-auth), then run again"},
    {kind::not_logged_in, "log this worker in (make cli-auth), then run again"},
    {kind::spend_limit, "the account's spend limit is reached: raise it in the "
                    "Anthropic console, then run again"},
    {kind::budget, "the run's budget was spent: raise budget_usd or "
               "max_budget_usd, or split the task"},
    {kind::max_turns, "the agent needed more turns: raise max_turns or split "
                  "the task"},
    {kind::timeout, "raise the task's timeout_s (or the worker's deadline_s), or "
                "split the task"},
    {kind::stalled, "the CLI went silent: check the API's status, or raise "
                "executors.claude.stall_s for long tool calls"},
    {kind::rate_limited, "the account stayed rate limited: run again later, or "
                     "lower the configured limits"},
    {kind::overloaded, "the API was overloaded: run again later"},
    {kind::server_error, "the API failed: run again later"},
    {kind::connection, "the API could not be reached: check the network"},
    {kind::dependency_failed, "fix the task it depends on; it runs then"},
    {kind::parked, "fix what parked the worker (see its failure), then run again"},
  };
  auto i = table.find(kind);
  return i != table.end() ? i->second
                          : "see the error message; run again once fixed";
}

} // namespace

run_summary run_summary::of(const workflow& wf, std::string run_id,
                            std::string started_at, int64_t duration_ms) {
  run_summary s;
  s.run_id = std::move(run_id);
  s.workflow_name = wf.name;
  s.workflow_description = wf.description;
  s.started_at = std::move(started_at);
  s.finished_at = rfc3339_now();
  s.duration_ms = duration_ms;
  return s;
}

bool run_summary::all_complete() const {
  return count(status::complete) == results.size() && !results.empty();
}

size_t run_summary::count(status s) const {
  size_t n = 0;
  for (auto& r : results)
    n += r.state == s ? 1 : 0;
  return n;
}

json report_json(const run_summary& s) {
  tally t{s};
  json tasks = json::array();
  for (auto& r : s.results)
    tasks.push_back(to_json(r));
  json workers = json::object();
  for (auto& [name, w] : t.by_worker)
    workers[name] = w.to_json();
  return {{"run_id", s.run_id},
          {"workflow", s.workflow_name},
          {"description", s.workflow_description},
          {"started_at", s.started_at},
          {"finished_at", s.finished_at},
          {"duration_ms", s.duration_ms},
          {"status", s.all_complete() ? "complete" : "failed"},
          {"simulated", t.simulated},
          {"counts",
           {{"complete", s.count(status::complete)},
            {"failed", s.count(status::failed)},
            {"rejected", s.count(status::rejected)},
            {"cancelled", s.count(status::cancelled)}}},
          {"totals", t.all.to_json()},
          {"workers", workers},
          {"models", t.models_json()},
          {"tasks", tasks}};
}

std::string report_markdown(const run_summary& s) {
  tally t{s};
  auto& all = t.all;
  std::string md = "# " + s.workflow_name + "\n\n";
  if (!s.workflow_description.empty())
    md += s.workflow_description + "\n\n";
  if (t.simulated)
    md += "> Simulated run: these results come from troupe's built-in "
          "simulator, not from an LLM.\n\n";
  md += "Run `" + s.run_id + "`, " + std::to_string(s.results.size())
        + " tasks: " + std::to_string(s.count(status::complete))
        + " complete, " + std::to_string(s.count(status::failed))
        + " failed, in " + std::to_string(s.duration_ms) + " ms. Tokens in "
        + std::to_string(all.tokens.metered_input()) + ", out "
        + std::to_string(all.tokens.output_tokens) + ", cache reads "
        + percent(cache_read_ratio(all.tokens)) + "; cost "
        + money(all.cost) + ".\n\n";
  md += "![One lane per worker, each attempt a bar coloured by its outcome](timeline.svg)\n\n";
  md += "## Results\n\n";
  for (size_t i = 0; i < s.results.size(); ++i) {
    auto& r = s.results[i];
    md += "### " + r.task_id + " (" + r.worker + "): "
          + std::string{to_string(r.state)} + "\n\n";
    if (!r.ok() && r.error)
      md += "**" + r.error->kind + "**: " + r.error->message + "\n\n";
    else if (!r.summary.empty())
      md += r.summary + "\n\n";
    for (auto& f : r.findings)
      md += "- " + f + "\n";
    if (!r.findings.empty())
      md += "\n";
    auto files = files_of(r);
    if (!files.empty()) {
      md += "Files:\n";
      for (auto& f : files)
        md += "- `" + f.path + "` (" + std::to_string(f.size)
              + " bytes, sha256 " + f.sha256.substr(0, 12) + "…"
              + (f.listed ? "" : ", written but not listed") + ")\n";
      md += "\n";
    } else if (!r.artifacts.empty()) {
      md += "Artifacts:";
      for (auto& a : r.artifacts)
        md += " `" + a + "`";
      md += "\n\n";
    }
    if (auto ds = denials_of(r); !ds.empty()) {
      md += "Refused by the CLI (not granted to " + r.worker + "):\n";
      for (auto& d : ds)
        md += "- " + d.tool + (d.input.empty() ? "" : ": `" + d.input + "`")
              + "\n";
      md += "\n";
    }
  }
  // Failures grouped by kind, each with what to do about it.
  std::map<std::string, std::vector<std::string>> failed;
  for (auto& r : s.results)
    if (!r.ok())
      failed[r.error ? r.error->kind : std::string{to_string(r.state)}]
        .push_back(r.task_id);
  if (!failed.empty()) {
    md += "## What to do next\n\n";
    for (auto& [kind, ids] : failed) {
      md += "- **" + kind + "** (";
      for (size_t i = 0; i < ids.size(); ++i)
        md += (i ? ", " : "") + ids[i];
      md += "): " + advice(kind) + ".\n";
    }
    md += "\n";
  }
  md += "## Tasks\n\n| task | worker | status | time | tokens in/out | cost |\n"
        "|---|---|---|---|---|---|\n";
  for (auto& r : s.results)
    md += "| " + r.task_id + " | " + r.worker + " | "
          + std::string{to_string(r.state)} + " | "
          + std::to_string(r.duration_ms) + " ms | "
          + std::to_string(r.tokens.metered_input()) + " / "
          + std::to_string(r.tokens.output_tokens) + " | " + money(r.cost_usd)
          + " |\n";
  md += "\n## Workers\n\n| worker | tasks | complete | tokens in/out | "
        "cache reads | cost |\n|---|---|---|---|---|---|\n";
  for (auto& [name, w] : t.by_worker)
    md += "| " + name + " | " + std::to_string(w.tasks) + " | "
          + std::to_string(w.complete) + " | "
          + std::to_string(w.tokens.metered_input()) + " / "
          + std::to_string(w.tokens.output_tokens) + " | "
          + percent(cache_read_ratio(w.tokens)) + " | " + money(w.cost)
          + " |\n";
  if (!t.by_model.empty()) {
    md += "\n## Models\n\n| model | tasks | tokens in/out | cost |\n"
          "|---|---|---|---|\n";
    for (auto& [name, m] : t.by_model)
      md += "| " + name + " | " + std::to_string(m.tasks) + " | "
            + std::to_string(m.tokens.metered_input()) + " / "
            + std::to_string(m.tokens.output_tokens) + " | " + money(m.cost)
            + " |\n";
  }
  return md;
}

std::string write_report(const std::string& dir, const json& js, const std::string& md) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return "cannot create " + dir + ": " + ec.message();
  std::string errors;
  // The picture report.md links: each attempt on its worker's lane.
  auto svg = timeline_svg(timeline_bars(js.contains("tasks") ? js["tasks"] : json::array()));
  for (auto& e : write_files_atomic({{dir + "/report.json", js.dump(2) + "\n"},
                                     {dir + "/report.md", md},
                                     {dir + "/timeline.svg", svg}}))
    if (!e.empty())
      errors += (errors.empty() ? "" : "\n") + e;
  return errors;
}

} // namespace troupe
