#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace troupe {

/// Writes `data` to `path` so that readers see the old file or the whole new
/// one, never a torn one: a temp file in the same folder, fsync, rename.
/// Returns an empty string on success, else the reason.
std::string write_file_atomic(const std::string& path, std::string_view data);

/// The same for several files with one durability barrier (group commit):
/// every file goes to a temp file, one syncfs() makes them all durable, then
/// each is renamed into place. Returns one error (or "") per file. All paths
/// must be on one file system.
std::vector<std::string>
write_files_atomic(const std::vector<std::pair<std::string, std::string>>& files);

} // namespace troupe
