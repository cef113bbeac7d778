#pragma once

// The run report: report.json for programs, report.md for people. Without an
// LLM synthesiser this deterministic template does the job.

#include <string>
#include <vector>

#include "core/model.hpp"

namespace troupe {

/// Everything a finished run produced, results in workflow order.
struct run_summary {
  std::string run_id;
  std::string workflow_name;
  std::string workflow_description;
  std::string started_at;
  std::string finished_at;
  int64_t duration_ms = 0;
  std::vector<task> tasks;
  std::vector<result> results;

  /// A summary of `wf` under `run_id`, finished now, without results yet.
  static run_summary of(const workflow& wf, std::string run_id,
                        std::string started_at, int64_t duration_ms);

  bool all_complete() const;
  size_t count(status s) const;
};

json report_json(const run_summary& s);
std::string report_markdown(const run_summary& s);

/// Writes `dir`/report.json, `dir`/report.md and the timeline.svg it
/// links (core/timeline_svg; the folder is created),
/// each atomically, with one durability barrier. `js` and `md` as rendered,
/// with what the caller added (an answer). The errors, one per line, or "".
std::string write_report(const std::string& dir, const json& js, const std::string& md);

} // namespace troupe
