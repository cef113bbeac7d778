// caf-node validate <file>...: checks task, workflow and config files and
// prints every problem.

#include <cstdio>
#include <filesystem>

#include <CLI/CLI.hpp>

#include "core/config.hpp"
#include "core/workflow_check.hpp"
#include "node/commands.hpp"
#include "node/options.hpp"

namespace troupe::node {

namespace {

struct validate_options {
  std::vector<std::string> files;
  std::string config_path;
};

/// The ids and dependencies of a workflow's tasks, as far as they are
/// strings, whatever else is wrong with them.
std::vector<task> graph_skeleton(const json& wf) {
  std::vector<task> out;
  auto ts = wf.find("tasks");
  if (ts == wf.end() || !ts->is_array())
    return out;
  for (auto& x : *ts) {
    task t;
    t.task_id = string_member(x, "task_id");
    if (x.is_object()) {
      if (auto ds = x.find("dependencies"); ds != x.end() && ds->is_array())
        for (auto& d : *ds)
          if (d.is_string())
            t.dependencies.push_back(d.get<std::string>());
    }
    out.push_back(std::move(t));
  }
  return out;
}

/// Checks one file; returns true if it is valid.
bool validate_file(const std::string& path, const validate_options& opts) {
  problems ps;
  std::string what;
  auto text = read_text_file(path, ps);
  std::optional<json> j;
  if (text)
    j = parse_json_text(*text, ps);
  if (j && j->is_object() && j->contains("workers")) {
    what = "config";
    auto base = std::filesystem::absolute(path).parent_path().string();
    if (auto cfg = config_from_json(*j, base, ps))
      check_config_files(*cfg, ps);
  } else if (j && j->is_object() && j->contains("tasks")) {
    what = "workflow";
    if (auto wf = workflow_from_json(*j, ps)) {
      problems cfg_ps;
      auto cfg_path = opts.config_path.empty() ? std::string{"config/troupe.json"}
                                               : opts.config_path;
      auto cfg = load_config(cfg_path, cfg_ps);
      std::set<std::string> workers;
      if (cfg) {
        workers = cfg->worker_names();
      } else {
        // Without a config the worker names cannot be checked; say so.
        for (auto& t : wf->tasks)
          workers.insert(t.worker);
        std::fprintf(stderr, "note: %s: worker names not checked (%s)\n",
                     path.c_str(), cfg_ps.empty() ? "" : cfg_ps[0].c_str());
      }
      if (check_workflow(*wf, workers, ps))
        what += " (" + std::to_string(wf->tasks.size())
                + (wf->tasks.size() == 1 ? " task)" : " tasks)");
    } else {
      // Schema problems: the graph is still checked, on what each task
      // names, so that one run shows every problem.
      check_task_graph(graph_skeleton(*j), ps);
    }
  } else if (j) {
    what = "task";
    task_from_json(*j, ps);
  }
  if (!ps.empty()) {
    print_problems(path + ": invalid" + (what.empty() ? "" : " " + what) + ":",
                   ps);
    return false;
  }
  std::printf("%s: valid %s\n", path.c_str(), what.c_str());
  return true;
}

} // namespace

command add_validate(CLI::App& app) {
  auto opts = std::make_shared<validate_options>();
  auto cmd = app.add_subcommand(
    "validate", "check task, workflow or config files and print every problem");
  cmd->add_option("files", opts->files, "files to check")->required();
  cmd->add_option("--config", opts->config_path,
                  "config whose workers a workflow may use (default "
                  "config/troupe.json)");
  return [opts] {
    bool ok = true;
    for (auto& f : opts->files)
      ok = validate_file(f, *opts) && ok;
    return ok ? exit_ok : exit_failed;
  };
}

} // namespace troupe::node
