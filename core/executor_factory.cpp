// make_executor: the executor a worker config asks for.

#include "core/claude_executor.hpp"
#include "core/command_executor.hpp"
#include "core/executor_common.hpp"
#include "core/sim_executor.hpp"

#include <filesystem>

#include "core/agents.hpp"

namespace troupe {

namespace fs = std::filesystem;

executor_ptr make_executor(const std::string& kind, const config& cfg,
                           const worker_config& w, const std::string& root,
                           std::vector<std::string>& problems) {
  auto k = kind.empty() ? w.executor : kind;
  auto paths = worker_paths::make(root, w.name);
  std::error_code ec;
  fs::create_directories(paths.workspace, ec);
  if (ec) {
    problems.push_back("cannot create " + paths.workspace + ": "
                       + ec.message());
    return nullptr;
  }
  if (k == "sim")
    return std::make_shared<sim_executor>(cfg.sim, w);
  if (k == "command") {
    if (cfg.command.argv.empty()) {
      problems.push_back(
        "executors.command.argv: required for the command executor");
      return nullptr;
    }
    return std::make_shared<command_executor>(cfg.command, w, paths);
  }
  if (k == "claude") {
    auto agents = json::object();
    if (!w.agents_dir.empty()) {
      std::vector<std::string> ps;
      agents = load_agents(w.agents_dir, ps);
      for (auto& p : ps)
        problems.push_back("workers." + w.name + ".agents: " + p);
      if (!ps.empty())
        return nullptr;
    }
    return std::make_shared<claude_executor>(cfg.claude, w, paths,
                                             std::move(agents));
  }
  problems.push_back("unknown executor \"" + k
                     + "\" (expected claude, command or sim)");
  return nullptr;
}

} // namespace troupe
