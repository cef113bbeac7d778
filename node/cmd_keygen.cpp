// caf-node keygen <dir/name>: a CURVE key pair for the ZeroMQ bridge:
// name.pub (share it) and name.secret (mode 0600, keep it).

#include <cstdio>
#include <filesystem>

#include <CLI/CLI.hpp>

#include "bridge/zmq/curve.hpp"
#include "node/commands.hpp"

namespace troupe::node {

command add_keygen(CLI::App& app) {
  auto prefix = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  auto cmd = app.add_subcommand(
    "keygen", "make a CURVE key pair: <name>.pub and <name>.secret (0600)");
  cmd->add_option("name", *prefix, "path without extension, e.g. keys/marie")
    ->required();
  cmd->add_flag("--force", *force, "replace an existing key pair");
  return [prefix, force] {
    if (!*force && std::filesystem::exists(*prefix + ".secret")) {
      std::fprintf(stderr, "error: %s.secret exists (use --force to replace it)\n",
                   prefix->c_str());
      return exit_usage;
    }
    if (auto err = zmqx::keygen(*prefix); !err.empty()) {
      std::fprintf(stderr, "error: %s\n", err.c_str());
      return exit_usage;
    }
    std::string e;
    auto pub = zmqx::read_key(*prefix + ".pub", false, e);
    std::printf("%s\n", pub ? pub->c_str() : "");
    std::fprintf(stderr, "wrote %s.pub and %s.secret\n", prefix->c_str(),
                 prefix->c_str());
    return exit_ok;
  };
}

} // namespace troupe::node
