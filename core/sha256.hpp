#pragma once

// SHA-256 as lower-case hex (OpenSSL's EVP): the digests of artifacts and
// the keys of a gateway recording.

#include <optional>
#include <string>
#include <string_view>

namespace troupe {

/// nullopt if the file cannot be read.
std::optional<std::string> sha256_file(const std::string& path);
std::string sha256_hex(std::string_view data);

} // namespace troupe
