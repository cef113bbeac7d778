#pragma once

// What an agent wrote, checked: the paths it reports are resolved against
// its workspace and must be regular files inside the folders it may write
// (no `..` or symlink escape); the files it created or changed during the
// attempt are found even when it did not list them; each file is recorded
// with its size and sha256 (result field `files`, docs/PROTOCOL.md).

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/model.hpp"

namespace troupe {

/// A file an attempt produced.
struct artifact_file {
  std::string path;   // relative to the root when inside it, else absolute
  int64_t size = 0;
  std::string sha256; // lower-case hex
  bool listed = true; // false: found written, not in the agent's report
};

/// The folders of one attempt, absolute and with symlinks resolved.
struct artifact_scope {
  std::string root;
  std::string workspace;
  std::vector<std::string> writable; // the workspace and the add_dirs

  static artifact_scope make(const std::string& root,
                             const std::string& workspace,
                             const std::vector<std::string>& add_dirs);
  /// How `abs` is named in a result: relative to the root when inside it.
  std::string display(const std::string& abs) const;
};

/// `p` absolute with symlinks resolved as far as it exists (a folder that
/// is not there yet is named lexically).
std::string canonical_dir(const std::string& p);

/// Where a path lands once resolved against `base` (when relative) with
/// every symlink followed: inside one of `dirs` as a regular file, or not.
enum class placement { regular_file, missing, outside, not_regular };
struct located {
  std::string path; // canonical; empty when missing
  placement where = placement::missing;
};
located locate(const std::string& p, const std::string& base,
               const std::vector<std::string>& dirs);

/// A reported path resolved: the canonical absolute path, or why not.
struct resolved_path {
  std::string path;
  std::string error; // empty when `path` is a regular file in scope
};

resolved_path resolve_artifact(const std::string& reported,
                               const artifact_scope& scope);

/// True when canonical `p` is `dir` or inside it.
bool path_within(const std::string& p, const std::string& dir);

/// Size and modification time of every regular file under some folders.
struct file_stamp {
  int64_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const file_stamp& o) const {
    return size == o.size && mtime_ns == o.mtime_ns;
  }
};
using folder_snapshot = std::map<std::string, file_stamp>;

/// Walks `dirs` (at most `max_files` files, so a huge tree costs a bounded
/// walk); nullopt when the tree is larger than that.
std::optional<folder_snapshot> snapshot_folders(
  const std::vector<std::string>& dirs, size_t max_files = 20000);

/// Files present in `after` that are new or changed since `before`.
std::vector<std::string> changed_files(const folder_snapshot& before,
                                       const folder_snapshot& after);

/// The outcome of checking one attempt's files.
struct artifact_check {
  std::vector<std::string> artifacts; // the result's seed-format strings
  std::vector<artifact_file> files;
  std::string error; // the first reported path that fails, with the reason
};

/// Checks the reported paths, then adds the written ones (absolute paths;
/// those outside the scope or gone again are skipped). At most `max_files`
/// files are recorded.
artifact_check check_artifacts(const std::vector<std::string>& reported,
                               const std::vector<std::string>& written,
                               const artifact_scope& scope,
                               size_t max_files = 200);

/// The `files` field of a result, kept in `extra` (result_files_key).
inline constexpr const char* result_files_key = "files";
json to_json(const std::vector<artifact_file>& xs);
std::vector<artifact_file> files_of(const result& r);
void set_files(result& r, const std::vector<artifact_file>& xs);

/// Tells whether an attempt had its writable folders to itself: another
/// attempt of the same executor running alongside would make a snapshot
/// diff attribute its files to both, so the diff is used only when alone.
class overlap_tracker {
public:
  struct ticket {
    uint64_t start = 0;
    bool alone_at_start = false;
  };
  ticket begin() {
    std::lock_guard<std::mutex> lock{mu_};
    return {++starts_, in_flight_++ == 0};
  }
  /// True if no other attempt ran at any moment of this one.
  bool end(const ticket& t) {
    std::lock_guard<std::mutex> lock{mu_};
    --in_flight_;
    return t.alone_at_start && starts_ == t.start;
  }

private:
  std::mutex mu_;
  int in_flight_ = 0;
  uint64_t starts_ = 0;
};

} // namespace troupe
