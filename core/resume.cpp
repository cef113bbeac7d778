#include "core/resume.hpp"

#include <set>

#include "core/json_codec.hpp"
#include "core/sha256.hpp"

namespace troupe {

std::string task_digest(const task& t) {
  return sha256_hex(to_json(t).dump(-1, ' ', false, json::error_handler_t::replace));
}

std::vector<std::string>
reusable_tasks(const workflow& wf, const std::map<std::string, std::string>& complete) {
  std::map<std::string, const task*> by_id;
  for (auto& t : wf.tasks)
    by_id[t.task_id] = &t;
  // Decided in dependency order, each once; a cycle (refused earlier by
  // check_workflow) reuses nothing.
  std::map<std::string, bool> decided;
  std::set<std::string> visiting;
  auto reusable = [&](auto& self, const task& t) -> bool {
    if (auto d = decided.find(t.task_id); d != decided.end())
      return d->second;
    if (!visiting.insert(t.task_id).second)
      return false;
    auto c = complete.find(t.task_id);
    bool ok = c != complete.end() && c->second == task_digest(t);
    for (auto& dep : t.dependencies) {
      auto d = by_id.find(dep);
      // A dependency outside the workflow is the file drop's: not here.
      ok = ok && d != by_id.end() && self(self, *d->second);
    }
    visiting.erase(t.task_id);
    return decided[t.task_id] = ok;
  };
  std::vector<std::string> out;
  for (auto& t : wf.tasks)
    if (reusable(reusable, t))
      out.push_back(t.task_id);
  return out;
}

std::vector<result> prior_results(const workflow& wf, const std::string& root) {
  std::map<std::string, std::string> complete;
  std::map<std::string, result> found;
  for (auto& t : wf.tasks) {
    problems ps;
    auto text = read_text_file(root + "/results/" + t.worker + "/" + t.task_id + ".json", ps);
    if (!text)
      continue;
    auto j = parse_json_or_discard(*text);
    if (!j.is_object())
      continue;
    auto r = result_from_json(j, ps);
    if (!r || !r->ok() || r->worker != t.worker)
      continue;
    auto d = r->extra.find(task_digest_key);
    if (d == r->extra.end() || !d->is_string())
      continue;
    complete[t.task_id] = d->get<std::string>();
    found.emplace(t.task_id, std::move(*r));
  }
  std::vector<result> out;
  for (auto& id : reusable_tasks(wf, complete))
    out.push_back(std::move(found.at(id)));
  return out;
}

} // namespace troupe
