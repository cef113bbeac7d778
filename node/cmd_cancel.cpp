// caf-node cancel <task_id> | --run RUN_ID: stops work that waits or runs.
// Locally it leaves a marker for the process that holds the work (the
// serve of the root: tasks/<worker>/<id>.cancel; a run: runs/<id>/cancel);
// with --connect it asks the orchestrator (CANCEL, docs/PROTOCOL.md §4).
// Either way the task's result says `cancelled`.

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

struct cancel_options {
  std::string task_id;
  std::string worker;
  std::string run_id;
  std::string root = ".";
  std::string connect; // empty: this root
  curve_options curve;
};

/// The workers under root/tasks/ that hold `id`, waiting or claimed.
std::vector<std::string> holders(const std::string& root, const std::string& id) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto& w : fs::directory_iterator(root + "/tasks", ec)) {
    auto name = w.path().filename().string();
    if (!w.is_directory(ec) || name.empty() || name[0] == '.')
      continue;
    if (fs::exists(w.path() / (id + ".json"), ec)
        || fs::exists(w.path() / ".claimed" / (id + ".json"), ec))
      out.push_back(name);
  }
  return out;
}

int cancel_local(const cancel_options& opts) {
  auto root = normalize_root(opts.root);
  if (!opts.run_id.empty()) {
    auto dir = root + "/runs/" + opts.run_id;
    if (opts.run_id.find('/') != std::string::npos || !fs::is_directory(dir)) {
      std::fprintf(stderr, "error: no run %s in %s/runs/\n", opts.run_id.c_str(), root.c_str());
      return exit_usage;
    }
    if (fs::exists(dir + "/report.json")) {
      std::fprintf(stderr, "error: run %s has finished (its report is written)\n",
                   opts.run_id.c_str());
      return exit_usage;
    }
    if (auto err = write_file_atomic(dir + "/" + run_cancel_marker, ""); !err.empty()) {
      std::fprintf(stderr, "error: %s\n", err.c_str());
      return exit_failed;
    }
    std::printf("asked run %s to cancel: its running tasks are stopped, the rest do not "
                "start; the report says what ended how\n",
                opts.run_id.c_str());
    return exit_ok;
  }
  auto workers = opts.worker.empty() ? holders(root, opts.task_id)
                                     : std::vector<std::string>{opts.worker};
  if (workers.empty()) {
    std::fprintf(stderr, "error: no task %s waiting or running in %s/tasks/\n",
                 opts.task_id.c_str(), root.c_str());
    return exit_usage;
  }
  if (workers.size() > 1) {
    std::fprintf(stderr, "error: %s is a task of several workers; say which with --worker\n",
                 opts.task_id.c_str());
    return exit_usage;
  }
  fs_queue q{root, workers, 0};
  if (!fs::is_directory(q.tasks_dir(workers[0]))) {
    std::fprintf(stderr, "error: no worker \"%s\" in %s/tasks/\n", workers[0].c_str(),
                 root.c_str());
    return exit_usage;
  }
  if (auto err = q.ask_cancel(workers[0], opts.task_id); !err.empty()) {
    std::fprintf(stderr, "error: %s\n", err.c_str());
    return exit_failed;
  }
  std::printf("asked the serve of %s to cancel %s/%s; its result will say cancelled\n",
              root.c_str(), workers[0].c_str(), opts.task_id.c_str());
  return exit_ok;
}

int cancel_remote(const cancel_options& opts) {
  json body = opts.run_id.empty()
                ? json{{"worker", opts.worker}, {"task_id", opts.task_id}}
                : json{{"run_id", opts.run_id}};
  if (opts.run_id.empty() && opts.worker.empty()) {
    std::fprintf(stderr, "error: --connect needs --worker with a task id\n");
    return exit_usage;
  }
  return ask_orchestrator(opts.connect, opts.curve, wire::command::cancel, body);
}

int cancel_cmd(const cancel_options& opts) {
  if (opts.run_id.empty() == opts.task_id.empty()) {
    std::fprintf(stderr, "error: give a task id or --run RUN_ID (one of them)\n");
    return exit_usage;
  }
  if (!opts.task_id.empty() && !valid_task_id(opts.task_id)) {
    std::fprintf(stderr, "error: \"%s\" is not a task id\n", opts.task_id.c_str());
    return exit_usage;
  }
  return opts.connect.empty() ? cancel_local(opts) : cancel_remote(opts);
}

} // namespace

command add_cancel(CLI::App& app) {
  auto opts = std::make_shared<cancel_options>();
  auto cmd = app.add_subcommand(
    "cancel", "cancel a task, waiting or running (its process group is stopped), or "
              "every task of a run; its result says cancelled");
  cmd->add_option("task_id", opts->task_id, "the task to cancel");
  cmd->add_option("--run", opts->run_id,
                  "cancel every task of this run instead (a `run` going in this root, "
                  "or with --connect a workflow SUBMIT accepted)")
    ->type_name("RUN_ID");
  cmd->add_option("--worker", opts->worker,
                  "the task's worker (found in tasks/ when not given; needed with --connect)");
  cmd->add_option("--root", opts->root, "the node's root folder")->capture_default_str();
  cmd->add_option("--connect", opts->connect,
                  "ask the orchestrator at this producer endpoint instead, e.g. "
                  "tcp://127.0.0.1:5556");
  add_curve_client_options(cmd, opts->curve);
  return [opts] { return cancel_cmd(*opts); };
}

} // namespace troupe::node
