#pragma once

// Small text helpers that several decoders share.

#include <string>
#include <string_view>

namespace troupe {

/// ASCII lower case; other bytes (UTF-8) stay as they are.
std::string ascii_lower(std::string s);

/// An amount in USD as troupe prints it everywhere: "$0.0123".
std::string usd_text(double usd);

/// Without leading and trailing spaces, tabs and line ends.
std::string trim(std::string_view s);

} // namespace troupe
