#pragma once

#include <string>
#include <string_view>

namespace troupe {

/// Writes `data` to `path` so that readers see the old file or the whole new
/// one, never a torn one: a temp file in the same folder, fsync, rename.
/// Returns an empty string on success, else the reason.
std::string write_file_atomic(const std::string& path, std::string_view data);

} // namespace troupe
