// caf-node unpark <worker>: a parked worker (spend limit, credentials) takes
// tasks again, once what parked it is fixed. It removes the worker's park
// marker; a running serve sees it go and runs the worker's tasks, kept in
// tasks/<worker>/. Without a running serve, the next start unparks anyway.

#include <cstdio>
#include <filesystem>

#include <CLI/CLI.hpp>

#include "bridge/files/fs_queue.hpp"
#include "node/commands.hpp"
#include "node/options.hpp"

namespace troupe::node {

namespace {

struct unpark_options {
  std::string worker;
  std::string root = ".";
};

int unpark_cmd(const unpark_options& opts) {
  namespace fs = std::filesystem;
  auto root = normalize_root(opts.root);
  auto dir = root + "/tasks/" + opts.worker;
  if (opts.worker.empty() || opts.worker.find('/') != std::string::npos
      || opts.worker[0] == '.' || !fs::is_directory(dir)) {
    std::fprintf(stderr, "error: no worker \"%s\" in %s/tasks/\n", opts.worker.c_str(),
                 root.c_str());
    return exit_usage;
  }
  std::error_code ec;
  if (!fs::remove(dir + "/" + parked_marker, ec)) {
    std::fprintf(stderr, "%s is not parked%s\n", opts.worker.c_str(),
                 ec ? (": " + ec.message()).c_str() : "");
    return ec ? exit_failed : exit_ok;
  }
  std::printf("%s unparked: a running serve takes its tasks again\n", opts.worker.c_str());
  return exit_ok;
}

} // namespace

command add_unpark(CLI::App& app) {
  auto opts = std::make_shared<unpark_options>();
  auto cmd = app.add_subcommand(
    "unpark", "let a parked worker take tasks again (once what parked it is fixed)");
  cmd->add_option("worker", opts->worker, "the parked worker")->required();
  cmd->add_option("--root", opts->root, "the node's root folder")->capture_default_str();
  return [opts] { return unpark_cmd(*opts); };
}

} // namespace troupe::node
