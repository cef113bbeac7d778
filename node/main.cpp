// caf-node: one binary for every role of troupe.

#include <cstdio>
#include <map>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "node/commands.hpp"

int main(int argc, char** argv) {
  using namespace troupe::node;
  // Logs go to stderr; stdout is for results and reports.
  auto logger = spdlog::stderr_color_mt("troupe");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%f %^%l%$ %v");
  CLI::App app{"troupe: run a team of LLM agents (Claude Code CLI workers "
               "coordinated by CAF actors)",
               "caf-node"};
  app.set_version_flag("--version", std::string{"caf-node " TROUPE_VERSION});
  app.require_subcommand(1);
  app.fallthrough(); // --log-level also after the subcommand
  std::string level = "info";
  app.add_option("--log-level", level, "trace, debug, info, warn, error, off")
    ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  std::map<CLI::App*, command> commands;
  auto add = [&](command (*f)(CLI::App&)) {
    auto before = app.get_subcommands({}).size();
    auto cmd = f(app);
    commands[app.get_subcommands({})[before]] = std::move(cmd);
  };
  add(add_run);
  add(add_estimate);
  add(add_validate);
  add(add_serve);
  add(add_status);
  add(add_orchestrator);
  add(add_worker);
  add(add_submit);
  add(add_keygen);
  add(add_unpark);
  add(add_cancel);
  add(add_approve);
  add(add_reject);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    auto rc = app.exit(e);
    return rc == 0 ? 0 : exit_usage;
  }
  spdlog::set_level(spdlog::level::from_str(level));
  for (auto& [sub, cmd] : commands)
    if (sub->parsed())
      return cmd();
  return exit_usage;
}
