#include "core/agents.hpp"

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <map>
#include <regex>
#include <sstream>

#include "core/json_codec.hpp"
#include "core/text.hpp"

namespace troupe {

namespace fs = std::filesystem;

namespace {

/// A front-matter value: unquoted, or in matching quotes.
std::string unquote(std::string v) {
  v = trim(v);
  if (v.size() >= 2 && (v[0] == '"' || v[0] == '\'') && v.back() == v[0])
    return v.substr(1, v.size() - 2);
  return v;
}

} // namespace

std::optional<agent_definition> parse_agent(const std::string& text,
                                            const std::string& where,
                                            problems& out) {
  std::istringstream in{text};
  std::string line;
  if (!std::getline(in, line) || trim(line) != "---") {
    out.push_back(where + ": must start with a front-matter block (---)");
    return std::nullopt;
  }
  std::map<std::string, std::string> keys;
  bool closed = false;
  while (std::getline(in, line)) {
    if (trim(line) == "---") {
      closed = true;
      break;
    }
    if (trim(line).empty() || trim(line)[0] == '#')
      continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) {
      out.push_back(where + ": front-matter line is not `key: value`: "
                    + trim(line));
      return std::nullopt;
    }
    keys[trim(line.substr(0, colon))] = unquote(line.substr(colon + 1));
  }
  std::string body{std::istreambuf_iterator<char>(in), {}};
  auto before = out.size();
  if (!closed)
    out.push_back(where + ": the front-matter block is not closed (---)");
  static const std::regex name_re{"^[a-z0-9][a-z0-9-]{0,63}$"};
  if (!std::regex_match(keys["name"], name_re))
    out.push_back(where + ": name must match ^[a-z0-9][a-z0-9-]{0,63}$");
  if (keys["description"].empty())
    out.push_back(where + ": description is required (the model picks a "
                          "sub-agent by it)");
  if (trim(body).empty())
    out.push_back(where + ": the prompt after the front matter is empty");
  for (auto& [k, v] : keys)
    if (k != "name" && k != "description" && k != "tools" && k != "model")
      out.push_back(where + ": unknown key " + k
                    + " (expected name, description, tools, model)");
  if (out.size() != before)
    return std::nullopt;
  agent_definition a;
  a.name = keys["name"];
  a.spec = {{"description", keys["description"]}, {"prompt", trim(body)}};
  if (!keys["tools"].empty()) {
    json tools = json::array();
    std::istringstream ts{keys["tools"]};
    std::string t;
    while (std::getline(ts, t, ','))
      if (!trim(t).empty())
        tools.push_back(trim(t));
    a.spec["tools"] = tools;
  }
  if (!keys["model"].empty())
    a.spec["model"] = keys["model"];
  return a;
}

json load_agents(const std::string& dir, problems& out) {
  json all = json::object();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    out.push_back("agents folder not found: " + dir);
    return all;
  }
  std::vector<fs::path> files;
  for (auto& e : fs::directory_iterator{dir, ec})
    if (e.is_regular_file() && e.path().extension() == ".md")
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (auto& f : files) {
    auto text = read_text_file(f.string(), out);
    if (!text)
      continue;
    auto a = parse_agent(*text, f.string(), out);
    if (!a)
      continue;
    if (all.contains(a->name))
      out.push_back(f.string() + ": name " + a->name + " is used twice");
    else
      all[a->name] = std::move(a->spec);
  }
  // Linux caps one argument at 128 KiB (MAX_ARG_STRLEN).
  constexpr size_t max_arg = 100000;
  if (all.dump().size() > max_arg)
    out.push_back(dir + ": the sub-agents take more than "
                  + std::to_string(max_arg) + " bytes as JSON; shorten them");
  return all;
}

} // namespace troupe
