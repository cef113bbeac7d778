#include "core/workflow_check.hpp"

#include <algorithm>
#include <functional>
#include <unordered_map>

namespace troupe {

namespace {

std::string join(const std::set<std::string>& xs) {
  std::string out;
  for (auto& x : xs)
    out += (out.empty() ? "" : ", ") + x;
  return out;
}

} // namespace

bool check_task_graph(const std::vector<task>& tasks, problems& out,
                      const workflow_limits& limits) {
  auto before = out.size();
  auto n = tasks.size();
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < n; ++i) {
    auto& t = tasks[i];
    if (t.task_id.empty())
      continue; // no id: its own decoder said so
    if (!index.emplace(t.task_id, i).second)
      out.push_back("tasks[" + std::to_string(i) + "].task_id \"" + t.task_id
                    + "\": duplicate id (also tasks["
                    + std::to_string(index[t.task_id]) + "])");
  }
  bool deps_ok = true;
  for (size_t i = 0; i < n; ++i) {
    auto& t = tasks[i];
    for (auto& d : t.dependencies) {
      if (d == t.task_id) {
        out.push_back("tasks[" + std::to_string(i) + "] \"" + t.task_id
                      + "\": depends on itself");
        deps_ok = false;
      } else if (index.count(d) == 0) {
        out.push_back("tasks[" + std::to_string(i) + "] \"" + t.task_id
                      + "\": dependency \"" + d + "\" does not exist");
        deps_ok = false;
      }
    }
  }
  if (!deps_ok || out.size() != before)
    return out.size() == before;
  // Depth-first search with colours; a grey node reached again closes a
  // cycle, which is reported as the path around it.
  enum colour { white, grey, black };
  std::vector<colour> c(n, white);
  std::vector<size_t> depth(n, 1);
  std::vector<size_t> stack;
  size_t max_depth = 0;
  std::function<bool(size_t)> visit = [&](size_t i) -> bool {
    c[i] = grey;
    stack.push_back(i);
    for (auto& d : tasks[i].dependencies) {
      auto j = index[d];
      if (c[j] == grey) {
        std::string path;
        auto from = std::find(stack.begin(), stack.end(), j);
        for (auto k = from; k != stack.end(); ++k)
          path += tasks[*k].task_id + " -> ";
        out.push_back("dependency cycle: " + path + tasks[j].task_id);
        return false;
      }
      if (c[j] == white && !visit(j))
        return false;
      depth[i] = std::max(depth[i], depth[j] + 1);
    }
    stack.pop_back();
    c[i] = black;
    max_depth = std::max(max_depth, depth[i]);
    return true;
  };
  for (size_t i = 0; i < n; ++i)
    if (c[i] == white && !visit(i))
      break;
  if (out.size() == before && max_depth > limits.max_depth)
    out.push_back("tasks: dependency chain of depth "
                  + std::to_string(max_depth) + ", at most "
                  + std::to_string(limits.max_depth) + " allowed");
  return out.size() == before;
}

bool check_workflow(const workflow& w, const std::set<std::string>& workers,
                    problems& out, const workflow_limits& limits) {
  auto before = out.size();
  auto n = w.tasks.size();
  if (n > limits.max_tasks)
    out.push_back("tasks: " + std::to_string(n) + " tasks, at most "
                  + std::to_string(limits.max_tasks) + " allowed");
  for (size_t i = 0; i < n; ++i) {
    auto& t = w.tasks[i];
    if (workers.count(t.worker) == 0)
      out.push_back("tasks[" + std::to_string(i) + "].worker \"" + t.worker
                    + "\": not a configured worker (configured: "
                    + join(workers) + ")");
  }
  check_task_graph(w.tasks, out, limits);
  return out.size() == before;
}

} // namespace troupe
