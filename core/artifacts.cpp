#include "core/artifacts.hpp"
#include "core/sha256.hpp"

#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>

namespace troupe {

namespace fs = std::filesystem;

std::string canonical_dir(const std::string& p) {
  std::error_code ec;
  auto c = fs::weakly_canonical(fs::absolute(p), ec);
  return (ec ? fs::absolute(p).lexically_normal() : c).string();
}

located locate(const std::string& p, const std::string& base,
               const std::vector<std::string>& dirs) {
  fs::path path{p};
  if (path.is_relative())
    path = fs::path{base} / path;
  std::error_code ec;
  auto c = fs::canonical(path, ec); // follows every symlink on the way
  if (ec)
    return {};
  located l{c.string(), placement::outside};
  for (auto& d : dirs)
    if (path_within(l.path, d))
      l.where = fs::is_regular_file(c, ec) ? placement::regular_file
                                           : placement::not_regular;
  return l;
}

artifact_scope artifact_scope::make(const std::string& root,
                                    const std::string& workspace,
                                    const std::vector<std::string>& add_dirs) {
  artifact_scope s;
  s.root = canonical_dir(root);
  s.workspace = canonical_dir(workspace);
  s.writable.push_back(s.workspace);
  for (auto& d : add_dirs) {
    fs::path p{d};
    s.writable.push_back(
      canonical_dir((p.is_absolute() ? p : fs::path{s.root} / p).string()));
  }
  return s;
}

std::string artifact_scope::display(const std::string& abs) const {
  if (path_within(abs, root) && abs != root)
    return fs::path{abs}.lexically_relative(root).string();
  return abs;
}

bool path_within(const std::string& p, const std::string& dir) {
  if (p.size() < dir.size() || p.compare(0, dir.size(), dir) != 0)
    return false;
  return p.size() == dir.size() || dir == "/" || p[dir.size()] == '/';
}

resolved_path resolve_artifact(const std::string& reported,
                               const artifact_scope& scope) {
  if (reported.empty())
    return {"", "an empty path"};
  auto l = locate(reported, scope.workspace, scope.writable);
  switch (l.where) {
    case placement::missing:
      return {"", reported + " does not exist"};
    case placement::outside:
      return {l.path, reported + " is outside the workspace (it resolves to "
                        + l.path + ")"};
    case placement::not_regular:
      return {l.path, reported + " is not a regular file"};
    default:
      return {l.path, ""};
  }
}

std::optional<folder_snapshot> snapshot_folders(
  const std::vector<std::string>& dirs, size_t max_files) {
  folder_snapshot snap;
  for (auto& d : dirs) {
    std::error_code ec;
    fs::recursive_directory_iterator it{
      d, fs::directory_options::skip_permission_denied, ec};
    for (; !ec && it != fs::recursive_directory_iterator{}; it.increment(ec)) {
      auto st = it->symlink_status(ec);
      if (ec || !fs::is_regular_file(st))
        continue; // symlinks are not followed: they point at others' files
      if (snap.size() >= max_files)
        return std::nullopt;
      file_stamp s;
      s.size = static_cast<int64_t>(it->file_size(ec));
      s.mtime_ns = it->last_write_time(ec).time_since_epoch().count();
      snap[it->path().string()] = s;
    }
  }
  return snap;
}

std::vector<std::string> changed_files(const folder_snapshot& before,
                                       const folder_snapshot& after) {
  std::vector<std::string> out;
  for (auto& [path, stamp] : after) {
    auto i = before.find(path);
    if (i == before.end() || !(i->second == stamp))
      out.push_back(path);
  }
  return out;
}

artifact_check check_artifacts(const std::vector<std::string>& reported,
                               const std::vector<std::string>& written,
                               const artifact_scope& scope,
                               size_t max_files) {
  artifact_check out;
  std::set<std::string> seen;
  auto record = [&](const std::string& abs, bool listed) {
    if (!seen.insert(abs).second || out.files.size() >= max_files)
      return;
    auto sum = sha256_file(abs);
    std::error_code ec;
    auto size = fs::file_size(abs, ec);
    if (!sum || ec)
      return;
    artifact_file f{scope.display(abs), static_cast<int64_t>(size), *sum,
                    listed};
    out.artifacts.push_back(f.path);
    out.files.push_back(std::move(f));
  };
  for (auto& x : reported) {
    auto r = resolve_artifact(x, scope);
    if (r.error.empty())
      record(r.path, true);
    else
      out.error += (out.error.empty() ? "" : "; ") + r.error;
  }
  for (auto& w : written) {
    auto r = resolve_artifact(w, scope);
    if (r.error.empty())
      record(r.path, false);
  }
  return out;
}

json to_json(const std::vector<artifact_file>& xs) {
  json a = json::array();
  for (auto& f : xs)
    a.push_back({{"path", f.path},
                 {"size", f.size},
                 {"sha256", f.sha256},
                 {"listed", f.listed}});
  return a;
}

std::vector<artifact_file> files_of(const result& r) {
  std::vector<artifact_file> out;
  if (!r.extra.is_object())
    return out;
  auto i = r.extra.find(result_files_key);
  if (i == r.extra.end() || !i->is_array())
    return out;
  for (auto& f : *i) {
    if (!f.is_object() || !f.contains("path") || !f["path"].is_string())
      continue;
    artifact_file x;
    x.path = f["path"].get<std::string>();
    if (auto s = f.find("size"); s != f.end() && s->is_number_integer())
      x.size = s->get<int64_t>();
    if (auto s = f.find("sha256"); s != f.end() && s->is_string())
      x.sha256 = s->get<std::string>();
    if (auto s = f.find("listed"); s != f.end() && s->is_boolean())
      x.listed = s->get<bool>();
    out.push_back(std::move(x));
  }
  return out;
}

void set_files(result& r, const std::vector<artifact_file>& xs) {
  if (!r.extra.is_object())
    r.extra = json::object();
  if (xs.empty())
    r.extra.erase(result_files_key);
  else
    r.extra[result_files_key] = to_json(xs);
}

} // namespace troupe
