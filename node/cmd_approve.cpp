// caf-node approve <task_id> | reject <task_id> --why TEXT: a person's answer
// to a task that awaits approval ("approve": true on the task or its
// worker). Locally it leaves a marker for the process that holds the task
// (the serve of the root: tasks/<worker>/<id>.approve or .reject; a run:
// runs/<run_id>/<id>.approve or .reject); with --connect it asks the
// orchestrator (APPROVE, docs/PROTOCOL.md §4).

#include <cstdio>
#include <filesystem>

#include <CLI/CLI.hpp>

#include "bridge/files/fs_queue.hpp"
#include "core/atomic_file.hpp"
#include "core/json_codec.hpp"
#include "node/bridge_options.hpp"
#include "node/commands.hpp"
#include "node/options.hpp"
#include "node/producer_link.hpp"
#include "node/run_control.hpp"

namespace troupe::node {

namespace {

namespace fs = std::filesystem;

struct approve_options {
  bool yes = true;
  std::string task_id;
  std::string why;
  std::string worker;
  std::string run_id;
  std::string root = ".";
  std::string connect; // empty: this root
  curve_options curve;
};

const char* verb(const approve_options& o) { return o.yes ? "approve" : "reject"; }

int answer_run(const approve_options& opts, const std::string& root) {
  auto dir = root + "/runs/" + opts.run_id;
  if (opts.run_id.find('/') != std::string::npos || !fs::is_directory(dir)) {
    std::fprintf(stderr, "error: no run %s in %s/runs/\n", opts.run_id.c_str(), root.c_str());
    return exit_usage;
  }
  if (!fs::exists(dir + "/" + run_awaiting_dir + "/" + opts.task_id + ".json")) {
    std::fprintf(stderr, "error: %s does not await approval in run %s\n",
                 opts.task_id.c_str(), opts.run_id.c_str());
    return exit_usage;
  }
  auto marker = dir + "/" + opts.task_id + (opts.yes ? approve_suffix : reject_suffix);
  if (auto err = write_file_atomic(marker, opts.why); !err.empty()) {
    std::fprintf(stderr, "error: %s\n", err.c_str());
    return exit_failed;
  }
  std::printf("%s %s in run %s: %s\n", opts.yes ? "approved" : "rejected",
              opts.task_id.c_str(), opts.run_id.c_str(),
              opts.yes ? "it starts now" : "it ends cancelled (rejected), and so do its dependents");
  return exit_ok;
}

int answer_local(const approve_options& opts) {
  auto root = normalize_root(opts.root);
  if (!opts.run_id.empty())
    return answer_run(opts, root);
  // The serve of this root lists what awaits in tasks/<worker>/.awaiting/.
  std::vector<std::string> workers;
  std::error_code ec;
  for (auto& w : fs::directory_iterator(root + "/tasks", ec)) {
    auto name = w.path().filename().string();
    if (!w.is_directory(ec) || name.empty() || name[0] == '.'
        || (!opts.worker.empty() && name != opts.worker))
      continue;
    if (fs::exists(w.path() / ".awaiting" / (opts.task_id + ".json"), ec))
      workers.push_back(name);
  }
  if (workers.empty()) {
    std::fprintf(stderr, "error: no task %s awaits approval in %s/tasks/ (caf-node status "
                         "lists them; a run's: --run RUN_ID)\n",
                 opts.task_id.c_str(), root.c_str());
    return exit_usage;
  }
  if (workers.size() > 1) {
    std::fprintf(stderr, "error: %s awaits approval for several workers; say which with --worker\n",
                 opts.task_id.c_str());
    return exit_usage;
  }
  fs_queue q{root, workers, 0};
  if (auto err = q.ask_approval(workers[0], opts.task_id, opts.yes, opts.why); !err.empty()) {
    std::fprintf(stderr, "error: %s\n", err.c_str());
    return exit_failed;
  }
  std::printf("%s %s/%s: the serve of %s %s\n", opts.yes ? "approved" : "rejected",
              workers[0].c_str(), opts.task_id.c_str(), root.c_str(),
              opts.yes ? "starts it" : "ends it cancelled (rejected)");
  return exit_ok;
}

int answer_remote(const approve_options& opts) {
  if (opts.worker.empty()) {
    std::fprintf(stderr, "error: --connect needs --worker\n");
    return exit_usage;
  }
  return ask_orchestrator(opts.connect, opts.curve, wire::command::approve,
                          json{{"worker", opts.worker}, {"task_id", opts.task_id},
                               {"approve", opts.yes}, {"why", opts.why}});
}

int approve_cmd(const approve_options& opts) {
  if (!valid_task_id(opts.task_id)) {
    std::fprintf(stderr, "error: \"%s\" is not a task id\n", opts.task_id.c_str());
    return exit_usage;
  }
  return opts.connect.empty() ? answer_local(opts) : answer_remote(opts);
}

command add_answer(CLI::App& app, bool yes) {
  auto opts = std::make_shared<approve_options>();
  opts->yes = yes;
  auto cmd = app.add_subcommand(
    verb(*opts), yes ? "let a task that awaits approval start"
                     : "refuse a task that awaits approval: it ends cancelled "
                       "(rejected), with why, and its dependents with it");
  cmd->add_option("task_id", opts->task_id, "the task awaiting approval")->required();
  if (!yes)
    cmd->add_option("--why", opts->why, "why it is refused (kept in its result)")->required();
  cmd->add_option("--run", opts->run_id, "the task is in this `run` going in the root")
    ->type_name("RUN_ID");
  cmd->add_option("--worker", opts->worker,
                  "the task's worker (found in tasks/ when not given; needed with --connect)");
  cmd->add_option("--root", opts->root, "the node's root folder")->capture_default_str();
  cmd->add_option("--connect", opts->connect,
                  "ask the orchestrator at this producer endpoint instead, e.g. "
                  "tcp://127.0.0.1:5556");
  add_curve_client_options(cmd, opts->curve);
  return [opts] { return approve_cmd(*opts); };
}

} // namespace

command add_approve(CLI::App& app) { return add_answer(app, true); }
command add_reject(CLI::App& app) { return add_answer(app, false); }

} // namespace troupe::node
