#pragma once

// The subcommands of caf-node. Each registers its options on the CLI11 app
// and returns the exit code when run.

#include <functional>

namespace CLI {
class App;
}

namespace troupe::node {

using command = std::function<int()>;

command add_run(CLI::App& app);
command add_validate(CLI::App& app);
command add_serve(CLI::App& app);
command add_status(CLI::App& app);
command add_orchestrator(CLI::App& app);
command add_worker(CLI::App& app);
command add_submit(CLI::App& app);
command add_keygen(CLI::App& app);
command add_unpark(CLI::App& app);
command add_estimate(CLI::App& app);
command add_cancel(CLI::App& app);
command add_approve(CLI::App& app);
command add_reject(CLI::App& app);

/// Exit codes: 0 all asked for succeeded; 1 some task did not complete;
/// 2 bad input or usage (nothing ran).
inline constexpr int exit_ok = 0;
inline constexpr int exit_failed = 1;
inline constexpr int exit_usage = 2;

} // namespace troupe::node
