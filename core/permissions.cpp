#include "core/permissions.hpp"
#include "core/json_codec.hpp"

#include <filesystem>
#include <set>

#include "core/executor_common.hpp"

namespace troupe {

namespace {

constexpr size_t max_input_chars = 160;

std::string clip(std::string s) {
  if (s.size() > max_input_chars)
    s = s.substr(0, max_input_chars - 3) + "...";
  return s;
}

std::string short_input(const json& in) {
  // The key that says what the call was for, by tool family.
  for (auto* k : {"file_path", "notebook_path", "command", "path", "pattern",
                  "url", "query"})
    if (auto i = in.find(k); i != in.end() && i->is_string())
      return clip(i->get<std::string>());
  return clip(in.is_null() ? std::string{} : in.dump());
}

} // namespace

std::string check_permission_mode(const std::string& mode) {
  static const std::set<std::string> ok{"acceptEdits", "dontAsk", "plan",
                                        "manual"};
  if (ok.count(mode))
    return "";
  if (mode == "bypassPermissions")
    return "would let the agent write and run anything anywhere; grant what "
           "it needs with acceptEdits and allowed_tools";
  if (mode == "auto")
    return "lets the CLI decide what to approve, outside the workspace "
           "too; use acceptEdits";
  return std::string{"must be one of "} + permission_mode_names;
}

std::string check_allowed_rule(const std::string& rule) {
  auto open = rule.find('(');
  auto name = rule.substr(0, open);
  std::string spec;
  if (open != std::string::npos) {
    if (rule.back() != ')' || rule.size() < open + 2)
      return "must be a tool name, optionally with a rule in parentheses, "
             "e.g. Bash(git diff:*)";
    spec = rule.substr(open + 1, rule.size() - open - 2);
  }
  if (name.empty() || name.find_first_of(" ,)") != std::string::npos)
    return "must be a tool name, optionally with a rule in parentheses, "
           "e.g. Bash(git diff:*)";
  static const std::set<std::string> writers{"Write", "Edit", "MultiEdit",
                                             "NotebookEdit"};
  if (writers.count(name))
    return "an allow rule for " + name
           + " can reach any folder; writes are granted by permission_mode "
             "acceptEdits, inside the workspace and add_dirs only";
  static const std::set<std::string> any{"", "*", ":*", "**", "/**", "//**",
                                         "~/**"};
  if (name == "Bash" && any.count(spec))
    return "lets the agent run any command, which can write anywhere; allow "
           "each read-only command instead, e.g. Bash(git diff:*)";
  static const std::set<std::string> readers{"Read", "Glob", "Grep", "LS"};
  if (readers.count(name) && any.count(spec))
    return "reads any file on the machine, the other workers' logins "
           "included; the workspace and add_dirs are readable without a rule";
  return "";
}

std::string check_add_dir(const std::string& dir) {
  std::filesystem::path p{dir};
  for (auto& part : p)
    if (part == "..")
      return "must not contain ..";
  if (p.is_relative() && !p.empty() && *p.begin() == "auth-homes")
    return "holds the workers' logins";
  return "";
}

std::vector<denial> denials_from_cli(const json& cli_result) {
  std::vector<denial> out;
  auto i = cli_result.find("permission_denials");
  if (i == cli_result.end() || !i->is_array())
    return out;
  for (auto& d : *i) {
    if (!d.is_object())
      continue;
    denial x;
    x.tool = string_member(d, "tool_name", "?");
    if (auto in = d.find("tool_input"); in != d.end())
      x.input = short_input(*in);
    out.push_back(std::move(x));
  }
  return out;
}

std::string describe(const std::vector<denial>& xs) {
  std::string out;
  for (auto& d : xs)
    out += (out.empty() ? "" : "; ") + d.tool
           + (d.input.empty() ? "" : " " + d.input);
  return out;
}

void set_denials(result& r, const std::vector<denial>& xs) {
  if (xs.empty())
    return;
  if (!r.extra.is_object())
    r.extra = json::object();
  auto& a = r.extra[result_denials_key] = json::array();
  for (auto& d : xs)
    a.push_back({{"tool", d.tool}, {"input", d.input}});
}

std::vector<denial> denials_of(const result& r) {
  std::vector<denial> out;
  if (!r.extra.is_object())
    return out;
  auto i = r.extra.find(result_denials_key);
  if (i == r.extra.end() || !i->is_array())
    return out;
  for (auto& d : *i)
    if (d.is_object())
      out.push_back({string_member(d, "tool"), string_member(d, "input")});
  return out;
}

void apply_denial_policy(result& r, const std::string& on_denial) {
  auto xs = denials_of(r);
  if (!r.ok() || xs.empty() || on_denial != on_denial_fail)
    return;
  r.summary.clear();
  fail_result(r, permission_denied_kind,
              "the CLI refused " + std::to_string(xs.size()) + " tool call"
                + (xs.size() == 1 ? "" : "s") + " this worker is not granted: "
                + describe(xs));
}

} // namespace troupe
