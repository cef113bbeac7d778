#include "core/inputs.hpp"

#include <filesystem>
#include <set>

#include "core/artifacts.hpp"

namespace troupe {

namespace fs = std::filesystem;

namespace {

// Characters the CLI reads as rule syntax or glob patterns inside Read(…):
// a file named with them cannot be granted exactly.
bool grantable(const std::string& p) {
  return p.find_first_of("()*?[]{}\\,") == std::string::npos;
}

} // namespace

input_file resolve_input(const std::string& dep, const std::string& named,
                         const std::string& root,
                         const std::vector<std::string>& readable) {
  input_file f{dep, named, "", ""};
  if (named.empty()) {
    f.why_not = "an empty path";
    return f;
  }
  auto l = locate(named, root, readable);
  if (l.where == placement::missing)
    f.why_not = "not on this node";
  else if (l.where == placement::outside)
    f.why_not = "outside the folders shared between workers";
  else if (l.where == placement::not_regular)
    f.why_not = "not a regular file";
  else if (!grantable(l.path))
    f.why_not = "its name cannot be granted to the CLI";
  else
    f.path = l.path;
  return f;
}

std::vector<std::string> shared_folders(const std::string& root) {
  return {canonical_dir((fs::path{root} / "workspaces").string()),
          canonical_dir((fs::path{root} / "artifacts").string())};
}

std::vector<input_file> dependency_inputs(const task& t,
                                          const std::string& root,
                                          const std::vector<std::string>& readable,
                                          size_t max_files) {
  std::vector<input_file> out;
  if (!t.context.is_object())
    return out;
  auto deps = t.context.find("dependency_results");
  if (deps == t.context.end() || !deps->is_object())
    return out;
  for (auto& [id, r] : deps->items()) {
    if (!r.is_object())
      continue;
    auto a = r.find("artifacts");
    if (a == r.end() || !a->is_array())
      continue;
    for (auto& x : *a) {
      if (!x.is_string())
        continue;
      if (out.size() >= max_files)
        return out;
      out.push_back(resolve_input(id, x.get<std::string>(), root, readable));
    }
  }
  return out;
}

std::string read_rule(const std::string& abs) {
  // "//" starts an absolute path in a permission rule; "/x" would be
  // relative to the settings file.
  return "Read(/" + abs + ")";
}

task with_input_paths(const task& t, const std::vector<input_file>& inputs) {
  if (inputs.empty())
    return t;
  task out = t;
  auto& deps = out.context["dependency_results"];
  std::set<std::string> touched;
  for (auto& f : inputs)
    touched.insert(f.dependency);
  for (auto& id : touched)
    deps[id]["artifacts"] = json::array();
  for (auto& f : inputs)
    deps[f.dependency]["artifacts"].push_back(
      f.path.empty() ? f.named + " (not readable: " + f.why_not + ")" : f.path);
  return out;
}

} // namespace troupe
