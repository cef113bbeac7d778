// A workflow file or a SUBMIT body: decoded, checked, and, when the checks
// pass, run through the dependency engine to the end: every task is
// released once and the graph finishes.
#include <cstdlib>

#include "core/task_graph.hpp"
#include "core/workflow_check.hpp"
#include "fuzz/fuzz_input.hpp"

using namespace troupe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto w = fuzz::decoded(data, size,
                         [](const json& j, problems& ps) { return workflow_from_json(j, ps); });
  problems ps;
  if (!w || !check_workflow(*w, {"marie", "anga", "fabien"}, ps))
    return 0;
  task_graph g{w->tasks};
  std::vector<size_t> todo = g.take_initial();
  size_t released = todo.size();
  // Fail every third task, complete the others.
  for (size_t k = 0; k < todo.size(); ++k) {
    auto next = k % 3 == 2 ? g.fail(todo[k]), std::vector<size_t>{} : g.complete(todo[k]);
    released += next.size();
    todo.insert(todo.end(), next.begin(), next.end());
  }
  if (!g.done() || released > w->tasks.size())
    std::abort(); // a checked workflow that does not finish
  return 0;
}
