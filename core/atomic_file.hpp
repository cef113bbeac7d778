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

/// The same for several files: all are written to temp files first, then
/// each is fsynced and renamed into place. Returns one error (or "") per
/// file.
std::vector<std::string>
write_files_atomic(const std::vector<std::pair<std::string, std::string>>& files);

} // namespace troupe
