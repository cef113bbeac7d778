// caf-node submit <task.json|workflow.json> [--wait]: hands work to a running
// orchestrator over its producer endpoint (docs/PROTOCOL.md §4).

#include <cstdio>

#include <CLI/CLI.hpp>

#include "core/json_codec.hpp"
#include "node/bridge_options.hpp"
#include "node/commands.hpp"
#include "node/producer_link.hpp"

namespace troupe::node {

namespace {

struct submit_options {
  std::string file;
  std::string connect = "tcp://127.0.0.1:5556";
  bool wait = false;
  double timeout_s = 3600;
  curve_options curve;
};

void print(const json& j) {
  std::printf("%s\n", j.dump(2).c_str());
  std::fflush(stdout);
}

int submit_cmd(const submit_options& opts) {
  problems ps;
  auto text = read_text_file(opts.file, ps);
  auto j = text ? parse_json_text(*text, ps) : std::nullopt;
  if (!j || !j->is_object()) {
    ps.push_back(opts.file + ": not a JSON object");
    std::fprintf(stderr, "error: %s\n", ps.front().c_str());
    return exit_usage;
  }
  bool is_workflow = j->contains("tasks");
  std::shared_ptr<const zmqx::curve_client> curve;
  if (!load_curve_client(opts.curve, curve))
    return exit_usage;
  producer_link link{opts.connect, curve};
  link.send({wire::name(wire::command::submit), {{is_workflow ? "workflow" : "task", *j}, {"wait", opts.wait}}});
  auto timeout = std::chrono::milliseconds(static_cast<int64_t>(opts.timeout_s * 1000));
  auto first = link.recv(std::min(timeout, std::chrono::milliseconds(30000)));
  if (!first) {
    std::fprintf(stderr, "error: %s%s\n", link.silence("answer").c_str(),
                 link.reached() ? "" : "; nothing was submitted");
    return exit_failed;
  }
  auto& body = first->body;
  if (first->cmd == wire::name(wire::command::error)) {
    auto reason = string_member(body, "reason");
    auto p = body.find("problems");
    bool listed = p != body.end() && p->is_array() && !p->empty();
    // The reason repeats the problems after its first ": "; one per line
    // reads better.
    if (listed)
      reason = reason.substr(0, reason.find(": "));
    std::fprintf(stderr, "error: %s\n", reason.c_str());
    if (listed)
      for (auto& x : *p)
        if (x.is_string())
          std::fprintf(stderr, "  - %s\n", x.get_ref<const std::string&>().c_str());
    return exit_usage;
  }
  // Nothing runs until a node of the worker connects: say so, not silence.
  auto idle = [](const std::string& w) {
    std::fprintf(stderr, "note: no worker node of %s is connected; its tasks wait in tasks/%s/ "
                         "until one is\n",
                 w.c_str(), w.c_str());
  };
  if (auto n = body.find("nodes"); n != body.end() && n->is_number() && *n == 0)
    idle(string_member(body, "worker"));
  if (auto u = body.find("unserved"); u != body.end() && u->is_array())
    for (auto& w : *u)
      if (w.is_string())
        idle(w.get<std::string>());
  if (!opts.wait) {
    print(first->body);
    return exit_ok;
  }
  // While it waits, the user may want to stop it: say how.
  if (auto id = string_member(body, "run_id"); !id.empty())
    std::fprintf(stderr, "accepted as run %s (caf-node cancel --run %s --connect %s stops it)\n",
                 id.c_str(), id.c_str(), opts.connect.c_str());
  auto done = link.recv(timeout);
  if (!done) {
    std::fprintf(stderr, "error: no %s within %.0f s (the work goes on; "
                         "results/ will have it)\n",
                 is_workflow ? "report" : "result", opts.timeout_s);
    return exit_failed;
  }
  if (done->cmd == wire::name(wire::command::result)) {
    print(done->body["result"]);
    return string_member(wire::member(done->body, "result"), "status") == "complete" ? exit_ok
                                                                   : exit_failed;
  }
  if (done->cmd == wire::name(wire::command::report)) {
    print(done->body);
    return string_member(done->body, "status") == "complete" ? exit_ok : exit_failed;
  }
  std::fprintf(stderr, "error: unexpected answer %s\n", done->cmd.c_str());
  return exit_failed;
}

} // namespace

command add_submit(CLI::App& app) {
  auto opts = std::make_shared<submit_options>();
  auto cmd = app.add_subcommand(
    "submit", "submit a task or a workflow file to a running orchestrator");
  cmd->add_option("file", opts->file, "a task or workflow (JSON)")->required();
  cmd->add_option("--connect", opts->connect, "the orchestrator's producer endpoint")
    ->capture_default_str();
  cmd->add_flag("--wait", opts->wait,
                "wait for the result (task) or report (workflow) and print it; "
                "exit 0 only if complete");
  cmd->add_option("--timeout-s", opts->timeout_s, "how long --wait waits")
    ->capture_default_str();
  add_curve_client_options(cmd, opts->curve);
  return [opts] { return submit_cmd(*opts); };
}

} // namespace troupe::node
