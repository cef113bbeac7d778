#include "core/claude_executor.hpp"
#include "core/api_exchange.hpp"
#include "core/outcome.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <sstream>

#include "core/executor_common.hpp"
#include "core/json_codec.hpp"
#include "core/otlp_trace.hpp"
#include "core/permissions.hpp"
#include "core/prompt.hpp"
#include "core/stream_json.hpp"
#include "core/text.hpp"

namespace troupe {

namespace fs = std::filesystem;

namespace {

std::string fmt_double(double x) {
  std::ostringstream ss;
  ss << x;
  return ss.str();
}

/// Sums modelUsage[*] and keeps each model's share (sub-agents run on
/// their own models) in `models`; the model with most output names the
/// result's model.
void take_usage(const json& j, result& r) {
  auto mu = j.find("modelUsage");
  if (mu != j.end() && mu->is_object() && !mu->empty()) {
    int64_t best = -1;
    json models = json::object();
    for (auto it = mu->begin(); it != mu->end(); ++it) {
      // Not a structured binding: C++17 lambdas cannot capture one.
      const auto& model = it.key();
      const auto& m = it.value();
      if (!m.is_object())
        continue;
      auto get = [&](const char* k) { return int_member(m, k); };
      usage u;
      u.input_tokens = get("inputTokens");
      u.output_tokens = get("outputTokens");
      u.cache_read_input_tokens = get("cacheReadInputTokens");
      u.cache_creation_input_tokens = get("cacheCreationInputTokens");
      r.tokens += u;
      auto c = m.find("costUSD");
      models[model] = {{"usage", to_json(u)},
                       {"cost_usd", c != m.end() && c->is_number()
                                      ? c->get<double>()
                                      : 0.0}};
      if (u.output_tokens > best) {
        best = u.output_tokens;
        r.model = model;
      }
    }
    r.extra[result_models_key] = std::move(models);
  } else if (auto u = j.find("usage"); u != j.end()) {
    r.tokens = usage_from_json(*u);
  }
  if (auto c = j.find("total_cost_usd"); c != j.end() && c->is_number())
    r.cost_usd = c->get<double>();
}

std::string errors_text(const json& j) {
  std::string out;
  if (auto e = j.find("errors"); e != j.end() && e->is_array())
    for (auto& x : *e)
      out += (out.empty() ? "" : "; ")
             + (x.is_string() ? x.get<std::string>() : x.dump());
  return out;
}

/// API failures: "subtype":"success","is_error":true, with api_error_status.
void classify_api_error(const json& j, result& r) {
  std::string text = string_member(j, "result");
  if (text.empty())
    text = errors_text(j);
  auto st = j.find("api_error_status");
  int code = st != j.end() && st->is_number_integer() ? st->get<int>() : 0;
  auto lt = ascii_lower(text);
  std::string k;
  // The gateway refused a request past the task's budget.
  if (code == 400 && text.find(gateway_budget_error) != std::string::npos)
    k = kind::budget;
  // A spend limit the user set comes back as a 400 (measured), older
  // accounts' as a 429: either needs a person, and is never retried.
  else if ((code == 400 || code == 429) && names_spend_limit(text))
    k = kind::spend_limit;
  else if (code == 429)
    k = kind::rate_limited;
  else if (code == 529)
    k = kind::overloaded;
  else if (code == 401 || code == 403)
    k = kind::auth;
  else if (code >= 500)
    k = kind::server_error;
  else if (lt.find("not logged in") != std::string::npos
           || lt.find("/login") != std::string::npos)
    k = kind::not_logged_in;
  else if (code == 0)
    k = kind::connection;
  else
    k = kind::server_error;
  if (text.empty())
    text = "API error" + (code ? " " + std::to_string(code) : std::string{});
  fail_result(r, k, text);
  if (code)
    r.extra["api_error_status"] = code;
}

} // namespace

namespace {
constexpr const char* agent_tool = "Agent"; // the CLI's name since 2.x
} // namespace

claude_executor::claude_executor(claude_settings s, worker_config w,
                                 worker_paths p, json agents)
  : settings_(std::move(s)),
    worker_(std::move(w)),
    paths_(std::move(p)),
    agents_(std::move(agents)) {
  // The worker's own config dir: the CLI keeps its login and state there.
  std::error_code ec;
  fs::create_directories(paths_.auth_home + "/.claude", ec);
  fs::create_directories(paths_.workspace, ec);
  files_ = worker_files::make(paths_, worker_);
  shared_ = shared_folders(paths_.root);
}

std::vector<input_file> claude_executor::inputs_for(const task& t) const {
  return dependency_inputs(t, paths_.root, shared_);
}

std::vector<std::string> claude_executor::argv_for(const task& t) const {
  return argv_for(t, inputs_for(t));
}

std::vector<std::string> claude_executor::argv_for(
  const task& t, const std::vector<input_file>& inputs) const {
  std::vector<std::string> a{settings_.bin,
                             "-p",
                             "--output-format",
                             settings_.output_format,
                             "--system-prompt-file",
                             worker_.prompt_path,
                             "--model",
                             t.model ? *t.model : worker_.model,
                             "--max-turns",
                             std::to_string(worker_.max_turns)};
  if (streaming())
    a.push_back("--verbose"); // -p refuses stream-json without it
  if (auto budget = budget_of(t)) {
    a.push_back("--max-budget-usd");
    a.push_back(fmt_double(*budget));
  }
  // Variadic flags swallow a following positional: use the = form. The CLI
  // splits lists on commas outside parentheses, so Bash(git diff:*) stays
  // one rule.
  auto list = [&](const char* flag, const std::vector<std::string>& xs) {
    if (xs.empty())
      return;
    std::string joined;
    for (auto& x : xs)
      joined += (joined.empty() ? "" : ",") + x;
    a.push_back(std::string{flag} + "=" + joined);
  };
  // Sub-agents are run through the CLI's Agent tool: a worker that has
  // some is offered it even when `tools` names only the others.
  auto tools = worker_.tools;
  if (!agents_.empty() && !tools.empty()
      && std::find(tools.begin(), tools.end(), agent_tool) == tools.end())
    tools.push_back(agent_tool);
  list("--tools", tools);
  a.push_back("--permission-mode=" + worker_.permission_mode);
  // A dependency's files are granted one by one, for reading only.
  auto allowed = worker_.allowed_tools;
  for (auto& f : inputs)
    if (!f.path.empty())
      allowed.push_back(read_rule(f.path));
  list("--allowedTools", allowed);
  list("--disallowedTools", worker_.disallowed_tools);
  for (auto& d : files_.scope.writable)
    if (d != files_.scope.workspace)
      a.push_back("--add-dir=" + d);
  // The CLI offers the model a StructuredOutput tool for this schema and
  // asks again, inside the run, until the model's report conforms.
  if (auto schema = output_schema_of(t))
    a.push_back("--json-schema=" + schema->dump());
  if (!agents_.empty())
    a.push_back("--agents=" + agents_.dump());
  return a;
}

std::vector<std::string> claude_executor::env() const {
  auto e = inherit_env({"PATH", "LANG", "LC_ALL", "TZ"});
  auto pass = inherit_env(settings_.pass_env);
  e.insert(e.end(), pass.begin(), pass.end());
  e.push_back("HOME=" + paths_.auth_home);
  e.push_back("CLAUDE_CONFIG_DIR=" + paths_.auth_home + "/.claude");
  e.push_back("CLAUDE_CODE_MAX_RETRIES=" + std::to_string(settings_.max_retries));
  e.push_back("DISABLE_AUTOUPDATER=1");
  e.push_back("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1");
  // A variable named but unset or empty (the shipped config names one per
  // worker) leaves the worker on its login in its auth home.
  if (!worker_.api_key_env.empty())
    if (auto key = std::getenv(worker_.api_key_env.c_str()); key && *key)
      e.push_back(std::string{"ANTHROPIC_API_KEY="} + key);
  return e;
}

std::vector<std::string> claude_executor::env_for(const task& t,
                                                  int attempt) const {
  auto e = env();
  // The attempt's span (core/otlp_trace), so that the CLI's own telemetry,
  // when the user turns it on, joins the run's trace.
  if (t.extra.is_object())
    if (auto tp = string_member(t.extra, traceparent_key); !tp.empty())
      e.push_back("TRACEPARENT=" + tp);
  if (settings_.gateway_url.empty())
    return e;
  // Through the gateway: it is the CLI's API, and each request says whose
  // it is. A user's own custom headers are kept.
  static const std::string base_url = "ANTHROPIC_BASE_URL=";
  static const std::string custom_headers = "ANTHROPIC_CUSTOM_HEADERS=";
  std::string custom;
  e.erase(std::remove_if(e.begin(), e.end(),
                         [&](const std::string& v) {
                           if (v.rfind(custom_headers, 0) == 0)
                             custom = v.substr(custom_headers.size()) + "\n";
                           return v.rfind(base_url, 0) == 0
                                  || v.rfind(custom_headers, 0) == 0;
                         }),
          e.end());
  e.push_back(base_url + settings_.gateway_url);
  task_tag tag{worker_.name, t.task_id, attempt, t.prio, budget_of(t)};
  e.push_back(custom_headers + custom + task_tag_header + ": " + format_task_tag(tag));
  return e;
}

namespace {

/// The report the CLI checked against the task's output_schema.
void take_structured(const json& out, result& r) {
  r.extra[result_output_key] = out;
  auto strings = [&](const char* key, std::vector<std::string>& dst) {
    dst.clear();
    if (auto i = out.find(key); i != out.end() && i->is_array())
      for (auto& x : *i)
        if (x.is_string())
          dst.push_back(x.get<std::string>());
  };
  if (auto s = out.find("summary"); s != out.end() && s->is_string())
    r.summary = s->get<std::string>();
  else
    r.summary = out.dump();
  strings("findings", r.findings);
  strings("artifacts", r.artifacts);
}

} // namespace

void classify_claude_outcome(const process_outcome& o, result& r, bool raw,
                             bool schema) {
  r.duration_ms = o.duration_ms;
  if (classify_supervision(o, r))
    return;
  if (o.truncated) {
    fail_result(r, kind::bad_output, "output exceeded the cap and was cut");
    return;
  }
  auto j = parse_json_or_discard(o.out);
  if (j.is_discarded() || !j.is_object()) {
    if (!o.exited_ok())
      fail_result(r, kind::crashed, crash_message("claude", o));
    else
      fail_result(r, kind::bad_output,
                  "stdout is not a JSON result: " + tail(o.out, 200));
    return;
  }
  if (string_member(j, "type") != "result") {
    fail_result(r, kind::bad_output, "stdout JSON has no \"type\":\"result\"");
    return;
  }
  take_usage(j, r);
  r.session_id = string_member(j, "session_id");
  auto subtype = string_member(j, "subtype");
  if (subtype == "error_max_turns") {
    fail_result(r, kind::max_turns, "stopped at the turn limit: " + errors_text(j));
    return;
  }
  if (subtype == "error_max_budget_usd") {
    fail_result(r, kind::budget, "stopped at the budget limit: " + errors_text(j));
    return;
  }
  if (subtype != "success") {
    fail_result(r, kind::crashed,
                "run ended with " + subtype + ": " + errors_text(j));
    return;
  }
  if (bool_member(j, "is_error", true)) {
    classify_api_error(j, r);
    return;
  }
  if (!o.exited_ok()) {
    fail_result(r, kind::crashed, "claude " + o.describe() + " after a result");
    return;
  }
  auto text = string_member(j, "result");
  r.state = status::complete;
  set_denials(r, denials_from_cli(j));
  if (schema) {
    auto so = j.find("structured_output");
    if (so == j.end() || !so->is_object()) {
      r.summary.clear();
      fail_result(r, kind::bad_output,
                  "the agent's report does not match the task's output_schema "
                  "(it gave no structured output); its answer began: "
                    + text.substr(0, 300));
      return;
    }
    take_structured(*so, r);
  } else if (raw) {
    r.summary = text;
  } else {
    auto rep = extract_report(text);
    r.summary = rep.summary;
    r.findings = rep.findings;
    r.artifacts = rep.artifacts;
  }
  if (auto n = j.find("num_turns"); n != j.end() && n->is_number_integer())
    r.extra["num_turns"] = *n;
}

bool claude_executor::streaming() const {
  return settings_.output_format == "stream-json";
}

result claude_executor::run(const task& t, int attempt,
                            const run_hooks& hooks) const {
  auto r = begin_result(t, attempt, worker_.model);
  process_spec spec;
  auto inputs = inputs_for(t);
  spec.argv = argv_for(t, inputs);
  spec.env = env_for(t, attempt);
  spec.cwd = paths_.workspace;
  spec.stdin_data = compose_task_prompt(with_input_paths(t, inputs));
  spec.deadline = task_deadline(t, worker_);
  spec.kill_grace = std::chrono::milliseconds(settings_.kill_grace_ms);
  spec.max_output = settings_.max_output_bytes;
  spec.cancel_key = cancel_key_of(t);
  std::optional<stream_json_reader> events;
  if (streaming()) {
    events.emplace(t.task_id, r.model, hooks.on_api_retry);
    spec.on_line = [&](std::string_view l) { events->line(l); };
    spec.stall_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(settings_.stall_s * 1000));
  }
  attempt_files files{files_};
  auto o = run_process(spec);
  if (events)
    o.out = events->final_output(); // classified like the json format
  classify_claude_outcome(o, r, is_raw(t), output_schema_of(t) != nullptr);
  if (events && events->api_requests() > 0)
    r.extra["api_requests"] = events->api_requests();
  if (events && !events->retries().empty()) {
    auto& list = r.extra["api_retries"] = json::array();
    for (auto& ev : events->retries())
      list.push_back({{"status", ev.status},
                      {"delay_ms", ev.delay_ms},
                      {"attempt", ev.attempt}});
  }
  apply_denial_policy(r, worker_.on_denial);
  files.check(r, events ? events->written() : std::vector<std::string>{});
  end_result(r);
  return r;
}

} // namespace troupe
