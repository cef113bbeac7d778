#include "core/prompt.hpp"
#include "core/json_codec.hpp"
#include "core/text.hpp"


namespace troupe {


namespace {

constexpr std::string_view report_instructions = R"(
## How to report
Work in your current directory; write any document you produce there as a file.
When you are done, end your answer with exactly one fenced JSON block:

```json
{"summary": "two or three sentences on what you did and concluded",
 "findings": ["one point per entry: facts, scores, risks, recommendations"],
 "artifacts": ["paths of the files you wrote, relative to your working directory"]}
```
)";

constexpr std::string_view schema_instructions = R"(
## How to report
Work in your current directory; write any document you produce there as a file.
When you are done, give your report as your structured output. It must match
this JSON Schema (put the paths of the files you wrote in "artifacts" when the
schema has it, relative to your working directory):

```json
)";

} // namespace

json dependency_handoff(const result& r) {
  return {{"worker", r.worker},
          {"status", std::string{to_string(r.state)}},
          {"summary", r.summary},
          {"findings", r.findings},
          {"artifacts", r.artifacts}};
}

void make_raw(task& t) {
  if (!t.extra.is_object())
    t.extra = json::object();
  t.extra["troupe_raw"] = true;
}

bool is_raw(const task& t) {
  if (!t.extra.is_object())
    return false;
  auto i = t.extra.find("troupe_raw");
  return i != t.extra.end() && i->is_boolean() && i->get<bool>();
}

std::string compose_task_prompt(const task& t) {
  if (is_raw(t))
    return t.description;
  std::string out = t.description;
  out += "\n";
  json ctx = t.context;
  json deps;
  if (ctx.is_object())
    ctx.erase(previous_failure_key);
  if (auto i = ctx.find("dependency_results"); i != ctx.end()) {
    deps = *i;
    ctx.erase(i);
  }
  if (!ctx.empty()) {
    out += "\n## Context\n```json\n" + ctx.dump(2) + "\n```\n";
  }
  if (deps.is_object() && !deps.empty()) {
    out += "\n## Results of the tasks this one builds on\n";
    for (auto& [id, r] : deps.items()) {
      out += "\n### " + id;
      if (r.contains("worker") && r["worker"].is_string())
        out += " (" + r["worker"].get<std::string>() + ")";
      out += "\n";
      if (r.contains("summary") && r["summary"].is_string())
        out += r["summary"].get<std::string>() + "\n";
      if (r.contains("findings") && r["findings"].is_array())
        for (auto& f : r["findings"])
          if (f.is_string())
            out += "- " + f.get<std::string>() + "\n";
      if (r.contains("artifacts") && r["artifacts"].is_array()
          && !r["artifacts"].empty()) {
        out += "Files it wrote:";
        for (auto& a : r["artifacts"])
          if (a.is_string())
            out += " " + a.get<std::string>();
        out += "\n";
      }
    }
  }
  if (auto i = t.context.find(previous_failure_key);
      i != t.context.end() && i->is_object()) {
    out += "\n## Your previous attempt was refused\n"
           + string_member(*i, "message", "(no reason given)")
           + "\nDo the task again and avoid this.\n";
  }
  if (auto schema = output_schema_of(t))
    out += std::string{schema_instructions} + schema->dump(2) + "\n```\n";
  else
    out += report_instructions;
  return out;
}

agent_report extract_report(std::string_view text) {
  agent_report rep;
  // Scan the fenced blocks from the end: the report is the last one.
  size_t end = text.size();
  while (end > 0) {
    auto open = text.rfind("```json", end - 1);
    if (open == std::string_view::npos)
      break;
    auto body = open + 7;
    auto close = text.find("```", body);
    if (close != std::string_view::npos) {
      auto j = parse_json_or_discard(text.substr(body, close - body));
      if (j.is_object() && j.contains("summary") && j["summary"].is_string()) {
        rep.structured = true;
        rep.summary = j["summary"].get<std::string>();
        for (const char* key : {"findings", "artifacts"}) {
          auto& dst = key[0] == 'f' ? rep.findings : rep.artifacts;
          if (j.contains(key) && j[key].is_array())
            for (auto& x : j[key])
              if (x.is_string())
                dst.push_back(x.get<std::string>());
        }
        return rep;
      }
    }
    if (open == 0)
      break;
    end = open;
  }
  rep.summary = trim(text);
  return rep;
}

} // namespace troupe
