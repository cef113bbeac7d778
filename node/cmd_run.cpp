// caf-node run <workflow.json | "request">: one workflow, or a request the
// orchestrator plans, run in one process to its report (or its answer).

#include <atomic>
#include <cctype>
#include <iostream>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <random>
#include <set>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "actors/team.hpp"
#include "bridge/files/account_park.hpp"
#include "caf/all.hpp"
#include "core/atomic_file.hpp"
#include "core/clock.hpp"
#include "core/estimate.hpp"
#include "core/process.hpp"
#include "core/resume.hpp"
#include "core/run_history.hpp"
#include "core/text.hpp"
#include "node/trace_export.hpp"
#include "node/estimates.hpp"
#include "core/workflow_check.hpp"
#include "node/commands.hpp"
#include "node/gateway_role.hpp"
#include "core/json_codec.hpp"
#include "node/options.hpp"
#include "node/planning.hpp"
#include "node/progress.hpp"
#include "node/run_control.hpp"

namespace troupe::node {

namespace fs = std::filesystem;

namespace {

struct run_options {
  common_options common;
  std::string target;
  bool json_out = false;
  std::vector<std::string> context;
  bool plan_only = false;
  bool no_synthesis = false;
  std::string record_dir, replay_dir;
  bool fresh = false;
  std::string resume; // a run id under <root>/runs/
  std::optional<double> budget_usd; // the whole run's, planning included
  bool estimate_only = false; // print the cost preview, run nothing
  bool approve_plan = false; // show the plan and its estimate, run it on a yes
};

/// --approve-plan: the plan and what it would cost go to stderr, and a
/// person answers on stdin. Only "y" or "yes" runs it; an end of input is
/// a no.
bool plan_approved(const workflow& wf, const plan_estimate& e,
                   std::optional<double> budget, double planning_cost) {
  std::fprintf(stderr, "The plan (%zu tasks):\n", wf.tasks.size());
  for (auto& t : wf.tasks) {
    auto text = t.description.substr(0, 100) + (t.description.size() > 100 ? "..." : "");
    std::string deps;
    for (auto& d : t.dependencies)
      deps += (deps.empty() ? " after " : ", ") + d;
    std::fprintf(stderr, "  %s (%s%s): %s\n", t.task_id.c_str(), t.worker.c_str(),
                 deps.c_str(), text.c_str());
  }
  std::fprintf(stderr, "%s", estimate_text(e, budget).c_str());
  if (planning_cost > 0)
    std::fprintf(stderr, "planning spent %s already\n", usd_text(planning_cost).c_str());
  std::fprintf(stderr, "Run this plan? [y/N] ");
  std::string answer;
  if (!std::getline(std::cin, answer)) {
    std::fprintf(stderr, "\n");
    return false;
  }
  for (auto& c : answer)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  answer = std::string{trim(answer)};
  return answer == "y" || answer == "yes";
}

/// The cost preview of `wf` in `root`: what its reused tasks leave out,
/// printed as a table (or JSON).
int print_estimate(const plan_estimate& e, std::optional<double> budget, bool as_json,
                   double planning_cost) {
  if (as_json) {
    auto j = to_json(e);
    if (budget) {
      j["budget_usd"] = *budget;
      j["verdict"] = budget_verdict(e, *budget);
    }
    if (planning_cost > 0)
      j["planning_cost_usd"] = planning_cost;
    std::fputs((j.dump(2) + "\n").c_str(), stdout);
  } else {
    std::fputs(estimate_text(e, budget).c_str(), stdout);
    if (planning_cost > 0)
      std::printf("planning this request cost $%.4f (not in the total)\n", planning_cost);
  }
  std::fflush(stdout);
  return exit_ok;
}

/// A target that names a missing .json file is a typo, not a request.
bool looks_like_a_file(const std::string& target) {
  return target.find_first_of(" \t\n") == std::string::npos
         && target.size() > 5
         && target.compare(target.size() - 5, 5, ".json") == 0;
}

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

int run(const run_options& given) {
  auto opts = given;
  if (!pin_cpus(opts.common))
    return exit_usage;
  // --resume: the workflow that run ran (a request's plan included).
  std::string resumed_request;
  if (!opts.resume.empty()) {
    if (!opts.target.empty()) {
      std::fprintf(stderr, "error: give a workflow or request, or --resume RUN_ID, not both\n");
      return exit_usage;
    }
    auto dir = normalize_root(opts.common.root) + "/runs/" + opts.resume;
    opts.target = dir + "/workflow.json";
    if (!fs::exists(opts.target)) {
      std::fprintf(stderr, "error: --resume %s: %s has no workflow.json (no such run, or "
                           "one from before troupe kept it)\n",
                   opts.resume.c_str(), dir.c_str());
      return exit_usage;
    }
    problems ps;
    if (auto text = read_text_file(dir + "/request.txt", ps))
      resumed_request = *text;
  } else if (opts.target.empty()) {
    std::fprintf(stderr, "error: a workflow file or a request is needed (or --resume RUN_ID)\n");
    return exit_usage;
  }
  stop_signals blocked; // before any thread: only the watch below takes them
  // The target first: a typo in its name is the likelier mistake, and the
  // config's error would hide it.
  bool is_file = fs::exists(opts.target) && !fs::is_directory(opts.target);
  if (!is_file && (looks_like_a_file(opts.target) || fs::is_directory(opts.target))) {
    std::fprintf(stderr, "error: %s is not a workflow file%s\n", opts.target.c_str(),
                 fs::exists(opts.target) ? "" : " (no such file)");
    return exit_usage;
  }
  auto cfg = load_effective_config(opts.common);
  if (!cfg)
    return exit_usage;
  if (!opts.record_dir.empty() || !opts.replay_dir.empty()) {
    if (!cfg->gateway.enabled) {
      std::fprintf(stderr, "error: --record and --replay work in the gateway, which "
                           "the config turns off (\"gateway\": {\"enabled\": false})\n");
      return exit_usage;
    }
    if (!opts.replay_dir.empty() && !fs::is_directory(opts.replay_dir)) {
      std::fprintf(stderr, "error: --replay %s: no such folder\n", opts.replay_dir.c_str());
      return exit_usage;
    }
    cfg->gateway.record_dir = opts.record_dir.empty() ? "" : fs::absolute(opts.record_dir).string();
    cfg->gateway.replay_dir = opts.replay_dir.empty() ? "" : fs::absolute(opts.replay_dir).string();
  }
  bool is_request = !is_file;
  if (is_request && opts.target.find_first_not_of(" \t\r\n") == std::string::npos) {
    std::fprintf(stderr, "error: the request is empty\n");
    return exit_usage;
  }
  if (!is_request && (!opts.context.empty() || opts.plan_only)) {
    std::fprintf(stderr, "error: --context and --plan-only apply to a "
                         "plain-language request, not to a workflow file\n");
    return exit_usage;
  }
  std::vector<context_file> context;
  {
    problems ps;
    context = load_context_files(opts.context, ps);
    if (!ps.empty()) {
      print_problems("error: context refused:", ps);
      return exit_usage;
    }
  }
  std::optional<workflow> wf;
  if (!is_request && !(wf = load_workflow(opts.target, *cfg)))
    return exit_usage;
  if (wf && opts.budget_usd)
    wf->budget_usd = opts.budget_usd;
  auto root = normalize_root(opts.common.root);
  // What this root's earlier runs cost: the estimate learns from it, and a
  // budget does not start a task below the low end of its estimate.
  auto history = std::make_shared<const run_history>(load_history(root));
  auto reused_ids = [&](const workflow& w) {
    std::vector<std::string> ids;
    if (!opts.fresh)
      for (auto& r : prior_results(w, root))
        ids.push_back(r.task_id);
    return ids;
  };
  if (wf && opts.estimate_only)
    return print_estimate(estimate_plan(*wf, *cfg, *history, reused_ids(*wf)),
                          wf->budget_usd, opts.json_out, 0);
  // The root is in every prompt (workspaces, auth homes): a replay into
  // another root is the same work.
  cfg->gateway.volatile_paths = {root};
  auto run_id = new_run_id();
  auto run_dir = root + "/runs/" + run_id;
  std::optional<progress_printer> progress;
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg);
  std::optional<run_summary> summary;
  std::optional<std::string> answer;
  std::string failure, synthesis_error;
  int code = exit_ok;
  std::atomic<int> interrupted{0}; // the signal that stopped the run
  std::atomic<bool> cancelled{false}; // caf-node cancel --run
  double orchestrator_cost = 0;    // planning and the answer
  json phases = json::object();    // their times, for the report and the trace
  std::optional<plan_estimate> estimate;
  {
    caf::actor_system sys{sys_cfg};
    gateway_holder gw; // destroyed before the actor system
    gw.park_file = account_park_path(root);
    team_options topts;
    topts.trace_context = trace_export_enabled();
    topts.gateway = [&](rate_limiter_actor l, recorder_actor r, problems& ps) {
      return start_gateway(sys, *cfg, std::move(l), std::move(r), gw, ps);
    };
    topts.root = root;
    topts.recording.root = root;
    topts.make_run_id = [run_id] { return run_id; };
    use_estimates(topts, *cfg, history);
    topts.recording.on_event = [&](const task_event& e) {
      if (progress)
        progress->on_event(e);
      // Tasks awaiting approval are listed in the run's folder, for
      // `caf-node approve|reject TASK --run RUN_ID` and status.
      auto awaiting = run_dir + "/" + run_awaiting_dir + "/" + e.task_id + ".json";
      if (e.kind == "awaiting_approval") {
        std::error_code ec;
        fs::create_directories(run_dir + "/" + run_awaiting_dir, ec);
        write_file_atomic(awaiting, json{{"task_id", e.task_id}, {"worker", e.worker},
                                         {"since", rfc3339_now()}, {"estimate", e.detail}}
                                      .dump() + "\n");
        spdlog::warn("run {}: {} ({}) awaits approval, {}: caf-node approve {} --run {} "
                     "(or reject {} --run {} --why ...)",
                     run_id, e.task_id, e.worker, e.detail, e.task_id, run_id, e.task_id,
                     run_id);
      } else if (e.kind == "approved" || e.kind == "complete" || e.kind == "failed"
                 || e.kind == "cancelled") {
        std::error_code ec;
        fs::remove(awaiting, ec);
      }
    };
    // Requests need the orchestrator's model to plan; workflow files only
    // to write their answer, and only if an orchestrator prompt is set up.
    topts.planner = is_request
                    || (wf->synthesize && !opts.no_synthesis
                        && !cfg->orchestrator.prompt_path.empty());
    problems ps;
    auto t = spawn_team(sys, *cfg, topts, ps);
    if (!t) {
      print_problems("error: cannot start the workers:", ps);
      return exit_usage;
    }
    // Ctrl-C (or SIGTERM): nothing more starts, running agents are
    // stopped, and the report says what ended how; a second one quits at
    // once. Agent processes live in their own process groups, so a
    // terminal's Ctrl-C never reaches them by itself.
    signal_watch on_signal{[&](const char* name, int n) {
      if (n == 1) {
        interrupted = std::string{name} == "SIGINT" ? SIGINT : SIGTERM;
        spdlog::warn("{}: stopping; running tasks are killed, nothing more "
                     "starts (again to quit at once)",
                     name);
        stop_starting(*t);
        stop_all_children(SIGTERM);
        return;
      }
      stop_all_children(SIGKILL);
      std::_Exit(128 + interrupted.load());
    }};
    caf::scoped_actor self{sys};
    if (is_request) {
      auto plan_from = rfc3339_now();
      auto planned = plan_request(self, *t, *cfg, opts.target, context, opts.budget_usd);
      orchestrator_cost += planned.cost_usd;
      phases["planning"] = {{"started_at", plan_from}, {"finished_at", rfc3339_now()},
                            {"cost_usd", planned.cost_usd}, {"attempts", planned.attempts},
                            {"ok", planned.wf.has_value()}};
      if (!planned.wf) {
        stop_team(*t);
        print_problems(planned.attempts > 0
                         ? "error: no valid plan after "
                             + std::to_string(planned.attempts) + " attempt(s):"
                         : "error: the request cannot be planned:",
                       planned.errors);
        return planned.attempts > 0 ? exit_failed : exit_usage;
      }
      wf = std::move(planned.wf);
      // The tasks may spend what planning left.
      if (opts.budget_usd)
        wf->budget_usd = std::max(0.0, *opts.budget_usd - planned.cost_usd);
      if (opts.no_synthesis)
        wf->synthesize = false;
      if (opts.plan_only) {
        stop_team(*t);
        std::fputs((to_json(*wf).dump(2) + "\n").c_str(), stdout);
        return exit_ok;
      }
      if (opts.estimate_only) {
        stop_team(*t);
        return print_estimate(estimate_plan(*wf, *cfg, *history, reused_ids(*wf)),
                              wf->budget_usd, opts.json_out, planned.cost_usd);
      }
      if (opts.approve_plan
          && !plan_approved(*wf, estimate_plan(*wf, *cfg, *history, reused_ids(*wf)),
                            wf->budget_usd, planned.cost_usd)) {
        stop_team(*t);
        std::fprintf(stderr, "not approved: nothing ran (--plan-only prints the plan as a "
                             "workflow file to edit and run)\n");
        return exit_failed;
      }
    }
    std::error_code ec;
    fs::create_directories(run_dir, ec);
    if (ec) {
      stop_team(*t);
      std::fprintf(stderr, "error: cannot create %s: %s\n", run_dir.c_str(),
                   ec.message().c_str());
      return exit_usage;
    }
    if (is_request)
      if (auto err = write_file_atomic(run_dir + "/plan.json",
                                       to_json(*wf).dump(2) + "\n");
          !err.empty())
        spdlog::error("{}", err);
    // What --resume runs again; a request's own words for its answer.
    for (auto& [name, text] :
         {std::pair{"/workflow.json", to_json(*wf).dump(2) + "\n"},
          std::pair{"/request.txt", is_request ? opts.target : resumed_request}})
      if (!text.empty())
        if (auto err = write_file_atomic(run_dir + name, text); !err.empty())
          spdlog::error("{}", err);
    if (!opts.fresh) {
      wf->prior = prior_results(*wf, root);
      if (!wf->prior.empty())
        spdlog::info("run {}: {} of {} tasks complete in an earlier run in this root: "
                     "not run again (--fresh runs them)",
                     run_id, wf->prior.size(), wf->tasks.size());
    }
    std::vector<std::string> reused;
    for (auto& r : wf->prior)
      reused.push_back(r.task_id);
    estimate = estimate_plan(*wf, *cfg, *history, reused);
    if (auto err = write_file_atomic(run_dir + "/estimate.json",
                                     to_json(*estimate).dump(2) + "\n");
        !err.empty())
      spdlog::error("{}", err);
    spdlog::info("run {}: estimated ${:.4f} (${:.4f} to ${:.4f}), {:.0f} s", run_id,
                 estimate->cost_usd.expected, estimate->cost_usd.low,
                 estimate->cost_usd.high, estimate->duration_s.expected);
    spdlog::info("run {}: {} \"{}\", {} tasks, root {}", run_id,
                 is_request ? "request" : "workflow", wf->name,
                 wf->tasks.size(), root);
    progress.emplace(wf->tasks.size());
    // caf-node cancel --run <run_id> from another terminal: running tasks
    // are stopped, the rest do not start, the report says so.
    run_control_watch control{
      run_dir,
      [&, orch = t->orchestrator] {
        cancelled = true;
        spdlog::warn("run {}: cancelled (caf-node cancel --run); running tasks are "
                     "stopped, nothing more starts",
                     run_id);
        caf::anon_send(orch, cancel_atom_v, run_id, std::string{});
      },
      [&, orch = t->orchestrator](const std::string& task_id, bool yes, const std::string& why) {
        spdlog::info("run {}: {} {}{}", run_id, task_id, yes ? "approved" : "rejected",
                     why.empty() ? "" : ": " + why);
        caf::anon_send(orch, approve_atom_v, run_id, task_id, yes, why);
      }};
    self->request(t->orchestrator, caf::infinite, run_atom_v, *wf)
      .receive([&](run_summary& s) { summary = std::move(s); },
               [&](caf::error& err) { failure = sys.render(err); });
    if (progress)
      progress->close();
    // The answer is written from whatever ended, failures included: the
    // person asking must learn what failed and what to do about it.
    if (summary && wf->synthesize && t->planner && !opts.no_synthesis
        && !interrupted && !cancelled) {
      auto request = is_request                ? opts.target
                     : !resumed_request.empty() ? resumed_request
                                                : wf->name + (wf->description.empty()
                                                ? ""
                                                : "\n\n" + wf->description);
      // The answer may spend what the tasks left of the budget; reused
      // results were paid for by an earlier run.
      std::optional<double> left;
      if (wf->budget_usd) {
        std::set<std::string> reused;
        for (auto& r : wf->prior)
          reused.insert(r.worker + "/" + r.task_id);
        double spent = 0;
        for (auto& r : summary->results)
          if (!reused.count(r.worker + "/" + r.task_id))
            spent += r.cost_usd;
        left = std::max(0.0, *wf->budget_usd - spent);
      }
      double cost = 0;
      auto synth_from = rfc3339_now();
      answer = synthesize(self, *t, request, *summary, root, synthesis_error, cost, left);
      orchestrator_cost += cost;
      phases["synthesis"] = {{"started_at", synth_from}, {"finished_at", rfc3339_now()},
                             {"cost_usd", cost}, {"ok", answer.has_value()}};
      if (!answer)
        code = exit_failed;
    }
    stop_team(*t);
  }
  if (!summary) {
    std::fprintf(stderr, "error: run failed: %s\n", failure.c_str());
    return exit_failed;
  }
  auto md = report_markdown(*summary);
  auto js = report_json(*summary);
  if (answer) {
    md = *answer + "\n\n---\n\n" + md;
    js["answer"] = *answer;
  } else if (!synthesis_error.empty()) {
    md = "> The answer could not be written (" + synthesis_error
         + "); the results follow.\n\n" + md;
    js["synthesis_error"] = synthesis_error;
    spdlog::error("synthesis failed: {}", synthesis_error);
  }
  if (estimate) {
    md += "\n" + estimate_vs_actual_markdown(*estimate, summary->results,
                                             static_cast<double>(summary->duration_ms));
    js["estimate"] = estimate_vs_actual_json(*estimate, summary->results,
                                             static_cast<double>(summary->duration_ms));
  }
  if (orchestrator_cost > 0) {
    char line[160];
    std::snprintf(line, sizeof line,
                  "\nThe orchestrator's own calls (planning, the answer) cost $%.4f more.\n",
                  orchestrator_cost);
    md += line;
    js["orchestrator_cost_usd"] = orchestrator_cost;
  }
  if (!phases.empty())
    js["phases"] = phases;
  if (auto err = write_report(run_dir, js, md); !err.empty())
    spdlog::error("the report was not written: {}", err);
  export_trace(js); // when OTEL_EXPORTER_OTLP_ENDPOINT is set
  std::fputs(opts.json_out ? (js.dump(2) + "\n").c_str() : md.c_str(), stdout);
  std::fflush(stdout);
  spdlog::info("run {}: {} of {} tasks complete; report in {}",
               summary->run_id, summary->count(status::complete),
               summary->results.size(), run_dir);
  if (interrupted) {
    spdlog::warn("run {} interrupted: {} of {} tasks complete", summary->run_id,
                 summary->count(status::complete), summary->results.size());
    return 128 + interrupted.load();
  }
  return summary->all_complete() ? code : exit_failed;
}

} // namespace

command add_run(CLI::App& app) {
  auto opts = std::make_shared<run_options>();
  auto cmd = app.add_subcommand(
    "run", "run a workflow file, or plan and run a plain-language request, "
           "end to end and print the report");
  cmd->add_option("target", opts->target,
                  "a workflow file (JSON), or a request in quotes, e.g. "
                  "\"Evaluate all students in my hip-hop class\"");
  add_common_options(cmd, opts->common);
  cmd->add_flag("--json", opts->json_out,
                "print report.json instead of report.md");
  cmd->add_option("--context", opts->context,
                  "a file the planner should know (a class roster, notes); "
                  "repeatable")
    ->type_name("FILE");
  cmd->add_flag("--plan-only", opts->plan_only,
                "print the plan as a workflow file and stop (edit it, then "
                "run it)");
  cmd->add_flag("--no-synthesis", opts->no_synthesis,
                "skip the orchestrator's written answer: the report is the "
                "template");
  cmd->add_option("--budget-usd", opts->budget_usd,
                  "what the whole run may spend, in USD: a request's planning "
                  "and answer included (instead of a workflow's budget_usd)")
    ->check(CLI::PositiveNumber);
  cmd->add_flag("--estimate", opts->estimate_only,
                "print what it would cost and take (low / expected / high, per "
                "task and in total) and whether it fits the budget; run nothing "
                "(a request is planned first)");
  cmd->add_flag("--fresh", opts->fresh,
                "run every task, also those whose complete result from an "
                "earlier run is in results/ (by default they are not run again)");
  cmd->add_flag("--approve-plan", opts->approve_plan,
                "a request: show the plan and its estimate, and run it only "
                "after a yes on stdin");
  cmd->add_option("--resume", opts->resume,
                  "run again what the run RUN_ID (in runs/) had not completed: "
                  "its workflow, a request's plan included")
    ->type_name("RUN_ID");
  cmd->add_option("--record", opts->record_dir,
                  "keep every API request and its answer in DIR (keys "
                  "redacted), for --replay")
    ->type_name("DIR");
  cmd->add_option("--replay", opts->replay_dir,
                  "answer the API requests recorded in DIR from there, "
                  "offline and at no cost; the others go to the API")
    ->type_name("DIR");
  return [opts] { return run(*opts); };
}

command add_estimate(CLI::App& app) {
  auto opts = std::make_shared<run_options>();
  opts->estimate_only = true;
  auto cmd = app.add_subcommand(
    "estimate", "what a workflow file or a request would cost and take, per task and "
                "in total, as low / expected / high, and whether it fits its budget "
                "(a request is planned first; nothing else runs)");
  cmd->add_option("target", opts->target, "a workflow file (JSON), or a request in quotes")
    ->required();
  add_common_options(cmd, opts->common);
  cmd->add_flag("--json", opts->json_out, "print the estimate as JSON");
  cmd->add_option("--context", opts->context, "as for run: a file the planner should know")
    ->type_name("FILE");
  cmd->add_option("--budget-usd", opts->budget_usd,
                  "the budget to hold it against (instead of a workflow's budget_usd)")
    ->check(CLI::PositiveNumber);
  cmd->add_flag("--fresh", opts->fresh,
                "count the tasks whose complete result an earlier run left in "
                "results/ too (by default they are reused, at no cost)");
  return [opts] { return run(*opts); };
}

} // namespace troupe::node
