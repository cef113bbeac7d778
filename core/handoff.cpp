#include "core/handoff.hpp"

#include <openssl/evp.h>

#include <filesystem>

#include "core/artifacts.hpp"
#include "core/atomic_file.hpp"
#include "core/json_codec.hpp"
#include "core/sha256.hpp"

namespace troupe {

namespace fs = std::filesystem;

namespace {

/// One path part: a task id or a worker name read from a task's context,
/// which whoever dropped the task wrote.
bool plain_part(const std::string& s) {
  return check_handoff_name(s).empty() && s.find('/') == std::string::npos;
}

std::string workspace_prefix(const std::string& worker) {
  return "workspaces/" + worker + "/";
}

/// A file's content; nullopt when it cannot be read (the caller says why).
std::optional<std::string> read_all(const fs::path& p) {
  problems ignored;
  return read_text_file(p.string(), ignored);
}

const std::string* string_ptr(const json& j, const char* key) {
  auto i = j.find(key);
  return i != j.end() && i->is_string() ? i->get_ptr<const std::string*>()
                                        : nullptr;
}

/// Name, data and digest of one packed entry, checked; nullopt with `why`.
struct unpacked {
  std::string name, data;
};
std::optional<unpacked> unpack(const json& e, std::string& why) {
  auto name = e.is_object() ? string_ptr(e, "name") : nullptr;
  auto data = e.is_object() ? string_ptr(e, "data") : nullptr;
  auto sha = e.is_object() ? string_ptr(e, "sha256") : nullptr;
  if (!name || !data || !sha) {
    why = "an entry without name, data and sha256";
    return std::nullopt;
  }
  if (auto bad = check_handoff_name(*name); !bad.empty()) {
    why = *name + ": " + bad;
    return std::nullopt;
  }
  auto bytes = base64_decode(*data);
  if (!bytes) {
    why = *name + ": data is not base64";
    return std::nullopt;
  }
  if (sha256_hex(*bytes) != *sha) {
    why = *name + ": the data does not match its sha256";
    return std::nullopt;
  }
  return unpacked{*name, std::move(*bytes)};
}

std::string write_under(const fs::path& dir, const unpacked& u) {
  auto path = dir / u.name;
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec)
    return u.name + ": " + ec.message();
  auto err = write_file_atomic(path.string(), u.data);
  return err.empty() ? "" : u.name + ": " + err;
}

} // namespace

std::string base64_encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  auto n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                           reinterpret_cast<const unsigned char*>(data.data()),
                           static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0)
    return std::nullopt;
  std::string out(3 * (text.size() / 4), '\0');
  auto n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                           reinterpret_cast<const unsigned char*>(text.data()),
                           static_cast<int>(text.size()));
  if (n < 0)
    return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes: take them off.
  size_t pad = 0;
  if (!text.empty() && text.back() == '=')
    pad = text.size() >= 2 && text[text.size() - 2] == '=' ? 2 : 1;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string check_handoff_name(const std::string& name) {
  if (name.empty())
    return "an empty name";
  if (name.find('\0') != std::string::npos)
    return "a NUL in the name";
  fs::path p{name};
  if (p.is_absolute() || name.front() == '/')
    return "an absolute path";
  for (auto& part : p)
    if (part.empty() || part == "." || part == "..")
      return "a '.' or '..' or empty part";
  return "";
}

json pack_result_files(const result& r, const std::string& root,
                       size_t max_bytes, std::vector<std::string>& left_out) {
  json out = json::array();
  if (!r.ok())
    return out;
  auto prefix = workspace_prefix(r.worker);
  size_t used = 0;
  for (auto& f : files_of(r)) {
    if (f.path.compare(0, prefix.size(), prefix) != 0) {
      left_out.push_back(f.path + " (outside the workspace)");
      continue;
    }
    auto name = f.path.substr(prefix.size());
    if (f.size < 0 || used + static_cast<size_t>(f.size) > max_bytes) {
      left_out.push_back(f.path + " (over the size handed on per task)");
      continue;
    }
    auto data = read_all(fs::path{root} / f.path);
    // A file changed since it was checked is not what the result says.
    if (!data || sha256_hex(*data) != f.sha256) {
      left_out.push_back(f.path + " (changed or gone since the run)");
      continue;
    }
    used += data->size();
    out.push_back({{"path", f.path},
                   {"name", name},
                   {"sha256", f.sha256},
                   {"data", base64_encode(*data)}});
  }
  return out;
}

std::string handoff_dir(const std::string& root, const std::string& worker,
                        const std::string& task_id) {
  return (fs::path{root} / "artifacts" / worker / task_id).string();
}

std::vector<std::string> store_result_files(const json& files,
                                            const std::string& worker,
                                            const std::string& task_id,
                                            const std::string& root,
                                            size_t max_bytes) {
  std::vector<std::string> problems;
  size_t used = 0;
  fs::path dir{handoff_dir(root, worker, task_id)};
  std::error_code ec;
  fs::remove_all(dir, ec); // the copies of an earlier attempt
  if (!files.is_array()) {
    problems.push_back("\"files\" is not an array");
    return problems;
  }
  for (auto& e : files) {
    std::string why;
    auto u = unpack(e, why);
    if (u && used + u->data.size() > max_bytes)
      why = u->name + ": past the size kept per task";
    else if (u)
      why = write_under(dir, *u);
    if (u && why.empty())
      used += u->data.size();
    if (!why.empty())
      problems.push_back(why);
  }
  return problems;
}

json task_inputs(const task& t, const std::string& root, size_t max_bytes) {
  json out = json::array();
  if (!t.context.is_object())
    return out;
  auto deps = t.context.find("dependency_results");
  if (deps == t.context.end() || !deps->is_object())
    return out;
  size_t used = 0;
  for (auto& [id, r] : deps->items()) {
    auto worker = r.is_object() ? string_ptr(r, "worker") : nullptr;
    auto arts = r.is_object() ? r.find("artifacts") : r.end();
    if (!worker || arts == r.end() || !arts->is_array() || !valid_task_id(id)
        || !plain_part(*worker))
      continue;
    auto prefix = workspace_prefix(*worker);
    fs::path dir{handoff_dir(root, *worker, id)};
    for (auto& a : *arts) {
      if (!a.is_string())
        continue;
      auto& path = a.get_ref<const std::string&>();
      if (path.compare(0, prefix.size(), prefix) != 0)
        continue;
      auto name = path.substr(prefix.size());
      if (!check_handoff_name(name).empty())
        continue;
      auto data = read_all(dir / name);
      if (!data || used + data->size() > max_bytes)
        continue;
      used += data->size();
      out.push_back({{"dependency", id},
                     {"path", path},
                     {"name", name},
                     {"sha256", sha256_hex(*data)},
                     {"data", base64_encode(*data)}});
    }
  }
  return out;
}

std::vector<std::string> place_inputs(task& t, const json& inputs,
                                      const std::string& root) {
  std::vector<std::string> problems;
  if (!inputs.is_array()) {
    problems.push_back("\"inputs\" is not an array");
    return problems;
  }
  auto rel_dir = "workspaces/" + t.worker + "/" + inputs_folder + "/";
  for (auto& e : inputs) {
    std::string why;
    auto dep = e.is_object() ? string_ptr(e, "dependency") : nullptr;
    auto path = e.is_object() ? string_ptr(e, "path") : nullptr;
    if (!dep || !path || !valid_task_id(*dep)) {
      problems.push_back("an input without a plain dependency and path");
      continue;
    }
    auto u = unpack(e, why);
    if (u)
      why = write_under(fs::path{root} / (rel_dir + *dep), *u);
    if (!why.empty()) {
      problems.push_back(why);
      continue;
    }
    // The dependent is told where its copy is, instead of the path on the
    // node that wrote it.
    auto& arts = t.context["dependency_results"][*dep]["artifacts"];
    if (!arts.is_array())
      continue;
    for (auto& a : arts)
      if (a.is_string() && a.get_ref<const std::string&>() == *path)
        a = rel_dir + *dep + "/" + u->name;
  }
  return problems;
}

} // namespace troupe
