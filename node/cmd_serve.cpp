// caf-node serve: the long-running single node. Watches tasks/<worker>/ of
// every configured worker and runs what is dropped there; results appear in
// results/<worker>/. SIGTERM or SIGINT: stop claiming, let running tasks
// finish within the grace period, hand the rest back to tasks/, exit 0.

#include <CLI/CLI.hpp>

#include "node/commands.hpp"
#include "node/drop_role.hpp"

namespace troupe::node {

command add_serve(CLI::App& app) {
  auto opts = std::make_shared<drop_role_options>();
  auto cmd = app.add_subcommand(
    "serve", "run the single node: watch tasks/<worker>/, write results/<worker>/");
  add_common_options(cmd, opts->common);
  add_drop_role_options(cmd, *opts, "larger task files are rejected");
  cmd->add_option("--ready-file", opts->ready_file,
                  "write this file (our pid) once the folders are watched");
  return [opts] { return run_drop_role(*opts, nullptr); };
}

} // namespace troupe::node
