#include "core/run_history.hpp"

#include <algorithm>
#include <filesystem>
#include <set>
#include <tuple>

#include "core/json_codec.hpp"
#include "core/pricing.hpp"

namespace troupe {

namespace fs = std::filesystem;

namespace {

struct seen_result {
  std::string completed_at;
  past_run run;
};

using found_map = std::map<std::string, std::map<std::string, seen_result>>;

void take(const json& j, found_map& found) {
  if (!j.is_object())
    return;
  problems ps;
  auto r = result_from_json(j, ps);
  if (!r || !r->ok() || r->simulated || r->worker.empty())
    return;
  // The same result (one task, one completion) counts once.
  auto key = r->task_id + "\n" + r->completed_at;
  // Written to the cache, the prefix would have been read from it by a run
  // that came soon after (list prices: the history knows no config).
  auto price = price_of(r->model);
  auto warm = r->cost_usd
              - static_cast<double>(r->tokens.cache_creation_input_tokens)
                  * (price.cache_write - price.cache_read) / 1e6;
  past_run p{r->cost_usd, static_cast<double>(r->tokens.metered_input()),
             static_cast<double>(r->tokens.output_tokens),
             static_cast<double>(r->duration_ms), std::max(0.0, warm)};
  found[r->worker].emplace(key, seen_result{r->completed_at, p});
}

void take_file(const fs::path& path, found_map& found, bool report) {
  problems ps;
  auto text = read_text_file(path.string(), ps);
  if (!text)
    return;
  auto j = parse_json_or_discard(*text);
  if (!report) {
    take(j, found);
    return;
  }
  if (j.is_object())
    if (auto t = j.find("tasks"); t != j.end() && t->is_array())
      for (auto& r : *t)
        take(r, found);
}

} // namespace

run_history load_history(const std::string& root) {
  found_map found;
  std::error_code ec;
  for (auto& w : fs::directory_iterator(root + "/results", ec))
    if (w.is_directory(ec))
      for (auto& f : fs::directory_iterator(w.path(), ec))
        if (f.path().extension() == ".json")
          take_file(f.path(), found, false);
  for (auto& run : fs::directory_iterator(root + "/runs", ec))
    if (fs::exists(run.path() / "report.json", ec))
      take_file(run.path() / "report.json", found, true);
  run_history h;
  for (auto& [worker, by_key] : found) {
    std::vector<const seen_result*> xs;
    for (auto& [k, s] : by_key)
      xs.push_back(&s);
    // RFC 3339 UTC stamps sort as text.
    std::stable_sort(xs.begin(), xs.end(), [](auto* a, auto* b) {
      return a->completed_at < b->completed_at;
    });
    for (auto* s : xs)
      h[worker].push_back(s->run);
  }
  return h;
}

} // namespace troupe
