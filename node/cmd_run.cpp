// caf-node run <workflow.json>: one workflow, one process, to its report.

#include <cstdio>
#include <filesystem>
#include <random>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "actors/team.hpp"
#include "caf/all.hpp"
#include "core/atomic_file.hpp"
#include "core/clock.hpp"
#include "core/workflow_check.hpp"
#include "node/commands.hpp"
#include "node/options.hpp"
#include "node/progress.hpp"

namespace troupe::node {

namespace fs = std::filesystem;

namespace {

struct run_options {
  common_options common;
  std::string target;
  bool json_out = false;
};

std::string new_run_id() {
  std::random_device rd;
  char suffix[8];
  std::snprintf(suffix, sizeof(suffix), "%04x", rd() & 0xffff);
  return compact_utc_now() + "-" + suffix;
}

std::optional<workflow> load_workflow(const std::string& path,
                                      const config& cfg) {
  problems ps;
  auto text = read_text_file(path, ps);
  std::optional<workflow> wf;
  if (text)
    if (auto j = parse_json_text(*text, ps))
      wf = workflow_from_json(*j, ps);
  if (wf) {
    workflow_limits limits;
    check_workflow(*wf, cfg.worker_names(), ps, limits);
  }
  if (!ps.empty()) {
    print_problems("error: workflow " + path + " refused:", ps);
    return std::nullopt;
  }
  return wf;
}

int run(const run_options& opts) {
  auto cfg = load_effective_config(opts.common);
  if (!cfg)
    return exit_usage;
  if (!fs::exists(opts.target) || fs::is_directory(opts.target)) {
    std::fprintf(stderr,
                 "error: %s is not a workflow file (planning from a "
                 "plain-language request is not available in this version)\n",
                 opts.target.c_str());
    return exit_usage;
  }
  auto wf = load_workflow(opts.target, *cfg);
  if (!wf)
    return exit_usage;
  auto root = normalize_root(opts.common.root);
  auto run_id = new_run_id();
  auto run_dir = root + "/runs/" + run_id;
  std::error_code ec;
  fs::create_directories(run_dir, ec);
  if (ec) {
    std::fprintf(stderr, "error: cannot create %s: %s\n", run_dir.c_str(),
                 ec.message().c_str());
    return exit_usage;
  }
  spdlog::info("run {}: workflow \"{}\", {} tasks, root {}", run_id, wf->name,
               wf->tasks.size(), root);
  progress_printer progress{wf->tasks.size()};
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg);
  std::optional<run_summary> summary;
  std::string failure;
  {
    caf::actor_system sys{sys_cfg};
    team_options topts;
    topts.root = root;
    topts.recording.root = root;
    topts.make_run_id = [run_id] { return run_id; };
    topts.recording.on_event = [&](const task_event& e) { progress.on_event(e); };
    problems ps;
    auto t = spawn_team(sys, *cfg, topts, ps);
    if (!t) {
      print_problems("error: cannot start the workers:", ps);
      return exit_usage;
    }
    caf::scoped_actor self{sys};
    self->request(t->orchestrator, caf::infinite, run_atom_v, *wf)
      .receive([&](run_summary& s) { summary = std::move(s); },
               [&](caf::error& err) { failure = sys.render(err); });
    stop_team(*t);
  }
  progress.close();
  if (!summary) {
    std::fprintf(stderr, "error: run failed: %s\n", failure.c_str());
    return exit_failed;
  }
  auto md = report_markdown(*summary);
  auto js = report_json(*summary);
  for (auto& [name, body] :
       {std::pair<std::string, std::string>{"report.md", md},
        {"report.json", js.dump(2) + "\n"}})
    if (auto err = write_file_atomic(run_dir + "/" + name, body);
        !err.empty())
      spdlog::error("{}", err);
  std::fputs(opts.json_out ? (js.dump(2) + "\n").c_str() : md.c_str(), stdout);
  std::fflush(stdout);
  spdlog::info("run {}: {} of {} tasks complete; report in {}",
               summary->run_id, summary->count(status::complete),
               summary->results.size(), run_dir);
  return summary->all_complete() ? exit_ok : exit_failed;
}

} // namespace

command add_run(CLI::App& app) {
  auto opts = std::make_shared<run_options>();
  auto cmd = app.add_subcommand(
    "run", "run a workflow file end to end and print its report");
  cmd->add_option("workflow", opts->target, "workflow file (JSON)")
    ->required();
  add_common_options(cmd, opts->common);
  cmd->add_flag("--json", opts->json_out,
                "print report.json instead of report.md");
  return [opts] { return run(*opts); };
}

} // namespace troupe::node
