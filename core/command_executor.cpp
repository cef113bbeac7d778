#include "core/command_executor.hpp"
#include "core/json_codec.hpp"
#include "core/outcome.hpp"

#include <filesystem>
#include <fstream>

#include "core/claude_executor.hpp"
#include "core/executor_common.hpp"
#include "core/permissions.hpp"
#include "core/prompt.hpp"

namespace troupe {

namespace fs = std::filesystem;

namespace {

void replace_all(std::string& s, std::string_view from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos;
       pos += to.size())
    s.replace(pos, from.size(), to);
}

} // namespace

command_executor::command_executor(command_settings s, worker_config w,
                                   worker_paths p)
  : settings_(std::move(s)), worker_(std::move(w)), paths_(std::move(p)) {
  std::error_code ec;
  fs::create_directories(paths_.workspace, ec);
  files_ = worker_files::make(paths_, worker_);
  for (auto& a : settings_.argv) {
    needs_prompt_file_ |= a.find("{prompt_file}") != std::string::npos;
    passes_model_ |= a.find("{model}") != std::string::npos;
  }
}

result command_executor::run(const task& t, int attempt, const run_hooks&) const {
  // A command that is not given {model} runs whatever model it likes: the
  // result does not claim the worker's.
  auto r = begin_result(t, attempt, worker_.model);
  if (!passes_model_)
    r.model.clear();
  if (output_schema_of(t)) {
    // Nothing here can check a report against a JSON Schema: the claude
    // executor has the CLI do it. Refused rather than left unchecked.
    r.state = status::rejected;
    r.error = error_info{kind::unsupported,
                         "output_schema is checked by the claude executor only; "
                         "worker " + t.worker + " runs the command executor"};
    r.summary = r.error->message;
    end_result(r);
    return r;
  }
  auto prompt = compose_task_prompt(t);
  std::string prompt_file;
  if (needs_prompt_file_) {
    // Only written when the template asks for it: no file cost otherwise.
    auto dir = paths_.workspace + "/.troupe";
    std::error_code ec;
    fs::create_directories(dir, ec);
    prompt_file = dir + "/" + t.task_id + ".prompt.md";
    std::ofstream(prompt_file, std::ios::binary) << prompt;
  }
  process_spec spec;
  for (auto a : settings_.argv) {
    replace_all(a, "{prompt_file}", prompt_file);
    replace_all(a, "{system_prompt_file}", worker_.prompt_path);
    replace_all(a, "{model}", r.model);
    replace_all(a, "{task_id}", t.task_id);
    replace_all(a, "{worker}", worker_.name);
    spec.argv.push_back(std::move(a));
  }
  spec.env = inherit_env({"PATH", "LANG", "LC_ALL", "TZ"});
  spec.env.push_back("HOME=" + paths_.auth_home);
  spec.cwd = paths_.workspace;
  spec.stdin_data = std::move(prompt);
  spec.deadline = task_deadline(t, worker_);
  spec.kill_grace = std::chrono::milliseconds(settings_.kill_grace_ms);
  spec.max_output = settings_.max_output_bytes;
  spec.cancel_key = cancel_key_of(t);
  attempt_files files{files_};
  auto o = run_process(spec);
  r.duration_ms = o.duration_ms;
  // Only output that opens an object can be a CLI's JSON: anything else is
  // not parsed (a failed parse still builds its error message).
  auto first = o.out.find_first_not_of(" \t\r\n");
  auto j = first != std::string::npos && o.out[first] == '{'
             ? parse_json_or_discard(o.out)
             : json(json::value_t::discarded);
  if (!j.is_discarded() && j.is_object() && string_member(j, "type") == "result") {
    // A Claude-compatible CLI: same contract, same classification.
    classify_claude_outcome(o, r, is_raw(t));
  } else if (!classify_supervision(o, r)) {
    if (!o.exited_ok()) {
      fail_result(r, kind::crashed, crash_message("command", o));
    } else {
      agent_report rep;
      if (is_raw(t))
        rep.summary = o.out;
      else if (!j.is_discarded() && j.is_object() && j.contains("summary"))
        rep = extract_report("```json\n" + o.out + "\n```");
      else
        rep = extract_report(o.out);
      r.state = status::complete;
      r.summary = rep.summary.empty() ? "command exited 0" : rep.summary;
      r.findings = std::move(rep.findings);
      r.artifacts = std::move(rep.artifacts);
    }
  }
  apply_denial_policy(r, worker_.on_denial);
  files.check(r, {});
  end_result(r);
  return r;
}

} // namespace troupe
